//! DINO (Caron et al. 2021): a student (backbone + DINO head) sees every crop and predicts the teacher's
//! centred and sharpened output on the global crops; the teacher is an EMA of the student (cosine momentum
//! schedule) and the centre an EMA of the teacher's batch means.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl_train::ema::Ema;
use ctssl_train::method::{expect_no_more, LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::schedule::Schedule;
use ctssl_train::Result as TrainResult;

use super::common::{check_views, collapse_logs, expect_dims, map_concat, pair_vars, pooled_features, take_entries};
use crate::dino_head::{DinoHead, DinoHeadConfig};
use crate::dino_loss::{dino_center_update, dino_loss, DinoLossConfig};
use crate::error::{ContrastiveError, Result};

/// Settings of [`Dino`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DinoConfig {
    /// Hidden width of the head's MLP (2048).
    pub hidden_dim: usize,
    /// Bottleneck size (256).
    pub bottleneck_dim: usize,
    /// Output size K (65,536).
    pub output_dim: usize,
    /// Student temperature (0.1).
    pub student_temperature: f64,
    /// Teacher temperature at the start of the warm-up (0.04).
    pub warmup_teacher_temperature: f64,
    /// Teacher temperature after the warm-up (0.04 by default; 0.07 in the longer ViT runs).
    pub teacher_temperature: f64,
    /// Steps of linear teacher-temperature warm-up (0 by default; 30 epochs in the reference when used).
    pub warmup_teacher_steps: u64,
    /// Centre momentum (0.9).
    pub center_momentum: f64,
    /// Base teacher momentum (0.996), raised to 1 by a cosine over the run.
    pub base_momentum: f64,
    /// Batch norm in the head's hidden layers (the reference's `use_bn_in_head`; off in the paper's default).
    pub head_batch_norm: bool,
    /// Number of global crops, the first views (2).
    pub global_crops: usize,
    /// Steps during which the last layer gets no gradient (the reference: 1 epoch).
    pub freeze_last_layer_steps: u64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl DinoConfig {
    /// DINO's defaults for a ResNet: head 2048 → 256 → 65,536, τ_s 0.1, τ_t 0.04, centre 0.9, m 0.996.
    pub fn paper() -> Self {
        Self {
            hidden_dim: 2048,
            bottleneck_dim: 256,
            output_dim: 65_536,
            student_temperature: 0.1,
            warmup_teacher_temperature: 0.04,
            teacher_temperature: 0.04,
            warmup_teacher_steps: 0,
            center_momentum: 0.9,
            base_momentum: 0.996,
            head_batch_norm: false,
            global_crops: 2,
            freeze_last_layer_steps: 0,
            monitor_every: 1,
        }
    }

    /// The CPU preset: head 512 → 128 → 1024 with batch norm in the head (without it the small run
    /// collapses to a uniform output within 20 steps, see `docs/contrastive.md`), m 0.99, other values as
    /// published.
    pub fn small() -> Self {
        Self {
            hidden_dim: 512,
            bottleneck_dim: 128,
            output_dim: 1024,
            base_momentum: 0.99,
            head_batch_norm: true,
            ..Self::paper()
        }
    }

    /// The teacher temperature at `step` (linear warm-up, then constant).
    pub fn teacher_temperature_at(&self, step: u64) -> f64 {
        if step >= self.warmup_teacher_steps || self.warmup_teacher_steps == 0 {
            return self.teacher_temperature;
        }
        let t = step as f64 / self.warmup_teacher_steps as f64;
        self.warmup_teacher_temperature + t * (self.teacher_temperature - self.warmup_teacher_temperature)
    }
}

/// DINO: student backbone and head trainable; teacher (EMA) and centre in the state.
#[derive(Debug)]
pub struct Dino {
    config: DinoConfig,
    backbone: ResNet,
    head: DinoHead,
    teacher_backbone: ResNet,
    teacher_head: DinoHead,
    ema: Ema,
    center: Tensor,
}

impl Dino {
    /// A new model: student and teacher start equal (backbone from `seed`, head from `seed + 1000`); the
    /// centre starts at zero.
    pub fn new(backbone: ResNetConfig, config: DinoConfig, seed: u64, device: &Device) -> Result<Self> {
        if config.global_crops == 0 || !(0.0..=1.0).contains(&config.base_momentum) {
            return Err(ContrastiveError::param("Dino::new", "needs ≥ 1 global crop and base_momentum in [0, 1]"));
        }
        let cfg = backbone.with_num_classes(None);
        let backbone = ResNet::new(cfg.clone(), seed, device)?;
        let teacher_backbone = ResNet::new(cfg.clone(), seed, device)?;
        let head_cfg = DinoHeadConfig {
            input_dim: cfg.feature_dim(),
            hidden_dim: config.hidden_dim,
            bottleneck_dim: config.bottleneck_dim,
            output_dim: config.output_dim,
            num_layers: 3,
            batch_norm: config.head_batch_norm,
        };
        let head = DinoHead::new(head_cfg, seed.wrapping_add(1000), DType::F32, device)?;
        let teacher_head = DinoHead::new(head_cfg, seed.wrapping_add(1000), DType::F32, device)?;
        let mut targets = teacher_backbone.vars_of_kind("teacher_backbone.", ParamKind::Trainable);
        targets.extend(teacher_head.vars_of_kind("teacher_head.", ParamKind::Trainable));
        let mut online = backbone.vars_of_kind("backbone.", ParamKind::Trainable);
        online.extend(head.vars_of_kind("head.", ParamKind::Trainable));
        let ema = Ema::from_pairs(pair_vars(targets, online)?, Vec::new())?;
        let center = Tensor::zeros((1, config.output_dim), DType::F32, device)?;
        Ok(Self { config, backbone, head, teacher_backbone, teacher_head, ema, center })
    }

    /// The settings.
    pub fn config(&self) -> &DinoConfig {
        &self.config
    }

    /// The student backbone (the one exported).
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    /// The teacher's variables (backbone and head parameters), which no optimizer sees.
    pub fn teacher_vars(&self) -> Vec<(String, Var)> {
        self.ema.target_vars()
    }

    /// The centre `[1, K]`.
    pub fn center(&self) -> &Tensor {
        &self.center
    }

    /// The teacher momentum used after step `step` of `total_steps`.
    pub fn momentum_at(&self, step: u64, total_steps: u64) -> TrainResult<f64> {
        Ok(Schedule::ema_momentum(self.config.base_momentum, total_steps.max(1))?.at(step))
    }
}

const CENTER: &str = "center";

impl PretrainMethod for Dino {
    fn name(&self) -> &str {
        "dino"
    }

    fn parts(&self) -> Vec<Part<'_>> {
        vec![
            Part::trained("backbone.", &self.backbone),
            Part::trained("head.", &self.head),
            Part::target("teacher_backbone.", &self.teacher_backbone),
            Part::target("teacher_head.", &self.teacher_head),
        ]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        let g = self.config.global_crops;
        check_views("dino", views, g.max(2))?;
        let freeze = ctx.step < self.config.freeze_last_layer_steps;
        // Student: every crop, crops of one size through backbone and head together.
        let feats = pooled_features(&self.backbone, views, true)?;
        let mut bottlenecks = Vec::with_capacity(views.len());
        let mut start = 0;
        while start < views.len() {
            let mut end = start + 1;
            while end < views.len() && views[end].dims() == views[start].dims() {
                end += 1;
            }
            bottlenecks.extend(map_concat(&feats[start..end], |x| Ok(self.head.bottleneck(x, true)?))?);
            start = end;
        }
        let student = bottlenecks.iter().map(|b| Ok(self.head.logits(b, freeze)?)).collect::<TrainResult<Vec<_>>>()?;
        // Teacher: the global crops only, no gradient.
        let tfeats = pooled_features(&self.teacher_backbone, &views[..g], true)?;
        let teacher = map_concat(&tfeats, |x| Ok(self.teacher_head.forward(x, true, true)?.detach()))?;
        let temperature = self.config.teacher_temperature_at(ctx.step);
        let loss_cfg = DinoLossConfig {
            student_temperature: self.config.student_temperature,
            teacher_temperature: temperature,
            center_momentum: self.config.center_momentum,
        };
        let loss = dino_loss(&student, &teacher, &self.center, &loss_cfg)?;
        self.center = dino_center_update(&self.center, &teacher, self.config.center_momentum)?;
        let mut logs = collapse_logs(&bottlenecks[0], &bottlenecks[1], ctx.step, self.config.monitor_every)?;
        logs.push(("teacher_temperature".into(), temperature));
        logs.push(("teacher_momentum".into(), self.momentum_at(ctx.step, ctx.total_steps)?));
        Ok(LossOutput { loss, logs })
    }

    fn after_step(&mut self, step: u64, total_steps: u64) -> TrainResult<()> {
        self.ema.update(self.momentum_at(step, total_steps)?)
    }

    fn extra_state(&self) -> TrainResult<Vec<(String, Tensor)>> {
        Ok(vec![(CENTER.to_string(), self.center.clone())])
    }

    fn load_extra_state(&mut self, mut state: HashMap<String, Tensor>) -> TrainResult<()> {
        let center = take_entries(&mut state, &[CENTER.to_string()])?.remove(0);
        expect_dims(CENTER, &center, &[1, self.config.output_dim])?;
        expect_no_more(&state)?;
        self.center = center.to_device(self.center.device())?.to_dtype(DType::F32)?.detach();
        Ok(())
    }

    fn encoder(&self) -> &ResNet {
        &self.backbone
    }
}
