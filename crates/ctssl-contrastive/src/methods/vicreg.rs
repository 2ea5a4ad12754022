//! VICReg (Bardes et al. 2022): two views → backbone → 3-layer expander; invariance (MSE), variance (hinge
//! on the per-dimension std) and covariance (off-diagonal) terms.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_train::method::{load_vars, resnet_buffers, resnet_trainable, LossOutput, PretrainMethod, StepContext};
use ctssl_train::Result as TrainResult;

use super::common::{check_views, collapse_logs, pooled_features, prefixed, snapshot};
use crate::error::Result;
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};
use crate::vicreg::{vicreg_loss, VicregWeights};

/// Settings of [`Vicreg`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VicregConfig {
    /// Width of the three expander layers (8192).
    pub expander_dim: usize,
    /// Weights λ, μ, ν of the three terms (25, 25, 1).
    pub weights: VicregWeights,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl VicregConfig {
    /// As published: expander 8192-8192-8192, weights (25, 25, 1).
    pub fn paper() -> Self {
        Self { expander_dim: 8192, weights: VicregWeights::default(), monitor_every: 1 }
    }

    /// The CPU preset: expander 512-512-512, weights (25, 25, 1).
    pub fn small() -> Self {
        Self { expander_dim: 512, ..Self::paper() }
    }
}

/// VICReg: backbone and expander trainable; the state is the batch-norm statistics.
#[derive(Debug)]
pub struct Vicreg {
    config: VicregConfig,
    backbone: ResNet,
    expander: ProjectionHead,
}

impl Vicreg {
    /// A new model: backbone from `seed`, expander from `seed + 1000`.
    pub fn new(backbone: ResNetConfig, config: VicregConfig, seed: u64, device: &Device) -> Result<Self> {
        let backbone = ResNet::new(backbone.with_num_classes(None), seed, device)?;
        let head = ProjectionHeadConfig::expander(backbone.config().feature_dim(), config.expander_dim);
        let expander = ProjectionHead::new(head, seed.wrapping_add(1000), DType::F32, device)?;
        Ok(Self { config, backbone, expander })
    }

    /// The settings.
    pub fn config(&self) -> &VicregConfig {
        &self.config
    }

    /// The backbone.
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    fn buffer_vars(&self) -> Vec<(String, Var)> {
        let mut v = resnet_buffers(&self.backbone, "backbone.");
        v.extend(prefixed(self.expander.named_buffers(), "projector."));
        v
    }
}

impl PretrainMethod for Vicreg {
    fn name(&self) -> &str {
        "vicreg"
    }

    fn trainable_vars(&self) -> Vec<(String, Var)> {
        let mut v = resnet_trainable(&self.backbone, "backbone.");
        v.extend(prefixed(self.expander.named_vars(), "projector."));
        v
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views("vicreg", views, 2)?;
        let feats = pooled_features(&self.backbone, &views[..2], true)?;
        // Each view through the expander on its own: its batch norm sees one view, as in the reference.
        let z0 = self.expander.forward(&feats[0], true)?;
        let z1 = self.expander.forward(&feats[1], true)?;
        let loss = vicreg_loss(&z0, &z1, self.config.weights)?;
        let logs = collapse_logs(&z0, &z1, ctx.step, self.config.monitor_every)?;
        Ok(LossOutput { loss, logs })
    }

    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        snapshot(&self.buffer_vars())
    }

    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> TrainResult<()> {
        load_vars(state, &self.buffer_vars())
    }

    fn encoder_state_dict(&self) -> HashMap<String, Tensor> {
        self.backbone.state_dict()
    }
}
