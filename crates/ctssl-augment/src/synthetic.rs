//! A synthetic chest-like HU slice for examples, benchmarks and tests, where no CT file is at hand.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::source::InMemorySlices;

/// A `height × width` slice in HU: air (−1000) outside a body ellipse of soft tissue (40), two lungs
/// (−850), a vertebra (700), plus a uniform ±15 HU texture inside the body drawn from `seed`.
pub fn chest_phantom(height: usize, width: usize, seed: u64) -> Result<Image> {
    if height == 0 || width == 0 {
        return Err(AugmentError::InvalidImage(format!("empty phantom {height}x{width}")));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (cy, cx) = (height as f32 / 2.0, width as f32 / 2.0);
    let data = (0..height * width)
        .map(|i| {
            let (y, x) = ((i / width) as f32 - cy, (i % width) as f32 - cx);
            let (ny, nx) = (y / (0.42 * height as f32), x / (0.46 * width as f32));
            let body = ny * ny + nx * nx < 1.0;
            let lung = |ox: f32| {
                let (a, b) = ((x - ox * width as f32) / (0.15 * width as f32), y / (0.28 * height as f32));
                a * a + b * b < 1.0
            };
            let bone = (x * x + (y - 0.3 * height as f32).powi(2)).sqrt() < 0.05 * width as f32;
            let base = if !body {
                -1000.0
            } else if bone {
                700.0
            } else if lung(-0.2) || lung(0.2) {
                -850.0
            } else {
                40.0
            };
            base + if body { rng.random_range(-15.0..15.0) } else { 0.0 }
        })
        .collect();
    Image::from_vec(height, width, data)
}

/// `count` square phantoms of side `size` (seeds `0..count`), patient ids `p0`, `p1`, ….
pub fn phantom_slices(count: usize, size: usize) -> Result<InMemorySlices> {
    let mut slices = InMemorySlices::new();
    for i in 0..count {
        slices.push(chest_phantom(size, size, i as u64)?, format!("p{i}"))?;
    }
    Ok(slices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phantom_has_air_tissue_lung_and_bone_and_is_seeded() {
        let a = chest_phantom(64, 72, 3).unwrap();
        assert_eq!((a.height, a.width), (64, 72));
        assert_eq!(a.at(0, 0, 0), -1000.0);
        let (lo, hi) = a.min_max();
        assert!((-1000.0..=-835.0).contains(&lo) && (685.0..=715.0).contains(&hi), "{lo} {hi}");
        assert_eq!(a, chest_phantom(64, 72, 3).unwrap());
        assert_ne!(a, chest_phantom(64, 72, 4).unwrap());
        assert!(chest_phantom(0, 4, 0).is_err());
        assert_eq!(phantom_slices(3, 16).unwrap().slices.len(), 3);
    }
}
