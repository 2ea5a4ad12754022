//! Schedules of a scalar hyper-parameter over optimizer steps: learning rate, weight decay, EMA momentum.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// A value as a function of the (0-based) optimizer step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The same value at every step.
    Constant {
        /// The value.
        value: f64,
    },
    /// Linear warm-up from `start` to `peak` over `warmup_steps`, then a half cosine from `peak` to `end`
    /// reached at `total_steps` (and held after). `end` may exceed `peak` (weight decay 0.04 → 0.2).
    WarmupCosine {
        /// Value at step 0 (when `warmup_steps > 0`).
        start: f64,
        /// Value at the end of warm-up.
        peak: f64,
        /// Value at `total_steps`.
        end: f64,
        /// Length of the warm-up.
        warmup_steps: u64,
        /// Step at which `end` is reached.
        total_steps: u64,
    },
    /// `base · gamma^k` where k is the number of milestones `≤ step`.
    MultiStep {
        /// Value before the first milestone.
        base: f64,
        /// Factor applied at each milestone.
        gamma: f64,
        /// Steps at which the value is multiplied by `gamma` (ascending).
        milestones: Vec<u64>,
    },
}

impl Schedule {
    /// Warm-up from 0 to `peak`, then cosine to `end` (the usual learning-rate schedule).
    pub fn warmup_cosine(peak: f64, end: f64, warmup_steps: u64, total_steps: u64) -> Result<Self> {
        let s = Schedule::WarmupCosine { start: 0.0, peak, end, warmup_steps, total_steps };
        s.validate()?;
        Ok(s)
    }

    /// Cosine from `start` to `end` over `total_steps` without warm-up (weight decay 0.04 → 0.2).
    pub fn cosine(start: f64, end: f64, total_steps: u64) -> Result<Self> {
        let s = Schedule::WarmupCosine { start, peak: start, end, warmup_steps: 0, total_steps };
        s.validate()?;
        Ok(s)
    }

    /// BYOL's target momentum: `m = 1 − (1 − m0)(cos(πk/K) + 1)/2`, from `m0` at k = 0 to 1 at k = K.
    pub fn ema_momentum(m0: f64, total_steps: u64) -> Result<Self> {
        Self::cosine(m0, 1.0, total_steps)
    }

    /// Checks the parameters (finite values, warm-up not longer than the run, ascending milestones).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(TrainError::InvalidArgument(m));
        match self {
            Schedule::Constant { value } if !value.is_finite() => bad(format!("constant {value}")),
            Schedule::WarmupCosine { start, peak, end, warmup_steps, total_steps } => {
                if ![start, peak, end].iter().all(|v| v.is_finite()) {
                    return bad("non-finite schedule value".into());
                }
                if total_steps == &0 || warmup_steps > total_steps {
                    return bad(format!("warm-up {warmup_steps} and total {total_steps} steps"));
                }
                Ok(())
            }
            Schedule::MultiStep { base, gamma, milestones } => {
                if !base.is_finite() || !gamma.is_finite() || milestones.windows(2).any(|w| w[0] > w[1]) {
                    return bad("multi-step: non-finite value or milestones not ascending".into());
                }
                Ok(())
            }
            Schedule::Constant { .. } => Ok(()),
        }
    }

    /// The value at `step`.
    pub fn at(&self, step: u64) -> f64 {
        match self {
            Schedule::Constant { value } => *value,
            Schedule::WarmupCosine { start, peak, end, warmup_steps, total_steps } => {
                if step < *warmup_steps {
                    return start + (peak - start) * step as f64 / *warmup_steps as f64;
                }
                let span = total_steps.saturating_sub(*warmup_steps);
                let progress = if span == 0 { 1.0 } else { ((step - warmup_steps) as f64 / span as f64).min(1.0) };
                end + (peak - end) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
            Schedule::MultiStep { base, gamma, milestones } => {
                let k = milestones.iter().filter(|&&m| m <= step).count();
                base * gamma.powi(k as i32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn warmup_cosine_boundaries() {
        let s = Schedule::warmup_cosine(1.0, 0.0, 10, 110).unwrap();
        assert_eq!(s.at(0), 0.0);
        assert!(close(s.at(5), 0.5));
        assert!(close(s.at(10), 1.0));
        assert!(close(s.at(60), 0.5)); // half-way through the cosine
        assert!(close(s.at(110), 0.0));
        assert!(close(s.at(1000), 0.0));
        let xs: Vec<f64> = (10..=110).map(|k| s.at(k)).collect();
        assert!(xs.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn weight_decay_rises_with_cosine() {
        let s = Schedule::cosine(0.04, 0.2, 100).unwrap();
        assert!(close(s.at(0), 0.04));
        assert!(close(s.at(50), 0.12));
        assert!(close(s.at(100), 0.2));
    }

    #[test]
    fn byol_momentum() {
        let s = Schedule::ema_momentum(0.996, 1000).unwrap();
        for k in [0u64, 1, 250, 500, 999, 1000] {
            let want = 1.0 - (1.0 - 0.996) * ((std::f64::consts::PI * k as f64 / 1000.0).cos() + 1.0) / 2.0;
            assert!(close(s.at(k), want), "step {k}");
        }
        assert!(close(s.at(0), 0.996) && close(s.at(1000), 1.0));
    }

    #[test]
    fn constant_and_multistep() {
        assert_eq!(Schedule::Constant { value: 0.3 }.at(12345), 0.3);
        let s = Schedule::MultiStep { base: 1.0, gamma: 0.1, milestones: vec![10, 20] };
        assert_eq!(s.at(9), 1.0);
        assert!(close(s.at(10), 0.1));
        assert!(close(s.at(19), 0.1));
        assert!(close(s.at(20), 0.01));
    }

    #[test]
    fn invalid_and_serde() {
        assert!(Schedule::warmup_cosine(1.0, 0.0, 20, 10).is_err());
        assert!(Schedule::cosine(1.0, 0.0, 0).is_err());
        assert!(Schedule::MultiStep { base: 1.0, gamma: 0.5, milestones: vec![5, 3] }.validate().is_err());
        let s = Schedule::warmup_cosine(0.1, 0.0, 5, 50).unwrap();
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&j).unwrap(), s);
    }
}
