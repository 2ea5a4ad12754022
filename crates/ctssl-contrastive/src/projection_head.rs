//! Projection MLPs (SimCLR, MoCo v2, BYOL, Barlow Twins, VICReg) and BYOL's predictor:
//! `Linear – BN – ReLU` repeated, then `Linear`, optionally followed by a BN without affine parameters.

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{NamedVar, Parameters};
use ctssl_kernels::ops;

use crate::batch_norm1d::BatchNorm1d;
use crate::error::{ContrastiveError, Result};
use crate::linear::{seeded_linear, Linear};

/// Shape of a [`ProjectionHead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectionHeadConfig {
    /// Input features (the backbone's pooled feature size).
    pub input_dim: usize,
    /// Width of the hidden layers.
    pub hidden_dim: usize,
    /// Output (embedding) size.
    pub output_dim: usize,
    /// Number of linear layers (≥ 1; 2 for SimCLR / MoCo v2 / BYOL, 3 for Barlow Twins / VICReg).
    pub num_layers: usize,
    /// Batch norm after each hidden linear layer (then that layer has no bias).
    pub hidden_batch_norm: bool,
    /// A final batch norm without affine parameters after the last linear layer.
    pub last_batch_norm: bool,
    /// A bias in the last linear layer (ignored, i.e. none, when `last_batch_norm`).
    pub last_bias: bool,
}

impl ProjectionHeadConfig {
    /// SimCLR's projector: `in → hidden → out`, 2 layers, hidden BN.
    pub fn simclr(input_dim: usize, hidden_dim: usize, output_dim: usize) -> Self {
        Self {
            input_dim,
            hidden_dim,
            output_dim,
            num_layers: 2,
            hidden_batch_norm: true,
            last_batch_norm: false,
            last_bias: true,
        }
    }

    /// MoCo v2's MLP head (`in → in → 128` in the paper), same shape as SimCLR's.
    pub fn moco_v2(input_dim: usize, output_dim: usize) -> Self {
        Self::simclr(input_dim, input_dim, output_dim)
    }

    /// BYOL's projector and predictor (`4096 → 256` in the paper): 2 layers, hidden BN.
    pub fn byol(input_dim: usize, hidden_dim: usize, output_dim: usize) -> Self {
        Self::simclr(input_dim, hidden_dim, output_dim)
    }

    /// Barlow Twins' / VICReg's expander: 3 layers of `hidden_dim` (8192 in the papers), hidden BN, last
    /// linear layer without bias.
    pub fn expander(input_dim: usize, hidden_dim: usize) -> Self {
        Self {
            input_dim,
            hidden_dim,
            output_dim: hidden_dim,
            num_layers: 3,
            hidden_batch_norm: true,
            last_batch_norm: false,
            last_bias: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Hidden {
    linear: Linear,
    batch_norm: Option<BatchNorm1d>,
}

/// A projection MLP; use it as BYOL's predictor too (the same structure on the projection).
#[derive(Debug, Clone)]
pub struct ProjectionHead {
    hidden: Vec<Hidden>,
    last: Linear,
    last_batch_norm: Option<BatchNorm1d>,
    config: ProjectionHeadConfig,
}

impl ProjectionHead {
    /// A new head; layer `i` is initialised from `seed + 10·i`.
    pub fn new(config: ProjectionHeadConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        if config.num_layers == 0 {
            return Err(ContrastiveError::param("ProjectionHead::new", "needs at least one layer"));
        }
        let mut hidden = Vec::new();
        let mut width = config.input_dim;
        for i in 0..config.num_layers - 1 {
            let layer_seed = seed.wrapping_add(10 * i as u64);
            hidden.push(Hidden {
                linear: seeded_linear(width, config.hidden_dim, !config.hidden_batch_norm, layer_seed, dtype, device)?,
                batch_norm: if config.hidden_batch_norm {
                    Some(BatchNorm1d::new(config.hidden_dim, true, dtype, device)?)
                } else {
                    None
                },
            });
            width = config.hidden_dim;
        }
        let last_seed = seed.wrapping_add(10 * (config.num_layers - 1) as u64);
        let last = seeded_linear(
            width,
            config.output_dim,
            config.last_bias && !config.last_batch_norm,
            last_seed,
            dtype,
            device,
        )?;
        let last_batch_norm = if config.last_batch_norm {
            Some(BatchNorm1d::new(config.output_dim, false, dtype, device)?)
        } else {
            None
        };
        Ok(Self { hidden, last, last_batch_norm, config })
    }

    /// The head's shape.
    pub fn config(&self) -> ProjectionHeadConfig {
        self.config
    }

    /// `x` `[n, input_dim]` → `[n, output_dim]`; batch norms use batch statistics when `train`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for layer in &self.hidden {
            h = layer.linear.forward(&h)?;
            if let Some(bn) = &layer.batch_norm {
                h = bn.forward(&h, train)?;
            }
            h = ops::relu(&h)?;
        }
        let mut y = self.last.forward(&h)?;
        if let Some(bn) = &self.last_batch_norm {
            y = bn.forward(&y, train)?;
        }
        Ok(y)
    }
}

impl Parameters for ProjectionHead {
    /// Parameters and batch-norm buffers under `prefix`, named like a PyTorch `nn.Sequential` (`0.weight`,
    /// `1.weight`, `1.bias`, `1.running_mean`, …; a hidden layer is Linear, BN, ReLU or Linear, ReLU).
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        let mut v = Vec::new();
        let mut index = 0;
        for layer in &self.hidden {
            v.extend(layer.linear.named_vars(&format!("{prefix}{index}.")));
            if let Some(bn) = &layer.batch_norm {
                v.extend(bn.named_vars(&format!("{prefix}{}.", index + 1)));
            }
            index += if layer.batch_norm.is_some() { 3 } else { 2 };
        }
        v.extend(self.last.named_vars(&format!("{prefix}{index}.")));
        if let Some(bn) = &self.last_batch_norm {
            v.extend(bn.named_vars(&format!("{prefix}{}.", index + 1)));
        }
        v
    }
}
