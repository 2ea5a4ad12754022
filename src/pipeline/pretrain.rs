//! One pre-training run: a method on the unlabeled pool through the trainer (checkpoints, exact resume,
//! NaN guard, metrics log), then the encoder exported with torchvision names.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use ctssl_augment::{InMemorySlices, Loader, LoaderConfig, Recipe, Sampling};
use ctssl_backbones::{LoadOptions, ResNet, ResNetConfig};
use ctssl_train::trainer::{RunSummary, Trainer};

use super::error::{PipelineError, Result};
use super::methods::{method_run, RunShape, Views};

/// The file a finished pre-training run leaves in its folder.
pub const ENCODER_FILE: &str = "encoder.safetensors";

/// What [`pretrain`] did.
#[derive(Debug, Clone)]
pub struct PretrainOutcome {
    /// The exported encoder (torchvision names, no classifier).
    pub encoder: PathBuf,
    /// The trainer's summary; `None` when the encoder already existed and nothing was run.
    pub summary: Option<RunSummary>,
    /// Wall time of this call.
    pub seconds: f64,
}

/// Settings of one pre-training run.
#[derive(Debug, Clone)]
pub struct PretrainRequest<'a> {
    /// Method name (see [`super::methods::METHODS`]).
    pub method: &'a str,
    /// The backbone to pre-train.
    pub backbone: ResNetConfig,
    /// Size of the views, batch, epochs, learning-rate scale, seed (`steps_per_epoch` is filled in).
    pub shape: RunShape,
    /// Whose views.
    pub views: Views,
    /// How HU become network input (replaces each recipe's base window).
    pub input: ctssl_train::eval::InputMapping,
    /// Checkpoint interval in steps.
    pub checkpoint_every: u64,
    /// Stop after this many steps in this call (for tests and time-boxed runs); the run resumes later.
    pub stop_after: Option<u64>,
    /// Re-estimate the exported encoder's batch-norm statistics on this many dense, un-augmented pool
    /// images (0: keep the statistics of pre-training; see [`recalibrate_batch_norm`]).
    pub dense_bn_images: usize,
}

/// Pre-trains `req.method` on `pool` in `run_dir` (resuming from its last checkpoint) and exports the
/// encoder to `run_dir/encoder.safetensors`. A folder that already holds the encoder is left as it is.
pub fn pretrain(
    req: &PretrainRequest<'_>,
    pool: &InMemorySlices,
    run_dir: &Path,
    device: &Device,
) -> Result<PretrainOutcome> {
    let t0 = Instant::now();
    // One process per run folder: a second one is refused instead of interleaving checkpoints.
    let _lock = ctssl_train::run_lock::RunLock::acquire(run_dir)?;
    let encoder = run_dir.join(ENCODER_FILE);
    if encoder.exists() {
        return Ok(PretrainOutcome { encoder, summary: None, seconds: 0.0 });
    }
    let n = pool.slices.len();
    let batch = req.shape.batch_size.min(n);
    if batch < 2 {
        return Err(PipelineError::Data(format!("the pre-training pool has {n} slice(s); at least 2 are needed")));
    }
    let shape = RunShape { batch_size: batch, steps_per_epoch: (n / batch) as u64, ..req.shape };
    let mut run = method_run(req.method, req.backbone.clone(), shape, req.views, device)?;
    let loader_cfg = LoaderConfig {
        batch_size: batch,
        sampling: Sampling::Shuffle,
        drop_last: true,
        seed: shape.seed,
        prefetch: 2,
        threads: None,
    };
    let recipe = req.input.apply(run.recipe.clone());
    let loader = Loader::new(pool.clone(), recipe, loader_cfg)?.with_device(device.clone());
    let mut trainer_cfg = run.trainer.clone();
    trainer_cfg.checkpoint_every = req.checkpoint_every;
    let extra = serde_json::json!({
        "method": req.method,
        "recipe": run.recipe.name,
        "optimizer": run.optimizer_settings,
        "backbone": format!("{:?}", req.backbone),
        "image_size": shape.image_size,
        "batch_size": batch,
    });
    let mut trainer = Trainer::new(trainer_cfg, run_dir.join("train"))?.with_extra_config(extra);
    if let Some(s) = req.stop_after {
        trainer = trainer.stop_after(s);
    }
    let summary = trainer.run(&mut *run.method, &mut *run.optimizer, &loader)?;
    if summary.steps_done >= summary.total_steps {
        let mut state = run.method.encoder_state_dict();
        if req.dense_bn_images > 0 {
            let images = DenseImages { pool, input: &req.input, image_size: shape.image_size, seed: shape.seed };
            state = recalibrate_batch_norm(state, &req.backbone, images, req.dense_bn_images, device)?;
        }
        ctssl_backbones::save_safetensors(&state, &encoder)?;
    }
    Ok(PretrainOutcome { encoder, summary: Some(summary), seconds: t0.elapsed().as_secs_f64() })
}

/// Pool images as the downstream protocols see them: whole, un-augmented, through the input mapping.
#[derive(Debug, Clone, Copy)]
pub struct DenseImages<'a> {
    /// The unlabeled pool.
    pub pool: &'a InMemorySlices,
    /// How HU become network input.
    pub input: &'a ctssl_train::eval::InputMapping,
    /// Image size in pixels.
    pub image_size: usize,
    /// Seed of the draw of images.
    pub seed: u64,
}

/// Batch size of [`recalibrate_batch_norm`]'s forward passes.
const RECALIBRATION_BATCH: usize = 64;

/// Re-estimates the batch-norm running statistics of an encoder (`state`, torchvision names) on about
/// `count` dense pool images: the mean over batches of each batch's mean and (unbiased) variance, the
/// "precise BN" estimate. Everything else in `state` is returned unchanged.
///
/// SparK's encoder normalises with statistics over the *visible* positions of masked images (sparse batch
/// norm), and its running statistics are those; a frozen encoder on whole images (linear probe, kNN)
/// meets other activations, so the statistics it normalises with no longer fit. Fine-tuning re-estimates
/// them anyway; the frozen-feature protocols need this.
pub fn recalibrate_batch_norm(
    state: HashMap<String, Tensor>,
    backbone: &ResNetConfig,
    images: DenseImages<'_>,
    count: usize,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let mut config = backbone.clone().with_num_classes(None);
    // Momentum 1: after a forward pass in training mode the running statistics are that batch's.
    config.bn_momentum = 1.0;
    let model = ResNet::new(config, images.seed, device)?;
    model.load_state_dict(&state, &LoadOptions::partial())?;
    let n = images.pool.slices.len();
    let batch = RECALIBRATION_BATCH.min(count).min(n).max(1);
    let loader_cfg = LoaderConfig {
        batch_size: batch,
        sampling: Sampling::Shuffle,
        drop_last: true,
        seed: images.seed,
        prefetch: 2,
        threads: None,
    };
    let recipe = images.input.apply(Recipe::eval(images.image_size));
    let loader = Loader::new(images.pool.clone(), recipe, loader_cfg)?.with_device(device.clone());
    let batches = count.div_ceil(batch).min(loader.num_batches()).max(1);
    let is_stat = |name: &str| name.ends_with(".running_mean") || name.ends_with(".running_var");
    let mut sums: HashMap<String, Tensor> = HashMap::new();
    for b in 0..batches {
        let batch = loader.batch(0, b)?;
        let x = batch.views.first().ok_or_else(|| PipelineError::Data("a batch without views".into()))?;
        model.forward_features(x, true)?;
        for (name, t) in model.state_dict().into_iter().filter(|(k, _)| is_stat(k)) {
            let t = t.to_dtype(candle_core::DType::F64)?;
            let sum = match sums.remove(&name) {
                Some(s) => (s + t)?,
                None => t,
            };
            sums.insert(name, sum);
        }
    }
    let mut state = state;
    for (name, sum) in sums {
        if let Some(old) = state.get(&name) {
            let mean = (sum / batches as f64)?.to_dtype(old.dtype())?;
            state.insert(name, mean);
        }
    }
    Ok(state)
}
