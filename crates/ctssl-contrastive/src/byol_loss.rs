//! BYOL's regression loss (Grill et al. 2020, eq. 2): `2 − 2·cos(p, z′)` between the online prediction `p`
//! and the target projection `z′` of the other view, symmetrised over the two views (`L + L̃`).

use candle_core::Tensor;
use ctssl_kernels::ops::l2_normalize;

use crate::error::Result;
use crate::tensor_ops::same_dims2;

/// `mean_i (2 − 2·⟨p̂_i, ẑ_i⟩)` for predictions `prediction` and targets `target` (`[N, D]` each). The target
/// is detached: no gradient reaches the target (EMA) network.
pub fn byol_loss(prediction: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_dims2("byol_loss", prediction, target)?;
    let p = l2_normalize(prediction)?;
    let z = l2_normalize(&target.detach())?;
    let cosine = (p * z)?.sum(1)?;
    Ok(cosine.affine(-2.0, 2.0)?.mean_all()?)
}

/// The symmetric BYOL loss `byol_loss(p1, z2) + byol_loss(p2, z1)`: `p1`, `p2` are the online predictions
/// of views 1 and 2, `z1`, `z2` the target projections of views 1 and 2.
pub fn byol_loss_symmetric(p1: &Tensor, p2: &Tensor, z1: &Tensor, z2: &Tensor) -> Result<Tensor> {
    Ok((byol_loss(p1, z2)? + byol_loss(p2, z1)?)?)
}
