//! Random rotation and small random affine maps (bilinear, filled with air outside the slice).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::rng::{chance, uniform};
use crate::warp::{warp_affine, Affine2};

/// HU of air: the fill outside a rotated or shifted slice.
pub const AIR_HU: f32 = -1000.0;

/// Rotation by an angle drawn uniformly from `[-degrees, degrees]`, applied with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomRotation {
    /// Largest angle in degrees (the study: 180).
    pub degrees: f32,
    /// Probability of rotating at all.
    pub p: f32,
    /// Value outside the rotated slice (default: air, −1000 HU; use 0 on an image already in `[0, 1]`).
    pub fill: f32,
}

impl RandomRotation {
    /// Rotation up to `degrees` with probability `p`, filled with air.
    pub fn new(degrees: f32, p: f32) -> Self {
        RandomRotation { degrees, p, fill: AIR_HU }
    }

    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.degrees >= 0.0 && self.degrees.is_finite() && (0.0..=1.0).contains(&self.p) && self.fill.is_finite())
        {
            return Err(AugmentError::InvalidConfig(format!("random rotation {self:?}")));
        }
        Ok(())
    }

    /// Draw the map for an image of `height × width` (`None`: not applied this time).
    pub fn sample(&self, height: usize, width: usize, rng: &mut impl Rng) -> Option<Affine2> {
        let apply = chance(rng, self.p);
        let angle = uniform(rng, -self.degrees, self.degrees);
        apply.then(|| Affine2::rotation(angle, (width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0))
    }

    /// Rotate `image` about its centre (or return it unchanged, with probability `1 - p`).
    pub fn apply(&self, image: &Image, rng: &mut impl Rng) -> Result<Image> {
        self.validate()?;
        match self.sample(image.height, image.width, rng) {
            Some(map) => warp_affine(image, &map, self.fill),
            None => Ok(image.clone()),
        }
    }
}

/// Rotate `image` by `degrees` counter-clockwise about its centre, bilinear, `fill` outside.
pub fn rotate(image: &Image, degrees: f32, fill: f32) -> Result<Image> {
    let map = Affine2::rotation(degrees, (image.width as f32 - 1.0) / 2.0, (image.height as f32 - 1.0) / 2.0);
    warp_affine(image, &map, fill)
}

/// A small random affine map (torchvision's `RandomAffine`): rotation, translation, scale and shear,
/// applied with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomAffine {
    /// Rotation range `[-degrees, degrees]`.
    pub degrees: f32,
    /// Largest shift as a fraction of (width, height).
    pub translate: (f32, f32),
    /// Range of the zoom factor.
    pub scale: (f32, f32),
    /// Horizontal shear range `[-shear, shear]` in degrees.
    pub shear: f32,
    /// Probability of applying it.
    pub p: f32,
    /// Value outside the slice (default: air).
    pub fill: f32,
}

impl RandomAffine {
    /// A mild default: ±10°, ±6 % shift, zoom 0.9–1.1, ±5° shear, p 0.5, air fill.
    pub fn small() -> Self {
        RandomAffine { degrees: 10.0, translate: (0.06, 0.06), scale: (0.9, 1.1), shear: 5.0, p: 0.5, fill: AIR_HU }
    }

    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = self.degrees >= 0.0
            && self.degrees.is_finite()
            && (0.0..=1.0).contains(&self.translate.0)
            && (0.0..=1.0).contains(&self.translate.1)
            && self.scale.0 > 0.0
            && self.scale.0 <= self.scale.1
            && self.scale.1.is_finite()
            && (0.0..90.0).contains(&self.shear)
            && (0.0..=1.0).contains(&self.p)
            && self.fill.is_finite();
        if !ok {
            return Err(AugmentError::InvalidConfig(format!("random affine {self:?}")));
        }
        Ok(())
    }

    /// Draw the map for an image of `height × width` (`None`: not applied this time).
    pub fn sample(&self, height: usize, width: usize, rng: &mut impl Rng) -> Option<Affine2> {
        let apply = chance(rng, self.p);
        let angle = uniform(rng, -self.degrees, self.degrees).to_radians();
        let tx = (uniform(rng, -self.translate.0, self.translate.0) * width as f32).round();
        let ty = (uniform(rng, -self.translate.1, self.translate.1) * height as f32).round();
        let zoom = uniform(rng, self.scale.0, self.scale.1);
        let shear = uniform(rng, -self.shear, self.shear).to_radians().tan();
        if !apply {
            return None;
        }
        let (s, c) = angle.sin_cos();
        // zoom · R(angle) · [[1, shear], [0, 1]]
        let (a, b, cc, d) = (zoom * c, zoom * (c * shear + s), -zoom * s, zoom * (-s * shear + c));
        let (cx, cy) = ((width as f32 - 1.0) / 2.0, (height as f32 - 1.0) / 2.0);
        Some(Affine2::linear_about(a, b, cc, d, cx, cy).then(&Affine2::translation(tx, ty)))
    }

    /// Apply to `image` (or return it unchanged, with probability `1 - p`).
    pub fn apply(&self, image: &Image, rng: &mut impl Rng) -> Result<Image> {
        self.validate()?;
        match self.sample(image.height, image.width, rng) {
            Some(map) => warp_affine(image, &map, self.fill),
            None => Ok(image.clone()),
        }
    }
}
