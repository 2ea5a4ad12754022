//! SwAV's swapped-prediction loss (Caron et al. 2020, eq. 1–2; `main_swav.py` of the reference code), with
//! multi-crop and an optional queue of past features.
//!
//! For each crop `c` used for assignment (the global crops), the codes `q_c = sinkhorn(scores_c)` are
//! computed without gradient (with the queue's scores prepended when given, keeping only the batch's rows).
//! Every other crop `v` predicts them: `ℓ(c, v) = −mean_i Σ_k q_c,ik · log softmax(scores_v,i / τ)_k`.
//! The loss averages `ℓ` over the `V − 1` predicting crops, then over the assigned crops.

use candle_core::Tensor;
use ctssl_kernels::ops;

use crate::error::{ContrastiveError, Result};
use crate::sinkhorn::sinkhorn_knopp;
use crate::tensor_ops::{dims2, positive};

/// Settings of [`swav_loss`], SwAV's defaults by [`Default`].
#[derive(Debug, Clone, PartialEq)]
pub struct SwavLossConfig {
    /// Softmax temperature τ of the predictions (0.1).
    pub temperature: f64,
    /// Sinkhorn regularisation ε (0.05).
    pub epsilon: f64,
    /// Sinkhorn iterations (3).
    pub sinkhorn_iterations: usize,
    /// Indices of the crops whose codes are computed: the global crops (`[0, 1]`).
    pub crops_for_assign: Vec<usize>,
}

impl Default for SwavLossConfig {
    fn default() -> Self {
        Self { temperature: 0.1, epsilon: 0.05, sinkhorn_iterations: 3, crops_for_assign: vec![0, 1] }
    }
}

/// The SwAV loss of `scores` (one `[B, K]` prototype-score tensor per crop, global crops first). When
/// `queue_scores` is given, it holds one `[Q, K]` tensor per entry of `crops_for_assign`: the scores of that
/// crop's stored features, used only to compute codes. Differentiable in `scores`.
pub fn swav_loss(scores: &[Tensor], config: &SwavLossConfig, queue_scores: Option<&[Tensor]>) -> Result<Tensor> {
    const OP: &str = "swav_loss";
    positive(OP, "temperature", config.temperature)?;
    if scores.len() < 2 {
        return Err(ContrastiveError::shape(OP, format!("needs at least 2 crops, got {}", scores.len())));
    }
    let (b, k) = dims2(OP, "scores", &scores[0])?;
    for s in scores {
        if s.dims() != [b, k] {
            return Err(ContrastiveError::shape(OP, format!("every crop must be [{b}, {k}], got {:?}", s.dims())));
        }
    }
    if config.crops_for_assign.is_empty() || config.crops_for_assign.iter().any(|&c| c >= scores.len()) {
        return Err(ContrastiveError::param(OP, format!("crops_for_assign {:?} invalid", config.crops_for_assign)));
    }
    if let Some(qs) = queue_scores {
        if qs.len() != config.crops_for_assign.len() {
            return Err(ContrastiveError::shape(OP, "needs one queue-score tensor per assigned crop"));
        }
    }
    let mut total: Option<Tensor> = None;
    for (i, &crop) in config.crops_for_assign.iter().enumerate() {
        let mut out = scores[crop].detach();
        if let Some(qs) = queue_scores {
            let (_, kq) = dims2(OP, "queue scores", &qs[i])?;
            if kq != k {
                return Err(ContrastiveError::shape(OP, format!("queue scores have {kq} prototypes, crops {k}")));
            }
            out = Tensor::cat(&[&qs[i].detach().to_dtype(out.dtype())?, &out], 0)?;
        }
        let rows = out.dim(0)?;
        let codes = sinkhorn_knopp(&out, config.epsilon, config.sinkhorn_iterations)?.narrow(0, rows - b, b)?;
        let mut subloss: Option<Tensor> = None;
        for (_, s) in scores.iter().enumerate().filter(|(v, _)| *v != crop) {
            let log_p = ops::log_softmax(&(s / config.temperature)?)?;
            let ce = (&codes * log_p)?.sum(1)?.mean_all()?.neg()?;
            subloss = Some(match subloss {
                Some(acc) => (acc + ce)?,
                None => ce,
            });
        }
        let Some(subloss) = subloss else { continue };
        let term = (subloss / (scores.len() - 1) as f64)?;
        total = Some(match total {
            Some(acc) => (acc + term)?,
            None => term,
        });
    }
    let total = total.ok_or_else(|| ContrastiveError::param(OP, "no crop pair to compare"))?;
    Ok((total / config.crops_for_assign.len() as f64)?)
}
