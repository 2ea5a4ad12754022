//! Max pooling on the compact layout, with the dense-masked path's exact semantics: a window's masked
//! positions count as zeros, the padding as −∞, and the first maximum in raster order wins (PyTorch's
//! rule, also that of `ctssl-kernels`); the gradient goes to the winner, and is dropped when the winner
//! is a masked position.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use ctssl_kernels::cpu::{dispatch, input_slice, storage_dtype, tensor_from, with_slice, Real};

use crate::error::{op_error, Result, SparseError};
use crate::sparse_layout::{NeighbourTable, INACTIVE, OUTSIDE};

/// The custom op of [`sparse_max_pool2d`].
struct SparseMaxPoolOp {
    table: Arc<NeighbourTable>,
    c: usize,
    /// The winning tap of every output value, filled by the forward pass.
    argmax: Mutex<Vec<u8>>,
}

impl SparseMaxPoolOp {
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn forward<T: Real>(&self, x: &[T]) -> (Vec<T>, Vec<u8>) {
        let (c, taps) = (self.c, self.table.taps);
        let rows = self.table.out_rows;
        let mut y = vec![T::NEG_INFINITY; rows * c];
        let mut arg = vec![0u8; rows * c];
        y.par_chunks_mut(c).zip(arg.par_chunks_mut(c)).zip(self.table.table.par_chunks(taps)).for_each(
            |((yr, ar), idx)| {
                let mut first = true;
                for (t, &i) in idx.iter().enumerate() {
                    match i {
                        OUTSIDE => {}
                        INACTIVE => {
                            for (b, a) in yr.iter_mut().zip(ar.iter_mut()) {
                                if first || !(T::ZERO <= *b) {
                                    *b = T::ZERO;
                                    *a = t as u8;
                                }
                            }
                            first = false;
                        }
                        _ => {
                            let src = &x[i as usize * c..(i as usize + 1) * c];
                            for ((b, a), v) in yr.iter_mut().zip(ar.iter_mut()).zip(src) {
                                if first || !(*v <= *b) {
                                    *b = *v;
                                    *a = t as u8;
                                }
                            }
                            first = false;
                        }
                    }
                }
            },
        );
        (y, arg)
    }

    fn backward<T: Real>(&self, dy: &[T], arg: &[u8]) -> Vec<T> {
        let (c, taps) = (self.c, self.table.taps);
        let mut dx = vec![T::ZERO; self.table.in_rows * c];
        for (o, (gr, ar)) in dy.chunks_exact(c).zip(arg.chunks_exact(c)).enumerate() {
            let idx = &self.table.table[o * taps..(o + 1) * taps];
            for (ch, (g, a)) in gr.iter().zip(ar).enumerate() {
                let i = idx[*a as usize];
                if i < OUTSIDE {
                    dx[i as usize * c + ch] += *g;
                }
            }
        }
        dx
    }
}

impl CustomOp1 for SparseMaxPoolOp {
    fn name(&self) -> &'static str {
        "ctssl-sparse-max-pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (out, arg) = dispatch!(name, storage_dtype(s), T => {
            let x = input_slice::<T>(name, s, l)?;
            let (y, arg) = self.forward(x);
            Ok((T::storage(y), arg))
        })?;
        *self.argmax.lock().map_err(|_| op_error(name, "poisoned"))? = arg;
        Ok((out, Shape::from((self.table.out_rows, self.c))))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let name = self.name();
        let arg = self.argmax.lock().map_err(|_| op_error(name, "poisoned"))?;
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, dy, |g| Ok(Some(tensor_from(self.backward(g, &arg), x.dims())?)))
        })
    }
}

/// Max pooling of compact rows `x: [table.in_rows, C]` through `table` (a window of at most 256 taps):
/// `[table.out_rows, C]`, differentiable.
pub fn sparse_max_pool2d(x: &Tensor, table: &Arc<NeighbourTable>) -> Result<Tensor> {
    let (rows, c) = x.dims2()?;
    if rows != table.in_rows || table.taps > 256 {
        return Err(SparseError::InvalidInput(format!(
            "sparse max pool: input {:?} does not fit a table over {} rows ({} taps)",
            x.dims(),
            table.in_rows,
            table.taps
        )));
    }
    let op = SparseMaxPoolOp { table: Arc::clone(table), c, argmax: Mutex::new(Vec::new()) };
    Ok(x.contiguous()?.apply_op1(op)?)
}
