//! Batch normalisation of NCHW images over `(n, h, w)`, per channel.

use candle_core::{Result, Tensor};

use crate::error::KernelError;

/// Parameters of [`batch_norm2d`] (PyTorch's defaults: momentum 0.1, eps 1e-5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormParams {
    /// Weight of the new batch statistic in the running average: `r ← (1 − m)·r + m·batch`.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub eps: f64,
    /// Training: normalise with the batch statistics and update the running ones; evaluation:
    /// normalise with the running statistics.
    pub training: bool,
}

impl Default for BatchNormParams {
    fn default() -> Self {
        Self { momentum: 0.1, eps: 1e-5, training: true }
    }
}

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
    let [_, c, _, _] = super::conv::dims4(OP, "input", x.dims())?;
    check_params(OP, c, weight, bias, running_mean, running_var, params)?;
    if super::use_cpu_kernels(&[x, weight, bias, running_mean, running_var]) {
        crate::cpu::batch_norm::batch_norm2d(x, weight, bias, running_mean, running_var, params, relu)
    } else {
        let (y, stats) = super::reference::batch_norm2d(x, weight, bias, running_mean, running_var, params)?;
        Ok((if relu { super::reference::relu(&y)? } else { y }, stats))
    }
}
