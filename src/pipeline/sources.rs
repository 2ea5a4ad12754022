//! The seed study's datasets as distributed, as study data: labeled tasks named `kind:PATH`
//! (`covid-ct:DIR`, `medmnist:FILE.npz`, `csv:FILE`, `head-ct:DIR`) and pre-training pools
//! (`--pretrain-data PATH`, a DICOM tree or a folder of image slices), with the input mapping a
//! property of each source: Hounsfield sources use the preset's CT windows (`model.windows`), image
//! sources (PNG, JPEG, MedMNIST: no HU) the preset's image mapping (`sources.image_mapping`).
//!
//! Image values are stored in *image units*: `[0, 1500]` (per image min–max, or the file's full scale),
//! 1500 being the width of the lung window that 8-bit CT exports usually come from, so that the
//! study's HU-calibrated view noise (σ up to 20) keeps about the strength it has on CT. The mapping then
//! takes `[0, 1500]` to `[0, 1]`, repeated to the backbone's channel count, and standardises.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ctssl_augment::{Image, InMemorySlices, Standardize, WindowStep};
use ctssl_io::datasets::covid_ct::load_covid_ct;
use ctssl_io::datasets::head_ct::load_head_ct;
use ctssl_io::datasets::labels_csv::load_labels_csv;
use ctssl_io::datasets::medmnist::load_medmnist;
use ctssl_io::datasets::pool::{load_pool, PoolOptions};
use ctssl_io::datasets::{DatasetError, Intensity, LabeledDataset, Slice, Split};
use ctssl_io::HuWindow;
use ctssl_train::eval::{InputMapping, LabeledSet};
use serde::{Deserialize, Serialize};

use super::config::StudyConfig;
use super::data::{StudyData, TaskData};
use super::error::{PipelineError, Result};

/// Full scale of image units (see the module documentation).
pub const IMAGE_UNITS: f32 = 1500.0;

/// The task kinds `--task` knows.
pub const TASK_KINDS: [&str; 4] = ["covid-ct", "medmnist", "csv", "head-ct"];

/// Settings of the distributed datasets (the `[sources]` section of a configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    /// Labeled tasks as `kind:PATH` (`covid-ct:DIR`, `medmnist:FILE.npz`, `csv:FILE`, `head-ct:DIR`);
    /// non-empty: they replace `data.source` and `protocol.tasks`.
    pub tasks: Vec<String>,
    /// Pre-training pools: DICOM trees or folders of image slices (told apart by content).
    pub pretrain_data: Vec<PathBuf>,
    /// Remove near-identical neighbouring slices from the pools.
    pub dedup: bool,
    /// De-duplication threshold: a slice within this many bits (of 64) of the dHash of the last slice
    /// kept in its scan is dropped.
    pub dedup_max_distance: u32,
    /// DICOM series with fewer slices are not scans and are dropped from a pool.
    pub min_series_slices: usize,
    /// How image sources (no HU) become input: `per_image` (min–max per image, as the seed study) or
    /// `fixed` (the file's full scale, 0–255 or 0–65535); `windows` (the CT windows) is refused for
    /// sources without HU.
    pub image_mapping: String,
    /// Standardisation `[mean, std]` of image sources after the mapping; absent: `model.standardize`.
    pub image_standardize: Option<[f32; 2]>,
    /// Share of the images (patients, where known) held out for validation by a task without an
    /// official split (head CT, a CSV without `split`).
    pub val_fraction: f64,
    /// Share held out for test by a task without an official split.
    pub test_fraction: f64,
}

impl Default for SourcesConfig {
    fn default() -> Self {
        SourcesConfig {
            tasks: Vec::new(),
            pretrain_data: Vec::new(),
            dedup: false,
            dedup_max_distance: 4,
            min_series_slices: 10,
            image_mapping: "per_image".into(),
            image_standardize: None,
            val_fraction: 0.15,
            test_fraction: 0.15,
        }
    }
}

impl SourcesConfig {
    /// Whether the study reads distributed datasets instead of `data.source`.
    pub fn active(&self) -> bool {
        !self.tasks.is_empty() || !self.pretrain_data.is_empty()
    }

    /// Checks the task specs, the mapping name and the threshold.
    pub fn validate(&self) -> Result<()> {
        for t in &self.tasks {
            TaskSpec::parse(t)?;
        }
        if !["per_image", "fixed", "windows"].contains(&self.image_mapping.as_str()) {
            return Err(PipelineError::Config(format!(
                "sources.image_mapping must be per_image, fixed or windows, not `{}`",
                self.image_mapping
            )));
        }
        if self.dedup_max_distance > 32 {
            return Err(PipelineError::Config(format!(
                "sources.dedup_max_distance {} of 64 bits would call different slices duplicates (use 0–32)",
                self.dedup_max_distance
            )));
        }
        let (v, t) = (self.val_fraction, self.test_fraction);
        if !(v > 0.0 && t > 0.0 && v + t < 1.0) {
            return Err(PipelineError::Config(format!(
                "sources.val_fraction {v} and test_fraction {t} must be positive with a sum below 1"
            )));
        }
        if let Some([_, s]) = self.image_standardize {
            if !(s > 0.0 && s.is_finite()) {
                return Err(PipelineError::Config(format!("sources.image_standardize: std {s} must be positive")));
            }
        }
        Ok(())
    }
}

/// A labeled task given as `kind:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// One of [`TASK_KINDS`].
    pub kind: String,
    /// The folder or file.
    pub path: PathBuf,
}

impl TaskSpec {
    /// Parses `kind:PATH`; an unknown kind is an error naming the known ones.
    pub fn parse(spec: &str) -> Result<Self> {
        let Some((kind, path)) = spec.split_once(':') else {
            return Err(PipelineError::Config(format!(
                "task `{spec}` is not kind:PATH (kinds: {})",
                TASK_KINDS.join(", ")
            )));
        };
        if !TASK_KINDS.contains(&kind) {
            return Err(PipelineError::Config(format!(
                "unknown task kind `{kind}` in `{spec}` (known: {})",
                TASK_KINDS.join(", ")
            )));
        }
        if path.is_empty() {
            return Err(PipelineError::Config(format!("task `{spec}` names no path")));
        }
        Ok(TaskSpec { kind: kind.to_string(), path: PathBuf::from(path) })
    }

    /// Whether a `--task` value is a `kind:PATH` spec rather than a task name.
    pub fn is_spec(text: &str) -> bool {
        text.split_once(':').is_some_and(|(k, _)| TASK_KINDS.contains(&k))
    }
}

fn data_err(e: DatasetError) -> PipelineError {
    PipelineError::Data(e.chain())
}

/// Reads the datasets of one task spec (a CSV with a task column gives several).
pub fn load_task(spec: &TaskSpec) -> Result<Vec<LabeledDataset>> {
    let one = |r: std::result::Result<LabeledDataset, DatasetError>| r.map(|d| vec![d]).map_err(data_err);
    match spec.kind.as_str() {
        "covid-ct" => one(load_covid_ct(&spec.path)),
        "medmnist" => one(load_medmnist(&spec.path)),
        "head-ct" => one(load_head_ct(&spec.path)),
        "csv" => load_labels_csv(&spec.path).map_err(data_err),
        other => Err(PipelineError::Config(format!("unknown task kind `{other}` (known: {})", TASK_KINDS.join(", ")))),
    }
}

/// How a source's values become network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Hounsfield units: the preset's CT windows.
    Hounsfield,
    /// Image intensities: the image mapping.
    Image,
}

/// The image mapping of `cfg`: `[0, IMAGE_UNITS]` to `[0, 1]` on as many channels as the CT mapping
/// has, then the image standardisation. Fails, saying why, if windows are forced on images.
pub fn image_input(cfg: &StudyConfig) -> Result<InputMapping> {
    if cfg.sources.image_mapping == "windows" {
        return Err(PipelineError::Config(
            "sources.image_mapping = windows: PNG, JPEG and MedMNIST images carry no Hounsfield units (8-bit \
             intensities, often already windowed), so HU windows would cut them arbitrarily; use per_image or fixed"
                .into(),
        ));
    }
    let channels = cfg.input()?.channels();
    let unit = HuWindow::new(IMAGE_UNITS / 2.0, IMAGE_UNITS);
    let window = if channels == 1 { WindowStep::Fixed(unit) } else { WindowStep::Multi(vec![unit; channels]) };
    let standardize = cfg.sources.image_standardize.or(cfg.model.standardize).map(|[m, s]| Standardize::new(m, s));
    Ok(InputMapping { window, standardize })
}

/// The input mapping of a source kind.
pub fn input_for(cfg: &StudyConfig, kind: SourceKind) -> Result<InputMapping> {
    match kind {
        SourceKind::Hounsfield => cfg.input(),
        SourceKind::Image => image_input(cfg),
    }
}

/// The mapping in words.
pub fn describe_mapping(cfg: &StudyConfig, kind: SourceKind) -> String {
    match kind {
        SourceKind::Hounsfield => {
            let w = if cfg.model.windows.is_empty() {
                "per-slice min–max of HU".to_string()
            } else {
                let w: Vec<String> = cfg.model.windows.iter().map(|[c, w]| format!("{c}/{w}")).collect();
                format!("HU windows {}", w.join(", "))
            };
            match cfg.model.standardize {
                Some([m, s]) => format!("{w}, then (x − {m}) / {s}"),
                None => w,
            }
        }
        SourceKind::Image => {
            let w = if cfg.sources.image_mapping == "fixed" {
                "image intensity / full scale (255 or 65535)"
            } else {
                "per-image min–max of the image intensities"
            };
            match cfg.sources.image_standardize.or(cfg.model.standardize) {
                Some([m, s]) => format!("{w}, then (x − {m}) / {s}"),
                None => w.to_string(),
            }
        }
    }
}

/// A slice's values as the network's source values: HU as they are, images in image units.
fn to_image(slice: Slice, per_image: bool) -> Result<(Image, SourceKind)> {
    let Slice { width, height, mut values, intensity } = slice;
    let kind = match intensity {
        Intensity::Hounsfield => SourceKind::Hounsfield,
        Intensity::Image { max_value } => {
            let (lo, hi) = if per_image {
                values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)))
            } else {
                (0.0, max_value)
            };
            let scale = if hi > lo { IMAGE_UNITS / (hi - lo) } else { 0.0 };
            for v in &mut values {
                *v = (*v - lo) * scale;
            }
            SourceKind::Image
        }
    };
    Ok((Image::from_vec(height, width, values)?, kind))
}

/// A read pool: the slices, their kind, and what was left out (lines for `data.txt`).
#[derive(Debug, Clone)]
pub struct PoolData {
    /// The slices (scan = "patient").
    pub slices: InMemorySlices,
    /// Hounsfield or image slices (a pool is one or the other).
    pub kind: SourceKind,
    /// Files skipped, items dropped and near-duplicates removed, one line each.
    pub left_out: Vec<String>,
    /// One line on the pool.
    pub summary: String,
}

/// Reads the pre-training pools under `paths` (decoded on every core), de-duplicated if asked.
pub fn load_pool_data(cfg: &StudyConfig, paths: &[PathBuf]) -> Result<PoolData> {
    let options = PoolOptions {
        min_series_slices: cfg.sources.min_series_slices,
        dedup: cfg.sources.dedup.then_some(cfg.sources.dedup_max_distance),
    };
    let pool = load_pool(paths, &options).map_err(data_err)?;
    if pool.dicom_slices > 0 && pool.image_slices > 0 {
        return Err(PipelineError::Data(format!(
            "the pre-training pool mixes {} DICOM slices (HU) and {} image slices (no HU); pre-training has one \
             input mapping, so give one kind",
            pool.dicom_slices, pool.image_slices
        )));
    }
    if pool.slices.is_empty() {
        return Err(PipelineError::Data(format!(
            "no readable slice in the pre-training data {} ({})",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            pool.summary()
        )));
    }
    let mut left_out: Vec<String> = pool.skipped.iter().map(|(f, why)| format!("{}: {why}", f.display())).collect();
    left_out.extend(pool.dropped.iter().map(|d| format!("dropped {d}")));
    // One line per scan: a de-duplicated LIDC drops most of its 244,000 slices.
    let mut by_scan: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (group, source) in &pool.deduplicated {
        let name = std::path::Path::new(source).file_name().and_then(|n| n.to_str()).unwrap_or(source);
        by_scan.entry(group).or_default().push(name);
    }
    for (group, names) in by_scan {
        left_out.push(format!(
            "{group}: {} near-duplicate slice(s) removed (dHash within {} bits of the slice kept before): {}",
            names.len(),
            cfg.sources.dedup_max_distance,
            names.join(" ")
        ));
    }
    let per_image = cfg.sources.image_mapping != "fixed";
    let summary = format!(
        "pre-training pool {}: {}{}",
        paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        pool.summary(),
        if cfg.sources.dedup {
            format!(
                "; de-duplicated at dHash distance ≤ {}: {} kept, {} dropped",
                cfg.sources.dedup_max_distance,
                pool.slices.len(),
                pool.deduplicated.len()
            )
        } else {
            String::new()
        }
    );
    let mut slices = InMemorySlices::new();
    let mut kind = SourceKind::Hounsfield;
    for s in pool.slices {
        let (img, k) = to_image(s.slice, per_image)?;
        kind = k;
        slices.push(img, s.group)?;
    }
    Ok(PoolData { slices, kind, left_out, summary })
}

/// A labeled dataset as a study task, with its official splits or split by patient.
fn task_data(cfg: &StudyConfig, ds: LabeledDataset) -> Result<(TaskData, SourceKind)> {
    let per_image = cfg.sources.image_mapping != "fixed";
    let k = ds.classes.len().max(2);
    let has_splits = ds.samples.iter().all(|s| s.split.is_some());
    let mut kinds = BTreeSet::new();
    let mut parts: [(InMemorySlices, Vec<u32>); 3] = Default::default();
    let mut all = (InMemorySlices::new(), Vec::new());
    for s in ds.samples {
        let (img, kind) = to_image(s.slice, per_image)?;
        kinds.insert(kind == SourceKind::Image);
        let target = match (has_splits, s.split) {
            (true, Some(Split::Train)) => &mut parts[0],
            (true, Some(Split::Val)) => &mut parts[1],
            (true, Some(Split::Test)) => &mut parts[2],
            _ => &mut all,
        };
        target.0.push(img, s.patient_id)?;
        target.1.push(s.label);
    }
    if kinds.len() > 1 {
        return Err(PipelineError::Data(format!(
            "task {} mixes DICOM (HU) and image files (no HU); give one kind per task",
            ds.name
        )));
    }
    let kind = if kinds.contains(&true) { SourceKind::Image } else { SourceKind::Hounsfield };
    let (train, val, test) = if has_splits {
        let [tr, va, te] = parts;
        for (name, p) in [("train", &tr), ("val", &va), ("test", &te)] {
            if p.1.is_empty() {
                return Err(PipelineError::Data(format!("task {}: the {name} split is empty", ds.name)));
            }
        }
        (LabeledSet::new(tr.0, tr.1, k)?, LabeledSet::new(va.0, va.1, k)?, LabeledSet::new(te.0, te.1, k)?)
    } else {
        LabeledSet::new(all.0, all.1, k)?.split_by_patient(
            cfg.sources.val_fraction,
            cfg.sources.test_fraction,
            cfg.pretrain.seed,
        )?
    };
    let input = input_for(cfg, kind)?;
    let (train, val, test) = (train.with_input(input.clone()), val.with_input(input.clone()), test.with_input(input));
    Ok((TaskData { name: ds.name, classes: ds.classes, train, val, test, positions: None }, kind))
}

/// What the study needs to know about its sources besides the data.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// Input mapping of the pre-training pool.
    pub pool_input: InputMapping,
    /// Lines for the report: (fact, value).
    pub facts: Vec<(String, String)>,
}

impl SourceInfo {
    /// The information of synthetic or `data.source = dicom` data: everything in HU.
    pub fn hounsfield(input: &InputMapping) -> Self {
        SourceInfo { pool_input: input.clone(), facts: Vec::new() }
    }
}

/// The study's data from `cfg.sources`: the pools and every task, each task's splits carrying its own
/// input mapping.
pub fn study_data(cfg: &StudyConfig) -> Result<(StudyData, SourceInfo)> {
    cfg.sources.validate()?;
    let needs_pool = !cfg.pretrain.methods.is_empty();
    if needs_pool && cfg.sources.pretrain_data.is_empty() {
        return Err(PipelineError::Config(
            "pre-training needs --pretrain-data PATH (a DICOM tree or a folder of image slices) with --task; or give \
             no methods"
                .into(),
        ));
    }
    let mut facts = Vec::new();
    let mut skipped = Vec::new();
    let mut description = Vec::new();
    let (pool, pool_kind) = if cfg.sources.pretrain_data.is_empty() {
        (InMemorySlices::new(), SourceKind::Hounsfield)
    } else {
        let p = load_pool_data(cfg, &cfg.sources.pretrain_data)?;
        skipped.extend(p.left_out);
        description.push(p.summary);
        (p.slices, p.kind)
    };
    if needs_pool && pool_kind == SourceKind::Image && cfg.sources.image_mapping == "windows" {
        image_input(cfg)?;
    }
    let pool_input = input_for(cfg, pool_kind)?;
    facts.push(("pre-training input".into(), describe_mapping(cfg, pool_kind)));
    let mut tasks = Vec::new();
    let mut names = BTreeSet::new();
    for spec in &cfg.sources.tasks {
        let spec = TaskSpec::parse(spec)?;
        for ds in load_task(&spec)? {
            if !names.insert(ds.name.clone()) {
                return Err(PipelineError::Config(format!("two tasks are named `{}`", ds.name)));
            }
            description.push(ds.description.clone());
            let has_ids = ds.has_patient_ids;
            let classes = ds.classes.join(", ");
            let (t, kind) = task_data(cfg, ds)?;
            let mapping = describe_mapping(cfg, kind);
            let mismatch = if needs_pool && kind != pool_kind {
                " — differs from the pre-training input (allowed: the encoder meets another mapping in fine-tuning)"
            } else {
                ""
            };
            facts.push((
                format!("task {}", t.name),
                format!(
                    "{} classes ({classes}); train/val/test {}/{}/{} images; input: {mapping}{mismatch}{}",
                    t.classes.len(),
                    t.train.len(),
                    t.val.len(),
                    t.test.len(),
                    if has_ids {
                        ""
                    } else {
                        "; no patient identifiers: each image is its own patient in the label fractions"
                    }
                ),
            ));
            tasks.push(t);
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    for s in &pool.slices {
        h.slice(&s.patient_id, &s.image.data, None);
    }
    for t in &tasks {
        h.bytes(t.name.as_bytes());
        for set in [&t.train, &t.val, &t.test] {
            for (s, l) in set.slices.slices.iter().zip(&set.labels) {
                h.slice(&s.patient_id, &s.image.data, Some(*l));
            }
        }
    }
    let data = StudyData {
        pool,
        tasks,
        content_hash: format!("fnv1a64:{:016x}", h.0),
        skipped,
        description: description.join("; "),
    };
    Ok((data, SourceInfo { pool_input, facts }))
}

struct Fnv(u64);

impl Fnv {
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn slice(&mut self, patient: &str, data: &[f32], label: Option<u32>) {
        self.bytes(patient.as_bytes());
        for v in data {
            self.bytes(&v.to_le_bytes());
        }
        if let Some(l) = label {
            self.bytes(&l.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_specs_parse_and_unknown_kinds_are_named() {
        let s = TaskSpec::parse("covid-ct:/data/COVID-CT").unwrap();
        assert_eq!((s.kind.as_str(), s.path.to_str()), ("covid-ct", Some("/data/COVID-CT")));
        let e = TaskSpec::parse("kaggle:/x").unwrap_err().to_string();
        assert!(e.contains("kaggle") && e.contains("medmnist"), "{e}");
        assert!(TaskSpec::parse("covid-ct").is_err());
        assert!(TaskSpec::is_spec("medmnist:a.npz") && !TaskSpec::is_spec("lung"));
    }

    #[test]
    fn windows_on_images_are_refused_with_the_reason() {
        let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
        let m = image_input(&cfg).unwrap();
        assert_eq!(m.channels(), cfg.input().unwrap().channels());
        cfg.sources.image_mapping = "windows".into();
        let e = image_input(&cfg).unwrap_err().to_string();
        assert!(e.contains("no Hounsfield units"), "{e}");
    }
}
