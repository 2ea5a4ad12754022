//! Max pooling (any kernel, stride and padding; argmax indices kept for the backward pass) and global
//! average pooling, as custom ops parallel over the `n·c` image planes.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::profile::{self, Kind};

use super::{dispatch, input_slice, tensor_from, with_slice, Real};
use crate::error::KernelError;
use crate::params::MaxPool2dParams;

/// Whether `v` replaces `best` as a window's maximum: PyTorch's rule, strictly greater or NaN (`|`, not
/// `||`: both sides evaluated, so the compiler emits a select rather than a branch).
#[inline(always)]
#[allow(clippy::eq_op)]
fn wins<T: Real>(v: T, best: T) -> bool {
    (v > best) | (v != v)
}

/// Max pooling; `argmax` holds, for every output value, the index within its input plane of the first
/// maximum of its window (PyTorch's rule), filled by the forward pass.
struct MaxPool2dOp {
    p: MaxPool2dParams,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    argmax: Mutex<Vec<u32>>,
}

impl MaxPool2dOp {
    /// Each input row's maxima over every output's column window first (`hval`, with their columns in
    /// `hcol`), then the maximum of those over each output's rows. Both passes run along a whole row of
    /// outputs with a select per output, no branch (which element wins is unpredictable on real
    /// activations), so they vectorise; the row pass reads its strided windows from the row split into
    /// `stride` phases (`phases[r][j]` is the padded row's element `j·stride + r`), which makes each
    /// window offset a contiguous run. Strict `>` in both passes keeps the first maximum in row-major
    /// order, and a NaN always wins: the values and indices are PyTorch's (the first maximum, or the
    /// last NaN).
    fn forward<T: Real>(&self, x: &[T]) -> (Vec<T>, Vec<u32>) {
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        let (k, s) = (self.p.kernel, self.p.stride);
        let planes = x.len() / (h * w);
        let phase_len = ow + (k - 1) / s;
        let mut y = vec![T::ZERO; planes * oh * ow];
        let mut idx = vec![0u32; planes * oh * ow];
        let scratch = || (vec![T::NEG_INFINITY; s * phase_len], vec![T::ZERO; h * ow], vec![0u32; h * ow]);
        let planes_out = y.par_chunks_mut(oh * ow).zip(idx.par_chunks_mut(oh * ow)).enumerate();
        planes_out.for_each_init(scratch, |(phases, hval, hcol), (pl, (yp, ip))| {
            let xp = &x[pl * h * w..(pl + 1) * h * w];
            super::simd::vectorized_kernel(Plane { op: self, xp, yp, ip, phases, hval, hcol })
        });
        (y, idx)
    }

    fn backward<T: Real>(&self, dy: &[T], idx: &[u32]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let planes = dy.len() / ohw;
        let mut dx = vec![T::ZERO; planes * hw];
        dx.par_chunks_mut(hw).enumerate().for_each(|(pl, dp)| {
            for (g, i) in dy[pl * ohw..(pl + 1) * ohw].iter().zip(&idx[pl * ohw..(pl + 1) * ohw]) {
                dp[*i as usize] += *g;
            }
        });
        dx
    }
}

/// One plane of [`MaxPool2dOp::forward`], run by [`super::simd::vectorized_kernel`]: input, outputs,
/// argmax and the scratch rows.
struct Plane<'a, T> {
    op: &'a MaxPool2dOp,
    xp: &'a [T],
    yp: &'a mut [T],
    ip: &'a mut [u32],
    phases: &'a mut [T],
    hval: &'a mut [T],
    hcol: &'a mut [u32],
}

impl<T: Real> super::simd::Kernel for Plane<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        let Plane { op, xp, yp, ip, phases, hval, hcol } = self;
        let (h, w, ow) = (op.h, op.w, op.ow);
        let (k, s, pad) = (op.p.kernel, op.p.stride, op.p.padding);
        let phase_len = ow + (k - 1) / s;
        for (iy, row) in xp.chunks_exact(w).enumerate() {
            for (r, phase) in phases.chunks_exact_mut(phase_len).enumerate() {
                for (j, cell) in phase.iter_mut().enumerate() {
                    let c = (j * s + r).wrapping_sub(pad);
                    *cell = if c < w { row[c] } else { T::NEG_INFINITY };
                }
            }
            let (hv, hc) = (&mut hval[iy * ow..(iy + 1) * ow], &mut hcol[iy * ow..(iy + 1) * ow]);
            for (ox, (v, c)) in hv.iter_mut().zip(hc.iter_mut()).enumerate() {
                *v = T::NEG_INFINITY;
                // Before any element wins: the window's first column inside the row.
                *c = (ox * s).saturating_sub(pad) as u32;
            }
            for kx in 0..k {
                let run = &phases[(kx % s) * phase_len + kx / s..][..ow];
                // Wraps only for a padding cell, which holds −∞ and never wins.
                let col0 = (kx as u32).wrapping_sub(pad as u32);
                for i in 0..ow {
                    let (best, at, v) = (hv[i], hc[i], run[i]);
                    let take = wins(v, best);
                    hv[i] = if take { v } else { best };
                    hc[i] = if take { col0.wrapping_add((i * s) as u32) } else { at };
                }
            }
        }
        for (oy, (yr, ir)) in yp.chunks_exact_mut(ow).zip(ip.chunks_exact_mut(ow)).enumerate() {
            let y0 = (oy * s) as isize - pad as isize;
            let (ylo, yhi) = (y0.max(0) as usize, ((y0 + k as isize).min(h as isize)) as usize);
            yr.fill(T::NEG_INFINITY);
            for (i, c) in ir.iter_mut().zip(&hcol[ylo * ow..(ylo + 1) * ow]) {
                *i = (ylo * w) as u32 + c;
            }
            for iy in ylo..yhi {
                let (hv, hc) = (&hval[iy * ow..(iy + 1) * ow], &hcol[iy * ow..(iy + 1) * ow]);
                let base = (iy * w) as u32;
                for i in 0..ow {
                    let (best, at, v) = (yr[i], ir[i], hv[i]);
                    let take = wins(v, best);
                    yr[i] = if take { v } else { best };
                    ir[i] = if take { base + hc[i] } else { at };
                }
            }
        }
    }
}

impl CustomOp1 for MaxPool2dOp {
    fn name(&self) -> &'static str {
        "ctssl-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        profile::timed(Kind::Pool, || {
            let name = self.name();
            let (out, idx) = dispatch!(name, super::storage_dtype(s), T => {
                let (y, idx) = self.forward(input_slice::<T>(name, s, l)?);
                Ok((T::storage(y), idx))
            })?;
            if let Ok(mut slot) = self.argmax.lock() {
                *slot = idx;
            }
            let dims = l.dims();
            Ok((out, Shape::from((dims[0], dims[1], self.oh, self.ow))))
        })
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        profile::timed(Kind::Pool, || {
            let name = self.name();
            let idx = self.argmax.lock().map_err(|_| KernelError::shape(name, "argmax lock poisoned"))?;
            if idx.len() != dy.elem_count() {
                return Err(KernelError::shape(name, "backward called before the forward pass"));
            }
            dispatch!(name, dy.dtype(), T => {
                with_slice::<T, _>(name, dy, |d| Ok(Some(tensor_from(self.backward(d, &idx), x.dims())?)))
            })
        })
    }
}

/// `max_pool2d` on the CPU through the custom op.
pub fn max_pool2d(x: &Tensor, p: MaxPool2dParams) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (oh, ow) = p.out_size(h, w)?;
    if h * w > u32::MAX as usize {
        return Err(KernelError::shape("max_pool2d", "image plane too large"));
    }
    x.contiguous()?.apply_op1(MaxPool2dOp { p, h, w, oh, ow, argmax: Mutex::new(Vec::new()) })
}

/// Mean of each `h·w` plane.
struct GlobalAvgPoolOp {
    hw: usize,
}

impl CustomOp1 for GlobalAvgPoolOp {
    fn name(&self) -> &'static str {
        "ctssl-global-avg-pool"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        profile::timed(Kind::Pool, || {
            let name = self.name();
            let hw = self.hw;
            let out = dispatch!(name, super::storage_dtype(s), T => {
                let x = input_slice::<T>(name, s, l)?;
                let y: Vec<T> = x.par_chunks(hw).map(|p| T::from_f64(p.iter().map(|v| v.to_f64()).sum::<f64>() / hw as f64)).collect();
                Ok(T::storage(y))
            })?;
            let dims = l.dims();
            Ok((out, Shape::from((dims[0], dims[1]))))
        })
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        profile::timed(Kind::Pool, || {
            let name = self.name();
            let hw = self.hw;
            dispatch!(name, dy.dtype(), T => {
                with_slice::<T, _>(name, dy, |d| {
                    let scale = T::from_f64(1.0 / hw as f64);
                    let mut dx = vec![T::ZERO; d.len() * hw];
                    dx.par_chunks_mut(hw).zip(d.par_iter()).for_each(|(p, g)| p.fill(*g * scale));
                    Ok(Some(tensor_from(dx, x.dims())?))
                })
            })
        })
    }
}

/// `global_avg_pool` on the CPU through the custom op.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    x.contiguous()?.apply_op1(GlobalAvgPoolOp { hw: h * w })
}
