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

use std::fmt;
use std::str::FromStr;

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

/// The built-in recipes: one list ([`BuiltinRecipe::ALL`]) of the names [`Recipe::by_name`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinRecipe {
    /// [`Recipe::simclr`].
    Simclr,
    /// [`Recipe::moco_v2`] (also accepted as `mocov2`, `moco`).
    MocoV2,
    /// [`Recipe::byol`].
    Byol,
    /// [`Recipe::swav`].
    Swav,
    /// [`Recipe::dino`].
    Dino,
    /// [`Recipe::spark`].
    Spark,
    /// [`Recipe::study`].
    Study,
    /// [`Recipe::study_multi_crop`].
    StudyMultiCrop,
    /// [`Recipe::ct`].
    Ct,
    /// [`Recipe::ct_multi_crop`].
    CtMultiCrop,
    /// [`Recipe::spark_ct`].
    SparkCt,
    /// [`Recipe::finetune`].
    Finetune,
    /// [`Recipe::finetune_ct`].
    FinetuneCt,
    /// [`Recipe::eval`].
    Eval,
}

impl BuiltinRecipe {
    /// Every built-in recipe: the pre-training ones first, then fine-tuning and evaluation.
    pub const ALL: [BuiltinRecipe; 14] = [
        BuiltinRecipe::Simclr,
        BuiltinRecipe::MocoV2,
        BuiltinRecipe::Byol,
        BuiltinRecipe::Swav,
        BuiltinRecipe::Dino,
        BuiltinRecipe::Spark,
        BuiltinRecipe::Study,
        BuiltinRecipe::StudyMultiCrop,
        BuiltinRecipe::Ct,
        BuiltinRecipe::CtMultiCrop,
        BuiltinRecipe::SparkCt,
        BuiltinRecipe::Finetune,
        BuiltinRecipe::FinetuneCt,
        BuiltinRecipe::Eval,
    ];

    /// Other spellings [`FromStr`] accepts.
    const ALIASES: [(&'static str, BuiltinRecipe); 2] =
        [("mocov2", BuiltinRecipe::MocoV2), ("moco", BuiltinRecipe::MocoV2)];

    /// The recipe's name (the [`Recipe::name`] of what [`BuiltinRecipe::recipe`] makes).
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRecipe::Simclr => "simclr",
            BuiltinRecipe::MocoV2 => "moco_v2",
            BuiltinRecipe::Byol => "byol",
            BuiltinRecipe::Swav => "swav",
            BuiltinRecipe::Dino => "dino",
            BuiltinRecipe::Spark => "spark",
            BuiltinRecipe::Study => "study",
            BuiltinRecipe::StudyMultiCrop => "study_multi_crop",
            BuiltinRecipe::Ct => "ct",
            BuiltinRecipe::CtMultiCrop => "ct_multi_crop",
            BuiltinRecipe::SparkCt => "spark_ct",
            BuiltinRecipe::Finetune => "finetune",
            BuiltinRecipe::FinetuneCt => "finetune_ct",
            BuiltinRecipe::Eval => "eval",
        }
    }

    /// Whether it makes pre-training views (what the benchmarks measure), not fine-tuning or evaluation ones.
    pub fn is_pretraining(self) -> bool {
        match self {
            BuiltinRecipe::Simclr
            | BuiltinRecipe::MocoV2
            | BuiltinRecipe::Byol
            | BuiltinRecipe::Swav
            | BuiltinRecipe::Dino
            | BuiltinRecipe::Spark
            | BuiltinRecipe::Study
            | BuiltinRecipe::StudyMultiCrop
            | BuiltinRecipe::Ct
            | BuiltinRecipe::CtMultiCrop
            | BuiltinRecipe::SparkCt => true,
            BuiltinRecipe::Finetune | BuiltinRecipe::FinetuneCt | BuiltinRecipe::Eval => false,
        }
    }

    /// The pre-training recipes among [`BuiltinRecipe::ALL`], in its order.
    pub fn pretraining() -> impl Iterator<Item = BuiltinRecipe> {
        BuiltinRecipe::ALL.into_iter().filter(|r| r.is_pretraining())
    }

    /// The recipe at global size `size`.
    pub fn recipe(self, size: usize) -> Recipe {
        match self {
            BuiltinRecipe::Simclr => Recipe::simclr(size),
            BuiltinRecipe::MocoV2 => Recipe::moco_v2(size),
            BuiltinRecipe::Byol => Recipe::byol(size),
            BuiltinRecipe::Swav => Recipe::swav(size),
            BuiltinRecipe::Dino => Recipe::dino(size),
            BuiltinRecipe::Spark => Recipe::spark(size),
            BuiltinRecipe::Study => Recipe::study(size),
            BuiltinRecipe::StudyMultiCrop => Recipe::study_multi_crop(size),
            BuiltinRecipe::Ct => Recipe::ct(size),
            BuiltinRecipe::CtMultiCrop => Recipe::ct_multi_crop(size),
            BuiltinRecipe::SparkCt => Recipe::spark_ct(size),
            BuiltinRecipe::Finetune => Recipe::finetune(size),
            BuiltinRecipe::FinetuneCt => Recipe::finetune_ct(size),
            BuiltinRecipe::Eval => Recipe::eval(size),
        }
    }
}

impl fmt::Display for BuiltinRecipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltinRecipe {
    type Err = AugmentError;

    /// A name of [`BuiltinRecipe::ALL`] or an alias; an error lists the names.
    fn from_str(s: &str) -> Result<Self> {
        BuiltinRecipe::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .or_else(|| BuiltinRecipe::ALIASES.iter().find(|(a, _)| *a == s).map(|(_, r)| *r))
            .ok_or_else(|| {
                let known: Vec<&str> = BuiltinRecipe::ALL.iter().map(|r| r.name()).collect();
                AugmentError::InvalidConfig(format!("unknown recipe {s:?} (known: {})", known.join(", ")))
            })
    }
}

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

    /// A built-in recipe by name (see [`BuiltinRecipe`]) at global size `size`.
    pub fn by_name(name: &str, size: usize) -> Result<Recipe> {
        Ok(name.parse::<BuiltinRecipe>()?.recipe(size))
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
        for id in BuiltinRecipe::ALL {
            let r = Recipe::by_name(id.name(), 64).unwrap();
            r.validate().unwrap();
            assert_eq!(r.channels().unwrap(), 1);
            assert_eq!(r.name, id.name());
            assert_eq!(id.to_string().parse::<BuiltinRecipe>().unwrap(), id);
        }
        let e = Recipe::by_name("nope", 64).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("study_multi_crop, ct"), "{e}");
        assert_eq!("moco".parse::<BuiltinRecipe>().unwrap(), BuiltinRecipe::MocoV2);
        assert_eq!(BuiltinRecipe::pretraining().count(), 11);
        assert!(BuiltinRecipe::pretraining().all(|r| r != BuiltinRecipe::Eval));
        assert_eq!(Recipe::swav(224).view_sizes(), vec![224, 224, 96, 96, 96, 96, 96, 96]);
        assert_eq!(Recipe::dino(224).num_views(), 10);
        let r = Recipe::swav(64).with_local_crops(2, 2, 32, (0.1, 0.3)).unwrap();
        assert_eq!(r.view_sizes(), vec![64, 64, 32, 32]);
        assert!(matches!(r.views[3].crop, CropStep::RandomResized(c) if c.scale == (0.1, 0.3)));
        assert!(Recipe::spark(64).with_local_crops(1, 2, 32, (0.1, 0.3)).is_err());
    }
}
