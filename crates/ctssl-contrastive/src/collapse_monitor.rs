//! Collapse monitors for joint-embedding training, computed in f64 on the CPU (no gradient):
//!
//! - per-dimension standard deviation of the L2-normalised embeddings (≈ 1/√D when spread, 0 collapsed);
//! - effective rank (RankMe, Garrido et al. 2023): `exp(−Σ p_k log p_k)` with `p_k = σ_k / Σσ` over the
//!   singular values σ of the embedding matrix, from the eigenvalues of `ZᵀZ` (1 collapsed, up to D);
//! - alignment `E‖f(x) − f(y)‖²` over positive pairs and uniformity `log E exp(−2‖f(x) − f(y)‖²)` over all
//!   pairs (Wang & Isola 2020), both on normalised embeddings (uniformity 0 collapsed, negative spread).

use std::fmt;

use candle_core::{DType, Tensor};

use crate::error::{ContrastiveError, Result};
use crate::jacobi::symmetric_eigenvalues;
use crate::tensor_ops::{dims2, same_dims2};

fn normalized_rows(z: &Tensor, op: &'static str) -> Result<(Vec<Vec<f64>>, usize, usize)> {
    let (n, d) = dims2(op, "embeddings", z)?;
    let rows = z.detach().to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let rows = rows
        .into_iter()
        .map(|r| {
            let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
            r.into_iter().map(|v| v / norm).collect()
        })
        .collect();
    Ok((rows, n, d))
}

/// Per-dimension standard deviation (unbiased) of the L2-normalised embeddings `z` `[N, D]`, N ≥ 2.
pub fn per_dimension_std(z: &Tensor) -> Result<Vec<f64>> {
    const OP: &str = "per_dimension_std";
    let (rows, n, d) = normalized_rows(z, OP)?;
    if n < 2 {
        return Err(ContrastiveError::shape(OP, "needs at least 2 embeddings"));
    }
    Ok((0..d)
        .map(|j| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n as f64;
            (rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        })
        .collect())
}

/// Mean over dimensions of [`per_dimension_std`].
pub fn mean_std(z: &Tensor) -> Result<f64> {
    let s = per_dimension_std(z)?;
    Ok(s.iter().sum::<f64>() / s.len() as f64)
}

/// Effective rank of the embeddings `z` `[N, D]` (as given, not normalised): the exponential of the
/// entropy of the normalised singular values. 0 for an all-zero matrix. The singular values come from the
/// eigenvalues of the smaller of `ZᵀZ` (`D × D`) and `ZZᵀ` (`N × N`), which share their non-zero spectrum.
pub fn effective_rank(z: &Tensor) -> Result<f64> {
    let (n, d) = dims2("effective_rank", "embeddings", z)?;
    let rows = z.detach().to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let gram = if d <= n {
        let mut g = vec![0f64; d * d];
        for r in &rows {
            for i in 0..d {
                for j in 0..d {
                    g[i * d + j] += r[i] * r[j];
                }
            }
        }
        symmetric_eigenvalues(&g, d)
    } else {
        let mut g = vec![0f64; n * n];
        for i in 0..n {
            for j in i..n {
                let v: f64 = rows[i].iter().zip(&rows[j]).map(|(a, b)| a * b).sum();
                g[i * n + j] = v;
                g[j * n + i] = v;
            }
        }
        symmetric_eigenvalues(&g, n)
    };
    let singular: Vec<f64> = gram.into_iter().map(|l| l.max(0.0).sqrt()).collect();
    let total: f64 = singular.iter().sum();
    if total <= 0.0 {
        return Ok(0.0);
    }
    let entropy: f64 = singular.iter().map(|s| s / total).filter(|p| *p > 0.0).map(|p| -p * p.ln()).sum();
    Ok(entropy.exp())
}

/// Alignment `mean_i ‖ẑ1_i − ẑ2_i‖²` of positive pairs (rows i of `z1`, `z2`), normalised embeddings.
pub fn alignment(z1: &Tensor, z2: &Tensor) -> Result<f64> {
    const OP: &str = "alignment";
    same_dims2(OP, z1, z2)?;
    let (a, n, _) = normalized_rows(z1, OP)?;
    let (b, _, _) = normalized_rows(z2, OP)?;
    Ok(a.iter().zip(&b).map(|(x, y)| x.iter().zip(y).map(|(u, v)| (u - v).powi(2)).sum::<f64>()).sum::<f64>()
        / n as f64)
}

/// Uniformity `log mean_{i<j} exp(−t‖ẑ_i − ẑ_j‖²)` with `t = 2`, normalised embeddings, N ≥ 2.
pub fn uniformity(z: &Tensor) -> Result<f64> {
    const OP: &str = "uniformity";
    let (rows, n, _) = normalized_rows(z, OP)?;
    if n < 2 {
        return Err(ContrastiveError::shape(OP, "needs at least 2 embeddings"));
    }
    let mut terms = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            terms.push(-2.0 * rows[i].iter().zip(&rows[j]).map(|(u, v)| (u - v).powi(2)).sum::<f64>());
        }
    }
    // log-mean-exp, stable.
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = terms.iter().map(|t| (t - max).exp()).sum::<f64>() / terms.len() as f64;
    Ok(max + mean.ln())
}

/// The four monitors of one batch of two views' embeddings, for logging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CollapseReport {
    /// Mean per-dimension std of the normalised embeddings of view 1 (0 = collapsed, ≈ 1/√D spread).
    pub mean_std: f64,
    /// Effective rank of view 1's embeddings (1 = collapsed to a line).
    pub effective_rank: f64,
    /// Alignment of the two views (lower is better aligned).
    pub alignment: f64,
    /// Uniformity of view 1 (0 = collapsed, more negative = more uniform).
    pub uniformity: f64,
}

impl CollapseReport {
    /// Computes the report from two views' embeddings `[N, D]` (N ≥ 2).
    pub fn new(z1: &Tensor, z2: &Tensor) -> Result<Self> {
        Ok(Self {
            mean_std: mean_std(z1)?,
            effective_rank: effective_rank(z1)?,
            alignment: alignment(z1, z2)?,
            uniformity: uniformity(z1)?,
        })
    }
}

impl fmt::Display for CollapseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "std {:.4} rank {:.2} align {:.4} unif {:.4}",
            self.mean_std, self.effective_rank, self.alignment, self.uniformity
        )
    }
}
