//! Export of the pre-trained encoder under the backbone's (torchvision's) parameter names.

use candle_core::Tensor;
use std::collections::HashMap;
use std::path::Path;

use crate::encoder::SparseEncoder;
use crate::error::Result;

/// The encoder's state dict: every backbone tensor (parameters and BN buffers) under its torchvision name,
/// `fc.*` excluded; the tensors are copies, so further training does not change them
/// ([`ctssl_backbones::ResNet::encoder_state_dict`]).
pub fn encoder_state_dict(encoder: &SparseEncoder) -> Result<HashMap<String, Tensor>> {
    Ok(encoder.backbone().encoder_state_dict()?)
}

/// Writes [`encoder_state_dict`] to a safetensors file (atomically, through `ctssl-backbones`).
pub fn save_encoder_safetensors(encoder: &SparseEncoder, path: impl AsRef<Path>) -> Result<()> {
    ctssl_backbones::save_safetensors(&encoder_state_dict(encoder)?, path)?;
    Ok(())
}
