//! Convolution kernels (forward, input gradient, weight gradient) as im2col + `gemm`, and the candle
//! custom ops of `conv2d` and `conv_transpose2d` built on them.
//!
//! Images are processed in groups whose column count (images × output pixels) is at least
//! [`MIN_COLUMNS`], so that the small feature maps of a ResNet's last stages still give `gemm` wide
//! matrices. Groups run in parallel; when there are fewer groups than threads, `gemm` itself is
//! parallelised. The input gradient is `Wᵀ·dy` followed by col2im (never a direct-loop transposed
//! convolution), the weight gradient `Σ dy·colᵀ`, computed transposed as `Σ col·dyᵀ` (faster with
//! `gemm` for these shapes) with one accumulator per fixed chunk of groups.
//! A transposed convolution's forward pass is the input gradient of the matching convolution, its
//! input gradient that convolution's forward pass, and its weight gradient the same weight-gradient
//! kernel with the two arguments swapped.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::conv_taps;
use super::im2col::{col2im, im2col};
use super::matmul::{gemm_threads, matmul_strided, matmul_uninit, View};
use super::{
    assume_init, assume_init_ref, dispatch, fill, input_slice, tensor_from, uninit_vec, with_slice, write_slice, Real,
};
use crate::error::KernelError;
use crate::params::ConvGeometry;
use crate::profile::{self, Kind};

/// The fewest gemm columns (images × output pixels) a group of images should give.
pub const MIN_COLUMNS: usize = 256;

/// Most bytes the per-chunk weight-gradient accumulators may take together.
const WEIGHT_ACCUMULATOR_BYTES: usize = 64 << 20;

/// Largest number of chunks the weight gradient is split into (fixed, so results do not depend on the
/// number of threads).
const MAX_WEIGHT_CHUNKS: usize = 8;

impl ConvGeometry {
    fn k(&self) -> usize {
        self.c_in * self.kh * self.kw
    }
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// A 1×1, stride-1, unpadded convolution: the column matrix is the image itself.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.padding == 0
    }
    fn group_size(&self) -> usize {
        MIN_COLUMNS.div_ceil(self.p().max(1)).clamp(1, self.n.max(1))
    }
}

/// Fills `col` (`[k × gsize·p]`, every element) with the column matrices of `gsize` images starting at
/// `images`.
fn group_columns<T: Real>(g: &ConvGeometry, images: &[T], gsize: usize, col: &mut [MaybeUninit<T>]) {
    let img = g.c_in * g.h * g.w;
    let ld = gsize * g.p();
    for j in 0..gsize {
        im2col(g, &images[j * img..(j + 1) * img], col, ld, j * g.p());
    }
}

/// Gathers `[gsize, c, p]` (NCHW images) into `[c × gsize·p]` (every element of `dst`).
fn gather_channels<T: Real>(src: &[T], gsize: usize, c: usize, p: usize, dst: &mut [MaybeUninit<T>]) {
    let ld = gsize * p;
    for j in 0..gsize {
        for ch in 0..c {
            write_slice(&mut dst[ch * ld + j * p..ch * ld + (j + 1) * p], &src[(j * c + ch) * p..(j * c + ch + 1) * p]);
        }
    }
}

/// Scatters `[c × gsize·p]` back into `[gsize, c, p]` (every element of `dst`).
fn scatter_channels<T: Real>(src: &[T], gsize: usize, c: usize, p: usize, dst: &mut [MaybeUninit<T>]) {
    let ld = gsize * p;
    for j in 0..gsize {
        for ch in 0..c {
            write_slice(&mut dst[(j * c + ch) * p..(j * c + ch + 1) * p], &src[ch * ld + j * p..ch * ld + (j + 1) * p]);
        }
    }
}

/// Checks that each slice holds exactly the elements its role in `g` needs.
fn check_lengths(g: &ConvGeometry, parts: &[(&str, usize, usize)]) -> Result<()> {
    for (what, len, want) in parts {
        if len != want {
            return Err(KernelError::shape(
                "conv2d",
                format!("{what} has {len} elements, the geometry {g:?} needs {want}"),
            ));
        }
    }
    Ok(())
}

impl ConvGeometry {
    fn input_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }
    fn output_len(&self) -> usize {
        self.n * self.c_out * self.oh * self.ow
    }
    fn weight_len(&self) -> usize {
        self.c_out * self.k()
    }
}

/// Forward: `y[n, c_out, oh, ow]` from `x[n, c_in, h, w]` and `w[c_out, c_in, kh, kw]` (contiguous).
pub fn forward<T: Real>(g: &ConvGeometry, x: &[T], w: &[T]) -> Result<Vec<T>> {
    check_lengths(g, &[("input", x.len(), g.input_len()), ("weight", w.len(), g.weight_len())])?;
    Ok(profile::timed(Kind::ConvForward, || forward_unchecked(g, x, w)))
}

/// Input gradient: `dx[n, c_in, h, w]` from `dy[n, c_out, oh, ow]` and `w[c_out, c_in, kh, kw]`.
pub fn backward_input<T: Real>(g: &ConvGeometry, dy: &[T], w: &[T]) -> Result<Vec<T>> {
    check_lengths(g, &[("output gradient", dy.len(), g.output_len()), ("weight", w.len(), g.weight_len())])?;
    Ok(profile::timed(Kind::ConvInputGrad, || backward_input_unchecked(g, dy, w)))
}

/// Weight gradient: `dw[c_out, c_in, kh, kw] = Σ dy · colᵀ` from `x[n, c_in, h, w]` and
/// `dy[n, c_out, oh, ow]`.
pub fn backward_weight<T: Real>(g: &ConvGeometry, x: &[T], dy: &[T]) -> Result<Vec<T>> {
    check_lengths(g, &[("input", x.len(), g.input_len()), ("output gradient", dy.len(), g.output_len())])?;
    Ok(profile::timed(Kind::ConvWeightGrad, || backward_weight_unchecked(g, x, dy)))
}

fn forward_unchecked<T: Real>(g: &ConvGeometry, x: &[T], w: &[T]) -> Vec<T> {
    if conv_taps::worthwhile(g) {
        conv_taps::forward(g, x, w)
    } else {
        im2col_forward(g, x, w)
    }
}

fn backward_input_unchecked<T: Real>(g: &ConvGeometry, dy: &[T], w: &[T]) -> Vec<T> {
    if conv_taps::worthwhile(g) {
        conv_taps::backward_input(g, dy, w)
    } else {
        im2col_backward_input(g, dy, w)
    }
}

fn backward_weight_unchecked<T: Real>(g: &ConvGeometry, x: &[T], dy: &[T]) -> Vec<T> {
    if conv_taps::worthwhile(g) {
        conv_taps::backward_weight(g, x, dy)
    } else {
        im2col_backward_weight(g, x, dy)
    }
}

/// Forward through im2col and one product per group of images.
pub(crate) fn im2col_forward<T: Real>(g: &ConvGeometry, x: &[T], w: &[T]) -> Vec<T> {
    let (k, p) = (g.k(), g.p());
    let gs = g.group_size();
    let img_in = g.c_in * g.h * g.w;
    let img_out = g.c_out * p;
    let mut y = uninit_vec::<T>(g.n * img_out);
    let groups = g.n.div_ceil(gs);
    let threads = gemm_threads(groups);
    y.par_chunks_mut(gs * img_out).enumerate().for_each(|(gi, yc)| {
        let size = yc.len() / img_out;
        let xs = &x[gi * gs * img_in..(gi * gs + size) * img_in];
        let wv = View::rows(w, k);
        if size == 1 && g.pointwise() {
            matmul_uninit(g.c_out, p, k, yc, (p, 1), wv, View::rows(xs, p), threads);
            return;
        }
        let ld = size * p;
        let mut col = uninit_vec::<T>(k * ld);
        group_columns(g, xs, size, &mut col);
        // SAFETY: group_columns wrote every element.
        let col = unsafe { assume_init_ref(&col) };
        if size == 1 {
            matmul_uninit(g.c_out, p, k, yc, (p, 1), wv, View::rows(col, ld), threads);
        } else {
            let mut tmp = uninit_vec::<T>(g.c_out * ld);
            matmul_uninit(g.c_out, ld, k, &mut tmp, (ld, 1), wv, View::rows(col, ld), threads);
            // SAFETY: the product wrote every element.
            scatter_channels(unsafe { assume_init_ref(&tmp) }, size, g.c_out, p, yc);
        }
    });
    // SAFETY: every chunk of `y` was written entirely by a product or by scatter_channels.
    unsafe { assume_init(y) }
}

/// Input gradient through one product per group of images and col2im.
pub(crate) fn im2col_backward_input<T: Real>(g: &ConvGeometry, dy: &[T], w: &[T]) -> Vec<T> {
    let (k, p) = (g.k(), g.p());
    let gs = g.group_size();
    let img_in = g.c_in * g.h * g.w;
    let img_out = g.c_out * p;
    let mut dx = uninit_vec::<T>(g.n * img_in);
    let groups = g.n.div_ceil(gs);
    let threads = gemm_threads(groups);
    let wt = View::rows(w, k).t();
    dx.par_chunks_mut(gs * img_in).enumerate().for_each(|(gi, dxc)| {
        let size = dxc.len() / img_in;
        let dys = &dy[gi * gs * img_out..(gi * gs + size) * img_out];
        if size == 1 && g.pointwise() {
            matmul_uninit(k, p, g.c_out, dxc, (p, 1), wt, View::rows(dys, p), threads);
            return;
        }
        let ld = size * p;
        let gathered;
        let dyv = if size == 1 {
            View::rows(dys, p)
        } else {
            let mut buf = uninit_vec::<T>(g.c_out * ld);
            gather_channels(dys, size, g.c_out, p, &mut buf);
            // SAFETY: gather_channels wrote every element.
            gathered = unsafe { assume_init(buf) };
            View::rows(&gathered, ld)
        };
        let mut dcol = uninit_vec::<T>(k * ld);
        matmul_uninit(k, ld, g.c_out, &mut dcol, (ld, 1), wt, dyv, threads);
        // SAFETY: the product wrote every element.
        let dcol = unsafe { assume_init_ref(&dcol) };
        if g.pointwise() {
            scatter_channels(dcol, size, g.c_in, p, dxc);
            return;
        }
        fill(dxc, T::ZERO);
        // SAFETY: just filled.
        let dxc = unsafe { &mut *(dxc as *mut [MaybeUninit<T>] as *mut [T]) };
        for j in 0..size {
            col2im(g, dcol, ld, j * p, &mut dxc[j * img_in..(j + 1) * img_in]);
        }
    });
    // SAFETY: every chunk of `dx` was written by a product, scatter_channels or the zero fill.
    unsafe { assume_init(dx) }
}

/// Weight gradient through im2col and one product per group of images.
pub(crate) fn im2col_backward_weight<T: Real>(g: &ConvGeometry, x: &[T], dy: &[T]) -> Vec<T> {
    let (k, p) = (g.k(), g.p());
    let gs = g.group_size();
    let img_in = g.c_in * g.h * g.w;
    let img_out = g.c_out * p;
    let groups = g.n.div_ceil(gs);
    let acc_bytes = g.c_out * k * std::mem::size_of::<T>();
    let chunks = groups.min(MAX_WEIGHT_CHUNKS).min((WEIGHT_ACCUMULATOR_BYTES / acc_bytes.max(1)).max(1));
    let groups_per_chunk = groups.div_ceil(chunks);
    let threads = gemm_threads(chunks);
    let partial: Vec<Vec<T>> = (0..chunks)
        .into_par_iter()
        .map(|ci| {
            let first = ci * groups_per_chunk;
            let last = ((ci + 1) * groups_per_chunk).min(groups);
            if first >= last {
                return vec![T::ZERO; g.c_out * k];
            }
            // dwᵀ [k × c_out] = col · dyᵀ: gemm (column-major at heart) then runs dy · colᵀ into a
            // column-major [c_out × k], which packs its operands faster than any other arrangement tried
            // (dy · colᵀ into a row-major [c_out × k] directly took ~5 % more of a ResNet-18 step).
            let mut acc = uninit_vec::<T>(g.c_out * k);
            let mut col = Vec::new();
            let mut gathered = Vec::new();
            for gi in first..last {
                let n0 = gi * gs;
                let size = gs.min(g.n - n0);
                let ld = size * p;
                let xs = &x[n0 * img_in..(n0 + size) * img_in];
                let dys = &dy[n0 * img_out..(n0 + size) * img_out];
                let colv = if size == 1 && g.pointwise() {
                    View::rows(xs, p)
                } else {
                    col.resize(k * ld, MaybeUninit::uninit());
                    group_columns(g, xs, size, &mut col[..k * ld]);
                    // SAFETY: group_columns wrote every element.
                    View::rows(unsafe { assume_init_ref(&col[..k * ld]) }, ld)
                };
                let dyv = if size == 1 {
                    View::rows(dys, p)
                } else {
                    gathered.resize(g.c_out * ld, MaybeUninit::uninit());
                    gather_channels(dys, size, g.c_out, p, &mut gathered[..g.c_out * ld]);
                    // SAFETY: gather_channels wrote every element.
                    View::rows(unsafe { assume_init_ref(&gathered[..g.c_out * ld]) }, ld)
                };
                if gi == first {
                    matmul_uninit(k, g.c_out, ld, &mut acc, (g.c_out, 1), colv, dyv.t(), threads);
                } else {
                    // SAFETY: the first product of this chunk wrote every element of `acc`.
                    let acc = unsafe { &mut *(&mut acc[..] as *mut [MaybeUninit<T>] as *mut [T]) };
                    matmul_strided(k, g.c_out, ld, acc, (g.c_out, 1), true, colv, dyv.t(), threads);
                }
            }
            // SAFETY: the first product of this chunk wrote every element.
            unsafe { assume_init(acc) }
        })
        .collect();
    let mut parts = partial.into_iter();
    let mut sum = parts.next().unwrap_or_else(|| vec![T::ZERO; g.c_out * k]);
    for part in parts {
        for (a, b) in sum.iter_mut().zip(&part) {
            *a += *b;
        }
    }
    transpose(&sum, k, g.c_out)
}

/// The `[cols × rows]` transpose of a row-major `[rows × cols]` matrix, in square tiles (a plain
/// element-by-element transpose of a weight gradient cost ~5 % of a ResNet-18 step in cache misses).
fn transpose<T: Real>(src: &[T], rows: usize, cols: usize) -> Vec<T> {
    const TILE: usize = 32;
    let mut dst = uninit_vec::<T>(rows * cols);
    dst.par_chunks_mut(TILE * rows).enumerate().for_each(|(tc, block)| {
        // `block` holds the destination rows tc·TILE .. (source columns).
        let c0 = tc * TILE;
        let nc = block.len() / rows;
        for r0 in (0..rows).step_by(TILE) {
            let nr = TILE.min(rows - r0);
            for c in 0..nc {
                let out = &mut block[c * rows + r0..c * rows + r0 + nr];
                for (r, o) in out.iter_mut().enumerate() {
                    o.write(src[(r0 + r) * cols + c0 + c]);
                }
            }
        }
    });
    // SAFETY: every destination row was written over all `rows` columns.
    unsafe { assume_init(dst) }
}

/// The input and weight gradients of a convolution's backward pass, each computed only when its tensor
/// takes part in the graph (a network's input image and frozen weights do not). One after the other,
/// each spread over every thread: running the two at once in `rayon::join` made a ResNet-18 step at
/// 128 px 11 % slower on 2 cores (and held both results' buffers at once).
pub(crate) fn both_if_needed<A, B>(
    (need_a, a): (bool, impl FnOnce() -> A),
    (need_b, b): (bool, impl FnOnce() -> B),
) -> (Option<A>, Option<B>) {
    match (need_a, need_b) {
        (true, true) => {
            let a = a();
            (Some(a), Some(b()))
        }
        (true, false) => (Some(a()), None),
        (false, true) => (None, Some(b())),
        (false, false) => (None, None),
    }
}

/// The custom op of [`crate::ops::conv2d`] on the CPU.
struct Conv2dOp {
    g: ConvGeometry,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "ctssl-conv2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let out = dispatch!(self.name(), super::storage_dtype(s1), T => {
            let x = input_slice::<T>(self.name(), s1, l1)?;
            let w = input_slice::<T>(self.name(), s2, l2)?;
            Ok(T::storage(forward(g, x, w)?))
        })?;
        Ok((out, Shape::from((g.n, g.c_out, g.oh, g.ow))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = &self.g;
        let name = self.name();
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, x, |xs| {
                with_slice::<T, _>(name, w, |ws| {
                    with_slice::<T, _>(name, dy, |dys| {
                        let (dx, dw) = both_if_needed(
                            (x.track_op(), || backward_input(g, dys, ws)),
                            (w.track_op(), || backward_weight(g, xs, dys)),
                        );
                        Ok((dx.map(|d| tensor_from(d?, x.dims())).transpose()?, dw.map(|d| tensor_from(d?, w.dims())).transpose()?))
                    })
                })
            })
        })
    }
}

/// The custom op of [`crate::ops::conv_transpose2d`] on the CPU; `g` is the geometry of the convolution
/// whose input gradient it is.
struct ConvTranspose2dOp {
    g: ConvGeometry,
}

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "ctssl-conv-transpose2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let out = dispatch!(self.name(), super::storage_dtype(s1), T => {
            let x = input_slice::<T>(self.name(), s1, l1)?;
            let w = input_slice::<T>(self.name(), s2, l2)?;
            Ok(T::storage(backward_input(g, x, w)?))
        })?;
        Ok((out, Shape::from((g.n, g.c_in, g.h, g.w))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = &self.g;
        let name = self.name();
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, x, |xs| {
                with_slice::<T, _>(name, w, |ws| {
                    with_slice::<T, _>(name, dy, |dys| {
                        let (dx, dw) = both_if_needed(
                            (x.track_op(), || forward(g, dys, ws)),
                            (w.track_op(), || backward_weight(g, dys, xs)),
                        );
                        Ok((dx.map(|d| tensor_from(d?, x.dims())).transpose()?, dw.map(|d| tensor_from(d?, w.dims())).transpose()?))
                    })
                })
            })
        })
    }
}

/// `conv2d` on the CPU through its custom op.
pub fn conv2d(x: &Tensor, w: &Tensor, g: ConvGeometry) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, Conv2dOp { g })
}

/// `conv_transpose2d` on the CPU through its custom op.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, g: ConvGeometry) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, ConvTranspose2dOp { g })
}
