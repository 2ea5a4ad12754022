//! VICReg's loss (Bardes et al. 2022, eq. 1–6; `main_vicreg.py` of the reference code).
//!
//! - invariance `s = MSE(x, y)` (mean over all elements);
//! - variance `v = ½ mean_j max(0, 1 − √(Var(x_j) + ε)) + ½ (same for y)`, unbiased variance, ε = 1e-4;
//! - covariance `c = Σ_{i≠j} Cov(x)_ij² / D + (same for y)`, `Cov(x) = x̄ᵀx̄ / (N − 1)`;
//! - `L = λ s + μ v + ν c` with (λ, μ, ν) = (25, 25, 1).

use candle_core::Tensor;

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::{off_diagonal_square_sum, same_dims2};

/// Weights of the three VICReg terms; the paper's by [`Default`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VicregWeights {
    /// λ, weight of the invariance (MSE) term (25).
    pub invariance: f64,
    /// μ, weight of the variance (std hinge) term (25).
    pub variance: f64,
    /// ν, weight of the covariance term (1).
    pub covariance: f64,
}

impl Default for VicregWeights {
    fn default() -> Self {
        Self { invariance: 25.0, variance: 25.0, covariance: 1.0 }
    }
}

/// Added to the variance under the square root.
pub const VICREG_EPS: f64 = 1e-4;

fn variance_and_covariance(x: &Tensor, n: usize, d: usize) -> Result<(Tensor, Tensor)> {
    let centred = x.broadcast_sub(&x.mean_keepdim(0)?)?;
    let var = (centred.sqr()?.sum(0)? / (n - 1) as f64)?;
    let std = (var + VICREG_EPS)?.sqrt()?;
    let hinge = std.affine(-1.0, 1.0)?.relu()?.mean_all()?;
    let cov = (centred.t()?.matmul(&centred)? / (n - 1) as f64)?;
    Ok((hinge, (off_diagonal_square_sum(&cov)? / d as f64)?))
}

/// The VICReg loss of two branches' embeddings `x`, `y` (`[N, D]`, N ≥ 2); differentiable in both.
pub fn vicreg_loss(x: &Tensor, y: &Tensor, weights: VicregWeights) -> Result<Tensor> {
    const OP: &str = "vicreg_loss";
    let (n, d) = same_dims2(OP, x, y)?;
    if n < 2 {
        return Err(ContrastiveError::param(OP, "needs at least 2 samples"));
    }
    let invariance = (x - y)?.sqr()?.mean_all()?;
    let (hinge_x, cov_x) = variance_and_covariance(x, n, d)?;
    let (hinge_y, cov_y) = variance_and_covariance(y, n, d)?;
    let variance = ((hinge_x + hinge_y)? * 0.5)?;
    let covariance = (cov_x + cov_y)?;
    Ok(((invariance * weights.invariance)? + (variance * weights.variance)? + (covariance * weights.covariance)?)?)
}
