//! Fused batch norm 2d: one custom op for the training forward pass (batch statistics, normalisation,
//! scale and shift) and its backward pass (two per-channel sums and one elementwise pass), instead of the
//! dozen primitive ops (and their backward graph) of the reference version.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::{dispatch, input_slice, tensor_from, uninit_vec, with_slice, Real};
use crate::error::KernelError;
use crate::ops::BatchNormParams;

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

/// Independent accumulators of the per-channel sums (a fixed order, so results do not depend on the
/// number of threads; several lanes so that the loops vectorise instead of waiting on one add chain).
const LANES: usize = 8;

/// `Σ f(a_i, b_i, c_i)` over three equal-length slices, in f64 with [`LANES`] accumulators.
#[inline(always)]
fn lane_sum<T: Real>(a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb, cc) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
    let (ra, rb, rc) = (ca.remainder(), cb.remainder(), cc.remainder());
    for ((xa, xb), xc) in ca.zip(cb).zip(cc) {
        for l in 0..LANES {
            acc[l] += f(xa[l], xb[l], xc[l]);
        }
    }
    let mut tail = 0.0;
    for ((xa, xb), xc) in ra.iter().zip(rb).zip(rc) {
        tail += f(*xa, *xb, *xc);
    }
    acc.iter().sum::<f64>() + tail
}

/// Mean and biased variance of each channel of `x` `[n, c, hw]` (two passes, f64 sums).
fn channel_stats<T: Real>(x: &[T], n: usize, c: usize, hw: usize) -> Stats {
    let m = (n * hw) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let blocks = || (0..n).map(move |i| &x[(i * c + ch) * hw..(i * c + ch + 1) * hw]);
            let sum: f64 = blocks().map(|b| lane_sum(b, b, b, |v, _, _| v.to_f64())).sum();
            let mean = sum / m;
            let ss: f64 = blocks()
                .map(|b| {
                    lane_sum(b, b, b, |v, _, _| {
                        let d = v.to_f64() - mean;
                        d * d
                    })
                })
                .sum();
            (mean, ss / m)
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
                    *o = if t > T::ZERO { t } else { T::ZERO };
                }
            } else {
                for (o, v) in yb.iter_mut().zip(xb) {
                    *o = *v * a + s;
                }
            }
        });
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
                let mut s1 = 0.0;
                let mut s2 = 0.0;
                for i in 0..n {
                    let r = (i * c + ch) * hw..(i * c + ch + 1) * hw;
                    let (xb, db) = (&x[r.clone()], &dy[r.clone()]);
                    if let Some(y) = relu_out {
                        let yb = &y[r];
                        let g = |d: T, y: T| if y > T::ZERO { d.to_f64() } else { 0.0 };
                        s1 += lane_sum(db, yb, yb, |d, y, _| g(d, y));
                        s2 += lane_sum(xb, db, yb, |xv, d, y| (xv.to_f64() - mu) * g(d, y));
                    } else {
                        s1 += lane_sum(db, db, db, |d, _, _| d.to_f64());
                        s2 += lane_sum(xb, db, db, |xv, d, _| (xv.to_f64() - mu) * d.to_f64());
                    }
                }
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
                        *o = a * g + bx * *xv + k;
                    }
                } else {
                    for ((o, xv), dv) in ob.iter_mut().zip(xb).zip(db) {
                        *o = a * *dv + bx * *xv + k;
                    }
                }
            },
        );
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
            Ok(T::storage(self.forward(x, w, b)))
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
                            let (dx, dw, db) = self.backward(xs, ws, dys, relu_out, &stats);
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
