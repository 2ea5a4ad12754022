//! 2-D batch normalisation with running statistics, as PyTorch's `nn.BatchNorm2d`.

use candle_core::{DType, Tensor, Var};

use crate::conv::Conv2d;
use crate::error::Result;
use crate::ops;
use crate::params::{Builder, ParamKind};

/// Batch norm over (N, H, W) with affine `weight`/`bias`, `running_mean`/`running_var` and the
/// `num_batches_tracked` counter (I64, shape `[]`, as torchvision saves it).
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    weight: Var,
    bias: Var,
    running_mean: Var,
    running_var: Var,
    num_batches_tracked: Var,
    momentum: f64,
    eps: f64,
}

impl BatchNorm2d {
    pub(crate) fn new(
        b: &mut Builder<'_>,
        prefix: &str,
        channels: usize,
        zero_gamma: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<Self> {
        let (dt, dev) = (b.dtype, b.device.clone());
        let gamma = if zero_gamma { Tensor::zeros(channels, dt, &dev)? } else { Tensor::ones(channels, dt, &dev)? };
        let weight = b.add(&format!("{prefix}.weight"), gamma, ParamKind::Trainable)?;
        let bias = b.add(&format!("{prefix}.bias"), Tensor::zeros(channels, dt, &dev)?, ParamKind::Trainable)?;
        let running_mean =
            b.add(&format!("{prefix}.running_mean"), Tensor::zeros(channels, dt, &dev)?, ParamKind::Buffer)?;
        let running_var =
            b.add(&format!("{prefix}.running_var"), Tensor::ones(channels, dt, &dev)?, ParamKind::Buffer)?;
        let counter = Tensor::zeros((), DType::I64, &dev)?;
        let num_batches_tracked = b.add(&format!("{prefix}.num_batches_tracked"), counter, ParamKind::Buffer)?;
        Ok(BatchNorm2d { weight, bias, running_mean, running_var, num_batches_tracked, momentum, eps })
    }

    /// Scale (gamma).
    pub fn weight(&self) -> &Var {
        &self.weight
    }

    /// Shift (beta).
    pub fn bias(&self) -> &Var {
        &self.bias
    }

    /// Running mean (a buffer).
    pub fn running_mean(&self) -> &Var {
        &self.running_mean
    }

    /// Running variance (a buffer).
    pub fn running_var(&self) -> &Var {
        &self.running_var
    }

    /// Number of training-mode forward passes so far.
    pub fn num_batches_tracked(&self) -> Result<i64> {
        Ok(self.num_batches_tracked.as_tensor().to_scalar::<i64>()?)
    }

    /// Normalises `x: [N, C, H, W]`: with the batch statistics (and a running-statistics update) when
    /// `train`, with the running statistics otherwise.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_impl(x, train, false)
    }

    /// `max(forward(x, train), 0)` in one fused kernel (the BN → ReLU pairs of a ResNet).
    pub fn forward_relu(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_impl(x, train, true)
    }

    /// `forward(conv.forward(x), train)` (then `max(·, 0)` when `relu`), with the convolution and batch
    /// norm fused into one op on the CPU in training (same results).
    pub fn forward_conv(&self, conv: &Conv2d, x: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let y = ops::conv2d_batch_norm2d(
            x,
            conv.weight().as_tensor(),
            conv.geometry(),
            self.weight.as_tensor(),
            self.bias.as_tensor(),
            &self.running_mean,
            &self.running_var,
            (self.momentum, self.eps, train),
            relu,
        )?;
        if train {
            ops::increment_counter(&self.num_batches_tracked)?;
        }
        Ok(y)
    }

    fn forward_impl(&self, x: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let y = ops::batch_norm2d(
            x,
            self.weight.as_tensor(),
            self.bias.as_tensor(),
            &self.running_mean,
            &self.running_var,
            self.momentum,
            self.eps,
            train,
            relu,
        )?;
        if train {
            ops::increment_counter(&self.num_batches_tracked)?;
        }
        Ok(y)
    }
}
