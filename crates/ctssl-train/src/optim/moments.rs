//! Optimizer buffers shared by several optimizers: Adam's moments (AdamW, LAMB) and the momentum buffer (SGD, LARS).

use candle_core::Tensor;

use super::state::{ParamState, StateStore};
use crate::error::Result;

/// The updated moments of one parameter and their bias corrections `1 − βᵗ`.
pub(crate) struct Moments {
    /// First moment `m`.
    pub m: Tensor,
    /// Second moment `v`.
    pub v: Tensor,
    /// `1 − β₁ᵗ`.
    pub bc1: f64,
    /// `1 − β₂ᵗ`.
    pub bc2: f64,
}

/// Advance the step of `name` and its moments with gradient `g`:
/// `m = β₁m + (1−β₁)g`, `v = β₂v + (1−β₂)g²`; the new moments are stored in `state`.
pub(crate) fn update_moments(state: &mut StateStore, name: &str, g: &Tensor, betas: (f64, f64)) -> Result<Moments> {
    let (b1, b2) = betas;
    let st = match state.map.get_mut(name) {
        Some(st) => st,
        None => {
            let z = g.zeros_like()?;
            state.map.entry(name.to_string()).or_insert(ParamState { step: 0, bufs: vec![z.clone(), z] })
        }
    };
    st.step += 1;
    let t = st.step as f64;
    let m = (st.bufs[0].affine(b1, 0.0)? + g.affine(1.0 - b1, 0.0)?)?;
    let v = (st.bufs[1].affine(b2, 0.0)? + g.sqr()?.affine(1.0 - b2, 0.0)?)?;
    st.bufs = vec![m.clone(), v.clone()];
    Ok(Moments { m, v, bc1: 1.0 - b1.powf(t), bc2: 1.0 - b2.powf(t) })
}

/// PyTorch's momentum buffer of `name`: `b₁ = d`, then `b = μb + (1 − dampening)d`; stored in `state`.
pub(crate) fn update_momentum(
    state: &mut StateStore,
    name: &str,
    d: &Tensor,
    momentum: f64,
    dampening: f64,
) -> Result<Tensor> {
    match state.map.get_mut(name) {
        None => {
            let buf = d.copy()?;
            state.map.insert(name.to_string(), ParamState { step: 1, bufs: vec![buf.clone()] });
            Ok(buf)
        }
        Some(st) => {
            let buf = (st.bufs[0].affine(momentum, 0.0)? + d.affine(1.0 - dampening, 0.0)?)?;
            st.bufs[0] = buf.clone();
            st.step += 1;
            Ok(buf)
        }
    }
}
