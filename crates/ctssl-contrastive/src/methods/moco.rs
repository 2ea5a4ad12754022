//! MoCo v2 (He et al. 2020; Chen et al. 2020): a query encoder trained by InfoNCE against the key of the
//! other view, computed by a momentum (EMA) copy, and a queue of past keys as negatives.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl_train::ema::Ema;
use ctssl_train::method::{expect_no_more, LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::{Result as TrainResult, TrainError};

use super::common::{check_views, collapse_logs, expect_dims, pair_vars, pooled_features, take_entries};
use crate::error::Result;
use crate::info_nce::info_nce;
use crate::key_queue::KeyQueue;
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};

/// Settings of [`MocoV2`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MocoV2Config {
    /// A 2-layer MLP head (MoCo v2); false: one linear layer (MoCo v1, and the study's command).
    pub mlp_head: bool,
    /// Hidden width of the MLP head (the backbone's feature size in MoCo v2).
    pub head_hidden: usize,
    /// Key / query size (128).
    pub output_dim: usize,
    /// Negatives in the queue (65,536).
    pub queue_size: usize,
    /// InfoNCE temperature τ (0.2 in MoCo v2; 0.07 in MoCo v1 and the study).
    pub temperature: f64,
    /// Momentum m of the key encoder (0.999).
    pub key_momentum: f64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl MocoV2Config {
    /// MoCo v2 as published: MLP head `F → F → 128`, queue 65,536, τ 0.2, m 0.999.
    pub fn paper(feature_dim: usize) -> Self {
        Self {
            mlp_head: true,
            head_hidden: feature_dim,
            output_dim: 128,
            queue_size: 65_536,
            temperature: 0.2,
            key_momentum: 0.999,
            monitor_every: 1,
        }
    }

    /// The study's command: linear 128-d head, τ 0.07, queue 65,536, m 0.999.
    pub fn study(feature_dim: usize) -> Self {
        Self { mlp_head: false, temperature: 0.07, ..Self::paper(feature_dim) }
    }

    /// The CPU preset: MLP head `F → F → 64`, queue 1,024, τ 0.2, m 0.99 (runs of a few hundred steps).
    pub fn small(feature_dim: usize) -> Self {
        Self { output_dim: 64, queue_size: 1024, key_momentum: 0.99, ..Self::paper(feature_dim) }
    }

    fn head(&self, feature_dim: usize) -> ProjectionHeadConfig {
        if self.mlp_head {
            ProjectionHeadConfig::simclr(feature_dim, self.head_hidden, self.output_dim)
        } else {
            ProjectionHeadConfig {
                input_dim: feature_dim,
                hidden_dim: self.output_dim,
                output_dim: self.output_dim,
                num_layers: 1,
                hidden_batch_norm: false,
                last_batch_norm: false,
                last_bias: true,
            }
        }
    }
}

/// MoCo v2: the query encoder (backbone + head) is trainable; the key encoder is an EMA copy updated in
/// [`PretrainMethod::after_step`]; the queue is pushed in [`PretrainMethod::loss`] once the loss has used it.
#[derive(Debug)]
pub struct MocoV2 {
    config: MocoV2Config,
    backbone: ResNet,
    head: ProjectionHead,
    key_backbone: ResNet,
    key_head: ProjectionHead,
    ema: Ema,
    queue: KeyQueue,
}

impl MocoV2 {
    /// A new model: query and key encoders start equal (backbone from `seed`, head from `seed + 1000`); the
    /// queue holds random unit keys from `seed + 2000`.
    pub fn new(backbone: ResNetConfig, config: MocoV2Config, seed: u64, device: &Device) -> Result<Self> {
        let cfg = backbone.with_num_classes(None);
        let backbone = ResNet::new(cfg.clone(), seed, device)?;
        let key_backbone = ResNet::new(cfg.clone(), seed, device)?;
        let head_cfg = config.head(cfg.feature_dim());
        let head = ProjectionHead::new(head_cfg, seed.wrapping_add(1000), DType::F32, device)?;
        let key_head = ProjectionHead::new(head_cfg, seed.wrapping_add(1000), DType::F32, device)?;
        let mut targets = key_backbone.vars_of_kind("key_backbone.", ParamKind::Trainable);
        targets.extend(key_head.vars_of_kind("key_head.", ParamKind::Trainable));
        let mut online = backbone.vars_of_kind("backbone.", ParamKind::Trainable);
        online.extend(head.vars_of_kind("head.", ParamKind::Trainable));
        let ema = Ema::from_pairs(pair_vars(targets, online)?, Vec::new())?;
        let queue =
            KeyQueue::new_random(config.queue_size, config.output_dim, seed.wrapping_add(2000), DType::F32, device)?;
        Ok(Self { config, backbone, head, key_backbone, key_head, ema, queue })
    }

    /// The settings.
    pub fn config(&self) -> &MocoV2Config {
        &self.config
    }

    /// The query backbone (the one exported).
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    /// The queue of negative keys.
    pub fn queue(&self) -> &KeyQueue {
        &self.queue
    }

    /// The key encoder's variables (backbone and head parameters), which no optimizer sees.
    pub fn key_vars(&self) -> Vec<(String, Var)> {
        self.ema.target_vars()
    }

    /// Queries `[B, output_dim]` of `x` (training mode, differentiable).
    pub fn queries(&self, x: &Tensor) -> TrainResult<Tensor> {
        let f = pooled_features(&self.backbone, std::slice::from_ref(x), true)?;
        Ok(self.head.forward(&f[0], true)?)
    }

    /// Keys `[B, output_dim]` of `x` from the key encoder (training mode), detached.
    pub fn keys(&self, x: &Tensor) -> TrainResult<Tensor> {
        let f = pooled_features(&self.key_backbone, std::slice::from_ref(x), true)?;
        Ok(self.key_head.forward(&f[0], true)?.detach())
    }
}

const QUEUE_NAMES: [&str; 2] = ["queue.keys", "queue.meta"];

impl PretrainMethod for MocoV2 {
    fn name(&self) -> &str {
        "moco_v2"
    }

    fn parts(&self) -> Vec<Part<'_>> {
        vec![
            Part::trained("backbone.", &self.backbone),
            Part::trained("head.", &self.head),
            Part::target("key_backbone.", &self.key_backbone),
            Part::target("key_head.", &self.key_head),
        ]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views("moco_v2", views, 2)?;
        let q = self.queries(&views[0])?;
        let k = self.keys(&views[1])?;
        let loss = info_nce(&q, &k, self.queue.keys(), self.config.temperature)?;
        // The keys join the queue only after the loss has used the queue as it was.
        self.queue.enqueue(&k)?;
        let logs = collapse_logs(&q, &k, ctx.step, self.config.monitor_every)?;
        Ok(LossOutput { loss, logs })
    }

    fn after_step(&mut self, _step: u64, _total_steps: u64) -> TrainResult<()> {
        self.ema.update(self.config.key_momentum)
    }

    fn extra_state(&self) -> TrainResult<Vec<(String, Tensor)>> {
        let (keys, meta) = self.queue.state()?;
        Ok(vec![(QUEUE_NAMES[0].to_string(), keys), (QUEUE_NAMES[1].to_string(), meta)])
    }

    fn load_extra_state(&mut self, mut state: HashMap<String, Tensor>) -> TrainResult<()> {
        let q = take_entries(&mut state, &QUEUE_NAMES.map(String::from))?;
        expect_dims(QUEUE_NAMES[0], &q[0], &[self.queue.size(), self.queue.dim()])?;
        let queue = KeyQueue::from_state(&q[0].to_dtype(DType::F32)?, &q[1]).map_err(TrainError::from)?;
        expect_no_more(&state)?;
        self.queue = queue;
        Ok(())
    }

    fn encoder(&self) -> &ResNet {
        &self.backbone
    }
}
