//! Stochastic gradient descent with momentum, Nesterov momentum and (coupled) weight decay.

use candle_core::backprop::GradStore;

use super::group::ParamGroup;
use super::moments::update_momentum;
use super::state::{check_groups, StateStore};
use super::{impl_common, Optimizer};
use crate::error::Result;

/// Settings of [`Sgd`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Momentum factor μ (0 = plain SGD).
    pub momentum: f64,
    /// Dampening τ of the momentum.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Base weight decay λ (L2, added to the gradient).
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self { lr: 0.1, momentum: 0.9, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// SGD with PyTorch semantics: `d = g + λp`; `b = d` on the first step, else `b = μb + (1−τ)d`;
/// `d = d + μb` (Nesterov) or `d = b`; `p = p − lr·d`.
#[derive(Debug)]
pub struct Sgd {
    cfg: SgdConfig,
    groups: Vec<ParamGroup>,
    state: StateStore,
}

impl Sgd {
    /// Creates the optimizer; parameter names and variables must be unique.
    pub fn new(groups: Vec<ParamGroup>, cfg: SgdConfig) -> Result<Self> {
        check_groups(&groups)?;
        Ok(Self { cfg, groups, state: StateStore::new(&["momentum_buffer"]) })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.cfg;
        for group in &self.groups {
            let lr = c.lr * group.lr_scale;
            let wd = c.weight_decay * group.wd_scale;
            for (name, var) in &group.params {
                let Some(g) = grads.get(var.as_tensor()) else { continue };
                let p = var.as_detached_tensor();
                let mut d = g.detach();
                if wd != 0.0 {
                    d = (d + p.affine(wd, 0.0)?)?;
                }
                if c.momentum != 0.0 {
                    let buf = update_momentum(&mut self.state, name, &d, c.momentum, c.dampening)?;
                    d = if c.nesterov { (d + buf.affine(c.momentum, 0.0)?)? } else { buf };
                }
                var.set(&(p - d.affine(lr, 0.0)?)?)?;
            }
        }
        Ok(())
    }

    impl_common!();
}
