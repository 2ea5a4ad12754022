//! Batch normalisation of NCHW images over `(n, h, w)`, per channel.

use candle_core::{Result, Tensor};

use crate::error::KernelError;
use crate::params::{dims4, BatchNormParams};

/// Batch norm 2d: `y = (x − μ) / √(σ² + eps) · weight + bias` per channel of `x` `[n, c, h, w]`;
/// `weight`, `bias`, `running_mean`, `running_var` are `[c]`.
///
/// In training, μ and σ² are the batch's mean and biased variance over `(n, h, w)`, and the second value
/// returned is `Some((new_running_mean, new_running_var))`, updated with the *unbiased* batch variance
/// as PyTorch does; the caller stores them (for example with `Var::set`). They carry no gradient. In
/// evaluation, μ and σ² are the running statistics and the second value is `None`.
/// `y` is differentiable in `x`, `weight` and `bias`.
pub fn batch_norm2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    params: BatchNormParams,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    dispatch(x, weight, bias, running_mean, running_var, params, false)
}

/// [`batch_norm2d`] followed by `max(·, 0)`, fused on the CPU in training (one output buffer, and the
/// ReLU's mask applied inside the batch-norm backward pass); same arguments and results.
pub fn batch_norm2d_relu(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    params: BatchNormParams,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    dispatch(x, weight, bias, running_mean, running_var, params, true)
}

/// Checks batch norm's parameters for `c` channels.
pub(crate) fn check_params(
    op: &'static str,
    c: usize,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    params: BatchNormParams,
) -> Result<()> {
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)]
    {
        if t.dims() != [c] {
            return Err(KernelError::shape(op, format!("{name} must be [{c}], got {:?}", t.dims())));
        }
    }
    if params.eps.is_nan() || params.eps <= 0.0 || !(0.0..=1.0).contains(&params.momentum) {
        return Err(KernelError::param(op, "eps must be positive and momentum in [0, 1]"));
    }
    Ok(())
}

fn dispatch(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    params: BatchNormParams,
    relu: bool,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    const OP: &str = "batch_norm2d";
    let [_, c, _, _] = dims4(OP, "input", x.dims())?;
    check_params(OP, c, weight, bias, running_mean, running_var, params)?;
    if params.training && super::use_cpu_kernels(&[x, weight, bias, running_mean, running_var]) {
        let (y, running) =
            crate::cpu::batch_norm::batch_norm2d(x, weight, bias, running_mean, running_var, params, relu)?;
        Ok((y, Some(running)))
    } else {
        // Evaluation is a scale and shift by the running statistics: candle's primitives, then the ReLU
        // op (the CPU kernel where it applies, as the other ops).
        let (y, stats) = super::reference::batch_norm2d(x, weight, bias, running_mean, running_var, params)?;
        Ok((if relu { super::activation::relu(&y)? } else { y }, stats))
    }
}
