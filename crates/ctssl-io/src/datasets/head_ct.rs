//! The public head-CT haemorrhage layout (200 PNG slices, one labels CSV): `labels.csv` with header
//! `id, hemorrhage` (note the space) and images `000.png` … below the folder, ids in the CSV without
//! zero padding. There are no patient identifiers and no official split: each image is its own
//! "patient", and the pipeline splits the images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::labels_csv::{load_rows, parse_rows};
use super::{DatasetError, LabeledDataset};
use crate::image_file::{sniff_file, FileKind};

/// Class names: 0 = no haemorrhage, 1 = haemorrhage.
pub const CLASSES: [&str; 2] = ["no haemorrhage", "haemorrhage"];

/// Reads the head-CT layout below `root`.
pub fn load_head_ct(root: impl AsRef<Path>) -> Result<LabeledDataset, DatasetError> {
    let root = root.as_ref();
    let files = crate::files::list_files(&[root]).map_err(|e| DatasetError::Layout {
        path: root.to_path_buf(),
        reason: format!("cannot list the folder: {e}"),
    })?;
    let csvs: Vec<&PathBuf> =
        files.iter().filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))).collect();
    let csv = match csvs.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(DatasetError::Layout {
                path: root.to_path_buf(),
                reason: "no labels CSV below it (the head-CT layout has labels.csv with `id, hemorrhage`)".into(),
            })
        }
        many => match many.iter().find(|p| p.file_name().is_some_and(|n| n == "labels.csv")) {
            Some(p) => (*p).clone(),
            None => {
                return Err(DatasetError::Layout {
                    path: root.to_path_buf(),
                    reason: format!("{} CSV files below it and none is labels.csv", many.len()),
                })
            }
        },
    };
    // Images by their number: `000.png` → 0.
    let mut by_id: BTreeMap<u64, PathBuf> = BTreeMap::new();
    for f in &files {
        let Some(id) = f.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u64>().ok()) else { continue };
        if !matches!(sniff_file(f)?, FileKind::Image(_) | FileKind::Dicom) {
            continue;
        }
        if let Some(old) = by_id.insert(id, f.clone()) {
            return Err(DatasetError::Layout {
                path: root.to_path_buf(),
                reason: format!("two images with id {id}: {} and {}", old.display(), f.display()),
            });
        }
    }
    let bytes = std::fs::read(&csv).map_err(|source| DatasetError::Io { path: csv.clone(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut rows = parse_rows(&text, &csv, "id", "hemorrhage", "head-ct")?;
    if rows.is_empty() {
        return Err(DatasetError::Csv { path: csv, line: 2, reason: "no data rows".into() });
    }
    for r in &mut rows {
        let id_text = r.file.file_name().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let id = id_text.parse::<u64>().map_err(|_| DatasetError::Csv {
            path: csv.clone(),
            line: r.line,
            reason: format!("id `{id_text}` is not a number"),
        })?;
        r.file = by_id.get(&id).cloned().ok_or_else(|| DatasetError::Csv {
            path: csv.clone(),
            line: r.line,
            reason: format!("no image numbered {id} (like {id:03}.png) below {}", root.display()),
        })?;
        r.task = "head-ct".into();
    }
    let classes: Vec<String> = CLASSES.iter().map(|s| s.to_string()).collect();
    let mut ds = load_rows(&rows, &csv, Some(classes.as_slice()))?
        .into_iter()
        .next()
        .ok_or_else(|| DatasetError::Csv { path: csv.clone(), line: 2, reason: "no data rows".into() })?;
    ds.has_patient_ids = false;
    let counts = ds.class_counts();
    ds.description = format!(
        "head CT haemorrhage ({}): {} images ({} with haemorrhage), labels from {}; no official split and no patient \
         identifiers (each image is its own patient)",
        root.display(),
        ds.samples.len(),
        counts.get(1).copied().unwrap_or(0),
        csv.display()
    );
    Ok(ds)
}
