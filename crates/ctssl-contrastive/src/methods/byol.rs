//! BYOL (Grill et al. 2020): an online network (backbone, projector, predictor) regresses the target
//! network's projection of the other view; the target is an EMA of the online backbone and projector with
//! the cosine momentum schedule `τ = 1 − (1 − τ₀)(cos(πk/K) + 1)/2`; the loss is symmetrised.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl_train::ema::Ema;
use ctssl_train::method::{LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::schedule::Schedule;
use ctssl_train::Result as TrainResult;

use super::common::{check_views, collapse_logs, map_concat, pair_vars, pooled_features};
use crate::byol_loss::byol_loss_symmetric;
use crate::error::{ContrastiveError, Result};
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};

/// Settings of [`Byol`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByolConfig {
    /// Hidden width of projector and predictor (4096).
    pub hidden_dim: usize,
    /// Projection size (256).
    pub output_dim: usize,
    /// Base target momentum τ₀ (0.996), raised to 1 by a cosine over the run.
    pub base_momentum: f64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl ByolConfig {
    /// BYOL as published: projector and predictor `4096 → 256`, τ₀ 0.996.
    pub fn paper() -> Self {
        Self { hidden_dim: 4096, output_dim: 256, base_momentum: 0.996, monitor_every: 1 }
    }

    /// The CPU preset: `512 → 128`, τ₀ 0.99 (runs of a few hundred steps).
    pub fn small() -> Self {
        Self { hidden_dim: 512, output_dim: 128, base_momentum: 0.99, monitor_every: 1 }
    }
}

/// BYOL: online backbone, projector and predictor are trainable; the target backbone and projector are
/// an EMA copy, updated in [`PretrainMethod::after_step`].
#[derive(Debug)]
pub struct Byol {
    config: ByolConfig,
    backbone: ResNet,
    projector: ProjectionHead,
    predictor: ProjectionHead,
    target_backbone: ResNet,
    target_projector: ProjectionHead,
    ema: Ema,
}

impl Byol {
    /// A new model: online and target start equal (backbone from `seed`, projector from `seed + 1000`),
    /// predictor from `seed + 2000`.
    pub fn new(backbone: ResNetConfig, config: ByolConfig, seed: u64, device: &Device) -> Result<Self> {
        if !(0.0..=1.0).contains(&config.base_momentum) {
            return Err(ContrastiveError::param("Byol::new", "base_momentum must be in [0, 1]"));
        }
        let cfg = backbone.with_num_classes(None);
        let backbone = ResNet::new(cfg.clone(), seed, device)?;
        let target_backbone = ResNet::new(cfg.clone(), seed, device)?;
        let proj = ProjectionHeadConfig::byol(cfg.feature_dim(), config.hidden_dim, config.output_dim);
        let projector = ProjectionHead::new(proj, seed.wrapping_add(1000), DType::F32, device)?;
        let target_projector = ProjectionHead::new(proj, seed.wrapping_add(1000), DType::F32, device)?;
        let pred = ProjectionHeadConfig::byol(config.output_dim, config.hidden_dim, config.output_dim);
        let predictor = ProjectionHead::new(pred, seed.wrapping_add(2000), DType::F32, device)?;
        let mut targets = target_backbone.vars_of_kind("target_backbone.", ParamKind::Trainable);
        targets.extend(target_projector.vars_of_kind("target_projector.", ParamKind::Trainable));
        let mut online = backbone.vars_of_kind("backbone.", ParamKind::Trainable);
        online.extend(projector.vars_of_kind("projector.", ParamKind::Trainable));
        let ema = Ema::from_pairs(pair_vars(targets, online)?, Vec::new())?;
        Ok(Self { config, backbone, projector, predictor, target_backbone, target_projector, ema })
    }

    /// The settings.
    pub fn config(&self) -> &ByolConfig {
        &self.config
    }

    /// The online backbone (the one exported).
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    /// The target network's variables (backbone and projector parameters), which no optimizer sees.
    pub fn target_vars(&self) -> Vec<(String, Var)> {
        self.ema.target_vars()
    }

    /// The target momentum used after step `step` of `total_steps`.
    pub fn momentum_at(&self, step: u64, total_steps: u64) -> TrainResult<f64> {
        Ok(Schedule::ema_momentum(self.config.base_momentum, total_steps.max(1))?.at(step))
    }
}

impl PretrainMethod for Byol {
    fn name(&self) -> &str {
        "byol"
    }

    fn parts(&self) -> Vec<Part<'_>> {
        vec![
            Part::trained("backbone.", &self.backbone),
            Part::trained("projector.", &self.projector),
            Part::trained("predictor.", &self.predictor),
            Part::target("target_backbone.", &self.target_backbone),
            Part::target("target_projector.", &self.target_projector),
        ]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views("byol", views, 2)?;
        let feats = pooled_features(&self.backbone, &views[..2], true)?;
        let z = map_concat(&feats, |x| Ok(self.projector.forward(x, true)?))?;
        let p = map_concat(&z, |x| Ok(self.predictor.forward(x, true)?))?;
        let target_feats = pooled_features(&self.target_backbone, &views[..2], true)?;
        let t = map_concat(&target_feats, |x| Ok(self.target_projector.forward(x, true)?.detach()))?;
        let loss = byol_loss_symmetric(&p[0], &p[1], &t[0], &t[1])?;
        let mut logs = collapse_logs(&z[0], &z[1], ctx.step, self.config.monitor_every)?;
        logs.push(("ema_momentum".into(), self.momentum_at(ctx.step, ctx.total_steps)?));
        Ok(LossOutput { loss, logs })
    }

    fn after_step(&mut self, step: u64, total_steps: u64) -> TrainResult<()> {
        self.ema.update(self.momentum_at(step, total_steps)?)
    }

    fn encoder(&self) -> &ResNet {
        &self.backbone
    }
}
