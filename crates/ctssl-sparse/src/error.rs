//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong when masking, encoding, decoding, exporting or writing previews.
#[derive(Debug, thiserror::Error)]
pub enum SparseError {
    /// A tensor operation failed (shape, dtype or device problem inside candle or the kernels).
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// The backbone refused a call (configuration, input or state-dict problem).
    #[error(transparent)]
    Backbone(#[from] ctssl_backbones::BackboneError),
    /// A configuration value is out of range.
    #[error("invalid SparK configuration: {0}")]
    InvalidConfig(String),
    /// An input tensor or mask has the wrong shape, size or dtype.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Writing a file failed (the `io::Error`, with its kind, is the source).
    #[error("cannot write {path}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// An image could not be encoded.
    #[error("cannot encode the image {path}")]
    Image {
        /// The file that was to be written.
        path: PathBuf,
        /// The encoder's error.
        source: image::ImageError,
    },
}

/// An error inside one of this crate's custom ops, as the candle error that a custom op returns.
pub(crate) fn op_error(op: &str, message: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: {message}"))
}

/// Result with [`SparseError`].
pub type Result<T> = std::result::Result<T, SparseError>;
