//! Separable Gaussian blur with reflect padding (torchvision's `GaussianBlur` border mode).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::rng::{chance, uniform};

/// Gaussian blur with `σ` drawn uniformly from `sigma`, applied with probability `p`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GaussianBlur {
    /// Range of σ in pixels at `reference_size` (SimCLR, MoCo v2, BYOL, SwAV, DINO: 0.1–2.0 at 224 px).
    pub sigma: (f32, f32),
    /// Probability of blurring.
    pub p: f32,
    /// When set, σ is multiplied by `image side / reference_size`, so a 64-px view is blurred as much,
    /// relative to its content, as a 224-px one.
    pub reference_size: Option<usize>,
}

impl GaussianBlur {
    /// The published 0.1–2.0 σ range at 224 px with probability `p`.
    pub fn published(p: f32) -> Self {
        GaussianBlur { sigma: (0.1, 2.0), p, reference_size: Some(224) }
    }

    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = self.sigma.0 >= 0.0
            && self.sigma.0 <= self.sigma.1
            && self.sigma.1.is_finite()
            && (0.0..=1.0).contains(&self.p)
            && self.reference_size != Some(0);
        if !ok {
            return Err(AugmentError::InvalidConfig(format!("gaussian blur {self:?}")));
        }
        Ok(())
    }

    /// Blur in place (or not, with probability `1 - p`).
    pub fn apply(&self, image: &mut Image, rng: &mut impl Rng) {
        let apply = chance(rng, self.p);
        let mut sigma = uniform(rng, self.sigma.0, self.sigma.1);
        if let Some(r) = self.reference_size {
            sigma *= image.height.max(image.width) as f32 / r as f32;
        }
        if apply {
            gaussian_blur(image, sigma);
        }
    }
}

/// Normalised 1-D Gaussian kernel of radius `ceil(3σ)` (at most `max_radius`).
pub fn gaussian_kernel(sigma: f32, max_radius: usize) -> Vec<f32> {
    if !(sigma > 0.0 && sigma.is_finite()) {
        return vec![1.0];
    }
    let radius = ((3.0 * sigma).ceil() as usize).min(max_radius);
    let mut k: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let x = i as f32 - radius as f32;
            (-0.5 * x * x / (sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = k.iter().sum();
    for v in &mut k {
        *v /= total;
    }
    k
}

/// Mirror an index into `[0, n)` without repeating the edge (`-1 → 1`); valid for `-n < i < 2n - 1`.
#[inline]
fn reflect(i: isize, n: isize) -> usize {
    let j = if i < 0 {
        -i
    } else if i >= n {
        2 * n - 2 - i
    } else {
        i
    };
    j.clamp(0, n - 1) as usize
}

/// Blur every channel in place with a Gaussian of standard deviation `sigma` pixels (no-op for σ ≤ 0).
pub fn gaussian_blur(image: &mut Image, sigma: f32) {
    if !(sigma > 0.0 && sigma.is_finite() && image.is_valid()) {
        return;
    }
    let (h, w) = (image.height, image.width);
    let kernel = gaussian_kernel(sigma, h.min(w).saturating_sub(1));
    let r = kernel.len() / 2;
    if r == 0 {
        return;
    }
    let mut padded = vec![0f32; w + 2 * r];
    let mut tmp = vec![0f32; h * w];
    for plane in image.planes_mut() {
        // Horizontal pass into tmp, tap by tap over a reflect-padded row (contiguous, vectorises).
        for y in 0..h {
            let row = &plane[y * w..(y + 1) * w];
            padded[r..r + w].copy_from_slice(row);
            for i in 0..r {
                padded[r - 1 - i] = row[reflect(-(i as isize) - 1, w as isize)];
                padded[r + w + i] = row[reflect((w + i) as isize, w as isize)];
            }
            let out = &mut tmp[y * w..(y + 1) * w];
            out.fill(0.0);
            for (k, &kv) in kernel.iter().enumerate() {
                for (t, &p) in out.iter_mut().zip(&padded[k..k + w]) {
                    *t += kv * p;
                }
            }
        }
        // Vertical pass back into the plane (row-wise accumulation, contiguous inner loop).
        for y in 0..h {
            let out = &mut plane[y * w..(y + 1) * w];
            out.fill(0.0);
            for (k, &kv) in kernel.iter().enumerate() {
                let sy = reflect(y as isize + k as isize - r as isize, h as isize);
                for (o, &t) in out.iter_mut().zip(&tmp[sy * w..(sy + 1) * w]) {
                    *o += kv * t;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel(1.5, 100);
        assert_eq!(k.len(), 11);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((k[0] - k[10]).abs() < 1e-9);
    }

    #[test]
    fn blur_keeps_constants_and_mean_of_an_impulse() {
        let mut c = Image::filled(1, 9, 9, 0.3);
        gaussian_blur(&mut c, 1.0);
        assert!(c.data.iter().all(|&v| (v - 0.3).abs() < 1e-6));
        let mut img = Image::filled(1, 21, 21, 0.0);
        img.data[10 * 21 + 10] = 1.0;
        gaussian_blur(&mut img, 1.0);
        assert!((img.data.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(img.data[10 * 21 + 10] < 0.2 && img.data[10 * 21 + 11] > 0.05);
        assert_eq!(reflect(-1, 5), 1);
        assert_eq!(reflect(5, 5), 3);
    }
}
