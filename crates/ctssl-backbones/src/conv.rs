//! 2-D convolution without bias (every convolution of a ResNet).

use candle_core::{Tensor, Var};

use crate::error::Result;
use crate::init::kaiming_normal_fan_out;
use crate::ops;
use crate::params::{Builder, ParamKind};

/// A bias-free 2-D convolution with a square kernel, weight `[out, in, k, k]` named `<prefix>.weight`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Var,
    stride: usize,
    padding: usize,
    dilation: usize,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        b: &mut Builder<'_>,
        prefix: &str,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let name = format!("{prefix}.weight");
        let shape = [out_channels, in_channels, kernel, kernel];
        let w = kaiming_normal_fan_out(b.seed, &name, &shape, b.dtype, &b.device)?;
        let weight = b.add(&name, w, ParamKind::Trainable)?;
        Ok(Conv2d { weight, stride, padding, dilation: 1 })
    }

    /// The weight variable `[out, in, k, k]`.
    pub fn weight(&self) -> &Var {
        &self.weight
    }

    /// Stride of the convolution.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Zero padding on each side.
    pub fn padding(&self) -> usize {
        self.padding
    }

    /// Stride, padding and dilation.
    pub(crate) fn geometry(&self) -> (usize, usize, usize) {
        (self.stride, self.padding, self.dilation)
    }

    /// Applies the convolution to `x: [N, in, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::conv2d(x, self.weight.as_tensor(), self.stride, self.padding, self.dilation)
    }
}
