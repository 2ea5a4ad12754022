//! 2-D convolution and transposed convolution (groups = 1, no bias: callers add it).

use candle_core::{Result, Tensor};

use crate::params::{Conv2dParams, ConvGeometry, ConvTranspose2dParams};

/// 2-D convolution of `x` `[n, c_in, h, w]` with `w` `[c_out, c_in, kh, kw]` (groups = 1, no bias),
/// differentiable in both arguments.
pub fn conv2d(x: &Tensor, w: &Tensor, params: Conv2dParams) -> Result<Tensor> {
    let g = ConvGeometry::new(x.dims(), w.dims(), params)?;
    if super::use_cpu_kernels(&[x, w]) {
        crate::cpu::conv::conv2d(x, w, g)
    } else {
        super::reference::conv2d(x, w, params)
    }
}

/// 2-D transposed convolution of `x` `[n, c_in, h, w]` with `w` `[c_in, c_out, kh, kw]` (PyTorch layout,
/// groups = 1, no bias), differentiable in both arguments.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, params: ConvTranspose2dParams) -> Result<Tensor> {
    let g = ConvGeometry::of_transpose(x.dims(), w.dims(), params)?;
    if super::use_cpu_kernels(&[x, w]) {
        crate::cpu::conv::conv_transpose2d(x, w, g)
    } else {
        super::reference::conv_transpose2d(x, w, params)
    }
}
