//! Densify: turn the sparse encoder's four maps into dense decoder inputs.
//!
//! Per scale: a batch norm over the visible positions (SparK's choice for CNN encoders — the statistics
//! of the encoder's features are those of visible positions, and it matches the encoder's own sparse BN),
//! then every masked position takes that scale's learnable mask token, then a projection to the decoder's
//! width at that scale (1×1 at the deepest scale, 3×3 elsewhere).

use candle_core::Tensor;

use crate::batch_norm::MaskedBatchNorm;
use crate::error::{Result, SparseError};
use crate::layers::{Conv2dBias, ConvInit, DenseBatchNorm};
use crate::mask::MaskPyramid;
use crate::params::ParamBuilder;
use crate::sparse_bn::SparseBatchNorm;
use crate::sparse_encoder::SparseMap;
use crate::sparse_scatter::scatter_visible_fill;

/// One scale of densify: norm, mask token, projection.
#[derive(Debug, Clone)]
struct Scale {
    norm: DenseBatchNorm,
    token: candle_core::Var,
    proj: Conv2dBias,
}

/// The four densify scales, index 0 = the deepest (as SparK orders them).
#[derive(Debug, Clone)]
pub struct Densify {
    scales: Vec<Scale>,
}

impl Densify {
    /// `encoder_channels[i]` and `decoder_widths[i]` are listed deepest first; names follow SparK:
    /// `densify_norms.{i}.*`, `mask_tokens.{i}` (`[1, C, 1, 1]`, truncated normal std 0.02),
    /// `densify_projs.{i}.{weight,bias}`.
    pub fn new(b: &mut ParamBuilder, encoder_channels: &[usize], decoder_widths: &[usize]) -> Result<Self> {
        if encoder_channels.len() != decoder_widths.len() || encoder_channels.is_empty() {
            return Err(SparseError::InvalidConfig("densify needs one decoder width per encoder scale".into()));
        }
        let mut scales = Vec::with_capacity(encoder_channels.len());
        for (i, (&c, &d)) in encoder_channels.iter().zip(decoder_widths).enumerate() {
            let norm = DenseBatchNorm::new(b, &format!("densify_norms.{i}"), c)?;
            let token = b.trunc_normal(&format!("mask_tokens.{i}"), &[1, c, 1, 1], 0.02)?;
            let kernel = if i == 0 { 1 } else { 3 };
            let proj =
                Conv2dBias::new(b, &format!("densify_projs.{i}"), (c, d, kernel), true, ConvInit::PyTorchDefault)?;
            scales.push(Scale { norm, token, proj });
        }
        Ok(Densify { scales })
    }

    /// Densifies `features` (deepest first, masked positions zero) with the masks of `masks`.
    pub fn forward(&self, features: &[Tensor], masks: &MaskPyramid, train: bool) -> Result<Vec<Tensor>> {
        if features.len() != self.scales.len() {
            return Err(SparseError::InvalidInput(format!(
                "densify: {} feature maps for {} scales",
                features.len(),
                self.scales.len()
            )));
        }
        let mut out = Vec::with_capacity(features.len());
        for (f, s) in features.iter().zip(&self.scales) {
            let mask = masks.for_size(f.dims()[2], f.dims()[3])?;
            let bn = MaskedBatchNorm {
                weight: s.norm.weight.as_tensor(),
                bias: s.norm.bias.as_tensor(),
                running_mean: &s.norm.running_mean,
                running_var: &s.norm.running_var,
                momentum: s.norm.momentum,
                eps: s.norm.eps,
            };
            let normed = bn.forward(f, mask, train)?;
            let inverse = (1.0 - mask)?;
            let filled = (normed + inverse.broadcast_mul(s.token.as_tensor())?)?;
            out.push(s.proj.forward(&filled)?);
        }
        Ok(out)
    }

    /// Densifies the sparse path's maps (deepest first): batch norm over the rows, then one scatter that
    /// writes the normalised rows and the mask token everywhere else, then the projection. The same
    /// function as [`forward`](Self::forward) on the dense maps.
    pub fn forward_sparse(&self, features: &[SparseMap], train: bool) -> Result<Vec<Tensor>> {
        if features.len() != self.scales.len() {
            return Err(SparseError::InvalidInput(format!(
                "densify: {} feature maps for {} scales",
                features.len(),
                self.scales.len()
            )));
        }
        let mut out = Vec::with_capacity(features.len());
        for (f, s) in features.iter().zip(&self.scales) {
            let bn = SparseBatchNorm {
                weight: s.norm.weight.as_tensor(),
                bias: s.norm.bias.as_tensor(),
                running_mean: &s.norm.running_mean,
                running_var: &s.norm.running_var,
                momentum: s.norm.momentum,
                eps: s.norm.eps,
            };
            let normed = bn.forward(&f.rows, false, train)?;
            let filled = scatter_visible_fill(&normed, s.token.as_tensor(), &f.level)?;
            out.push(s.proj.forward(&filled)?);
        }
        Ok(out)
    }
}
