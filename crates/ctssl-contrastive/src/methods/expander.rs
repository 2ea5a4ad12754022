//! The shape Barlow Twins and VICReg share: two views → backbone → 3-layer expander → a loss on the two
//! embeddings, with no teacher and no negatives. Each method is this struct with its own objective
//! (its config type implements [`ExpanderObjective`]).

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_train::method::{LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::Result as TrainResult;

use super::common::{check_views, collapse_logs, pooled_features};
use crate::error::Result;
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};

/// What distinguishes one expander method from another: its name, the expander width, how often the
/// collapse monitors run, and the loss on the two views' embeddings.
pub trait ExpanderObjective: Copy + std::fmt::Debug {
    /// The method's name (`barlow_twins`, `vicreg`).
    const NAME: &'static str;
    /// Width of the three expander layers.
    fn expander_dim(&self) -> usize;
    /// Compute the collapse monitors every this many steps (0: never).
    fn monitor_every(&self) -> u64;
    /// The loss of the embeddings `[N, D]` of view 0 and view 1.
    fn loss(&self, z0: &Tensor, z1: &Tensor) -> Result<Tensor>;
}

/// A backbone and an expander trained with objective `C`; the state is the batch-norm statistics.
#[derive(Debug)]
pub struct ExpanderMethod<C: ExpanderObjective> {
    config: C,
    backbone: ResNet,
    expander: ProjectionHead,
}

impl<C: ExpanderObjective> ExpanderMethod<C> {
    /// A new model: backbone from `seed`, expander from `seed + 1000`.
    pub fn new(backbone: ResNetConfig, config: C, seed: u64, device: &Device) -> Result<Self> {
        let backbone = ResNet::new(backbone.with_num_classes(None), seed, device)?;
        let head = ProjectionHeadConfig::expander(backbone.config().feature_dim(), config.expander_dim());
        let expander = ProjectionHead::new(head, seed.wrapping_add(1000), DType::F32, device)?;
        Ok(Self { config, backbone, expander })
    }

    /// The settings.
    pub fn config(&self) -> &C {
        &self.config
    }

    /// The backbone.
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }
}

impl<C: ExpanderObjective> PretrainMethod for ExpanderMethod<C> {
    fn name(&self) -> &str {
        C::NAME
    }

    fn parts(&self) -> Vec<Part<'_>> {
        vec![Part::trained("backbone.", &self.backbone), Part::trained("projector.", &self.expander)]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views(C::NAME, views, 2)?;
        let feats = pooled_features(&self.backbone, &views[..2], true)?;
        // Each view through the expander on its own: its batch norm sees one view, as in the reference.
        let z0 = self.expander.forward(&feats[0], true)?;
        let z1 = self.expander.forward(&feats[1], true)?;
        let loss = self.config.loss(&z0, &z1)?;
        let logs = collapse_logs(&z0, &z1, ctx.step, self.config.monitor_every())?;
        Ok(LossOutput { loss, logs })
    }

    fn encoder(&self) -> &ResNet {
        &self.backbone
    }
}
