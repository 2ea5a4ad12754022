//! Full fine-tuning. Two schedules:
//! - by epochs (the reference study's): Adam(W) lr 1e-4, weight decay 5e-4, batch 64; the backbone
//!   frozen for the first epochs (only `fc` learns, the backbone runs in evaluation mode so neither its
//!   weights nor its batch-norm statistics change), then everything; validation after every epoch;
//! - by steps (`steps > 0`, the CPU presets'): exactly `steps` optimizer steps of the whole network
//!   whatever the size of the training subset, validation every `eval_every` steps; so every
//!   initialisation and every label fraction gets the same amount of training, and "fewer labels" is
//!   not confounded with "fewer steps".
//!
//! The model of the best validation check (accuracy, ROC-AUC or loss: [`Selection`]; the first one on
//! ties) is kept and evaluated on the test split.

use candle_core::Tensor;
use ctssl_augment::{InMemorySlices, Loader, LoaderConfig, Recipe, Sampling};
use ctssl_backbones::{ParamKind, Parameters, ResNet};
use serde::{Deserialize, Serialize};

use super::cross_entropy;
use super::data::{predict_proba, LabeledSet};
use super::report::{ClassificationReport, ValCheck};
use crate::error::{Result, TrainError};
use crate::optim::{split_decay, AdamW, AdamWConfig, Optimizer, ParamGroup};

/// Settings of [`finetune()`]; the defaults are the study's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    /// Epochs in total (the study: 70).
    pub epochs: usize,
    /// First epochs with the backbone frozen (the study: 10).
    pub frozen_epochs: usize,
    /// Learning rate (the study: 1e-4).
    pub lr: f64,
    /// Weight decay (the study: 5e-4).
    pub weight_decay: f64,
    /// `false` (the study, `torch.optim.Adam`): L2 on every parameter, added to the gradient.
    /// `true`: AdamW's decoupled decay, not applied to biases and batch norm.
    pub decoupled_weight_decay: bool,
    /// Training batch size (the study: 64).
    pub batch_size: usize,
    /// Side of the model's input images.
    pub image_size: usize,
    /// Batch size of evaluation passes.
    pub eval_batch_size: usize,
    /// Training sample order (shuffle, or class-balanced sampling).
    pub sampling: Sampling,
    /// Seed of the batch order and augmentations.
    pub seed: u64,
    /// Optimizer steps in total; 0: `epochs` passes over the training subset instead.
    pub steps: usize,
    /// With `steps`: steps between validation checks (the last step is always checked).
    pub eval_every: usize,
    /// What the kept model is selected on.
    pub selection: Selection,
    /// Training augmentation.
    pub augment: Augment,
}

/// What the kept model is selected on (validation split).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Accuracy (the reference study's; moves in steps of 1 / n on a small validation split).
    Accuracy,
    /// ROC-AUC (binary, or macro one-vs-rest); the loss where it is undefined (one class).
    RocAuc,
    /// Cross-entropy loss (lower is better).
    Loss,
}

/// Training augmentation of fine-tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// The reference study's horizontal and vertical flips ([`Recipe::finetune`]).
    Flips,
    /// Small crops, zooms and rotations, no flips ([`Recipe::finetune_ct`]): keeps left and right, which
    /// several organ classes are about.
    KeepLaterality,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            epochs: 70,
            frozen_epochs: 10,
            lr: 1e-4,
            weight_decay: 5e-4,
            decoupled_weight_decay: false,
            batch_size: 64,
            image_size: 64,
            eval_batch_size: 128,
            sampling: Sampling::Shuffle,
            seed: 0,
            steps: 0,
            eval_every: 0,
            selection: Selection::Accuracy,
            augment: Augment::Flips,
        }
    }
}

/// One validation check of fine-tuning (the end of an epoch, or every `eval_every` steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch (by steps: 0-based check).
    pub epoch: usize,
    /// Optimizer steps done at the check.
    pub step: usize,
    /// Whether the backbone was frozen.
    pub frozen: bool,
    /// Mean training loss since the previous check.
    pub train_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Validation ROC-AUC (`None` where undefined).
    pub val_roc_auc: Option<f64>,
    /// Validation cross-entropy.
    pub val_loss: f64,
}

/// What [`finetune()`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneResult {
    /// Every epoch.
    pub history: Vec<EpochRecord>,
    /// The check kept (first one with the best validation score): its epoch; the model holds its weights.
    pub best_epoch: usize,
    /// Optimizer steps done at the kept check.
    pub best_step: usize,
    /// Test metrics of the kept model.
    pub test: ClassificationReport,
    /// The kept model's test class probabilities, `[n, k]` row-major.
    pub test_probs: Vec<f64>,
}

/// Fine-tunes `model` (a ResNet with `fc` of `train.num_classes` outputs, possibly with a pre-trained
/// backbone) in place; on return it holds the weights of the best validation epoch.
pub fn finetune(
    model: &ResNet,
    train: &LabeledSet,
    val: &LabeledSet,
    test: &LabeledSet,
    cfg: &FinetuneConfig,
) -> Result<FinetuneResult> {
    let fc = model.fc().ok_or_else(|| TrainError::InvalidArgument("the model has no classifier (fc)".into()))?;
    let k = train.num_classes;
    if fc.weight().as_tensor().dim(0)? != k || val.num_classes != k || test.num_classes != k {
        return Err(TrainError::InvalidArgument(format!("fc and the splits must have {k} classes")));
    }
    let by_steps = cfg.steps > 0;
    if (!by_steps && (cfg.epochs == 0 || cfg.frozen_epochs > cfg.epochs))
        || (by_steps && cfg.frozen_epochs > 0)
        || cfg.batch_size == 0
        || train.is_empty()
        || val.is_empty()
    {
        return Err(TrainError::InvalidArgument(format!(
            "fine-tuning: {} epochs ({} frozen), {} steps, batch {}, {} train / {} val slices (a step budget \
             trains the whole network: no frozen epochs)",
            cfg.epochs,
            cfg.frozen_epochs,
            cfg.steps,
            cfg.batch_size,
            train.len(),
            val.len()
        )));
    }
    let loader_cfg = LoaderConfig {
        batch_size: cfg.batch_size,
        sampling: cfg.sampling,
        drop_last: train.len() >= cfg.batch_size,
        seed: cfg.seed,
        prefetch: 2,
        threads: None,
    };
    let recipe = match cfg.augment {
        Augment::Flips => Recipe::finetune(cfg.image_size),
        Augment::KeepLaterality => Recipe::finetune_ct(cfg.image_size),
    };
    let loader: Loader<InMemorySlices> =
        Loader::labeled(train.slices.clone(), train.labels.clone(), train.input.apply(recipe), loader_cfg)?;
    let per_epoch = loader.num_batches().max(1);
    let (total_steps, check_every, frozen_steps) = if by_steps {
        (cfg.steps, cfg.eval_every.clamp(1, cfg.steps), 0)
    } else {
        (cfg.epochs * per_epoch, per_epoch, cfg.frozen_epochs * per_epoch)
    };
    let named = |head_only: bool| -> Vec<(String, candle_core::Var)> {
        let mut vars = model.vars_of_kind("", ParamKind::Trainable);
        vars.retain(|(name, _)| !head_only || name.starts_with("fc."));
        vars
    };
    let adam = |head_only: bool| {
        let groups = if cfg.decoupled_weight_decay {
            split_decay(named(head_only))
        } else {
            vec![ParamGroup::new(named(head_only))]
        };
        let adam = AdamWConfig {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            decoupled_weight_decay: cfg.decoupled_weight_decay,
            ..Default::default()
        };
        AdamW::new(groups, adam)
    };
    let all_vars: Vec<(String, candle_core::Var)> = model.named_vars("").into_iter().map(|v| (v.name, v.var)).collect();
    let snapshot = || -> Result<Vec<(String, Tensor)>> { Ok(ctssl_backbones::snapshot(&all_vars)?) };
    let mut opt = adam(frozen_steps > 0)?;
    let mut history = Vec::new();
    let (mut best_score, mut best_epoch, mut best_step, mut best_state) = (f64::NEG_INFINITY, 0, 0, snapshot()?);
    let (mut step, mut epoch, mut sum, mut count) = (0usize, 0u64, 0.0, 0usize);
    'training: loop {
        let mut batches = 0usize;
        for batch in loader.epoch(epoch) {
            let frozen = step < frozen_steps;
            if step == frozen_steps && step > 0 {
                opt = adam(false)?; // unfreeze: every parameter from now on, fresh moments
            }
            let batch = batch?;
            batches += 1;
            let x = batch.views.first().ok_or_else(|| TrainError::InvalidArgument("a batch without views".into()))?;
            let labels: Vec<u32> = match &batch.labels {
                Some(l) => l.to_vec1::<u32>()?,
                None => return Err(TrainError::InvalidArgument("an unlabeled batch".into())),
            };
            let logits = if frozen {
                fc.forward(&model.forward_features(x, false)?.pooled.detach())?
            } else {
                model.forward(x, true)?
            };
            let loss = cross_entropy(&logits, &labels)?;
            let value = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            crate::checkpoint::check_finite(value, step as u64)?;
            opt.step(&loss.backward()?)?;
            sum += value;
            count += 1;
            step += 1;
            if step % check_every == 0 || step == total_steps {
                let check = validate(model, val, cfg, k)?;
                let score = check.score(cfg.selection);
                let train_loss = if count > 0 { sum / count as f64 } else { f64::NAN };
                let index = if by_steps { history.len() } else { epoch as usize };
                tracing::info!(
                    "fine-tune step {step}{} loss {train_loss:.4} val acc {:.4} val loss {:.4}",
                    if frozen { " (frozen)" } else { "" },
                    check.accuracy,
                    check.loss
                );
                history.push(EpochRecord {
                    epoch: index,
                    step,
                    frozen,
                    train_loss,
                    val_accuracy: check.accuracy,
                    val_roc_auc: check.roc_auc,
                    val_loss: check.loss,
                });
                (sum, count) = (0.0, 0);
                if score > best_score {
                    (best_score, best_epoch, best_step) = (score, index, step);
                    best_state = snapshot()?;
                }
            }
            if step == total_steps {
                break 'training;
            }
        }
        if batches == 0 {
            return Err(TrainError::InvalidArgument("fine-tuning: an epoch without batches".into()));
        }
        epoch += 1;
    }
    for ((_, v), (_, t)) in all_vars.iter().zip(&best_state) {
        v.set(t)?;
    }
    let probs = predict_proba(model, test, cfg.image_size, cfg.eval_batch_size)?;
    let report = ClassificationReport::from_probs(&probs, &test.labels, k)?;
    Ok(FinetuneResult { history, best_epoch, best_step, test: report, test_probs: probs })
}

fn validate(model: &ResNet, val: &LabeledSet, cfg: &FinetuneConfig, k: usize) -> Result<ValCheck> {
    let probs = predict_proba(model, val, cfg.image_size, cfg.eval_batch_size)?;
    ValCheck::of(&probs, &val.labels, k)
}
