//! What a pre-training method needs to run, whichever crate it comes from: the run's shape in, the
//! method with its views, optimizer and schedules out. The builders ([`super::spark`], the contrastive
//! methods in [`super::methods`]) depend on this module, not on each other.

use ctssl_augment::Recipe;
use ctssl_train::method::PretrainMethod;
use ctssl_train::optim::Optimizer;
use ctssl_train::trainer::{RunLength, TrainerConfig};

/// A method ready to train: the method, its views, its optimizer and the trainer's schedules.
pub struct MethodRun {
    /// The method (networks, loss, teachers).
    pub method: Box<dyn PretrainMethod>,
    /// The views of each sample.
    pub recipe: Recipe,
    /// The optimizer over the method's trainable variables.
    pub optimizer: Box<dyn Optimizer>,
    /// Learning-rate and weight-decay schedules, clipping, seed.
    pub trainer: TrainerConfig,
    /// The optimizer settings, as recorded in the run's config.
    pub optimizer_settings: String,
}

/// Everything that sizes a pre-training run.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    /// Side of the views.
    pub image_size: usize,
    /// Epochs over the pool, batches per epoch, samples per batch.
    pub length: RunLength,
    /// Multiplies the method's default learning rate.
    pub lr_scale: f64,
    /// Seed of the run.
    pub seed: u64,
    /// SparK's decoder width (`None`: SparK's default for the backbone); other methods ignore it.
    pub decoder_width: Option<usize>,
    /// SparK's target: each patch normalised (`true`, SparK's default) or the input values themselves.
    pub spark_norm_pix: bool,
}
