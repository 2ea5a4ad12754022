//! Optimizers over candle [`Var`](candle_core::Var)s with parameter groups, gradient clipping and
//! gradient accumulation.
//!
//! Each optimizer follows the PyTorch update formulas (documented per type), skips parameters that have
//! no gradient in the [`GradStore`], and keeps its state (step counts and moment buffers) as named
//! tensors that [`Optimizer::state_tensors`] returns and [`Optimizer::load_state_tensors`] restores.
//! Moments are kept in the dtype of the parameter.

mod adamw;
mod choice;
mod clip;
mod fused;
mod group;
mod lamb;
mod lars;
mod moments;
mod sgd;
mod state;

pub use adamw::{AdamW, AdamWConfig};
pub use choice::{OptimizerChoice, OptimizerKind};
pub use clip::{clip_grad_norm, GradAccumulator};
pub use group::{split_decay, split_decay_also, ParamGroup};
pub use lamb::{Lamb, LambConfig};
pub use lars::{Lars, LarsConfig};
pub use sgd::{Sgd, SgdConfig};

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::Tensor;

use crate::error::Result;

/// What every optimizer of the crate offers.
pub trait Optimizer {
    /// Applies one update to every parameter that has a gradient in `grads`.
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    /// The base learning rate (each group multiplies it by its `lr_scale`).
    fn learning_rate(&self) -> f64;
    /// Sets the base learning rate (called by a schedule before each step).
    fn set_learning_rate(&mut self, lr: f64);
    /// The base weight decay (each group multiplies it by its `wd_scale`).
    fn weight_decay(&self) -> f64;
    /// Sets the base weight decay (called by a schedule before each step).
    fn set_weight_decay(&mut self, wd: f64);
    /// The parameter groups.
    fn groups(&self) -> &[ParamGroup];
    /// The optimizer state as named tensors (`<param>/step`, `<param>/<buffer>`), for checkpoints.
    fn state_tensors(&self) -> Result<HashMap<String, Tensor>>;
    /// Restores a state produced by [`Optimizer::state_tensors`]; validates names and shapes.
    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// Implements the bookkeeping methods of [`Optimizer`] for a type with fields
/// `cfg.lr`, `cfg.weight_decay`, `groups` and `state`.
macro_rules! impl_common {
    () => {
        fn learning_rate(&self) -> f64 {
            self.cfg.lr
        }
        fn set_learning_rate(&mut self, lr: f64) {
            self.cfg.lr = lr;
        }
        fn weight_decay(&self) -> f64 {
            self.cfg.weight_decay
        }
        fn set_weight_decay(&mut self, wd: f64) {
            self.cfg.weight_decay = wd;
        }
        fn groups(&self) -> &[$crate::optim::ParamGroup] {
            &self.groups
        }
        fn state_tensors(&self) -> $crate::error::Result<std::collections::HashMap<String, candle_core::Tensor>> {
            self.state.to_tensors()
        }
        fn load_state_tensors(
            &mut self,
            state: &std::collections::HashMap<String, candle_core::Tensor>,
        ) -> $crate::error::Result<()> {
            self.state.load(&self.groups, state)
        }
    };
}
pub(crate) use impl_common;

#[cfg(test)]
mod tests;
