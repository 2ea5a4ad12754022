//! ReLU and the fused `relu(a + b)` that ends every residual block.

use candle_core::{Result, Tensor};

use crate::error::KernelError;

/// `max(x, 0)`, differentiable (the gradient at 0 is 0, as PyTorch).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::activation::relu(x)
    } else {
        super::reference::relu(x)
    }
}

/// `max(a + b, 0)` in one pass (one output buffer, one backward pass for both inputs); `a` and `b`
/// have the same shape.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        return Err(KernelError::shape("add_relu", format!("shapes differ: {:?} and {:?}", a.dims(), b.dims())));
    }
    if super::use_cpu_kernels(&[a, b]) {
        crate::cpu::activation::add_relu(a, b)
    } else {
        super::reference::add_relu(a, b)
    }
}
