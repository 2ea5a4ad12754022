//! Max pooling (any kernel, stride and padding; argmax indices kept for the backward pass) and global
//! average pooling, as custom ops parallel over the `n·c` image planes.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::profile::{self, Kind};

use super::{dispatch, input_slice, tensor_from, with_slice, Real};
use crate::error::KernelError;
use crate::ops::MaxPool2dParams;

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
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn forward<T: Real>(&self, x: &[T]) -> (Vec<T>, Vec<u32>) {
        let (h, w, oh, ow) = (self.h, self.w, self.oh, self.ow);
        let (k, s, pad) = (self.p.kernel, self.p.stride, self.p.padding);
        let planes = x.len() / (h * w);
        let mut y = vec![T::ZERO; planes * oh * ow];
        let mut idx = vec![0u32; planes * oh * ow];
        y.par_chunks_mut(oh * ow).zip(idx.par_chunks_mut(oh * ow)).enumerate().for_each(|(pl, (yp, ip))| {
            let xp = &x[pl * h * w..(pl + 1) * h * w];
            for oy in 0..oh {
                let y0 = (oy * s) as isize - pad as isize;
                let (ylo, yhi) = (y0.max(0) as usize, ((y0 + k as isize).min(h as isize)) as usize);
                for ox in 0..ow {
                    let x0 = (ox * s) as isize - pad as isize;
                    let (xlo, xhi) = (x0.max(0) as usize, ((x0 + k as isize).min(w as isize)) as usize);
                    let mut best = T::NEG_INFINITY;
                    let mut at = ylo * w + xlo;
                    for iy in ylo..yhi {
                        let row = &xp[iy * w + xlo..iy * w + xhi];
                        for (dx, v) in row.iter().enumerate() {
                            // `!(v <= best)` also picks a NaN, as PyTorch does.
                            if !(*v <= best) {
                                best = *v;
                                at = iy * w + xlo + dx;
                            }
                        }
                    }
                    yp[oy * ow + ox] = best;
                    ip[oy * ow + ox] = at as u32;
                }
            }
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
