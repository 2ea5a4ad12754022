//! LARS: SGD with momentum and a layer-wise trust ratio (You, Gitman & Ginsburg 2017).

use candle_core::backprop::GradStore;

use super::group::ParamGroup;
use super::moments::update_momentum;
use super::state::{check_groups, l2_norm, StateStore};
use super::{impl_common, Optimizer};
use crate::error::Result;

/// Settings of [`Lars`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LarsConfig {
    /// Base learning rate.
    pub lr: f64,
    /// Momentum factor μ.
    pub momentum: f64,
    /// Base weight decay λ.
    pub weight_decay: f64,
    /// Trust coefficient η.
    pub eta: f64,
}

impl Default for LarsConfig {
    fn default() -> Self {
        Self { lr: 0.2, momentum: 0.9, weight_decay: 1.5e-6, eta: 0.001 }
    }
}

/// LARS. For a parameter `w` of a group with `adapt = true`:
/// `q = η‖w‖ / (‖g‖ + λ‖w‖)` (q = 1 when ‖w‖ or ‖g‖ is 0), `d = q·(g + λw)`;
/// in a group with `adapt = false` (batch-norm parameters, biases) `d = g + λw` with that group's λ
/// (0 for [`ParamGroup::no_decay`]). Then `b = μb + d`, `w = w − lr·b`.
#[derive(Debug)]
pub struct Lars {
    cfg: LarsConfig,
    groups: Vec<ParamGroup>,
    state: StateStore,
}

impl Lars {
    /// Creates the optimizer; parameter names and variables must be unique.
    pub fn new(groups: Vec<ParamGroup>, cfg: LarsConfig) -> Result<Self> {
        check_groups(&groups)?;
        Ok(Self { cfg, groups, state: StateStore::new(&["momentum_buffer"]) })
    }
}

impl Optimizer for Lars {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.cfg;
        for group in &self.groups {
            let lr = c.lr * group.lr_scale;
            let wd = c.weight_decay * group.wd_scale;
            for (name, var) in &group.params {
                let Some(g) = grads.get(var.as_tensor()) else { continue };
                let g = g.detach();
                let p = var.as_detached_tensor();
                let mut d = if wd != 0.0 { (&g + p.affine(wd, 0.0)?)? } else { g.clone() };
                if group.adapt {
                    let w_norm = l2_norm(&p)?;
                    let g_norm = l2_norm(&g)?;
                    let q = if w_norm > 0.0 && g_norm > 0.0 { c.eta * w_norm / (g_norm + wd * w_norm) } else { 1.0 };
                    d = d.affine(q, 0.0)?;
                }
                let buf = update_momentum(&mut self.state, name, &d, c.momentum, 0.0)?;
                var.set(&(p - buf.affine(lr, 0.0)?)?)?;
            }
        }
        Ok(())
    }

    impl_common!();
}
