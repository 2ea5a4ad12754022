//! The error type of the composed workflows (pre-training, fine-tuning, the study).

use std::path::{Path, PathBuf};

/// What can stop a workflow; a bad file inside a dataset is reported and skipped, not raised.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The configuration is invalid (names the key and the value).
    #[error("config: {0}")]
    Config(String),
    /// A configuration's TOML does not parse or does not fit the settings (names the line and key).
    #[error("config {origin}")]
    Toml {
        /// The file or preset it came from.
        origin: String,
        /// toml's error (line, column, key and what was expected).
        source: toml::de::Error,
    },
    /// The configuration cannot be written as TOML.
    #[error("the config cannot be written as TOML")]
    TomlWrite(#[source] toml::ser::Error),
    /// The data cannot be used (no slices, a label file that does not parse ...).
    #[error("data: {0}")]
    Data(String),
    /// A file-system operation failed.
    #[error("i/o on {path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// DICOM reading or scanning failed.
    #[error(transparent)]
    Dicom(#[from] ctssl_io::IoError),
    /// Synthetic data generation failed.
    #[error(transparent)]
    Phantom(#[from] ctssl_phantom::PhantomError),
    /// View generation failed.
    #[error(transparent)]
    Augment(#[from] ctssl_augment::AugmentError),
    /// A backbone operation failed.
    #[error(transparent)]
    Backbone(#[from] ctssl_backbones::BackboneError),
    /// Training or evaluation failed.
    #[error(transparent)]
    Train(#[from] ctssl_train::TrainError),
    /// The study's protocol failed (subsets, results table, statistics, report, plots).
    #[error(transparent)]
    Study(#[from] ctssl_study::StudyError),
    /// A contrastive method failed.
    #[error(transparent)]
    Contrastive(#[from] ctssl_contrastive::ContrastiveError),
    /// SparK failed.
    #[error(transparent)]
    Sparse(#[from] ctssl_sparse::SparseError),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl PipelineError {
    /// Wraps an I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        PipelineError::Io { path: path.to_path_buf(), source }
    }
}

/// Result alias of the workflows.
pub type Result<T> = std::result::Result<T, PipelineError>;

/// An error and its causes (the `source()` chain) on one line, `outer: cause: root cause`: where an
/// error is shown as text (a skipped file's reason, a program's last words), this keeps the causes that
/// `Display` leaves to `source()`.
pub use ctssl_io::error_chain as chain;

/// `error: <message>` and then each cause of its `source()` chain on a line of its own (`  caused by:
/// …`): what the examples print before they exit with an error.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("error: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(&format!("\n  caused by: {c}"));
        cause = c.source();
    }
    out
}
