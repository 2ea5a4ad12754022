//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `ctssl-train`.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed in candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A backbone operation failed (forward pass, state-dict load).
    #[error(transparent)]
    Backbone(#[from] ctssl_backbones::BackboneError),
    /// The loader could not make a batch.
    #[error(transparent)]
    Augment(#[from] ctssl_augment::AugmentError),
    /// A safetensors file could not be encoded or decoded.
    #[error("safetensors data cannot be encoded or decoded")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// A pre-training method's own operation failed (its crate's error is the source).
    #[error("{method}")]
    Method {
        /// The method's name.
        method: String,
        /// The method crate's error.
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
    /// Another process (or another lock of this one) is using the run folder.
    #[error("{path} is in use by {holder}; wait for it to finish or choose another folder")]
    Busy {
        /// The run folder.
        path: PathBuf,
        /// Who holds it (`process <pid>`).
        holder: String,
    },
    /// The loss (or another watched quantity) became NaN or infinite.
    #[error("non-finite loss {value} at step {step}; stopping (the last good checkpoint is kept)")]
    NonFinite {
        /// The optimizer step at which the value was seen.
        step: u64,
        /// The offending value.
        value: f64,
    },
    /// A record or a configuration cannot be written or read as JSON.
    #[error("{what} is not valid JSON")]
    Json {
        /// What was being encoded or decoded (`a progress record`, `the run's config` ...).
        what: &'static str,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A caller passed arguments that cannot be used (lengths, ranges, labels out of range ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The same parameter name was given twice.
    #[error("duplicate parameter name {0:?}")]
    DuplicateName(String),
    /// A checkpoint or state map lacks a tensor that is expected.
    #[error("missing tensor {0:?}")]
    MissingTensor(String),
    /// A checkpoint or state map holds a tensor nobody asked for.
    #[error("unexpected tensor {0:?}")]
    UnexpectedTensor(String),
    /// A tensor has another shape than expected.
    #[error("tensor {name:?}: expected shape {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// The tensor name.
        name: String,
        /// The shape of the destination.
        expected: Vec<usize>,
        /// The shape found in the file or state.
        found: Vec<usize>,
    },
    /// A checkpoint metadata entry is missing or cannot be parsed.
    #[error("checkpoint metadata {key:?}: {reason}")]
    BadMetadata {
        /// The metadata key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, TrainError>;

impl TrainError {
    /// Wraps an I/O error together with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io { path: path.into(), source }
    }
}
