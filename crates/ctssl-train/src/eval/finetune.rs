//! Full fine-tuning with the study's schedule: Adam(W) lr 1e-4, weight decay 5e-4, batch 64; the backbone
//! frozen for the first epochs (only `fc` learns, the backbone runs in evaluation mode so neither its
//! weights nor its batch-norm statistics change), then everything; the epoch with the best validation
//! accuracy is kept and evaluated on the test split.

use candle_core::Tensor;
use ctssl_augment::{InMemorySlices, Loader, LoaderConfig, Recipe, Sampling};
use ctssl_backbones::ResNet;
use serde::{Deserialize, Serialize};

use super::cross_entropy;
use super::data::{predict_proba, LabeledSet};
use super::report::{argmax_rows, ClassificationReport};
use crate::error::{Result, TrainError};
use crate::metrics::accuracy;
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
        }
    }
}

/// One epoch of fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// Whether the backbone was frozen.
    pub frozen: bool,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation accuracy at the end of the epoch.
    pub val_accuracy: f64,
}

/// What [`finetune()`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneResult {
    /// Every epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch kept (first one with the best validation accuracy); the model holds its weights.
    pub best_epoch: usize,
    /// Test metrics of the kept model.
    pub test: ClassificationReport,
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
    if cfg.epochs == 0 || cfg.frozen_epochs > cfg.epochs || cfg.batch_size == 0 || train.is_empty() || val.is_empty() {
        return Err(TrainError::InvalidArgument(format!(
            "fine-tuning: {} epochs ({} frozen), batch {}, {} train / {} val slices",
            cfg.epochs,
            cfg.frozen_epochs,
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
    let loader: Loader<InMemorySlices> = Loader::labeled(
        train.slices.clone(),
        train.labels.clone(),
        train.input.apply(Recipe::finetune(cfg.image_size)),
        loader_cfg,
    )?;
    let named = |head_only: bool| -> Vec<(String, candle_core::Var)> {
        model
            .named_vars()
            .filter(|v| v.kind == ctssl_backbones::ParamKind::Trainable && (!head_only || v.name.starts_with("fc.")))
            .map(|v| (v.name.clone(), v.var.clone()))
            .collect()
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
    let all_vars: Vec<candle_core::Var> = model.named_vars().map(|v| v.var.clone()).collect();
    let snapshot = || -> Result<Vec<Tensor>> { all_vars.iter().map(|v| Ok(v.as_detached_tensor().copy()?)).collect() };
    let val_target: Vec<usize> = val.labels.iter().map(|&l| l as usize).collect();

    let mut opt = adam(cfg.frozen_epochs > 0)?;
    let mut history = Vec::with_capacity(cfg.epochs);
    let (mut best_acc, mut best_epoch, mut best_state) = (f64::NEG_INFINITY, 0, snapshot()?);
    for epoch in 0..cfg.epochs {
        let frozen = epoch < cfg.frozen_epochs;
        if epoch == cfg.frozen_epochs && epoch > 0 {
            opt = adam(false)?; // unfreeze: every parameter from now on, fresh moments
        }
        let (mut sum, mut count) = (0.0, 0usize);
        for batch in loader.epoch(epoch as u64) {
            let batch = batch?;
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
            crate::checkpoint::check_finite(value, epoch as u64)?;
            opt.step(&loss.backward()?)?;
            sum += value;
            count += 1;
        }
        let probs = predict_proba(model, val, cfg.image_size, cfg.eval_batch_size)?;
        let val_accuracy = accuracy(&argmax_rows(&probs, k), &val_target)?;
        let train_loss = if count > 0 { sum / count as f64 } else { f64::NAN };
        tracing::info!(
            "fine-tune epoch {epoch}{} loss {train_loss:.4} val acc {val_accuracy:.4}",
            if frozen { " (frozen)" } else { "" }
        );
        history.push(EpochRecord { epoch, frozen, train_loss, val_accuracy });
        if val_accuracy > best_acc {
            (best_acc, best_epoch) = (val_accuracy, epoch);
            best_state = snapshot()?;
        }
    }
    for (v, t) in all_vars.iter().zip(&best_state) {
        v.set(t)?;
    }
    let probs = predict_proba(model, test, cfg.image_size, cfg.eval_batch_size)?;
    let test = ClassificationReport::from_probs(&probs, &test.labels, k)?;
    Ok(FinetuneResult { history, best_epoch, test })
}
