//! Layer norm over the last dimension as one custom op (forward and backward), parallel over rows;
//! the weight and bias gradients are summed over fixed chunks of rows, then over the chunks in order.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::profile::{self, Kind};

use super::{dispatch, input_slice, tensor_from, with_slice, Real};

/// Rows per chunk of the weight/bias-gradient sums (fixed, so results do not depend on thread count).
const ROWS_PER_CHUNK: usize = 64;

struct LayerNormOp {
    d: usize,
    eps: f64,
}

/// Mean and 1/σ of one row.
fn row_stats<T: Real>(x: &[T], eps: f64) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|v| v.to_f64()).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|v| {
            let d = v.to_f64() - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "ctssl-layer-norm"
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
        profile::timed(Kind::Other, || {
            let name = self.name();
            let (d, eps) = (self.d, self.eps);
            let out = dispatch!(name, super::storage_dtype(s1), T => {
                let x = input_slice::<T>(name, s1, l1)?;
                let w = input_slice::<T>(name, s2, l2)?;
                let b = input_slice::<T>(name, s3, l3)?;
                let mut y = vec![T::ZERO; x.len()];
                y.par_chunks_mut(d).zip(x.par_chunks(d)).for_each(|(yr, xr)| {
                    let (mean, is) = row_stats(xr, eps);
                    let (mean, is) = (T::from_f64(mean), T::from_f64(is));
                    for (((o, xv), wv), bv) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                        *o = (*xv - mean) * is * *wv + *bv;
                    }
                });
                Ok(T::storage(y))
            })?;
            Ok((out, l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        profile::timed(Kind::Other, || {
            let name = self.name();
            let (d, eps) = (self.d, self.eps);
            dispatch!(name, x.dtype(), T => {
                with_slice::<T, _>(name, x, |xs| {
                    with_slice::<T, _>(name, w, |ws| {
                        with_slice::<T, _>(name, dy, |gs| {
                            let mut dx = vec![T::ZERO; xs.len()];
                            let partial: Vec<(Vec<f64>, Vec<f64>)> = dx
                                .par_chunks_mut(d * ROWS_PER_CHUNK)
                                .zip(xs.par_chunks(d * ROWS_PER_CHUNK).zip(gs.par_chunks(d * ROWS_PER_CHUNK)))
                                .map(|(dxc, (xc, gc))| {
                                    let mut dw = vec![0f64; d];
                                    let mut db = vec![0f64; d];
                                    for ((o, xr), gr) in dxc.chunks_mut(d).zip(xc.chunks(d)).zip(gc.chunks(d)) {
                                        let (mean, is) = row_stats(xr, eps);
                                        // g = dy·w; dx = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)).
                                        let mut mg = 0.0;
                                        let mut mgx = 0.0;
                                        for i in 0..d {
                                            let xh = (xr[i].to_f64() - mean) * is;
                                            let g = gr[i].to_f64();
                                            dw[i] += g * xh;
                                            db[i] += g;
                                            let gw = g * ws[i].to_f64();
                                            mg += gw;
                                            mgx += gw * xh;
                                        }
                                        mg /= d as f64;
                                        mgx /= d as f64;
                                        for i in 0..d {
                                            let xh = (xr[i].to_f64() - mean) * is;
                                            let gw = gr[i].to_f64() * ws[i].to_f64();
                                            o[i] = T::from_f64(is * (gw - mg - xh * mgx));
                                        }
                                    }
                                    (dw, db)
                                })
                                .collect();
                            let mut dw = vec![0f64; d];
                            let mut db = vec![0f64; d];
                            for (pw, pb) in partial {
                                for i in 0..d {
                                    dw[i] += pw[i];
                                    db[i] += pb[i];
                                }
                            }
                            let dw: Vec<T> = dw.into_iter().map(T::from_f64).collect();
                            let db: Vec<T> = db.into_iter().map(T::from_f64).collect();
                            Ok((Some(tensor_from(dx, x.dims())?), Some(tensor_from(dw, &[d])?), Some(tensor_from(db, &[d])?)))
                        })
                    })
                })
            })
        })
    }
}

/// Layer norm on the CPU; a missing bias is a zero one.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, eps: f64) -> Result<Tensor> {
    let d = weight.elem_count();
    let bias = match bias {
        Some(b) => b.contiguous()?,
        None => weight.zeros_like()?.detach(),
    };
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias, LayerNormOp { d, eps })
}
