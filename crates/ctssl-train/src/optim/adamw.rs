//! AdamW: Adam with decoupled weight decay and bias correction; with `decoupled_weight_decay: false`,
//! PyTorch's `torch.optim.Adam` with L2 weight decay added to the gradient (what the reference study used).

use candle_core::backprop::GradStore;

use super::group::ParamGroup;
use super::moments::{update_moments, Moments};
use super::state::{check_groups, StateStore};
use super::{impl_common, Optimizer};
use crate::error::Result;

/// Settings of [`AdamW`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    /// Base learning rate.
    pub lr: f64,
    /// β₁, β₂.
    pub betas: (f64, f64),
    /// ε added to the denominator.
    pub eps: f64,
    /// Base weight decay λ.
    pub weight_decay: f64,
    /// Decoupled (AdamW: `p ← p(1 − lr·λ)`) when true; L2 added to the gradient (`g ← g + λp`,
    /// `torch.optim.Adam`) when false.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01, decoupled_weight_decay: true }
    }
}

/// AdamW with PyTorch semantics: `p = p(1 − lr·λ)`; `m = β₁m + (1−β₁)g`; `v = β₂v + (1−β₂)g²`;
/// `p = p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    groups: Vec<ParamGroup>,
    state: StateStore,
}

impl AdamW {
    /// Creates the optimizer; parameter names and variables must be unique.
    pub fn new(groups: Vec<ParamGroup>, cfg: AdamWConfig) -> Result<Self> {
        check_groups(&groups)?;
        Ok(Self { cfg, groups, state: StateStore::new(&["exp_avg", "exp_avg_sq"]) })
    }
}

impl Optimizer for AdamW {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let c = self.cfg;
        for group in &self.groups {
            let lr = c.lr * group.lr_scale;
            let wd = c.weight_decay * group.wd_scale;
            for (name, var) in &group.params {
                let Some(g) = grads.get(var.as_tensor()) else { continue };
                let mut g = g.detach();
                if wd != 0.0 && !c.decoupled_weight_decay {
                    g = (g + var.as_detached_tensor().affine(wd, 0.0)?)?;
                }
                let Moments { m, v, bc1, bc2 } = update_moments(&mut self.state, name, &g, c.betas)?;
                let mut p = var.as_detached_tensor();
                if wd != 0.0 && c.decoupled_weight_decay {
                    p = p.affine(1.0 - lr * wd, 0.0)?;
                }
                let denom = v.sqrt()?.affine(1.0 / bc2.sqrt(), c.eps)?;
                let p = (p - (m.div(&denom)?).affine(lr / bc1, 0.0)?)?;
                var.set(&p)?;
            }
        }
        Ok(())
    }

    impl_common!();
}
