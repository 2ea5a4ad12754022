//! im2col and its adjoint col2im for one image, with contiguous inner copies.
//!
//! Row `(c·kh + i)·kw + j` of the column matrix holds, for every output position `(oy, ox)`, the input
//! value at `(c, oy·s + i·d − p, ox·s + j·d − p)` (zero outside the image). Each output row of a column
//! row is one slice copy (stride 1) or one strided gather, with the zero borders filled separately.

use std::mem::MaybeUninit;

use super::{fill, write_slice, Real};
use crate::params::ConvGeometry;

/// The range of output columns `ox` whose input column `ox·s + off − p` lies in `[0, w)`, for a tap at
/// offset `off = j·d`.
pub(crate) fn valid_range(g: &ConvGeometry, off: usize, len: usize, out: usize) -> (usize, usize) {
    // lo: smallest ox with ox·s + off ≥ p.
    let lo = if off >= g.padding { 0 } else { (g.padding - off).div_ceil(g.stride) };
    // hi: one past the largest ox with ox·s + off − p ≤ len − 1.
    let hi = if off > len - 1 + g.padding { 0 } else { (len - 1 + g.padding - off) / g.stride + 1 };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}

/// Writes the column matrix of `image` (`[c_in, h, w]`) into `col`, whose rows have stride `ld`,
/// starting at column `offset`: every element of the `k × oh·ow` block.
pub fn im2col<T: Real>(g: &ConvGeometry, image: &[T], col: &mut [MaybeUninit<T>], ld: usize, offset: usize) {
    let (oh, ow) = (g.oh, g.ow);
    let plane = g.h * g.w;
    let cols: Vec<(usize, usize)> = (0..g.kw).map(|j| valid_range(g, j * g.dilation, g.w, ow)).collect();
    for c in 0..g.c_in {
        let src_plane = &image[c * plane..(c + 1) * plane];
        for i in 0..g.kh {
            for (j, &(lo, hi)) in cols.iter().enumerate() {
                let row = (c * g.kh + i) * g.kw + j;
                let dst = &mut col[row * ld + offset..row * ld + offset + oh * ow];
                for (oy, drow) in dst.chunks_exact_mut(ow).enumerate() {
                    let iy = (oy * g.stride + i * g.dilation) as isize - g.padding as isize;
                    if iy < 0 || iy >= g.h as isize {
                        fill(drow, T::ZERO);
                        continue;
                    }
                    let src = &src_plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    fill(&mut drow[..lo], T::ZERO);
                    fill(&mut drow[hi..], T::ZERO);
                    if lo < hi {
                        let x0 = lo * g.stride + j * g.dilation - g.padding;
                        if g.stride == 1 {
                            write_slice(&mut drow[lo..hi], &src[x0..x0 + hi - lo]);
                        } else {
                            for (k, v) in drow[lo..hi].iter_mut().enumerate() {
                                v.write(src[x0 + k * g.stride]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Adds the column matrix `col` (rows of stride `ld`, starting at column `offset`) back onto `image`
/// (`[c_in, h, w]`): the adjoint of [`im2col`].
pub fn col2im<T: Real>(g: &ConvGeometry, col: &[T], ld: usize, offset: usize, image: &mut [T]) {
    let (oh, ow) = (g.oh, g.ow);
    let plane = g.h * g.w;
    let cols: Vec<(usize, usize)> = (0..g.kw).map(|j| valid_range(g, j * g.dilation, g.w, ow)).collect();
    for c in 0..g.c_in {
        let dst_plane = &mut image[c * plane..(c + 1) * plane];
        for i in 0..g.kh {
            for (j, &(lo, hi)) in cols.iter().enumerate() {
                if lo >= hi {
                    continue;
                }
                let row = (c * g.kh + i) * g.kw + j;
                let src = &col[row * ld + offset..row * ld + offset + oh * ow];
                let x0 = lo * g.stride + j * g.dilation - g.padding;
                for (oy, srow) in src.chunks_exact(ow).enumerate() {
                    let iy = (oy * g.stride + i * g.dilation) as isize - g.padding as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let drow = &mut dst_plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    if g.stride == 1 {
                        for (d, s) in drow[x0..x0 + hi - lo].iter_mut().zip(&srow[lo..hi]) {
                            *d += *s;
                        }
                    } else {
                        for (k, s) in srow[lo..hi].iter().enumerate() {
                            drow[x0 + k * g.stride] += *s;
                        }
                    }
                }
            }
        }
    }
}
