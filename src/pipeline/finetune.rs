//! One fine-tuning run with a run folder: fine-tune and linear-probe one initialisation on one training
//! subset, and keep `results.csv` (both rows) and `model.safetensors` (the fine-tuned classifier, with
//! torchvision names) in the folder.
//!
//! Started again with the same folder, a finished run redoes nothing and an interrupted one (killed at
//! any moment) redoes what is missing: each file is written whole or not at all, and every computation
//! is a function of the seed, so the files end up byte for byte those of a run never interrupted (the
//! `seconds` column aside). A folder of another run (other settings) is refused, and so is a second
//! process on the same folder.

use std::path::{Path, PathBuf};

use candle_core::Device;
use ctssl_backbones::ResNetConfig;
use ctssl_study::{Protocol, ResultRow, ResultsTable};
use ctssl_train::checkpoint::write_bytes_atomic;
use ctssl_train::run_lock::RunLock;

use super::config::FinetuneSettings;
use super::error::{PipelineError, Result};
use super::evaluate::{finetune_model, probe_point, task_features, EvalPoint, Init};

/// The fine-tuned classifier's file in the run folder.
pub const MODEL_FILE: &str = "model.safetensors";

/// The file recording which run the folder holds.
const RUN_FILE: &str = "run.txt";

/// What [`finetune_run`] needs besides the evaluation point.
#[derive(Debug, Clone, Copy)]
pub struct FinetuneJob<'a> {
    /// Where the backbone starts.
    pub init: &'a Init,
    /// The backbone.
    pub backbone: &'a ResNetConfig,
    /// Fine-tuning and probe settings.
    pub settings: &'a FinetuneSettings,
    /// Input size in pixels.
    pub image_size: usize,
    /// Everything that determines the run, in words (the settings, the data's hash, the initialisation):
    /// a folder holding another description is refused.
    pub description: &'a str,
}

/// What a fine-tuning run left behind.
#[derive(Debug, Clone)]
pub struct FinetuneOutcome {
    /// The fine-tuning row, then the linear probe's.
    pub rows: Vec<ResultRow>,
    /// `model.safetensors`, when the run has a folder.
    pub model: Option<PathBuf>,
    /// Whether everything was found done in the folder.
    pub resumed_done: bool,
}

/// Fine-tunes and linear-probes `point` under `job`; with `out`, resumes from and writes into that run
/// folder (see the module's documentation).
pub fn finetune_run(
    point: EvalPoint<'_>,
    job: FinetuneJob<'_>,
    out: Option<&Path>,
    device: &Device,
) -> Result<FinetuneOutcome> {
    let Some(out) = out else {
        let (ft, _) = finetune_model(point, job.init, job.backbone, job.settings, job.image_size, device)?;
        let lp = probe(point, job, device)?;
        return Ok(FinetuneOutcome { rows: vec![ft, lp], model: None, resumed_done: false });
    };
    let _lock = RunLock::acquire(out)?;
    claim(out, job.description)?;
    let results_path = out.join("results.csv");
    let model_path = out.join(MODEL_FILE);
    let mut table = ResultsTable::load(&results_path)?;
    let find = |t: &ResultsTable, p: Protocol| t.rows.iter().find(|r| r.protocol == p).cloned();
    let mut resumed_done = true;
    let ft = match find(&table, Protocol::Finetune) {
        Some(row) if model_path.exists() => row,
        _ => {
            resumed_done = false;
            let (row, model) = finetune_model(point, job.init, job.backbone, job.settings, job.image_size, device)?;
            model.save_safetensors(&model_path)?;
            table.push(row.clone());
            table.save(&results_path)?;
            row
        }
    };
    let lp = match find(&table, Protocol::LinearProbe) {
        Some(row) => row,
        None => {
            resumed_done = false;
            let row = probe(point, job, device)?;
            table.push(row.clone());
            table.save(&results_path)?;
            row
        }
    };
    Ok(FinetuneOutcome { rows: vec![ft, lp], model: Some(model_path), resumed_done })
}

/// The linear probe on the frozen features of `job.init`.
fn probe(point: EvalPoint<'_>, job: FinetuneJob<'_>, device: &Device) -> Result<ResultRow> {
    let features = task_features(job.backbone, job.init, point.task, point.seed, job.image_size, device)?;
    probe_point(point, &features, job.settings)
}

/// Refuses a folder that holds another run; records this one.
fn claim(out: &Path, description: &str) -> Result<()> {
    let path = out.join(RUN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(old) if old != description => Err(PipelineError::Config(format!(
            "{} holds another fine-tuning run (see its {RUN_FILE}); choose another --out or delete the folder",
            out.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(write_bytes_atomic(&path, description.as_bytes())?),
        Err(e) => Err(PipelineError::io(&path, e)),
    }
}
