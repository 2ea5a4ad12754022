//! SparK as a [`PretrainMethod`] for `ctssl-train`'s trainer: one view per image, a fresh mask per
//! step drawn from the run's random generator (so a resumed run draws the same masks), the masked-patch
//! loss, optional reconstruction previews, and the encoder exported under the backbone's names.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_train::method::{LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::TrainError;
use rand::Rng;

use crate::config::SparkConfig;
use crate::error::{Result, SparseError};
use crate::mask::MaskGenerator;
use crate::model::SparkModel;
use crate::preview::write_preview;

/// Where and how often [`Spark`] writes reconstruction previews.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewSettings {
    /// Folder of the PNGs (`step_<step>.png`); created when missing.
    pub dir: PathBuf,
    /// Write at every step that is a multiple of this (at least 1).
    pub every: u64,
    /// Rows (images) per preview.
    pub max_images: usize,
}

/// The SparK pre-training method.
#[derive(Debug, Clone)]
pub struct Spark {
    model: SparkModel,
    masks: MaskGenerator,
    previews: Option<PreviewSettings>,
}

impl Spark {
    /// SparK on a new backbone of `backbone_cfg` (its `fc` dropped), f32 on `device`, initialised from `seed`.
    pub fn new(backbone_cfg: ResNetConfig, cfg: SparkConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::from_model(SparkModel::new(backbone_cfg, &cfg, seed, device)?)
    }

    /// SparK around an existing model.
    pub fn from_model(model: SparkModel) -> Result<Self> {
        let masks = MaskGenerator::new(model.patch_size(), model.config().mask_ratio)?;
        Ok(Spark { model, masks, previews: None })
    }

    /// Writes a preview (input, masked input, reconstruction, blends) every `every` steps into `dir`.
    pub fn with_previews(mut self, dir: impl Into<PathBuf>, every: u64, max_images: usize) -> Self {
        self.previews = Some(PreviewSettings { dir: dir.into(), every: every.max(1), max_images: max_images.max(1) });
        self
    }

    /// The network.
    pub fn model(&self) -> &SparkModel {
        &self.model
    }

    /// The mask generator (patch = the backbone's total stride, the configured ratio).
    pub fn mask_generator(&self) -> &MaskGenerator {
        &self.masks
    }
}

impl PretrainMethod for Spark {
    fn name(&self) -> &str {
        "spark"
    }

    /// One part, the model: the encoder's backbone as `encoder.` + its torchvision names, then densify and
    /// decoder under SparK's names.
    fn parts(&self) -> Vec<Part<'_>> {
        vec![Part::trained("", &self.model)]
    }

    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> ctssl_train::Result<LossOutput> {
        let x = views.first().ok_or_else(|| TrainError::InvalidArgument("spark needs one view".into()))?;
        let (n, _, h, w) = x.dims4()?;
        let mask_seed: u64 = ctx.rng.random();
        let mask = self.masks.generate(n, h, w, mask_seed, ctx.step).map_err(TrainError::from)?;
        let out = self.model.forward(x, &mask, true).map_err(TrainError::from)?;
        if let Some(p) = &self.previews {
            if ctx.step.is_multiple_of(p.every) {
                std::fs::create_dir_all(&p.dir)
                    .map_err(|source| TrainError::from(SparseError::Io { path: p.dir.clone(), source }))?;
                let path = p.dir.join(format!("step_{:06}.png", ctx.step));
                write_preview(x, &out.reconstruction, &mask, p.max_images, &path).map_err(TrainError::from)?;
            }
        }
        Ok(LossOutput::new(out.loss))
    }

    /// The encoder's backbone; its export leaves out a classifier, which SparK never trains.
    fn encoder(&self) -> &ResNet {
        self.model.encoder().backbone()
    }
}
