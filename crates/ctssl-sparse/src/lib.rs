//! SparK (Tian et al., ICLR 2023) for CT: masked-image pre-training of the `ctssl-backbones` ResNets.
//!
//! - [`mask`]: random masks on the grid of the deepest feature map (patch = the backbone's total stride),
//!   exactly `round(cells × (1 − ratio))` visible cells per image, seeded per (seed, step, image).
//! - [`encoder`]: the masked encoder with two execution paths ([`ExecutionPath`]) of identical results:
//!   dense-masked (SparK's reference: dense convolutions, outputs masked, batch norm over visible
//!   positions, [`batch_norm`]) and truly sparse (computation at visible positions only, on compact rows:
//!   [`sparse_layout`], [`sparse_conv`], [`sparse_bn`], [`sparse_pool`], [`sparse_scatter`],
//!   [`sparse_encoder`]).
//! - [`densify`], [`decoder`], [`loss`]: mask tokens and projections, the light UNet-like decoder
//!   (1 output channel by default), per-patch normalised MSE over masked patches.
//! - [`model`]: the whole network; [`config`]: SparK's settings (mask ratio 0.6, LAMB, schedules);
//!   [`export`]: the encoder's weights under the backbone's names; [`preview`]: reconstruction PNGs.
//! - `method`: SparK as a `ctssl-train` pre-training method, with the optimiser's settings as the
//!   trainer's (LAMB, schedules, parameter groups), behind the default feature `method`. With
//!   `default-features = false` the crate is the masks, encoders, decoder, loss, export and previews on
//!   candle, `ctssl-kernels` and `ctssl-backbones`, without the trainer.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use ctssl_backbones::ResNetConfig;
//! use ctssl_sparse::{MaskGenerator, SparkConfig, SparkModel};
//!
//! # fn main() -> ctssl_sparse::Result<()> {
//! let dev = Device::Cpu;
//! let model = SparkModel::new(ResNetConfig::resnet_tiny(), &SparkConfig::default(), 0, &dev)?;
//! let x = Tensor::randn(0f32, 1.0, (2, 1, 32, 32), &dev)?;
//! let mask = MaskGenerator::new(model.patch_size(), 0.6)?.generate(2, 32, 32, 7, 0)?;
//! let out = model.forward(&x, &mask, true)?;
//! assert_eq!(out.reconstruction.dims(), &[2, 1, 32, 32]);
//! assert!(out.loss.to_dtype(DType::F32)?.to_scalar::<f32>()?.is_finite());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod batch_norm;
pub mod config;
pub mod decoder;
pub mod densify;
pub mod encoder;
pub mod error;
pub mod export;
pub mod layers;
pub mod loss;
pub mod mask;
#[cfg(feature = "method")]
pub mod method;
pub mod model;
pub mod params;
pub mod preview;
pub mod sparse_bn;
pub mod sparse_conv;
pub mod sparse_encoder;
pub mod sparse_layout;
pub mod sparse_pool;
pub mod sparse_scatter;
#[cfg(feature = "method")]
mod trainer_settings;

pub use config::{SparkConfig, SparkOptimizer};
pub use decoder::LightDecoder;
pub use densify::Densify;
pub use encoder::{ExecutionPath, SparseEncoder};
pub use error::{Result, SparseError};
pub use export::{encoder_state_dict, save_encoder_safetensors};
pub use loss::{masked_patch_loss, patchify};
pub use mask::{Mask, MaskGenerator, MaskPyramid};
#[cfg(feature = "method")]
pub use method::{PreviewSettings, Spark};
pub use model::{ForwardTimes, SparkModel, SparkOutput};
pub use params::ParamBuilder;
pub use preview::{denormalise, write_preview};
pub use sparse_encoder::SparseMap;
pub use sparse_layout::SparseLayout;
