//! Gradient clipping by global norm and gradient accumulation over micro-batches.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, TensorId, Var};

use super::state::l2_norm;
use crate::error::{Result, TrainError};

/// Scales the gradients of `vars` so that their global L2 norm is at most `max_norm` (PyTorch
/// `clip_grad_norm_`: factor `max_norm / (norm + 1e-6)` when the norm exceeds `max_norm`).
/// Returns the norm before clipping; a non-finite norm is returned as is and nothing is scaled.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm <= 0.0 {
        return Err(TrainError::InvalidArgument(format!("max_norm must be positive, got {max_norm}")));
    }
    let mut sq = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += l2_norm(g)?.powi(2);
        }
    }
    let norm = sq.sqrt();
    if norm.is_finite() && norm > max_norm {
        let coef = max_norm / (norm + 1e-6);
        for v in vars {
            if let Some(g) = grads.remove(v.as_tensor()) {
                grads.insert(v.as_tensor(), g.affine(coef, 0.0)?);
            }
        }
    }
    Ok(norm)
}

/// Sums the gradients of a set of variables over micro-batches, then averages them.
#[derive(Debug)]
pub struct GradAccumulator {
    vars: Vec<Var>,
    sums: HashMap<TensorId, Tensor>,
    count: usize,
}

impl GradAccumulator {
    /// An empty accumulator for the gradients of `vars`.
    pub fn new(vars: Vec<Var>) -> Self {
        Self { vars, sums: HashMap::new(), count: 0 }
    }

    /// Adds the gradients of one micro-batch (other entries of `grads` are ignored).
    pub fn add(&mut self, grads: &GradStore) -> Result<()> {
        for v in &self.vars {
            let id = v.as_tensor().id();
            if let Some(g) = grads.get(v.as_tensor()) {
                let g = g.detach();
                let sum = match self.sums.remove(&id) {
                    Some(s) => (s + g)?,
                    None => g.copy()?,
                };
                self.sums.insert(id, sum);
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Number of micro-batches added since the last [`GradAccumulator::finish`].
    pub fn micro_batches(&self) -> usize {
        self.count
    }

    /// Returns the summed gradients multiplied by `scale` (use `1 / micro_batches` for the mean of
    /// per-micro-batch mean losses) and empties the accumulator.
    pub fn finish(&mut self, scale: f64) -> Result<GradStore> {
        let mut out = GradStore::default();
        for v in &self.vars {
            if let Some(s) = self.sums.remove(&v.as_tensor().id()) {
                out.insert(v.as_tensor(), s.affine(scale, 0.0)?);
            }
        }
        self.count = 0;
        Ok(out)
    }
}
