//! safetensors files: atomic save, load, and the dtypes torchvision writes (F32 weights, I64 counters).

use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::error::{BackboneError, Result};

/// Writes `tensors` to `path` as safetensors, atomically (a temp file in the same folder, then a rename).
///
/// The header carries `{"format": "pt"}`, the metadata `safetensors.torch.save_file` writes, so the file
/// loads in PyTorch with `safetensors.torch.load_file` and then `model.load_state_dict`.
pub fn save_safetensors(tensors: &HashMap<String, Tensor>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let io_err = |source| BackboneError::Io { path: path.to_path_buf(), source };
    let sorted: BTreeMap<&str, Tensor> = tensors
        .iter()
        .map(|(k, t)| Ok((k.as_str(), t.contiguous()?.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    let bytes = safetensors::tensor::serialize(sorted.iter().map(|(k, t)| (*k, t)), metadata)
        .map_err(|e| BackboneError::Safetensors { path: path.to_path_buf(), message: e.to_string() })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".ctssl-save-").suffix(".tmp").tempfile_in(dir).map_err(io_err)?;
    tmp.write_all(&bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(path).map_err(|e| io_err(e.error))?;
    Ok(())
}

/// Reads every tensor of a safetensors file onto `device`, with the dtypes stored in the file.
pub fn load_safetensors(path: impl AsRef<Path>, device: &Device) -> Result<HashMap<String, Tensor>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| BackboneError::Io { path: path.to_path_buf(), source })?;
    load_safetensors_bytes(&bytes, device)
        .map_err(|e| BackboneError::Safetensors { path: path.to_path_buf(), message: e.to_string() })
}

/// Parses safetensors bytes (already in memory) onto `device`.
pub fn load_safetensors_bytes(bytes: &[u8], device: &Device) -> candle_core::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, device)
}
