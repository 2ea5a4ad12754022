//! Nearest and bilinear resizing of NCHW images, with gradients.
//!
//! candle 0.11 has no backward for `upsample_bilinear2d`, and its `upsample_nearest2d` backward only
//! handles equal integer factors and overwrites (rather than adds to) the gradient of its input.

use candle_core::{Result, Tensor};

use crate::error::KernelError;
use crate::params::dims4;

fn check(op: &'static str, x: &Tensor, out_h: usize, out_w: usize) -> Result<()> {
    let [_, _, h, w] = dims4(op, "input", x.dims())?;
    if h == 0 || w == 0 || out_h == 0 || out_w == 0 {
        return Err(KernelError::shape(op, "empty input or output"));
    }
    Ok(())
}

/// Nearest-neighbour resize of `x` `[n, c, h, w]` to `[n, c, out_h, out_w]` (PyTorch's `nearest`
/// rule, any factors), differentiable.
pub fn upsample_nearest2d(x: &Tensor, out_h: usize, out_w: usize) -> Result<Tensor> {
    check("upsample_nearest2d", x, out_h, out_w)?;
    super::reference::upsample_nearest2d(x, out_h, out_w)
}

/// Bilinear resize of `x` `[n, c, h, w]` to `[n, c, out_h, out_w]` as PyTorch's
/// `interpolate(mode="bilinear", align_corners=...)`, differentiable.
pub fn upsample_bilinear2d(x: &Tensor, out_h: usize, out_w: usize, align_corners: bool) -> Result<Tensor> {
    check("upsample_bilinear2d", x, out_h, out_w)?;
    super::reference::upsample_bilinear2d(x, out_h, out_w, align_corners)
}
