//! SimCLR (Chen et al. 2020): two views → backbone → 2-layer MLP projector → NT-Xent over the 2N embeddings.

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_train::method::{LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::Result as TrainResult;

use super::common::{check_views, collapse_logs, map_concat, pooled_features};
use crate::error::Result;
use crate::nt_xent::nt_xent;
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};

/// Settings of [`SimClr`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimClrConfig {
    /// Hidden width of the projector (the paper: 2048, the backbone's feature size).
    pub projector_hidden: usize,
    /// Embedding size (128).
    pub output_dim: usize,
    /// NT-Xent temperature τ (0.1 in the reference ImageNet runs; 0.1–0.5 in the paper).
    pub temperature: f64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl SimClrConfig {
    /// The paper's head for a backbone with `feature_dim` features: `feature_dim → feature_dim → 128`, τ 0.1.
    pub fn paper(feature_dim: usize) -> Self {
        Self { projector_hidden: feature_dim, output_dim: 128, temperature: 0.1, monitor_every: 1 }
    }

    /// The CPU preset: `feature_dim → feature_dim → 64`, τ 0.2 (small batches).
    pub fn small(feature_dim: usize) -> Self {
        Self { projector_hidden: feature_dim, output_dim: 64, temperature: 0.2, monitor_every: 1 }
    }
}

/// SimCLR: backbone and projector, both trainable; the state is the batch-norm statistics.
#[derive(Debug)]
pub struct SimClr {
    config: SimClrConfig,
    backbone: ResNet,
    projector: ProjectionHead,
}

impl SimClr {
    /// A new model: the backbone from `backbone` (its `fc` dropped) and `seed`, the projector from `seed + 1000`.
    pub fn new(backbone: ResNetConfig, config: SimClrConfig, seed: u64, device: &Device) -> Result<Self> {
        let backbone = ResNet::new(backbone.with_num_classes(None), seed, device)?;
        let head =
            ProjectionHeadConfig::simclr(backbone.config().feature_dim(), config.projector_hidden, config.output_dim);
        let projector = ProjectionHead::new(head, seed.wrapping_add(1000), DType::F32, device)?;
        Ok(Self { config, backbone, projector })
    }

    /// The settings.
    pub fn config(&self) -> &SimClrConfig {
        &self.config
    }

    /// The backbone.
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    /// Projector embeddings `[B, output_dim]` of each view (training mode: batch statistics).
    pub fn embed(&self, views: &[Tensor]) -> TrainResult<Vec<Tensor>> {
        let feats = pooled_features(&self.backbone, views, true)?;
        map_concat(&feats, |x| Ok(self.projector.forward(x, true)?))
    }
}

impl PretrainMethod for SimClr {
    fn name(&self) -> &str {
        "simclr"
    }

    fn parts(&self) -> Vec<Part<'_>> {
        vec![Part::trained("backbone.", &self.backbone), Part::trained("projector.", &self.projector)]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views("simclr", views, 2)?;
        let z = self.embed(&views[..2])?;
        let loss = nt_xent(&z[0], &z[1], self.config.temperature)?;
        let logs = collapse_logs(&z[0], &z[1], ctx.step, self.config.monitor_every)?;
        Ok(LossOutput { loss, logs })
    }

    fn encoder(&self) -> &ResNet {
        &self.backbone
    }
}
