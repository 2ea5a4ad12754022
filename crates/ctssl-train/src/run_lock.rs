//! One run folder, one process: an exclusive advisory lock on `<folder>/.lock`.
//!
//! Two processes writing into one run folder would interleave checkpoints and result rows. The lock is
//! taken with the operating system's file lock (`flock` on Unix, `LockFileEx` on Windows), so it is
//! released when the holder exits, however it exits: a killed run never leaves a stale lock behind. The
//! file holds the holder's process id, for the message of the process that is refused.
//!
//! Holding the lock, a run also owns the folder's temporary files: an atomic write killed between
//! naming its finished temporary file and renaming it over the target leaves a hidden
//! `.<name>.<6 letters or digits>` sibling (older versions wrote `.<name>.tmp`). [`RunLock::acquire`]
//! removes those from the folder and its subfolders, except subfolders that are run folders of their own
//! (they hold a `.lock` and are cleaned when they are locked).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a run folder, held until it is dropped.
#[derive(Debug)]
pub struct RunLock {
    /// The open, locked lock file.
    _file: File,
    /// The run folder.
    dir: PathBuf,
}

impl RunLock {
    /// Locks the run folder `dir` (created if missing) for this process, or fails with
    /// [`TrainError::Busy`] when another process (or another lock in this process) holds it.
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| TrainError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(TrainError::Busy {
                    path: dir.to_path_buf(),
                    holder: if holder.is_empty() { "another process".into() } else { format!("process {holder}") },
                });
            }
            Err(TryLockError::Error(e)) => return Err(TrainError::io(&path, e)),
        }
        let write_pid = |f: &mut File| -> std::io::Result<()> {
            f.set_len(0)?;
            f.rewind()?;
            write!(f, "{}", std::process::id())?;
            f.flush()
        };
        write_pid(&mut file).map_err(|e| TrainError::io(&path, e))?;
        remove_stale_temporaries(dir, true)?;
        Ok(Self { _file: file, dir: dir.to_path_buf() })
    }

    /// The locked run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Whether `name` is the temporary file of an atomic write: `.<name>.<6 ASCII letters or digits>`, or an
/// older version's `.<name>.tmp`.
fn is_temporary(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else { return false };
    match rest.rsplit_once('.') {
        Some((base, suffix)) if !base.is_empty() => {
            suffix == "tmp" || (suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()))
        }
        _ => false,
    }
}

/// Removes the temporary files of interrupted atomic writes under `dir` (see the module's documentation);
/// `top`: `dir` is the locked folder itself (its own `.lock` does not make it another run's).
fn remove_stale_temporaries(dir: &Path, top: bool) -> Result<()> {
    if !top && dir.join(LOCK_FILE).exists() {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| TrainError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| TrainError::io(&path, e))?;
        if kind.is_dir() {
            remove_stale_temporaries(&path, false)?;
        } else if kind.is_file() && is_temporary(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(&path).map_err(|e| TrainError::io(&path, e))?;
            tracing::warn!("removed {}, the temporary file of an interrupted write", path.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run).unwrap();
        assert_eq!(first.dir(), run);
        let err = RunLock::acquire(&run).unwrap_err();
        assert!(matches!(err, TrainError::Busy { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("run") && message.contains(&std::process::id().to_string()), "{message}");
        drop(first);
        let again = RunLock::acquire(&run).unwrap();
        drop(again);
        // Another folder is independent.
        let _a = RunLock::acquire(&run).unwrap();
        let _b = RunLock::acquire(&dir.path().join("other")).unwrap();
    }

    #[test]
    fn locking_removes_the_temporary_files_of_interrupted_writes_but_not_other_runs() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let nested = run.join("pretrain").join("spark");
        std::fs::create_dir_all(run.join("train")).unwrap();
        std::fs::create_dir_all(&nested).unwrap();
        for f in [".ckpt-4.safetensors.zqJ6UK", "train/.results.csv.a1B2c3", "train/.ckpt-8.safetensors.tmp"] {
            std::fs::write(run.join(f), b"half").unwrap();
        }
        for f in ["results.csv", "train/ckpt-4.safetensors", ".notes", ".config.toml.backup1"] {
            std::fs::write(run.join(f), b"kept").unwrap();
        }
        // A run folder of its own inside: its temporaries are its own lock's business.
        std::fs::write(nested.join(LOCK_FILE), b"").unwrap();
        std::fs::write(nested.join(".encoder.safetensors.Xy12Zw"), b"half").unwrap();
        let _lock = RunLock::acquire(&run).unwrap();
        assert!(!run.join(".ckpt-4.safetensors.zqJ6UK").exists());
        assert!(!run.join("train/.results.csv.a1B2c3").exists());
        assert!(!run.join("train/.ckpt-8.safetensors.tmp").exists());
        for f in ["results.csv", "train/ckpt-4.safetensors", ".notes", ".config.toml.backup1", LOCK_FILE] {
            assert!(run.join(f).exists(), "{f} was removed");
        }
        assert!(nested.join(".encoder.safetensors.Xy12Zw").exists());
        let _nested = RunLock::acquire(&nested).unwrap();
        assert!(!nested.join(".encoder.safetensors.Xy12Zw").exists());
    }
}
