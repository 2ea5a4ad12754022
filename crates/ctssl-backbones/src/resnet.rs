//! The ResNet model: stem, four stages of residual blocks, global average pooling, optional `fc`.

use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

use crate::batch_norm::BatchNorm2d;
use crate::block::{Block, BlockSpec};
use crate::config::{ResNetConfig, Stem};
use crate::conv::Conv2d;
use crate::error::{BackboneError, Result};
use crate::linear::Linear;
use crate::ops;
use crate::params::{snapshot, Builder, NamedVar, ParamKind, ParamStore, Parameters};
use crate::state::{load_into_store, LoadOptions, LoadReport};

/// What [`ResNet::forward_features`] returns.
#[derive(Debug, Clone)]
pub struct ResNetFeatures {
    /// Outputs of `layer1`..`layer4`, `[N, C_i, H_i, W_i]` (the feature pyramid SparK's decoder uses).
    pub stages: [Tensor; 4],
    /// Global average of the last stage, `[N, C_4]`.
    pub pooled: Tensor,
}

/// A ResNet with torchvision's layout and parameter names.
#[derive(Debug, Clone)]
pub struct ResNet {
    config: ResNetConfig,
    seed: u64,
    conv1: Conv2d,
    bn1: BatchNorm2d,
    stages: Vec<Vec<Block>>,
    fc: Option<Linear>,
    store: ParamStore,
}

impl ResNet {
    /// Builds an f32 model on `device`, initialised from `seed` (the same seed gives the same weights).
    pub fn new(config: ResNetConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::with_dtype(config, seed, DType::F32, device)
    }

    /// Builds a model with float parameters of `dtype` (F32 or F64; values drawn as f32 then converted).
    pub fn with_dtype(config: ResNetConfig, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        config.validate()?;
        if !dtype.is_float() {
            return Err(BackboneError::InvalidConfig(format!("parameters must be a float dtype, got {dtype:?}")));
        }
        let mut store = ParamStore::new();
        let mut b = Builder { store: &mut store, seed, dtype, device: device.clone() };
        let width = config.base_width;
        let (k, s, p) = match config.stem {
            Stem::ImageNet => (7, 2, 3),
            Stem::Small => (3, 1, 1),
            Stem::Strided => (3, 2, 1),
        };
        let conv1 = Conv2d::new(&mut b, "conv1", config.in_channels, width, k, s, p)?;
        let bn1 = BatchNorm2d::new(&mut b, "bn1", width, false, config.bn_momentum, config.bn_eps)?;
        let mut in_channels = width;
        let mut stages = Vec::with_capacity(4);
        for (stage, (&blocks, &w)) in config.layers.iter().zip(config.stage_widths().iter()).enumerate() {
            let mut layer = Vec::with_capacity(blocks);
            for i in 0..blocks {
                let spec = BlockSpec {
                    in_channels,
                    width: w,
                    stride: if stage > 0 && i == 0 { 2 } else { 1 },
                    zero_init_residual: config.zero_init_residual,
                    momentum: config.bn_momentum,
                    eps: config.bn_eps,
                };
                layer.push(Block::new(&mut b, &format!("layer{}.{i}", stage + 1), config.block, spec)?);
                in_channels = w * config.block.expansion();
            }
            stages.push(layer);
        }
        let fc = match config.num_classes {
            Some(n) if n > 0 => Some(Linear::new(&mut b, "fc", in_channels, n)?),
            _ => None,
        };
        Ok(ResNet { config, seed, conv1, bn1, stages, fc, store })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &ResNetConfig {
        &self.config
    }

    /// The initialisation seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Stem convolution `conv1`.
    pub fn conv1(&self) -> &Conv2d {
        &self.conv1
    }

    /// Stem batch norm `bn1`.
    pub fn bn1(&self) -> &BatchNorm2d {
        &self.bn1
    }

    /// The blocks of stage `index` (0..4 for `layer1`..`layer4`); empty for an index out of range.
    pub fn stage(&self, index: usize) -> &[Block] {
        self.stages.get(index).map(|s| s.as_slice()).unwrap_or(&[])
    }

    /// The classifier, if the model has one.
    pub fn fc(&self) -> Option<&Linear> {
        self.fc.as_ref()
    }

    /// The parameter store (names, variables, kinds).
    pub fn params(&self) -> &ParamStore {
        &self.store
    }

    /// The variables an optimiser updates (no running statistics, no counters).
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.store.trainable_vars()
    }

    /// Trainable variables of everything but `fc` (for a frozen-backbone phase, take the complement).
    pub fn backbone_vars(&self) -> Vec<Var> {
        self.store.filtered_vars(|e| e.kind == ParamKind::Trainable && !e.name.starts_with("fc."))
    }

    /// Trainable variables of `fc` (empty without a classifier).
    pub fn head_vars(&self) -> Vec<Var> {
        self.store.filtered_vars(|e| e.kind == ParamKind::Trainable && e.name.starts_with("fc."))
    }

    /// Number of trainable scalars, as `sum(p.numel() for p in model.parameters())`.
    pub fn num_parameters(&self) -> usize {
        self.store.num_trainable()
    }

    /// Name → copy of every parameter and buffer (see [`ParamStore::state_dict`]).
    pub fn state_dict(&self) -> Result<HashMap<String, Tensor>> {
        self.store.state_dict()
    }

    /// Name → copy of every tensor but the classifier's (`fc.*`): the encoder a pre-training run exports,
    /// which loads into a ResNet of the same layout with or without a classifier.
    pub fn encoder_state_dict(&self) -> Result<HashMap<String, Tensor>> {
        let mut vars: Vec<(String, Var)> = self.store.iter().map(|e| (e.name.clone(), e.var.clone())).collect();
        vars.retain(|(name, _)| !name.starts_with("fc."));
        Ok(snapshot(&vars)?.into_iter().collect())
    }

    /// Copies matching entries of `state` into the model; see [`LoadOptions`] and [`LoadReport`].
    pub fn load_state_dict(&self, state: &HashMap<String, Tensor>, options: &LoadOptions) -> Result<LoadReport> {
        load_into_store(&self.store, state, options)
    }

    /// Writes the state dict to a safetensors file (atomically: temp file + rename).
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::io::save_safetensors(&self.state_dict()?, path)
    }

    /// Loads a safetensors file into the model.
    pub fn load_safetensors(&self, path: impl AsRef<Path>, options: &LoadOptions) -> Result<LoadReport> {
        let state = crate::io::load_safetensors(path, self.conv1.weight().device())?;
        self.load_state_dict(&state, options)
    }

    /// Floating-point operations (2 per multiply-add) of the convolutions and `fc` of one forward pass of
    /// one `height × width` image (batch norm, ReLU and pooling not counted); a training step (forward,
    /// input and weight gradients) does about three times this.
    pub fn forward_flops(&self, height: usize, width: usize) -> f64 {
        let conv = |c: &Conv2d, (h, w): (usize, usize)| -> (f64, (usize, usize)) {
            let d = c.weight().dims();
            let out = |i: usize| (i + 2 * c.padding()).saturating_sub(d[2]) / c.stride() + 1;
            let (oh, ow) = (out(h), out(w));
            (2.0 * (d[0] * d[1] * d[2] * d[3] * oh * ow) as f64, (oh, ow))
        };
        let (mut flops, mut hw) = conv(&self.conv1, (height, width));
        if self.config.stem == Stem::ImageNet {
            hw = ((hw.0 + 2).saturating_sub(3) / 2 + 1, (hw.1 + 2).saturating_sub(3) / 2 + 1);
        }
        for block in self.stages.iter().flatten() {
            if let Some(d) = block.downsample_layer() {
                flops += conv(&d.conv, hw).0;
            }
            let convs: Vec<&Conv2d> = match block {
                Block::Basic { conv1, conv2, .. } => vec![conv1, conv2],
                Block::Bottleneck { conv1, conv2, conv3, .. } => vec![conv1, conv2, conv3],
            };
            for c in convs {
                let (f, out) = conv(c, hw);
                flops += f;
                hw = out;
            }
        }
        if let Some(fc) = &self.fc {
            flops += 2.0 * fc.weight().elem_count() as f64;
        }
        flops
    }

    /// Stem: conv1 → bn1 → relu (→ 3x3 stride-2 max pool with the ImageNet stem).
    pub fn forward_stem(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let dims = x.dims();
        if dims.len() != 4 || dims[1] != self.config.in_channels {
            return Err(BackboneError::InvalidInput(format!(
                "expected [N, {}, H, W], got {dims:?}",
                self.config.in_channels
            )));
        }
        let y = self.bn1.forward_conv(&self.conv1, x, train, true)?;
        match self.config.stem {
            Stem::ImageNet => ops::max_pool2d(&y, 3, 2, 1),
            Stem::Small | Stem::Strided => Ok(y),
        }
    }

    /// Applies stage `index` (0..4) to the previous stage's output (or the stem's for index 0).
    pub fn forward_stage(&self, index: usize, x: &Tensor, train: bool) -> Result<Tensor> {
        let blocks = self
            .stages
            .get(index)
            .ok_or_else(|| BackboneError::InvalidInput(format!("stage index {index} out of range 0..4")))?;
        let mut y = x.clone();
        for block in blocks {
            y = block.forward(&y, train)?;
        }
        Ok(y)
    }

    /// The four stage maps and the pooled feature of `x: [N, in_channels, H, W]`.
    pub fn forward_features(&self, x: &Tensor, train: bool) -> Result<ResNetFeatures> {
        let mut y = self.forward_stem(x, train)?;
        let mut maps = Vec::with_capacity(4);
        for i in 0..4 {
            y = self.forward_stage(i, &y, train)?;
            maps.push(y.clone());
        }
        let pooled = ops::global_avg_pool(&y)?;
        let [c1, c2, c3, c4]: [Tensor; 4] =
            maps.try_into().map_err(|_| BackboneError::InvalidConfig("a ResNet has exactly four stages".into()))?;
        Ok(ResNetFeatures { stages: [c1, c2, c3, c4], pooled })
    }

    /// Logits `[N, num_classes]`, or the pooled feature `[N, C_4]` when the model has no `fc`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let pooled = self.forward_features(x, train)?.pooled;
        match &self.fc {
            Some(fc) => fc.forward(&pooled),
            None => Ok(pooled),
        }
    }
}

impl candle_core::ModuleT for ResNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward(xs, train).map_err(|e| match e {
            BackboneError::Tensor(inner) => inner,
            other => candle_core::Error::Msg(other.to_string()),
        })
    }
}

impl Parameters for ResNet {
    /// Every parameter and buffer under its torchvision name after `prefix`, in `state_dict` order.
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        self.store.named_vars(prefix)
    }
}
