//! Crops and resizes: random resized crop (torchvision's sampling), resize, centre crop.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::resample::{resize_region, Region};
use crate::rng::uniform;

/// Random resized crop: a region of random area fraction and aspect ratio, resized to `size × size`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomResizedCrop {
    /// Output side length in pixels.
    pub size: usize,
    /// Range of the crop's area as a fraction of the image's (torchvision default `(0.08, 1.0)`).
    pub scale: (f32, f32),
    /// Range of the crop's aspect ratio width / height (default `(3/4, 4/3)`), sampled log-uniformly.
    pub ratio: (f32, f32),
    /// Widen the bilinear filter when shrinking (torchvision's `antialias=True`, its default for tensors).
    pub antialias: bool,
}

impl RandomResizedCrop {
    /// torchvision's defaults (scale 0.08–1, ratio 3/4–4/3, antialias) at `size`.
    pub fn new(size: usize) -> Self {
        RandomResizedCrop { size, scale: (0.08, 1.0), ratio: (3.0 / 4.0, 4.0 / 3.0), antialias: true }
    }

    /// The same with another scale range.
    pub fn with_scale(mut self, lo: f32, hi: f32) -> Self {
        self.scale = (lo, hi);
        self
    }

    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        let (s0, s1) = self.scale;
        let (r0, r1) = self.ratio;
        if self.size == 0 || !(s0 > 0.0 && s0 <= s1 && s1.is_finite()) || !(r0 > 0.0 && r0 <= r1 && r1.is_finite()) {
            return Err(AugmentError::InvalidConfig(format!("random resized crop {self:?}")));
        }
        Ok(())
    }

    /// Draw the crop region for an image of `height × width` (torchvision's `get_params`: up to 10 tries,
    /// then a centre crop clamped to the ratio range).
    pub fn sample_region(&self, height: usize, width: usize, rng: &mut impl Rng) -> Region {
        if height == 0 || width == 0 {
            return Region { top: 0, left: 0, height, width }; // an empty image: resizing it reports the error
        }
        let area = (height * width) as f32;
        let (log_r0, log_r1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target_area = area * uniform(rng, self.scale.0, self.scale.1);
            let aspect = uniform(rng, log_r0, log_r1).exp();
            let w = (target_area * aspect).sqrt().round() as usize;
            let h = (target_area / aspect).sqrt().round() as usize;
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return Region { top, left, height: h, width: w };
            }
        }
        let in_ratio = width as f32 / height as f32;
        let (h, w) = if in_ratio < self.ratio.0 {
            (((width as f32 / self.ratio.0).round() as usize).clamp(1, height), width)
        } else if in_ratio > self.ratio.1 {
            (height, ((height as f32 * self.ratio.1).round() as usize).clamp(1, width))
        } else {
            (height, width)
        };
        Region { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }
    }

    /// Crop a random region of `image` and resize it to `size × size`.
    pub fn apply(&self, image: &Image, rng: &mut impl Rng) -> Result<Image> {
        self.validate()?;
        let region = self.sample_region(image.height, image.width, rng);
        resize_region(image, region, self.size, self.size, self.antialias)
    }
}

/// Resize the whole image to `height × width` (bilinear).
pub fn resize(image: &Image, height: usize, width: usize, antialias: bool) -> Result<Image> {
    resize_region(image, Region::full(image.height, image.width), height, width, antialias)
}

/// The central `height × width` region; where the image is smaller it is padded with `fill` (as torchvision pads).
pub fn center_crop(image: &Image, height: usize, width: usize, fill: f32) -> Result<Image> {
    image.check()?;
    if height == 0 || width == 0 {
        return Err(AugmentError::InvalidConfig(format!("centre crop {height}x{width}")));
    }
    let mut out = Image::filled(image.channels, height, width, fill);
    // Offsets of the crop in the image (may be negative: padding). torchvision rounds the offset.
    let top = ((image.height as f64 - height as f64) / 2.0).round() as isize;
    let left = ((image.width as f64 - width as f64) / 2.0).round() as isize;
    for c in 0..image.channels {
        let src = image.plane(c);
        let dst = out.plane_mut(c);
        for oy in 0..height {
            let y = oy as isize + top;
            if y < 0 || y >= image.height as isize {
                continue;
            }
            let x_lo = (-left).max(0) as usize;
            let x_hi = ((image.width as isize - left).min(width as isize)).max(0) as usize;
            for ox in x_lo..x_hi.max(x_lo) {
                dst[oy * width + ox] = src[y as usize * image.width + (ox as isize + left) as usize];
            }
        }
    }
    Ok(out)
}

/// How a view gets its size: the first, geometric step of every view.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum CropStep {
    /// Random resized crop.
    RandomResized(RandomResizedCrop),
    /// Resize the whole slice to `size × size`.
    Resize {
        /// Output side.
        size: usize,
        /// Antialias when shrinking.
        antialias: bool,
    },
    /// Resize the whole slice to `resize × resize`, then take the central `crop × crop` (evaluation).
    ResizeCenterCrop {
        /// Side after resizing.
        resize: usize,
        /// Side of the central crop.
        crop: usize,
    },
}

impl CropStep {
    /// Output side length.
    pub fn size(&self) -> usize {
        match *self {
            CropStep::RandomResized(c) => c.size,
            CropStep::Resize { size, .. } => size,
            CropStep::ResizeCenterCrop { crop, .. } => crop,
        }
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            CropStep::RandomResized(c) => c.validate(),
            CropStep::Resize { size, .. } if size > 0 => Ok(()),
            CropStep::ResizeCenterCrop { resize, crop } if resize > 0 && crop > 0 => Ok(()),
            other => Err(AugmentError::InvalidConfig(format!("crop step {other:?}"))),
        }
    }

    /// Apply to an image (`fill` pads a centre crop larger than the resized image).
    pub fn apply(&self, image: &Image, rng: &mut impl Rng, fill: f32) -> Result<Image> {
        match *self {
            CropStep::RandomResized(c) => c.apply(image, rng),
            CropStep::Resize { size, antialias } => resize(image, size, size, antialias),
            CropStep::ResizeCenterCrop { resize: r, crop } => {
                center_crop(&resize(image, r, r, true)?, crop, crop, fill)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::view_rng;

    #[test]
    fn center_crop_takes_the_middle_and_pads() {
        let img = Image::from_vec(4, 4, (0..16).map(|v| v as f32).collect()).unwrap();
        let c = center_crop(&img, 2, 2, -1.0).unwrap();
        assert_eq!(c.data, vec![5.0, 6.0, 9.0, 10.0]);
        let p = center_crop(&img, 6, 6, -1.0).unwrap();
        assert_eq!(p.at(0, 0, 0), -1.0);
        assert_eq!(p.at(0, 1, 1), 0.0);
        assert_eq!(p.at(0, 4, 4), 15.0);
        assert_eq!(p.at(0, 5, 5), -1.0);
    }

    #[test]
    fn fallback_is_a_centre_crop_within_ratio() {
        // Scale above 1 can never fit: the fallback clamps a 10x40 image to ratio 4/3.
        let rrc = RandomResizedCrop { size: 8, scale: (2.0, 3.0), ratio: (0.75, 4.0 / 3.0), antialias: true };
        let r = rrc.sample_region(10, 40, &mut view_rng(1, 0, 0, 0));
        assert_eq!((r.height, r.width), (10, 13));
        assert_eq!((r.top, r.left), (0, 13));
    }
}
