//! The view recipes of the methods, as named constructors with their published defaults, adapted to
//! one-channel CT.
//!
//! Adaptations to CT (every recipe):
//! - intensities start as HU and go through a window to `[0, 1]` ([`CtIntensity`](crate::view::CtIntensity)): the wide window
//!   −1000…1000 HU by default; the study's recipes use its per-slice min–max scaling instead;
//! - colour jitter `ColorJitter(b, c, s, h)` becomes [`IntensityJitter`]: brightness `b` and contrast
//!   `c` as published, saturation `s` → window width factor `1 ± s`, hue `h` → window centre shift
//!   `± h · width`;
//! - random grayscale and solarisation are dropped (one channel; solarising HU has no physical meaning);
//! - blur σ is given at 224 px and scaled with the view size ([`GaussianBlur::reference_size`]);
//! - bilinear resampling everywhere (SparK's reference uses bicubic for its crop);
//! - sizes are arguments: 224 as published, 64 for the CPU presets; local crops are `round(96/224 · size)`.

use serde::{Deserialize, Serialize};

use crate::blur::GaussianBlur;
use crate::crop::CropStep;
use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::intensity::{HuNoise, Standardize};
use crate::rng::view_rng;
use crate::rotate::RandomRotation;
use crate::view::ViewConfig;
use crate::window::{IntensityJitter, WindowStep};

/// A named list of views: view `k` of every sample is made by `views[k]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Name (as accepted by [`Recipe::by_name`] for the built-in ones).
    pub name: String,
    /// One config per view index.
    pub views: Vec<ViewConfig>,
}

/// The names [`Recipe::by_name`] accepts.
pub const RECIPE_NAMES: &[&str] = &[
    "simclr",
    "moco_v2",
    "byol",
    "swav",
    "dino",
    "spark",
    "study",
    "study_multi_crop",
    "ct",
    "ct_multi_crop",
    "spark_ct",
    "finetune",
    "finetune_ct",
    "eval",
];

/// The pre-training recipes among [`RECIPE_NAMES`] (what the benchmarks measure).
pub const PRETRAINING_RECIPE_NAMES: &[&str] = &[
    "simclr",
    "moco_v2",
    "byol",
    "swav",
    "dino",
    "spark",
    "study",
    "study_multi_crop",
    "ct",
    "ct_multi_crop",
    "spark_ct",
];

/// Side of a local crop for a global size: `round(96 / 224 · size)`, at least 1.
pub fn local_size(size: usize) -> usize {
    ((size as f64 * 96.0 / 224.0).round() as usize).max(1)
}

/// A view with a random resized crop, horizontal flip p 0.5, jitter and blur as given.
fn contrastive_view(size: usize, scale: (f32, f32), jitter: IntensityJitter, blur_p: f32) -> ViewConfig {
    let mut v = ViewConfig::random_resized(size, scale);
    v.intensity.jitter = Some(jitter);
    v.intensity.blur = (blur_p > 0.0).then(|| GaussianBlur::published(blur_p));
    v
}

impl Recipe {
    /// SimCLR (Chen et al. 2020): 2 × random resized crop 0.08–1, h-flip, jitter strength 1
    /// (0.8, 0.8, 0.8, 0.2) p 0.8, blur p 0.5 (grayscale p 0.2 dropped).
    pub fn simclr(size: usize) -> Recipe {
        let jitter = IntensityJitter::from_color_jitter(0.8, 0.8, 0.8, 0.8, 0.2);
        let v = contrastive_view(size, (0.08, 1.0), jitter, 0.5);
        Recipe { name: "simclr".into(), views: vec![v.clone(), v] }
    }

    /// MoCo v2 (Chen et al. 2020): 2 × crop 0.2–1, h-flip, jitter (0.4, 0.4, 0.4, 0.1) p 0.8, blur p 0.5.
    pub fn moco_v2(size: usize) -> Recipe {
        let jitter = IntensityJitter::from_color_jitter(0.8, 0.4, 0.4, 0.4, 0.1);
        let v = contrastive_view(size, (0.2, 1.0), jitter, 0.5);
        Recipe { name: "moco_v2".into(), views: vec![v.clone(), v] }
    }

    /// BYOL (Grill et al. 2020): 2 × crop 0.08–1, h-flip, jitter (0.4, 0.4, 0.2, 0.1) p 0.8; blur p 1.0 on
    /// the first view and 0.1 on the second (solarisation p 0 / 0.2 dropped).
    pub fn byol(size: usize) -> Recipe {
        let jitter = IntensityJitter::from_color_jitter(0.8, 0.4, 0.4, 0.2, 0.1);
        let first = contrastive_view(size, (0.08, 1.0), jitter, 1.0);
        let second = contrastive_view(size, (0.08, 1.0), jitter, 0.1);
        Recipe { name: "byol".into(), views: vec![first, second] }
    }

    /// SwAV (Caron et al. 2020) multi-crop: 2 × `size` crops 0.14–1 and 6 × `local_size(size)` crops
    /// 0.05–0.14; h-flip, jitter strength 1 p 0.8, blur p 0.5.
    pub fn swav(size: usize) -> Recipe {
        let jitter = IntensityJitter::from_color_jitter(0.8, 0.8, 0.8, 0.8, 0.2);
        let global = contrastive_view(size, (0.14, 1.0), jitter, 0.5);
        let local = contrastive_view(local_size(size), (0.05, 0.14), jitter, 0.5);
        Recipe::multi_crop("swav", vec![global.clone(), global], local, 6)
    }

    /// DINO (Caron et al. 2021): 2 global crops 0.4–1 (blur p 1.0 and 0.1; solarisation dropped) and
    /// 8 local crops of `local_size(size)`, 0.05–0.4, blur p 0.5; h-flip, jitter (0.4, 0.4, 0.2, 0.1) p 0.8.
    pub fn dino(size: usize) -> Recipe {
        let jitter = IntensityJitter::from_color_jitter(0.8, 0.4, 0.4, 0.2, 0.1);
        let g1 = contrastive_view(size, (0.4, 1.0), jitter, 1.0);
        let g2 = contrastive_view(size, (0.4, 1.0), jitter, 0.1);
        let local = contrastive_view(local_size(size), (0.05, 0.4), jitter, 0.5);
        Recipe::multi_crop("dino", vec![g1, g2], local, 8)
    }

    /// SparK (Tian et al. 2023), minimal: 1 view, random resized crop 0.67–1 and h-flip only.
    pub fn spark(size: usize) -> Recipe {
        Recipe { name: "spark".into(), views: vec![ViewConfig::random_resized(size, (0.67, 1.0))] }
    }

    /// The study's contrastive recipe (Wolf et al. 2023): per-slice min–max scaling, random resized crop
    /// 0.2–1 (MoCo v2's range: the paper does not give one), h- and v-flip p 0.5, rotation up to 180° p 0.5
    /// (air fill), brightness / contrast jitter 0.4 p 0.8, blur p 0.5, HU noise σ 0–20 HU p 0.5 (our choice of σ).
    pub fn study(size: usize) -> Recipe {
        let v = Recipe::study_view(size, (0.2, 1.0));
        Recipe { name: "study".into(), views: vec![v.clone(), v] }
    }

    /// The study's SwAV multi-crop: 2 × `size` crops 0.9–1 and 6 × `local_size(size)` crops 0.05–0.14,
    /// each with the rest of [`Recipe::study`]'s view.
    pub fn study_multi_crop(size: usize) -> Recipe {
        let global = Recipe::study_view(size, (0.9, 1.0));
        let local = Recipe::study_view(local_size(size), (0.05, 0.14));
        Recipe::multi_crop("study_multi_crop", vec![global.clone(), global], local, 6)
    }

    /// One view of the study's recipe.
    fn study_view(size: usize, scale: (f32, f32)) -> ViewConfig {
        let mut v = ViewConfig::random_resized(size, scale);
        v.vflip = 0.5;
        v.rotation = Some(RandomRotation::new(180.0, 0.5));
        v.intensity.window = WindowStep::MinMax;
        v.intensity.noise = Some(HuNoise { sigma: (0.0, 20.0), p: 0.5 });
        v.intensity.jitter = Some(IntensityJitter::from_color_jitter(0.8, 0.4, 0.4, 0.0, 0.0));
        v.intensity.blur = Some(GaussianBlur::published(0.5));
        v
    }

    /// The study's contrastive views for CT that keep laterality: [`Recipe::study`] without flips and with
    /// rotation up to 10° instead of 180° (left and right organs are mirror images of each other, so a
    /// flipped view would teach the encoder that left kidney and right kidney are the same thing, and a
    /// task whose label is laterality could not be read from its features).
    pub fn ct(size: usize) -> Recipe {
        let v = Recipe::ct_view(size, (0.2, 1.0));
        Recipe { name: "ct".into(), views: vec![v.clone(), v] }
    }

    /// [`Recipe::study_multi_crop`] with [`Recipe::ct`]'s views.
    pub fn ct_multi_crop(size: usize) -> Recipe {
        let global = Recipe::ct_view(size, (0.9, 1.0));
        let local = Recipe::ct_view(local_size(size), (0.05, 0.14));
        Recipe::multi_crop("ct_multi_crop", vec![global.clone(), global], local, 6)
    }

    /// SparK's one view without its horizontal flip (see [`Recipe::ct`]).
    pub fn spark_ct(size: usize) -> Recipe {
        let mut v = ViewConfig::random_resized(size, (0.67, 1.0));
        v.hflip = 0.0;
        Recipe { name: "spark_ct".into(), views: vec![v] }
    }

    fn ct_view(size: usize, scale: (f32, f32)) -> ViewConfig {
        let mut v = Recipe::study_view(size, scale);
        v.hflip = 0.0;
        v.vflip = 0.0;
        v.rotation = Some(RandomRotation::new(10.0, 0.5));
        v
    }

    /// Fine-tuning that keeps laterality: a random resized crop of 80–100 % of the area (small shifts and
    /// zooms), rotation up to 10° p 0.5, no flips, min–max scaling (replaced by the input mapping's windows
    /// where one is set).
    pub fn finetune_ct(size: usize) -> Recipe {
        let mut v = ViewConfig::random_resized(size, (0.8, 1.0));
        v.hflip = 0.0;
        v.rotation = Some(RandomRotation::new(10.0, 0.5));
        v.intensity.window = WindowStep::MinMax;
        Recipe { name: "finetune_ct".into(), views: vec![v] }
    }

    /// Fine-tuning (the study: flips only): resize to `size`, h- and v-flip p 0.5, min–max scaling.
    pub fn finetune(size: usize) -> Recipe {
        let mut v = ViewConfig::new(CropStep::Resize { size, antialias: true });
        v.hflip = 0.5;
        v.vflip = 0.5;
        v.intensity.window = WindowStep::MinMax;
        Recipe { name: "finetune".into(), views: vec![v] }
    }

    /// Evaluation: resize to `size`, min–max scaling, nothing random.
    pub fn eval(size: usize) -> Recipe {
        let mut v = ViewConfig::new(CropStep::Resize { size, antialias: true });
        v.intensity.window = WindowStep::MinMax;
        Recipe { name: "eval".into(), views: vec![v] }
    }

    /// Multi-crop: the given global views, then `n_local` copies of `local`.
    pub fn multi_crop(name: &str, globals: Vec<ViewConfig>, local: ViewConfig, n_local: usize) -> Recipe {
        let mut views = globals;
        views.extend(std::iter::repeat_n(local, n_local));
        Recipe { name: name.into(), views }
    }

    /// A built-in recipe by name (see [`RECIPE_NAMES`]) at global size `size`.
    pub fn by_name(name: &str, size: usize) -> Result<Recipe> {
        let r = match name {
            "simclr" => Recipe::simclr(size),
            "moco_v2" | "mocov2" | "moco" => Recipe::moco_v2(size),
            "byol" => Recipe::byol(size),
            "swav" => Recipe::swav(size),
            "dino" => Recipe::dino(size),
            "spark" => Recipe::spark(size),
            "study" => Recipe::study(size),
            "study_multi_crop" => Recipe::study_multi_crop(size),
            "ct" => Recipe::ct(size),
            "ct_multi_crop" => Recipe::ct_multi_crop(size),
            "spark_ct" => Recipe::spark_ct(size),
            "finetune" => Recipe::finetune(size),
            "finetune_ct" => Recipe::finetune_ct(size),
            "eval" => Recipe::eval(size),
            other => {
                return Err(AugmentError::InvalidConfig(format!(
                    "unknown recipe {other:?} (known: {})",
                    RECIPE_NAMES.join(", ")
                )))
            }
        };
        Ok(r)
    }

    /// Replace the base window of every view (e.g. [`WindowStep::Multi`] for multi-window channels).
    pub fn with_window(mut self, window: WindowStep) -> Recipe {
        for v in &mut self.views {
            v.intensity.window = window.clone();
        }
        self
    }

    /// Standardise every view last (dataset mean and std of the windowed intensities).
    pub fn with_standardize(mut self, standardize: Standardize) -> Recipe {
        for v in &mut self.views {
            v.intensity.standardize = Some(standardize.clone());
        }
        self
    }

    /// Replace the local views of a multi-crop recipe: keep the first `n_global` views, then `n_local`
    /// copies of the first local view with side `size` and, for a random resized crop, area `scale`
    /// (errors when there is no local view to copy).
    pub fn with_local_crops(
        mut self,
        n_global: usize,
        n_local: usize,
        size: usize,
        scale: (f32, f32),
    ) -> Result<Recipe> {
        let Some(mut local) = self.views.get(n_global).cloned() else {
            return Err(AugmentError::InvalidConfig(format!(
                "recipe {} has no local view after {n_global}",
                self.name
            )));
        };
        match &mut local.crop {
            CropStep::RandomResized(c) => {
                c.size = size;
                c.scale = scale;
            }
            CropStep::Resize { size: s, .. } => *s = size,
            CropStep::ResizeCenterCrop { crop, .. } => *crop = size,
        }
        self.views.truncate(n_global);
        self.views.extend(std::iter::repeat_n(local, n_local));
        Ok(self)
    }

    /// Number of views per sample.
    pub fn num_views(&self) -> usize {
        self.views.len()
    }

    /// Side length of each view.
    pub fn view_sizes(&self) -> Vec<usize> {
        self.views.iter().map(|v| v.size()).collect()
    }

    /// Channels of every view for single-channel HU input (errors when views disagree).
    pub fn channels(&self) -> Result<usize> {
        let mut channels = self.views.iter().map(|v| v.intensity.window.channels(1));
        let first = channels.next().ok_or_else(|| AugmentError::InvalidConfig("recipe without views".into()))?;
        if channels.any(|c| c != first) {
            return Err(AugmentError::InvalidConfig(format!("views of recipe {} differ in channels", self.name)));
        }
        Ok(first)
    }

    /// Check every view (and that there is at least one).
    pub fn validate(&self) -> Result<()> {
        self.channels()?;
        self.views.iter().try_for_each(|v| v.validate(1))
    }

    /// All views of one slice; view `k` uses the generator of `(seed, epoch, position, k)`.
    pub fn make_views(&self, hu: &Image, seed: u64, epoch: u64, position: u64) -> Result<Vec<Image>> {
        hu.check()?;
        let range =
            if self.views.iter().any(|v| v.intensity.window == WindowStep::MinMax) { hu.min_max() } else { (0.0, 0.0) };
        self.views
            .iter()
            .enumerate()
            .map(|(k, v)| v.apply(hu, range, &mut view_rng(seed, epoch, position, k as u64)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_recipe_is_valid() {
        for name in RECIPE_NAMES {
            let r = Recipe::by_name(name, 64).unwrap();
            r.validate().unwrap();
            assert_eq!(r.channels().unwrap(), 1);
        }
        assert!(Recipe::by_name("nope", 64).is_err());
        assert!(PRETRAINING_RECIPE_NAMES.iter().all(|n| RECIPE_NAMES.contains(n)));
        assert_eq!(Recipe::swav(224).view_sizes(), vec![224, 224, 96, 96, 96, 96, 96, 96]);
        assert_eq!(Recipe::dino(224).num_views(), 10);
        let r = Recipe::swav(64).with_local_crops(2, 2, 32, (0.1, 0.3)).unwrap();
        assert_eq!(r.view_sizes(), vec![64, 64, 32, 32]);
        assert!(matches!(r.views[3].crop, CropStep::RandomResized(c) if c.scale == (0.1, 0.3)));
        assert!(Recipe::spark(64).with_local_crops(1, 2, 32, (0.1, 0.3)).is_err());
    }
}
