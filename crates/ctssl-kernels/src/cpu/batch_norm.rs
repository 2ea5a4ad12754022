//! Fused batch norm 2d: one custom op for the training forward pass (batch statistics, normalisation,
//! scale and shift) and its backward pass (two per-channel sums and one elementwise pass), instead of the
//! dozen primitive ops (and their backward graph) of the reference version.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::{assume_init, dispatch, input_slice, tensor_from, uninit_vec, with_slice, Real};
use crate::error::KernelError;
use crate::params::BatchNormParams;
use crate::profile::{self, Kind};

/// Per-channel batch mean and biased variance.
pub(crate) type Stats = (Vec<f64>, Vec<f64>);

/// The training-mode op; the statistics of its forward pass are kept for the backward pass and for the
/// running-statistics update.
pub(crate) struct BatchNormTrain {
    pub(crate) n: usize,
    pub(crate) c: usize,
    pub(crate) hw: usize,
    pub(crate) eps: f64,
    /// Apply `max(·, 0)` to the output (and mask the gradient with it).
    pub(crate) relu: bool,
    pub(crate) stats: Arc<Mutex<Option<Stats>>>,
}

/// Independent accumulators of the per-plane sums (a fixed order, so results do not depend on the
/// number of threads; several lanes so that the loops vectorise instead of waiting on one add chain).
const LANES: usize = 16;

/// The fewest values one task of an elementwise pass covers (whole planes).
const PLANE_BLOCK: usize = 4096;

/// `s` as whole arrays of [`LANES`] values and the rest (`slice::as_chunks`, which needs Rust 1.88).
#[inline(always)]
fn as_lanes<T>(s: &[T]) -> (&[[T; LANES]], &[T]) {
    let whole = s.len() / LANES;
    let (head, tail) = s.split_at(whole * LANES);
    // SAFETY: `head` holds exactly `whole · LANES` elements, which have the layout of `whole` arrays.
    (unsafe { std::slice::from_raw_parts(head.as_ptr() as *const [T; LANES], whole) }, tail)
}

/// `(Σ f(a_i, b_i, c_i).0, Σ f(a_i, b_i, c_i).1)` over three equal-length slices (one image plane): summed
/// in `T` in [`LANES`] accumulators (so the loop runs at the vector width of `T`), returned in f64 (the
/// planes of a channel are then summed in f64).
#[inline(always)]
fn lane_sums<T: Real>(a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> (T, T)) -> (f64, f64) {
    let mut acc0 = [T::ZERO; LANES];
    let mut acc1 = [T::ZERO; LANES];
    let len = a.len();
    let (b, c) = (&b[..len], &c[..len]);
    let (ca, ra) = as_lanes(a);
    let (cb, rb) = as_lanes(b);
    let (cc, rc) = as_lanes(c);
    for ((xa, xb), xc) in ca.iter().zip(cb).zip(cc) {
        for l in 0..LANES {
            let (u, v) = f(xa[l], xb[l], xc[l]);
            acc0[l] += u;
            acc1[l] += v;
        }
    }
    let (mut s0, mut s1) = (0.0, 0.0);
    for ((xa, xb), xc) in ra.iter().zip(rb).zip(rc) {
        let (u, v) = f(*xa, *xb, *xc);
        s0 += u.to_f64();
        s1 += v.to_f64();
    }
    (s0 + acc0.iter().map(|v| v.to_f64()).sum::<f64>(), s1 + acc1.iter().map(|v| v.to_f64()).sum::<f64>())
}

/// `(Σ g, Σ g·(x − μ))` over one image plane, where `g = dy`, or `dy` where `y > 0` when the ReLU's
/// output `y` is given; summed in [`LANES`] accumulators of `T`, returned in f64.
#[inline(always)]
fn grad_sums<T: Real>(x: &[T], dy: &[T], y: Option<&[T]>, mu: T) -> (f64, f64) {
    let len = x.len();
    let dy = &dy[..len];
    let mut s1 = [T::ZERO; LANES];
    let mut s2 = [T::ZERO; LANES];
    let mut tail = (0.0, 0.0);
    match y {
        Some(y) if len < 4 * LANES => {
            // Tiny planes (the last stages' maps): a plain loop.
            for ((xv, dv), yv) in x.iter().zip(dy).zip(&y[..len]) {
                let g = if *yv > T::ZERO { *dv } else { T::ZERO };
                tail.0 += g.to_f64();
                tail.1 += (g * (*xv - mu)).to_f64();
            }
        }
        Some(y) => {
            // The masked gradient first, a block at a time (a plain map loop, which vectorises; a select
            // inside the lane sums does not), then the sums without a select.
            const BLOCK: usize = 16 * LANES;
            let y = &y[..len];
            let mut g = [T::ZERO; BLOCK];
            for start in (0..len).step_by(BLOCK) {
                let end = (start + BLOCK).min(len);
                let (yb, db, xb) = (&y[start..end], &dy[start..end], &x[start..end]);
                let gb = &mut g[..end - start];
                for j in 0..gb.len() {
                    gb[j] = if yb[j] > T::ZERO { db[j] } else { T::ZERO };
                }
                add_grad_sums(gb, xb, mu, (&mut s1, &mut s2), &mut tail);
            }
        }
        None => add_grad_sums(dy, x, mu, (&mut s1, &mut s2), &mut tail),
    }
    (tail.0 + s1.iter().map(|v| v.to_f64()).sum::<f64>(), tail.1 + s2.iter().map(|v| v.to_f64()).sum::<f64>())
}

/// Adds `Σ g` and `Σ g·(x − μ)` of whole lane groups into the lane accumulators `s`, and of the rest
/// into `tail`; one block of [`grad_sums`].
#[inline(always)]
fn add_grad_sums<T: Real>(g: &[T], x: &[T], mu: T, s: (&mut [T; LANES], &mut [T; LANES]), tail: &mut (f64, f64)) {
    let (cg, rg) = as_lanes(g);
    let (cx, rx) = as_lanes(x);
    for (ga, xa) in cg.iter().zip(cx) {
        for l in 0..LANES {
            s.0[l] += ga[l];
            s.1[l] += ga[l] * (xa[l] - mu);
        }
    }
    for (gv, xv) in rg.iter().zip(rx) {
        tail.0 += gv.to_f64();
        tail.1 += (*gv * (*xv - mu)).to_f64();
    }
}

/// Mean and biased variance of each channel of `x` `[n, c, hw]`: the mean first, then the sum of squared
/// deviations from it (two passes over each plane, the second while the plane is still in cache).
fn channel_stats<T: Real>(x: &[T], n: usize, c: usize, hw: usize) -> Stats {
    let m = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            super::simd::vectorized(|| {
                let plane = |i: usize| &x[(i * c + ch) * hw..(i * c + ch + 1) * hw];
                let mut sum = 0.0;
                for i in 0..n {
                    let b = plane(i);
                    sum += lane_sums(b, b, b, |v, _, _| (v, T::ZERO)).0;
                }
                let mean = sum / m;
                let mu = T::from_f64(mean);
                // Σ(x − μ)² with μ rounded to T, corrected to the exact mean: Σ(x − mean)² = Σ(x − μ)² − m·(mean − μ)².
                let mut ss = 0.0;
                for i in 0..n {
                    let b = plane(i);
                    ss += lane_sums(b, b, b, |v, _, _| {
                        let d = v - mu;
                        (d * d, T::ZERO)
                    })
                    .0;
                }
                let delta = mean - mu.to_f64();
                (mean, (ss / m - delta * delta).max(0.0))
            })
        })
        .unzip()
}

impl BatchNormTrain {
    pub(crate) fn forward<T: Real>(&self, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
        let (n, c, hw) = (self.n, self.c, self.hw);
        let (mean, var) = channel_stats(x, n, c, hw);
        let scale: Vec<T> = (0..c).map(|ch| T::from_f64(w[ch].to_f64() / (var[ch] + self.eps).sqrt())).collect();
        let shift: Vec<T> = (0..c).map(|ch| T::from_f64(b[ch].to_f64() - mean[ch] * scale[ch].to_f64())).collect();
        let mut y = uninit_vec::<T>(x.len());
        let planes = PLANE_BLOCK.div_ceil(hw.max(1)).max(1);
        y.par_chunks_mut(planes * hw).enumerate().for_each(|(bi, out)| {
            super::simd::vectorized(|| {
                for (pi, yb) in out.chunks_exact_mut(hw).enumerate() {
                    let i = bi * planes + pi;
                    let (a, s) = (scale[i % c], shift[i % c]);
                    let xb = &x[i * hw..(i + 1) * hw];
                    if self.relu {
                        for j in 0..hw {
                            let t = xb[j] * a + s;
                            yb[j].write(if t > T::ZERO { t } else { T::ZERO });
                        }
                    } else {
                        for j in 0..hw {
                            yb[j].write(xb[j] * a + s);
                        }
                    }
                }
            })
        });
        // SAFETY: every chunk of `y` was written above.
        let y = unsafe { assume_init(y) };
        if let Ok(mut slot) = self.stats.lock() {
            *slot = Some((mean, var));
        }
        y
    }

    /// `relu_out`: the op's output when the ReLU is fused; the gradient is then `dy` where it is positive.
    pub(crate) fn backward<T: Real>(
        &self,
        x: &[T],
        w: &[T],
        dy: &[T],
        relu_out: Option<&[T]>,
        stats: &Stats,
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (n, c, hw) = (self.n, self.c, self.hw);
        let (mean, var) = stats;
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
        // Σ dy and Σ dy·x̂ per channel.
        let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mu, is) = (mean[ch], invstd[ch]);
                let mu_t = T::from_f64(mu);
                // Σ g and Σ g·(x − μ_T) in one pass; g = dy (masked by the ReLU when fused).
                let (s1, s2) = super::simd::vectorized(|| {
                    (0..n).fold((0.0, 0.0), |(s1, s2), i| {
                        let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                        let (a, b) = grad_sums(&x[r.clone()], &dy[r.clone()], relu_out.map(|y| &y[r]), mu_t);
                        (s1 + a, s2 + b)
                    })
                });
                // Σ g·(x − mean) = Σ g·(x − μ_T) − (mean − μ_T)·Σ g.
                let s2 = s2 - (mu - mu_t.to_f64()) * s1;
                (s1, s2 * is)
            })
            .unzip();
        let m = (n * hw) as f64;
        // dx = w·σ⁻¹·(dy − Σdy/m − x̂·Σ(dy·x̂)/m) = a·dy + b·x + k per channel.
        let coef: Vec<(T, T, T)> = (0..c)
            .map(|ch| {
                let a = w[ch].to_f64() * invstd[ch];
                let bx = -a * invstd[ch] * sum_dy_xhat[ch] / m;
                let k = -a * sum_dy[ch] / m - bx * mean[ch];
                (T::from_f64(a), T::from_f64(bx), T::from_f64(k))
            })
            .collect();
        // Whole planes per task, at least PLANE_BLOCK values (small maps have thousands of tiny planes).
        let planes = PLANE_BLOCK.div_ceil(hw.max(1)).max(1);
        let mut dx = uninit_vec::<T>(x.len());
        dx.par_chunks_mut(planes * hw).enumerate().for_each(|(bi, out)| {
            super::simd::vectorized(|| {
                for (pi, ob) in out.chunks_exact_mut(hw).enumerate() {
                    let i = bi * planes + pi;
                    let (a, bx, k) = coef[i % c];
                    let r = i * hw..(i + 1) * hw;
                    let (xb, db) = (&x[r.clone()], &dy[r.clone()]);
                    match relu_out {
                        Some(y) => {
                            let yb = &y[r];
                            for j in 0..hw {
                                let g = if yb[j] > T::ZERO { db[j] } else { T::ZERO };
                                ob[j].write(a * g + bx * xb[j] + k);
                            }
                        }
                        None => {
                            for j in 0..hw {
                                ob[j].write(a * db[j] + bx * xb[j] + k);
                            }
                        }
                    }
                }
            })
        });
        // SAFETY: every plane of `dx` was written above.
        let dx = unsafe { assume_init(dx) };
        let dw = sum_dy_xhat.iter().map(|v| T::from_f64(*v)).collect();
        let db = sum_dy.iter().map(|v| T::from_f64(*v)).collect();
        (dx, dw, db)
    }
}

impl CustomOp3 for BatchNormTrain {
    fn name(&self) -> &'static str {
        "ctssl-batch-norm2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = dispatch!(name, super::storage_dtype(s1), T => {
            let x = input_slice::<T>(name, s1, l1)?;
            let w = input_slice::<T>(name, s2, l2)?;
            let b = input_slice::<T>(name, s3, l3)?;
            Ok(T::storage(profile::timed(Kind::BatchNormForward, || self.forward(x, w, b))))
        })?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // With the fused ReLU, the gradient reaching the normalisation is dy where y > 0, else 0 (applied
        // inside the backward pass, reading the output `res`).
        let name = self.name();
        let stats = self.stats.lock().ok().and_then(|s| s.clone());
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, x, |xs| {
                with_slice::<T, _>(name, w, |ws| {
                    with_slice::<T, _>(name, dy, |dys| {
                        with_slice::<T, _>(name, res, |ys| {
                            let stats = match &stats {
                                Some(s) => s.clone(),
                                None => channel_stats(xs, self.n, self.c, self.hw),
                            };
                            let relu_out = if self.relu { Some(ys) } else { None };
                            let (dx, dw, db) =
                                profile::timed(Kind::BatchNormBackward, || self.backward(xs, ws, dys, relu_out, &stats));
                            Ok((
                                Some(tensor_from(dx, x.dims())?),
                                Some(tensor_from(dw, &[self.c])?),
                                Some(tensor_from(db, &[self.c])?),
                            ))
                        })
                    })
                })
            })
        })
    }
}

/// Training-mode batch norm 2d on the CPU (batch statistics), followed by a ReLU when `relu`, as one
/// op: the output and the new running statistics. Evaluation, a plain scale and shift by the running
/// statistics, is left to [`crate::ops::batch_norm2d`]; `p.training` must be set.
pub fn batch_norm2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    p: BatchNormParams,
    relu: bool,
) -> Result<(Tensor, (Tensor, Tensor))> {
    const OP: &str = "batch_norm2d";
    if !p.training {
        return Err(KernelError::param(OP, "the CPU kernel is for training mode only"));
    }
    let (n, c, h, w) = x.dims4()?;
    let m = n * h * w;
    if m < 2 {
        return Err(KernelError::shape(OP, "training needs more than one value per channel"));
    }
    let stats = Arc::new(Mutex::new(None));
    let op = BatchNormTrain { n, c, hw: h * w, eps: p.eps, relu, stats: stats.clone() };
    let y = x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    Ok((y, running_update(OP, &stats, running_mean, running_var, m, p)?))
}

/// The running statistics after a training step whose forward pass left its batch statistics in
/// `stats`, over `m` values per channel (the variance unbiased, as PyTorch does).
pub(crate) fn running_update(
    op: &'static str,
    stats: &Mutex<Option<Stats>>,
    running_mean: &Tensor,
    running_var: &Tensor,
    m: usize,
    p: BatchNormParams,
) -> Result<(Tensor, Tensor)> {
    const OP: &str = "batch_norm2d";
    let (mean, var) = stats
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or_else(|| KernelError::shape(op, "the forward pass left no statistics"))?;
    let c = mean.len();
    let unbias = m as f64 / (m - 1) as f64;
    dispatch!(OP, running_mean.dtype(), T => {
        let rm = with_slice::<T, _>(OP, running_mean, |r| {
            Ok(r.iter().zip(&mean).map(|(r, b)| T::from_f64((1.0 - p.momentum) * r.to_f64() + p.momentum * b)).collect::<Vec<T>>())
        })?;
        let rv = with_slice::<T, _>(OP, running_var, |r| {
            Ok(r.iter().zip(&var).map(|(r, b)| T::from_f64((1.0 - p.momentum) * r.to_f64() + p.momentum * b * unbias)).collect::<Vec<T>>())
        })?;
        Ok((tensor_from(rm, &[c])?, tensor_from(rv, &[c])?))
    })
}
