//! The Sinkhorn-Knopp algorithm of SwAV (Caron et al. 2020, sec. 3.1; `distributed_sinkhorn` of the
//! reference code), computed without gradient.
//!
//! From the scores `s` `[B, K]` (B samples, K prototypes), `Q = exp(s / ε)ᵀ` `[K, B]` is normalised to sum to
//! one, then each iteration scales the rows (prototypes) to sum to `1/K` and the columns (samples) to sum to
//! `1/B`. The result is multiplied by `B` so that each sample's code sums to one, and returned as `[B, K]`.

use candle_core::{DType, Tensor};

use crate::error::Result;
use crate::tensor_ops::{dims2, positive};

/// Sinkhorn-Knopp codes of `scores` `[B, K]` with regularisation `epsilon` (SwAV: 0.05) and `iterations`
/// (SwAV: 3): a detached `[B, K]` tensor of the input's dtype and device whose rows sum to one and whose
/// columns sum to about `B / K`. Computed in f64 on the CPU.
pub fn sinkhorn_knopp(scores: &Tensor, epsilon: f64, iterations: usize) -> Result<Tensor> {
    const OP: &str = "sinkhorn_knopp";
    let (b, k) = dims2(OP, "scores", scores)?;
    positive(OP, "epsilon", epsilon)?;
    let s = scores.detach().to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let codes = sinkhorn_knopp_f64(&s, b, k, epsilon, iterations);
    Ok(Tensor::from_vec(codes, (b, k), scores.device())?.to_dtype(scores.dtype())?)
}

/// The algorithm on a row-major `[b, k]` slice; returns the `[b, k]` codes (rows summing to one).
pub(crate) fn sinkhorn_knopp_f64(scores: &[f64], b: usize, k: usize, epsilon: f64, iterations: usize) -> Vec<f64> {
    // exp((s − max)/ε) differs from exp(s/ε) by a constant factor that the first normalisation removes,
    // and it cannot overflow.
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut q: Vec<f64> = scores.iter().map(|s| ((s - max) / epsilon).exp()).collect();
    let total: f64 = q.iter().sum();
    q.iter_mut().for_each(|v| *v /= total);
    let (bf, kf) = (b as f64, k as f64);
    for _ in 0..iterations {
        // Each prototype's total mass (a row of Qᵀ) becomes 1/K.
        for j in 0..k {
            let row: f64 = (0..b).map(|i| q[i * k + j]).sum();
            for i in 0..b {
                q[i * k + j] /= row * kf;
            }
        }
        // Each sample's total mass (a column of Qᵀ) becomes 1/B.
        for code in q.chunks_mut(k) {
            let col: f64 = code.iter().sum();
            code.iter_mut().for_each(|v| *v /= col * bf);
        }
    }
    q.iter_mut().for_each(|v| *v *= bf);
    q
}
