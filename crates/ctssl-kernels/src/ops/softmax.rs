//! Softmax and log-softmax over the last dimension, with gradients.
//!
//! candle-nn 0.11's `ops::softmax_last_dim` is a custom op whose backward is missing, so a loss built on
//! it silently gets no gradient; these versions always have one.

use candle_core::{Result, Tensor};

use crate::error::KernelError;

fn check(op: &'static str, x: &Tensor) -> Result<()> {
    if x.rank() == 0 || x.dims().last() == Some(&0) {
        return Err(KernelError::shape(op, format!("needs a non-empty last dimension, got {:?}", x.dims())));
    }
    Ok(())
}

/// Softmax over the last dimension of `x` (any rank ≥ 1), differentiable.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    check("softmax_last_dim", x)?;
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::softmax::softmax_last_dim(x)
    } else {
        super::reference::softmax_last_dim(x)
    }
}

/// Log-softmax over the last dimension of `x` (any rank ≥ 1), differentiable and stable for large logits.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    check("log_softmax", x)?;
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::softmax::log_softmax(x)
    } else {
        super::reference::log_softmax(x)
    }
}
