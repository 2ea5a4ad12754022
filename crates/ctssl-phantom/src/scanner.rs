//! Per-patient scanner settings, the point-spread blur and correlated scanner noise.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::ScannerRanges;

/// The scanner settings of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scanner {
    /// Field of view (side of the reconstructed square), mm.
    pub fov_mm: f32,
    /// Pixel spacing of the generated images (`fov_mm / image_size`), mm.
    pub pixel_spacing: f32,
    /// Slice thickness, mm.
    pub slice_thickness: f32,
    /// Peak tube voltage, kV.
    pub kvp: f32,
    /// Tube current-time product, mAs (the dose setting).
    pub mas: f32,
    /// Standard deviation of the scanner noise, HU.
    pub noise_std: f32,
}

impl Scanner {
    /// Draw settings for a series: `head` selects the head field of view.
    pub fn draw(ranges: &ScannerRanges, head: bool, image_size: usize, rng: &mut ChaCha8Rng) -> Scanner {
        let (lo, hi) = if head { ranges.head_spacing_512 } else { ranges.body_spacing_512 };
        let spacing_512 = uniform(rng, lo, hi);
        let fov_mm = spacing_512 * 512.0;
        let slice_thickness = uniform(rng, ranges.slice_thickness.0, ranges.slice_thickness.1);
        let kvp = [100.0, 120.0, 120.0, 140.0][rng.random_range(0..4)];
        let mas = (uniform(rng, ranges.mas.0.max(1e-3).ln(), ranges.mas.1.max(1e-3).ln())).exp();
        let body_noise =
            (ranges.noise_at_200mas * (200.0 / mas).sqrt()).clamp(ranges.noise_clamp.0, ranges.noise_clamp.1);
        let noise_std = if head { body_noise * ranges.head_noise_scale } else { body_noise };
        Scanner { fov_mm, pixel_spacing: fov_mm / image_size as f32, slice_thickness, kvp, mas, noise_std }
    }
}

/// A uniform number in `[lo, hi)` (`lo` when the range is empty).
pub fn uniform(rng: &mut ChaCha8Rng, lo: f32, hi: f32) -> f32 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f32>()
    } else {
        lo
    }
}

/// A normalised 1-D Gaussian kernel of standard deviation `sigma` pixels (radius 3σ).
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma <= 1e-3 {
        return vec![1.0];
    }
    let radius = (3.0 * sigma).ceil() as i32;
    let mut k: Vec<f32> = (-radius..=radius).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Separable Gaussian blur of a `size × size` image with clamped borders.
pub fn blur(image: &mut [f32], size: usize, sigma: f32) {
    let k = gaussian_kernel(sigma);
    if k.len() == 1 || size == 0 {
        return;
    }
    let r = (k.len() / 2) as isize;
    let n = size as isize;
    let mut tmp = vec![0.0f32; image.len()];
    for y in 0..n {
        for x in 0..n {
            let mut s = 0.0;
            for (j, w) in k.iter().enumerate() {
                let xx = (x + j as isize - r).clamp(0, n - 1);
                s += w * image[(y * n + xx) as usize];
            }
            tmp[(y * n + x) as usize] = s;
        }
    }
    for y in 0..n {
        for x in 0..n {
            let mut s = 0.0;
            for (j, w) in k.iter().enumerate() {
                let yy = (y + j as isize - r).clamp(0, n - 1);
                s += w * tmp[(yy * n + x) as usize];
            }
            image[(y * n + x) as usize] = s;
        }
    }
}

/// Correlated Gaussian noise of standard deviation `std` HU: white noise blurred with σ `correlation_px`
/// pixels, rescaled by the kernel's energy so the standard deviation stays `std`.
pub fn correlated_noise(size: usize, std: f32, correlation_px: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Pad so that the border clamping of the blur does not correlate the edge pixels more.
    let k = gaussian_kernel(correlation_px);
    let pad = k.len() / 2;
    let big = size + 2 * pad;
    let mut white: Vec<f32> = (0..big * big).map(|_| StandardNormal.sample(&mut rng)).collect();
    blur(&mut white, big, correlation_px);
    let energy: f32 = k.iter().map(|w| w * w).sum::<f32>().powi(2);
    let scale = std / energy.sqrt();
    let mut out = Vec::with_capacity(size * size);
    for y in 0..size {
        let row = (y + pad) * big + pad;
        out.extend(white[row..row + size].iter().map(|v| v * scale));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlated_noise_has_the_requested_std_and_is_correlated() {
        let n = 128;
        let noise = correlated_noise(n, 20.0, 1.2, 5);
        let mean = noise.iter().sum::<f32>() / noise.len() as f32;
        let var = noise.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / noise.len() as f32;
        assert!((var.sqrt() - 20.0).abs() < 1.5, "std {}", var.sqrt());
        let mut cov = 0.0;
        for y in 0..n {
            for x in 0..n - 1 {
                cov += (noise[y * n + x] - mean) * (noise[y * n + x + 1] - mean);
            }
        }
        let rho = cov / (n * (n - 1)) as f32 / var;
        assert!(rho > 0.5, "neighbour correlation {rho}");
        assert_eq!(noise, correlated_noise(n, 20.0, 1.2, 5));
        assert_ne!(noise, correlated_noise(n, 20.0, 1.2, 6));
    }

    #[test]
    fn blur_keeps_the_mean_of_a_constant() {
        let mut img = vec![7.0; 64];
        blur(&mut img, 8, 1.5);
        assert!(img.iter().all(|v| (v - 7.0).abs() < 1e-4));
    }
}
