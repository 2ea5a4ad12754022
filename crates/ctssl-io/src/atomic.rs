//! Atomic file writes through `atomic-write-file`: the contents go to an unnamed temporary file in the
//! target's folder (a named hidden one where the file system has no `O_TMPFILE`), which is flushed to
//! disk and renamed over the target, and the folder is synced.
//!
//! A reader sees the old file or the new one, never half of one; a process killed while writing leaves
//! no temporary file behind, and a failed write (a full disk, say) removes its temporary file and keeps
//! the `io::Error`, with its kind, as the error's source.

use std::io::Write;
use std::path::Path;

use atomic_write_file::AtomicWriteFile;

use crate::error::{IoError, Result};

/// Write a file atomically with `fill`, which writes the contents into the given writer; creates the
/// folder.
pub(crate) fn write_atomic_with(path: &Path, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let write_error = |source: std::io::Error| IoError::Write { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| IoError::Write { path: parent.to_path_buf(), source })?;
    }
    let mut file = AtomicWriteFile::open(path).map_err(write_error)?;
    let mut out = std::io::BufWriter::new(&mut file);
    fill(&mut out).map_err(write_error)?;
    out.flush().map_err(write_error)?;
    drop(out);
    // Dropping `file` without committing discards the temporary file.
    file.commit().map_err(write_error)
}

/// Write `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_files_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("index.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let failed = write_atomic_with(&path, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("the disk filled up"))
        });
        assert!(matches!(failed, Err(IoError::Write { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"second", "a failed write keeps the old file");
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("index.json")], "no temporary file is left");
    }

    #[test]
    fn a_file_in_the_way_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"x").unwrap();
        let err = write_atomic(&blocker.join("out.json"), b"x").unwrap_err();
        assert!(err.to_string().contains("blocker"), "{err}");
        let source = std::error::Error::source(&err).expect("the io::Error is the source");
        assert!(source.downcast_ref::<std::io::Error>().is_some());
    }
}
