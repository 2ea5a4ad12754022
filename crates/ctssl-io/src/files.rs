//! Listing the files under folders, in a deterministic order.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::{IoError, Result};

/// Every regular file under the given paths (files are taken as they are, folders recursively),
/// sorted by path so that every run sees the same order. Hidden files and folders are skipped.
pub fn list_files<P: AsRef<Path>>(roots: &[P]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for root in roots {
        let root = root.as_ref();
        let meta = std::fs::metadata(root).map_err(|source| IoError::Read { path: root.to_path_buf(), source })?;
        if meta.is_file() {
            out.push(root.to_path_buf());
            continue;
        }
        let walker = WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_str().is_some_and(|n| n.starts_with('.')));
        for entry in walker {
            let entry = entry.map_err(|e| IoError::Read {
                path: e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf()),
                source: e.into_io_error().unwrap_or_else(|| std::io::Error::other("file system loop")),
            })?;
            if entry.file_type().is_file() {
                out.push(entry.into_path());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
