//! SparK's settings with the published defaults (Tian et al. 2023, as used by Wolf et al. 2023): the
//! model's (mask ratio, decoder width, output channels, execution path) and the optimiser's (LAMB,
//! betas (0.9, 0.95), lr 2e-4 × batch / 256 with warm-up and cosine, weight decay 0.04 → 0.2 cosine,
//! gradient-norm clip 5), plus the view recipe name (`spark`: one view, crop 0.67–1, h-flip).

use crate::encoder::ExecutionPath;
use crate::error::{Result, SparseError};

/// The optimiser settings of SparK, from which a LAMB optimiser and the trainer's schedules are built
/// (`lamb_config`, `lr_schedule`, `trainer_config`, `param_groups`: feature `method`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparkOptimizer {
    /// Peak learning rate per 256 images (2e-4); the peak is `base_lr × batch / 256`.
    pub base_lr: f64,
    /// LAMB's β₁, β₂ (0.9, 0.95).
    pub betas: (f64, f64),
    /// LAMB's ε (1e-6, timm's LAMB default that SparK uses).
    pub eps: f64,
    /// Weight decay at the first step (0.04).
    pub weight_decay_start: f64,
    /// Weight decay at the last step (0.2), reached by a cosine.
    pub weight_decay_end: f64,
    /// Clip of the global gradient norm (5).
    pub clip_grad_norm: f64,
    /// Warm-up epochs of the learning rate (40 in SparK; at most the whole run). A fraction of an epoch
    /// is allowed: a short run warms up over a fraction of its steps, as the contrastive methods do.
    pub warmup_epochs: f64,
    /// Learning rate at the first warm-up step, as a fraction of the peak (SparK: 0.005).
    pub warmup_start_fraction: f64,
    /// Learning rate at the end of the cosine, as a fraction of the peak (SparK: 0.001).
    pub end_fraction: f64,
}

impl Default for SparkOptimizer {
    fn default() -> Self {
        SparkOptimizer {
            base_lr: 2e-4,
            betas: (0.9, 0.95),
            eps: 1e-6,
            weight_decay_start: 0.04,
            weight_decay_end: 0.2,
            clip_grad_norm: 5.0,
            warmup_epochs: 40.0,
            warmup_start_fraction: 0.005,
            end_fraction: 0.001,
        }
    }
}

impl SparkOptimizer {
    /// The peak learning rate for `batch` images per step: `base_lr × batch / 256`.
    pub fn peak_lr(&self, batch: usize) -> f64 {
        self.base_lr * batch as f64 / 256.0
    }
}

/// SparK's settings (model and optimiser); the backbone's architecture is given separately.
#[derive(Debug, Clone, PartialEq)]
pub struct SparkConfig {
    /// Fraction of masked cells (0.6).
    pub mask_ratio: f64,
    /// Decoder width at the deepest scale, halving per upsampling block; `None`: 768 with the ImageNet
    /// stem (SparK's default), the deepest channel count (at most 768) with the small stem.
    pub decoder_width: Option<usize>,
    /// Channels of the reconstruction; `None`: the backbone's input channels (1 for CT).
    pub out_channels: Option<usize>,
    /// How the encoder computes (the results are the same).
    pub path: ExecutionPath,
    /// The optimiser's settings.
    pub optimizer: SparkOptimizer,
    /// Name of the view recipe (`spark`: one view, random resized crop 0.67–1, horizontal flip).
    pub recipe: String,
    /// Normalise each target patch by its own mean and deviation (SparK's default, `true`); `false`
    /// reconstructs the input values, keeping what a patch's level means (on CT, its density).
    pub norm_pix_loss: bool,
}

impl Default for SparkConfig {
    fn default() -> Self {
        SparkConfig {
            mask_ratio: 0.6,
            decoder_width: None,
            out_channels: None,
            path: ExecutionPath::Sparse,
            optimizer: SparkOptimizer::default(),
            recipe: "spark".into(),
            norm_pix_loss: true,
        }
    }
}

impl SparkConfig {
    /// Sets the decoder width.
    pub fn with_decoder_width(mut self, width: usize) -> Self {
        self.decoder_width = Some(width);
        self
    }

    /// Sets the mask ratio.
    pub fn with_mask_ratio(mut self, ratio: f64) -> Self {
        self.mask_ratio = ratio;
        self
    }

    /// Sets the reconstruction's channel count.
    pub fn with_out_channels(mut self, channels: usize) -> Self {
        self.out_channels = Some(channels);
        self
    }

    /// Sets the execution path.
    pub fn with_path(mut self, path: ExecutionPath) -> Self {
        self.path = path;
        self
    }

    /// Checks the values (mask ratio in `[0, 1)`, positive widths and channel counts).
    pub fn validate(&self) -> Result<()> {
        if !(self.mask_ratio.is_finite() && (0.0..1.0).contains(&self.mask_ratio)) {
            return Err(SparseError::InvalidConfig(format!("mask ratio must be in [0, 1), got {}", self.mask_ratio)));
        }
        if self.decoder_width == Some(0) || self.out_channels == Some(0) {
            return Err(SparseError::InvalidConfig("decoder width and output channels must be positive".into()));
        }
        let o = &self.optimizer;
        if !(o.base_lr.is_finite() && o.base_lr > 0.0 && o.clip_grad_norm.is_finite() && o.clip_grad_norm > 0.0) {
            return Err(SparseError::InvalidConfig("learning rate and gradient clip must be positive".into()));
        }
        Ok(())
    }
}
