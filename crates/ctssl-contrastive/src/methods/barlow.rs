//! Barlow Twins (Zbontar et al. 2021): two views → backbone → 3-layer expander; the cross-correlation of
//! the batch-normalised embeddings is pushed to the identity.

use candle_core::Tensor;

use super::expander::{ExpanderMethod, ExpanderObjective};
use crate::barlow_twins::{barlow_twins_loss, BARLOW_TWINS_LAMBDA};
use crate::error::Result;

/// Settings of [`BarlowTwins`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarlowTwinsConfig {
    /// Width of the three expander layers (8192).
    pub expander_dim: usize,
    /// Weight λ of the off-diagonal term (0.0051).
    pub lambda: f64,
    /// Compute the collapse monitors every this many steps (0: never).
    pub monitor_every: u64,
}

impl BarlowTwinsConfig {
    /// As published: expander 8192-8192-8192, λ 0.0051.
    pub fn paper() -> Self {
        Self { expander_dim: 8192, lambda: BARLOW_TWINS_LAMBDA, monitor_every: 1 }
    }

    /// The CPU preset: expander 512-512-512, λ 0.0051.
    pub fn small() -> Self {
        Self { expander_dim: 512, ..Self::paper() }
    }
}

impl ExpanderObjective for BarlowTwinsConfig {
    const NAME: &'static str = "barlow_twins";
    fn expander_dim(&self) -> usize {
        self.expander_dim
    }
    fn monitor_every(&self) -> u64 {
        self.monitor_every
    }
    fn loss(&self, z0: &Tensor, z1: &Tensor) -> Result<Tensor> {
        barlow_twins_loss(z0, z1, self.lambda)
    }
}

/// Barlow Twins: backbone and expander trainable; the state is the batch-norm statistics.
pub type BarlowTwins = ExpanderMethod<BarlowTwinsConfig>;
