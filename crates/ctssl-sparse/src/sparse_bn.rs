//! Batch norm over the compact rows of the sparse path (optionally fused with ReLU): its statistics are
//! those of the visible positions only, because only visible positions are rows.
//!
//! One custom op with forward and backward. Training: per-channel mean and biased variance over the rows
//! (two passes, accumulated in f64 over fixed chunks of rows, so results do not depend on the number of
//! threads); evaluation: the running statistics. The ReLU passes the gradient where its input is `≥ 0`,
//! as candle's `relu`, so the fused op has exactly the derivative of the dense-masked path.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, Var};
use rayon::prelude::*;

use ctssl_kernels::cpu::{dispatch, input_slice, storage_dtype, tensor_from, with_slice, Real};

use crate::error::{op_error, Result, SparseError};

/// Rows per partial sum (fixed, so sums do not depend on the number of threads).
const ROW_CHUNK: usize = 256;

/// Per-channel `(mean, biased variance)` of `x: [rows × c]`, in f64.
fn statistics<T: Real>(x: &[T], c: usize) -> (Vec<f64>, Vec<f64>) {
    let rows = x.len() / c;
    let sums: Vec<Vec<f64>> = x
        .par_chunks(ROW_CHUNK * c)
        .map(|chunk| {
            let mut s = vec![0.0f64; c];
            for row in chunk.chunks_exact(c) {
                for (a, v) in s.iter_mut().zip(row) {
                    *a += v.to_f64();
                }
            }
            s
        })
        .collect();
    let mut mean = vec![0.0; c];
    for s in &sums {
        for (m, v) in mean.iter_mut().zip(s) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let sq: Vec<Vec<f64>> = x
        .par_chunks(ROW_CHUNK * c)
        .map(|chunk| {
            let mut s = vec![0.0f64; c];
            for row in chunk.chunks_exact(c) {
                for ((a, v), m) in s.iter_mut().zip(row).zip(&mean) {
                    let d = v.to_f64() - m;
                    *a += d * d;
                }
            }
            s
        })
        .collect();
    let mut var = vec![0.0; c];
    for s in &sq {
        for (m, v) in var.iter_mut().zip(s) {
            *m += v;
        }
    }
    var.iter_mut().for_each(|v| *v /= rows as f64);
    (mean, var)
}

/// The statistics a training forward used, for the running averages.
#[derive(Debug, Clone, Default)]
struct BatchStats {
    mean: Vec<f64>,
    var: Vec<f64>,
}

/// The custom op of [`SparseBatchNorm::forward`]: inputs `x [rows, c]`, `weight [c]`, `bias [c]`.
struct SparseBnOp {
    c: usize,
    eps: f64,
    relu: bool,
    /// Evaluation: the running `(mean, var)`; training: `None`.
    running: Option<(Vec<f64>, Vec<f64>)>,
    /// Filled by a training forward.
    stats: Arc<Mutex<Option<BatchStats>>>,
}

impl SparseBnOp {
    /// Per-channel `(mean, 1/√(var + eps))` of the forward: from the batch (stored) or the running values.
    fn mean_inv<T: Real>(&self, x: &[T]) -> candle_core::Result<(Vec<T>, Vec<T>)> {
        let (mean, var) = match &self.running {
            Some((m, v)) => (m.clone(), v.clone()),
            None => {
                let mut guard = self.stats.lock().map_err(|_| op_error(self.name(), "poisoned"))?;
                if guard.is_none() {
                    let (mean, var) = statistics(x, self.c);
                    *guard = Some(BatchStats { mean, var });
                }
                let s = guard.as_ref().ok_or_else(|| op_error(self.name(), "missing statistics"))?;
                (s.mean.clone(), s.var.clone())
            }
        };
        let inv = var.iter().map(|v| T::from_f64(1.0 / (v + self.eps).sqrt())).collect();
        Ok((mean.iter().map(|m| T::from_f64(*m)).collect(), inv))
    }

    fn forward<T: Real>(&self, x: &[T], w: &[T], b: &[T]) -> candle_core::Result<Vec<T>> {
        let c = self.c;
        let (mean, inv) = self.mean_inv(x)?;
        let scale: Vec<T> = inv.iter().zip(w).map(|(i, w)| *i * *w).collect();
        let shift: Vec<T> = mean.iter().zip(&scale).zip(b).map(|((m, s), b)| *b - *m * *s).collect();
        let mut y = vec![T::ZERO; x.len()];
        let relu = self.relu;
        y.par_chunks_mut(ROW_CHUNK * c).zip(x.par_chunks(ROW_CHUNK * c)).for_each(|(yc, xc)| {
            for (yr, xr) in yc.chunks_exact_mut(c).zip(xc.chunks_exact(c)) {
                for (((o, v), s), t) in yr.iter_mut().zip(xr).zip(&scale).zip(&shift) {
                    let z = *v * *s + *t;
                    *o = if relu && z < T::ZERO { T::ZERO } else { z };
                }
            }
        });
        Ok(y)
    }

    #[allow(clippy::type_complexity)]
    fn backward<T: Real>(&self, x: &[T], w: &[T], b: &[T], dy: &[T]) -> candle_core::Result<(Vec<T>, Vec<T>, Vec<T>)> {
        let c = self.c;
        let rows = x.len() / c;
        let (mean, inv) = self.mean_inv(x)?;
        let scale: Vec<T> = inv.iter().zip(w).map(|(i, w)| *i * *w).collect();
        let shift: Vec<T> = mean.iter().zip(&scale).zip(b).map(|((m, s), b)| *b - *m * *s).collect();
        let relu = self.relu;
        // The gradient reaching the affine output: dy where the ReLU's input is ≥ 0.
        let gate = |v: T, s: T, t: T, g: T| if relu && v * s + t < T::ZERO { T::ZERO } else { g };
        let partial: Vec<(Vec<f64>, Vec<f64>)> = x
            .par_chunks(ROW_CHUNK * c)
            .zip(dy.par_chunks(ROW_CHUNK * c))
            .map(|(xc, gc)| {
                let (mut sg, mut sgx) = (vec![0.0f64; c], vec![0.0f64; c]);
                for (xr, gr) in xc.chunks_exact(c).zip(gc.chunks_exact(c)) {
                    for ch in 0..c {
                        let g = gate(xr[ch], scale[ch], shift[ch], gr[ch]).to_f64();
                        let xhat = ((xr[ch] - mean[ch]) * inv[ch]).to_f64();
                        sg[ch] += g;
                        sgx[ch] += g * xhat;
                    }
                }
                (sg, sgx)
            })
            .collect();
        let (mut sum_g, mut sum_gx) = (vec![0.0f64; c], vec![0.0f64; c]);
        for (sg, sgx) in &partial {
            for ch in 0..c {
                sum_g[ch] += sg[ch];
                sum_gx[ch] += sgx[ch];
            }
        }
        let dw: Vec<T> = sum_gx.iter().map(|v| T::from_f64(*v)).collect();
        let db: Vec<T> = sum_g.iter().map(|v| T::from_f64(*v)).collect();
        let mut dx = vec![T::ZERO; x.len()];
        let train = self.running.is_none();
        let n = rows as f64;
        let mg: Vec<T> = sum_g.iter().map(|v| T::from_f64(if train { v / n } else { 0.0 })).collect();
        let mgx: Vec<T> = sum_gx.iter().map(|v| T::from_f64(if train { v / n } else { 0.0 })).collect();
        dx.par_chunks_mut(ROW_CHUNK * c).zip(x.par_chunks(ROW_CHUNK * c)).zip(dy.par_chunks(ROW_CHUNK * c)).for_each(
            |((dc, xc), gc)| {
                for ((dr, xr), gr) in dc.chunks_exact_mut(c).zip(xc.chunks_exact(c)).zip(gc.chunks_exact(c)) {
                    for ch in 0..c {
                        let g = gate(xr[ch], scale[ch], shift[ch], gr[ch]);
                        let xhat = (xr[ch] - mean[ch]) * inv[ch];
                        dr[ch] = scale[ch] * (g - mg[ch] - xhat * mgx[ch]);
                    }
                }
            },
        );
        Ok((dx, dw, db))
    }
}

impl CustomOp3 for SparseBnOp {
    fn name(&self) -> &'static str {
        "ctssl-sparse-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = dispatch!(name, storage_dtype(s1), T => {
            let x = input_slice::<T>(name, s1, l1)?;
            let w = input_slice::<T>(name, s2, l2)?;
            let b = input_slice::<T>(name, s3, l3)?;
            Ok(T::storage(self.forward(x, w, b)?))
        })?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let name = self.name();
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, x, |xs| {
                with_slice::<T, _>(name, w, |ws| {
                    with_slice::<T, _>(name, b, |bs| {
                        with_slice::<T, _>(name, dy, |dys| {
                            let (dx, dw, db) = self.backward(xs, ws, bs, dys)?;
                            Ok((
                                Some(tensor_from(dx, x.dims())?),
                                Some(tensor_from(dw, w.dims())?),
                                Some(tensor_from(db, b.dims())?),
                            ))
                        })
                    })
                })
            })
        })
    }
}

/// Batch norm of compact rows with a layer's parameters (borrowed from the backbone or densify).
#[derive(Debug, Clone, Copy)]
pub struct SparseBatchNorm<'a> {
    /// Scale `[C]`.
    pub weight: &'a Tensor,
    /// Shift `[C]`.
    pub bias: &'a Tensor,
    /// Running mean `[C]`, updated in training.
    pub running_mean: &'a Var,
    /// Running variance `[C]`, updated in training (unbiased batch variance, as PyTorch).
    pub running_var: &'a Var,
    /// Weight of the batch statistic in the running average.
    pub momentum: f64,
    /// Added to the variance under the square root.
    pub eps: f64,
}

impl SparseBatchNorm<'_> {
    /// Normalises `x: [rows, C]` per channel (statistics over the rows in training, updating the running
    /// statistics; the running statistics in evaluation), then applies ReLU when `relu`. Differentiable in
    /// `x`, `weight` and `bias`.
    pub fn forward(&self, x: &Tensor, relu: bool, train: bool) -> Result<Tensor> {
        let (rows, c) = x.dims2()?;
        if self.weight.elem_count() != c || self.bias.elem_count() != c {
            return Err(SparseError::InvalidInput(format!("sparse batch norm: {c} channels, parameters differ")));
        }
        if train && rows == 0 {
            return Err(SparseError::InvalidInput("sparse batch norm: no visible position".into()));
        }
        let stats = Arc::new(Mutex::new(None));
        let running = if train {
            None
        } else {
            let m = self.running_mean.as_tensor().to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
            let v = self.running_var.as_tensor().to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
            Some((m, v))
        };
        let op = SparseBnOp { c, eps: self.eps, relu, running, stats: Arc::clone(&stats) };
        let w = self.weight.flatten_all()?.contiguous()?;
        let b = self.bias.flatten_all()?.contiguous()?;
        let y = x.contiguous()?.apply_op3(&w, &b, op)?;
        if train {
            let s = stats
                .lock()
                .map_err(|_| SparseError::InvalidInput("sparse batch norm: poisoned statistics".into()))?
                .clone()
                .ok_or_else(|| SparseError::InvalidInput("sparse batch norm: no statistics".into()))?;
            let m = self.momentum;
            let unbias = if rows > 1 { rows as f64 / (rows as f64 - 1.0) } else { 1.0 };
            let dev = x.device();
            let dtype = self.running_mean.dtype();
            let mean = Tensor::from_vec(s.mean, c, dev)?.to_dtype(dtype)?;
            let var = (Tensor::from_vec(s.var, c, dev)? * unbias)?.to_dtype(dtype)?;
            let rm = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean * m)?)?;
            let rv = ((self.running_var.as_tensor() * (1.0 - m))? + (var * m)?)?;
            self.running_mean.set(&rm)?;
            self.running_var.set(&rv)?;
        }
        Ok(y)
    }
}
