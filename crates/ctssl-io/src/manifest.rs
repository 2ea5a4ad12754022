//! The manifest of a scanned dataset: patients → studies → series → slices, plus every file that was
//! left out and why. Serialisable to JSON, loadable, and hashable for run records.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};
use crate::fnv128::Fnv128;
use crate::header::ImageHeader;
use crate::split::{PatientSplit, Split};
use crate::stamp::FileStamp;

pub use crate::skipped::SkippedFile;

/// Version of the manifest format written by this crate.
pub const MANIFEST_VERSION: u32 = 1;

/// A scanned dataset: its image files grouped by patient, study and series, in a deterministic order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// The folders (or files) that were scanned, as given.
    pub roots: Vec<PathBuf>,
    /// Modalities kept (upper case), or `None` when every modality was kept.
    pub modality_filter: Option<Vec<String>>,
    /// Patients, sorted by Patient ID.
    pub patients: Vec<PatientEntry>,
    /// DICOM files that are not images (no Rows: structured reports, RT plans...), by path.
    pub non_image: Vec<NonImageFile>,
    /// Files that could not be used, by path, with the reason.
    pub skipped: Vec<SkippedFile>,
    /// Counts.
    pub summary: ScanSummary,
}

/// One patient: studies sorted by Study Instance UID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientEntry {
    /// Patient ID (empty when the files have none).
    pub patient_id: String,
    /// The patient's studies.
    pub studies: Vec<StudyEntry>,
}

/// One study: series sorted by Series Instance UID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyEntry {
    /// Study Instance UID (empty when absent).
    pub study_instance_uid: String,
    /// The study's series.
    pub series: Vec<SeriesEntry>,
}

/// One series: its image files in slice order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesEntry {
    /// Series Instance UID (empty when absent).
    pub series_instance_uid: String,
    /// Modality of the first file.
    pub modality: Option<String>,
    /// Series Description of the first file.
    pub description: Option<String>,
    /// How the slices were ordered.
    pub order: SliceOrder,
    /// The image files, in order.
    pub slices: Vec<SliceEntry>,
}

/// The key that put the slices of a series in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SliceOrder {
    /// Position along the slice normal (every file has position and orientation).
    Position,
    /// Instance Number (geometry incomplete, every file numbered).
    InstanceNumber,
    /// File path (neither of the above).
    Path,
}

/// One image file of a series: where it is, what it holds, and its stamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceEntry {
    /// The file.
    pub path: PathBuf,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Modality (CT, MR...).
    pub modality: Option<String>,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Number of frames (1 for single-frame images).
    pub frames: u32,
    /// Image Position (Patient) of the first frame, mm.
    pub position: Option<[f64; 3]>,
    /// Per-frame positions of an enhanced multi-frame image (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frame_positions: Vec<[f64; 3]>,
    /// Image Orientation (Patient): row then column direction cosines.
    pub orientation: Option<[f64; 6]>,
    /// Pixel Spacing in mm: (between rows, between columns).
    pub pixel_spacing: Option<[f64; 2]>,
    /// Slice Thickness in mm.
    pub slice_thickness: Option<f64>,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// File size and modification time at scan time.
    pub stamp: FileStamp,
}

impl SliceEntry {
    /// The entry of a file from its header and stamp.
    pub fn from_header(header: &ImageHeader, stamp: FileStamp) -> SliceEntry {
        SliceEntry {
            path: header.path.clone(),
            sop_instance_uid: header.sop_instance_uid.clone(),
            modality: header.modality.clone(),
            rows: header.rows,
            cols: header.cols,
            frames: header.frames,
            position: header.image_position,
            frame_positions: header.frame_positions.clone(),
            orientation: header.image_orientation,
            pixel_spacing: header.pixel_spacing,
            slice_thickness: header.slice_thickness,
            instance_number: header.instance_number,
            stamp,
        }
    }

    /// Position of a frame: per-frame when known, else the file's.
    pub fn frame_position(&self, frame: usize) -> Option<[f64; 3]> {
        self.frame_positions.get(frame).copied().or(self.position)
    }

    /// Distance of the first frame along the slice normal (position · (row × column)), when both are known.
    pub fn location(&self) -> Option<f64> {
        Some(dot(self.position?, slice_normal(&self.orientation?)))
    }
}

/// A DICOM file without image rows (structured report, RT plan, RT structure set...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonImageFile {
    /// The file.
    pub path: PathBuf,
    /// Modality, when present.
    pub modality: Option<String>,
    /// SOP Class UID (empty when absent).
    pub sop_class_uid: String,
}

/// Counts of a scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    /// Files listed under the roots.
    pub files: usize,
    /// Image files in the manifest.
    pub image_files: usize,
    /// Frames of those files (one per single-frame file).
    pub frames: usize,
    /// Patients.
    pub patients: usize,
    /// Studies.
    pub studies: usize,
    /// Series.
    pub series: usize,
    /// DICOM files without images.
    pub non_image: usize,
    /// Images left out by the modality filter.
    pub filtered_out: usize,
    /// Of those, how many per modality (`""` when the file has none).
    pub filtered_by_modality: BTreeMap<String, usize>,
    /// Files skipped for an error.
    pub skipped: usize,
    /// Of those, how many per error kind.
    pub skipped_by_kind: BTreeMap<String, usize>,
}

/// One image file of a manifest with the patient, study and series it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct ManifestSlice<'a> {
    /// The patient.
    pub patient: &'a PatientEntry,
    /// The study.
    pub study: &'a StudyEntry,
    /// The series.
    pub series: &'a SeriesEntry,
    /// Position of the file in its series.
    pub index: usize,
    /// The file.
    pub slice: &'a SliceEntry,
}

impl Manifest {
    /// Every image file, in manifest order (patient, study, series, slice).
    pub fn slices(&self) -> impl Iterator<Item = ManifestSlice<'_>> + '_ {
        self.patients.iter().flat_map(|patient| {
            patient.studies.iter().flat_map(move |study| {
                study.series.iter().flat_map(move |series| {
                    series.slices.iter().enumerate().map(move |(index, slice)| ManifestSlice {
                        patient,
                        study,
                        series,
                        index,
                        slice,
                    })
                })
            })
        })
    }

    /// The Patient IDs, sorted.
    pub fn patient_ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.patients.iter().map(|p| p.patient_id.as_str())
    }

    /// A copy with only the patients for which `keep(patient_id)` is true; counts are updated.
    pub fn retain_patients(&self, mut keep: impl FnMut(&str) -> bool) -> Manifest {
        let mut out = self.clone();
        out.patients.retain(|p| keep(&p.patient_id));
        out.recount();
        out
    }

    /// Recompute the patient, study, series, file and frame counts from the tree.
    pub fn recount(&mut self) {
        let s = &mut self.summary;
        s.patients = self.patients.len();
        s.studies = self.patients.iter().map(|p| p.studies.len()).sum();
        s.series = self.patients.iter().flat_map(|p| &p.studies).map(|st| st.series.len()).sum();
        s.image_files = 0;
        s.frames = 0;
        for series in self.patients.iter().flat_map(|p| &p.studies).flat_map(|st| &st.series) {
            s.image_files += series.slices.len();
            s.frames += series.slices.iter().map(|e| e.frames as usize).sum::<usize>();
        }
        s.non_image = self.non_image.len();
        s.skipped = self.skipped.len();
        s.skipped_by_kind.clear();
        for skipped in &self.skipped {
            *s.skipped_by_kind.entry(skipped.kind.clone()).or_default() += 1;
        }
    }

    /// Write as pretty JSON, atomically (temporary file + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        crate::atomic::write_atomic_with(path, |w| {
            serde_json::to_writer_pretty(&mut *w, self).map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        })
    }

    /// Read a manifest written by [`Manifest::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| IoError::Read { path: path.to_path_buf(), source })?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|source| IoError::Json {
            path: path.to_path_buf(),
            what: "manifest",
            source,
        })?;
        if manifest.version != MANIFEST_VERSION {
            return Err(IoError::Manifest {
                path: path.to_path_buf(),
                reason: format!("version {} (this build reads {MANIFEST_VERSION})", manifest.version),
            });
        }
        Ok(manifest)
    }

    /// A stable hash of the dataset's content, 32 hex digits, for run records.
    ///
    /// FNV-1a 128 over the canonical JSON of the patient tree with paths relative to their scan
    /// root and without modification times: the same files scanned from another folder or machine
    /// give the same hash; a changed size, UID, geometry, file name or modality filter changes it.
    /// Skipped and non-image files are not part of the hash.
    pub fn content_hash(&self) -> String {
        let mut patients = self.patients.clone();
        for slice in
            patients.iter_mut().flat_map(|p| &mut p.studies).flat_map(|s| &mut s.series).flat_map(|s| &mut s.slices)
        {
            slice.path = relative_to_roots(&slice.path, &self.roots);
            slice.stamp.modified_ns = None;
        }
        #[derive(Serialize)]
        struct Canonical<'a> {
            version: u32,
            modality_filter: &'a Option<Vec<String>>,
            patients: &'a [PatientEntry],
        }
        let canonical =
            Canonical { version: self.version, modality_filter: &self.modality_filter, patients: &patients };
        let mut hasher = Fnv128::new();
        // Writing into a hasher cannot fail; a serialisation error would only drop bytes from the hash.
        let _ = serde_json::to_writer(&mut hasher, &canonical);
        hasher.hex()
    }

    /// Group image files into the patient tree, ordering everything deterministically.
    ///
    /// `images` come in path order. Of files with the same SOP Instance UID the largest is kept (the
    /// first by path among equals) and the others are recorded in `skipped` as duplicates, unless
    /// `keep_duplicates`.
    pub(crate) fn assemble(
        roots: Vec<PathBuf>,
        modality_filter: Option<Vec<String>>,
        keep_duplicates: bool,
        collected: Collected,
    ) -> Manifest {
        let Collected { images, non_image, mut skipped, filtered_by_modality, files } = collected;
        type SeriesMap = BTreeMap<String, (Option<String>, Option<String>, Vec<SliceEntry>)>;
        let mut tree: BTreeMap<String, BTreeMap<String, SeriesMap>> = BTreeMap::new();
        // Of files sharing a SOP Instance UID keep the largest (a truncated copy is smaller), then the first by path.
        let mut best: HashMap<&str, usize> = HashMap::new();
        if !keep_duplicates {
            for (i, (header, stamp)) in images.iter().enumerate() {
                if header.sop_instance_uid.is_empty() {
                    continue;
                }
                let slot = best.entry(header.sop_instance_uid.as_str()).or_insert(i);
                if stamp.size > images[*slot].1.size {
                    *slot = i;
                }
            }
        }
        let kept: HashMap<String, PathBuf> =
            best.into_iter().map(|(uid, i)| (uid.to_string(), images[i].0.path.clone())).collect();
        for (header, stamp) in images {
            if let Some(kept) = kept.get(&header.sop_instance_uid).filter(|k| **k != header.path) {
                let error = IoError::DuplicateInstance {
                    path: header.path.clone(),
                    sop_instance_uid: header.sop_instance_uid.clone(),
                    kept: kept.clone(),
                };
                skipped.push(SkippedFile::new(&header.path, &error));
                continue;
            }
            let series = tree
                .entry(header.patient_id.clone())
                .or_default()
                .entry(header.study_instance_uid.clone())
                .or_default()
                .entry(header.series_instance_uid.clone())
                .or_insert_with(|| (header.modality.clone(), header.series_description.clone(), Vec::new()));
            series.2.push(SliceEntry::from_header(&header, stamp));
        }
        let patients = tree
            .into_iter()
            .map(|(patient_id, studies)| PatientEntry {
                patient_id,
                studies: studies
                    .into_iter()
                    .map(|(study_instance_uid, series)| StudyEntry {
                        study_instance_uid,
                        series: series
                            .into_iter()
                            .map(|(series_instance_uid, (modality, description, mut slices))| {
                                let order = order_slices(&mut slices);
                                SeriesEntry { series_instance_uid, modality, description, order, slices }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        let mut manifest = Manifest {
            version: MANIFEST_VERSION,
            roots,
            modality_filter,
            patients,
            non_image,
            skipped,
            summary: ScanSummary {
                files,
                filtered_out: filtered_by_modality.values().sum(),
                filtered_by_modality,
                ..ScanSummary::default()
            },
        };
        manifest.recount();
        manifest
    }
}

// A split of patients is defined without a manifest (a slice cache applies it to its entries); selecting
// from a manifest belongs with the manifest.
impl PatientSplit {
    /// The manifest restricted to the patients of one part.
    pub fn select(&self, manifest: &Manifest, part: Split) -> Manifest {
        manifest.retain_patients(|id| self.assign(id) == part)
    }
}

/// What a scan found, file by file, before grouping.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// Image files with their stamps, in path order.
    pub(crate) images: Vec<(ImageHeader, FileStamp)>,
    /// DICOM files without images.
    pub(crate) non_image: Vec<NonImageFile>,
    /// Files skipped for an error.
    pub(crate) skipped: Vec<SkippedFile>,
    /// Images left out by the modality filter, per modality.
    pub(crate) filtered_by_modality: BTreeMap<String, usize>,
    /// Files listed.
    pub(crate) files: usize,
}

/// `path` relative to the first root that contains it (a root that is a file keeps its file name).
fn relative_to_roots(path: &Path, roots: &[PathBuf]) -> PathBuf {
    for root in roots {
        if path == root.as_path() {
            return path.file_name().map(PathBuf::from).unwrap_or_default();
        }
        if let Ok(rest) = path.strip_prefix(root) {
            return rest.to_path_buf();
        }
    }
    path.to_path_buf()
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Normal of the image plane: row direction × column direction.
fn slice_normal(o: &[f64; 6]) -> [f64; 3] {
    [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
}

/// Sort the files of one series: by position along the normal of the first file's orientation when
/// every file has geometry, else by Instance Number when every file has one, else by path; ties by
/// Instance Number then path.
fn order_slices(slices: &mut [SliceEntry]) -> SliceOrder {
    let normal = slices.first().and_then(|s| s.orientation).map(|o| slice_normal(&o));
    let geometry = normal.filter(|_| slices.iter().all(|s| s.position.is_some() && s.orientation.is_some()));
    if let Some(normal) = geometry {
        let along = |s: &SliceEntry| s.position.map(|p| dot(p, normal)).unwrap_or(0.0);
        slices.sort_by(|a, b| {
            along(a)
                .total_cmp(&along(b))
                .then(a.instance_number.cmp(&b.instance_number))
                .then_with(|| a.path.cmp(&b.path))
        });
        SliceOrder::Position
    } else if slices.iter().all(|s| s.instance_number.is_some()) {
        slices.sort_by(|a, b| a.instance_number.cmp(&b.instance_number).then_with(|| a.path.cmp(&b.path)));
        SliceOrder::InstanceNumber
    } else {
        slices.sort_by(|a, b| a.path.cmp(&b.path));
        SliceOrder::Path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, z: Option<f64>, instance: Option<i64>) -> SliceEntry {
        SliceEntry {
            path: PathBuf::from(name),
            sop_instance_uid: name.to_string(),
            modality: Some("CT".into()),
            rows: 2,
            cols: 2,
            frames: 1,
            position: z.map(|z| [0.0, 0.0, z]),
            frame_positions: Vec::new(),
            orientation: z.map(|_| [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            pixel_spacing: None,
            slice_thickness: None,
            instance_number: instance,
            stamp: FileStamp { size: 1, modified_ns: None },
        }
    }

    #[test]
    fn slices_order_by_position_then_instance_then_path() {
        let mut s =
            vec![entry("c", Some(5.0), Some(1)), entry("a", Some(-2.5), Some(3)), entry("b", Some(0.0), Some(2))];
        assert_eq!(order_slices(&mut s), SliceOrder::Position);
        assert_eq!(s.iter().map(|e| e.path.to_str().unwrap_or("")).collect::<Vec<_>>(), ["a", "b", "c"]);

        let mut s = vec![entry("c", None, Some(1)), entry("a", Some(-2.5), Some(3)), entry("b", None, Some(2))];
        assert_eq!(order_slices(&mut s), SliceOrder::InstanceNumber);
        assert_eq!(s.iter().map(|e| e.path.to_str().unwrap_or("")).collect::<Vec<_>>(), ["c", "b", "a"]);

        let mut s = vec![entry("c", None, None), entry("a", None, Some(3)), entry("b", Some(1.0), None)];
        assert_eq!(order_slices(&mut s), SliceOrder::Path);
        assert_eq!(s.iter().map(|e| e.path.to_str().unwrap_or("")).collect::<Vec<_>>(), ["a", "b", "c"]);
    }

    #[test]
    fn normal_of_axial_is_z() {
        assert_eq!(slice_normal(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), [0.0, 0.0, 1.0]);
    }
}
