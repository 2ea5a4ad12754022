//! Checkpoints: model tensors, optimizer state, step, epoch, RNG state and configuration in ONE
//! safetensors file, written atomically; pruning to the last N; finding the latest for resume;
//! a guard against non-finite losses.
//!
//! File layout: tensors `model/<name>` and `optim/<name>`; the safetensors metadata (a string → string
//! map) holds `format`, `step`, `epoch`, `rng_seed` (64 hex digits), `rng_stream`, `rng_word_pos` and
//! `config` (a JSON document). Files are named `ckpt-<step>.safetensors`.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use atomic_write_file::AtomicWriteFile;
use candle_core::{Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;
use safetensors::SafeTensors;

use crate::error::{Result, TrainError};

/// Value of the `format` metadata entry.
pub const FORMAT: &str = "ctssl-train-checkpoint/1";
const MODEL: &str = "model/";
const OPTIM: &str = "optim/";

/// The exact position of a [`ChaCha8Rng`]: seed, stream and word position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RngState {
    /// The 32-byte seed.
    pub seed: [u8; 32],
    /// The stream number.
    pub stream: u64,
    /// The position in the key stream, in 32-bit words.
    pub word_pos: u128,
}

impl RngState {
    /// Captures the state of `rng`.
    pub fn from_rng(rng: &ChaCha8Rng) -> Self {
        Self { seed: rng.get_seed(), stream: rng.get_stream(), word_pos: rng.get_word_pos() }
    }

    /// A generator that continues exactly where the captured one was.
    pub fn to_rng(&self) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }
}

/// Everything needed to resume a run.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Model tensors (parameters, batch-norm buffers, EMA targets ...) by name.
    pub model: HashMap<String, Tensor>,
    /// Optimizer state by name (see [`crate::optim::Optimizer::state_tensors`]).
    pub optimizer: HashMap<String, Tensor>,
    /// Number of optimizer steps done.
    pub step: u64,
    /// Number of epochs done.
    pub epoch: u64,
    /// State of the run's random generator.
    pub rng: RngState,
    /// The run configuration, a JSON document.
    pub config: String,
}

/// Path of the checkpoint of `step` in `dir`.
pub fn checkpoint_path(dir: &Path, step: u64) -> PathBuf {
    dir.join(format!("ckpt-{step}.safetensors"))
}

fn parse_step(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_prefix("ckpt-")?.strip_suffix(".safetensors")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn meta<'a>(m: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    m.get(key).map(String::as_str).ok_or_else(|| TrainError::BadMetadata { key: key.into(), reason: "missing".into() })
}

fn meta_num<T: std::str::FromStr>(m: &HashMap<String, String>, key: &str) -> Result<T> {
    meta(m, key)?.parse().map_err(|_| TrainError::BadMetadata { key: key.into(), reason: "not a number".into() })
}

impl Checkpoint {
    /// Encodes the checkpoint as safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::from_str::<serde_json::Value>(&self.config)
            .map_err(|source| TrainError::Json { what: "the checkpoint's config", source })?;
        let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(self.model.len() + self.optimizer.len());
        for (prefix, map) in [(MODEL, &self.model), (OPTIM, &self.optimizer)] {
            for (name, t) in map {
                tensors.push((format!("{prefix}{name}"), t.to_device(&Device::Cpu)?.contiguous()?));
            }
        }
        let seed: String = self.rng.seed.iter().map(|b| format!("{b:02x}")).collect();
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("step".to_string(), self.step.to_string()),
            ("epoch".to_string(), self.epoch.to_string()),
            ("rng_seed".to_string(), seed),
            ("rng_stream".to_string(), self.rng.stream.to_string()),
            ("rng_word_pos".to_string(), self.rng.word_pos.to_string()),
            ("config".to_string(), self.config.clone()),
        ]);
        Ok(safetensors::serialize(tensors, Some(metadata))?)
    }

    /// Decodes a checkpoint from safetensors bytes, placing tensors on `device`.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        let (_, header) = SafeTensors::read_metadata(bytes)?;
        let m = header
            .metadata()
            .as_ref()
            .ok_or_else(|| TrainError::BadMetadata { key: "format".into(), reason: "no metadata".into() })?;
        let format = meta(m, "format")?;
        if format != FORMAT {
            return Err(TrainError::BadMetadata { key: "format".into(), reason: format!("unknown format {format:?}") });
        }
        let seed_hex = meta(m, "rng_seed")?;
        let bad_seed = || TrainError::BadMetadata { key: "rng_seed".into(), reason: "not 64 hex digits".into() };
        if seed_hex.len() != 64 || !seed_hex.is_ascii() {
            return Err(bad_seed());
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).map_err(|_| bad_seed())?;
        }
        let rng = RngState { seed, stream: meta_num(m, "rng_stream")?, word_pos: meta_num(m, "rng_word_pos")? };
        let mut model = HashMap::new();
        let mut optimizer = HashMap::new();
        for (name, t) in candle_core::safetensors::load_buffer(bytes, device)? {
            if let Some(n) = name.strip_prefix(MODEL) {
                model.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix(OPTIM) {
                optimizer.insert(n.to_string(), t);
            } else {
                return Err(TrainError::UnexpectedTensor(name));
            }
        }
        Ok(Self {
            model,
            optimizer,
            step: meta_num(m, "step")?,
            epoch: meta_num(m, "epoch")?,
            rng,
            config: meta(m, "config")?.to_string(),
        })
    }

    /// Writes the checkpoint to `path` atomically (see [`write_bytes_atomic`]).
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        write_bytes_atomic(path, &self.to_bytes()?)
    }

    /// Saves to `dir/ckpt-<step>.safetensors` (creating `dir`) and returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = checkpoint_path(dir, self.step);
        self.write_atomic(&path)?;
        Ok(path)
    }

    /// Reads a checkpoint file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = fs::read(path).map_err(|e| TrainError::io(path, e))?;
        Self::from_bytes(&bytes, device)
    }

    /// Sets `vars` from the model tensors; the names must be exactly those of the checkpoint and every
    /// shape must match. Nothing is set unless everything matches.
    pub fn restore_vars(&self, vars: &[(String, Var)]) -> Result<()> {
        validate_names_shapes(&self.model, vars)?;
        for (name, var) in vars {
            let t = &self.model[name];
            let want = var.as_tensor();
            var.set(&t.to_device(want.device())?.to_dtype(want.dtype())?)?;
        }
        Ok(())
    }
}

/// Checks that `tensors` holds exactly the names of `vars`, with the same shapes.
pub fn validate_names_shapes(tensors: &HashMap<String, Tensor>, vars: &[(String, Var)]) -> Result<()> {
    for (name, var) in vars {
        let t = tensors.get(name).ok_or_else(|| TrainError::MissingTensor(name.clone()))?;
        if t.dims() != var.as_tensor().dims() {
            return Err(TrainError::ShapeMismatch {
                name: name.clone(),
                expected: var.as_tensor().dims().to_vec(),
                found: t.dims().to_vec(),
            });
        }
    }
    if vars.len() != tensors.len() {
        if let Some(extra) = tensors.keys().find(|k| !vars.iter().any(|(n, _)| n == *k)) {
            return Err(TrainError::UnexpectedTensor(extra.clone()));
        }
    }
    Ok(())
}

/// The checkpoints in `dir` as `(step, path)`, sorted by step; temporary files and other names are ignored.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(TrainError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(dir, e))?;
        if let Some(step) = entry.file_name().to_str().and_then(parse_step) {
            out.push((step, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The checkpoint with the highest step in `dir`, if any (for resuming).
pub fn latest(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list_checkpoints(dir)?.pop().map(|(_, p)| p))
}

/// Deletes all but the `n` most recent checkpoints in `dir`; returns the deleted paths.
pub fn keep_last(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let all = list_checkpoints(dir)?;
    let remove = all.len().saturating_sub(n);
    let mut removed = Vec::with_capacity(remove);
    for (_, path) in all.into_iter().take(remove) {
        fs::remove_file(&path).map_err(|e| TrainError::io(&path, e))?;
        removed.push(path);
    }
    Ok(removed)
}

/// Fails with [`TrainError::NonFinite`] (whose message names the step) if `value` is NaN or infinite.
pub fn check_finite(value: f64, step: u64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(TrainError::NonFinite { step, value })
    }
}

/// Writes `bytes` to `path` atomically (`atomic-write-file`): an unnamed temporary file in the same
/// folder is written, flushed to disk and renamed over `path`, and the folder is synced. A reader sees
/// the old file or the new one, never a part; a process killed while writing, or a write that fails (a
/// full disk), leaves no temporary file behind. The error names `path` and keeps the `io::Error`.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = AtomicWriteFile::open(path)?;
        f.write_all(bytes)?;
        // A kill test can stop the process here: the bytes are written, the old file not yet replaced.
        crate::hold::hold_point(&format!("write:{}", path.file_name().unwrap_or_default().to_string_lossy()));
        f.commit()
    };
    write().map_err(|e| TrainError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use rand::{RngCore, SeedableRng};

    fn sample(step: u64) -> Checkpoint {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        rng.set_stream(3);
        for _ in 0..13 {
            rng.next_u32();
        }
        let w = Tensor::from_slice(&[0.1f32, -2.5e-8, f32::MIN_POSITIVE, 3.0e38], (2, 2), &dev).unwrap();
        let b = Tensor::from_slice(&[1.0f64 / 3.0, -0.0], 2, &dev).unwrap();
        Checkpoint {
            model: HashMap::from([("conv.weight".into(), w.t().unwrap()), ("bn.bias".into(), b)]),
            optimizer: HashMap::from([("conv.weight/step".into(), Tensor::new(5i64, &dev).unwrap())]),
            step,
            epoch: 2,
            rng: RngState::from_rng(&rng),
            config: r#"{"method":"byol","lr":0.2}"#.into(),
        }
    }

    fn bits(t: &Tensor) -> Vec<u8> {
        let t = t.flatten_all().unwrap();
        match t.dtype() {
            DType::F32 => t.to_vec1::<f32>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect(),
            DType::F64 => t.to_vec1::<f64>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect(),
            DType::I64 => t.to_vec1::<i64>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect(),
            d => panic!("{d:?}"),
        }
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let c = sample(40);
        let path = c.save(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("ckpt-40.safetensors"));
        let r = Checkpoint::load(&path, &Device::Cpu).unwrap();
        assert_eq!((r.step, r.epoch, r.rng, r.config.as_str()), (40, 2, c.rng, c.config.as_str()));
        for (a, b) in [(&c.model, &r.model), (&c.optimizer, &r.optimizer)] {
            assert_eq!(a.len(), b.len());
            for (k, t) in a {
                assert_eq!(t.dims(), b[k].dims());
                assert_eq!(t.dtype(), b[k].dtype());
                assert_eq!(bits(t), bits(&b[k]), "{k}");
            }
        }
        // The generator continues with the same numbers.
        let mut orig = c.rng.to_rng();
        let mut back = r.rng.to_rng();
        assert!((0..100).all(|_| orig.next_u64() == back.next_u64()));
    }

    #[test]
    fn atomic_write_and_interrupted_write() {
        let dir = tempfile::tempdir().unwrap();
        sample(10).save(dir.path()).unwrap();
        let names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(names, vec!["ckpt-10.safetensors".to_string()]);
        // An interrupted save of step 20 leaves a truncated temporary file behind.
        fs::write(dir.path().join(".ckpt-20.safetensors.tmp"), b"\x10\x00garbage").unwrap();
        let l = latest(dir.path()).unwrap().unwrap();
        assert_eq!(l, dir.path().join("ckpt-10.safetensors"));
        assert_eq!(Checkpoint::load(&l, &Device::Cpu).unwrap().step, 10);
        // The next save of step 20 is whole and leaves no temporary file of its own.
        sample(20).save(dir.path()).unwrap();
        assert_eq!(latest(dir.path()).unwrap().unwrap(), dir.path().join("ckpt-20.safetensors"));
        let mut names: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, vec![".ckpt-20.safetensors.tmp", "ckpt-10.safetensors", "ckpt-20.safetensors"]);
    }

    #[test]
    fn keep_last_prunes_oldest_and_latest_uses_numeric_order() {
        let dir = tempfile::tempdir().unwrap();
        for s in [5, 100, 20, 9] {
            sample(s).save(dir.path()).unwrap();
        }
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        fs::write(dir.path().join("ckpt-abc.safetensors"), b"x").unwrap();
        assert_eq!(latest(dir.path()).unwrap().unwrap(), checkpoint_path(dir.path(), 100));
        let removed = keep_last(dir.path(), 2).unwrap();
        assert_eq!(removed, vec![checkpoint_path(dir.path(), 5), checkpoint_path(dir.path(), 9)]);
        let steps: Vec<u64> = list_checkpoints(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(steps, vec![20, 100]);
        assert!(dir.path().join("notes.txt").exists());
        assert_eq!(latest(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn restore_validates_names_and_shapes() {
        let c = sample(1);
        let dev = Device::Cpu;
        let w = Var::zeros((2, 2), DType::F32, &dev).unwrap();
        let b = Var::zeros(2, DType::F64, &dev).unwrap();
        let ok = [("conv.weight".to_string(), w.clone()), ("bn.bias".to_string(), b.clone())];
        c.restore_vars(&ok).unwrap();
        assert_eq!(bits(w.as_tensor()), bits(&c.model["conv.weight"]));
        let wrong_shape = [("conv.weight".to_string(), Var::zeros(4, DType::F32, &dev).unwrap()), ok[1].clone()];
        assert!(matches!(c.restore_vars(&wrong_shape), Err(TrainError::ShapeMismatch { .. })));
        let missing = [ok[0].clone(), ("bn.weight".to_string(), b.clone())];
        assert!(matches!(c.restore_vars(&missing), Err(TrainError::MissingTensor(_))));
        assert!(matches!(c.restore_vars(&ok[..1]), Err(TrainError::UnexpectedTensor(_))));
    }

    #[test]
    fn corrupt_files_give_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ckpt-1.safetensors");
        fs::write(&p, b"not a safetensors file").unwrap();
        assert!(matches!(Checkpoint::load(&p, &Device::Cpu), Err(TrainError::Safetensors(_))));
        let mut c = sample(1);
        c.config = "not json".into();
        assert!(c.save(dir.path()).is_err());
        // A safetensors file without our metadata.
        let plain = safetensors::serialize([("model/x", Tensor::new(1f32, &Device::Cpu).unwrap())], None).unwrap();
        assert!(matches!(Checkpoint::from_bytes(&plain, &Device::Cpu), Err(TrainError::BadMetadata { .. })));
        assert!(matches!(Checkpoint::load(&dir.path().join("none"), &Device::Cpu), Err(TrainError::Io { .. })));
    }

    #[test]
    fn nan_guard_names_the_step() {
        assert!(check_finite(0.5, 3).is_ok());
        let e = check_finite(f64::NAN, 1234).unwrap_err();
        assert!(matches!(e, TrainError::NonFinite { step: 1234, .. }));
        assert!(e.to_string().contains("step 1234"), "{e}");
        assert!(check_finite(f64::INFINITY, 1).is_err());
        assert!(check_finite(f64::NEG_INFINITY, 1).is_err());
    }
}
