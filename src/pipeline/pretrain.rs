//! One pre-training run: a method on the unlabeled pool through the trainer (checkpoints, exact resume,
//! NaN guard, metrics log), then the encoder exported with torchvision names.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use ctssl_augment::{InMemorySlices, Loader, LoaderConfig, Sampling};
use ctssl_backbones::ResNetConfig;
use ctssl_train::trainer::{RunLength, RunSummary, Trainer};

use super::error::{PipelineError, Result};
use super::methods::{method_run, Method, RunShape, Views};

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
pub struct PretrainRequest {
    /// The method.
    pub method: Method,
    /// The backbone to pre-train.
    pub backbone: ResNetConfig,
    /// Size of the views, run length, learning-rate scale, seed (`length.steps_per_epoch` is filled in).
    pub shape: RunShape,
    /// Whose views.
    pub views: Views,
    /// How HU become network input (replaces each recipe's base window).
    pub input: ctssl_train::eval::InputMapping,
    /// Checkpoint interval in steps.
    pub checkpoint_every: u64,
    /// Stop after this many steps in this call (for tests and time-boxed runs); the run resumes later.
    pub stop_after: Option<u64>,
}

/// Pre-trains `req.method` on `pool` in `run_dir` (resuming from its last checkpoint) and exports the
/// encoder to `run_dir/encoder.safetensors`. A folder that already holds the encoder is left as it is.
pub fn pretrain(
    req: &PretrainRequest,
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
    let batch = req.shape.length.batch_size.min(n);
    if batch < 2 {
        return Err(PipelineError::Data(format!("the pre-training pool has {n} slice(s); at least 2 are needed")));
    }
    let length = RunLength { batch_size: batch, steps_per_epoch: (n / batch) as u64, ..req.shape.length };
    let shape = RunShape { length, ..req.shape };
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
        "method": req.method.name(),
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
        ctssl_backbones::save_safetensors(&run.method.encoder_state_dict()?, &encoder)?;
    }
    Ok(PretrainOutcome { encoder, summary: Some(summary), seconds: t0.elapsed().as_secs_f64() })
}
