//! Optimizer buffers shared by several optimizers: Adam's moments (AdamW, LAMB) and the momentum buffer (SGD, LARS).

use candle_core::Tensor;

use super::fused;
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

/// Whether [`fused`] can update `name`'s moments and its parameter in place: `g`, `p` and the stored
/// moments (if any yet) CPU tensors of one dtype and shape, contiguous.
pub(crate) fn fits_in_place(state: &StateStore, name: &str, g: &Tensor, p: &Tensor) -> bool {
    let same = |t: &Tensor| t.dtype() == g.dtype() && t.dims() == g.dims() && fused::supported(t);
    fused::supported(g) && same(p) && state.map.get(name).is_none_or(|st| st.bufs.iter().all(same))
}

/// Advance the step of `name` (zero moments shaped as `g` at its first step) and return its moments as
/// stored, not yet updated, with the bias corrections of the new step.
pub(crate) fn advance(state: &mut StateStore, name: &str, g: &Tensor, betas: (f64, f64)) -> Result<Moments> {
    let st = match state.map.get_mut(name) {
        Some(st) => st,
        None => {
            // Two separate buffers: the fused path writes each in place.
            let bufs = vec![g.zeros_like()?, g.zeros_like()?];
            state.map.entry(name.to_string()).or_insert(ParamState { step: 0, bufs })
        }
    };
    st.step += 1;
    let t = st.step as f64;
    let (b1, b2) = betas;
    Ok(Moments { m: st.bufs[0].clone(), v: st.bufs[1].clone(), bc1: 1.0 - b1.powf(t), bc2: 1.0 - b2.powf(t) })
}

/// Advance the step of `name` and its moments with gradient `g` (plus Adam's L2 term `l2·p` when `l2` is
/// not 0): `d = g + l2·p`, `m = β₁m + (1−β₁)d`, `v = β₂v + (1−β₂)d²`; the new moments are stored in
/// `state`. With `fused` and CPU f32/f64 tensors the stored moments are updated in place, one pass each
/// ([`super::fused`]); otherwise with candle tensor ops. Both give the same numbers.
pub(crate) fn update_moments(
    state: &mut StateStore,
    name: &str,
    g: &Tensor,
    p: &Tensor,
    l2: f64,
    betas: (f64, f64),
    fused: bool,
) -> Result<Moments> {
    let (b1, b2) = betas;
    let in_place = fused && fits_in_place(state, name, g, p);
    let Moments { m, v, bc1, bc2 } = advance(state, name, g, betas)?;
    if in_place {
        m.inplace_op3(g, p, &fused::MomentUpdate { beta: b1, square: false, l2 })?;
        v.inplace_op3(g, p, &fused::MomentUpdate { beta: b2, square: true, l2 })?;
        return Ok(Moments { m, v, bc1, bc2 });
    }
    let d = if l2 != 0.0 { (g + p.affine(l2, 0.0)?)? } else { g.clone() };
    let m = (m.affine(b1, 0.0)? + d.affine(1.0 - b1, 0.0)?)?;
    let v = (v.affine(b2, 0.0)? + d.sqr()?.affine(1.0 - b2, 0.0)?)?;
    if let Some(st) = state.map.get_mut(name) {
        st.bufs = vec![m.clone(), v.clone()];
    }
    Ok(Moments { m, v, bc1, bc2 })
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
