//! Reference implementations built only from candle's differentiable primitives.
//!
//! They run on every device and dtype, are what the public ops fall back to off the CPU, and are what the
//! tests compare the CPU kernels with. Where candle's own op has no (or a wrong) gradient — `max_pool2d`
//! with kernel ≠ stride or with padding, `upsample_bilinear2d`, candle-nn's `softmax_last_dim` and
//! `LayerNorm` fast paths — the version here is composed of ops whose gradients candle gets right.

use candle_core::{DType, Device, Result, Tensor, D};

use crate::error::KernelError;
use crate::params::{BatchNormParams, Conv2dParams, ConvGeometry, ConvTranspose2dParams, MaxPool2dParams};

/// Convolution through candle's `Tensor::conv2d` (its backward uses `conv_transpose2d`).
///
/// candle's backward derives one `output_padding` from the height and uses it for the width too, so it
/// fails when the unused remainder of the padded input differs between the two directions (stride 2 on
/// an 8×9 image, say). Here the input is zero-padded and cropped to exactly the rows and columns the
/// convolution reads, so that remainder is zero in both.
pub fn conv2d(x: &Tensor, w: &Tensor, p: Conv2dParams) -> Result<Tensor> {
    let g = ConvGeometry::new(x.dims(), w.dims(), p)?;
    let need_h = (g.oh - 1) * g.stride + g.dilation * (g.kh - 1) + 1;
    let need_w = (g.ow - 1) * g.stride + g.dilation * (g.kw - 1) + 1;
    if need_h == g.h + 2 * g.padding && need_w == g.w + 2 * g.padding {
        return x.conv2d(w, p.padding, p.stride, p.dilation, 1);
    }
    let x = x.pad_with_zeros(2, g.padding, g.padding)?.pad_with_zeros(3, g.padding, g.padding)?;
    let x = x.narrow(2, 0, need_h)?.narrow(3, 0, need_w)?;
    x.conv2d(w, 0, p.stride, p.dilation, 1)
}

/// Transposed convolution through candle's `Tensor::conv_transpose2d`.
///
/// candle's backward recomputes the input size from the output and gets it wrong when
/// `output_padding ≥ stride` (allowed when it is below the dilation). Here candle computes the full,
/// uncropped output (no padding, no output padding, for which its backward is exact); the output padding
/// is added as zeros and the padding cropped with `narrow`.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, p: ConvTranspose2dParams) -> Result<Tensor> {
    let g = ConvGeometry::of_transpose(x.dims(), w.dims(), p)?;
    if p.padding == 0 && p.output_padding == 0 {
        return x.conv_transpose2d(w, 0, 0, p.stride, p.dilation);
    }
    let full = x.conv_transpose2d(w, 0, 0, p.stride, p.dilation)?;
    let full = full.pad_with_zeros(2, 0, p.output_padding)?.pad_with_zeros(3, 0, p.output_padding)?;
    full.narrow(2, p.padding, g.h)?.narrow(3, p.padding, g.w)
}

/// Batch norm over `(n, h, w)` of `x` `[n, c, h, w]` from primitives; returns `y` and, in training,
/// the updated running mean and variance (detached).
pub fn batch_norm2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    p: BatchNormParams,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    let (n, c, h, w) = x.dims4()?;
    let shape = (1, c, 1, 1);
    let weight = weight.reshape(shape)?;
    let bias = bias.reshape(shape)?;
    if p.training {
        let m = n * h * w;
        if m < 2 {
            return Err(KernelError::shape("batch_norm2d", "training needs more than one value per channel"));
        }
        let mean = x.mean_keepdim((0, 2, 3))?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim((0, 2, 3))?;
        let y = centred.broadcast_div(&(var.clone() + p.eps)?.sqrt()?)?.broadcast_mul(&weight)?.broadcast_add(&bias)?;
        let mean = mean.detach().flatten_all()?;
        let unbiased = (var.detach().flatten_all()? * (m as f64 / (m - 1) as f64))?;
        let new_mean = ((running_mean * (1.0 - p.momentum))? + (mean * p.momentum)?)?;
        let new_var = ((running_var * (1.0 - p.momentum))? + (unbiased * p.momentum)?)?;
        Ok((y, Some((new_mean, new_var))))
    } else {
        let mean = running_mean.reshape(shape)?;
        let std = (running_var.reshape(shape)? + p.eps)?.sqrt()?;
        let y = x.broadcast_sub(&mean)?.broadcast_div(&std)?.broadcast_mul(&weight)?.broadcast_add(&bias)?;
        Ok((y, None))
    }
}

/// Max pooling from primitives: pads with −∞, gathers the `kernel²` shifted windows with `index_select`
/// and takes their maximum (ties share the gradient, as candle's `max` does).
pub fn max_pool2d(x: &Tensor, p: MaxPool2dParams) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = p.out_size(h, w)?;
    let x = if p.padding > 0 {
        let rows = Tensor::full(f32::NEG_INFINITY, (n, c, p.padding, w), x.device())?.to_dtype(x.dtype())?;
        let x = Tensor::cat(&[&rows, x, &rows], 2)?;
        let cols =
            Tensor::full(f32::NEG_INFINITY, (n, c, h + 2 * p.padding, p.padding), x.device())?.to_dtype(x.dtype())?;
        Tensor::cat(&[&cols, &x, &cols], 3)?
    } else {
        x.clone()
    };
    let mut windows = Vec::with_capacity(p.kernel * p.kernel);
    for ki in 0..p.kernel {
        let rows = index_tensor((0..oh).map(|o| ki + o * p.stride), x.device())?;
        let xr = x.index_select(&rows, 2)?;
        for kj in 0..p.kernel {
            let cols = index_tensor((0..ow).map(|o| kj + o * p.stride), x.device())?;
            windows.push(xr.index_select(&cols, 3)?);
        }
    }
    Tensor::stack(&windows, 0)?.max(0)
}

/// Mean over the spatial dimensions: `[n, c, h, w]` → `[n, c]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    x.dims4()?;
    x.mean((2, 3))
}

/// Softmax over the last dimension, from `exp`, `sum` and a division.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Log-softmax over the last dimension: `x − max − log Σ exp(x − max)`.
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// Layer norm over the last dimension (biased variance, as PyTorch), then `* weight + bias`.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let y = centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(weight)?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// Nearest-neighbour resize to `(out_h, out_w)` with PyTorch's `mode="nearest"` rule
/// (`src = floor(dst · in / out)`), from `index_select` (whose gradient is an index-add).
pub fn upsample_nearest2d(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let rows = index_tensor(nearest_indices(h, out_h), x.device())?;
    let cols = index_tensor(nearest_indices(w, out_w), x.device())?;
    x.index_select(&rows, 2)?.index_select(&cols, 3)
}

/// Bilinear resize to `(out_h, out_w)` as PyTorch's `interpolate(mode="bilinear")`, from two gathers
/// and a weighted sum per direction.
pub fn upsample_bilinear2d(x: &Tensor, out_h: usize, out_w: usize, align_corners: bool) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let dtype = x.dtype();
    let (i0, i1, l1) = bilinear_taps(h, out_h, align_corners);
    let y = lerp_along(x, 2, &i0, &i1, &l1, (1, 1, out_h, 1), dtype)?;
    let (j0, j1, m1) = bilinear_taps(w, out_w, align_corners);
    lerp_along(&y, 3, &j0, &j1, &m1, (1, 1, 1, out_w), dtype)
}

fn lerp_along(
    x: &Tensor,
    dim: usize,
    i0: &[usize],
    i1: &[usize],
    l1: &[f64],
    shape: (usize, usize, usize, usize),
    dtype: DType,
) -> Result<Tensor> {
    let dev = x.device();
    let a = x.index_select(&index_tensor(i0.iter().copied(), dev)?, dim)?;
    let b = x.index_select(&index_tensor(i1.iter().copied(), dev)?, dim)?;
    let w1 = Tensor::from_vec(l1.to_vec(), shape, dev)?.to_dtype(dtype)?;
    let w0 = w1.affine(-1.0, 1.0)?;
    a.broadcast_mul(&w0)? + b.broadcast_mul(&w1)?
}

/// Source indices of PyTorch's nearest rule.
pub(crate) fn nearest_indices(input: usize, output: usize) -> impl Iterator<Item = usize> {
    let scale = input as f32 / output as f32;
    (0..output).map(move |o| ((o as f32 * scale).floor() as usize).min(input.saturating_sub(1)))
}

/// The two source indices and the weight of the second one for each output position (PyTorch's rule).
pub(crate) fn bilinear_taps(input: usize, output: usize, align_corners: bool) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
    let mut i0 = Vec::with_capacity(output);
    let mut i1 = Vec::with_capacity(output);
    let mut l1 = Vec::with_capacity(output);
    for o in 0..output {
        let src = if align_corners {
            if output > 1 {
                o as f64 * (input - 1) as f64 / (output - 1) as f64
            } else {
                0.0
            }
        } else {
            ((o as f64 + 0.5) * input as f64 / output as f64 - 0.5).max(0.0)
        };
        let a = (src.floor() as usize).min(input - 1);
        let b = (a + 1).min(input - 1);
        i0.push(a);
        i1.push(b);
        l1.push(if b == a { 0.0 } else { src - a as f64 });
    }
    (i0, i1, l1)
}

fn index_tensor(idx: impl Iterator<Item = usize>, dev: &Device) -> Result<Tensor> {
    let v: Vec<u32> = idx.map(|i| i as u32).collect();
    let len = v.len();
    Tensor::from_vec(v, len, dev)
}

/// `max(x, 0)` through candle's `relu`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.relu()
}

/// `max(a + b, 0)` through candle's `add` and `relu`.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a + b)?.relu()
}
