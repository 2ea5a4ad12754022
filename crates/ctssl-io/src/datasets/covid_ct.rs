//! COVID-CT (Yang et al. 2020) as its repository distributes it: image folders `CT_COVID` and
//! `CT_NonCOVID` (found anywhere below the given folder) and the official split lists
//! `Data-split/COVID/{train,val,test}CT_COVID.txt` and `Data-split/NonCOVID/{train,val,test}CT_NonCOVID.txt`,
//! one bare file name per line. Files are PNG or JPEG whatever their extension. The official split
//! gives 425 / 118 / 203 images; the set has no patient identifiers, so each image is its own
//! "patient". Images in the folders but in no list are left out (and counted).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{find_dirs, DatasetError, LabeledDataset, Sample, Split};
use crate::image_file::read_grey_image;

/// Class names: 0 = non-COVID, 1 = COVID (the positive class).
pub const CLASSES: [&str; 2] = ["non-COVID", "COVID"];

fn one_dir(root: &Path, name: &str) -> Result<PathBuf, DatasetError> {
    let found = find_dirs(root, name);
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(DatasetError::Layout {
            path: root.to_path_buf(),
            reason: format!("no folder `{name}` below it (COVID-CT has CT_COVID, CT_NonCOVID and Data-split)"),
        }),
        many => Err(DatasetError::Layout {
            path: root.to_path_buf(),
            reason: format!(
                "{} folders `{name}` below it ({}); point at the one to use",
                many.len(),
                many.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

/// The file names of one split list, with their 1-based line numbers.
fn read_list(list: &Path) -> Result<Vec<(usize, String)>, DatasetError> {
    let bytes = std::fs::read(list).map_err(|source| DatasetError::Io { path: list.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().trim_start_matches('\u{feff}').to_string()))
        .filter(|(_, l)| !l.is_empty())
        .collect())
}

/// Reads COVID-CT below `root` with its official splits; images are decoded on every core.
pub fn load_covid_ct(root: impl AsRef<Path>) -> Result<LabeledDataset, DatasetError> {
    let root = root.as_ref();
    if !root.is_dir() {
        return Err(DatasetError::Layout { path: root.to_path_buf(), reason: "is not a folder".into() });
    }
    let split_dir = one_dir(root, "Data-split")?;
    let mut wanted: Vec<(PathBuf, u32, Split, String)> = Vec::new();
    let mut listed_total = [0usize; 2];
    let mut in_folders = 0usize;
    for (label, (folder, sub)) in [("CT_NonCOVID", "NonCOVID"), ("CT_COVID", "COVID")].into_iter().enumerate() {
        let images = one_dir(root, folder)?;
        in_folders += std::fs::read_dir(&images)
            .map_err(|source| DatasetError::Io { path: images.clone(), source })?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .count();
        let mut seen = BTreeSet::new();
        for (split, key) in [(Split::Train, "train"), (Split::Val, "val"), (Split::Test, "test")] {
            let list = split_dir.join(sub).join(format!("{key}{folder}.txt"));
            if !list.is_file() {
                return Err(DatasetError::Layout {
                    path: split_dir.clone(),
                    reason: format!("the split list {} is missing", list.display()),
                });
            }
            for (line, name) in read_list(&list)? {
                let file = images.join(&name);
                if !file.is_file() {
                    return Err(DatasetError::MissingListedFile { list, line, name, expected: file });
                }
                if !seen.insert(name.clone()) {
                    return Err(DatasetError::Layout {
                        path: list,
                        reason: format!("line {line}: `{name}` is listed twice in the {sub} split lists"),
                    });
                }
                listed_total[label] += 1;
                wanted.push((file, label as u32, split, name));
            }
        }
    }
    let decoded: Vec<Result<Sample, DatasetError>> = wanted
        .par_iter()
        .map(|(file, label, split, name)| {
            let img = read_grey_image(file)?;
            Ok(Sample {
                source: file.display().to_string(),
                slice: img.into(),
                label: *label,
                patient_id: format!("{}/{name}", CLASSES[*label as usize]),
                split: Some(*split),
            })
        })
        .collect();
    let samples = decoded.into_iter().collect::<Result<Vec<_>, _>>()?;
    let mut ds = LabeledDataset {
        name: "covid-ct".into(),
        classes: CLASSES.iter().map(|s| s.to_string()).collect(),
        samples,
        has_patient_ids: false,
        description: String::new(),
    };
    ds.check_classes(root)?;
    let count = |split, label| ds.samples.iter().filter(|s| s.split == Some(split) && s.label == label).count();
    ds.description = format!(
        "COVID-CT ({}): official split train/val/test {}/{}/{} (COVID {}/{}/{}, non-COVID {}/{}/{}); {} image file(s) \
         in the folders are in no list and left out; no patient identifiers (each image is its own patient)",
        root.display(),
        ds.count(Some(Split::Train)),
        ds.count(Some(Split::Val)),
        ds.count(Some(Split::Test)),
        count(Split::Train, 1),
        count(Split::Val, 1),
        count(Split::Test, 1),
        count(Split::Train, 0),
        count(Split::Val, 0),
        count(Split::Test, 0),
        in_folders.saturating_sub(listed_total[0] + listed_total[1]),
    );
    Ok(ds)
}
