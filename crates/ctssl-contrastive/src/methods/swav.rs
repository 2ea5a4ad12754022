//! SwAV (Caron et al. 2020): multi-crop views → backbone → projector → L2-normalised embeddings scored
//! against prototypes; Sinkhorn-Knopp codes of the global crops are predicted from every other crop.
//! The prototypes are re-normalised after every step and frozen (no gradient) for the first steps; a
//! queue of past global-crop embeddings joins the Sinkhorn batch once filled, for small batches.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_kernels::ops::l2_normalize;
use ctssl_train::method::{expect_no_more, LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::{Result as TrainResult, TrainError};

use super::common::{check_views, collapse_logs, expect_dims, map_concat, pooled_features, take_entries};
use crate::error::{ContrastiveError, Result};
use crate::key_queue::KeyQueue;
use crate::projection_head::{ProjectionHead, ProjectionHeadConfig};
use crate::prototypes::Prototypes;
use crate::swav_loss::{swav_loss, SwavLossConfig};

/// Settings of [`Swav`].
#[derive(Debug, Clone, PartialEq)]
pub struct SwavConfig {
    /// Hidden width of the projector (2048).
    pub projector_hidden: usize,
    /// Embedding size (128).
    pub output_dim: usize,
    /// Number of prototypes (3000 in SwAV; 500 in the study).
    pub num_prototypes: usize,
    /// Temperature, Sinkhorn ε and iterations, crops whose codes are computed.
    pub loss: SwavLossConfig,
    /// Steps during which the prototypes get no gradient (SwAV: 313, one ImageNet epoch at batch 4096).
    pub freeze_prototypes_steps: usize,
    /// Embeddings kept per assigned crop in the queue (0: no queue; SwAV uses 3840 for batch 256).
    pub queue_length: usize,
    /// The step from which the queue is filled (it joins the Sinkhorn batch once full).
    pub queue_start_step: u64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl SwavConfig {
    /// SwAV as published for a backbone of `feature_dim` features: projector `F → 2048 → 128`, 3000
    /// prototypes, τ 0.1, ε 0.05, 3 iterations, frozen 313 steps, no queue.
    pub fn paper(_feature_dim: usize) -> Self {
        Self {
            projector_hidden: 2048,
            output_dim: 128,
            num_prototypes: 3000,
            loss: SwavLossConfig::default(),
            freeze_prototypes_steps: 313,
            queue_length: 0,
            queue_start_step: 0,
            monitor_every: 1,
        }
    }

    /// The study's settings: 500 prototypes and a queue of 3840 embeddings (batch 128), from step 0
    /// (the study does not state when the queue starts).
    pub fn study(feature_dim: usize) -> Self {
        Self { num_prototypes: 500, queue_length: 3840, ..Self::paper(feature_dim) }
    }

    /// The CPU preset: projector `F → 512 → 64`, 100 prototypes, frozen 50 steps, queue 256 from step 50.
    pub fn small(_feature_dim: usize) -> Self {
        Self {
            projector_hidden: 512,
            output_dim: 64,
            num_prototypes: 100,
            loss: SwavLossConfig::default(),
            freeze_prototypes_steps: 50,
            queue_length: 256,
            queue_start_step: 50,
            monitor_every: 1,
        }
    }
}

/// SwAV: backbone, projector and prototypes trainable; queues in the state.
#[derive(Debug)]
pub struct Swav {
    config: SwavConfig,
    backbone: ResNet,
    projector: ProjectionHead,
    prototypes: Prototypes,
    queues: Vec<KeyQueue>,
}

impl Swav {
    /// A new model: backbone from `seed`, projector from `seed + 1000`, prototypes from `seed + 2000`.
    pub fn new(backbone: ResNetConfig, config: SwavConfig, seed: u64, device: &Device) -> Result<Self> {
        if config.loss.crops_for_assign.is_empty() {
            return Err(ContrastiveError::param("Swav::new", "crops_for_assign must not be empty"));
        }
        let backbone = ResNet::new(backbone.with_num_classes(None), seed, device)?;
        let head =
            ProjectionHeadConfig::simclr(backbone.config().feature_dim(), config.projector_hidden, config.output_dim);
        let projector = ProjectionHead::new(head, seed.wrapping_add(1000), DType::F32, device)?;
        let prototypes = Prototypes::new(
            config.output_dim,
            config.num_prototypes,
            config.freeze_prototypes_steps,
            seed.wrapping_add(2000),
            DType::F32,
            device,
        )?;
        let queues = if config.queue_length > 0 {
            config
                .loss
                .crops_for_assign
                .iter()
                .map(|_| KeyQueue::new_empty(config.queue_length, config.output_dim, DType::F32, device))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(Self { config, backbone, projector, prototypes, queues })
    }

    /// The settings.
    pub fn config(&self) -> &SwavConfig {
        &self.config
    }

    /// The backbone.
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    /// The prototypes.
    pub fn prototypes(&self) -> &Prototypes {
        &self.prototypes
    }

    /// The queues (one per assigned crop; empty without a queue).
    pub fn queues(&self) -> &[KeyQueue] {
        &self.queues
    }

    /// L2-normalised embeddings `[B, output_dim]` of every view (training mode).
    pub fn embed(&self, views: &[Tensor]) -> TrainResult<Vec<Tensor>> {
        let feats = pooled_features(&self.backbone, views, true)?;
        let mut out = Vec::with_capacity(views.len());
        // Views of one size go through the projector together (as through the backbone).
        let mut start = 0;
        while start < feats.len() {
            let mut end = start + 1;
            while end < views.len() && views[end].dims() == views[start].dims() {
                end += 1;
            }
            out.extend(map_concat(&feats[start..end], |x| Ok(l2_normalize(&self.projector.forward(x, true)?)?))?);
            start = end;
        }
        Ok(out)
    }

    fn queue_names(&self) -> Vec<String> {
        (0..self.queues.len()).flat_map(|i| [format!("queue{i}.keys"), format!("queue{i}.meta")]).collect()
    }
}

impl PretrainMethod for Swav {
    fn name(&self) -> &str {
        "swav"
    }

    fn parts(&self) -> Vec<Part<'_>> {
        vec![
            Part::trained("backbone.", &self.backbone),
            Part::trained("projector.", &self.projector),
            Part::trained("prototypes.", &self.prototypes),
        ]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> TrainResult<LossOutput> {
        check_views("swav", views, 2)?;
        if let Some(&bad) = self.config.loss.crops_for_assign.iter().find(|&&c| c >= views.len()) {
            return Err(TrainError::InvalidArgument(format!("swav: assigned crop {bad} but {} views", views.len())));
        }
        let emb = self.embed(views)?;
        let iteration = usize::try_from(ctx.step).unwrap_or(usize::MAX);
        let scores =
            emb.iter().map(|e| Ok(self.prototypes.forward_at(e, iteration)?)).collect::<TrainResult<Vec<_>>>()?;
        let queue_active = ctx.step >= self.config.queue_start_step;
        let use_queue = queue_active && !self.queues.is_empty() && self.queues.iter().all(|q| q.is_full());
        let queue_scores = if use_queue {
            Some(
                self.queues
                    .iter()
                    .map(|q| Ok(self.prototypes.scores_detached(q.keys())?))
                    .collect::<TrainResult<Vec<_>>>()?,
            )
        } else {
            None
        };
        let loss = swav_loss(&scores, &self.config.loss, queue_scores.as_deref())?;
        // The queue takes this batch's embeddings after it has served for the codes.
        if queue_active {
            for (q, &crop) in self.queues.iter_mut().zip(&self.config.loss.crops_for_assign) {
                q.enqueue(&emb[crop])?;
            }
        }
        let mut logs = collapse_logs(&emb[0], &emb[1], ctx.step, self.config.monitor_every)?;
        logs.push(("queue_used".into(), if use_queue { 1.0 } else { 0.0 }));
        logs.push(("prototypes_frozen".into(), if self.prototypes.is_frozen(iteration) { 1.0 } else { 0.0 }));
        Ok(LossOutput { loss, logs })
    }

    fn after_step(&mut self, _step: u64, _total_steps: u64) -> TrainResult<()> {
        Ok(self.prototypes.normalize_prototypes()?)
    }

    fn extra_state(&self) -> TrainResult<Vec<(String, Tensor)>> {
        let mut v = Vec::with_capacity(2 * self.queues.len());
        for (i, q) in self.queues.iter().enumerate() {
            let (keys, meta) = q.state()?;
            v.push((format!("queue{i}.keys"), keys));
            v.push((format!("queue{i}.meta"), meta));
        }
        Ok(v)
    }

    fn load_extra_state(&mut self, mut state: HashMap<String, Tensor>) -> TrainResult<()> {
        let entries = take_entries(&mut state, &self.queue_names())?;
        let mut queues = Vec::with_capacity(self.queues.len());
        for (i, pair) in entries.chunks(2).enumerate() {
            expect_dims(&format!("queue{i}.keys"), &pair[0], &[self.config.queue_length, self.config.output_dim])?;
            queues.push(KeyQueue::from_state(&pair[0].to_dtype(DType::F32)?, &pair[1]).map_err(TrainError::from)?);
        }
        expect_no_more(&state)?;
        self.queues = queues;
        Ok(())
    }

    fn encoder(&self) -> &ResNet {
        &self.backbone
    }
}
