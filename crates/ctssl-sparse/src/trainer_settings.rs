//! SparK's settings in `ctssl-train`'s terms (feature `method`): the optimiser's LAMB settings,
//! schedules, trainer configuration and parameter groups, and SparK's errors as the trainer's. Without
//! the feature, [`SparkOptimizer`] is the published numbers alone.

use ctssl_train::optim::{split_decay_also, LambConfig, ParamGroup};
use ctssl_train::schedule::Schedule;
use ctssl_train::trainer::{RunLength, TrainerConfig};

use crate::config::SparkOptimizer;
use crate::error::{Result, SparseError};

impl SparkOptimizer {
    /// LAMB's settings for `batch` images per step (the schedules then set lr and weight decay per step).
    pub fn lamb_config(&self, batch: usize) -> LambConfig {
        LambConfig { lr: self.peak_lr(batch), betas: self.betas, eps: self.eps, weight_decay: self.weight_decay_start }
    }

    /// The learning rate by step of a run of `length`: linear warm-up from `warmup_start_fraction × peak`
    /// over `warmup_epochs` (capped at the run), then a half cosine to `end_fraction × peak` (SparK's
    /// `lr_wd_annealing`).
    pub fn lr_schedule(&self, length: RunLength) -> Result<Schedule> {
        let total = length.total_steps().max(1);
        let peak = self.peak_lr(length.batch_size);
        let warmup = ((self.warmup_epochs.max(0.0) * length.steps_per_epoch as f64).round() as u64).min(total);
        let s = Schedule::WarmupCosine {
            start: peak * self.warmup_start_fraction,
            peak,
            end: peak * self.end_fraction,
            warmup_steps: warmup,
            total_steps: total,
        };
        s.validate().map_err(|e| SparseError::InvalidConfig(e.to_string()))?;
        Ok(s)
    }

    /// The weight decay by step: cosine from `weight_decay_start` to `weight_decay_end` over the run.
    pub fn weight_decay_schedule(&self, total_steps: u64) -> Result<Schedule> {
        Schedule::cosine(self.weight_decay_start, self.weight_decay_end, total_steps.max(1))
            .map_err(|e| SparseError::InvalidConfig(e.to_string()))
    }

    /// The trainer's settings for a run of `length`, seeded with `seed`: both schedules and the gradient
    /// clip; checkpoints and logging keep the trainer's defaults.
    pub fn trainer_config(&self, length: RunLength, seed: u64) -> Result<TrainerConfig> {
        Ok(TrainerConfig {
            epochs: length.epochs,
            lr: self.lr_schedule(length)?,
            weight_decay: self.weight_decay_schedule(length.total_steps())?,
            clip_grad_norm: Some(self.clip_grad_norm),
            seed,
            ..TrainerConfig::default()
        })
    }

    /// SparK's parameter groups: no weight decay (and no trust ratio) for tensors of rank ≤ 1 (biases,
    /// norm parameters) and for the mask tokens; weight decay for the rest.
    pub fn param_groups(&self, params: Vec<(String, candle_core::Var)>) -> Vec<ParamGroup> {
        split_decay_also(params, |name| name.contains("mask_tokens"))
    }
}

/// SparK's errors reach the trainer as the `spark` method's, with the SparK error as the source.
impl From<SparseError> for ctssl_train::TrainError {
    fn from(e: SparseError) -> Self {
        ctssl_train::TrainError::Method { method: "spark".into(), source: Box::new(e) }
    }
}
