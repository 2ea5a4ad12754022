//! The tensor ops the layers call, one function per layer: thin adapters over `ctssl_kernels::ops`
//! (the fast CPU kernels, with candle's primitives as the fallback on other devices).

use candle_core::{DType, Tensor, Var};
use ctssl_kernels::ops::{self as k, BatchNormParams, Conv2dParams, MaxPool2dParams};

use crate::error::Result;

/// 2-D convolution without bias, NCHW input, OIHW weight.
pub(crate) fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize, dilation: usize) -> Result<Tensor> {
    Ok(k::conv2d(x, w, Conv2dParams { stride, padding, dilation })?)
}

/// Batch norm over (N, H, W) per channel, followed by `max(·, 0)` when `relu` (one fused kernel); in
/// training, normalises with the batch statistics and stores the updated running statistics (PyTorch
/// convention, unbiased variance) in the two variables.
#[allow(clippy::too_many_arguments)]
pub(crate) fn batch_norm2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    momentum: f64,
    eps: f64,
    training: bool,
    relu: bool,
) -> Result<Tensor> {
    let params = BatchNormParams { momentum, eps, training };
    let f = if relu { k::batch_norm2d_relu } else { k::batch_norm2d };
    let (y, running) = f(x, weight, bias, running_mean.as_tensor(), running_var.as_tensor(), params)?;
    if let Some((mean, var)) = running {
        running_mean.set(&mean.detach())?;
        running_var.set(&var.detach())?;
    }
    Ok(y)
}

/// `batch_norm2d(conv2d(x, w, ...), ...)` (ReLU when `relu`): one fused op on the CPU in training, so
/// candle's autograd keeps no accumulator for the convolution's output.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_batch_norm2d(
    x: &Tensor,
    w: &Tensor,
    (stride, padding, dilation): (usize, usize, usize),
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Var,
    running_var: &Var,
    (momentum, eps, training): (f64, f64, bool),
    relu: bool,
) -> Result<Tensor> {
    let (y, running) = k::conv2d_batch_norm2d(
        x,
        w,
        weight,
        bias,
        running_mean.as_tensor(),
        running_var.as_tensor(),
        Conv2dParams { stride, padding, dilation },
        BatchNormParams { momentum, eps, training },
        relu,
    )?;
    if let Some((mean, var)) = running {
        running_mean.set(&mean.detach())?;
        running_var.set(&var.detach())?;
    }
    Ok(y)
}

/// Max pooling with a square kernel, stride and padding (padding counts as −∞).
pub(crate) fn max_pool2d(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    Ok(k::max_pool2d(x, MaxPool2dParams { kernel, stride, padding })?)
}

/// Mean over H and W: `[N, C, H, W]` → `[N, C]`.
pub(crate) fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    Ok(k::global_avg_pool(x)?)
}

/// `max(a + b, 0)` in one fused kernel: the end of every residual block.
pub(crate) fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(k::add_relu(a, b)?)
}

/// `x · wᵀ (+ b)` for `x: [N, in]`, `w: [out, in]`, `b: [out]`.
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = x.matmul(&w.t()?)?;
    Ok(match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// Increments an I64 scalar counter in place.
pub(crate) fn increment_counter(counter: &Var) -> Result<()> {
    let one = Tensor::new(1i64, counter.device())?.to_dtype(DType::I64)?;
    counter.set(&(counter.as_tensor() + one)?)?;
    Ok(())
}
