//! DINO's projection head (`DINOHead` of the reference code): an MLP `in → hidden → hidden → bottleneck`
//! with GELU (batch norm after the hidden layers optional, `use_bn_in_head`), L2 normalisation, then a weight-normalised linear layer without bias to
//! `K` outputs whose norm is fixed to 1 (`norm_last_layer=True`): `logits = x̂ · (V / ‖V‖_row)ᵀ`.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{NamedVar, ParamKind, Parameters};
use ctssl_kernels::ops::l2_normalize;

use crate::batch_norm1d::BatchNorm1d;
use crate::error::{ContrastiveError, Result};
use crate::linear::{seeded_linear, uniform, Linear};
use crate::tensor_ops::dims2;

/// Shape of a [`DinoHead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DinoHeadConfig {
    /// Input features (the backbone's pooled feature size).
    pub input_dim: usize,
    /// Width of the hidden layers (2048).
    pub hidden_dim: usize,
    /// Bottleneck size before the last layer (256).
    pub bottleneck_dim: usize,
    /// Output size K (65,536).
    pub output_dim: usize,
    /// Linear layers of the MLP (3).
    pub num_layers: usize,
    /// Batch norm after each hidden linear layer (the reference's `use_bn_in_head`, off by default).
    pub batch_norm: bool,
}

/// DINO's head.
#[derive(Debug, Clone)]
pub struct DinoHead {
    mlp: Vec<Linear>,
    norms: Vec<BatchNorm1d>,
    last_v: Var,
    config: DinoHeadConfig,
}

impl DinoHead {
    /// A new head; MLP layer `i` from `seed + 10·i`, the last layer from `seed + 100`.
    pub fn new(config: DinoHeadConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        if config.num_layers == 0 || config.bottleneck_dim == 0 || config.output_dim == 0 {
            return Err(ContrastiveError::param("DinoHead::new", "needs ≥ 1 layer and positive sizes"));
        }
        let mut mlp = Vec::with_capacity(config.num_layers);
        let mut norms = Vec::new();
        let mut width = config.input_dim;
        for i in 0..config.num_layers {
            let out = if i + 1 == config.num_layers { config.bottleneck_dim } else { config.hidden_dim };
            mlp.push(seeded_linear(width, out, true, seed.wrapping_add(10 * i as u64), dtype, device)?);
            if config.batch_norm && i + 1 < config.num_layers {
                norms.push(BatchNorm1d::new(out, true, dtype, device)?);
            }
            width = out;
        }
        let bound = 1.0 / (config.bottleneck_dim as f64).sqrt();
        let v = uniform(seed.wrapping_add(100), &[config.output_dim, config.bottleneck_dim], bound, dtype, device)?;
        Ok(Self { mlp, norms, last_v: Var::from_tensor(&v)?, config })
    }

    /// The head's shape.
    pub fn config(&self) -> DinoHeadConfig {
        self.config
    }

    /// The direction `V` `[K, bottleneck]` of the weight-normalised last layer.
    pub fn last_layer(&self) -> &Var {
        &self.last_v
    }

    /// The bottleneck embedding `[n, bottleneck]` (before normalisation); batch norms (if any) use batch
    /// statistics when `train`.
    pub fn bottleneck(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        dims2("DinoHead::bottleneck", "input", x)?;
        let mut h = x.clone();
        for (i, layer) in self.mlp.iter().enumerate() {
            h = layer.forward(&h)?;
            if i + 1 < self.mlp.len() {
                if let Some(bn) = self.norms.get(i) {
                    h = bn.forward(&h, train)?;
                }
                h = h.gelu()?;
            }
        }
        Ok(h)
    }

    /// Logits `[n, K]` from a bottleneck embedding; with `freeze_last_layer` no gradient reaches `V`.
    pub fn logits(&self, bottleneck: &Tensor, freeze_last_layer: bool) -> Result<Tensor> {
        let v = if freeze_last_layer { self.last_v.as_detached_tensor() } else { self.last_v.as_tensor().clone() };
        Ok(l2_normalize(bottleneck)?.matmul(&l2_normalize(&v)?.t()?)?)
    }

    /// `logits(bottleneck(x))`.
    pub fn forward(&self, x: &Tensor, freeze_last_layer: bool, train: bool) -> Result<Tensor> {
        self.logits(&self.bottleneck(x, train)?, freeze_last_layer)
    }

    /// Index of MLP layer `i` in the reference `nn.Sequential` (Linear [, BN], GELU per hidden layer).
    fn seq_index(&self, i: usize) -> usize {
        i * if self.config.batch_norm { 3 } else { 2 }
    }
}

impl Parameters for DinoHead {
    /// Parameters and batch-norm buffers under `prefix`, named as the reference (`mlp.0.weight`,
    /// `mlp.2.bias`, …, `last_layer.weight_v`; with batch norm `mlp.0`, `mlp.1` (BN, with `running_mean`
    /// and `running_var`), `mlp.3`, `mlp.4` (BN), `mlp.6`).
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        let mut v = Vec::new();
        for (i, layer) in self.mlp.iter().enumerate() {
            v.extend(layer.named_vars(&format!("{prefix}mlp.{}.", self.seq_index(i))));
            if let Some(bn) = self.norms.get(i) {
                v.extend(bn.named_vars(&format!("{prefix}mlp.{}.", self.seq_index(i) + 1)));
            }
        }
        v.push(NamedVar {
            name: format!("{prefix}last_layer.weight_v"),
            var: self.last_v.clone(),
            kind: ParamKind::Trainable,
        });
        v
    }
}
