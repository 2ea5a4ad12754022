//! ReLU and `relu(a + b)` as custom ops whose backward pass reads the output's sign:
//! `dx = dy · [y > 0]` (one pass instead of candle's compare, convert and multiply).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::profile::{self, Kind};

use super::{assume_init, dispatch, input_slice, tensor_from, uninit_vec, with_slice, Real};

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

fn relu_backward<T: Real>(y: &[T], dy: &[T]) -> Vec<T> {
    let mut dx = uninit_vec::<T>(y.len());
    dx.par_chunks_mut(CHUNK).zip(y.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK))).for_each(|(o, (yc, gc))| {
        super::simd::vectorized(|| {
            for ((o, yv), g) in o.iter_mut().zip(yc).zip(gc) {
                o.write(if *yv > T::ZERO { *g } else { T::ZERO });
            }
        })
    });
    // SAFETY: every chunk of `dx` was written above.
    unsafe { assume_init(dx) }
}

/// `dy · [res > 0]` as a new CPU tensor.
pub(crate) fn relu_grad(name: &'static str, res: &Tensor, dy: &Tensor) -> Result<Tensor> {
    dispatch!(name, res.dtype(), T => {
        with_slice::<T, _>(name, res, |y| with_slice::<T, _>(name, dy, |g| tensor_from(relu_backward(y, g), res.dims())))
    })
}

struct ReluOp;

impl CustomOp1 for ReluOp {
    fn name(&self) -> &'static str {
        "ctssl-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        profile::timed(Kind::Elementwise, || {
            let name = self.name();
            let out = dispatch!(name, super::storage_dtype(s), T => {
                let x = input_slice::<T>(name, s, l)?;
                let mut y = uninit_vec::<T>(x.len());
                y.par_chunks_mut(CHUNK).zip(x.par_chunks(CHUNK)).for_each(|(o, xc)| {
                    super::simd::vectorized(|| {
                        for (o, v) in o.iter_mut().zip(xc) {
                            o.write(if *v > T::ZERO { *v } else { T::ZERO });
                        }
                    })
                });
                // SAFETY: every chunk of `y` was written above.
                Ok(T::storage(unsafe { assume_init(y) }))
            })?;
            Ok((out, l.shape().clone()))
        })
    }

    fn bwd(&self, _x: &Tensor, res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        profile::timed(Kind::Elementwise, || Ok(Some(relu_grad(self.name(), res, dy)?)))
    }
}

struct AddReluOp;

impl CustomOp2 for AddReluOp {
    fn name(&self) -> &'static str {
        "ctssl-add-relu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        profile::timed(Kind::Elementwise, || {
            let name = self.name();
            let out = dispatch!(name, super::storage_dtype(s1), T => {
                let a = input_slice::<T>(name, s1, l1)?;
                let b = input_slice::<T>(name, s2, l2)?;
                let mut y = uninit_vec::<T>(a.len());
                y.par_chunks_mut(CHUNK).zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK))).for_each(|(o, (ac, bc))| {
                    super::simd::vectorized(|| {
                        for ((o, x), z) in o.iter_mut().zip(ac).zip(bc) {
                            let s = *x + *z;
                            o.write(if s > T::ZERO { s } else { T::ZERO });
                        }
                    })
                });
                // SAFETY: every chunk of `y` was written above.
                Ok(T::storage(unsafe { assume_init(y) }))
            })?;
            Ok((out, l1.shape().clone()))
        })
    }

    fn bwd(&self, _a: &Tensor, _b: &Tensor, res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        profile::timed(Kind::Elementwise, || {
            let g = relu_grad(self.name(), res, dy)?;
            Ok((Some(g.clone()), Some(g)))
        })
    }
}

/// `relu` on the CPU.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(ReluOp)
}

/// `add_relu` on the CPU.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.contiguous()?.apply_op2(&b.contiguous()?, AddReluOp)
}
