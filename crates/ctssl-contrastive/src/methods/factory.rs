//! Building any method by name, with its view recipe and default optimizer: what a driver (the `study`
//! example, the `pretrain` binary) needs to pre-train every method the same way.

use candle_core::Device;
use ctssl_backbones::ResNetConfig;
use ctssl_train::method::PretrainMethod;

use super::barlow::{BarlowTwins, BarlowTwinsConfig};
use super::byol::{Byol, ByolConfig};
use super::dino::{Dino, DinoConfig};
use super::moco::{MocoV2, MocoV2Config};
use super::simclr::{SimClr, SimClrConfig};
use super::swav::{Swav, SwavConfig};
use super::vicreg::{Vicreg, VicregConfig};
use crate::error::{ContrastiveError, Result};
use ctssl_train::optim::OptimizerChoice;

/// The names [`build_method`] accepts.
pub const METHOD_NAMES: &[&str] = &["simclr", "moco_v2", "byol", "swav", "barlow_twins", "vicreg", "dino"];

/// Which defaults: the papers' (heads of thousands of dimensions, ResNet-50 optimizers), or the CPU preset
/// (heads of a few hundred dimensions, Adam, shorter warm-ups) for small backbones and short runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The published settings (for ResNet-50: 2048 features).
    Paper,
    /// Scaled down for small CPU models (see `docs/contrastive.md`).
    Small,
}

impl Scale {
    /// `Paper` for backbones with at least 2048 pooled features (ResNet-50), else `Small`.
    pub fn for_backbone(cfg: &ResNetConfig) -> Scale {
        if cfg.feature_dim() >= 2048 {
            Scale::Paper
        } else {
            Scale::Small
        }
    }
}

/// What a driver needs to pre-train a method besides the method itself.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodSpec {
    /// The method's name (one of [`METHOD_NAMES`]).
    pub name: &'static str,
    /// Its own view recipe, for `ctssl_augment::Recipe::by_name`.
    pub recipe: &'static str,
    /// The study's recipe for it (`study` or `study_multi_crop`), when it is one of the study's methods.
    pub study_recipe: Option<&'static str>,
    /// Default optimizer.
    pub optimizer: OptimizerChoice,
    /// Batch size of the reference setting.
    pub batch_size: usize,
}

fn canonical(name: &str) -> Result<&'static str> {
    let n = name.to_ascii_lowercase().replace('-', "_");
    Ok(match n.as_str() {
        "simclr" => "simclr",
        "moco_v2" | "mocov2" | "moco" => "moco_v2",
        "byol" => "byol",
        "swav" => "swav",
        "barlow_twins" | "barlowtwins" | "barlow" => "barlow_twins",
        "vicreg" => "vicreg",
        "dino" => "dino",
        _ => {
            return Err(ContrastiveError::param(
                "method",
                format!("unknown method {name:?} (known: {})", METHOD_NAMES.join(", ")),
            ))
        }
    })
}

/// The recipe, default optimizer and batch size of `name` at `scale`.
///
/// `Paper`: SimCLR LARS 0.3 × B/256, wd 1e-6, 10 % warm-up; MoCo v2 SGD 0.015 at batch 128 (the study),
/// wd 1e-4; BYOL Adam 1e-3 at batch 64 (the study); SwAV LARS 0.15 at 128 (the study), wd 1e-6, 10 %
/// warm-up; Barlow Twins LARS 0.2 × B/256, wd 1.5e-6; VICReg LARS 0.2 × B/256, wd 1e-6; DINO AdamW
/// 5e-4 × B/256, wd 0.04 → 0.4, clip 3. `Small`: Adam 1e-3 (no scaling with the batch), wd 1e-5, 5 %
/// warm-up, cosine to 0, batch 32 for every method, DINO's weight-decay schedule and clipping kept.
pub fn method_spec(name: &str, scale: Scale) -> Result<MethodSpec> {
    let name = canonical(name)?;
    let (recipe, study_recipe) = match name {
        "simclr" => ("simclr", None),
        "moco_v2" => ("moco_v2", Some("study")),
        "byol" => ("byol", Some("study")),
        "swav" => ("swav", Some("study_multi_crop")),
        "barlow_twins" | "vicreg" => ("byol", None),
        _ => ("dino", None),
    };
    let (optimizer, batch_size) = match scale {
        Scale::Paper => match name {
            "simclr" => (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.3, 256, 1e-6) }, 256),
            "moco_v2" => (OptimizerChoice::sgd(0.015, 128, 1e-4), 128),
            "byol" => (OptimizerChoice::adam(1e-3, 64, 0.0), 64),
            "swav" => (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.15, 128, 1e-6) }, 128),
            "barlow_twins" => {
                (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.2, 256, 1.5e-6) }, 256)
            }
            "vicreg" => (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.2, 256, 1e-6) }, 256),
            _ => (dino_optimizer(OptimizerChoice::adamw(5e-4, 256, 0.04)), 256),
        },
        Scale::Small => {
            let base = OptimizerChoice { warmup_fraction: 0.05, ..OptimizerChoice::adam(1e-3, 32, 1e-5) };
            if name == "dino" {
                (dino_optimizer(OptimizerChoice { kind: super::OptimizerKind::AdamW, ..base }), 32)
            } else {
                (base, 32)
            }
        }
    };
    Ok(MethodSpec { name, recipe, study_recipe, optimizer, batch_size })
}

fn dino_optimizer(base: OptimizerChoice) -> OptimizerChoice {
    OptimizerChoice {
        scale_lr_with_batch: true,
        weight_decay: 0.04,
        weight_decay_end: 0.4,
        warmup_fraction: 0.1,
        final_lr_fraction: 1e-6 / 5e-4,
        clip_grad_norm: Some(3.0),
        ..base
    }
}

/// The method `name` (see [`METHOD_NAMES`]) on a backbone of `backbone_cfg`, initialised from `seed`, with
/// the defaults of [`Scale::for_backbone`].
pub fn build_method(
    name: &str,
    backbone_cfg: ResNetConfig,
    seed: u64,
    device: &Device,
) -> Result<Box<dyn PretrainMethod>> {
    let scale = Scale::for_backbone(&backbone_cfg);
    build_method_with(name, backbone_cfg, scale, seed, device)
}

/// [`build_method`] with an explicit [`Scale`].
pub fn build_method_with(
    name: &str,
    backbone_cfg: ResNetConfig,
    scale: Scale,
    seed: u64,
    device: &Device,
) -> Result<Box<dyn PretrainMethod>> {
    let f = backbone_cfg.feature_dim();
    let paper = scale == Scale::Paper;
    Ok(match canonical(name)? {
        "simclr" => {
            let c = if paper { SimClrConfig::paper(f) } else { SimClrConfig::small(f) };
            Box::new(SimClr::new(backbone_cfg, c, seed, device)?)
        }
        "moco_v2" => {
            let c = if paper { MocoV2Config::paper(f) } else { MocoV2Config::small(f) };
            Box::new(MocoV2::new(backbone_cfg, c, seed, device)?)
        }
        "byol" => {
            let c = if paper { ByolConfig::paper() } else { ByolConfig::small() };
            Box::new(Byol::new(backbone_cfg, c, seed, device)?)
        }
        "swav" => {
            let c = if paper { SwavConfig::paper(f) } else { SwavConfig::small(f) };
            Box::new(Swav::new(backbone_cfg, c, seed, device)?)
        }
        "barlow_twins" => {
            let c = if paper { BarlowTwinsConfig::paper() } else { BarlowTwinsConfig::small() };
            Box::new(BarlowTwins::new(backbone_cfg, c, seed, device)?)
        }
        "vicreg" => {
            let c = if paper { VicregConfig::paper() } else { VicregConfig::small() };
            Box::new(Vicreg::new(backbone_cfg, c, seed, device)?)
        }
        _ => {
            let c = if paper { DinoConfig::paper() } else { DinoConfig::small() };
            Box::new(Dino::new(backbone_cfg, c, seed, device)?)
        }
    })
}
