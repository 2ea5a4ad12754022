//! The whole SparK pre-training model: sparse encoder → densify → light decoder → masked-patch loss.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{ParamStore, ResNet, ResNetConfig};

use crate::decoder::LightDecoder;
use crate::densify::Densify;
use crate::encoder::SparseEncoder;
use crate::error::{Result, SparseError};
use crate::loss::masked_patch_loss;
use crate::mask::Mask;
use crate::params::ParamBuilder;

/// What defines a SparK model.
#[derive(Debug, Clone, PartialEq)]
pub struct SparkConfig {
    /// The encoder's architecture (its `num_classes` is ignored for pre-training: no `fc` is used).
    pub backbone: ResNetConfig,
    /// Fraction of masked cells (SparK: 0.6).
    pub mask_ratio: f64,
    /// Decoder width at the deepest scale; it halves per upsampling block.
    pub decoder_width: usize,
    /// Channels of the reconstruction (1 for CT).
    pub out_channels: usize,
}

impl SparkConfig {
    /// Mask ratio 0.6, output channels = the backbone's input channels, decoder width 768 (the default of
    /// SparK's `LightDecoder`, used for all its ResNets) with the ImageNet stem; with the small stem (CPU
    /// presets) the backbone's deepest channel count, capped at 768.
    pub fn new(backbone: ResNetConfig) -> Self {
        let decoder_width = match backbone.stem {
            ctssl_backbones::Stem::ImageNet => 768,
            ctssl_backbones::Stem::Small => backbone.feature_dim().min(768),
        };
        let out_channels = backbone.in_channels;
        SparkConfig { backbone, mask_ratio: 0.6, decoder_width, out_channels }
    }

    /// Sets the decoder width.
    pub fn with_decoder_width(mut self, width: usize) -> Self {
        self.decoder_width = width;
        self
    }

    /// Sets the mask ratio.
    pub fn with_mask_ratio(mut self, ratio: f64) -> Self {
        self.mask_ratio = ratio;
        self
    }

    /// Sets the reconstruction's channel count.
    pub fn with_out_channels(mut self, channels: usize) -> Self {
        self.out_channels = channels;
        self
    }
}

/// What [`Spark::forward`] returns.
#[derive(Debug, Clone)]
pub struct SparkOutput {
    /// The encoder's four stage maps (masked positions zero), shallowest first.
    pub features: [Tensor; 4],
    /// The decoder's output `[N, out_channels, H, W]` (in per-patch normalised units).
    pub reconstruction: Tensor,
    /// The scalar loss over masked patches.
    pub loss: Tensor,
}

/// SparK: encoder (sharing a backbone's variables), densify and decoder.
#[derive(Debug, Clone)]
pub struct Spark {
    config: SparkConfig,
    encoder: SparseEncoder,
    densify: Densify,
    decoder: LightDecoder,
    head: ParamStore,
}

impl Spark {
    /// A new f32 model on `device`: backbone and head initialised from `seed`.
    pub fn new(config: SparkConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::with_dtype(config, seed, DType::F32, device)
    }

    /// A new model with parameters of `dtype` (F32 or F64).
    pub fn with_dtype(config: SparkConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        let backbone = ResNet::with_dtype(config.backbone.clone().with_num_classes(None), seed, dtype, device)?;
        Self::from_backbone(config, backbone, seed)
    }

    /// A model around an existing backbone (its variables are shared, not copied); the head comes from `seed`.
    pub fn from_backbone(config: SparkConfig, backbone: ResNet, seed: u64) -> Result<Self> {
        if backbone.config().block != config.backbone.block || backbone.config().layers != config.backbone.layers {
            return Err(SparseError::InvalidConfig("the backbone does not match config.backbone".into()));
        }
        let encoder = SparseEncoder::new(backbone);
        let dtype = encoder.backbone().params().float_dtype();
        let device = crate::encoder::encoder_device(&encoder);
        let mut b = ParamBuilder::new(seed, dtype, &device);
        let strides = encoder.stage_strides();
        let total = strides[3];
        let decoder = LightDecoder::new(&mut b, total, config.decoder_width, config.out_channels)?;
        let channels = encoder.stage_channels();
        let enc_deep_first: Vec<usize> = channels.iter().rev().copied().collect();
        let dec_widths: Vec<usize> = strides.iter().rev().map(|&s| decoder.width_at_stride(s)).collect();
        if dec_widths.contains(&0) {
            return Err(SparseError::InvalidConfig(format!(
                "decoder width {} is too small for strides {strides:?}",
                config.decoder_width
            )));
        }
        let densify = Densify::new(&mut b, &enc_deep_first, &dec_widths)?;
        Ok(Spark { config, encoder, densify, decoder, head: b.store })
    }

    /// The configuration.
    pub fn config(&self) -> &SparkConfig {
        &self.config
    }

    /// The masked encoder.
    pub fn encoder(&self) -> &SparseEncoder {
        &self.encoder
    }

    /// The mask patch size (the backbone's total stride).
    pub fn patch_size(&self) -> usize {
        self.encoder.patch_size()
    }

    /// The densify and decoder parameters (SparK's names).
    pub fn head_params(&self) -> &ParamStore {
        &self.head
    }

    /// Every trainable variable: encoder (backbone without `fc`), then densify and decoder.
    pub fn trainable_vars(&self) -> Vec<Var> {
        let mut vars = self.encoder.trainable_vars();
        vars.extend(self.head.trainable_vars());
        vars
    }

    /// Encodes `x` under `mask`, densifies, decodes and computes the loss against `x`.
    pub fn forward(&self, x: &Tensor, mask: &Mask, train: bool) -> Result<SparkOutput> {
        let dtype = self.encoder.backbone().params().float_dtype();
        let pyramid = mask.pyramid(dtype, x.device())?;
        self.encoder.forward_check(x, mask)?;
        let features = self.encoder.forward_with(x, &pyramid, train)?;
        let deep_first: Vec<Tensor> = features.iter().rev().cloned().collect();
        let densified = self.densify.forward(&deep_first, &pyramid, train)?;
        let reconstruction = self.decoder.forward(&densified, train)?;
        let loss = masked_patch_loss(x, &reconstruction, mask)?;
        Ok(SparkOutput { features, reconstruction, loss })
    }
}
