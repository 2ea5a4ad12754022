//! # ctssl-augment
//!
//! Views of CT slices for self-supervised learning, made fast and reproducibly: crops, flips,
//! rotation and affine maps on Hounsfield units (filled with air), HU windows and their jitter (CT's
//! colour jitter), brightness / contrast, gamma, blur, dose-like noise, standardisation and multi-window
//! channels; multi-crop; the view recipes of SimCLR, MoCo v2, BYOL, SwAV, DINO, SparK and of the study;
//! and a loader that makes batches of views on all cores, prefetched on a background thread, as candle
//! tensors (NCHW `f32`).
//!
//! Every random number of view `k` of the sample at position `p` of epoch `e` comes from
//! `(seed, e, p, k)`, so the same seed gives the same views on any number of threads.
//!
//! ```
//! use ctssl_augment::{Image, InMemorySlices, Loader, LoaderConfig, Recipe};
//!
//! // A synthetic 96 x 96 slice: air around a water disc.
//! let n = 96;
//! let hu: Vec<f32> = (0..n * n)
//!     .map(|i| {
//!         let (y, x) = ((i / n) as f32 - 48.0, (i % n) as f32 - 48.0);
//!         if x * x + y * y < 40.0 * 40.0 { 0.0 } else { -1000.0 }
//!     })
//!     .collect();
//! let mut slices = InMemorySlices::new();
//! for p in 0..4 {
//!     slices.push(Image::from_vec(n, n, hu.clone())?, format!("patient-{p}"))?;
//! }
//! let config = LoaderConfig { batch_size: 2, seed: 7, ..LoaderConfig::default() };
//! let loader = Loader::new(slices, Recipe::simclr(32), config)?;
//! for batch in loader.epoch(0) {
//!     let batch = batch?;
//!     assert_eq!(batch.views.len(), 2);
//!     assert_eq!(batch.views[0].dims(), &[2, 1, 32, 32]);
//! }
//! # Ok::<(), ctssl_augment::AugmentError>(())
//! ```

#![forbid(unsafe_code)]

pub mod blur;
pub mod collate;
pub mod crop;
pub mod error;
pub mod flip;
pub mod image;
pub mod intensity;
pub mod loader;
pub mod recipe;
pub mod resample;
pub mod rng;
pub mod rotate;
pub mod source;
pub mod synthetic;
pub mod view;
pub mod warp;
pub mod window;

pub use blur::{gaussian_blur, GaussianBlur};
pub use collate::{collate, collate_views};
pub use crop::{center_crop, resize, CropStep, RandomResizedCrop};
pub use error::{AugmentError, Result};
pub use flip::{hflip, random_hflip, random_vflip, vflip};
pub use image::Image;
pub use intensity::{add_gaussian_noise, adjust_gamma, HuNoise, RandomGamma, Standardize};
pub use loader::{epoch_order, Batch, EpochIter, Loader, LoaderConfig, Sampling};
pub use recipe::{local_size, BuiltinRecipe, Recipe};
pub use resample::{resize_region, Region};
pub use rng::{view_rng, AugmentRng};
pub use rotate::{rotate, RandomAffine, RandomRotation, AIR_HU};
pub use source::{HuSlice, InMemorySlices, SliceSource, Subset};
pub use synthetic::{chest_phantom, phantom_slices};
pub use view::{CtIntensity, ViewConfig};
pub use warp::{warp_affine, Affine2};
pub use window::{
    adjust_brightness, adjust_contrast, apply_windows, IntensityJitter, JitterDraw, WindowStep, WIDE_WINDOW,
};
