//! Dataset scan: list every file under some folders, read their headers in parallel (never the
//! pixel data), and build a [`Manifest`].
//!
//! A file that is not DICOM, is broken, or is a colour image is skipped and recorded with the kind
//! of error; a DICOM file without image rows is recorded as non-image; nothing in the data makes
//! the scan fail. Only an unreadable root folder does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};
use crate::files::list_files;
use crate::header::{open, ImageHeader};
use crate::manifest::{Collected, Manifest, NonImageFile, SkippedFile};
use crate::stamp::FileStamp;

/// What a scan keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanOptions {
    /// Modalities to keep (compared case-insensitively); `None` keeps every modality.
    pub modalities: Option<Vec<String>>,
    /// Keep every file even when another has the same SOP Instance UID (default: keep the largest, then first by path).
    pub keep_duplicates: bool,
}

impl ScanOptions {
    /// Keep only CT images.
    pub fn ct_only() -> Self {
        ScanOptions { modalities: Some(vec!["CT".to_string()]), keep_duplicates: false }
    }

    /// Whether an image of this modality is kept.
    pub fn keeps(&self, modality: Option<&str>) -> bool {
        match &self.modalities {
            None => true,
            Some(list) => modality.is_some_and(|m| list.iter().any(|k| k.trim().eq_ignore_ascii_case(m.trim()))),
        }
    }
}

/// Scan folders (recursively) or single files into a manifest.
pub fn scan<P: AsRef<Path>>(roots: &[P], options: &ScanOptions) -> Result<Manifest> {
    scan_with_progress(roots, options, &|_, _| {})
}

/// [`scan`], calling `progress(done, total)` after each file from the worker threads (calls may
/// arrive slightly out of order; the last one has `done == total`).
pub fn scan_with_progress<P: AsRef<Path>>(
    roots: &[P],
    options: &ScanOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Manifest> {
    let files = list_files(roots)?;
    let total = files.len();
    progress(0, total);
    let done = AtomicUsize::new(0);
    let outcomes: Vec<Outcome> = files
        .par_iter()
        .map(|path| {
            let outcome = classify(path, options);
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            outcome
        })
        .collect();

    let mut collected = Collected { files: total, ..Collected::default() };
    for outcome in outcomes {
        match outcome {
            Outcome::Image(header, stamp) => collected.images.push((*header, stamp)),
            Outcome::NonImage(file) => collected.non_image.push(file),
            Outcome::Filtered(modality) => *collected.filtered_by_modality.entry(modality).or_default() += 1,
            Outcome::Skipped(file) => collected.skipped.push(file),
        }
    }
    let modality_filter =
        options.modalities.as_ref().map(|list| list.iter().map(|m| m.trim().to_ascii_uppercase()).collect());
    let roots = roots.iter().map(|r| r.as_ref().to_path_buf()).collect::<Vec<PathBuf>>();
    Ok(Manifest::assemble(roots, modality_filter, options.keep_duplicates, collected))
}

/// What became of one file.
enum Outcome {
    /// A greyscale image that passed the filter.
    Image(Box<ImageHeader>, FileStamp),
    /// DICOM without image rows.
    NonImage(NonImageFile),
    /// An image of a modality left out (its modality, `""` when absent).
    Filtered(String),
    /// Unusable.
    Skipped(SkippedFile),
}

/// Read one file's header and decide what it is.
fn classify(path: &Path, options: &ScanOptions) -> Outcome {
    let skipped = |e: IoError| Outcome::Skipped(SkippedFile::new(path, &e));
    let stamp = match FileStamp::of(path) {
        Ok(s) => s,
        Err(e) => return skipped(e),
    };
    let obj = match open(path, true) {
        Ok(o) => o,
        Err(e) => return skipped(e),
    };
    if obj.get(tags::ROWS).is_none() {
        return Outcome::NonImage(NonImageFile {
            path: path.to_path_buf(),
            modality: text(&obj, tags::MODALITY),
            sop_class_uid: text(&obj, tags::SOP_CLASS_UID).unwrap_or_default(),
        });
    }
    let header = match ImageHeader::from_object(&obj, path) {
        Ok(h) => h,
        Err(e) => return skipped(e),
    };
    if header.layout.samples_per_pixel != 1 {
        return skipped(IoError::Color {
            path: path.to_path_buf(),
            samples_per_pixel: header.layout.samples_per_pixel,
            photometric: header.photometric.clone(),
        });
    }
    if !options.keeps(header.modality.as_deref()) {
        return Outcome::Filtered(header.modality.clone().unwrap_or_default().trim().to_ascii_uppercase());
    }
    Outcome::Image(Box::new(header), stamp)
}

/// A trimmed text attribute, `None` when absent, empty or unreadable.
fn text(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let element = obj.element(tag).ok()?;
    let value = element.to_str().ok()?;
    let value = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!value.is_empty()).then(|| value.to_string())
}
