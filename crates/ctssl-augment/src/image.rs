//! A small planar `f32` image: channels × height × width, row-major.

use crate::error::{AugmentError, Result};

/// A planar image (CHW, row-major, `f32`): HU before windowing, `[0, 1]` (or standardised) after.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Number of channels (1 for a HU slice; one per window with multi-window channels).
    pub channels: usize,
    /// Height in pixels (rows).
    pub height: usize,
    /// Width in pixels (columns).
    pub width: usize,
    /// `channels * height * width` values, channel-major then row-major.
    pub data: Vec<f32>,
}

impl Image {
    /// A single-channel image from row-major values; fails when the length is not `height * width`.
    pub fn from_vec(height: usize, width: usize, data: Vec<f32>) -> Result<Image> {
        Image::with_channels(1, height, width, data)
    }

    /// An image with `channels` planes; fails when the length is not `channels * height * width` or a size is 0.
    pub fn with_channels(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Image> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(AugmentError::InvalidImage(format!("empty image {channels}x{height}x{width}")));
        }
        if data.len() != channels * height * width {
            return Err(AugmentError::InvalidImage(format!(
                "{} values for a {channels}x{height}x{width} image",
                data.len()
            )));
        }
        Ok(Image { channels, height, width, data })
    }

    /// An image filled with one value.
    pub fn filled(channels: usize, height: usize, width: usize, value: f32) -> Image {
        Image { channels, height, width, data: vec![value; channels * height * width] }
    }

    /// Whether the sizes are non-zero and `data` has `channels * height * width` values (the fields are
    /// public, so an image built by hand may not be).
    pub fn is_valid(&self) -> bool {
        self.channels > 0
            && self.height > 0
            && self.width > 0
            && self.data.len() == self.channels * self.height * self.width
    }

    /// [`Image::is_valid`] as a `Result`.
    pub fn check(&self) -> Result<()> {
        if self.is_valid() {
            Ok(())
        } else {
            Err(AugmentError::InvalidImage(format!(
                "{} values for a {}x{}x{} image",
                self.data.len(),
                self.channels,
                self.height,
                self.width
            )))
        }
    }

    /// Number of pixels in one plane.
    pub fn plane_len(&self) -> usize {
        self.height * self.width
    }

    /// Channel `c` as a slice.
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }

    /// Channel `c` as a mutable slice.
    pub fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.plane_len();
        &mut self.data[c * n..(c + 1) * n]
    }

    /// Iterate over the channels as mutable slices.
    pub fn planes_mut(&mut self) -> std::slice::ChunksExactMut<'_, f32> {
        let n = self.plane_len();
        self.data.chunks_exact_mut(n)
    }

    /// Value at channel `c`, row `y`, column `x` (panics when out of bounds, like slice indexing).
    #[inline]
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Smallest and largest value, NaNs ignored (`(inf, -inf)` for an image of NaNs only).
    pub fn min_max(&self) -> (f32, f32) {
        // Eight independent lanes so that the loop vectorises (a single fold is one long dependency chain).
        let mut lo = [f32::INFINITY; 8];
        let mut hi = [f32::NEG_INFINITY; 8];
        let chunks = self.data.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for i in 0..8 {
                lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
                hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
            }
        }
        let mut l = f32::INFINITY;
        let mut h = f32::NEG_INFINITY;
        for &v in lo.iter().chain(rest) {
            l = if v < l { v } else { l };
        }
        for &v in hi.iter().chain(rest) {
            h = if v > h { v } else { h };
        }
        (l, h)
    }

    /// Mean of all values (0 for an empty image).
    pub fn mean(&self) -> f32 {
        let sum: f64 = self.data.iter().map(|&v| v as f64).sum();
        (sum / self.data.len().max(1) as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_covers_lanes_and_remainder_and_skips_nan() {
        let mut data: Vec<f32> = (0..21).map(|v| v as f32).collect();
        data[3] = f32::NAN;
        data[20] = -5.0; // in the remainder
        data[9] = 99.0;
        let img = Image::from_vec(3, 7, data).unwrap();
        assert_eq!(img.min_max(), (-5.0, 99.0));
        assert_eq!(Image::filled(1, 1, 1, 2.5).min_max(), (2.5, 2.5));
    }
}
