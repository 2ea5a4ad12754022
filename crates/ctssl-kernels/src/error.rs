//! The crate's error type.

/// What can go wrong when an op of this crate is called.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A tensor has the wrong rank or a size that does not fit the op.
    #[error("{op}: bad shape: {reason}")]
    Shape {
        /// The op that refused the input.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A parameter (stride, padding, kernel size, ...) is out of range.
    #[error("{op}: bad parameter: {reason}")]
    Param {
        /// The op that refused the parameter.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The dtype is not supported by the CPU kernel (only f32 and f64 are).
    #[error("{op}: unsupported dtype {dtype:?} (f32 and f64 only)")]
    DType {
        /// The op that refused the dtype.
        op: &'static str,
        /// The dtype that was given.
        dtype: candle_core::DType,
    },
    /// A tensor that a backward pass needs is not stored on the CPU.
    #[error("{op}: expected a CPU tensor")]
    NotCpu {
        /// The op that found the tensor.
        op: &'static str,
    },
}

impl KernelError {
    /// A shape error for `op`.
    pub(crate) fn shape(op: &'static str, reason: impl Into<String>) -> candle_core::Error {
        KernelError::Shape { op, reason: reason.into() }.into()
    }

    /// A parameter error for `op`.
    pub(crate) fn param(op: &'static str, reason: impl Into<String>) -> candle_core::Error {
        KernelError::Param { op, reason: reason.into() }.into()
    }
}

impl From<KernelError> for candle_core::Error {
    fn from(e: KernelError) -> Self {
        candle_core::Error::wrap(e)
    }
}
