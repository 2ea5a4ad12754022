//! Max pooling and global average pooling of NCHW images.

use candle_core::{Result, Tensor};

use crate::error::KernelError;
use crate::params::{dims4, MaxPool2dParams};

/// Max pooling of `x` `[n, c, h, w]` with any kernel, stride and padding (padding counts as −∞); the
/// gradient goes to the first maximum of each window (PyTorch's rule) on the CPU kernel, and is shared
/// between tied maxima in the reference version.
pub fn max_pool2d(x: &Tensor, params: MaxPool2dParams) -> Result<Tensor> {
    let [_, _, h, w] = dims4("max_pool2d", "input", x.dims())?;
    params.out_size(h, w)?;
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::pool::max_pool2d(x, params)
    } else {
        super::reference::max_pool2d(x, params)
    }
}

/// Global average pooling: `[n, c, h, w]` → `[n, c]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let [_, _, h, w] = dims4("global_avg_pool", "input", x.dims())?;
    if h * w == 0 {
        return Err(KernelError::shape("global_avg_pool", "empty image"));
    }
    if super::use_cpu_kernels(&[x]) {
        crate::cpu::pool::global_avg_pool(x)
    } else {
        super::reference::global_avg_pool(x)
    }
}
