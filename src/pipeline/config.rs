//! The study's configuration: TOML files with presets (`cpu-quick`, `cpu-full`, `paper`), embedded in the
//! binary so they work from any folder, overridable from the command line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ctssl_augment::{Standardize, WindowStep};
use ctssl_backbones::{ResNetArch, ResNetConfig, Stem};
use ctssl_io::HuWindow;
use ctssl_study::permille;
use ctssl_train::eval::{Augment, InputMapping, Selection};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{PipelineError, Result};
use super::methods::{Method, Views};
use super::names;

/// Presets shipped with ctssl: (name, TOML text).
pub const PRESETS: [(&str, &str); 3] = [
    ("cpu-quick", include_str!("../../configs/cpu-quick.toml")),
    ("cpu-full", include_str!("../../configs/cpu-full.toml")),
    ("paper", include_str!("../../configs/paper.toml")),
];

/// Where the images come from (`data.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataSource {
    /// `phantom`: the embedded synthetic patients.
    #[default]
    Phantom,
    /// `dicom`: folders of the user's DICOM files.
    Dicom,
}

impl DataSource {
    /// Every source.
    pub const ALL: [DataSource; 2] = [DataSource::Phantom, DataSource::Dicom];

    /// `phantom` or `dicom`.
    pub fn name(self) -> &'static str {
        match self {
            DataSource::Phantom => "phantom",
            DataSource::Dicom => "dicom",
        }
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataSource {
    type Err = PipelineError;

    /// A name of [`DataSource::ALL`]; an error lists them.
    fn from_str(s: &str) -> Result<Self> {
        DataSource::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| names::unknown("data.source", s, DataSource::ALL.map(DataSource::name)))
    }
}

impl Serialize for DataSource {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        names::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for DataSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        names::deserialize(d)
    }
}

/// Where the images come from. Settings of one source are an error with the other (never ignored).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `phantom` (the embedded synthetic patients) or `dicom` (folders of the user's).
    pub source: DataSource,
    /// `phantom`: seed of the synthetic population (`--phantom-seed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phantom_seed: Option<u64>,
    /// `phantom`: labeled training patients of each body part (torso: lung and organ tasks; head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_patients: Option<usize>,
    /// `phantom`: labeled validation patients of each body part (model selection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_patients: Option<usize>,
    /// `phantom`: labeled test patients of each body part (the reported figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_patients: Option<usize>,
    /// `phantom`: unlabeled chest-abdomen-pelvis patients of the pre-training pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_torso_patients: Option<usize>,
    /// `phantom`: unlabeled head patients of the pre-training pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_head_patients: Option<usize>,
    /// `phantom`: whether the pool's patients carry lesions (labels discarded), as a real pool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_lesions: Option<bool>,
    /// `phantom`: slices per torso series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torso_slices: Option<usize>,
    /// `phantom`: slices per head series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_slices: Option<usize>,
    /// `phantom`: side of the synthetic slices in pixels (views are then made at `model.image_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phantom_image_size: Option<usize>,
    /// `phantom`: multiplies the lesion sizes of the lung and head tasks (1: the phantom's defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesion_scale: Option<f32>,
    /// `phantom`: fewest lesion pixels for a slice to be positive in the lung and head tasks (slices with
    /// fewer but some are left out: a lesion clipped to a few pixels is a label no reader would give).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lesion_pixels: Option<u32>,
    /// `dicom`: folder of unlabeled CT for pre-training (scanned recursively).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrain_dir: Option<PathBuf>,
    /// `dicom`: labels CSV with columns `file,label` (optionally `task`, `patient_id`); files relative to
    /// the CSV's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_csv: Option<PathBuf>,
    /// `dicom`: fraction of the labeled patients held out for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_fraction: Option<f64>,
    /// `dicom`: fraction of the labeled patients held out for test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
}

/// The synthetic population of a `phantom` source, every setting present.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhantomData {
    /// Seed of the population.
    pub seed: u64,
    /// Train / validation / test patients of each body part.
    pub split: [usize; 3],
    /// Pool patients: torso, head.
    pub pool: [usize; 2],
    /// Lesions in the pool.
    pub pool_lesions: bool,
    /// Slices per series: torso, head.
    pub slices: [usize; 2],
    /// Image side.
    pub image_size: usize,
    /// Lesion size factor.
    pub lesion_scale: f32,
    /// Fewest lesion pixels of a positive slice (`None`: the phantom's default).
    pub min_lesion_pixels: Option<u32>,
}

impl DataConfig {
    const PHANTOM_KEYS: [&'static str; 12] = [
        "phantom_seed",
        "train_patients",
        "val_patients",
        "test_patients",
        "pretrain_torso_patients",
        "pretrain_head_patients",
        "pretrain_lesions",
        "torso_slices",
        "head_slices",
        "phantom_image_size",
        "lesion_scale",
        "min_lesion_pixels",
    ];
    const DICOM_KEYS: [&'static str; 4] = ["pretrain_dir", "labels_csv", "val_fraction", "test_fraction"];

    fn present(&self) -> Vec<&'static str> {
        let set = [
            self.phantom_seed.is_some(),
            self.train_patients.is_some(),
            self.val_patients.is_some(),
            self.test_patients.is_some(),
            self.pretrain_torso_patients.is_some(),
            self.pretrain_head_patients.is_some(),
            self.pretrain_lesions.is_some(),
            self.torso_slices.is_some(),
            self.head_slices.is_some(),
            self.phantom_image_size.is_some(),
            self.lesion_scale.is_some(),
            self.min_lesion_pixels.is_some(),
            self.pretrain_dir.is_some(),
            self.labels_csv.is_some(),
            self.val_fraction.is_some(),
            self.test_fraction.is_some(),
        ];
        Self::PHANTOM_KEYS.iter().chain(&Self::DICOM_KEYS).zip(set).filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }

    /// Switches to the user's DICOM (`--data-dir`, `--labels`): the synthetic settings are dropped, the
    /// held-out fractions default to 15 % each.
    pub fn use_dicom(&mut self, pretrain_dir: Option<PathBuf>, labels_csv: Option<PathBuf>) {
        *self = DataConfig {
            source: DataSource::Dicom,
            pretrain_dir,
            labels_csv,
            val_fraction: Some(0.15),
            test_fraction: Some(0.15),
            ..DataConfig::default()
        };
    }

    /// The synthetic population; an error names a missing setting.
    pub fn phantom(&self) -> Result<PhantomData> {
        let need = |v: Option<usize>, k: &str| {
            v.ok_or_else(|| PipelineError::Config(format!("data.source = phantom needs data.{k}")))
        };
        Ok(PhantomData {
            seed: self.phantom_seed.unwrap_or(0),
            split: [
                need(self.train_patients, "train_patients")?,
                need(self.val_patients, "val_patients")?,
                need(self.test_patients, "test_patients")?,
            ],
            pool: [
                need(self.pretrain_torso_patients, "pretrain_torso_patients")?,
                need(self.pretrain_head_patients, "pretrain_head_patients")?,
            ],
            pool_lesions: self.pretrain_lesions.unwrap_or(true),
            slices: [need(self.torso_slices, "torso_slices")?, need(self.head_slices, "head_slices")?],
            image_size: need(self.phantom_image_size, "phantom_image_size")?,
            lesion_scale: self.lesion_scale.unwrap_or(1.0),
            min_lesion_pixels: self.min_lesion_pixels,
        })
    }

    /// Checks that every setting applies to the source and the source's settings are there.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(PipelineError::Config(m));
        let present = self.present();
        let (own, other): (&[&str], DataSource) = match self.source {
            DataSource::Phantom => (&Self::PHANTOM_KEYS, DataSource::Dicom),
            DataSource::Dicom => (&Self::DICOM_KEYS, DataSource::Phantom),
        };
        if let Some(k) = present.iter().find(|k| !own.contains(k)) {
            return bad(format!(
                "data.{k} is a setting of {other} data and does not apply to data.source = {}",
                self.source
            ));
        }
        if self.source == DataSource::Phantom {
            let p = self.phantom()?;
            if p.split.iter().any(|&n| n < 2) {
                return bad(format!("data: train / val / test patients {:?} must each be at least 2", p.split));
            }
            if !(p.lesion_scale.is_finite() && p.lesion_scale > 0.0) {
                return bad(format!("data.lesion_scale {} must be positive", p.lesion_scale));
            }
        } else {
            if self.labels_csv.is_none() && self.pretrain_dir.is_none() {
                return bad("data.source = dicom needs data.pretrain_dir and/or data.labels_csv".into());
            }
            let (v, t) = (self.val_fraction.unwrap_or(0.15), self.test_fraction.unwrap_or(0.15));
            if !(v > 0.0 && t > 0.0 && v + t < 1.0) {
                return bad(format!("data.val_fraction {v} and test_fraction {t} must be positive with a sum below 1"));
            }
        }
        Ok(())
    }
}

/// The backbone and the image size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `resnet_tiny`, `resnet_tiny2`, `resnet18`, `resnet34` or `resnet50`.
    #[serde(with = "names")]
    pub arch: ResNetArch,
    /// `small` (3×3 stride 1, no max pool: for 64 px), `strided` (3×3 stride 2, no max pool) or `imagenet`
    /// (7×7 stride 2 + max pool).
    #[serde(with = "names")]
    pub stem: Stem,
    /// Width of the first stage (torchvision: 64).
    pub base_width: usize,
    /// Side of the views given to the network.
    pub image_size: usize,
    /// HU windows `[centre, width]`, one input channel each; empty: per-slice min–max scaling into one
    /// channel (the reference study's input).
    #[serde(default)]
    pub windows: Vec<[f32; 2]>,
    /// Standardisation `[mean, std]` after windowing (every channel); absent: none.
    pub standardize: Option<[f32; 2]>,
}

/// Pre-training settings shared by every method (each method keeps its own optimizer and loss defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// Methods to pre-train and compare (`spark`, `simclr`, `moco_v2`, `byol`, `swav`, `barlow_twins`,
    /// `vicreg`, `dino`; [`Method`]).
    pub methods: Vec<Method>,
    /// Passes over the unlabeled pool.
    pub epochs: u64,
    /// Images per batch.
    pub batch_size: usize,
    /// Multiplies each method's default learning rate.
    pub lr_scale: f64,
    /// Write a checkpoint every this many steps.
    pub checkpoint_every: u64,
    /// Seed of the pre-training runs (initialisation, views, masks).
    pub seed: u64,
    /// SparK's decoder width (absent: SparK's default for the backbone). The decoder is most of a SparK
    /// step on a small backbone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spark_decoder_width: Option<usize>,
    /// SparK's reconstruction target: each patch normalised by its own mean and deviation (`true`, the
    /// published default) or the input values themselves (`false`: on CT through fixed HU windows a
    /// patch's level is its density, which a lesion changes).
    #[serde(default = "default_true")]
    pub spark_norm_pix: bool,
    /// Whose views: `ct` (the study's recipe without flips: keeps left and right), `study` (the reference
    /// study's, with flips and 180° rotations) or `own` (each method's published recipe).
    #[serde(default = "default_views")]
    pub views: Views,
}

fn default_true() -> bool {
    true
}

fn default_views() -> Views {
    Views::Study
}

/// Fine-tuning, linear-probe and kNN settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    /// Optimizer steps of the whole network, the same at every label fraction and for every
    /// initialisation (one budget: `steps` or `epochs`).
    #[serde(default)]
    pub steps: usize,
    /// With `steps`: validation every this many steps.
    #[serde(default)]
    pub eval_every: usize,
    /// Passes over the training subset (the reference study's budget, which shrinks with the subset).
    #[serde(default)]
    pub epochs: usize,
    /// With `epochs`: first epochs with the backbone frozen, for every initialisation alike.
    #[serde(default)]
    pub frozen_epochs: usize,
    /// What the kept model is selected on: `roc_auc`, `loss` or `accuracy`.
    #[serde(default = "default_selection")]
    pub selection: Selection,
    /// Training augmentation: `keep_laterality` (no flips) or `flips` (the reference study's).
    #[serde(default = "default_augment")]
    pub augment: Augment,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Images per batch.
    pub batch_size: usize,
    /// Also evaluate a linear probe on frozen features.
    pub linear_probe: bool,
    /// L2 strengths the linear probe tries (an exact fit for each, the best on validation kept); empty:
    /// the default grid 10, 1, 0.1, …, 10^-4.
    #[serde(default)]
    pub probe_l2: Vec<f64>,
    /// Also evaluate a weighted kNN classifier on the same frozen features (k neighbours; 0: off).
    #[serde(default)]
    pub knn_k: usize,
}

impl FinetuneSettings {
    /// The linear probe's L2 strengths: `probe_l2`, or the default grid where it is empty.
    pub fn probe_grid(&self) -> Vec<f64> {
        if self.probe_l2.is_empty() {
            ctssl_train::eval::default_l2_grid()
        } else {
            self.probe_l2.clone()
        }
    }
}

fn default_selection() -> Selection {
    Selection::Accuracy
}

fn default_augment() -> Augment {
    Augment::Flips
}

/// The label-fraction protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    /// Tasks to evaluate (`lung`, `organ`, `head`, or those of the labels CSV).
    pub tasks: Vec<String>,
    /// Fractions of the training patients, in (0, 1].
    pub fractions: Vec<f64>,
    /// Seeds: each draws its own subsets and fine-tunes with its own randomness.
    pub seeds: Vec<u64>,
    /// Fractions that are also fine-tuned (the frozen-feature protocols run at every fraction); absent:
    /// all. Fine-tuning is the expensive protocol: a CPU preset spends it where the question is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune_fractions: Option<Vec<f64>>,
    /// Fine-tuning runs with the first this many seeds (the frozen-feature protocols with all); absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finetune_seeds: Option<usize>,
    /// Also fine-tune from random initialisation (the baseline).
    pub random_init: bool,
    /// A second random initialisation (`random_b`, other weights, same subsets and seeds) compared with
    /// the first as a negative control: the statistics must not call it different.
    #[serde(default)]
    pub negative_control: bool,
}

/// The whole configuration of a study run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// The preset this configuration started from.
    pub preset: String,
    /// Data.
    pub data: DataConfig,
    /// Backbone and image size.
    pub model: ModelConfig,
    /// Pre-training.
    pub pretrain: PretrainConfig,
    /// Fine-tuning and probing.
    pub finetune: FinetuneSettings,
    /// The protocol.
    pub protocol: ProtocolConfig,
    /// The seed study's datasets as distributed (`--task kind:PATH`, `--pretrain-data PATH`); when
    /// given they replace `data.source` and `protocol.tasks` ([`super::sources`]).
    #[serde(default)]
    pub sources: super::sources::SourcesConfig,
}

impl StudyConfig {
    /// A shipped preset by name.
    pub fn preset(name: &str) -> Result<Self> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            PipelineError::Config(format!("unknown preset `{name}` (known: {})", known.join(", ")))
        })?;
        Self::from_toml(text, &format!("preset {name}"))
    }

    /// Parses a configuration from TOML text (`origin` names it in errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let cfg: StudyConfig =
            toml::from_str(text).map_err(|source| PipelineError::Toml { origin: origin.into(), source })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The configuration as TOML (written to the run folder as `config.toml`).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(PipelineError::TomlWrite)
    }

    /// Checks ranges and names.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(PipelineError::Config(m));
        self.data.validate()?;
        self.sources.validate()?;
        self.backbone()?;
        if self.model.image_size < 16 {
            return bad(format!("model.image_size {} is too small", self.model.image_size));
        }
        if let Some(f) = self.protocol.fractions.iter().find(|f| !(f.is_finite() && **f > 0.0 && **f <= 1.0)) {
            return bad(format!("protocol.fractions: {f} is not in (0, 1]"));
        }
        if self.protocol.seeds.is_empty() || self.protocol.fractions.is_empty() || self.protocol.tasks.is_empty() {
            return bad("protocol needs at least one task, fraction and seed".into());
        }
        if let Some(f) = self
            .protocol
            .finetune_fractions
            .iter()
            .flatten()
            .find(|f| !self.protocol.fractions.iter().any(|g| permille(*g) == permille(**f)))
        {
            return bad(format!("protocol.finetune_fractions: {f} is not one of protocol.fractions"));
        }
        if self.protocol.finetune_seeds.is_some_and(|n| n == 0 || n > self.protocol.seeds.len()) {
            return bad(format!(
                "protocol.finetune_seeds must be 1..={} (the number of seeds)",
                self.protocol.seeds.len()
            ));
        }
        let f = &self.finetune;
        match (f.steps, f.epochs) {
            (0, 0) => return bad("finetune needs a budget: steps (the same for every fraction) or epochs".into()),
            (s, e) if s > 0 && e > 0 => {
                return bad(format!("finetune: steps = {s} and epochs = {e}: give one budget, not both"))
            }
            (s, _) if s > 0 && (f.frozen_epochs > 0 || f.eval_every == 0) => {
                return bad(format!(
                    "finetune: a step budget trains the whole network from the first step (frozen_epochs = 0) and \
                     needs eval_every > 0 (frozen_epochs {}, eval_every {})",
                    f.frozen_epochs, f.eval_every
                ))
            }
            (0, e) if f.frozen_epochs > e || f.eval_every > 0 => {
                return bad(format!(
                    "finetune: {e} epochs with {} frozen; eval_every applies to a step budget only",
                    f.frozen_epochs
                ))
            }
            _ => {}
        }
        if let Some(l) = f.probe_l2.iter().find(|l| !(l.is_finite() && **l > 0.0)) {
            return bad(format!("finetune.probe_l2: {l} is not a positive strength"));
        }
        if self.pretrain.batch_size < 2 || self.finetune.batch_size == 0 {
            return bad("batch sizes must be at least 2 (pre-training) and 1 (fine-tuning)".into());
        }
        // names are parsed when the file is read; two spellings of one method would pre-train it twice
        let methods = &self.pretrain.methods;
        if let Some(m) = methods.iter().enumerate().find_map(|(i, m)| methods[..i].contains(m).then_some(m)) {
            return bad(format!("pretrain.methods lists `{m}` twice"));
        }
        Ok(())
    }

    /// The backbone's architecture (no classifier).
    pub fn backbone(&self) -> Result<ResNetConfig> {
        let cfg = self.model.arch.config().with_stem(self.model.stem).with_base_width(self.model.base_width);
        Ok(cfg.with_in_channels(self.input()?.channels()).with_num_classes(None))
    }

    /// How HU become the network's input, in pre-training, fine-tuning and evaluation alike.
    pub fn input(&self) -> Result<InputMapping> {
        let window = match self.model.windows.as_slice() {
            [] => WindowStep::MinMax,
            [[c, w]] => WindowStep::Fixed(HuWindow::new(*c, *w)),
            many => WindowStep::Multi(many.iter().map(|[c, w]| HuWindow::new(*c, *w)).collect()),
        };
        window.validate().map_err(|e| PipelineError::Config(format!("model.windows: {e}")))?;
        let standardize = match self.model.standardize {
            Some([_, s]) if !(s > 0.0 && s.is_finite()) => {
                return Err(PipelineError::Config(format!("model.standardize: std {s} must be positive")))
            }
            Some([m, s]) => Some(Standardize::new(m, s)),
            None => None,
        };
        Ok(InputMapping { window, standardize })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_round_trips() {
        for (name, _) in PRESETS {
            let cfg = StudyConfig::preset(name).unwrap();
            assert_eq!(cfg.preset, name);
            let again = StudyConfig::from_toml(&cfg.to_toml().unwrap(), "round trip").unwrap();
            assert_eq!(again, cfg);
        }
        assert!(StudyConfig::preset("gpu-fast").is_err());
        // the shortened main job of CI
        StudyConfig::from_toml(include_str!("../../.ci/smoke.toml"), ".ci/smoke.toml").unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        cfg.protocol.fractions.push(1.5);
        assert!(cfg.validate().unwrap_err().to_string().contains("1.5"));
        let text = StudyConfig::preset("cpu-quick").unwrap().to_toml().unwrap().replace("epochs =", "epochz =");
        assert!(StudyConfig::from_toml(&text, "x").is_err());
    }

    #[test]
    fn a_misspelled_name_fails_at_load_and_lists_the_valid_ones() {
        let smoke = include_str!("../../.ci/smoke.toml");
        for (good, bad, typo, known) in [
            (
                r#"methods = ["spark", "moco_v2"]"#,
                r#"methods = ["spark", "moco_v3"]"#,
                "moco_v3",
                "spark, simclr, moco_v2, byol, swav, barlow_twins, vicreg, dino",
            ),
            (r#"source = "phantom""#, r#"source = "phantoms""#, "phantoms", "phantom, dicom"),
            (
                r#"arch = "resnet_tiny""#,
                r#"arch = "resnet_tiny3""#,
                "resnet_tiny3",
                "resnet18, resnet34, resnet50, resnet_tiny, resnet_tiny2",
            ),
            (r#"stem = "strided""#, r#"stem = "stridded""#, "stridded", "small, strided, imagenet"),
            (r#"views = "ct""#, r#"views = "laterality""#, "laterality", "study, own, ct"),
        ] {
            assert!(smoke.contains(good), "{good}");
            let e = StudyConfig::from_toml(&smoke.replace(good, bad), "smoke.toml").unwrap_err();
            let e = crate::pipeline::error::report(&e);
            // the file, the line, the name and the valid names
            assert!(e.contains("smoke.toml") && e.contains("line") && e.contains(typo) && e.contains(known), "{e}");
        }
    }

    #[test]
    fn aliases_are_read_and_written_as_the_canonical_name() {
        let smoke = include_str!("../../.ci/smoke.toml");
        let text = smoke.replace(r#"methods = ["spark", "moco_v2"]"#, r#"methods = ["SparK", "moco", "Barlow-Twins"]"#);
        let cfg = StudyConfig::from_toml(&text, "aliases").unwrap();
        let names: Vec<String> = cfg.pretrain.methods.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["spark", "moco_v2", "barlow_twins"]);
        let written = cfg.to_toml().unwrap();
        assert!(written.contains(r#""moco_v2""#) && !written.contains(r#""moco""#) && !written.contains("SparK"));
        assert_eq!(StudyConfig::from_toml(&written, "again").unwrap(), cfg);
        // two spellings of one method
        let twice = smoke.replace(r#"methods = ["spark", "moco_v2"]"#, r#"methods = ["moco", "moco_v2"]"#);
        let e = StudyConfig::from_toml(&twice, "twice").unwrap_err();
        let e = crate::pipeline::error::report(&e);
        assert!(e.contains("moco_v2") && e.contains("twice"), "{e}");
    }

    #[test]
    fn a_setting_of_the_other_source_is_an_error_not_ignored() {
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        cfg.data.val_fraction = Some(0.2);
        let e = cfg.validate().unwrap_err();
        let e = crate::pipeline::error::report(&e);
        assert!(e.contains("val_fraction") && e.contains("dicom"), "{e}");
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        cfg.data.use_dicom(None, Some("labels.csv".into()));
        cfg.validate().unwrap();
        cfg.data.test_patients = Some(10);
        let e = cfg.validate().unwrap_err();
        let e = crate::pipeline::error::report(&e);
        assert!(e.contains("test_patients") && e.contains("phantom"), "{e}");
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        cfg.data.val_patients = None;
        assert!(cfg.validate().unwrap_err().to_string().contains("val_patients"));
    }

    #[test]
    fn one_fine_tuning_budget() {
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        assert!(cfg.finetune.steps > 0 && cfg.finetune.frozen_epochs == 0);
        cfg.finetune.epochs = 3;
        assert!(cfg.validate().unwrap_err().to_string().contains("not both"));
        cfg.finetune.epochs = 0;
        cfg.finetune.frozen_epochs = 1;
        assert!(cfg.validate().is_err());
        let paper = StudyConfig::preset("paper").unwrap();
        assert!(paper.finetune.epochs > 0 && paper.finetune.steps == 0);
    }

    #[test]
    fn the_probe_grid_defaults_when_empty_and_refuses_a_non_positive_strength() {
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        assert!(cfg.finetune.probe_l2.is_empty());
        assert_eq!(cfg.finetune.probe_grid(), ctssl_train::eval::default_l2_grid());
        cfg.finetune.probe_l2 = vec![1.0, 0.01];
        assert_eq!(cfg.finetune.probe_grid(), vec![1.0, 0.01]);
        cfg.validate().unwrap();
        cfg.finetune.probe_l2 = vec![1.0, 0.0];
        assert!(cfg.validate().unwrap_err().to_string().contains("probe_l2"));
    }
}
