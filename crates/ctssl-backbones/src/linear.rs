//! The classification layer `fc`.

use candle_core::{Tensor, Var};

use crate::error::Result;
use crate::init::linear_uniform;
use crate::ops;
use crate::params::{Builder, ParamKind};

/// A fully connected layer `y = x · Wᵀ + b`, weight `[out, in]`, initialised as PyTorch's `nn.Linear`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Var,
    bias: Var,
}

impl Linear {
    pub(crate) fn new(b: &mut Builder<'_>, prefix: &str, in_features: usize, out_features: usize) -> Result<Self> {
        let wn = format!("{prefix}.weight");
        let bn = format!("{prefix}.bias");
        let w = linear_uniform(b.seed, &wn, &[out_features, in_features], in_features, b.dtype, &b.device)?;
        let bias = linear_uniform(b.seed, &bn, &[out_features], in_features, b.dtype, &b.device)?;
        let weight = b.add(&wn, w, ParamKind::Trainable)?;
        let bias = b.add(&bn, bias, ParamKind::Trainable)?;
        Ok(Linear { weight, bias })
    }

    /// Weight `[out, in]`.
    pub fn weight(&self) -> &Var {
        &self.weight
    }

    /// Bias `[out]`.
    pub fn bias(&self) -> &Var {
        &self.bias
    }

    /// Applies the layer to `x: [N, in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::linear(x, self.weight.as_tensor(), self.bias.as_tensor())
    }
}
