//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use ctssl_augment::{chest_phantom, Image, InMemorySlices};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A conformance file: the repository's `tests/data/conformance/dicom/NAME`, or
/// `$CTSSL_CONFORMANCE_DIR/dicom/NAME` when set. A missing file fails the test, saying where it looked.
pub fn conformance(name: &str) -> PathBuf {
    let corpus = std::env::var_os("CTSSL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/conformance"));
    let path = corpus.join("dicom").join(name);
    assert!(
        path.is_file(),
        "conformance file not found: {}; set CTSSL_CONFORMANCE_DIR to the corpus folder",
        path.display()
    );
    path
}

/// A synthetic chest-like slice (the crate's [`chest_phantom`]).
pub fn phantom(height: usize, width: usize, seed: u64) -> Image {
    chest_phantom(height, width, seed).unwrap()
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
