//! One run folder, one process: an exclusive advisory lock on `<folder>/.lock`.
//!
//! Two processes writing into one run folder would interleave checkpoints and result rows. The lock is
//! taken with the operating system's file lock (`flock` on Unix, `LockFileEx` on Windows), so it is
//! released when the holder exits, however it exits: a killed run never leaves a stale lock behind. The
//! file holds the holder's process id, for the message of the process that is refused.

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
        Ok(Self { _file: file, dir: dir.to_path_buf() })
    }

    /// The locked run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
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
}
