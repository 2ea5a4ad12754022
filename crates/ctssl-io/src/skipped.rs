//! A file left out of a scan or a cache, with the reason: kept apart from the scan because a slice cache
//! lists its failed files and is read without the feature `dicom`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IoError;

/// A file left out, with the kind of error ([`IoError::kind`]) and its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Error kind, e.g. `not_dicom`, `decode`, `color`.
    pub kind: String,
    /// The full error message.
    pub message: String,
}

impl SkippedFile {
    /// Record a file and the error that excluded it.
    pub fn new(path: &Path, error: &IoError) -> SkippedFile {
        SkippedFile { path: path.to_path_buf(), kind: error.kind().to_string(), message: error.message_with_causes() }
    }
}
