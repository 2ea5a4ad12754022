//! Max pooling and global average pooling of NCHW images.

use candle_core::{Result, Tensor};

use crate::error::KernelError;

/// Parameters of [`max_pool2d`] (square kernel; `ceil_mode = false`, dilation 1, as PyTorch's default).
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

/// Max pooling of `x` `[n, c, h, w]` with any kernel, stride and padding (padding counts as −∞); the
/// gradient goes to the first maximum of each window (PyTorch's rule) on the CPU kernel, and is shared
/// between tied maxima in the reference version.
pub fn max_pool2d(x: &Tensor, params: MaxPool2dParams) -> Result<Tensor> {
    let [_, _, h, w] = super::conv::dims4("max_pool2d", "input", x.dims())?;
    params.out_size(h, w)?;
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::pool::max_pool2d(x, params)
    } else {
        super::reference::max_pool2d(x, params)
    }
}

/// Global average pooling: `[n, c, h, w]` → `[n, c]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let [_, _, h, w] = super::conv::dims4("global_avg_pool", "input", x.dims())?;
    if h * w == 0 {
        return Err(KernelError::shape("global_avg_pool", "empty image"));
    }
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::pool::global_avg_pool(x)
    } else {
        super::reference::global_avg_pool(x)
    }
}
