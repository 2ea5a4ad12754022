//! The pre-training methods as [`ctssl_train::method::PretrainMethod`]s on a `ctssl_backbones::ResNet`:
//! [`SimClr`], [`MocoV2`], [`Byol`], [`Swav`], [`BarlowTwins`], [`Vicreg`], [`Dino`], each with a config
//! holding the published defaults (`paper`) and a scaled-down CPU preset (`small`); [`ContrastiveMethod`]
//! names them (parsed from a name, aliases included), [`build_method`] makes one and [`method_spec`] gives
//! its view recipe and default optimizer ([`OptimizerChoice`]).
//!
//! Every method logs the collapse monitors ([`MONITOR_NAMES`]) of its two first views' embeddings in
//! [`ctssl_train::method::LossOutput::logs`]. Each lists its networks once
//! ([`ctssl_train::method::PretrainMethod::parts`]): the trained ones, whose parameters are the trainable
//! variables `backbone.<torchvision name>`, `projector.…`, `head.…`, `predictor.…`, `prototypes.weight`,
//! and the EMA targets (`key_…`, `target_…`, `teacher_…`), which are state with the batch-norm statistics;
//! queues and DINO's centre are extra state. Every name is distinct, so a `Trainer` resume is exact.
//! [`ctssl_train::method::PretrainMethod::encoder_state_dict`] returns the backbone with torchvision
//! names and no prefix.

pub mod barlow;
pub mod byol;
mod common;
pub mod dino;
pub mod expander;
pub mod factory;
pub mod moco;
pub mod simclr;
pub mod swav;
pub mod vicreg;

pub use barlow::{BarlowTwins, BarlowTwinsConfig};
pub use byol::{Byol, ByolConfig};
pub use common::MONITOR_NAMES;
pub use ctssl_train::optim::{OptimizerChoice, OptimizerKind};
pub use dino::{Dino, DinoConfig};
pub use expander::{ExpanderMethod, ExpanderObjective};
pub use factory::{build_method, build_method_with, method_spec, ContrastiveMethod, MethodSpec, Scale};
pub use moco::{MocoV2, MocoV2Config};
pub use simclr::{SimClr, SimClrConfig};
pub use swav::{Swav, SwavConfig};
pub use vicreg::{Vicreg, VicregConfig};
