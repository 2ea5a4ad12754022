//! Fused batch norm 2d: one custom op for the training forward pass (batch statistics, normalisation,
//! scale and shift) and its backward pass (two per-channel sums and one elementwise pass), instead of the
//! dozen primitive ops (and their backward graph) of the reference version.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::{assume_init, dispatch, input_slice, tensor_from, uninit_vec, with_slice, Real};
use crate::error::KernelError;
use crate::ops::BatchNormParams;
use crate::profile::{self, Kind};

/// Per-channel batch mean and biased variance.
type Stats = (Vec<f64>, Vec<f64>);

/// The training-mode op; the statistics of its forward pass are kept for the backward pass and for the
/// running-statistics update.
struct BatchNormTrain {
    n: usize,
    c: usize,
    hw: usize,
    eps: f64,
    /// Apply `max(·, 0)` to the output (and mask the gradient with it).
    relu: bool,
    stats: Arc<Mutex<Option<Stats>>>,
}

/// Independent accumulators of the per-plane sums (a fixed order, so results do not depend on the
/// number of threads; several lanes so that the loops vectorise instead of waiting on one add chain).
const LANES: usize = 16;

/// `(Σ f(a_i, b_i, c_i).0, Σ f(a_i, b_i, c_i).1)` over three equal-length slices (one image plane): summed
/// in `T` in [`LANES`] accumulators (so the loop runs at the vector width of `T`), returned in f64 (the
/// planes of a channel are then summed in f64).
#[inline(always)]
fn lane_sums<T: Real>(a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> (T, T)) -> (f64, f64) {
    let mut acc0 = [T::ZERO; LANES];
    let mut acc1 = [T::ZERO; LANES];
    let (ca, cb, cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    let (ra, rb, rc) = (ca.remainder(), cb.remainder(), cc.remainder());
    for ((xa, xb), xc) in ca.zip(cb).zip(cc) {
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

/// Mean and biased variance of each channel of `x` `[n, c, hw]`: the mean first, then the sum of squared
/// deviations from it (two passes over each plane, the second while the plane is still in cache).
fn channel_stats<T: Real>(x: &[T], n: usize, c: usize, hw: usize) -> Stats {
    let m = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
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
        .unzip()
}

impl BatchNormTrain {
    fn forward<T: Real>(&self, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
        let (n, c, hw) = (self.n, self.c, self.hw);
        let (mean, var) = channel_stats(x, n, c, hw);
        let scale: Vec<T> = (0..c).map(|ch| T::from_f64(w[ch].to_f64() / (var[ch] + self.eps).sqrt())).collect();
        let shift: Vec<T> = (0..c).map(|ch| T::from_f64(b[ch].to_f64() - mean[ch] * scale[ch].to_f64())).collect();
        let mut y = uninit_vec::<T>(x.len());
        y.par_chunks_mut(hw).zip(x.par_chunks(hw)).enumerate().for_each(|(i, (yb, xb))| {
            let (a, s) = (scale[i % c], shift[i % c]);
            if self.relu {
                for (o, v) in yb.iter_mut().zip(xb) {
                    let t = *v * a + s;
                    o.write(if t > T::ZERO { t } else { T::ZERO });
                }
            } else {
                for (o, v) in yb.iter_mut().zip(xb) {
                    o.write(*v * a + s);
                }
            }
        });
        // SAFETY: every chunk of `y` was written above.
        let y = unsafe { assume_init(y) };
        if let Ok(mut slot) = self.stats.lock() {
            *slot = Some((mean, var));
        }
        y
    }

    /// `relu_out`: the op's output when the ReLU is fused; the gradient is then `dy` where it is positive.
    fn backward<T: Real>(
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
                let mut s1 = 0.0;
                let mut s2 = 0.0;
                for i in 0..n {
                    let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                    let (xb, db) = (&x[r.clone()], &dy[r.clone()]);
                    // Σ g and Σ g·(x − μ_T) in one pass; g = dy (masked by the ReLU when fused).
                    let (a, b) = match relu_out {
                        Some(y) => lane_sums(xb, db, &y[r], |xv, d, yv| {
                            let g = if yv > T::ZERO { d } else { T::ZERO };
                            (g, g * (xv - mu_t))
                        }),
                        None => lane_sums(xb, db, db, |xv, d, _| (d, d * (xv - mu_t))),
                    };
                    s1 += a;
                    s2 += b;
                }
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
        let mut dx = uninit_vec::<T>(x.len());
        dx.par_chunks_mut(hw).zip(x.par_chunks(hw).zip(dy.par_chunks(hw))).enumerate().for_each(
            |(i, (ob, (xb, db)))| {
                let (a, bx, k) = coef[i % c];
                if let Some(y) = relu_out {
                    let yb = &y[i * hw..(i + 1) * hw];
                    for (((o, xv), dv), yv) in ob.iter_mut().zip(xb).zip(db).zip(yb) {
                        let g = if *yv > T::ZERO { *dv } else { T::ZERO };
                        o.write(a * g + bx * *xv + k);
                    }
                } else {
                    for ((o, xv), dv) in ob.iter_mut().zip(xb).zip(db) {
                        o.write(a * *dv + bx * *xv + k);
                    }
                }
            },
        );
        // SAFETY: every chunk of `dx` was written above.
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

/// Batch norm 2d on the CPU, followed by a ReLU when `relu`: the fused op in training,
/// scale-and-shift primitives (and the ReLU op) in evaluation.
pub fn batch_norm2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    p: BatchNormParams,
    relu: bool,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    const OP: &str = "batch_norm2d";
    if !p.training {
        let (y, stats) = crate::ops::reference::batch_norm2d(x, weight, bias, running_mean, running_var, p)?;
        return Ok((if relu { crate::cpu::activation::relu(&y)? } else { y }, stats));
    }
    let (n, c, h, w) = x.dims4()?;
    let m = n * h * w;
    if m < 2 {
        return Err(KernelError::shape(OP, "training needs more than one value per channel"));
    }
    let stats = Arc::new(Mutex::new(None));
    let op = BatchNormTrain { n, c, hw: h * w, eps: p.eps, relu, stats: stats.clone() };
    let y = x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?;
    let (mean, var) = stats
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or_else(|| KernelError::shape(OP, "the forward pass left no statistics"))?;
    let unbias = m as f64 / (m - 1) as f64;
    let new_running = dispatch!(OP, running_mean.dtype(), T => {
        let rm = with_slice::<T, _>(OP, running_mean, |r| {
            Ok(r.iter().zip(&mean).map(|(r, b)| T::from_f64((1.0 - p.momentum) * r.to_f64() + p.momentum * b)).collect::<Vec<T>>())
        })?;
        let rv = with_slice::<T, _>(OP, running_var, |r| {
            Ok(r.iter().zip(&var).map(|(r, b)| T::from_f64((1.0 - p.momentum) * r.to_f64() + p.momentum * b * unbias)).collect::<Vec<T>>())
        })?;
        Ok((tensor_from(rm, &[c])?, tensor_from(rv, &[c])?))
    })?;
    Ok((y, Some(new_running)))
}
