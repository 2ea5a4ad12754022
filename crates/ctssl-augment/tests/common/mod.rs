//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use ctssl_augment::{Image, InMemorySlices};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A conformance file: `$CTSSL_CONFORMANCE_DIR/dicom/NAME`, else `../shared/conformance/dicom/NAME`
/// beside the repository. A missing file fails the test, saying where it looked.
pub fn conformance(name: &str) -> PathBuf {
    let corpus = std::env::var_os("CTSSL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance"));
    let path = corpus.join("dicom").join(name);
    assert!(
        path.is_file(),
        "conformance file not found: {}; set CTSSL_CONFORMANCE_DIR to the corpus folder",
        path.display()
    );
    path
}

/// A synthetic chest-like slice: air outside a body ellipse, two lungs, a bone spot, plus a seed-dependent texture.
pub fn phantom(height: usize, width: usize, seed: u64) -> Image {
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
    Image::from_vec(height, width, data).unwrap()
}

/// `n` phantom slices with patient ids `p0`, `p1`, ….
pub fn phantom_slices(n: usize, size: usize) -> InMemorySlices {
    let mut s = InMemorySlices::new();
    for i in 0..n {
        s.push(phantom(size, size + (i % 3) * 4, i as u64), format!("p{i}")).unwrap();
    }
    s
}

/// Random values in `[lo, hi)`.
pub fn random_image(channels: usize, height: usize, width: usize, lo: f32, hi: f32, seed: u64) -> Image {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data = (0..channels * height * width).map(|_| rng.random_range(lo..hi)).collect();
    Image::with_channels(channels, height, width, data).unwrap()
}
