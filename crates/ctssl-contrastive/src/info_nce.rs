//! MoCo's InfoNCE loss with a queue of negative keys (He et al. 2020, eq. 1; MoCo v2: τ = 0.2).
//!
//! `ℓ = −log( exp(q·k₊/τ) / (exp(q·k₊/τ) + Σ_{k₋ ∈ queue} exp(q·k₋/τ)) )`, averaged over the batch:
//! a cross-entropy over `[l_pos, l_neg]` logits with the positive at index 0.

use candle_core::Tensor;
use ctssl_kernels::ops::{self, l2_normalize};

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::{dims2, positive, same_dims2};

/// InfoNCE of queries `query` `[N, D]` against their positive keys `key` `[N, D]` and the negatives `queue`
/// `[K, D]` (already normalised, as [`KeyQueue`](crate::KeyQueue) stores them), at `temperature` τ.
///
/// Queries and keys are L2-normalised here. The keys and the queue are detached: the gradient reaches only
/// the query encoder, never the momentum (key) encoder.
pub fn info_nce(query: &Tensor, key: &Tensor, queue: &Tensor, temperature: f64) -> Result<Tensor> {
    const OP: &str = "info_nce";
    let (_, d) = same_dims2(OP, query, key)?;
    positive(OP, "temperature", temperature)?;
    let q = l2_normalize(query)?;
    let k = l2_normalize(&key.detach())?;
    let l_pos = (&q * &k)?.sum_keepdim(1)?;
    let logits = if queue.dims().first() == Some(&0) {
        l_pos
    } else {
        let (_, dq) = dims2(OP, "queue", queue)?;
        if dq != d {
            return Err(ContrastiveError::shape(OP, format!("queue rows have {dq} dims, queries {d}")));
        }
        let l_neg = q.matmul(&queue.detach().to_dtype(q.dtype())?.t()?)?;
        Tensor::cat(&[&l_pos, &l_neg], 1)?
    };
    let log_prob = ops::log_softmax(&(logits / temperature)?)?;
    Ok(log_prob.narrow(1, 0, 1)?.mean_all()?.neg()?)
}
