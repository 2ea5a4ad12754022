//! Layer normalisation over the last dimension, with gradients.
//!
//! candle-nn 0.11's `LayerNorm` forward takes a fused custom-op path on contiguous inputs whose
//! backward is missing; this version is always differentiable in `x`, `weight` and `bias`.

use candle_core::{Result, Tensor};

use crate::error::KernelError;

/// Layer norm of `x` over its last dimension `d` (biased variance, as PyTorch), times `weight` `[d]`
/// plus `bias` `[d]` when given.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    let d = match x.dims().last() {
        Some(&d) if d > 0 => d,
        _ => return Err(KernelError::shape(OP, format!("needs a non-empty last dimension, got {:?}", x.dims()))),
    };
    if weight.dims() != [d] || bias.is_some_and(|b| b.dims() != [d]) {
        return Err(KernelError::shape(OP, format!("weight and bias must be [{d}]")));
    }
    if eps.is_nan() || eps <= 0.0 {
        return Err(KernelError::param(OP, "eps must be positive"));
    }
    let mut all = vec![x, weight];
    if let Some(b) = bias {
        all.push(b);
    }
    if super::use_cpu_kernels(&all) {
        crate::cpu::layer_norm::layer_norm(x, weight, bias, eps)
    } else {
        super::reference::layer_norm(x, weight, bias, eps)
    }
}
