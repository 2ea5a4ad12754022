//! Moving between dense `[N, C, H, W]` maps and the compact rows of one resolution: gathering the
//! visible positions, and scattering rows back with masked positions set to zero or to a per-channel
//! fill value (densify's mask token). Both are differentiable custom ops.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::error::{Result, SparseError};
use crate::sparse_layout::ActiveLevel;
use ctssl_kernels::cpu::{dispatch, input_slice, storage_dtype, tensor_from, with_slice, Real};

/// `rows[r, c] = dense[n, c, y, x]` at each visible position `(n, y, x)` of `level`.
fn gather_rows<T: Real>(level: &ActiveLevel, dense: &[T], c: usize) -> Vec<T> {
    let hw = level.height * level.width;
    let mut rows = vec![T::ZERO; level.rows() * c];
    rows.par_chunks_mut(c).zip(level.positions.par_iter()).for_each(|(row, &p)| {
        let (n, yx) = (p as usize / hw, p as usize % hw);
        for (ch, v) in row.iter_mut().enumerate() {
            *v = dense[(n * c + ch) * hw + yx];
        }
    });
    rows
}

/// The dense map of `rows` with `fill[c]` (or zero) at masked positions.
fn scatter_rows<T: Real>(level: &ActiveLevel, rows: &[T], c: usize, fill: Option<&[T]>) -> Vec<T> {
    let hw = level.height * level.width;
    let mut dense = vec![T::ZERO; level.batch * c * hw];
    dense.par_chunks_mut(c * hw).enumerate().for_each(|(n, img)| {
        if let Some(f) = fill {
            for (ch, plane) in img.chunks_exact_mut(hw).enumerate() {
                plane.fill(f[ch]);
            }
        }
        for r in level.image_rows[n]..level.image_rows[n + 1] {
            let yx = level.positions[r] as usize % hw;
            for (ch, v) in rows[r * c..(r + 1) * c].iter().enumerate() {
                img[ch * hw + yx] = *v;
            }
        }
    });
    dense
}

/// Per-channel sum of `dense` over the masked positions of `level`.
fn masked_sums<T: Real>(level: &ActiveLevel, dense: &[T], c: usize) -> Vec<T> {
    let hw = level.height * level.width;
    let mut out = vec![T::ZERO; c];
    for (ch, o) in out.iter_mut().enumerate() {
        let mut s = 0.0f64;
        for n in 0..level.batch {
            let plane = &dense[(n * c + ch) * hw..(n * c + ch + 1) * hw];
            let idx = &level.index[n * hw..(n + 1) * hw];
            for (v, i) in plane.iter().zip(idx) {
                if *i == crate::sparse_layout::INACTIVE {
                    s += v.to_f64();
                }
            }
        }
        *o = T::from_f64(s);
    }
    out
}

struct GatherOp {
    level: Arc<ActiveLevel>,
    c: usize,
}

impl CustomOp1 for GatherOp {
    fn name(&self) -> &'static str {
        "ctssl-sparse-gather"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = dispatch!(name, storage_dtype(s), T => {
            let x = input_slice::<T>(name, s, l)?;
            Ok(T::storage(gather_rows(&self.level, x, self.c)))
        })?;
        Ok((out, Shape::from((self.level.rows(), self.c))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let name = self.name();
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, dy, |g| Ok(Some(tensor_from(scatter_rows(&self.level, g, self.c, None), x.dims())?)))
        })
    }
}

struct ScatterOp {
    level: Arc<ActiveLevel>,
    c: usize,
}

impl ScatterOp {
    fn dims(&self) -> (usize, usize, usize, usize) {
        (self.level.batch, self.c, self.level.height, self.level.width)
    }
}

impl CustomOp1 for ScatterOp {
    fn name(&self) -> &'static str {
        "ctssl-sparse-scatter"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = CustomOp1::name(self);
        let out = dispatch!(name, storage_dtype(s), T => {
            let x = input_slice::<T>(name, s, l)?;
            Ok(T::storage(scatter_rows(&self.level, x, self.c, None)))
        })?;
        Ok((out, Shape::from(self.dims())))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let name = CustomOp1::name(self);
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, dy, |g| Ok(Some(tensor_from(gather_rows(&self.level, g, self.c), x.dims())?)))
        })
    }
}

impl CustomOp2 for ScatterOp {
    fn name(&self) -> &'static str {
        "ctssl-sparse-scatter-fill"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = CustomOp2::name(self);
        let out = dispatch!(name, storage_dtype(s1), T => {
            let x = input_slice::<T>(name, s1, l1)?;
            let f = input_slice::<T>(name, s2, l2)?;
            Ok(T::storage(scatter_rows(&self.level, x, self.c, Some(f))))
        })?;
        Ok((out, Shape::from(self.dims())))
    }

    fn bwd(
        &self,
        x: &Tensor,
        fill: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let name = CustomOp2::name(self);
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, dy, |g| {
                let dx = tensor_from(gather_rows(&self.level, g, self.c), x.dims())?;
                let df = tensor_from(masked_sums(&self.level, g, self.c), fill.dims())?;
                Ok((Some(dx), Some(df)))
            })
        })
    }
}

fn check_level(level: &ActiveLevel, what: &str, n: usize, h: usize, w: usize) -> Result<()> {
    if (n, h, w) != (level.batch, level.height, level.width) {
        return Err(SparseError::InvalidInput(format!(
            "{what}: map of {n}×{h}×{w} on a level of {}×{}×{}",
            level.batch, level.height, level.width
        )));
    }
    Ok(())
}

/// The visible positions of `dense: [N, C, H, W]` as rows `[A, C]` (differentiable).
pub fn gather_visible(dense: &Tensor, level: &Arc<ActiveLevel>) -> Result<Tensor> {
    let (n, c, h, w) = dense.dims4()?;
    check_level(level, "gather", n, h, w)?;
    Ok(dense.contiguous()?.apply_op1(GatherOp { level: Arc::clone(level), c })?)
}

/// Rows `[A, C]` back to a dense `[N, C, H, W]` map, zero at masked positions (differentiable).
pub fn scatter_visible(rows: &Tensor, level: &Arc<ActiveLevel>) -> Result<Tensor> {
    let (a, c) = rows.dims2()?;
    if a != level.rows() {
        return Err(SparseError::InvalidInput(format!("scatter: {a} rows for a level of {}", level.rows())));
    }
    Ok(rows.contiguous()?.apply_op1(ScatterOp { level: Arc::clone(level), c })?)
}

/// Rows `[A, C]` back to a dense map with `fill` (`C` values, any shape) at masked positions;
/// differentiable in both (the fill's gradient is the sum over masked positions).
pub fn scatter_visible_fill(rows: &Tensor, fill: &Tensor, level: &Arc<ActiveLevel>) -> Result<Tensor> {
    let (a, c) = rows.dims2()?;
    if a != level.rows() || fill.elem_count() != c {
        return Err(SparseError::InvalidInput(format!(
            "scatter: {a} rows × {c} channels and {} fill values for a level of {} rows",
            fill.elem_count(),
            level.rows()
        )));
    }
    Ok(rows.contiguous()?.apply_op2(&fill.contiguous()?, ScatterOp { level: Arc::clone(level), c })?)
}
