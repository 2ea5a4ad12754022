//! The error type of this crate.

/// Everything that can go wrong in ctssl-contrastive.
#[derive(Debug, thiserror::Error)]
pub enum ContrastiveError {
    /// A tensor has the wrong rank or size for the operation.
    #[error("{op}: {msg}")]
    Shape {
        /// The operation that refused its input.
        op: &'static str,
        /// What was wrong.
        msg: String,
    },
    /// A parameter (temperature, size, weight…) is out of its valid range.
    #[error("{op}: {msg}")]
    Param {
        /// The operation that refused its parameter.
        op: &'static str,
        /// What was wrong.
        msg: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error from the training core (optimizer, schedule, state loading).
    #[cfg(feature = "methods")]
    #[error(transparent)]
    Train(#[from] ctssl_train::TrainError),
    /// An error from the backbone (construction, forward pass).
    #[error(transparent)]
    Backbone(#[from] ctssl_backbones::BackboneError),
}

impl ContrastiveError {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Self::Shape { op, msg: msg.into() }
    }

    pub(crate) fn param(op: &'static str, msg: impl Into<String>) -> Self {
        Self::Param { op, msg: msg.into() }
    }
}

/// Result with [`ContrastiveError`].
pub type Result<T> = std::result::Result<T, ContrastiveError>;
