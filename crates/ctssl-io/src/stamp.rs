//! File stamps: size and modification time, enough to tell whether a file changed since it was read.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};

/// Size and modification time of a file when it was scanned or cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (negative before it); `None` where the
    /// file system does not record one.
    pub modified_ns: Option<i64>,
}

impl FileStamp {
    /// Stamp of the file at `path` now.
    pub fn of(path: &Path) -> Result<FileStamp> {
        let meta = std::fs::metadata(path).map_err(|source| IoError::Read { path: path.to_path_buf(), source })?;
        let modified_ns = meta.modified().ok().map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_nanos()).map(|n| -n).unwrap_or(i64::MIN),
        });
        Ok(FileStamp { size: meta.len(), modified_ns })
    }
}
