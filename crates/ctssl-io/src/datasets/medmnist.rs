//! MedMNIST `.npz` files (`organsmnist.npz`, `organsmnist_64.npz` … `_224.npz`): members
//! `{train,val,test}_{images,labels}`; images `uint8` N×S×S (or N×S×S×3, reduced to grey by the BT.601
//! luma rule), labels N×1 (or N) of any integer type. Counts are read, never assumed. The official
//! splits are kept; MedMNIST has no patient identifiers, so each image is its own "patient".

use std::path::Path;

use super::{DatasetError, Intensity, LabeledDataset, Sample, Slice, Split};
use crate::npz::{NpyData, Npz};

/// OrganSMNIST / OrganAMNIST / OrganCMNIST class names in label order (MedMNIST's `INFO`).
pub const ORGAN_CLASSES: [&str; 11] = [
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
];

/// The dataset's name from the file name: `organsmnist_64.npz` → `organsmnist`.
pub fn dataset_name(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("medmnist");
    match stem.rsplit_once('_') {
        Some((base, size)) if size.parse::<u32>().is_ok() => base.to_string(),
        _ => stem.to_string(),
    }
}

/// Class names known for a MedMNIST set, in label order.
pub fn known_classes(name: &str) -> Option<&'static [&'static str]> {
    match name.to_ascii_lowercase().as_str() {
        "organsmnist" | "organamnist" | "organcmnist" => Some(&ORGAN_CLASSES),
        _ => None,
    }
}

/// Reads a MedMNIST `.npz` with its official train / val / test splits.
pub fn load_medmnist(path: impl AsRef<Path>) -> Result<LabeledDataset, DatasetError> {
    let path = path.as_ref();
    let name = dataset_name(path);
    let mut npz = Npz::open(path)?;
    let mut samples = Vec::new();
    let mut max_label = 0i64;
    let mut side = 0usize;
    let mut counts = Vec::new();
    for (split, key) in [(Split::Train, "train"), (Split::Val, "val"), (Split::Test, "test")] {
        let images_member = format!("{key}_images");
        let labels_member = format!("{key}_labels");
        let images = npz.array(&images_member)?;
        let labels = npz.array(&labels_member)?;
        let bad = |member: &str, reason: String| DatasetError::Npy {
            path: path.to_path_buf(),
            member: member.to_string(),
            reason,
        };
        let NpyData::U8(pixels) = &images.data else {
            return Err(bad(&images_member, format!("images must be uint8, not {}", images.descr)));
        };
        let (n, h, w, channels) = match images.shape.as_slice() {
            [n, h, w] => (*n, *h, *w, 1),
            [n, h, w, 3] => (*n, *h, *w, 3),
            s => return Err(bad(&images_member, format!("images must be N×S×S (or N×S×S×3), not {s:?}"))),
        };
        let labels_n = match labels.shape.as_slice() {
            [n] | [n, 1] => *n,
            s => {
                return Err(bad(
                    &labels_member,
                    format!("labels must be N×1 (one class per image; multi-label sets are not supported), not {s:?}"),
                ))
            }
        };
        if labels_n != n {
            return Err(bad(&labels_member, format!("{labels_n} labels for {n} images in {images_member}")));
        }
        let values = labels.to_i64();
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| **v < 0 || **v > i64::from(u16::MAX)) {
            return Err(bad(&labels_member, format!("label {v} of image {i} is not a class index")));
        }
        side = side.max(h.max(w));
        let px = h * w * channels;
        for (i, &label) in values.iter().enumerate() {
            let raw = &pixels[i * px..(i + 1) * px];
            let values: Vec<f32> = if channels == 1 {
                raw.iter().map(|&v| f32::from(v)).collect()
            } else {
                raw.chunks_exact(3)
                    .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                    .collect()
            };
            max_label = max_label.max(label);
            samples.push(Sample {
                source: format!("{}:{images_member}[{i}]", path.display()),
                slice: Slice { width: w, height: h, values, intensity: Intensity::Image { max_value: 255.0 } },
                label: label as u32,
                patient_id: format!("{key}-{i}"),
                split: Some(split),
            });
        }
        counts.push(n);
    }
    let classes: Vec<String> = match known_classes(&name) {
        Some(c) if max_label < c.len() as i64 => c.iter().map(|s| s.to_string()).collect(),
        _ => (0..=max_label).map(|k| format!("class {k}")).collect(),
    };
    let ds = LabeledDataset {
        description: format!(
            "MedMNIST {name} ({}): {side} px, train/val/test {}/{}/{} images, {} classes; official splits; no patient \
             identifiers (each image is its own patient)",
            path.display(),
            counts[0],
            counts[1],
            counts[2],
            classes.len()
        ),
        name,
        classes,
        samples,
        has_patient_ids: false,
    };
    ds.check_classes(path)?;
    Ok(ds)
}
