//! LAMB: Adam moments with a layer-wise trust ratio (You et al. 2019).

use candle_core::backprop::GradStore;

use super::group::ParamGroup;
use super::moments::{update_moments, Moments};
use super::state::{check_groups, l2_norm, StateStore};
use super::{impl_common, Optimizer};
use crate::error::Result;

/// Settings of [`Lamb`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LambConfig {
    /// Base learning rate.
    pub lr: f64,
    /// β₁, β₂ (for example (0.9, 0.999), or (0.9, 0.95) as in masked-image pre-training).
    pub betas: (f64, f64),
    /// ε added to the denominator.
    pub eps: f64,
    /// Base weight decay λ.
    pub weight_decay: f64,
}

impl Default for LambConfig {
    fn default() -> Self {
        Self { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-6, weight_decay: 0.01 }
    }
}

/// LAMB: `m = β₁m + (1−β₁)g`, `v = β₂v + (1−β₂)g²`, `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`,
/// `u = m̂/(√v̂ + ε) + λw`; with `adapt = true` the trust ratio `q = ‖w‖/‖u‖` (1 when either is 0),
/// else `q = 1`; `w = w − lr·q·u`.
#[derive(Debug)]
pub struct Lamb {
    cfg: LambConfig,
    groups: Vec<ParamGroup>,
    state: StateStore,
}

impl Lamb {
    /// Creates the optimizer; parameter names and variables must be unique.
    pub fn new(groups: Vec<ParamGroup>, cfg: LambConfig) -> Result<Self> {
        check_groups(&groups)?;
        Ok(Self { cfg, groups, state: StateStore::new(&["exp_avg", "exp_avg_sq"]) })
    }
}

impl Optimizer for Lamb {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.cfg;
        for group in &self.groups {
            let lr = c.lr * group.lr_scale;
            let wd = c.weight_decay * group.wd_scale;
            for (name, var) in &group.params {
                let Some(g) = grads.get(var.as_tensor()) else { continue };
                let g = g.detach();
                let p = var.as_detached_tensor();
                let fused = super::fused::supported(var.as_tensor());
                let Moments { m, v, bc1, bc2 } = update_moments(&mut self.state, name, &g, &p, 0.0, c.betas, fused)?;
                let denom = v.affine(1.0 / bc2, 0.0)?.sqrt()?.affine(1.0, c.eps)?;
                let mut u = m.affine(1.0 / bc1, 0.0)?.div(&denom)?;
                if wd != 0.0 {
                    u = (u + p.affine(wd, 0.0)?)?;
                }
                let q = if group.adapt {
                    let (w_norm, u_norm) = (l2_norm(&p)?, l2_norm(&u)?);
                    if w_norm > 0.0 && u_norm > 0.0 {
                        w_norm / u_norm
                    } else {
                        1.0
                    }
                } else {
                    1.0
                };
                var.set(&(p - u.affine(lr * q, 0.0)?)?)?;
            }
        }
        Ok(())
    }

    impl_common!();
}
