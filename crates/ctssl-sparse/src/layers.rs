//! The small dense layers of densify and the decoder: convolution with bias, transposed convolution,
//! batch norm, all over `ctssl-kernels` ops.

use candle_core::{Tensor, Var};
use ctssl_kernels::ops::{self as k, BatchNormParams, Conv2dParams, ConvTranspose2dParams};

use crate::error::Result;
use crate::params::ParamBuilder;

/// How a convolution's weight is initialised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConvInit {
    /// PyTorch's default: U(±1/√fan_in) for weight and bias.
    PyTorchDefault,
    /// Truncated normal (std 0.02) weight, zero bias (SparK's decoder initialisation).
    TruncNormal,
}

/// A 2-D convolution `[out, in, k, k]` with bias, stride 1 and "same" padding `k / 2`.
#[derive(Debug, Clone)]
pub struct Conv2dBias {
    weight: Var,
    bias: Option<Var>,
    padding: usize,
}

impl Conv2dBias {
    /// Registers `<prefix>.weight` (and `<prefix>.bias` when `bias`).
    pub fn new(
        b: &mut ParamBuilder,
        prefix: &str,
        (c_in, c_out, kernel): (usize, usize, usize),
        bias: bool,
        init: ConvInit,
    ) -> Result<Self> {
        let shape = [c_out, c_in, kernel, kernel];
        let fan_in = c_in * kernel * kernel;
        let (weight, bias) = match init {
            ConvInit::PyTorchDefault => {
                let w = b.uniform_fan_in(&format!("{prefix}.weight"), &shape, fan_in)?;
                let bias =
                    if bias { Some(b.uniform_fan_in(&format!("{prefix}.bias"), &[c_out], fan_in)?) } else { None };
                (w, bias)
            }
            ConvInit::TruncNormal => {
                let w = b.trunc_normal(&format!("{prefix}.weight"), &shape, 0.02)?;
                let bias = if bias { Some(b.zeros(&format!("{prefix}.bias"), &[c_out])?) } else { None };
                (w, bias)
            }
        };
        Ok(Conv2dBias { weight, bias, padding: kernel / 2 })
    }

    /// Applies the convolution to `x: [N, in, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = k::conv2d(x, self.weight.as_tensor(), Conv2dParams { stride: 1, padding: self.padding, dilation: 1 })?;
        add_bias(y, self.bias.as_ref())
    }
}

/// `ConvTranspose2d(c, c, 4, stride 2, padding 1)` with bias: doubles the resolution.
#[derive(Debug, Clone)]
pub struct UpConv {
    weight: Var,
    bias: Var,
}

impl UpConv {
    /// Registers `<prefix>.weight` `[c, c, 4, 4]` (Kaiming normal, fan-out, as SparK) and `<prefix>.bias` (zeros).
    pub fn new(b: &mut ParamBuilder, prefix: &str, channels: usize) -> Result<Self> {
        // PyTorch's fan-out of a transposed-conv weight [in, out, k, k] is in · k · k (its dim 0);
        // with in = out here it equals the formula of a regular convolution.
        let weight = b.kaiming_fan_out(&format!("{prefix}.weight"), &[channels, channels, 4, 4])?;
        let bias = b.zeros(&format!("{prefix}.bias"), &[channels])?;
        Ok(UpConv { weight, bias })
    }

    /// `[N, c, H, W]` → `[N, c, 2H, 2W]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let p = ConvTranspose2dParams { stride: 2, padding: 1, output_padding: 0, dilation: 1 };
        let y = k::conv_transpose2d(x, self.weight.as_tensor(), p)?;
        add_bias(y, Some(&self.bias))
    }
}

/// A plain (dense) batch norm with running statistics, PyTorch's `BatchNorm2d`.
#[derive(Debug, Clone)]
pub struct DenseBatchNorm {
    /// Scale.
    pub weight: Var,
    /// Shift.
    pub bias: Var,
    /// Running mean (buffer).
    pub running_mean: Var,
    /// Running variance (buffer).
    pub running_var: Var,
    /// Momentum of the running statistics.
    pub momentum: f64,
    /// Epsilon.
    pub eps: f64,
}

impl DenseBatchNorm {
    /// Registers `<prefix>.{weight,bias,running_mean,running_var}`.
    pub fn new(b: &mut ParamBuilder, prefix: &str, channels: usize) -> Result<Self> {
        let weight = b.ones(&format!("{prefix}.weight"), &[channels])?;
        let bias = b.zeros(&format!("{prefix}.bias"), &[channels])?;
        let zeros = Tensor::zeros(channels, b.dtype, &b.device)?;
        let ones = Tensor::ones(channels, b.dtype, &b.device)?;
        let running_mean = b.buffer(&format!("{prefix}.running_mean"), zeros)?;
        let running_var = b.buffer(&format!("{prefix}.running_var"), ones)?;
        Ok(DenseBatchNorm { weight, bias, running_mean, running_var, momentum: 0.1, eps: 1e-5 })
    }

    /// Normalises `x: [N, C, H, W]` (batch statistics and running update when `train`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let params = BatchNormParams { momentum: self.momentum, eps: self.eps, training: train };
        let (y, running) = k::batch_norm2d(
            x,
            self.weight.as_tensor(),
            self.bias.as_tensor(),
            self.running_mean.as_tensor(),
            self.running_var.as_tensor(),
            params,
        )?;
        if let Some((m, v)) = running {
            self.running_mean.set(&m.detach())?;
            self.running_var.set(&v.detach())?;
        }
        Ok(y)
    }
}

fn add_bias(y: Tensor, bias: Option<&Var>) -> Result<Tensor> {
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            Ok(y.broadcast_add(&b.as_tensor().reshape((1, c, 1, 1))?)?)
        }
        None => Ok(y),
    }
}
