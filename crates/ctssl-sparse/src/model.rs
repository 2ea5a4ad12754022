//! The whole SparK pre-training network: sparse encoder → densify → light decoder → masked-patch loss.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{NamedVar, ParamKind, ParamStore, Parameters, ResNet, ResNetConfig, Stem};

use crate::config::SparkConfig;
use crate::decoder::LightDecoder;
use crate::densify::Densify;
use crate::encoder::SparseEncoder;
use crate::error::{Result, SparseError};
use crate::loss::masked_patch_loss;
use crate::mask::Mask;
use crate::params::ParamBuilder;
use crate::sparse_layout::SparseLayout;

/// What [`SparkModel::forward`] returns.
#[derive(Debug, Clone)]
pub struct SparkOutput {
    /// The encoder's four stage maps (masked positions zero), shallowest first.
    pub features: [Tensor; 4],
    /// The decoder's output `[N, out_channels, H, W]` (in per-patch normalised units).
    pub reconstruction: Tensor,
    /// The scalar loss over masked patches.
    pub loss: Tensor,
}

/// Seconds spent in each part of one [`SparkModel::forward_timed`] call (forward only).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ForwardTimes {
    /// The masked encoder.
    pub encoder: f64,
    /// Densify (norm, mask tokens, projections).
    pub densify: f64,
    /// The light decoder.
    pub decoder: f64,
    /// The masked-patch loss.
    pub loss: f64,
}

/// The decoder width of `cfg` for a backbone: the configured one, else 768 (SparK's `LightDecoder`
/// default for every ResNet) with the ImageNet stem and the deepest channel count (at most 768) with the
/// small stem of the CPU presets.
pub fn decoder_width(backbone: &ResNetConfig, cfg: &SparkConfig) -> usize {
    cfg.decoder_width.unwrap_or(match backbone.stem {
        Stem::ImageNet => 768,
        Stem::Small | Stem::Strided => backbone.feature_dim().min(768),
    })
}

/// SparK's network: encoder (sharing a backbone's variables), densify and decoder.
#[derive(Debug, Clone)]
pub struct SparkModel {
    config: SparkConfig,
    encoder: SparseEncoder,
    densify: Densify,
    decoder: LightDecoder,
    head: ParamStore,
}

impl SparkModel {
    /// A new f32 model on `device`: backbone (without `fc`) and head initialised from `seed`.
    pub fn new(backbone: ResNetConfig, config: &SparkConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::with_dtype(backbone, config, seed, DType::F32, device)
    }

    /// A new model with parameters of `dtype` (F32 or F64).
    pub fn with_dtype(
        backbone: ResNetConfig,
        config: &SparkConfig,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let backbone = ResNet::with_dtype(backbone.with_num_classes(None), seed, dtype, device)?;
        Self::from_backbone(backbone, config, seed)
    }

    /// A model around an existing backbone (its variables are shared, not copied); the head comes from `seed`.
    pub fn from_backbone(backbone: ResNet, config: &SparkConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let bcfg = backbone.config().clone();
        let encoder = SparseEncoder::new(backbone).with_path(config.path);
        let dtype = encoder.backbone().params().float_dtype();
        let device = crate::encoder::encoder_device(&encoder);
        let mut b = ParamBuilder::new(seed, dtype, &device);
        let strides = encoder.stage_strides();
        let total = strides[3];
        let width = decoder_width(&bcfg, config);
        let out_channels = config.out_channels.unwrap_or(bcfg.in_channels);
        let decoder = LightDecoder::new(&mut b, total, width, out_channels)?;
        let channels = encoder.stage_channels();
        let enc_deep_first: Vec<usize> = channels.iter().rev().copied().collect();
        let dec_widths: Vec<usize> = strides.iter().rev().map(|&s| decoder.width_at_stride(s)).collect();
        if dec_widths.contains(&0) {
            return Err(SparseError::InvalidConfig(format!(
                "decoder width {width} is too small for strides {strides:?}"
            )));
        }
        let densify = Densify::new(&mut b, &enc_deep_first, &dec_widths)?;
        Ok(SparkModel { config: config.clone(), encoder, densify, decoder, head: b.store })
    }

    /// The configuration.
    pub fn config(&self) -> &SparkConfig {
        &self.config
    }

    /// The masked encoder.
    pub fn encoder(&self) -> &SparseEncoder {
        &self.encoder
    }

    /// The decoder.
    pub fn decoder(&self) -> &LightDecoder {
        &self.decoder
    }

    /// The mask patch size (the backbone's total stride).
    pub fn patch_size(&self) -> usize {
        self.encoder.patch_size()
    }

    /// The densify and decoder parameters and buffers (SparK's names).
    pub fn head_params(&self) -> &ParamStore {
        &self.head
    }

    /// Every trainable variable, in the order of [`Parameters::named_vars`]: encoder (backbone without
    /// `fc`), then densify and decoder.
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.vars_of_kind("", ParamKind::Trainable).into_iter().map(|(_, var)| var).collect()
    }

    /// Encodes `x` under `mask`, densifies, decodes and computes the loss against `x`.
    pub fn forward(&self, x: &Tensor, mask: &Mask, train: bool) -> Result<SparkOutput> {
        Ok(self.forward_timed(x, mask, train)?.0)
    }

    /// As [`forward`](Self::forward), also returning the time spent in each part.
    pub fn forward_timed(&self, x: &Tensor, mask: &Mask, train: bool) -> Result<(SparkOutput, ForwardTimes)> {
        let mut times = ForwardTimes::default();
        self.encoder.forward_check(x, mask)?;
        let t = Instant::now();
        let (features, densified) = if self.encoder.uses_sparse(x.device()) {
            let layout = SparseLayout::new(mask)?;
            let maps = self.encoder.forward_compact(x, &layout, train)?;
            times.encoder = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let deep_first: Vec<_> = maps.iter().rev().cloned().collect();
            let densified = self.densify.forward_sparse(&deep_first, train)?;
            times.densify = t.elapsed().as_secs_f64();
            // The dense stage maps are outputs for the caller; the loss does not go through them.
            let features: Vec<Tensor> = maps.iter().map(|m| m.to_dense()).collect::<Result<_>>()?;
            (features, densified)
        } else {
            let dtype = self.encoder.backbone().params().float_dtype();
            let pyramid = mask.pyramid(dtype, x.device())?;
            let features = self.encoder.forward_with(x, &pyramid, train)?;
            times.encoder = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let deep_first: Vec<Tensor> = features.iter().rev().cloned().collect();
            let densified = self.densify.forward(&deep_first, &pyramid, train)?;
            times.densify = t.elapsed().as_secs_f64();
            (features.to_vec(), densified)
        };
        let t = Instant::now();
        let reconstruction = self.decoder.forward(&densified, train)?;
        times.decoder = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let loss = masked_patch_loss(x, &reconstruction, mask, self.config.norm_pix_loss)?;
        times.loss = t.elapsed().as_secs_f64();
        let features: [Tensor; 4] =
            features.try_into().map_err(|_| SparseError::InvalidConfig("a ResNet has exactly four stages".into()))?;
        Ok((SparkOutput { features, reconstruction, loss }, times))
    }
}

impl Parameters for SparkModel {
    /// The encoder's backbone without `fc` (which SparK never uses) as `{prefix}encoder.` + its torchvision
    /// names, then the densify and decoder tensors under SparK's names after `prefix`; buffers included.
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        let fc = format!("{prefix}encoder.fc.");
        let mut vars = self.encoder.backbone().named_vars(&format!("{prefix}encoder."));
        vars.retain(|v| !v.name.starts_with(&fc));
        vars.extend(self.head.named_vars(prefix));
        vars
    }
}
