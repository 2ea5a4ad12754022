//! The parameters and shapes of the ops: what [`crate::ops`] takes and checks, and what the kernels of
//! [`crate::cpu`] run on.
//!
//! This module depends on nothing else of the crate but its error type, so that the ops and the
//! kernels both build on it without depending on each other (ops → cpu → params).

use candle_core::Result;

use crate::error::KernelError;

/// Parameters of [`conv2d`](crate::ops::conv2d): the same stride, padding and dilation in both spatial
/// directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dParams {
    /// Step between two output positions.
    pub stride: usize,
    /// Zeros added on each side of the input.
    pub padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Self { stride: 1, padding: 0, dilation: 1 }
    }
}

/// Parameters of [`conv_transpose2d`](crate::ops::conv_transpose2d), as PyTorch's `ConvTranspose2d` (same in
/// both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dParams {
    /// Step between two input positions on the output.
    pub stride: usize,
    /// Cropped from each side of the full output.
    pub padding: usize,
    /// Extra rows/columns added to one side of the output (must be below stride or dilation).
    pub output_padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
}

impl Default for ConvTranspose2dParams {
    fn default() -> Self {
        Self { stride: 1, padding: 0, output_padding: 0, dilation: 1 }
    }
}

/// The shapes of one convolution: input `[n, c_in, h, w]`, kernel `[c_out, c_in, kh, kw]`, output
/// `[n, c_out, oh, ow]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub padding: usize,
    /// Dilation.
    pub dilation: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvGeometry {
    /// The geometry of `conv2d(x, w, p)`, checked.
    pub fn new(x_dims: &[usize], w_dims: &[usize], p: Conv2dParams) -> Result<Self> {
        const OP: &str = "conv2d";
        let [n, c_in, h, w] = dims4(OP, "input", x_dims)?;
        let [c_out, c_in_k, kh, kw] = dims4(OP, "kernel", w_dims)?;
        if c_in != c_in_k {
            return Err(KernelError::shape(OP, format!("input has {c_in} channels, kernel expects {c_in_k}")));
        }
        if p.stride == 0 || p.dilation == 0 {
            return Err(KernelError::param(OP, "stride and dilation must be at least 1"));
        }
        if kh == 0 || kw == 0 || c_out == 0 || c_in == 0 {
            return Err(KernelError::shape(OP, "empty kernel"));
        }
        let oh = out_size(h, kh, p).ok_or_else(|| {
            KernelError::shape(OP, format!("kernel height {kh} (dilation {}) larger than padded input", p.dilation))
        })?;
        let ow = out_size(w, kw, p).ok_or_else(|| {
            KernelError::shape(OP, format!("kernel width {kw} (dilation {}) larger than padded input", p.dilation))
        })?;
        Ok(Self { n, c_in, h, w, c_out, kh, kw, stride: p.stride, padding: p.padding, dilation: p.dilation, oh, ow })
    }

    /// The geometry of the convolution whose input gradient `conv_transpose2d(x, w, p)` is: its input
    /// is the transposed convolution's output, its output the transposed convolution's input.
    pub fn of_transpose(x_dims: &[usize], w_dims: &[usize], p: ConvTranspose2dParams) -> Result<Self> {
        const OP: &str = "conv_transpose2d";
        let [n, c_in, h, w] = dims4(OP, "input", x_dims)?;
        let [c_in_k, c_out, kh, kw] = dims4(OP, "kernel", w_dims)?;
        if c_in != c_in_k {
            return Err(KernelError::shape(OP, format!("input has {c_in} channels, kernel expects {c_in_k}")));
        }
        if p.stride == 0 || p.dilation == 0 {
            return Err(KernelError::param(OP, "stride and dilation must be at least 1"));
        }
        if p.output_padding >= p.stride && p.output_padding >= p.dilation {
            return Err(KernelError::param(OP, "output_padding must be smaller than stride or dilation"));
        }
        if kh == 0 || kw == 0 || c_out == 0 || c_in == 0 || h == 0 || w == 0 {
            return Err(KernelError::shape(OP, "empty input or kernel"));
        }
        let full = |i: usize, k: usize| (i - 1) * p.stride + p.dilation * (k - 1) + p.output_padding + 1;
        let (fh, fw) = (full(h, kh), full(w, kw));
        if fh <= 2 * p.padding || fw <= 2 * p.padding {
            return Err(KernelError::shape(OP, "padding crops the whole output"));
        }
        let (big_h, big_w) = (fh - 2 * p.padding, fw - 2 * p.padding);
        Ok(Self {
            n,
            c_in: c_out,
            h: big_h,
            w: big_w,
            c_out: c_in,
            kh,
            kw,
            stride: p.stride,
            padding: p.padding,
            dilation: p.dilation,
            oh: h,
            ow: w,
        })
    }

    /// Floating-point operations (multiply + add) of the forward pass.
    pub fn flops(&self) -> f64 {
        2.0 * (self.n * self.c_out * self.oh * self.ow * self.c_in * self.kh * self.kw) as f64
    }
}

fn out_size(i: usize, k: usize, p: Conv2dParams) -> Option<usize> {
    let span = p.dilation * (k - 1) + 1;
    let padded = i + 2 * p.padding;
    if padded < span {
        None
    } else {
        Some((padded - span) / p.stride + 1)
    }
}

/// The four dimensions of an NCHW tensor of `dims`, or a shape error of `op` about `what`.
pub(crate) fn dims4(op: &'static str, what: &str, dims: &[usize]) -> Result<[usize; 4]> {
    match dims {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        _ => Err(KernelError::shape(op, format!("{what} must have 4 dimensions, got {dims:?}"))),
    }
}

/// Parameters of [`batch_norm2d`](crate::ops::batch_norm2d) (PyTorch's defaults: momentum 0.1, eps 1e-5).
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

/// Parameters of [`max_pool2d`](crate::ops::max_pool2d) (square kernel; `ceil_mode = false`, dilation 1, as
/// PyTorch's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2dParams {
    /// Window size.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// −∞ added on each side (at most `kernel / 2`, as PyTorch requires).
    pub padding: usize,
}

impl MaxPool2dParams {
    /// The output size for an input of `(h, w)`, checked.
    pub fn out_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        const OP: &str = "max_pool2d";
        if self.kernel == 0 || self.stride == 0 {
            return Err(KernelError::param(OP, "kernel and stride must be at least 1"));
        }
        if 2 * self.padding > self.kernel {
            return Err(KernelError::param(OP, "padding must be at most half the kernel"));
        }
        let (ph, pw) = (h + 2 * self.padding, w + 2 * self.padding);
        if ph < self.kernel || pw < self.kernel {
            return Err(KernelError::shape(OP, format!("kernel {} larger than padded input {ph}x{pw}", self.kernel)));
        }
        Ok(((ph - self.kernel) / self.stride + 1, (pw - self.kernel) / self.stride + 1))
    }
}
