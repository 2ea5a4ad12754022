//! One view: the geometric steps on HU, then the CT intensity pipeline.
//!
//! Order of the steps (each optional except the crop and the window):
//! 1. crop / resize to the view's size (HU, one channel);
//! 2. horizontal flip, vertical flip;
//! 3. rotation, then small affine (bilinear, filled with air);
//! 4. the [`CtIntensity`] pipeline: HU noise → window (jittered) → brightness / contrast → gamma → blur →
//!    standardisation.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::blur::GaussianBlur;
use crate::crop::{CropStep, RandomResizedCrop};
use crate::error::{AugmentError, Result};
use crate::flip::{random_hflip, random_vflip};
use crate::image::Image;
use crate::intensity::{HuNoise, RandomGamma, Standardize};
use crate::rotate::{RandomAffine, RandomRotation, AIR_HU};
use crate::warp::warp_affine;
use crate::window::{apply_windows, IntensityJitter, WindowStep};

/// The CT intensity pipeline every recipe starts from: HU noise, a window to `[0, 1]` (with the jitter
/// that stands in for colour jitter), brightness / contrast, gamma, blur, standardisation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CtIntensity {
    /// Gaussian noise in HU, before windowing.
    pub noise: Option<HuNoise>,
    /// How HU become `[0, 1]` (default: the wide window −1000…1000 HU).
    pub window: WindowStep,
    /// Random window centre / width and brightness / contrast.
    pub jitter: Option<IntensityJitter>,
    /// Random gamma on the windowed image.
    pub gamma: Option<RandomGamma>,
    /// Gaussian blur on the windowed image.
    pub blur: Option<GaussianBlur>,
    /// Standardisation, last.
    pub standardize: Option<Standardize>,
}

impl CtIntensity {
    /// Check every step (`in_channels`: channels of the input, 1 for HU).
    pub fn validate(&self, in_channels: usize) -> Result<()> {
        if let Some(n) = &self.noise {
            n.validate()?;
        }
        self.window.validate()?;
        if let Some(j) = &self.jitter {
            j.validate()?;
        }
        if let Some(g) = &self.gamma {
            g.validate()?;
        }
        if let Some(b) = &self.blur {
            b.validate()?;
        }
        if let Some(s) = &self.standardize {
            s.validate(self.window.channels(in_channels))?;
        }
        Ok(())
    }

    /// Apply to a (cropped) HU image; `slice_range` is the whole slice's HU range, used by [`WindowStep::MinMax`].
    pub fn apply(&self, mut image: Image, slice_range: (f32, f32), rng: &mut impl Rng) -> Result<Image> {
        if let Some(noise) = &self.noise {
            noise.apply(&mut image, rng);
        }
        let draw = self.jitter.as_ref().and_then(|j| j.sample(rng));
        if let Some(windows) = self.window.windows(slice_range) {
            let windows: Vec<_> = match &draw {
                Some(d) => windows.iter().map(|w| d.window(w)).collect(),
                None => windows,
            };
            image = apply_windows(&image, &windows)?;
        }
        if let Some(d) = &draw {
            d.adjust(&mut image);
        }
        if let Some(gamma) = &self.gamma {
            gamma.apply(&mut image, rng);
        }
        if let Some(blur) = &self.blur {
            blur.apply(&mut image, rng);
        }
        if let Some(s) = &self.standardize {
            s.apply(&mut image)?;
        }
        Ok(image)
    }
}

/// Everything that makes one view of a slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewConfig {
    /// Crop / resize to the view's size.
    pub crop: CropStep,
    /// Probability of a horizontal flip.
    pub hflip: f32,
    /// Probability of a vertical flip.
    pub vflip: f32,
    /// Random rotation.
    pub rotation: Option<RandomRotation>,
    /// Small random affine.
    pub affine: Option<RandomAffine>,
    /// Value that pads a centre crop larger than the slice (air).
    pub fill: f32,
    /// The intensity pipeline.
    pub intensity: CtIntensity,
}

impl ViewConfig {
    /// A view with only a crop step and the default intensity pipeline (wide window, nothing random).
    pub fn new(crop: CropStep) -> Self {
        ViewConfig {
            crop,
            hflip: 0.0,
            vflip: 0.0,
            rotation: None,
            affine: None,
            fill: AIR_HU,
            intensity: CtIntensity::default(),
        }
    }

    /// A random resized crop to `size` with area fraction in `scale` (ratio 3/4–4/3), horizontal flip p 0.5.
    pub fn random_resized(size: usize, scale: (f32, f32)) -> Self {
        let mut v = ViewConfig::new(CropStep::RandomResized(RandomResizedCrop::new(size).with_scale(scale.0, scale.1)));
        v.hflip = 0.5;
        v
    }

    /// Output side length.
    pub fn size(&self) -> usize {
        self.crop.size()
    }

    /// Check every step.
    pub fn validate(&self, in_channels: usize) -> Result<()> {
        self.crop.validate()?;
        if !(0.0..=1.0).contains(&self.hflip) || !(0.0..=1.0).contains(&self.vflip) || !self.fill.is_finite() {
            return Err(AugmentError::InvalidConfig(format!(
                "flip probabilities {} / {} or fill {}",
                self.hflip, self.vflip, self.fill
            )));
        }
        if let Some(r) = &self.rotation {
            r.validate()?;
        }
        if let Some(a) = &self.affine {
            a.validate()?;
        }
        self.intensity.validate(in_channels)
    }

    /// Make the view from a HU slice (`slice_range`: the slice's min and max, see [`Image::min_max`]).
    pub fn apply(&self, hu: &Image, slice_range: (f32, f32), rng: &mut impl Rng) -> Result<Image> {
        hu.check()?;
        self.validate(hu.channels)?;
        let mut image = self.crop.apply(hu, rng, self.fill)?;
        random_hflip(&mut image, rng, self.hflip);
        random_vflip(&mut image, rng, self.vflip);
        if let Some(r) = &self.rotation {
            if let Some(map) = r.sample(image.height, image.width, rng) {
                image = warp_affine(&image, &map, r.fill)?;
            }
        }
        if let Some(a) = &self.affine {
            if let Some(map) = a.sample(image.height, image.width, rng) {
                image = warp_affine(&image, &map, a.fill)?;
            }
        }
        self.intensity.apply(image, slice_range, rng)
    }
}
