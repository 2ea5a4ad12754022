//! Barlow Twins (Zbontar et al. 2021): two views → backbone → 3-layer expander; the cross-correlation of
//! the batch-normalised embeddings is pushed to the identity.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_train::method::{load_vars, resnet_buffers, resnet_trainable, LossOutput, PretrainMethod, StepContext};
use ctssl_train::Result as TrainResult;

use super::common::{check_views, collapse_logs, pooled_features, prefixed, snapshot};
use crate::barlow_twins::{barlow_twins_loss, BARLOW_TWINS_LAMBDA};
use crate::error::Result;
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};

/// Settings of [`BarlowTwins`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarlowTwinsConfig {
    /// Width of the three expander layers (8192).
    pub expander_dim: usize,
    /// Weight λ of the off-diagonal term (0.0051).
    pub lambda: f64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl BarlowTwinsConfig {
    /// As published: expander 8192-8192-8192, λ 0.0051.
    pub fn paper() -> Self {
        Self { expander_dim: 8192, lambda: BARLOW_TWINS_LAMBDA, monitor_every: 1 }
    }

    /// The CPU preset: expander 512-512-512, λ 0.0051.
    pub fn small() -> Self {
        Self { expander_dim: 512, ..Self::paper() }
    }
}

/// Barlow Twins: backbone and expander trainable; the state is the batch-norm statistics.
#[derive(Debug)]
pub struct BarlowTwins {
    config: BarlowTwinsConfig,
    backbone: ResNet,
    expander: ProjectionHead,
}

impl BarlowTwins {
    /// A new model: backbone from `seed`, expander from `seed + 1000`.
    pub fn new(backbone: ResNetConfig, config: BarlowTwinsConfig, seed: u64, device: &Device) -> Result<Self> {
        let backbone = ResNet::new(backbone.with_num_classes(None), seed, device)?;
        let head = ProjectionHeadConfig::expander(backbone.config().feature_dim(), config.expander_dim);
        let expander = ProjectionHead::new(head, seed.wrapping_add(1000), DType::F32, device)?;
        Ok(Self { config, backbone, expander })
    }

    /// The settings.
    pub fn config(&self) -> &BarlowTwinsConfig {
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

impl PretrainMethod for BarlowTwins {
    fn name(&self) -> &str {
        "barlow_twins"
    }

    fn trainable_vars(&self) -> Vec<(String, Var)> {
        let mut v = resnet_trainable(&self.backbone, "backbone.");
        v.extend(prefixed(self.expander.named_vars(), "projector."));
        v
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views("barlow_twins", views, 2)?;
        let feats = pooled_features(&self.backbone, &views[..2], true)?;
        // Each view through the expander on its own: its batch norm sees one view, as in the reference.
        let z0 = self.expander.forward(&feats[0], true)?;
        let z1 = self.expander.forward(&feats[1], true)?;
        let loss = barlow_twins_loss(&z0, &z1, self.config.lambda)?;
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
