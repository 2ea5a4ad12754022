//! Separable resampling of a rectangular region to a new size: bilinear, with optional antialiasing
//! when shrinking (the triangle filter widened by the shrink factor, as PIL and torchvision's
//! `antialias=True` do). Without antialiasing it equals `F.interpolate(mode="bilinear", align_corners=False)`.

use crate::error::{AugmentError, Result};
use crate::image::Image;

/// A rectangle inside an image, in whole pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Region {
    /// First row.
    pub top: usize,
    /// First column.
    pub left: usize,
    /// Number of rows.
    pub height: usize,
    /// Number of columns.
    pub width: usize,
}

impl Region {
    /// The whole of an `height × width` image.
    pub fn full(height: usize, width: usize) -> Region {
        Region { top: 0, left: 0, height, width }
    }
}

/// Weights of a 1-D resampling: every output reads `taps` consecutive inputs from its start (weights
/// zero-padded), so that the passes run with a fixed inner length.
#[derive(Debug, Clone)]
pub(crate) struct AxisFilter {
    /// First input index (relative to the region) of each output.
    starts: Vec<usize>,
    /// Weights stored tap-major: `weights[t * out_len + i]` is tap `t` of output `i`.
    weights: Vec<f32>,
    /// Number of taps.
    taps: usize,
    /// Number of outputs.
    out_len: usize,
}

/// Triangle (bilinear) kernel.
#[inline]
fn triangle(x: f32) -> f32 {
    let a = x.abs();
    if a < 1.0 {
        1.0 - a
    } else {
        0.0
    }
}

impl AxisFilter {
    /// Filter from `in_len` samples to `out_len` samples.
    pub(crate) fn new(in_len: usize, out_len: usize, antialias: bool) -> AxisFilter {
        let scale = in_len as f32 / out_len as f32;
        let filter_scale = if antialias && scale > 1.0 { scale } else { 1.0 };
        let support = filter_scale; // the triangle has support 1, widened by the filter scale
        let taps = ((support.ceil() as usize) * 2 + 1).min(in_len);
        let mut starts = Vec::with_capacity(out_len);
        let mut weights = vec![0f32; out_len * taps];
        let mut row = vec![0f32; taps];
        for i in 0..out_len {
            let center = (i as f32 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0) as usize).min(in_len - 1);
            let hi = ((center + support + 0.5).floor() as usize).clamp(lo + 1, in_len).min(lo + taps);
            // Shift the window left where it would run past the end; the extra taps get weight 0.
            let start = lo.min(in_len - taps);
            row.fill(0.0);
            let mut total = 0.0;
            for x in lo..hi {
                let v = triangle((x as f32 + 0.5 - center) / filter_scale);
                row[x - start] = v;
                total += v;
            }
            if total > 0.0 {
                for v in &mut row {
                    *v /= total;
                }
            } else {
                // Cannot happen for in_len > 0, but keep the output defined: nearest sample.
                row[lo - start] = 1.0;
            }
            for (t, &v) in row.iter().enumerate() {
                weights[t * out_len + i] = v;
            }
            starts.push(start);
        }
        AxisFilter { starts, weights, taps, out_len }
    }

    /// Weights of tap `t` for every output.
    #[inline]
    fn tap(&self, t: usize) -> &[f32] {
        &self.weights[t * self.out_len..(t + 1) * self.out_len]
    }

    /// Weight of tap `t` of output `i`.
    #[inline]
    fn weight(&self, t: usize, i: usize) -> f32 {
        self.weights[t * self.out_len + i]
    }
}

/// Resample `region` of every channel of `image` to `out_height × out_width`.
pub fn resize_region(
    image: &Image,
    region: Region,
    out_height: usize,
    out_width: usize,
    antialias: bool,
) -> Result<Image> {
    image.check()?;
    if out_height == 0 || out_width == 0 {
        return Err(AugmentError::InvalidConfig(format!("output size {out_height}x{out_width}")));
    }
    if region.height == 0
        || region.width == 0
        || region.top + region.height > image.height
        || region.left + region.width > image.width
    {
        return Err(AugmentError::InvalidConfig(format!(
            "region {region:?} does not fit a {}x{} image",
            image.height, image.width
        )));
    }
    let fy = AxisFilter::new(region.height, out_height, antialias);
    let fx = AxisFilter::new(region.width, out_width, antialias);
    let mut out = Image::filled(image.channels, out_height, out_width, 0.0);
    let mut tmp = vec![0f32; out_height * region.width];
    for c in 0..image.channels {
        let src = image.plane(c);
        // Vertical pass: out_height rows of the region's width (contiguous inner loop).
        for oy in 0..out_height {
            let start = fy.starts[oy];
            let row = &mut tmp[oy * region.width..(oy + 1) * region.width];
            row.fill(0.0);
            for t in 0..fy.taps {
                let wt = fy.weight(t, oy);
                if wt == 0.0 {
                    continue;
                }
                let y = region.top + start + t;
                let s = &src[y * image.width + region.left..y * image.width + region.left + region.width];
                for (r, &v) in row.iter_mut().zip(s) {
                    *r += wt * v;
                }
            }
        }
        // Horizontal pass, tap by tap: the outputs of a row accumulate independently (no serial sum).
        let dst = out.plane_mut(c);
        for oy in 0..out_height {
            let row = &tmp[oy * region.width..(oy + 1) * region.width];
            let drow = &mut dst[oy * out_width..(oy + 1) * out_width];
            for t in 0..fx.taps {
                for ((d, &w), &start) in drow.iter_mut().zip(fx.tap(t)).zip(&fx.starts) {
                    *d += w * row[start + t];
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_is_a_copy() {
        let data: Vec<f32> = (0..35).map(|v| v as f32 * 1.5 - 7.0).collect();
        let img = Image::from_vec(5, 7, data.clone()).unwrap();
        let out = resize_region(&img, Region::full(5, 7), 5, 7, true).unwrap();
        for (a, b) in out.data.iter().zip(&data) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn upscale_matches_bilinear_align_corners_false() {
        // 1-D row [0, 10] upscaled to 4: torch gives [0, 2.5, 7.5, 10].
        let img = Image::from_vec(1, 2, vec![0.0, 10.0]).unwrap();
        let out = resize_region(&img, Region::full(1, 2), 1, 4, true).unwrap();
        let want = [0.0, 2.5, 7.5, 10.0];
        for (a, b) in out.data.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{:?}", out.data);
        }
    }

    #[test]
    fn antialiased_halving_averages_pairs() {
        // Shrinking by 2 with the widened triangle: weights 1/8, 3/8, 3/8, 1/8 (normalised at borders).
        let img = Image::from_vec(1, 4, vec![0.0, 4.0, 8.0, 12.0]).unwrap();
        let out = resize_region(&img, Region::full(1, 4), 1, 2, true).unwrap();
        let first = (0.0 * 3.0 + 4.0 * 3.0 + 8.0 * 1.0) / 7.0;
        assert!((out.data[0] - first).abs() < 1e-4, "{:?}", out.data);
        let plain = resize_region(&img, Region::full(1, 4), 1, 2, false).unwrap();
        assert!((plain.data[0] - 2.0).abs() < 1e-5 && (plain.data[1] - 10.0).abs() < 1e-5);
    }

    #[test]
    fn constant_stays_constant_and_region_is_respected() {
        let mut img = Image::filled(1, 20, 20, -1000.0);
        for y in 5..15 {
            for x in 5..15 {
                img.data[y * 20 + x] = 40.0;
            }
        }
        let out = resize_region(&img, Region { top: 5, left: 5, height: 10, width: 10 }, 7, 13, true).unwrap();
        assert!(out.data.iter().all(|&v| (v - 40.0).abs() < 1e-3));
        assert!(resize_region(&img, Region { top: 15, left: 0, height: 10, width: 5 }, 4, 4, true).is_err());
    }
}
