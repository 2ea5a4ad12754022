//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong when generating or writing a synthetic dataset.
#[derive(Debug, thiserror::Error)]
pub enum PhantomError {
    /// A setting of [`crate::PhantomConfig`] is out of range.
    #[error("invalid phantom config: {0}")]
    InvalidConfig(String),
    /// An argument (index, sample) does not fit the dataset.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Writing DICOM through ctssl-io failed.
    #[error(transparent)]
    Dicom(#[from] ctssl_io::IoError),
    /// Writing a file (CSV) failed.
    #[error("cannot write {path}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
}

/// Result with [`PhantomError`].
pub type Result<T, E = PhantomError> = std::result::Result<T, E>;
