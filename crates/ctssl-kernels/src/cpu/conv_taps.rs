//! Convolutions of small feature maps as one matrix product per kernel tap, over only the output
//! positions where that tap reads inside the image.
//!
//! On a small map most of a padded convolution's column matrix is zeros: at 2×2 (the last stage of a
//! ResNet-18 at 64 px) only 16 of a 3×3 kernel's 36 (tap, position) pairs read inside the image, at
//! 4×4 100 of 144, at 8×8 484 of 576. im2col + one product multiplies every one of those zeros. Here
//! each tap `t` multiplies its weight matrix `W_t [c_out × c_in]` with the input values it really reads
//! (gathered for its valid output positions) and adds the product onto those positions, so no zero is
//! multiplied; the input gradient and the weight gradient are the same sums read the other way.
//!
//! Activations are rearranged to a position-major layout `[c, positions, images]`, so that what a tap
//! reads for a run of output positions is one contiguous slice (`images` values per position, a whole
//! row of the run at stride 1); a tap's weight matrix is read in place (every 9th value of the weight
//! tensor for a 3×3 kernel: `gemm` packs its operands anyway, and reads that view as fast as a
//! contiguous one). Work is split over fixed groups of images and blocks of output rows, so results do
//! not depend on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::im2col::valid_range;
use super::matmul::{matmul_strided, matmul_uninit, View};
use super::{assume_init, assume_init_ref, fill, uninit_vec, write_slice, Real};
use crate::params::ConvGeometry;

/// Use the tap-wise kernels when at most this share of the (tap, output position) pairs reads inside
/// the image (the rest would be multiplications by zero in im2col's product).
const MAX_VALID_SHARE: f64 = 0.9;

/// The fewest input channels for which a tap's product (inner dimension `c_in`) is worth a call.
const MIN_CHANNELS: usize = 32;

/// Images per group in the forward pass and the input gradient: enough that a tap's product has about
/// this many columns (images × output positions). A group's gathered inputs then stay in cache while
/// every output row is computed from them.
const GROUP_COLUMNS: usize = 512;

/// Parallel tasks of one call (image groups × blocks of output rows); fixed, so that results do not
/// depend on the number of threads.
const TASKS: usize = 4;

/// A run of output positions of one tap whose input positions are consecutive too: output positions
/// `out .. out + len` read input positions `inp .. inp + len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    out: usize,
    inp: usize,
    len: usize,
}

/// One kernel tap `t = i·kw + j` and the output positions where it reads inside the image.
#[derive(Debug, Clone)]
pub(crate) struct Tap {
    t: usize,
    runs: Vec<Run>,
    /// Σ run lengths: the number of valid output positions.
    count: usize,
}

/// The taps of `g` (all `kh·kw` of them, in order, some possibly with no valid position).
pub(crate) fn taps(g: &ConvGeometry) -> Vec<Tap> {
    let (s, d, p) = (g.stride, g.dilation, g.padding);
    let mut out = Vec::with_capacity(g.kh * g.kw);
    for i in 0..g.kh {
        let (y0, y1) = valid_range(g, i * d, g.h, g.oh);
        for j in 0..g.kw {
            let (x0, x1) = valid_range(g, j * d, g.w, g.ow);
            let mut runs: Vec<Run> = Vec::new();
            if x0 < x1 {
                for oy in y0..y1 {
                    let iy = oy * s + i * d - p;
                    let pieces: Vec<Run> = if s == 1 {
                        vec![Run { out: oy * g.ow + x0, inp: iy * g.w + x0 + j * d - p, len: x1 - x0 }]
                    } else {
                        (x0..x1)
                            .map(|ox| Run { out: oy * g.ow + ox, inp: iy * g.w + ox * s + j * d - p, len: 1 })
                            .collect()
                    };
                    for r in pieces {
                        match runs.last_mut() {
                            Some(last) if last.out + last.len == r.out && last.inp + last.len == r.inp => {
                                last.len += r.len
                            }
                            _ => runs.push(r),
                        }
                    }
                }
            }
            let count = runs.iter().map(|r| r.len).sum();
            out.push(Tap { t: i * g.kw + j, runs, count });
        }
    }
    out
}

/// Whether the tap-wise kernels should run `g` (instead of im2col + one product).
pub(crate) fn worthwhile(g: &ConvGeometry) -> bool {
    let total = g.kh * g.kw * g.oh * g.ow;
    if g.kh * g.kw < 2 || g.c_in < MIN_CHANNELS || total == 0 {
        return false;
    }
    let valid: usize = taps(g).iter().map(|t| t.count).sum();
    (valid as f64) < MAX_VALID_SHARE * total as f64
}

/// `[n, c, p]` → `[c, p, n]`.
fn to_positions<T: Real>(src: &[T], n: usize, c: usize, p: usize) -> Vec<T> {
    let mut dst = uninit_vec::<T>(n * c * p);
    dst.par_chunks_mut((p * n).max(1)).enumerate().for_each(|(ch, d)| {
        for img in 0..n {
            for (q, v) in src[(img * c + ch) * p..(img * c + ch + 1) * p].iter().enumerate() {
                d[q * n + img].write(*v);
            }
        }
    });
    // SAFETY: every (channel, position, image) element was written.
    unsafe { assume_init(dst) }
}

/// `[c, p, n]` → `[n, c, p]` (every element of `dst`).
fn from_positions<T: Real>(src: &[T], n: usize, c: usize, p: usize, dst: &mut [MaybeUninit<T>]) {
    dst.par_chunks_mut((c * p).max(1)).enumerate().for_each(|(img, d)| {
        for ch in 0..c {
            let s = &src[ch * p * n..(ch + 1) * p * n];
            for (q, o) in d[ch * p..(ch + 1) * p].iter_mut().enumerate() {
                o.write(s[q * n + img]);
            }
        }
    });
}

/// For each tap, the rows `[c × count·n]` of the values it reads from `src` (`[c, positions, n]`):
/// at its runs' input positions (`at_input`) or output positions. One buffer per tap.
fn gather_taps<T: Real>(src: &[T], c: usize, n: usize, taps: &[Tap], at_input: bool) -> Vec<Vec<T>> {
    let positions = src.len() / (c * n).max(1);
    taps.par_iter()
        .map(|tap| {
            let ld = tap.count * n;
            let mut buf = uninit_vec::<T>(c * ld);
            if ld > 0 {
                for (ch, row) in buf.chunks_exact_mut(ld).enumerate() {
                    let plane = &src[ch * positions * n..(ch + 1) * positions * n];
                    let mut q = 0;
                    for r in &tap.runs {
                        let at = if at_input { r.inp } else { r.out };
                        write_slice(&mut row[q * n..(q + r.len) * n], &plane[at * n..(at + r.len) * n]);
                        q += r.len;
                    }
                }
            }
            // SAFETY: the runs cover all `count` positions of every row.
            unsafe { assume_init(buf) }
        })
        .collect()
}

/// Adds, for every tap, `A_t · B_t` onto the rows of `dst` (`[rows, positions, n]`, zeroed here), in
/// parallel blocks of `br` rows: `B_t` is the tap's gathered `[k × count·n]`, `A_t` the `[rows × k]` matrix
/// given by `a(t, first_row)`, and the product's columns land on the runs' output positions
/// (`at_input == false`) or input positions.
#[allow(clippy::too_many_arguments)]
fn accumulate_taps<'a, T: Real>(
    dst: &mut [MaybeUninit<T>],
    rows: usize,
    n: usize,
    k: usize,
    taps: &[Tap],
    gathered: &[Vec<T>],
    at_input: bool,
    br: usize,
    a: impl Fn(usize, usize) -> View<'a, T> + Sync,
) {
    let plane = dst.len() / rows.max(1);
    dst.par_chunks_mut((br * plane).max(1)).enumerate().for_each(|(b, block)| {
        let r0 = b * br;
        let nr = block.len() / plane;
        fill(block, T::ZERO);
        // SAFETY: just filled.
        let block = unsafe { &mut *(block as *mut [MaybeUninit<T>] as *mut [T]) };
        let mut tmp: Vec<MaybeUninit<T>> = Vec::new();
        for (tap, cols) in taps.iter().zip(gathered) {
            if tap.count == 0 {
                continue;
            }
            let ld = tap.count * n;
            let av = a(tap.t, r0);
            let bv = View::rows(cols, ld);
            if let [run] = tap.runs[..] {
                // One run: the product adds straight onto the destination.
                let at = if at_input { run.inp } else { run.out };
                matmul_strided(nr, ld, k, &mut block[at * n..], (plane, 1), true, av, bv, 1);
                continue;
            }
            tmp.resize(nr * ld, MaybeUninit::uninit());
            matmul_uninit(nr, ld, k, &mut tmp, (ld, 1), av, bv, 1);
            // SAFETY: the product wrote all nr × ld elements.
            let prod = unsafe { assume_init_ref(&tmp[..nr * ld]) };
            for (drow, prow) in block.chunks_exact_mut(plane).zip(prod.chunks_exact(ld)) {
                let mut q = 0;
                for r in &tap.runs {
                    let at = if at_input { r.inp } else { r.out };
                    for (d, v) in drow[at * n..(at + r.len) * n].iter_mut().zip(&prow[q * n..(q + r.len) * n]) {
                        *d += *v;
                    }
                    q += r.len;
                }
            }
        }
    });
}

/// The forward pass (`forward`) or the input gradient, per group of images: the source (`[n, c_src,
/// p_src]`: the input, or the output gradient) rearranged and gathered per tap, then every tap's product
/// with `a(t, first_row)` added onto the destination `[n, c_dst, p_dst]`.
#[allow(clippy::too_many_arguments)]
fn tapwise<'a, T: Real>(
    g: &ConvGeometry,
    src: &[T],
    (c_src, p_src): (usize, usize),
    (c_dst, p_dst): (usize, usize),
    taps: &[Tap],
    forward: bool,
    a: impl Fn(usize, usize) -> View<'a, T> + Sync,
) -> Vec<T> {
    let n = g.n;
    let per_group = (GROUP_COLUMNS / (g.oh * g.ow).max(1)).clamp(1, n.max(1));
    let groups = n.div_ceil(per_group);
    let br = c_dst.div_ceil(TASKS.div_ceil(groups)).max(1);
    let mut dst = uninit_vec::<T>(n * c_dst * p_dst);
    dst.par_chunks_mut((per_group * c_dst * p_dst).max(1)).enumerate().for_each(|(gi, out)| {
        let size = out.len() / (c_dst * p_dst).max(1);
        let first = gi * per_group;
        let pm = to_positions(&src[first * c_src * p_src..(first + size) * c_src * p_src], size, c_src, p_src);
        let cols = gather_taps(&pm, c_src, size, taps, forward);
        let mut acc = uninit_vec::<T>(c_dst * p_dst * size);
        accumulate_taps(&mut acc, c_dst, size, c_src, taps, &cols, !forward, br, &a);
        // SAFETY: accumulate_taps zeroes and then adds onto every element.
        from_positions(unsafe { assume_init_ref(&acc) }, size, c_dst, p_dst, out);
    });
    // SAFETY: every group's chunk was written by from_positions.
    unsafe { assume_init(dst) }
}

/// Forward: `y[n, c_out, oh, ow]` from `x[n, c_in, h, w]` and `w[c_out, c_in, kh, kw]`.
pub(crate) fn forward<T: Real>(g: &ConvGeometry, x: &[T], w: &[T]) -> Vec<T> {
    let nt = g.kh * g.kw;
    // Rows r0.. of W_t, read in place: element (r, k) is w[r0 + r, k, t] (gemm packs it anyway).
    tapwise(g, x, (g.c_in, g.h * g.w), (g.c_out, g.oh * g.ow), &taps(g), true, |t, r0| View {
        data: w,
        offset: r0 * g.c_in * nt + t,
        rs: g.c_in * nt,
        cs: nt,
    })
}

/// Input gradient: `dx[n, c_in, h, w]` from `dy[n, c_out, oh, ow]` and `w[c_out, c_in, kh, kw]`.
pub(crate) fn backward_input<T: Real>(g: &ConvGeometry, dy: &[T], w: &[T]) -> Vec<T> {
    let nt = g.kh * g.kw;
    // Rows r0.. of W_tᵀ, read in place: element (r, k) is w[k, r0 + r, t].
    tapwise(g, dy, (g.c_out, g.oh * g.ow), (g.c_in, g.h * g.w), &taps(g), false, |t, r0| View {
        data: w,
        offset: r0 * nt + t,
        rs: nt,
        cs: g.c_in * nt,
    })
}

/// Weight gradient: `dw[c_out, c_in, kh, kw]` from `x[n, c_in, h, w]` and `dy[n, c_out, oh, ow]`.
pub(crate) fn backward_weight<T: Real>(g: &ConvGeometry, x: &[T], dy: &[T]) -> Vec<T> {
    let (n, nt) = (g.n, g.kh * g.kw);
    let (p_in, p_out) = (g.h * g.w, g.oh * g.ow);
    let taps = taps(g);
    let (x_pm, dy_pm) = rayon::join(|| to_positions(x, n, g.c_in, p_in), || to_positions(dy, n, g.c_out, p_out));
    let (xs, dys) =
        rayon::join(|| gather_taps(&x_pm, g.c_in, n, &taps, true), || gather_taps(&dy_pm, g.c_out, n, &taps, false));
    let mat = g.c_out * g.c_in;
    // dW_t [c_out × c_in] = dy_t · x_tᵀ over the tap's valid positions, one product per tap.
    let mut dwt = uninit_vec::<T>(nt * mat);
    dwt.par_chunks_mut(mat).enumerate().with_max_len(1).for_each(|(t, d)| {
        let ld = taps[t].count * n;
        if ld == 0 {
            fill(d, T::ZERO);
            return;
        }
        matmul_uninit(g.c_out, g.c_in, ld, d, (g.c_in, 1), View::rows(&dys[t], ld), View::rows(&xs[t], ld).t(), 1);
    });
    // SAFETY: every tap's block was written by a product or the zero fill.
    let dwt = unsafe { assume_init(dwt) };
    // [taps, c_out, c_in] → [c_out, c_in, taps].
    let mut dw = uninit_vec::<T>(nt * mat);
    dw.par_chunks_mut(g.c_in * nt).enumerate().for_each(|(co, d)| {
        for ci in 0..g.c_in {
            for t in 0..nt {
                d[ci * nt + t].write(dwt[t * mat + co * g.c_in + ci]);
            }
        }
    });
    // SAFETY: every element was written.
    unsafe { assume_init(dw) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Conv2dParams;

    fn values(len: usize, seed: u64) -> Vec<f64> {
        (0..len).map(|i| ((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0 - 1.0).collect()
    }

    /// Every element of `a` and `b` within `tol` relative to the largest magnitude of `b`.
    fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1e-30f64, |m, v| m.max(v.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    /// The tap-wise kernels against im2col + one product, on geometries chosen to cover small and
    /// non-square maps, strides, paddings wider than the kernel's reach, dilation, channel counts that
    /// do not divide into the row blocks, taps that never read inside the image, and batches split into
    /// several groups of images.
    #[test]
    fn tap_kernels_equal_im2col_kernels() {
        let cases: &[([usize; 4], [usize; 4], Conv2dParams)] = &[
            ([3, 5, 2, 2], [7, 5, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 }),
            ([2, 6, 4, 3], [5, 6, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 }),
            ([2, 4, 5, 7], [3, 4, 3, 3], Conv2dParams { stride: 2, padding: 1, dilation: 1 }),
            ([1, 3, 6, 6], [9, 3, 3, 3], Conv2dParams { stride: 1, padding: 2, dilation: 2 }),
            ([2, 3, 3, 3], [4, 3, 5, 5], Conv2dParams { stride: 1, padding: 3, dilation: 1 }),
            ([2, 2, 4, 4], [3, 2, 1, 1], Conv2dParams { stride: 2, padding: 0, dilation: 1 }),
            ([2, 3, 1, 1], [2, 3, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 }),
            ([4, 17, 8, 8], [33, 17, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 }),
            ([3, 8, 7, 5], [6, 8, 2, 3], Conv2dParams { stride: 3, padding: 1, dilation: 1 }),
            // Several groups of images, the last one short (8 + 1 and 5 + 2 images).
            ([9, 4, 8, 8], [5, 4, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 }),
            ([7, 3, 20, 20], [4, 3, 3, 3], Conv2dParams { stride: 2, padding: 1, dilation: 1 }),
        ];
        for (i, (xd, wd, p)) in cases.iter().enumerate() {
            let g = ConvGeometry::new(xd, wd, *p).unwrap();
            let x = values(g.n * g.c_in * g.h * g.w, 3 * i as u64);
            let w = values(g.c_out * g.c_in * g.kh * g.kw, 3 * i as u64 + 1);
            let dy = values(g.n * g.c_out * g.oh * g.ow, 3 * i as u64 + 2);
            let name = format!("case {i} {g:?}");
            assert_close(
                &format!("{name} forward"),
                &forward(&g, &x, &w),
                &super::super::conv::im2col_forward(&g, &x, &w),
                1e-12,
            );
            assert_close(
                &format!("{name} input gradient"),
                &backward_input(&g, &dy, &w),
                &super::super::conv::im2col_backward_input(&g, &dy, &w),
                1e-12,
            );
            assert_close(
                &format!("{name} weight gradient"),
                &backward_weight(&g, &x, &dy),
                &super::super::conv::im2col_backward_weight(&g, &x, &dy),
                1e-12,
            );
        }
    }

    #[test]
    fn taps_count_the_reads_inside_the_image() {
        let g = ConvGeometry::new(&[1, 64, 2, 2], &[64, 64, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 })
            .unwrap();
        let t = taps(&g);
        assert_eq!(t.iter().map(|t| t.count).sum::<usize>(), 16);
        assert_eq!(t[4].runs, vec![Run { out: 0, inp: 0, len: 4 }], "the centre tap is one run over the map");
        assert!(worthwhile(&g));
        let big =
            ConvGeometry::new(&[1, 64, 32, 32], &[64, 64, 3, 3], Conv2dParams { stride: 1, padding: 1, dilation: 1 })
                .unwrap();
        assert!(!worthwhile(&big), "at 32×32, 94 % of the pairs read inside the image");
    }
}
