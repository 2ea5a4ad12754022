//! safetensors files: atomic save, load, and the dtypes torchvision writes (F32 weights, I64 counters).

use atomic_write_file::AtomicWriteFile;
use candle_core::{Device, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use crate::error::{BackboneError, Result};

/// Writes `tensors` to `path` as safetensors, atomically (`atomic-write-file`: a temporary file in the
/// same folder, synced, then renamed; nothing is left behind if the write fails or the process dies).
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
        .map_err(|e| BackboneError::Safetensors { path: path.to_path_buf(), source: Box::new(e) })?;
    let write = || -> std::io::Result<()> {
        let mut file = AtomicWriteFile::open(path)?;
        file.write_all(&bytes)?;
        file.commit()
    };
    write().map_err(io_err)?;
    Ok(())
}

/// Reads every tensor of a safetensors file onto `device`, with the dtypes stored in the file.
pub fn load_safetensors(path: impl AsRef<Path>, device: &Device) -> Result<HashMap<String, Tensor>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| BackboneError::Io { path: path.to_path_buf(), source })?;
    load_safetensors_bytes(&bytes, device)
        .map_err(|e| BackboneError::Safetensors { path: path.to_path_buf(), source: Box::new(e) })
}

/// Parses safetensors bytes (already in memory) onto `device`.
pub fn load_safetensors_bytes(bytes: &[u8], device: &Device) -> candle_core::Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load_buffer(bytes, device)
}
