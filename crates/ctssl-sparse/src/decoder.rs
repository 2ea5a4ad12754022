//! SparK's light UNet-like decoder, with a configurable output channel count (1 for CT by default).

use candle_core::Tensor;

use crate::error::{Result, SparseError};
use crate::layers::{Conv2dBias, ConvInit, DenseBatchNorm, UpConv};
use crate::params::ParamBuilder;

/// One upsampling block: 4×4 stride-2 transposed conv, then 3×3 conv – BN – ReLU6 – 3×3 conv – BN.
#[derive(Debug, Clone)]
struct UpBlock {
    up: UpConv,
    conv1: Conv2dBias,
    bn1: DenseBatchNorm,
    conv2: Conv2dBias,
    bn2: DenseBatchNorm,
}

impl UpBlock {
    fn new(b: &mut ParamBuilder, prefix: &str, c_in: usize, c_out: usize) -> Result<Self> {
        Ok(UpBlock {
            up: UpConv::new(b, &format!("{prefix}.up_sample"), c_in)?,
            conv1: Conv2dBias::new(b, &format!("{prefix}.conv.0"), (c_in, c_in, 3), false, ConvInit::TruncNormal)?,
            bn1: DenseBatchNorm::new(b, &format!("{prefix}.conv.1"), c_in)?,
            conv2: Conv2dBias::new(b, &format!("{prefix}.conv.3"), (c_in, c_out, 3), false, ConvInit::TruncNormal)?,
            bn2: DenseBatchNorm::new(b, &format!("{prefix}.conv.4"), c_out)?,
        })
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self.up.forward(x)?;
        let y = self.bn1.forward(&self.conv1.forward(&y)?, train)?;
        let y = y.relu()?.minimum(6.0)?;
        self.bn2.forward(&self.conv2.forward(&y)?, train)
    }
}

/// The decoder: `log2(total_stride)` upsampling blocks whose widths halve from `width`, the densified
/// feature of each scale added (not concatenated) where the resolutions meet, and a final 1×1 convolution
/// with bias to `out_channels`. Names follow SparK: `dense_decoder.dec.{i}.*`, `dense_decoder.proj.*`.
#[derive(Debug, Clone)]
pub struct LightDecoder {
    blocks: Vec<UpBlock>,
    proj: Conv2dBias,
    total_stride: usize,
    width: usize,
}

impl LightDecoder {
    /// A decoder from stride `total_stride` (a power of two) to full resolution.
    pub fn new(b: &mut ParamBuilder, total_stride: usize, width: usize, out_channels: usize) -> Result<Self> {
        let n = Self::block_count(total_stride)?;
        if out_channels == 0 || width >> n == 0 || !width.is_multiple_of(1 << n) {
            return Err(SparseError::InvalidConfig(format!(
                "decoder width {width} must be a positive multiple of 2^{n}, and out_channels ({out_channels}) at least 1"
            )));
        }
        let mut blocks = Vec::with_capacity(n);
        for i in 0..n {
            blocks.push(UpBlock::new(b, &format!("dense_decoder.dec.{i}"), width >> i, width >> (i + 1))?);
        }
        let proj =
            Conv2dBias::new(b, "dense_decoder.proj", (width >> n, out_channels, 1), true, ConvInit::TruncNormal)?;
        Ok(LightDecoder { blocks, proj, total_stride, width })
    }

    /// Number of upsampling blocks for a total stride (its base-2 logarithm).
    pub fn block_count(total_stride: usize) -> Result<usize> {
        if !total_stride.is_power_of_two() {
            return Err(SparseError::InvalidConfig(format!("total stride {total_stride} is not a power of two")));
        }
        Ok(total_stride.trailing_zeros() as usize)
    }

    /// The decoder width expected for a densified map at `stride`: `width · stride / total_stride`.
    pub fn width_at_stride(&self, stride: usize) -> usize {
        self.width * stride / self.total_stride
    }

    /// Decodes densified maps (deepest first; the first at `total_stride`) into `[N, out_channels, H, W]`.
    pub fn forward(&self, densified: &[Tensor], train: bool) -> Result<Tensor> {
        let first = densified.first().ok_or_else(|| SparseError::InvalidInput("decoder: no input maps".into()))?;
        let mut x = first.clone();
        let mut rest = densified[1..].iter().peekable();
        for block in &self.blocks {
            x = block.forward(&x, train)?;
            if let Some(f) = rest.peek() {
                if f.dims()[2..] == x.dims()[2..] {
                    x = (x + *f)?;
                    rest.next();
                }
            }
        }
        if rest.next().is_some() {
            return Err(SparseError::InvalidInput("decoder: a densified map matched no resolution".into()));
        }
        self.proj.forward(&x)
    }
}
