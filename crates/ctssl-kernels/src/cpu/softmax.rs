//! Softmax and log-softmax over the last dimension as custom ops whose backward pass uses the output:
//! `dx = y·(dy − Σ dy·y)` and `dx = dy − exp(y)·Σ dy`.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::profile::{self, Kind};

use super::{dispatch, input_slice, tensor_from, with_slice, Real};

/// Rows handed to one rayon task at least.
const MIN_ROWS: usize = 64;

struct SoftmaxOp {
    log: bool,
}

fn forward_row<T: Real>(x: &[T], y: &mut [T], log: bool) {
    let max = x.iter().fold(T::NEG_INFINITY, |m, v| if *v > m { *v } else { m });
    let mut sum = 0f64;
    for (o, v) in y.iter_mut().zip(x) {
        let e = (*v - max).exp();
        sum += e.to_f64();
        *o = e;
    }
    if log {
        let lse = T::from_f64(sum.ln());
        for (o, v) in y.iter_mut().zip(x) {
            *o = *v - max - lse;
        }
    } else {
        let inv = T::from_f64(1.0 / sum);
        for o in y.iter_mut() {
            *o *= inv;
        }
    }
}

fn backward_row<T: Real>(y: &[T], dy: &[T], dx: &mut [T], log: bool) {
    if log {
        let s = T::from_f64(dy.iter().map(|v| v.to_f64()).sum::<f64>());
        for ((o, yv), g) in dx.iter_mut().zip(y).zip(dy) {
            *o = *g - yv.exp() * s;
        }
    } else {
        let s = T::from_f64(y.iter().zip(dy).map(|(a, b)| a.to_f64() * b.to_f64()).sum::<f64>());
        for ((o, yv), g) in dx.iter_mut().zip(y).zip(dy) {
            *o = *yv * (*g - s);
        }
    }
}

impl CustomOp1 for SoftmaxOp {
    fn name(&self) -> &'static str {
        if self.log {
            "ctssl-log-softmax"
        } else {
            "ctssl-softmax"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        profile::timed(Kind::Other, || {
            let name = self.name();
            let d = l.dims().last().copied().unwrap_or(1).max(1);
            let out = dispatch!(name, super::storage_dtype(s), T => {
                let x = input_slice::<T>(name, s, l)?;
                let mut y = vec![T::ZERO; x.len()];
                y.par_chunks_mut(d).with_min_len(MIN_ROWS).zip(x.par_chunks(d)).for_each(|(yr, xr)| forward_row(xr, yr, self.log));
                Ok(T::storage(y))
            })?;
            Ok((out, l.shape().clone()))
        })
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        profile::timed(Kind::Other, || {
            let name = self.name();
            let d = x.dims().last().copied().unwrap_or(1).max(1);
            dispatch!(name, x.dtype(), T => {
                with_slice::<T, _>(name, res, |y| {
                    with_slice::<T, _>(name, dy, |g| {
                        let mut dx = vec![T::ZERO; y.len()];
                        dx.par_chunks_mut(d)
                            .with_min_len(MIN_ROWS)
                            .zip(y.par_chunks(d).zip(g.par_chunks(d)))
                            .for_each(|(o, (yr, gr))| backward_row(yr, gr, o, self.log));
                        Ok(Some(tensor_from(dx, x.dims())?))
                    })
                })
            })
        })
    }
}

/// Softmax over the last dimension on the CPU: the kernel behind [`crate::ops::softmax_last_dim`], which
/// checks the shape first and runs the reference version off the CPU (call that one).
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(SoftmaxOp { log: false })
}

/// Log-softmax over the last dimension on the CPU: the kernel behind [`crate::ops::log_softmax`], which
/// checks the shape first and runs the reference version off the CPU (call that one).
pub fn log_softmax(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(SoftmaxOp { log: true })
}
