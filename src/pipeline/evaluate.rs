//! Evaluation of one initialisation on one training subset under the same protocol for every
//! initialisation: fine-tuning (one budget, model kept on the validation score), a linear probe and kNN on
//! frozen features; all scored on the task's fixed test split, with the test ROC-AUC's standard error
//! from a patient-level bootstrap.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use ctssl_augment::Sampling;
use ctssl_backbones::{LoadOptions, ResNet, ResNetConfig};
use ctssl_study::{cluster_bootstrap_auc_se, FractionSubset, Protocol, ResultRow};
use ctssl_train::eval::{
    extract_features, finetune, knn_predict, linear_probe, ClassificationReport, FinetuneConfig, KnnConfig,
    LinearProbeConfig,
};

use super::config::FinetuneSettings;
use super::data::TaskData;
use super::error::{PipelineError, Result};

/// Where the backbone's weights start.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// He initialisation with the fine-tuning seed.
    Random,
    /// He initialisation with other weights (the seed mixed with a constant): the negative control,
    /// compared with [`Init::Random`] on the same subsets and seeds.
    RandomControl,
    /// A pre-trained encoder (torchvision names): everything but the classifier is loaded.
    Encoder(PathBuf),
    /// A torchvision state dict saved as safetensors (for example ImageNet weights): every backbone key
    /// is loaded, a 3-channel `conv1` is folded to 1 channel, `fc` is left out.
    Torchvision(PathBuf),
}

/// Mixed into the seed of [`Init::RandomControl`]'s weights.
const CONTROL_SEED: u64 = 0x6e65_6761_7469_7665;

/// Draws of the patient-level bootstrap of a test AUC.
const BOOTSTRAP_DRAWS: usize = 100;

impl Init {
    /// Whether the features depend on the evaluation seed (random weights are drawn per seed, so the
    /// random baseline's spread over networks is part of its variance; a pre-trained encoder is one).
    pub fn seeded(&self) -> bool {
        matches!(self, Init::Random | Init::RandomControl)
    }
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
    let weights_seed = if *init == Init::RandomControl { seed ^ CONTROL_SEED } else { seed };
    let model = ResNet::new(backbone.clone().with_num_classes(Some(num_classes)), weights_seed, device)?;
    let (path, options) = match init {
        Init::Random | Init::RandomControl => return Ok(model),
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

/// Features of every split of `task` under `init` (random weights drawn with `seed`).
pub fn task_features(
    backbone: &ResNetConfig,
    init: &Init,
    task: &TaskData,
    seed: u64,
    image_size: usize,
    device: &Device,
) -> Result<TaskFeatures> {
    let model = classifier(backbone, init, task.train.num_classes, seed, device)?;
    let f = |s| extract_features(&model, s, image_size, 128);
    Ok(TaskFeatures { train: f(&task.train)?, val: f(&task.val)?, test: f(&task.test)? })
}

/// The row of one evaluation: the test report and probabilities (for the bootstrap) of `protocol`.
fn row(
    p: EvalPoint<'_>,
    protocol: Protocol,
    report: &ClassificationReport,
    probs: &[f64],
    best_epoch: usize,
    seconds: f64,
) -> Result<ResultRow> {
    let test = &p.task.test;
    let patients: Vec<String> = test.slices.slices.iter().map(|s| s.patient_id.clone()).collect();
    let se = cluster_bootstrap_auc_se(probs, &test.labels, test.num_classes, &patients, BOOTSTRAP_DRAWS, p.seed)?;
    Ok(ResultRow {
        task: p.task.name.clone(),
        init: p.init_name.to_string(),
        protocol,
        fraction: p.subset.fraction,
        seed: p.seed,
        train_patients: p.subset.patients.len(),
        train_slices: p.subset.indices.len(),
        test_slices: test.len(),
        roc_auc: report.roc_auc.unwrap_or(f64::NAN),
        accuracy: report.accuracy,
        balanced_accuracy: report.balanced_accuracy,
        f1_macro: report.f1_macro,
        roc_auc_se: se.unwrap_or(f64::NAN),
        best_epoch,
        seconds,
    })
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

/// Fine-tunes a fresh classifier from `init` on the subset (the same budget, schedule and selection for
/// every initialisation) and scores it on the test split; returns the row and the fine-tuned classifier
/// (it holds the weights of the kept check).
pub fn finetune_model(
    p: EvalPoint<'_>,
    init: &Init,
    backbone: &ResNetConfig,
    settings: &FinetuneSettings,
    image_size: usize,
    device: &Device,
) -> Result<(ResultRow, ResNet)> {
    let t0 = Instant::now();
    let train = p.task.train.subset(&p.subset.indices)?;
    let model = classifier(backbone, init, train.num_classes, p.seed, device)?;
    let cfg = FinetuneConfig {
        epochs: settings.epochs,
        frozen_epochs: settings.frozen_epochs,
        steps: settings.steps,
        eval_every: settings.eval_every,
        selection: settings.selection,
        augment: settings.augment,
        lr: settings.lr,
        weight_decay: settings.weight_decay,
        batch_size: settings.batch_size.min(train.len()).max(1),
        image_size,
        sampling: Sampling::Shuffle,
        seed: p.seed,
        ..FinetuneConfig::default()
    };
    let r = finetune(&model, &train, &p.task.val, &p.task.test, &cfg)?;
    let kept = if cfg.steps > 0 { r.best_step } else { r.best_epoch };
    Ok((row(p, Protocol::Finetune, &r.test, &r.test_probs, kept, t0.elapsed().as_secs_f64())?, model))
}

/// The subset's rows of the cached training features and their labels.
fn subset_features(p: EvalPoint<'_>, features: &TaskFeatures) -> Result<(Tensor, Vec<u32>)> {
    let idx: Vec<u32> = p.subset.indices.iter().map(|&i| i as u32).collect();
    let ids = Tensor::from_vec(idx, p.subset.indices.len(), features.train.device())?;
    let y = p.subset.indices.iter().map(|&i| p.task.train.labels[i]).collect();
    Ok((features.train.index_select(&ids, 0)?, y))
}

/// Trains a linear probe on the subset's frozen features and scores it on the test split.
pub fn probe_point(p: EvalPoint<'_>, features: &TaskFeatures, settings: &FinetuneSettings) -> Result<ResultRow> {
    let t0 = Instant::now();
    let (x, y) = subset_features(p, features)?;
    let cfg = LinearProbeConfig { l2: settings.probe_grid(), selection: settings.selection, ..Default::default() };
    let r = linear_probe(
        (&x, &y),
        (&features.val, &p.task.val.labels),
        (&features.test, &p.task.test.labels),
        p.task.train.num_classes,
        &cfg,
    )?;
    row(p, Protocol::LinearProbe, &r.test, &r.test_probs, r.best, t0.elapsed().as_secs_f64())
}

/// Classifies the test split by weighted kNN among the subset's frozen features (nothing is trained).
pub fn knn_point(p: EvalPoint<'_>, features: &TaskFeatures, k: usize) -> Result<ResultRow> {
    let t0 = Instant::now();
    let (x, y) = subset_features(p, features)?;
    let kk = p.task.train.num_classes;
    let probs = knn_predict(&x, &y, &features.test, kk, &KnnConfig { k, ..KnnConfig::default() })?;
    let report = ClassificationReport::from_probs(&probs, &p.task.test.labels, kk)?;
    row(p, Protocol::Knn, &report, &probs, 0, t0.elapsed().as_secs_f64())
}
