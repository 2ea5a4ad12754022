//! Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021, eq. 1).
//!
//! Each view's embeddings are batch-normalised without affine parameters (batch mean, biased variance,
//! ε = 1e-5), `C = ẑ₁ᵀ ẑ₂ / N` is their cross-correlation, and
//! `L = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²`.

use candle_core::Tensor;

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::{diagonal, off_diagonal_square_sum, same_dims2};

/// The λ of the reference code (`--lambd 0.0051`).
pub const BARLOW_TWINS_LAMBDA: f64 = 0.0051;

/// Batch norm of the reference implementation.
const BN_EPS: f64 = 1e-5;

/// `(z − mean) / √(var + 1e-5)` per column of `z` `[N, D]`, with the biased batch variance; differentiable.
pub fn batch_standardize(z: &Tensor) -> Result<Tensor> {
    let centred = z.broadcast_sub(&z.mean_keepdim(0)?)?;
    let var = centred.sqr()?.mean_keepdim(0)?;
    Ok(centred.broadcast_div(&(var + BN_EPS)?.sqrt()?)?)
}

/// The Barlow Twins loss of two views' embeddings `z1`, `z2` (`[N, D]`, N ≥ 2) with off-diagonal weight
/// `lambda`; differentiable in both.
pub fn barlow_twins_loss(z1: &Tensor, z2: &Tensor, lambda: f64) -> Result<Tensor> {
    const OP: &str = "barlow_twins_loss";
    let (n, _) = same_dims2(OP, z1, z2)?;
    if n < 2 || !(lambda.is_finite() && lambda >= 0.0) {
        return Err(ContrastiveError::param(OP, format!("needs N ≥ 2 and λ ≥ 0, got N = {n}, λ = {lambda}")));
    }
    let c = (batch_standardize(z1)?.t()?.matmul(&batch_standardize(z2)?)? / n as f64)?;
    let on_diagonal = diagonal(&c)?.affine(1.0, -1.0)?.sqr()?.sum_all()?;
    let off_diagonal = off_diagonal_square_sum(&c)?;
    Ok((on_diagonal + (off_diagonal * lambda)?)?)
}
