//! Contrastive and joint-embedding pre-training pieces for ctssl: the losses of SimCLR, MoCo v2, BYOL,
//! SwAV, Barlow Twins, VICReg and DINO, their heads (projection MLPs, predictor, prototypes), the MoCo key
//! queue, the Sinkhorn-Knopp algorithm, and collapse monitors; and the methods themselves (`methods`) as
//! `ctssl_train::method::PretrainMethod`s on a ResNet, named by `ContrastiveMethod`, with `build_method`
//! to make one and `method_spec` for its view recipe and default optimizer.
//!
//! The methods need the trainer and the backbones; they sit behind the default feature `methods`. With
//! `default-features = false` the crate is the losses, heads, queue, Sinkhorn and monitors on candle and
//! `ctssl-kernels` alone.
//!
//! Every loss takes candle tensors (`f32` or `f64`) and returns a scalar tensor differentiable in its
//! inputs; softmax and log-softmax come from `ctssl_kernels::ops` (which have a backward pass). Teachers,
//! keys and codes are detached inside the losses, so no gradient reaches a momentum encoder.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use ctssl_contrastive::nt_xent;
//!
//! # fn main() -> Result<(), ctssl_contrastive::ContrastiveError> {
//! let dev = Device::Cpu;
//! let z_a = Var::from_tensor(&Tensor::randn(0f32, 1.0, (8, 16), &dev)?)?;
//! let z_b = Tensor::randn(0f32, 1.0, (8, 16), &dev)?;
//! let loss = nt_xent(&z_a, &z_b, 0.5)?;
//! let grads = loss.backward()?;
//! assert!(grads.get(&z_a).is_some());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod barlow_twins;
pub mod batch_norm1d;
pub mod byol_loss;
pub mod collapse_monitor;
pub mod dino_head;
pub mod dino_loss;
pub mod error;
pub mod info_nce;
pub mod jacobi;
pub mod key_queue;
pub mod linear;
#[cfg(feature = "methods")]
pub mod methods;
pub mod nt_xent;
pub mod projection_head;
pub mod prototypes;
pub mod sinkhorn;
pub mod swav_loss;
pub mod tensor_ops;
pub mod vicreg;

pub use barlow_twins::{barlow_twins_loss, batch_standardize, BARLOW_TWINS_LAMBDA};
pub use batch_norm1d::BatchNorm1d;
pub use byol_loss::{byol_loss, byol_loss_symmetric};
pub use collapse_monitor::{alignment, effective_rank, mean_std, per_dimension_std, uniformity, CollapseReport};
pub use dino_head::{DinoHead, DinoHeadConfig};
pub use dino_loss::{dino_center_update, dino_loss, DinoLossConfig};
pub use error::{ContrastiveError, Result};
pub use info_nce::info_nce;
pub use jacobi::symmetric_eigenvalues;
pub use key_queue::KeyQueue;
pub use linear::Linear;
#[cfg(feature = "methods")]
pub use methods::{
    build_method, build_method_with, method_spec, BarlowTwins, BarlowTwinsConfig, Byol, ByolConfig, ContrastiveMethod,
    Dino, DinoConfig, MethodSpec, MocoV2, MocoV2Config, OptimizerChoice, OptimizerKind, Scale, SimClr, SimClrConfig,
    Swav, SwavConfig, Vicreg, VicregConfig, MONITOR_NAMES,
};
pub use nt_xent::nt_xent;
pub use projection_head::{ProjectionHead, ProjectionHeadConfig};
pub use prototypes::Prototypes;
pub use sinkhorn::sinkhorn_knopp;
pub use swav_loss::{swav_loss, SwavLossConfig};
pub use vicreg::{vicreg_loss, VicregWeights};
