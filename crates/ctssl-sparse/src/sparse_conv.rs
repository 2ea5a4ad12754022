//! Submanifold convolution on the compact layout: outputs only at visible positions, inputs read only
//! from visible positions (masked ones and the padding count as zeros).
//!
//! Forward: gather, for every output row, the `taps × c_in` input values of its window (one contiguous
//! copy of `c_in` values per tap, zeros where the table says masked or outside) into a column matrix,
//! then one matrix product with the weight permuted to `[(tap, c_in), c_out]`. The input gradient is
//! the same gather-and-multiply on the output gradient through the table's inverse (for each input row
//! and tap, the output row that read it) with the weight permuted to `[(tap, c_out), c_in]`, so every
//! input row is written once (no scatter-add, no race). The weight gradient is `colᵀ · dy`, accumulated
//! over fixed chunks of rows. A 1×1 stride-1 convolution skips the gather: it is `x · Wᵀ`.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use ctssl_kernels::cpu::matmul::{gemm_threads, matmul_strided, View};
use ctssl_kernels::cpu::{dispatch, input_slice, storage_dtype, tensor_from, with_slice, Real};

use crate::error::{op_error, Result, SparseError};
use crate::sparse_layout::{NeighbourTable, OUTSIDE};

/// Most elements of one column-matrix chunk (bounds the extra memory of a convolution).
const CHUNK_ELEMENTS: usize = 1 << 22;

/// Gathers rows of `src` (`[*, c]`) into `col` (`[rows × taps·c]`) through `table` (`[rows × taps]`).
fn gather<T: Real>(src: &[T], c: usize, table: &[u32], taps: usize, col: &mut [T]) {
    let k = taps * c;
    col.par_chunks_mut(k).zip(table.par_chunks(taps)).for_each(|(dst, idx)| {
        for (t, &i) in idx.iter().enumerate() {
            let d = &mut dst[t * c..(t + 1) * c];
            if i < OUTSIDE {
                d.copy_from_slice(&src[i as usize * c..(i as usize + 1) * c]);
            } else {
                d.fill(T::ZERO);
            }
        }
    });
}

/// Rows of one chunk for column matrices of `k` columns.
fn chunk_rows(k: usize) -> usize {
    (CHUNK_ELEMENTS / k.max(1)).max(64)
}

/// `out[rows × n] = gather(src, table) · wmat[(taps·c) × n]`, in chunks of rows.
fn gather_multiply<T: Real>(src: &[T], c: usize, table: &[u32], taps: usize, wmat: &[T], n: usize) -> Vec<T> {
    let rows = table.len() / taps;
    let k = taps * c;
    let mut out = vec![T::ZERO; rows * n];
    let step = chunk_rows(k);
    let mut col = vec![T::ZERO; step.min(rows) * k];
    for (ci, out_chunk) in out.chunks_mut(step * n).enumerate() {
        let r = out_chunk.len() / n;
        let col = &mut col[..r * k];
        gather(src, c, &table[ci * step * taps..(ci * step + r) * taps], taps, col);
        matmul_strided(r, n, k, out_chunk, (n, 1), false, View::rows(col, k), View::rows(wmat, n), gemm_threads(1));
    }
    out
}

/// The shapes of one sparse convolution.
#[derive(Debug, Clone, Copy)]
struct ConvShape {
    c_in: usize,
    c_out: usize,
    taps: usize,
}

impl ConvShape {
    /// `W[co, ci, t]` → `[(t, ci), co]`.
    fn forward_weight<T: Real>(&self, w: &[T]) -> Vec<T> {
        let (ci_n, co_n, taps) = (self.c_in, self.c_out, self.taps);
        let mut out = vec![T::ZERO; w.len()];
        for co in 0..co_n {
            for ci in 0..ci_n {
                for t in 0..taps {
                    out[(t * ci_n + ci) * co_n + co] = w[(co * ci_n + ci) * taps + t];
                }
            }
        }
        out
    }

    /// `W[co, ci, t]` → `[(t, co), ci]`.
    fn input_grad_weight<T: Real>(&self, w: &[T]) -> Vec<T> {
        let (ci_n, co_n, taps) = (self.c_in, self.c_out, self.taps);
        let mut out = vec![T::ZERO; w.len()];
        for co in 0..co_n {
            for ci in 0..ci_n {
                let src = &w[(co * ci_n + ci) * taps..(co * ci_n + ci + 1) * taps];
                for (t, v) in src.iter().enumerate() {
                    out[(t * co_n + co) * ci_n + ci] = *v;
                }
            }
        }
        out
    }
}

/// The custom op of [`sparse_conv2d`].
struct SparseConvOp {
    table: Arc<NeighbourTable>,
    shape: ConvShape,
}

impl SparseConvOp {
    fn forward<T: Real>(&self, x: &[T], w: &[T]) -> Vec<T> {
        let s = self.shape;
        if self.table.identity {
            let rows = self.table.out_rows;
            let mut y = vec![T::ZERO; rows * s.c_out];
            // y = x · Wᵀ with W [c_out × c_in].
            let (xv, wv) = (View::rows(x, s.c_in), View::rows(w, s.c_in).t());
            matmul_strided(rows, s.c_out, s.c_in, &mut y, (s.c_out, 1), false, xv, wv, gemm_threads(1));
            return y;
        }
        let wmat = s.forward_weight(w);
        gather_multiply(x, s.c_in, &self.table.table, s.taps, &wmat, s.c_out)
    }

    fn backward_input<T: Real>(&self, dy: &[T], w: &[T]) -> Vec<T> {
        let s = self.shape;
        if self.table.identity {
            let rows = self.table.in_rows;
            let mut dx = vec![T::ZERO; rows * s.c_in];
            let (dyv, wv) = (View::rows(dy, s.c_out), View::rows(w, s.c_in));
            matmul_strided(rows, s.c_in, s.c_out, &mut dx, (s.c_in, 1), false, dyv, wv, gemm_threads(1));
            return dx;
        }
        let wg = s.input_grad_weight(w);
        gather_multiply(dy, s.c_out, self.table.inverse(), s.taps, &wg, s.c_in)
    }

    fn backward_weight<T: Real>(&self, x: &[T], dy: &[T]) -> Vec<T> {
        let s = self.shape;
        let rows = self.table.out_rows;
        if self.table.identity {
            let mut dw = vec![T::ZERO; s.c_out * s.c_in];
            // dW [c_out × c_in] = dyᵀ · x.
            let (dyv, xv) = (View::rows(dy, s.c_out).t(), View::rows(x, s.c_in));
            matmul_strided(s.c_out, s.c_in, rows, &mut dw, (s.c_in, 1), false, dyv, xv, gemm_threads(1));
            return dw;
        }
        let k = s.taps * s.c_in;
        let step = chunk_rows(k);
        let mut acc = vec![T::ZERO; k * s.c_out];
        let mut col = vec![T::ZERO; step.min(rows) * k];
        for (ci, dy_chunk) in dy.chunks(step * s.c_out).enumerate() {
            let r = dy_chunk.len() / s.c_out;
            let col = &mut col[..r * k];
            gather(x, s.c_in, &self.table.table[ci * step * s.taps..(ci * step + r) * s.taps], s.taps, col);
            // acc [(t, ci) × c_out] += colᵀ · dy.
            let (colv, dyv) = (View::rows(col, k).t(), View::rows(dy_chunk, s.c_out));
            matmul_strided(k, s.c_out, r, &mut acc, (s.c_out, 1), ci > 0, colv, dyv, gemm_threads(1));
        }
        // Back to the weight layout [c_out, c_in, taps].
        let mut dw = vec![T::ZERO; k * s.c_out];
        for t in 0..s.taps {
            for c in 0..s.c_in {
                let row = &acc[(t * s.c_in + c) * s.c_out..(t * s.c_in + c + 1) * s.c_out];
                for (o, v) in row.iter().enumerate() {
                    dw[(o * s.c_in + c) * s.taps + t] = *v;
                }
            }
        }
        dw
    }
}

impl CustomOp2 for SparseConvOp {
    fn name(&self) -> &'static str {
        "ctssl-sparse-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = dispatch!(name, storage_dtype(s1), T => {
            let x = input_slice::<T>(name, s1, l1)?;
            let w = input_slice::<T>(name, s2, l2)?;
            Ok(T::storage(self.forward(x, w)))
        })?;
        Ok((out, Shape::from((self.table.out_rows, self.shape.c_out))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let name = self.name();
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, x, |xs| {
                with_slice::<T, _>(name, w, |ws| {
                    with_slice::<T, _>(name, dy, |dys| {
                        let dx = self.backward_input(dys, ws);
                        let dw = self.backward_weight(xs, dys);
                        Ok((Some(tensor_from(dx, x.dims())?), Some(tensor_from(dw, w.dims())?)))
                    })
                })
            })
        })
    }
}

/// Convolution of compact rows `x: [table.in_rows, c_in]` with `w: [c_out, c_in, k, k]` through `table`
/// (made for that kernel, stride and padding): `[table.out_rows, c_out]`, differentiable in both.
pub fn sparse_conv2d(x: &Tensor, w: &Tensor, table: &Arc<NeighbourTable>) -> Result<Tensor> {
    let (rows, c_in) = x.dims2()?;
    let (c_out, c_in_w, kh, kw) = w.dims4()?;
    if rows != table.in_rows || c_in != c_in_w || kh * kw != table.taps || kh != kw {
        return Err(SparseError::InvalidInput(format!(
            "sparse conv: input {:?}, weight {:?} and a table of {} taps over {} rows do not fit",
            x.dims(),
            w.dims(),
            table.taps,
            table.in_rows
        )));
    }
    if !x.device().is_cpu() {
        return Err(op_error("sparse conv", "the sparse path runs on the CPU only").into());
    }
    let op = SparseConvOp { table: Arc::clone(table), shape: ConvShape { c_in, c_out, taps: table.taps } };
    Ok(x.contiguous()?.apply_op2(&w.contiguous()?, op)?)
}
