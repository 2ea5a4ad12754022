//! Every method of this crate by name ([`ContrastiveMethod`]), built with its view recipe and default
//! optimizer: what a driver (the `study` example, the `pretrain` binary) needs to pre-train every method
//! the same way.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use ctssl_augment::BuiltinRecipe;
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

/// The contrastive and joint-embedding methods of this crate: one list ([`ContrastiveMethod::ALL`]), each
/// with its canonical name ([`ContrastiveMethod::name`], what configs, command lines and results use),
/// the spellings [`FromStr`] also accepts, and its view recipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContrastiveMethod {
    /// SimCLR ([`SimClr`]): `simclr`.
    SimClr,
    /// MoCo v2 ([`MocoV2`]): `moco_v2` (also `mocov2`, `moco`).
    MocoV2,
    /// BYOL ([`Byol`]): `byol`.
    Byol,
    /// SwAV ([`Swav`]): `swav`.
    Swav,
    /// Barlow Twins ([`BarlowTwins`]): `barlow_twins` (also `barlowtwins`, `barlow`).
    BarlowTwins,
    /// VICReg ([`Vicreg`]): `vicreg`.
    Vicreg,
    /// DINO ([`Dino`]): `dino`.
    Dino,
}

impl ContrastiveMethod {
    /// Every method, in the order drivers run them.
    pub const ALL: [ContrastiveMethod; 7] = [
        ContrastiveMethod::SimClr,
        ContrastiveMethod::MocoV2,
        ContrastiveMethod::Byol,
        ContrastiveMethod::Swav,
        ContrastiveMethod::BarlowTwins,
        ContrastiveMethod::Vicreg,
        ContrastiveMethod::Dino,
    ];

    /// Other spellings [`FromStr`] accepts (after lower-casing and `-` → `_`).
    const ALIASES: [(&'static str, ContrastiveMethod); 4] = [
        ("mocov2", ContrastiveMethod::MocoV2),
        ("moco", ContrastiveMethod::MocoV2),
        ("barlowtwins", ContrastiveMethod::BarlowTwins),
        ("barlow", ContrastiveMethod::BarlowTwins),
    ];

    /// The canonical name (also what the built method's `PretrainMethod::name` returns).
    pub fn name(self) -> &'static str {
        match self {
            ContrastiveMethod::SimClr => "simclr",
            ContrastiveMethod::MocoV2 => "moco_v2",
            ContrastiveMethod::Byol => "byol",
            ContrastiveMethod::Swav => "swav",
            ContrastiveMethod::BarlowTwins => "barlow_twins",
            ContrastiveMethod::Vicreg => "vicreg",
            ContrastiveMethod::Dino => "dino",
        }
    }

    /// The method's own published view recipe (Barlow Twins and VICReg use BYOL's, as published).
    pub fn recipe(self) -> BuiltinRecipe {
        match self {
            ContrastiveMethod::SimClr => BuiltinRecipe::Simclr,
            ContrastiveMethod::MocoV2 => BuiltinRecipe::MocoV2,
            ContrastiveMethod::Byol | ContrastiveMethod::BarlowTwins | ContrastiveMethod::Vicreg => BuiltinRecipe::Byol,
            ContrastiveMethod::Swav => BuiltinRecipe::Swav,
            ContrastiveMethod::Dino => BuiltinRecipe::Dino,
        }
    }

    /// The reference study's recipe for the method, where it is one of the study's (MoCo v2, BYOL, SwAV).
    pub fn study_recipe(self) -> Option<BuiltinRecipe> {
        match self {
            ContrastiveMethod::MocoV2 | ContrastiveMethod::Byol => Some(BuiltinRecipe::Study),
            ContrastiveMethod::Swav => Some(BuiltinRecipe::StudyMultiCrop),
            ContrastiveMethod::SimClr
            | ContrastiveMethod::BarlowTwins
            | ContrastiveMethod::Vicreg
            | ContrastiveMethod::Dino => None,
        }
    }

    /// Whether the method trains on multi-crop views (two global views and several local ones).
    pub fn multi_crop(self) -> bool {
        match self {
            ContrastiveMethod::Swav | ContrastiveMethod::Dino => true,
            ContrastiveMethod::SimClr
            | ContrastiveMethod::MocoV2
            | ContrastiveMethod::Byol
            | ContrastiveMethod::BarlowTwins
            | ContrastiveMethod::Vicreg => false,
        }
    }
}

impl fmt::Display for ContrastiveMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ContrastiveMethod {
    type Err = ContrastiveError;

    /// A canonical name or an alias, in any case, with `-` for `_`; an error lists the canonical names.
    fn from_str(s: &str) -> Result<Self> {
        let n = s.to_ascii_lowercase().replace('-', "_");
        ContrastiveMethod::ALL
            .into_iter()
            .find(|m| m.name() == n)
            .or_else(|| ContrastiveMethod::ALIASES.iter().find(|(a, _)| *a == n).map(|(_, m)| *m))
            .ok_or_else(|| {
                let known: Vec<&str> = ContrastiveMethod::ALL.iter().map(|m| m.name()).collect();
                ContrastiveError::param("method", format!("unknown method {s:?} (known: {})", known.join(", ")))
            })
    }
}

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
    /// The method.
    pub method: ContrastiveMethod,
    /// Its own view recipe ([`ContrastiveMethod::recipe`]).
    pub recipe: BuiltinRecipe,
    /// The study's recipe for it ([`ContrastiveMethod::study_recipe`]), when it is one of the study's methods.
    pub study_recipe: Option<BuiltinRecipe>,
    /// Default optimizer.
    pub optimizer: OptimizerChoice,
    /// Batch size of the reference setting.
    pub batch_size: usize,
}

/// The recipes, default optimizer and batch size of `method` at `scale`.
///
/// `Paper`: SimCLR LARS 0.3 × B/256, wd 1e-6, 10 % warm-up; MoCo v2 SGD 0.015 at batch 128 (the study),
/// wd 1e-4; BYOL Adam 1e-3 at batch 64 (the study); SwAV LARS 0.15 at 128 (the study), wd 1e-6, 10 %
/// warm-up; Barlow Twins LARS 0.2 × B/256, wd 1.5e-6; VICReg LARS 0.2 × B/256, wd 1e-6; DINO AdamW
/// 5e-4 × B/256, wd 0.04 → 0.4, clip 3. `Small`: Adam 1e-3 (no scaling with the batch), wd 1e-5, 5 %
/// warm-up, cosine to 0, batch 32 for every method, DINO's weight-decay schedule and clipping kept.
pub fn method_spec(method: ContrastiveMethod, scale: Scale) -> MethodSpec {
    let (optimizer, batch_size) = match scale {
        Scale::Paper => match method {
            ContrastiveMethod::SimClr => {
                (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.3, 256, 1e-6) }, 256)
            }
            ContrastiveMethod::MocoV2 => (OptimizerChoice::sgd(0.015, 128, 1e-4), 128),
            ContrastiveMethod::Byol => (OptimizerChoice::adam(1e-3, 64, 0.0), 64),
            ContrastiveMethod::Swav => {
                (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.15, 128, 1e-6) }, 128)
            }
            ContrastiveMethod::BarlowTwins => {
                (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.2, 256, 1.5e-6) }, 256)
            }
            ContrastiveMethod::Vicreg => {
                (OptimizerChoice { warmup_fraction: 0.1, ..OptimizerChoice::lars(0.2, 256, 1e-6) }, 256)
            }
            ContrastiveMethod::Dino => (dino_optimizer(OptimizerChoice::adamw(5e-4, 256, 0.04)), 256),
        },
        Scale::Small => {
            let base = OptimizerChoice { warmup_fraction: 0.05, ..OptimizerChoice::adam(1e-3, 32, 1e-5) };
            match method {
                ContrastiveMethod::Dino => {
                    (dino_optimizer(OptimizerChoice { kind: super::OptimizerKind::AdamW, ..base }), 32)
                }
                ContrastiveMethod::SimClr
                | ContrastiveMethod::MocoV2
                | ContrastiveMethod::Byol
                | ContrastiveMethod::Swav
                | ContrastiveMethod::BarlowTwins
                | ContrastiveMethod::Vicreg => (base, 32),
            }
        }
    };
    MethodSpec { method, recipe: method.recipe(), study_recipe: method.study_recipe(), optimizer, batch_size }
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

/// `method` on a backbone of `backbone_cfg`, initialised from `seed`, with the defaults of
/// [`Scale::for_backbone`].
pub fn build_method(
    method: ContrastiveMethod,
    backbone_cfg: ResNetConfig,
    seed: u64,
    device: &Device,
) -> Result<Box<dyn PretrainMethod>> {
    let scale = Scale::for_backbone(&backbone_cfg);
    build_method_with(method, backbone_cfg, scale, seed, device)
}

/// [`build_method`] with an explicit [`Scale`].
pub fn build_method_with(
    method: ContrastiveMethod,
    backbone_cfg: ResNetConfig,
    scale: Scale,
    seed: u64,
    device: &Device,
) -> Result<Box<dyn PretrainMethod>> {
    let f = backbone_cfg.feature_dim();
    let paper = scale == Scale::Paper;
    Ok(match method {
        ContrastiveMethod::SimClr => {
            let c = if paper { SimClrConfig::paper(f) } else { SimClrConfig::small(f) };
            Box::new(SimClr::new(backbone_cfg, c, seed, device)?)
        }
        ContrastiveMethod::MocoV2 => {
            let c = if paper { MocoV2Config::paper(f) } else { MocoV2Config::small(f) };
            Box::new(MocoV2::new(backbone_cfg, c, seed, device)?)
        }
        ContrastiveMethod::Byol => {
            let c = if paper { ByolConfig::paper() } else { ByolConfig::small() };
            Box::new(Byol::new(backbone_cfg, c, seed, device)?)
        }
        ContrastiveMethod::Swav => {
            let c = if paper { SwavConfig::paper(f) } else { SwavConfig::small(f) };
            Box::new(Swav::new(backbone_cfg, c, seed, device)?)
        }
        ContrastiveMethod::BarlowTwins => {
            let c = if paper { BarlowTwinsConfig::paper() } else { BarlowTwinsConfig::small() };
            Box::new(BarlowTwins::new(backbone_cfg, c, seed, device)?)
        }
        ContrastiveMethod::Vicreg => {
            let c = if paper { VicregConfig::paper() } else { VicregConfig::small() };
            Box::new(Vicreg::new(backbone_cfg, c, seed, device)?)
        }
        ContrastiveMethod::Dino => {
            let c = if paper { DinoConfig::paper() } else { DinoConfig::small() };
            Box::new(Dino::new(backbone_cfg, c, seed, device)?)
        }
    })
}
