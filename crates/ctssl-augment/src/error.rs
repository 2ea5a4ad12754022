//! The error type of this crate.

use thiserror::Error;

/// Everything that can go wrong while making views or batches.
#[derive(Debug, Error)]
pub enum AugmentError {
    /// A configuration value is out of its allowed range.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// An image does not have the shape an operation needs.
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// A slice index is outside the source.
    #[error("slice {index} is out of range (source has {len} slices)")]
    OutOfRange {
        /// The requested index.
        index: usize,
        /// Number of slices in the source.
        len: usize,
    },
    /// Reading a slice failed.
    #[error("reading slice {index}")]
    Source {
        /// The slice index.
        index: usize,
        /// Why it failed.
        source: Box<AugmentError>,
    },
    /// An error from `ctssl-io`.
    #[error(transparent)]
    Io(#[from] ctssl_io::IoError),
    /// An error from candle while collating tensors.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Building a thread pool failed.
    #[error("cannot build the loader's thread pool")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// The background loader thread stopped unexpectedly.
    #[error("loader thread: {0}")]
    Loader(String),
}

/// Result with [`AugmentError`].
pub type Result<T> = std::result::Result<T, AugmentError>;
