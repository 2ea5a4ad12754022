//! The seed study's datasets as they are distributed: COVID-CT (image files with official split
//! lists), MedMNIST (`.npz`), a folder plus a labels CSV (DICOM or images), the public head-CT
//! haemorrhage layout, and unlabeled pre-training pools (a DICOM tree or a folder of image slices).
//!
//! Every loader returns plain data: decoded slices with their label, "patient", split and the scale
//! of their values ([`Intensity`]); the pipeline turns them into training sets. A file that cannot be
//! used in a labeled set is an error naming it; a pool lists bad files and goes on.

pub mod covid_ct;
pub mod dedup;
pub mod head_ct;
pub mod labels_csv;
pub mod medmnist;
pub mod pool;

use std::path::{Path, PathBuf};

pub use crate::split::Split;

/// What the values of a slice mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Intensity {
    /// Hounsfield units (DICOM CT).
    Hounsfield,
    /// Image intensities in `[0, max_value]` (PNG, JPEG, MedMNIST): no HU.
    Image {
        /// 255 for 8-bit data, 65535 for 16-bit.
        max_value: f32,
    },
}

impl Intensity {
    /// Whether the values are Hounsfield units.
    pub fn is_hounsfield(self) -> bool {
        matches!(self, Intensity::Hounsfield)
    }
}

/// One decoded 2-D slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Row-major values (see `intensity`).
    pub values: Vec<f32>,
    /// The scale of `values`.
    pub intensity: Intensity,
}

impl From<crate::image_file::GreyImage> for Slice {
    fn from(g: crate::image_file::GreyImage) -> Self {
        Slice {
            width: g.width,
            height: g.height,
            values: g.values,
            intensity: Intensity::Image { max_value: g.max_value },
        }
    }
}

/// One labeled slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Where it came from: a file path, or `file.npz:member[i]`.
    pub source: String,
    /// The slice.
    pub slice: Slice,
    /// Class index into [`LabeledDataset::classes`].
    pub label: u32,
    /// The patient it belongs to (the image itself where the dataset has no patient identifiers).
    pub patient_id: String,
    /// The dataset's own split, when it has one.
    pub split: Option<Split>,
}

/// A labeled dataset as distributed.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledDataset {
    /// Task name (`covid-ct`, `organsmnist`, `head-ct`, or the CSV's task).
    pub name: String,
    /// Class names, index = label.
    pub classes: Vec<String>,
    /// Every sample.
    pub samples: Vec<Sample>,
    /// Whether `patient_id` names real patients (false: each image is its own "patient").
    pub has_patient_ids: bool,
    /// A sentence on where the data came from and how it was read.
    pub description: String,
}

impl LabeledDataset {
    /// Number of samples in a split (`None`: samples without a split).
    pub fn count(&self, split: Option<Split>) -> usize {
        self.samples.iter().filter(|s| s.split == split).count()
    }

    /// Number of samples of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes.len()];
        for s in &self.samples {
            if let Some(x) = c.get_mut(s.label as usize) {
                *x += 1;
            }
        }
        c
    }

    /// Fails, naming the class, if a class has no sample.
    pub fn check_classes(&self, origin: &Path) -> Result<(), DatasetError> {
        for (k, n) in self.class_counts().iter().enumerate() {
            if *n == 0 {
                return Err(DatasetError::EmptyClass {
                    path: origin.to_path_buf(),
                    class: self.classes.get(k).cloned().unwrap_or_else(|| k.to_string()),
                });
            }
        }
        Ok(())
    }
}

/// Why a dataset could not be read. Every variant names the file (and the row or member).
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file or folder could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is neither PNG nor JPEG (by content).
    #[error("{path} is neither a PNG nor a JPEG file (judged by its content)")]
    NotAnImage {
        /// The file.
        path: PathBuf,
    },
    /// The image data is corrupt or truncated.
    #[error("cannot decode the image {path}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// The image decoded to something unusable.
    #[error("{path}: {reason}")]
    BadImage {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A DICOM file could not be read.
    #[error("cannot read the DICOM file {path}")]
    Dicom {
        /// The file.
        path: PathBuf,
        /// The DICOM reader's error.
        source: crate::IoError,
    },
    /// The zip container of an `.npz` is unreadable.
    #[error("{path} is not a readable .npz (zip) file")]
    Zip {
        /// The file.
        path: PathBuf,
        /// The zip reader's error.
        source: zip::result::ZipError,
    },
    /// A member of an `.npz` could not be read.
    #[error("{path}: cannot read member {member}")]
    Member {
        /// The `.npz` file.
        path: PathBuf,
        /// The member.
        member: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A needed member is missing from an `.npz`.
    #[error("{path} has no member {member} (members: {present})")]
    MissingMember {
        /// The `.npz` file.
        path: PathBuf,
        /// The member looked for.
        member: String,
        /// The members present.
        present: String,
    },
    /// An `.npy` member is malformed or of an unusable type or shape.
    #[error("{path}: member {member}: {reason}")]
    Npy {
        /// The `.npz` (or `.npy`) file.
        path: PathBuf,
        /// The member.
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// The folder does not have the dataset's layout.
    #[error("{path}: {reason}")]
    Layout {
        /// The folder.
        path: PathBuf,
        /// What is missing or ambiguous.
        reason: String,
    },
    /// A split list names a file that is not there.
    #[error("{list} line {line} names `{name}`, but {expected} does not exist")]
    MissingListedFile {
        /// The split list.
        list: PathBuf,
        /// 1-based line.
        line: usize,
        /// The name in the list.
        name: String,
        /// Where the file was looked for.
        expected: PathBuf,
    },
    /// A CSV row is malformed or names a missing file.
    #[error("{path} line {line}: {reason}")]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A file named by a CSV row could not be read.
    #[error("{path} line {line}: cannot use {file}")]
    Row {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The file the row names.
        file: PathBuf,
        /// Why it cannot be used.
        source: Box<DatasetError>,
    },
    /// A class has no sample.
    #[error("{path}: class `{class}` has no image")]
    EmptyClass {
        /// The dataset's file or folder.
        path: PathBuf,
        /// The class.
        class: String,
    },
}

impl DatasetError {
    /// The file or folder the error is about.
    pub fn path(&self) -> &Path {
        match self {
            DatasetError::Io { path, .. }
            | DatasetError::NotAnImage { path }
            | DatasetError::Decode { path, .. }
            | DatasetError::BadImage { path, .. }
            | DatasetError::Dicom { path, .. }
            | DatasetError::Zip { path, .. }
            | DatasetError::Member { path, .. }
            | DatasetError::MissingMember { path, .. }
            | DatasetError::Npy { path, .. }
            | DatasetError::Layout { path, .. }
            | DatasetError::Csv { path, .. }
            | DatasetError::Row { path, .. }
            | DatasetError::EmptyClass { path, .. } => path,
            DatasetError::MissingListedFile { list, .. } => list,
        }
    }

    /// The error and its causes on one line (`a: b: c`), for lists of skipped files.
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cause = c.source();
        }
        s
    }
}

/// Reads a DICOM file's frames as HU slices (padding as air), with its Patient ID.
pub fn read_dicom_slices(path: &Path) -> Result<(Vec<Slice>, String), DatasetError> {
    let img = crate::read_image_with(path, &crate::ReadOptions::for_training())
        .map_err(|source| DatasetError::Dicom { path: path.to_path_buf(), source })?;
    let (rows, cols) = (img.header.rows as usize, img.header.cols as usize);
    let frames = (0..img.header.frames as usize)
        .filter_map(|f| img.frame(f))
        .map(|v| Slice { width: cols, height: rows, values: v.to_vec(), intensity: Intensity::Hounsfield })
        .collect();
    Ok((frames, img.header.patient_id.clone()))
}

/// Reads a file as slices whatever it is (PNG, JPEG or DICOM, judged by content). The patient ID is
/// the DICOM Patient ID, or `None` for images.
pub fn read_any_slices(path: &Path) -> Result<(Vec<Slice>, Option<String>), DatasetError> {
    match crate::image_file::sniff_file(path)? {
        crate::image_file::FileKind::Image(_) => Ok((vec![crate::image_file::read_grey_image(path)?.into()], None)),
        _ => read_dicom_slices(path).map(|(s, p)| (s, Some(p))),
    }
}

/// The folders named `name` below `root` (at any depth), sorted; hidden folders and macOS archive
/// debris (`__MACOSX`) are not entered.
pub(crate) fn find_dirs(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| n.starts_with('.') || n == "__MACOSX")
        })
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_dir() && e.file_name() == name)
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}
