//! The study's configuration: TOML files with presets (`cpu-quick`, `cpu-full`, `paper`), embedded in the
//! binary so they work from any folder, overridable from the command line.

use std::path::{Path, PathBuf};

use ctssl_augment::{Standardize, WindowStep};
use ctssl_backbones::{ResNetConfig, Stem};
use ctssl_io::HuWindow;
use ctssl_train::eval::InputMapping;
use serde::{Deserialize, Serialize};

use super::error::{PipelineError, Result};

/// Presets shipped with ctssl: (name, TOML text).
pub const PRESETS: [(&str, &str); 3] = [
    ("cpu-quick", include_str!("../../configs/cpu-quick.toml")),
    ("cpu-full", include_str!("../../configs/cpu-full.toml")),
    ("paper", include_str!("../../configs/paper.toml")),
];

/// Where the images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// `phantom` (the embedded synthetic patients) or `dicom` (folders of the user's).
    pub source: String,
    /// Seed of the synthetic patients.
    pub phantom_seed: u64,
    /// Synthetic labeled chest-abdomen-pelvis patients (lung and organ tasks).
    pub labeled_torso_patients: usize,
    /// Synthetic labeled head patients (head task).
    pub labeled_head_patients: usize,
    /// Synthetic unlabeled patients of the pre-training pool (torso, then head).
    pub pretrain_torso_patients: usize,
    /// Synthetic unlabeled head patients of the pre-training pool.
    pub pretrain_head_patients: usize,
    /// Slices per synthetic torso series.
    pub torso_slices: usize,
    /// Slices per synthetic head series.
    pub head_slices: usize,
    /// Side of the synthetic slices in pixels (views are then made at `model.image_size`).
    pub phantom_image_size: usize,
    /// `dicom`: folder of unlabeled CT for pre-training (scanned recursively).
    pub pretrain_dir: Option<PathBuf>,
    /// `dicom`: labels CSV with columns `file,label` (optionally `task`, `patient_id`); files relative to
    /// the CSV's folder.
    pub labels_csv: Option<PathBuf>,
    /// `dicom`: fractions of the labeled patients held out for validation and test.
    pub val_fraction: f64,
    /// `dicom`: see `val_fraction`.
    pub test_fraction: f64,
}

/// The backbone and the image size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `resnet_tiny`, `resnet_tiny2`, `resnet18`, `resnet34` or `resnet50`.
    pub arch: String,
    /// `small` (3×3 stride-1, no max pool: for 64 px) or `imagenet` (7×7 stride 2 + max pool).
    pub stem: String,
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
    /// `vicreg`, `dino`).
    pub methods: Vec<String>,
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
}

/// Fine-tuning and linear-probe settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    /// Epochs of fine-tuning.
    pub epochs: usize,
    /// Epochs with the backbone frozen first.
    pub frozen_epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Images per batch.
    pub batch_size: usize,
    /// Also evaluate a linear probe on frozen features.
    pub linear_probe: bool,
    /// Epochs of the linear probe.
    pub probe_epochs: usize,
    /// Learning rate of the linear probe.
    pub probe_lr: f64,
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
    /// Also fine-tune from random initialisation (the baseline).
    pub random_init: bool,
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
        let cfg: StudyConfig = toml::from_str(text).map_err(|e| PipelineError::Config(format!("{origin}: {e}")))?;
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
        toml::to_string_pretty(self).map_err(|e| PipelineError::Config(format!("cannot write the config: {e}")))
    }

    /// Checks ranges and names.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(PipelineError::Config(m));
        if self.data.source != "phantom" && self.data.source != "dicom" {
            return bad(format!("data.source must be `phantom` or `dicom`, not `{}`", self.data.source));
        }
        if self.data.source == "dicom" && self.data.labels_csv.is_none() && self.data.pretrain_dir.is_none() {
            return bad("data.source = dicom needs data.pretrain_dir and/or data.labels_csv".into());
        }
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
        if self.finetune.epochs == 0 || self.finetune.frozen_epochs > self.finetune.epochs {
            return bad(format!(
                "finetune: {} epochs with {} frozen",
                self.finetune.epochs, self.finetune.frozen_epochs
            ));
        }
        if self.pretrain.batch_size < 2 || self.finetune.batch_size == 0 {
            return bad("batch sizes must be at least 2 (pre-training) and 1 (fine-tuning)".into());
        }
        for m in &self.pretrain.methods {
            if !super::methods::METHODS.contains(&m.as_str()) {
                return bad(format!("unknown method `{m}` (known: {})", super::methods::METHODS.join(", ")));
            }
        }
        Ok(())
    }

    /// The backbone's architecture (no classifier).
    pub fn backbone(&self) -> Result<ResNetConfig> {
        let stem = match self.model.stem.as_str() {
            "small" => Stem::Small,
            "imagenet" => Stem::ImageNet,
            other => return Err(PipelineError::Config(format!("model.stem must be small or imagenet, not `{other}`"))),
        };
        let cfg = ResNetConfig::from_name(&self.model.arch)?.with_stem(stem).with_base_width(self.model.base_width);
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
    }

    #[test]
    fn bad_values_are_named() {
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        cfg.protocol.fractions.push(1.5);
        assert!(cfg.validate().unwrap_err().to_string().contains("1.5"));
        let text = StudyConfig::preset("cpu-quick").unwrap().to_toml().unwrap().replace("epochs =", "epochz =");
        assert!(StudyConfig::from_toml(&text, "x").is_err());
    }
}
