//! Row-wise L2 normalisation.

use candle_core::{Result, Tensor};

use crate::error::KernelError;

/// `x / max(‖x‖₂, 1e-12)` per row of `x` `[n, d]` (PyTorch's `F.normalize(x, dim=1)`), differentiable.
///
/// Built from candle's primitives on every device (there is no custom kernel for it), in `x`'s dtype.
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    if x.rank() != 2 {
        return Err(KernelError::shape("l2_normalize", format!("needs an [n, d] matrix, got {:?}", x.dims())));
    }
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    x.broadcast_div(&norm)
}
