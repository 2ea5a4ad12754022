//! Evaluation of one initialisation on one training subset: fine-tuning (backbone frozen for the first
//! epochs, model kept on validation accuracy) and a linear probe on frozen features; both scored on the
//! task's fixed test split.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use ctssl_augment::Sampling;
use ctssl_backbones::{LoadOptions, ResNet, ResNetConfig};
use ctssl_train::eval::{
    extract_features, finetune, linear_probe, ClassificationReport, FinetuneConfig, LinearProbeConfig,
};
use ctssl_train::study::{FractionSubset, Protocol, ResultRow};

use super::config::FinetuneSettings;
use super::data::TaskData;
use super::error::{PipelineError, Result};

/// Where the backbone's weights start.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// He initialisation with the fine-tuning seed.
    Random,
    /// A pre-trained encoder (torchvision names): everything but the classifier is loaded.
    Encoder(PathBuf),
    /// A torchvision state dict saved as safetensors (for example ImageNet weights): every backbone key
    /// is loaded, a 3-channel `conv1` is folded to 1 channel, `fc` is left out.
    Torchvision(PathBuf),
}

/// A classifier for `num_classes` with the backbone from `init`; fails if the encoder misses any backbone
/// weight.
pub fn classifier(
    backbone: &ResNetConfig,
    init: &Init,
    num_classes: usize,
    seed: u64,
    device: &Device,
) -> Result<ResNet> {
    let model = ResNet::new(backbone.clone().with_num_classes(Some(num_classes)), seed, device)?;
    let (path, options) = match init {
        Init::Random => return Ok(model),
        Init::Encoder(path) => (path, LoadOptions::partial()),
        Init::Torchvision(path) => (path, LoadOptions::partial().with_fold_rgb_to_grey(true)),
    };
    let state = ctssl_backbones::load_safetensors(path, device)?;
    let state: std::collections::HashMap<String, Tensor> =
        state.into_iter().filter(|(k, _)| !k.starts_with("fc.")).collect();
    let report = model.load_state_dict(&state, &options)?;
    let missing: Vec<&String> = report.missing.iter().filter(|k| !k.starts_with("fc.")).collect();
    if !missing.is_empty() || !report.unexpected.is_empty() {
        return Err(PipelineError::Data(format!(
            "{}: the weights do not fit the backbone ({})",
            path.display(),
            report.summary()
        )));
    }
    Ok(model)
}

/// Frozen pooled features of a task's splits for one initialisation (computed once, reused for every
/// subset and seed of the linear probe).
#[derive(Debug, Clone)]
pub struct TaskFeatures {
    /// Training split features `[N, C]`.
    pub train: Tensor,
    /// Validation features.
    pub val: Tensor,
    /// Test features.
    pub test: Tensor,
}

/// Features of every split of `task` under `init`.
pub fn task_features(
    backbone: &ResNetConfig,
    init: &Init,
    task: &TaskData,
    image_size: usize,
    device: &Device,
) -> Result<TaskFeatures> {
    let model = classifier(backbone, init, task.train.num_classes, 0, device)?;
    let f = |s| extract_features(&model, s, image_size, 128);
    Ok(TaskFeatures { train: f(&task.train)?, val: f(&task.val)?, test: f(&task.test)? })
}

#[allow(clippy::too_many_arguments)]
fn row(
    task: &TaskData,
    init: &str,
    protocol: Protocol,
    subset: &FractionSubset,
    seed: u64,
    report: &ClassificationReport,
    best_epoch: usize,
    seconds: f64,
) -> ResultRow {
    ResultRow {
        task: task.name.clone(),
        init: init.to_string(),
        protocol,
        fraction: subset.fraction,
        seed,
        train_patients: subset.patients.len(),
        train_slices: subset.indices.len(),
        test_slices: task.test.len(),
        roc_auc: report.roc_auc.unwrap_or(f64::NAN),
        accuracy: report.accuracy,
        balanced_accuracy: report.balanced_accuracy,
        f1_macro: report.f1_macro,
        best_epoch,
        seconds,
    }
}

/// One evaluation's identity.
#[derive(Debug, Clone, Copy)]
pub struct EvalPoint<'a> {
    /// The task and its splits.
    pub task: &'a TaskData,
    /// Initialisation name (`random` or a method).
    pub init_name: &'a str,
    /// The training subset.
    pub subset: &'a FractionSubset,
    /// The seed (subset draw, head initialisation, batch order, augmentations).
    pub seed: u64,
}

/// Fine-tunes a fresh classifier from `init` on the subset and scores it on the test split.
pub fn finetune_point(
    p: EvalPoint<'_>,
    init: &Init,
    backbone: &ResNetConfig,
    settings: &FinetuneSettings,
    image_size: usize,
    device: &Device,
) -> Result<ResultRow> {
    let t0 = Instant::now();
    let train = p.task.train.subset(&p.subset.indices)?;
    let model = classifier(backbone, init, train.num_classes, p.seed, device)?;
    let cfg = FinetuneConfig {
        epochs: settings.epochs,
        frozen_epochs: if *init == Init::Random { 0 } else { settings.frozen_epochs },
        lr: settings.lr,
        weight_decay: settings.weight_decay,
        batch_size: settings.batch_size.min(train.len()).max(1),
        image_size,
        sampling: Sampling::Shuffle,
        seed: p.seed,
        ..FinetuneConfig::default()
    };
    let r = finetune(&model, &train, &p.task.val, &p.task.test, &cfg)?;
    Ok(row(
        p.task,
        p.init_name,
        Protocol::Finetune,
        p.subset,
        p.seed,
        &r.test,
        r.best_epoch,
        t0.elapsed().as_secs_f64(),
    ))
}

/// Trains a linear probe on the subset's frozen features and scores it on the test split.
pub fn probe_point(p: EvalPoint<'_>, features: &TaskFeatures, settings: &FinetuneSettings) -> Result<ResultRow> {
    let t0 = Instant::now();
    let idx: Vec<u32> = p.subset.indices.iter().map(|&i| i as u32).collect();
    let ids = Tensor::from_vec(idx, p.subset.indices.len(), features.train.device())?;
    let x = features.train.index_select(&ids, 0)?;
    let y: Vec<u32> = p.subset.indices.iter().map(|&i| p.task.train.labels[i]).collect();
    let cfg = LinearProbeConfig {
        epochs: settings.probe_epochs,
        lr: settings.probe_lr,
        batch_size: 256,
        seed: p.seed,
        ..LinearProbeConfig::default()
    };
    let r = linear_probe(
        (&x, &y),
        (&features.val, &p.task.val.labels),
        (&features.test, &p.task.test.labels),
        p.task.train.num_classes,
        &cfg,
    )?;
    Ok(row(
        p.task,
        p.init_name,
        Protocol::LinearProbe,
        p.subset,
        p.seed,
        &r.test,
        r.best_epoch,
        t0.elapsed().as_secs_f64(),
    ))
}
