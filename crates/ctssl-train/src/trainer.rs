//! The pre-training loop: one loop for every [`PretrainMethod`].
//!
//! Per optimizer step: loss → non-finite guard (the run stops with [`TrainError::NonFinite`] naming the
//! step; nothing is written after a non-finite loss, so the last checkpoint is the last good one) →
//! backward → optional clipping by global norm (a non-finite norm stops the run the same way) → learning
//! rate and weight decay from their schedules → optimizer step → [`PretrainMethod::after_step`]. Every
//! `checkpoint_every` steps (and at the end) a checkpoint goes to the run folder (atomic, the last
//! `keep_last` kept) with the trainable variables, the method's state tensors, the optimizer state, the
//! step, the epoch, the RNG state and the configuration. Each step appends a record to `metrics.jsonl`
//! and `metrics.csv`; each epoch appends a record to `metrics.jsonl`.
//!
//! Resuming: [`Trainer::run`] starts from the latest checkpoint of the run folder when there is one, and
//! continues exactly as an uninterrupted run (the loader's views depend only on the seed, the epoch and
//! the position, so the batch of a step is found again). Records of steps after the last checkpoint that
//! were logged before an interruption appear twice in the metrics files; readers keep the last.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use candle_core::{DType, Tensor, Var};
use ctssl_augment::{Batch, Loader, SliceSource};
use ctssl_backbones::snapshot;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{check_finite, keep_last, latest, Checkpoint, RngState};
use crate::csv_log::CsvLog;
use crate::error::{Result, TrainError};
use crate::method::{load_vars, PretrainMethod, StepContext};
use crate::optim::{clip_grad_norm, Optimizer};
use crate::progress::{MetricsLog, Progress};
use crate::schedule::Schedule;

const STATE: &str = "state/";

/// Settings of a pre-training run (saved as JSON in every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    /// Number of epochs (passes over the loader).
    pub epochs: u64,
    /// Learning rate by step.
    pub lr: Schedule,
    /// Weight decay by step (the optimizer's base value; groups scale it).
    pub weight_decay: Schedule,
    /// Clip gradients to this global L2 norm.
    pub clip_grad_norm: Option<f64>,
    /// Write a checkpoint every this many steps (0: only at the end).
    pub checkpoint_every: u64,
    /// Keep this many most recent checkpoints (at least 1).
    pub keep_last: usize,
    /// Seed of the run's random generator (given to the method through [`StepContext::rng`]).
    pub seed: u64,
    /// Least time between two log lines when the output is not a terminal, in seconds.
    pub log_every_s: f64,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            lr: Schedule::Constant { value: 1e-3 },
            weight_decay: Schedule::Constant { value: 0.0 },
            clip_grad_norm: None,
            checkpoint_every: 1000,
            keep_last: 3,
            seed: 0,
            log_every_s: 10.0,
        }
    }
}

/// How long a pre-training run is: epochs of `steps_per_epoch` batches of `batch_size` samples. One type
/// for every method's trainer settings (`OptimizerChoice::trainer_config`,
/// `ctssl_sparse::SparkOptimizer::trainer_config`), so the three numbers are named, never passed in an
/// order that differs from one function to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLength {
    /// Passes over the data.
    pub epochs: u64,
    /// Optimizer steps (batches) per epoch.
    pub steps_per_epoch: u64,
    /// Samples per batch (learning rates scale with it).
    pub batch_size: usize,
}

impl RunLength {
    /// Optimizer steps of the whole run.
    pub fn total_steps(&self) -> u64 {
        self.epochs * self.steps_per_epoch
    }
}

/// What one optimizer step gave: the values a metrics record is made of.
struct StepDone {
    loss: f64,
    lr: f64,
    weight_decay: f64,
    grad_norm: Option<f64>,
    /// The method's own values (collapse monitors ...).
    logs: Vec<(String, f64)>,
}

impl StepDone {
    /// The metrics record of step `step` of epoch `epoch` (`grad_norm` only when gradients are clipped).
    fn record(self, step: u64, epoch: u64) -> Vec<(String, f64)> {
        let mut record: Vec<(String, f64)> = vec![
            ("step".into(), step as f64),
            ("epoch".into(), epoch as f64),
            ("loss".into(), self.loss),
            ("lr".into(), self.lr),
            ("weight_decay".into(), self.weight_decay),
        ];
        if let Some(n) = self.grad_norm {
            record.push(("grad_norm".into(), n));
        }
        record.extend(self.logs);
        record
    }
}

/// What a call of [`Trainer::run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The step the call started from (non-zero when resumed).
    pub start_step: u64,
    /// Optimizer steps done in total (including those before a resume).
    pub steps_done: u64,
    /// Total steps of the run.
    pub total_steps: u64,
    /// The loss of the last step run by this call.
    pub last_loss: Option<f64>,
    /// The last checkpoint written by this call.
    pub last_checkpoint: Option<PathBuf>,
}

/// Runs a [`PretrainMethod`] with an [`Optimizer`] over a [`Loader`], writing into a run folder.
#[derive(Debug, Clone)]
pub struct Trainer {
    config: TrainerConfig,
    run_dir: PathBuf,
    extra: serde_json::Value,
    stop_after: Option<u64>,
}

impl Trainer {
    /// A trainer writing into `run_dir`; checks the schedules and the checkpoint settings.
    pub fn new(config: TrainerConfig, run_dir: impl Into<PathBuf>) -> Result<Self> {
        config.lr.validate()?;
        config.weight_decay.validate()?;
        if config.epochs == 0 || config.keep_last == 0 {
            return Err(TrainError::InvalidArgument("epochs and keep_last must be at least 1".into()));
        }
        if config.clip_grad_norm.is_some_and(|c| !(c.is_finite() && c > 0.0)) || !config.log_every_s.is_finite() {
            return Err(TrainError::InvalidArgument(
                "clip_grad_norm must be positive and finite, log_every_s finite".into(),
            ));
        }
        Ok(Self { config, run_dir: run_dir.into(), extra: serde_json::Value::Null, stop_after: None })
    }

    /// More configuration (the method's, the data's) to save with the trainer's in each checkpoint.
    pub fn with_extra_config(mut self, extra: serde_json::Value) -> Self {
        self.extra = extra;
        self
    }

    /// Stops once `steps` steps are done, without writing anything more (simulates an interruption; for
    /// tests and time-limited jobs).
    pub fn stop_after(mut self, steps: u64) -> Self {
        self.stop_after = Some(steps);
        self
    }

    /// The settings.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The run folder.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn config_json(&self, method: &str) -> Result<String> {
        let v = serde_json::json!({ "trainer": self.config, "method": method, "extra": self.extra });
        serde_json::to_string(&v).map_err(|source| TrainError::Json { what: "the run's config", source })
    }

    /// Runs (or resumes, from the latest checkpoint of the run folder) until the last step.
    pub fn run<S, M, O>(&self, method: &mut M, opt: &mut O, loader: &Loader<S>) -> Result<RunSummary>
    where
        S: SliceSource + 'static,
        M: PretrainMethod + ?Sized,
        O: Optimizer + ?Sized,
    {
        let nb = loader.num_batches() as u64;
        if nb == 0 {
            return Err(TrainError::InvalidArgument("the loader yields no batch".into()));
        }
        let total = self.config.epochs * nb;
        let vars = method.trainable_vars();
        let plain_vars: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
        let config_json = self.config_json(method.name())?;

        let (mut step, mut rng) = match latest(&self.run_dir)? {
            Some(path) => {
                let ckpt =
                    Checkpoint::load(&path, plain_vars.first().map_or(&candle_core::Device::Cpu, |v| v.device()))?;
                self.restore(&ckpt, method, opt, &vars, &config_json)?;
                tracing::info!("resuming {} from {} (step {})", method.name(), path.display(), ckpt.step);
                (ckpt.step, ckpt.rng.to_rng())
            }
            None => (0, ChaCha8Rng::seed_from_u64(self.config.seed)),
        };
        let start_step = step;
        let mut jsonl = MetricsLog::open(&self.run_dir)?;
        let mut csv = CsvLog::open(&self.run_dir)?;
        let mut progress = Progress::new(step, total, Duration::from_secs_f64(self.config.log_every_s.max(0.0)));
        let mut summary =
            RunSummary { start_step, steps_done: step, total_steps: total, last_loss: None, last_checkpoint: None };

        while step < total {
            let epoch = step / nb;
            let first = (step % nb) as usize;
            let batches: Box<dyn Iterator<Item = ctssl_augment::Result<Batch>>> = if first == 0 {
                Box::new(loader.epoch(epoch))
            } else {
                Box::new((first..nb as usize).map(move |b| loader.batch(epoch, b)))
            };
            let (mut loss_sum, mut loss_n) = (0.0, 0u64);
            for batch in batches {
                if self.stop_after.is_some_and(|s| step >= s) {
                    progress.finish();
                    return Ok(summary);
                }
                let batch = batch?;
                let images = batch.indices.len() as u64;
                let mut ctx = StepContext { step, total_steps: total, epoch, rng: &mut rng };
                let done = self.optimizer_step(method, opt, &plain_vars, &batch.views, &mut ctx)?;
                let (loss_value, lr) = (done.loss, done.lr);
                let record = done.record(step, epoch);
                jsonl.log(&record_json(&record))?;
                csv.log(&record)?;
                progress.update(step, loss_value, lr, images);
                loss_sum += loss_value;
                loss_n += 1;
                step += 1;
                summary.steps_done = step;
                summary.last_loss = Some(loss_value);

                crate::hold::hold_point("train-step");
                let every = self.config.checkpoint_every;
                if (every > 0 && step % every == 0) || step == total {
                    let ckpt = self.checkpoint(method, opt, &vars, step, step / nb, &rng, &config_json)?;
                    summary.last_checkpoint = Some(ckpt.save(&self.run_dir)?);
                    keep_last(&self.run_dir, self.config.keep_last)?;
                }
            }
            if loss_n > 0 {
                jsonl.log(
                    &serde_json::json!({"epoch_end": epoch, "steps": loss_n, "mean_loss": loss_sum / loss_n as f64}),
                )?;
            }
        }
        progress.finish();
        Ok(summary)
    }

    /// One step: the method's loss on `views`, its gradients (clipped when configured), the optimizer's
    /// update at this step's learning rate and weight decay, then the method's own after-step update.
    /// A non-finite loss or gradient norm stops the run before any variable changes.
    fn optimizer_step<M, O>(
        &self,
        method: &mut M,
        opt: &mut O,
        vars: &[Var],
        views: &[candle_core::Tensor],
        ctx: &mut StepContext<'_>,
    ) -> Result<StepDone>
    where
        M: PretrainMethod + ?Sized,
        O: Optimizer + ?Sized,
    {
        let (step, total) = (ctx.step, ctx.total_steps);
        let out = method.loss(views, ctx)?;
        let loss = out.loss.to_dtype(DType::F64)?.flatten_all()?;
        if loss.elem_count() != 1 {
            return Err(TrainError::InvalidArgument(format!("loss has shape {:?}", out.loss.dims())));
        }
        let loss_value = loss.to_vec1::<f64>()?[0];
        check_finite(loss_value, step)?;
        let mut grads = out.loss.backward()?;
        let grad_norm = match self.config.clip_grad_norm {
            Some(max) => {
                let n = clip_grad_norm(&mut grads, vars, max)?;
                check_finite(n, step)?;
                Some(n)
            }
            None => None,
        };
        let (lr, wd) = (self.config.lr.at(step), self.config.weight_decay.at(step));
        opt.set_learning_rate(lr);
        opt.set_weight_decay(wd);
        opt.step(&grads)?;
        method.after_step(step, total)?;
        Ok(StepDone { loss: loss_value, lr, weight_decay: wd, grad_norm, logs: out.logs })
    }

    #[allow(clippy::too_many_arguments)]
    fn checkpoint<M: PretrainMethod + ?Sized, O: Optimizer + ?Sized>(
        &self,
        method: &M,
        opt: &O,
        vars: &[(String, Var)],
        step: u64,
        epoch: u64,
        rng: &ChaCha8Rng,
        config: &str,
    ) -> Result<Checkpoint> {
        let mut model: HashMap<String, Tensor> = snapshot(vars)?.into_iter().collect();
        for (n, t) in method.state_tensors()? {
            if model.insert(format!("{STATE}{n}"), t).is_some() {
                return Err(TrainError::DuplicateName(n));
            }
        }
        Ok(Checkpoint {
            model,
            optimizer: opt.state_tensors()?,
            step,
            epoch,
            rng: RngState::from_rng(rng),
            config: config.to_string(),
        })
    }

    fn restore<M: PretrainMethod + ?Sized, O: Optimizer + ?Sized>(
        &self,
        ckpt: &Checkpoint,
        method: &mut M,
        opt: &mut O,
        vars: &[(String, Var)],
        config: &str,
    ) -> Result<()> {
        if ckpt.config != config {
            tracing::warn!(
                "resuming with another configuration than the checkpoint's:\n{}\nnow:\n{config}",
                ckpt.config
            );
        }
        let (mut params, mut state) = (HashMap::new(), HashMap::new());
        for (n, t) in &ckpt.model {
            match n.strip_prefix(STATE) {
                Some(s) => state.insert(s.to_string(), t.clone()),
                None => params.insert(n.clone(), t.clone()),
            };
        }
        load_vars(&params, vars)?;
        method.load_state_tensors(&state)?;
        opt.load_state_tensors(&ckpt.optimizer)?;
        Ok(())
    }
}

fn record_json(record: &[(String, f64)]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = record
        .iter()
        .map(|(k, v)| {
            let v = if k == "step" || k == "epoch" {
                serde_json::Value::from(*v as u64)
            } else {
                serde_json::Number::from_f64(*v).map_or(serde_json::Value::Null, serde_json::Value::Number)
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map)
}
