//! An optimizer and its schedules as plain, serialisable settings: what a method declares as its default
//! and a driver turns into an [`Optimizer`], its learning-rate and weight-decay [`Schedule`]s and a
//! [`TrainerConfig`].

use candle_core::Var;
use serde::{Deserialize, Serialize};

use super::{split_decay, AdamW, AdamWConfig, Lamb, LambConfig, Lars, LarsConfig, Optimizer, Sgd, SgdConfig};
use crate::error::{Result, TrainError};
use crate::schedule::Schedule;
use crate::trainer::{RunLength, TrainerConfig};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with momentum (L2 weight decay added to the gradient).
    Sgd,
    /// Adam with L2 weight decay added to the gradient (`torch.optim.Adam`).
    Adam,
    /// AdamW (decoupled weight decay).
    AdamW,
    /// LARS (SGD with momentum and a layer-wise trust ratio).
    Lars,
    /// LAMB (Adam with a layer-wise trust ratio).
    Lamb,
}

/// Optimizer settings of a method: kind, learning rate for a reference batch size, weight decay and its
/// end value, warm-up, clipping. Weights (rank ≥ 2) get weight decay and the trust ratio; biases and
/// batch-norm parameters get neither ([`split_decay`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerChoice {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Peak learning rate at `reference_batch`.
    pub lr: f64,
    /// The batch size `lr` is given for.
    pub reference_batch: usize,
    /// Scale the learning rate linearly with the batch size (`lr · batch / reference_batch`).
    pub scale_lr_with_batch: bool,
    /// Weight decay at the start.
    pub weight_decay: f64,
    /// Weight decay at the end (cosine from `weight_decay`; equal to it for a constant decay).
    pub weight_decay_end: f64,
    /// Momentum (SGD, LARS) or β₁ (Adam, AdamW, LAMB).
    pub momentum: f64,
    /// β₂ of Adam, AdamW, LAMB.
    pub beta2: f64,
    /// LARS trust coefficient η.
    pub lars_eta: f64,
    /// Fraction of the run spent in linear warm-up (0 = none).
    pub warmup_fraction: f64,
    /// Cosine decay of the learning rate to `lr · final_lr_fraction` (false: constant after warm-up).
    pub cosine: bool,
    /// Final learning rate as a fraction of the peak (with `cosine`).
    pub final_lr_fraction: f64,
    /// Clip gradients to this global norm.
    pub clip_grad_norm: Option<f64>,
}

impl OptimizerChoice {
    fn base(kind: OptimizerKind, lr: f64, reference_batch: usize, weight_decay: f64) -> Self {
        Self {
            kind,
            lr,
            reference_batch,
            scale_lr_with_batch: matches!(kind, OptimizerKind::Sgd | OptimizerKind::Lars),
            weight_decay,
            weight_decay_end: weight_decay,
            momentum: 0.9,
            beta2: 0.999,
            lars_eta: 0.001,
            warmup_fraction: 0.0,
            cosine: true,
            final_lr_fraction: 0.0,
            clip_grad_norm: None,
        }
    }

    /// SGD with momentum 0.9.
    pub fn sgd(lr: f64, reference_batch: usize, weight_decay: f64) -> Self {
        Self::base(OptimizerKind::Sgd, lr, reference_batch, weight_decay)
    }

    /// Adam with L2 weight decay (betas 0.9, 0.999).
    pub fn adam(lr: f64, reference_batch: usize, weight_decay: f64) -> Self {
        Self::base(OptimizerKind::Adam, lr, reference_batch, weight_decay)
    }

    /// AdamW (betas 0.9, 0.999).
    pub fn adamw(lr: f64, reference_batch: usize, weight_decay: f64) -> Self {
        Self::base(OptimizerKind::AdamW, lr, reference_batch, weight_decay)
    }

    /// LARS with momentum 0.9 and η = 0.001.
    pub fn lars(lr: f64, reference_batch: usize, weight_decay: f64) -> Self {
        Self::base(OptimizerKind::Lars, lr, reference_batch, weight_decay)
    }

    /// LAMB (betas 0.9, 0.999).
    pub fn lamb(lr: f64, reference_batch: usize, weight_decay: f64) -> Self {
        Self::base(OptimizerKind::Lamb, lr, reference_batch, weight_decay)
    }

    /// The peak learning rate for a batch of `batch` samples.
    pub fn lr_for_batch(&self, batch: usize) -> f64 {
        if self.scale_lr_with_batch && self.reference_batch > 0 {
            self.lr * batch as f64 / self.reference_batch as f64
        } else {
            self.lr
        }
    }

    /// The optimizer over `vars` (groups from [`split_decay`]), with the learning rate for `batch`.
    pub fn build(&self, vars: Vec<(String, Var)>, batch: usize) -> Result<Box<dyn Optimizer>> {
        let groups = split_decay(vars);
        let lr = self.lr_for_batch(batch);
        let wd = self.weight_decay;
        let betas = (self.momentum, self.beta2);
        Ok(match self.kind {
            OptimizerKind::Sgd => Box::new(Sgd::new(
                groups,
                SgdConfig { lr, momentum: self.momentum, weight_decay: wd, ..Default::default() },
            )?),
            OptimizerKind::Adam | OptimizerKind::AdamW => Box::new(AdamW::new(
                groups,
                AdamWConfig {
                    lr,
                    betas,
                    weight_decay: wd,
                    decoupled_weight_decay: self.kind == OptimizerKind::AdamW,
                    ..Default::default()
                },
            )?),
            OptimizerKind::Lars => Box::new(Lars::new(
                groups,
                LarsConfig { lr, momentum: self.momentum, weight_decay: wd, eta: self.lars_eta },
            )?),
            OptimizerKind::Lamb => {
                Box::new(Lamb::new(groups, LambConfig { lr, betas, weight_decay: wd, ..Default::default() })?)
            }
        })
    }

    /// The learning-rate schedule of a run of `total_steps` with batch `batch`.
    pub fn lr_schedule(&self, batch: usize, total_steps: u64) -> Result<Schedule> {
        if total_steps == 0 {
            return Err(TrainError::InvalidArgument(
                "OptimizerChoice::lr_schedule: total_steps must be positive".into(),
            ));
        }
        let peak = self.lr_for_batch(batch);
        let warmup = ((self.warmup_fraction.clamp(0.0, 1.0)) * total_steps as f64).round() as u64;
        let end = if self.cosine { peak * self.final_lr_fraction } else { peak };
        let s = Schedule::WarmupCosine { start: 0.0, peak, end, warmup_steps: warmup, total_steps };
        s.validate()?;
        Ok(s)
    }

    /// The weight-decay schedule (cosine from `weight_decay` to `weight_decay_end`).
    pub fn weight_decay_schedule(&self, total_steps: u64) -> Result<Schedule> {
        if self.weight_decay_end == self.weight_decay {
            return Ok(Schedule::Constant { value: self.weight_decay });
        }
        Schedule::cosine(self.weight_decay, self.weight_decay_end, total_steps)
    }

    /// A trainer configuration with these schedules and clipping for a run of `length`, seeded with
    /// `seed`; other settings are `TrainerConfig`'s defaults.
    pub fn trainer_config(&self, length: RunLength, seed: u64) -> Result<TrainerConfig> {
        let total = length.total_steps();
        Ok(TrainerConfig {
            epochs: length.epochs,
            lr: self.lr_schedule(length.batch_size, total)?,
            weight_decay: self.weight_decay_schedule(total)?,
            clip_grad_norm: self.clip_grad_norm,
            seed,
            ..TrainerConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn builds_each_kind_with_batch_scaling_and_round_trips_through_json() {
        let w = Var::ones((2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        for c in [
            OptimizerChoice::sgd(0.1, 256, 1e-4),
            OptimizerChoice::adam(1e-3, 64, 0.0),
            OptimizerChoice::adamw(5e-4, 256, 0.04),
            OptimizerChoice::lars(0.3, 256, 1e-6),
            OptimizerChoice::lamb(2e-4, 256, 0.04),
        ] {
            let o = c.build(vec![("w".into(), w.clone())], 128).unwrap();
            assert_eq!(o.learning_rate(), c.lr_for_batch(128));
            let back: OptimizerChoice = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(back, c);
        }
        // SGD and LARS scale linearly with the batch; Adam does not.
        assert_eq!(OptimizerChoice::sgd(0.1, 256, 0.0).lr_for_batch(128), 0.05);
        assert_eq!(OptimizerChoice::adam(1e-3, 64, 0.0).lr_for_batch(128), 1e-3);
    }

    #[test]
    fn trainer_config_warms_up_then_decays() {
        let c = OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::adam(1e-3, 32, 0.0) };
        let t = c.trainer_config(RunLength { epochs: 10, steps_per_epoch: 10, batch_size: 32 }, 7).unwrap();
        assert_eq!(t.seed, 7);
        assert!(t.lr.at(0) < t.lr.at(10));
        assert!((t.lr.at(10) - 1e-3).abs() < 1e-12);
        assert!(t.lr.at(99) < 1e-4);
        assert!(c.lr_schedule(32, 0).is_err());
    }
}
