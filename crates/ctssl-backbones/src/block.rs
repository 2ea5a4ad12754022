//! Residual blocks: torchvision's `BasicBlock` and `Bottleneck` (stride on the 3x3 convolution).

use candle_core::Tensor;

use crate::batch_norm::BatchNorm2d;
use crate::config::BlockKind;
use crate::conv::Conv2d;
use crate::error::Result;
use crate::ops;
use crate::params::Builder;

/// The projection shortcut `downsample.0` (1x1 conv with the block's stride) and `downsample.1` (BN).
#[derive(Debug, Clone)]
pub struct Downsample {
    /// 1x1 convolution.
    pub conv: Conv2d,
    /// Batch norm after it.
    pub bn: BatchNorm2d,
}

impl Downsample {
    /// Applies the shortcut projection.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.bn.forward_conv(&self.conv, x, train, false)
    }
}

/// Shape and BN settings of one block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BlockSpec {
    pub in_channels: usize,
    pub width: usize,
    pub stride: usize,
    pub zero_init_residual: bool,
    pub momentum: f64,
    pub eps: f64,
}

/// One residual block; names below `layer{s}.{i}` as torchvision.
#[derive(Debug, Clone)]
pub enum Block {
    /// conv1 (3x3, stride) → bn1 → relu → conv2 (3x3) → bn2, + shortcut, relu.
    Basic {
        /// First 3x3 convolution (carries the stride).
        conv1: Conv2d,
        /// BN after conv1.
        bn1: BatchNorm2d,
        /// Second 3x3 convolution.
        conv2: Conv2d,
        /// BN after conv2 (zero-initialised with `zero_init_residual`).
        bn2: BatchNorm2d,
        /// Projection shortcut when the shape changes.
        downsample: Option<Downsample>,
    },
    /// conv1 (1x1) → bn1 → relu → conv2 (3x3, stride) → bn2 → relu → conv3 (1x1, 4× width) → bn3, + shortcut, relu.
    Bottleneck {
        /// 1x1 reduction.
        conv1: Conv2d,
        /// BN after conv1.
        bn1: BatchNorm2d,
        /// 3x3 convolution (carries the stride).
        conv2: Conv2d,
        /// BN after conv2.
        bn2: BatchNorm2d,
        /// 1x1 expansion.
        conv3: Conv2d,
        /// BN after conv3 (zero-initialised with `zero_init_residual`).
        bn3: BatchNorm2d,
        /// Projection shortcut when the shape changes.
        downsample: Option<Downsample>,
    },
}

impl Block {
    pub(crate) fn new(b: &mut Builder<'_>, prefix: &str, kind: BlockKind, s: BlockSpec) -> Result<Self> {
        let out = s.width * kind.expansion();
        let bn = |b: &mut Builder<'_>, name: &str, c: usize, zero: bool| {
            BatchNorm2d::new(b, &format!("{prefix}.{name}"), c, zero, s.momentum, s.eps)
        };
        let conv = |b: &mut Builder<'_>, name: &str, i: usize, o: usize, k: usize, stride: usize| {
            Conv2d::new(b, &format!("{prefix}.{name}"), i, o, k, stride, k / 2)
        };
        let block = match kind {
            BlockKind::Basic => {
                let conv1 = conv(b, "conv1", s.in_channels, s.width, 3, s.stride)?;
                let bn1 = bn(b, "bn1", s.width, false)?;
                let conv2 = conv(b, "conv2", s.width, s.width, 3, 1)?;
                let bn2 = bn(b, "bn2", s.width, s.zero_init_residual)?;
                let downsample = Self::downsample(b, prefix, s, out)?;
                Block::Basic { conv1, bn1, conv2, bn2, downsample }
            }
            BlockKind::Bottleneck => {
                let conv1 = conv(b, "conv1", s.in_channels, s.width, 1, 1)?;
                let bn1 = bn(b, "bn1", s.width, false)?;
                let conv2 = conv(b, "conv2", s.width, s.width, 3, s.stride)?;
                let bn2 = bn(b, "bn2", s.width, false)?;
                let conv3 = conv(b, "conv3", s.width, out, 1, 1)?;
                let bn3 = bn(b, "bn3", out, s.zero_init_residual)?;
                let downsample = Self::downsample(b, prefix, s, out)?;
                Block::Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, downsample }
            }
        };
        Ok(block)
    }

    fn downsample(b: &mut Builder<'_>, prefix: &str, s: BlockSpec, out: usize) -> Result<Option<Downsample>> {
        if s.stride == 1 && s.in_channels == out {
            return Ok(None);
        }
        let conv = Conv2d::new(b, &format!("{prefix}.downsample.0"), s.in_channels, out, 1, s.stride, 0)?;
        let bn = BatchNorm2d::new(b, &format!("{prefix}.downsample.1"), out, false, s.momentum, s.eps)?;
        Ok(Some(Downsample { conv, bn }))
    }

    /// The projection shortcut, if the block has one.
    pub fn downsample_layer(&self) -> Option<&Downsample> {
        match self {
            Block::Basic { downsample, .. } | Block::Bottleneck { downsample, .. } => downsample.as_ref(),
        }
    }

    /// The block's last BN (the one `zero_init_residual` zeroes).
    pub fn last_bn(&self) -> &BatchNorm2d {
        match self {
            Block::Basic { bn2, .. } => bn2,
            Block::Bottleneck { bn3, .. } => bn3,
        }
    }

    /// Applies the block to `x`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let residual = match self {
            Block::Basic { conv1, bn1, conv2, bn2, .. } => {
                let y = bn1.forward_conv(conv1, x, train, true)?;
                bn2.forward_conv(conv2, &y, train, false)?
            }
            Block::Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, .. } => {
                let y = bn1.forward_conv(conv1, x, train, true)?;
                let y = bn2.forward_conv(conv2, &y, train, true)?;
                bn3.forward_conv(conv3, &y, train, false)?
            }
        };
        let shortcut = match self.downsample_layer() {
            Some(d) => d.forward(x, train)?,
            None => x.clone(),
        };
        ops::add_relu(&residual, &shortcut)
    }
}
