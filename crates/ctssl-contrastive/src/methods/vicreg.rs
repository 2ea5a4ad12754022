//! VICReg (Bardes et al. 2022): two views → backbone → 3-layer expander; invariance (MSE), variance (hinge
//! on the per-dimension std) and covariance (off-diagonal) terms.

use candle_core::Tensor;

use super::expander::{ExpanderMethod, ExpanderObjective};
use crate::error::Result;
use crate::vicreg::{vicreg_loss, VicregWeights};

/// Settings of [`Vicreg`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VicregConfig {
    /// Width of the three expander layers (8192).
    pub expander_dim: usize,
    /// Weights λ, μ, ν of the three terms (25, 25, 1).
    pub weights: VicregWeights,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl VicregConfig {
    /// As published: expander 8192-8192-8192, weights (25, 25, 1).
    pub fn paper() -> Self {
        Self { expander_dim: 8192, weights: VicregWeights::default(), monitor_every: 1 }
    }

    /// The CPU preset: expander 512-512-512, weights (25, 25, 1).
    pub fn small() -> Self {
        Self { expander_dim: 512, ..Self::paper() }
    }
}

impl ExpanderObjective for VicregConfig {
    const NAME: &'static str = "vicreg";
    fn expander_dim(&self) -> usize {
        self.expander_dim
    }
    fn monitor_every(&self) -> u64 {
        self.monitor_every
    }
    fn loss(&self, z0: &Tensor, z1: &Tensor) -> Result<Tensor> {
        vicreg_loss(z0, z1, self.weights)
    }
}

/// VICReg: backbone and expander trainable; the state is the batch-norm statistics.
pub type Vicreg = ExpanderMethod<VicregConfig>;
