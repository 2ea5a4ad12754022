//! ResNet backbones for CT self-supervised learning: ResNet-18/34/50 and small CPU presets on candle, with a
//! configurable input-channel count (1 by default), a width multiplier, a small stem for 64-px images,
//! torchvision's parameter names, and safetensors checkpoints that move to and from PyTorch.
//!
//! The forward pass returns the four stage feature maps (for SparK's decoder) and the pooled feature;
//! batch norm runs in training mode (batch statistics, running-statistics update) or evaluation mode.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use ctssl_backbones::{Parameters, ResNet, ResNetConfig};
//!
//! # fn main() -> ctssl_backbones::Result<()> {
//! let model = ResNet::new(ResNetConfig::resnet_tiny(), 42, &Device::Cpu)?;
//! let x = Tensor::zeros((2, 1, 32, 32), candle_core::DType::F32, &Device::Cpu)?;
//! let features = model.forward_features(&x, false)?;
//! assert_eq!(features.stages[3].dims(), &[2, 256, 4, 4]);
//! assert_eq!(features.pooled.dims(), &[2, 256]);
//! assert!(model.named_vars("").iter().any(|v| v.name == "layer1.0.bn1.running_mean"));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod batch_norm;
pub mod block;
pub mod config;
pub mod conv;
pub mod error;
pub mod init;
pub mod io;
pub mod linear;
mod ops;
pub mod params;
pub mod resnet;
pub mod state;

pub use batch_norm::BatchNorm2d;
pub use block::{Block, Downsample};
pub use config::{BlockKind, ResNetArch, ResNetConfig, Stem};
pub use conv::Conv2d;
pub use error::{BackboneError, Result};
pub use io::{load_safetensors, save_safetensors};
pub use linear::Linear;
pub use params::{snapshot, NamedVar, ParamKind, ParamStore, Parameters};
pub use resnet::{ResNet, ResNetFeatures};
pub use state::{load_into_store, LoadOptions, LoadReport, ShapeMismatch};
