//! Intensity transforms: Gaussian noise in HU (dose-like), gamma, standardisation.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::rng::{chance, standard_normal, uniform};

/// Additive white Gaussian noise in HU with a standard deviation drawn from `sigma`, applied with
/// probability `p` — a stand-in for the quantum noise of a lower-dose scan. Applied before windowing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HuNoise {
    /// Range of the noise standard deviation in HU.
    pub sigma: (f32, f32),
    /// Probability of adding noise.
    pub p: f32,
}

impl HuNoise {
    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.sigma.0 >= 0.0
            && self.sigma.0 <= self.sigma.1
            && self.sigma.1.is_finite()
            && (0.0..=1.0).contains(&self.p))
        {
            return Err(AugmentError::InvalidConfig(format!("HU noise {self:?}")));
        }
        Ok(())
    }

    /// Add noise to `image` in place (or leave it, with probability `1 - p`).
    pub fn apply(&self, image: &mut Image, rng: &mut impl Rng) {
        let apply = chance(rng, self.p);
        let sigma = uniform(rng, self.sigma.0, self.sigma.1);
        if apply && sigma > 0.0 {
            add_gaussian_noise(image, sigma, rng);
        }
    }
}

/// Add `sigma · N(0, 1)` to every value.
pub fn add_gaussian_noise(image: &mut Image, sigma: f32, rng: &mut impl Rng) {
    for v in &mut image.data {
        *v += sigma * standard_normal(rng);
    }
}

/// Gamma correction `x ↦ x^γ` on `[0, 1]` images with `γ` drawn uniformly from `gamma`, probability `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomGamma {
    /// Range of γ (MONAI's `RandAdjustContrast` default: 0.5–4.5; a mild choice: 0.7–1.5).
    pub gamma: (f32, f32),
    /// Probability of applying it.
    pub p: f32,
}

impl RandomGamma {
    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.gamma.0 > 0.0
            && self.gamma.0 <= self.gamma.1
            && self.gamma.1.is_finite()
            && (0.0..=1.0).contains(&self.p))
        {
            return Err(AugmentError::InvalidConfig(format!("random gamma {self:?}")));
        }
        Ok(())
    }

    /// Apply in place (or not, with probability `1 - p`).
    pub fn apply(&self, image: &mut Image, rng: &mut impl Rng) {
        let apply = chance(rng, self.p);
        let gamma = uniform(rng, self.gamma.0, self.gamma.1);
        if apply {
            adjust_gamma(image, gamma);
        }
    }
}

/// `x ↦ max(x, 0)^γ`.
pub fn adjust_gamma(image: &mut Image, gamma: f32) {
    for v in &mut image.data {
        *v = v.max(0.0).powf(gamma);
    }
}

/// `(x - mean) / std` per channel; one value applies to every channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardize {
    /// Mean per channel (or one for all).
    pub mean: Vec<f32>,
    /// Standard deviation per channel (or one for all).
    pub std: Vec<f32>,
}

impl Standardize {
    /// The same mean and standard deviation for every channel.
    pub fn new(mean: f32, std: f32) -> Self {
        Standardize { mean: vec![mean], std: vec![std] }
    }

    /// Check that the standard deviations are positive and the lengths agree with `channels`.
    pub fn validate(&self, channels: usize) -> Result<()> {
        let len_ok = |n: usize| n == 1 || n == channels;
        if self.mean.is_empty()
            || self.std.is_empty()
            || !len_ok(self.mean.len())
            || !len_ok(self.std.len())
            || self.std.iter().any(|s| !(*s > 0.0 && s.is_finite()))
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err(AugmentError::InvalidConfig(format!("standardise {self:?} for {channels} channels")));
        }
        Ok(())
    }

    /// Apply in place.
    pub fn apply(&self, image: &mut Image) -> Result<()> {
        image.check()?;
        self.validate(image.channels)?;
        for (c, plane) in image.planes_mut().enumerate() {
            let mean = self.mean[if self.mean.len() == 1 { 0 } else { c }];
            let inv = 1.0 / self.std[if self.std.len() == 1 { 0 } else { c }];
            for v in plane {
                *v = (*v - mean) * inv;
            }
        }
        Ok(())
    }
}
