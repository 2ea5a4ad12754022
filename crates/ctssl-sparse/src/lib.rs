//! SparK (Tian et al., ICLR 2023) for CT: masked-image pre-training of the `ctssl-backbones` ResNets.
//!
//! - [`mask`]: random masks on the grid of the deepest feature map (patch = the backbone's total stride),
//!   exactly `round(cells × (1 − ratio))` visible cells per image, seeded per (seed, step, image).
//! - [`encoder`]: the dense-masked sparse encoder (the reference semantics): the backbone's own parameters,
//!   every convolution / pooling output masked, batch norm over visible positions only ([`batch_norm`]).
//! - [`densify`], [`decoder`], [`loss`]: mask tokens and projections, the light UNet-like decoder
//!   (1 output channel by default), per-patch normalised MSE over masked patches.
//! - [`model`]: the whole pre-training model; [`export`]: the encoder's weights under the backbone's names.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use ctssl_backbones::ResNetConfig;
//! use ctssl_sparse::{MaskGenerator, Spark, SparkConfig};
//!
//! # fn main() -> ctssl_sparse::Result<()> {
//! let dev = Device::Cpu;
//! let model = Spark::new(SparkConfig::new(ResNetConfig::resnet_tiny()), 0, &dev)?;
//! let x = Tensor::randn(0f32, 1.0, (2, 1, 32, 32), &dev)?;
//! let mask = MaskGenerator::new(model.patch_size(), 0.6)?.generate(2, 32, 32, 7, 0)?;
//! let out = model.forward(&x, &mask, true)?;
//! assert_eq!(out.reconstruction.dims(), &[2, 1, 32, 32]);
//! assert!(out.loss.to_dtype(DType::F32)?.to_scalar::<f32>()?.is_finite());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod batch_norm;
pub mod decoder;
pub mod densify;
pub mod encoder;
pub mod error;
pub mod export;
pub mod layers;
pub mod loss;
pub mod mask;
pub mod model;
pub mod params;
pub mod preview;

pub use decoder::LightDecoder;
pub use densify::Densify;
pub use encoder::SparseEncoder;
pub use error::{Result, SparseError};
pub use export::{encoder_state_dict, save_encoder_safetensors};
pub use loss::{masked_patch_loss, patchify};
pub use mask::{Mask, MaskGenerator, MaskPyramid};
pub use model::{Spark, SparkConfig, SparkOutput};
pub use params::ParamBuilder;
pub use preview::{denormalise, write_preview};
