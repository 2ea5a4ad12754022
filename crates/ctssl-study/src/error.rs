//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `ctssl-study`.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The training core failed (evaluation metrics, statistics, an atomic write).
    #[error(transparent)]
    Train(#[from] ctssl_train::TrainError),
    /// A plot could not be drawn or written.
    #[error("cannot plot {path}")]
    Plot {
        /// The image file.
        path: PathBuf,
        /// The plotting library's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file-system operation failed.
    #[error("i/o on {path}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A caller passed arguments that cannot be used (lengths, fractions, a results file that does not parse ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, StudyError>;

impl StudyError {
    /// Wraps an I/O error together with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StudyError::Io { path: path.into(), source }
    }
}
