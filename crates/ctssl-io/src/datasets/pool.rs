//! Unlabeled pre-training pools: a DICOM tree (for example LIDC-IDRI as downloaded) or a folder of
//! image slices (for example an export of LIDC to PNG), told apart by each file's content.
//!
//! DICOM: CT image series are kept; other modalities (LIDC's radiographs, DX / CR), non-image objects
//! and series with fewer than [`PoolOptions::min_series_slices`] slices (scouts, localisers) are
//! dropped, and every drop is listed. Images: grouped into scans by folder and file name without its
//! trailing number (`LIDC-IDRI-0001_12.png` → `LIDC-IDRI-0001`), ordered by that number. Every slice is
//! decoded on every core; a file that cannot be read is listed with its reason and the pool goes on.
//! With [`PoolOptions::dedup`], near-identical neighbouring slices of a scan are removed ([`super::dedup`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dedup::{dhash, keep_mask};
use super::{read_dicom_slices, DatasetError, Slice};
use crate::image_file::{read_grey_image, sniff_file, FileKind};

/// How a pool is read.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolOptions {
    /// DICOM series with fewer slices are not scans (scouts, localisers) and are dropped.
    pub min_series_slices: usize,
    /// Remove near-identical neighbouring slices: the largest dHash distance (bits of 64) at which a
    /// slice counts as a duplicate of the last one kept; `None`: keep every slice.
    pub dedup: Option<u32>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions { min_series_slices: 10, dedup: None }
    }
}

/// One pool slice.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSlice {
    /// The slice.
    pub slice: Slice,
    /// The scan it belongs to (`patient/series` for DICOM, `folder/name-stem` for images).
    pub group: String,
    /// The file (and frame) it came from.
    pub source: String,
}

/// A read pool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pool {
    /// Slices in scan order.
    pub slices: Vec<PoolSlice>,
    /// Files that could not be read: (file, reason).
    pub skipped: Vec<(PathBuf, String)>,
    /// What was left out on purpose (modalities, short series, non-image objects), one line each.
    pub dropped: Vec<String>,
    /// Slices removed as near-duplicates: (scan, source) of each.
    pub deduplicated: Vec<(String, String)>,
    /// Slices read from DICOM (Hounsfield units).
    pub dicom_slices: usize,
    /// Slices read from image files (no HU).
    pub image_slices: usize,
}

impl Pool {
    /// One line: what the pool holds and what was left out.
    pub fn summary(&self) -> String {
        format!(
            "{} slices ({} DICOM, {} image), {} unreadable file(s) skipped, {} item(s) dropped, {} near-duplicate slice(s) removed",
            self.slices.len(),
            self.dicom_slices,
            self.image_slices,
            self.skipped.len(),
            self.dropped.len(),
            self.deduplicated.len()
        )
    }
}

/// The group and order key of an image file: its folder and name without the trailing number.
fn image_group(path: &Path) -> (String, u64, String) {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (base, num) = stem.split_at(stem.len() - digits);
    let base = base.trim_end_matches(['_', '-', '.', ' ']);
    let parent = path.parent().map(|p| p.display().to_string()).unwrap_or_default();
    (format!("{parent}/{base}"), num.parse().unwrap_or(0), stem.to_string())
}

/// Reads the pool under `paths` (folders recursively, or single files).
pub fn load_pool(paths: &[PathBuf], options: &PoolOptions) -> Result<Pool, DatasetError> {
    let mut pool = Pool::default();
    for p in paths {
        if !p.exists() {
            return Err(DatasetError::Layout { path: p.clone(), reason: "does not exist".into() });
        }
    }
    let files = crate::files::list_files(paths).map_err(|e| DatasetError::Layout {
        path: paths.first().cloned().unwrap_or_default(),
        reason: format!("cannot list the files: {e}"),
    })?;
    let kinds: Vec<(PathBuf, Result<FileKind, DatasetError>)> =
        files.into_par_iter().map(|f| (f.clone(), sniff_file(&f))).collect();
    let (mut images, mut dicom) = (Vec::new(), Vec::new());
    for (f, k) in kinds {
        match k {
            Ok(FileKind::Image(_)) => images.push(f),
            Ok(FileKind::Dicom) => dicom.push(f),
            Ok(FileKind::Other) => pool.skipped.push((f, "neither DICOM nor PNG/JPEG (judged by content)".into())),
            Err(e) => pool.skipped.push((f, e.chain())),
        }
    }
    // Scans: (group, files in order, whether the files are images).
    let mut scans: Vec<(String, Vec<PathBuf>, bool)> = Vec::new();
    if !dicom.is_empty() {
        let manifest = crate::scan(&dicom, &crate::ScanOptions::ct_only()).map_err(|e| DatasetError::Layout {
            path: paths.first().cloned().unwrap_or_default(),
            reason: format!("cannot scan the DICOM files: {e}"),
        })?;
        for s in &manifest.skipped {
            pool.skipped.push((s.path.clone(), format!("{}: {}", s.kind, s.message)));
        }
        for (modality, n) in &manifest.summary.filtered_by_modality {
            pool.dropped.push(format!("{n} file(s) of modality {modality}: not CT"));
        }
        for n in &manifest.non_image {
            pool.dropped.push(format!(
                "{}: not an image ({} {})",
                n.path.display(),
                n.modality.as_deref().unwrap_or("?"),
                n.sop_class_uid
            ));
        }
        for patient in &manifest.patients {
            for study in &patient.studies {
                for series in &study.series {
                    let frames: usize = series.slices.iter().map(|s| s.frames.max(1) as usize).sum();
                    if frames < options.min_series_slices {
                        pool.dropped.push(format!(
                            "series {} of patient {} ({}): {frames} slice(s), fewer than {} — not a scan",
                            series.series_instance_uid,
                            patient.patient_id,
                            series.description.as_deref().unwrap_or("no description"),
                            options.min_series_slices
                        ));
                        continue;
                    }
                    let group = format!("{}/{}", patient.patient_id, series.series_instance_uid);
                    scans.push((group, series.slices.iter().map(|s| s.path.clone()).collect(), false));
                }
            }
        }
    }
    if !images.is_empty() {
        let mut groups: BTreeMap<String, Vec<(u64, String, PathBuf)>> = BTreeMap::new();
        for f in images {
            let (g, n, stem) = image_group(&f);
            groups.entry(g).or_default().push((n, stem, f));
        }
        for (g, mut v) in groups {
            v.sort();
            scans.push((g, v.into_iter().map(|(_, _, f)| f).collect(), true));
        }
    }
    // Decode everything on every core, keeping scan order.
    let flat: Vec<(usize, &PathBuf, bool)> =
        scans.iter().enumerate().flat_map(|(i, (_, files, image))| files.iter().map(move |f| (i, f, *image))).collect();
    let decoded: Vec<Result<Vec<Slice>, DatasetError>> = flat
        .par_iter()
        .map(|(_, f, image)| {
            if *image {
                read_grey_image(f).map(|g| vec![Slice::from(g)])
            } else {
                read_dicom_slices(f).map(|(s, _)| s)
            }
        })
        .collect();
    let mut per_scan: Vec<Vec<PoolSlice>> = vec![Vec::new(); scans.len()];
    for ((scan, f, image), r) in flat.iter().zip(decoded) {
        match r {
            Ok(slices) => {
                let many = slices.len() > 1;
                for (k, slice) in slices.into_iter().enumerate() {
                    if *image {
                        pool.image_slices += 1;
                    } else {
                        pool.dicom_slices += 1;
                    }
                    per_scan[*scan].push(PoolSlice {
                        slice,
                        group: scans[*scan].0.clone(),
                        source: if many { format!("{}[frame {k}]", f.display()) } else { f.display().to_string() },
                    });
                }
            }
            Err(e) => pool.skipped.push(((*f).clone(), e.chain())),
        }
    }
    for scan in per_scan {
        match options.dedup {
            None => pool.slices.extend(scan),
            Some(d) => {
                let hashes: Vec<u64> =
                    scan.par_iter().map(|s| dhash(&s.slice.values, s.slice.width, s.slice.height)).collect();
                for (s, keep) in scan.into_iter().zip(keep_mask(&hashes, d)) {
                    if keep {
                        pool.slices.push(s);
                    } else {
                        pool.deduplicated.push((s.group, s.source));
                    }
                }
            }
        }
    }
    pool.skipped.sort();
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_groups_follow_the_trailing_number() {
        let (g, n, _) = image_group(Path::new("/p/LIDC-IDRI-0001_12.png"));
        assert_eq!((g.as_str(), n), ("/p/LIDC-IDRI-0001", 12));
        let (g, n, _) = image_group(Path::new("/p/slice.png"));
        assert_eq!((g.as_str(), n), ("/p/slice", 0));
    }
}
