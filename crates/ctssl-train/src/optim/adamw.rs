//! AdamW: Adam with decoupled weight decay and bias correction; with `decoupled_weight_decay: false`,
//! PyTorch's `torch.optim.Adam` with L2 weight decay added to the gradient (what the reference study used).

use candle_core::backprop::GradStore;

use super::fused;
use super::group::ParamGroup;
use super::moments::{advance, fits_in_place, update_moments, Moments};
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
    fused: bool,
}

impl AdamW {
    /// Creates the optimizer; parameter names and variables must be unique.
    pub fn new(groups: Vec<ParamGroup>, cfg: AdamWConfig) -> Result<Self> {
        check_groups(&groups)?;
        Ok(Self { cfg, groups, state: StateStore::new(&["exp_avg", "exp_avg_sq"]), fused: true })
    }

    /// With `false`, every update goes through candle tensor ops, as on other devices, instead of the
    /// fused in-place CPU kernel (the default: the same numbers in one pass instead of about fifteen).
    pub fn with_fused(mut self, fused: bool) -> Self {
        self.fused = fused;
        self
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
                let g = g.detach();
                let p = var.as_detached_tensor();
                let l2 = if c.decoupled_weight_decay { 0.0 } else { wd };
                let decay = (wd != 0.0 && c.decoupled_weight_decay).then_some(1.0 - lr * wd);
                if self.fused && fits_in_place(&self.state, name, &g, &p) {
                    // Moments and parameter in one pass.
                    let Moments { m, v, bc1, bc2 } = advance(&mut self.state, name, &g, c.betas)?;
                    let update = fused::AdamUpdate {
                        betas: c.betas,
                        l2,
                        decay,
                        inv_sqrt_bc2: 1.0 / bc2.sqrt(),
                        eps: c.eps,
                        step_size: lr / bc1,
                    };
                    update.apply(&p, &g, &m, &v)?;
                    continue;
                }
                let Moments { m, v, bc1, bc2 } = update_moments(&mut self.state, name, &g, &p, l2, c.betas, false)?;
                let p = match decay {
                    Some(d) => p.affine(d, 0.0)?,
                    None => p,
                };
                let denom = v.sqrt()?.affine(1.0 / bc2.sqrt(), c.eps)?;
                let p = (p - (m.div(&denom)?).affine(lr / bc1, 0.0)?)?;
                var.set(&p)?;
            }
        }
        Ok(())
    }

    impl_common!();
}
