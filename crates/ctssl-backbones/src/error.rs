//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong when building, running, saving or loading a backbone.
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    /// A tensor operation failed (shape, dtype or device problem inside candle or the kernels).
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// A configuration value is out of range.
    #[error("invalid backbone configuration: {0}")]
    InvalidConfig(String),
    /// An input tensor has the wrong rank, channel count or dtype.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Reading or writing a file failed.
    #[error("i/o on {path}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// A safetensors file could not be parsed or written.
    #[error("{path}: safetensors data cannot be encoded or decoded")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A tensor in a state dict has a dtype that cannot be turned into the parameter's dtype.
    #[error("state dict entry `{name}` has dtype {found:?}, which cannot be loaded into a {expected:?} parameter")]
    DtypeMismatch {
        /// Parameter name.
        name: String,
        /// The dtype the model holds.
        expected: candle_core::DType,
        /// The dtype found in the state dict.
        found: candle_core::DType,
    },
    /// A strict load found keys that do not match the model; nothing was loaded.
    #[error(
        "strict load failed (nothing was changed): {} missing, {} unexpected, {} with another shape; {}",
        .0.missing.len(),
        .0.unexpected.len(),
        .0.shape_mismatch.len(),
        .0.summary()
    )]
    StrictLoad(Box<crate::LoadReport>),
}

/// Result with [`BackboneError`].
pub type Result<T> = std::result::Result<T, BackboneError>;
