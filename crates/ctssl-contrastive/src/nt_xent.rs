//! SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1), over the 2N embeddings of two views.
//!
//! With `z = normalize([z_a; z_b])` and `s_ij = z_i·z_j / τ`, each of the 2N anchors `i` has one positive
//! `p(i)` (the other view of the same image) and 2N − 2 negatives:
//! `ℓ_i = −log( exp(s_{i,p(i)}) / Σ_{k≠i} exp(s_ik) )`, and the loss is the mean of `ℓ_i` over all 2N anchors.

use candle_core::Tensor;
use ctssl_kernels::ops::{self, l2_normalize};

use crate::error::Result;
use crate::tensor_ops::{one_hot, positive, same_dims2};

/// Logit given to `s_ii` so that `exp(s_ii)` vanishes from the denominator.
const MASKED_LOGIT: f64 = -1e9;

/// NT-Xent of the two views' embeddings `z_a`, `z_b` (`[N, D]` each, row i of both from the same image)
/// at `temperature` τ; a scalar tensor, differentiable in both inputs.
pub fn nt_xent(z_a: &Tensor, z_b: &Tensor, temperature: f64) -> Result<Tensor> {
    const OP: &str = "nt_xent";
    let (n, _) = same_dims2(OP, z_a, z_b)?;
    positive(OP, "temperature", temperature)?;
    let z = l2_normalize(&Tensor::cat(&[z_a, z_b], 0)?)?;
    let similarity = (z.matmul(&z.t()?)? / temperature)?;
    // Remove each anchor's similarity with itself: s·(1 − I) + I·MASKED_LOGIT.
    let eye = Tensor::eye(2 * n, z.dtype(), z.device())?;
    let logits = ((similarity * eye.affine(-1.0, 1.0)?)? + (eye * MASKED_LOGIT)?)?;
    let log_prob = ops::log_softmax(&logits)?;
    let positives: Vec<usize> = (0..2 * n).map(|i| (i + n) % (2 * n)).collect();
    let mask = one_hot(&positives, 2 * n, z.dtype(), z.device())?;
    Ok((log_prob * mask)?.sum_all()?.affine(-1.0 / (2 * n) as f64, 0.0)?)
}
