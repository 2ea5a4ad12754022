//! The study's data: an unlabeled pre-training pool and labeled tasks split by patient, from the embedded
//! synthetic patients or from the user's DICOM folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ctssl_augment::{Image, InMemorySlices};
use ctssl_phantom::{Dataset, PhantomConfig, Split, Task};
use ctssl_train::eval::LabeledSet;
use rayon::prelude::*;

use super::config::DataConfig;
use super::error::{PipelineError, Result};

/// One labeled task with its patient-level splits.
#[derive(Debug, Clone)]
pub struct TaskData {
    /// Task name.
    pub name: String,
    /// Class names, index = label.
    pub classes: Vec<String>,
    /// Training split (the label fractions are drawn from it).
    pub train: LabeledSet,
    /// Validation split (model selection).
    pub val: LabeledSet,
    /// Test split (the reported figures).
    pub test: LabeledSet,
    /// Position of each sample's slice along its series (0 = first, 1 = last) for the train and test
    /// splits, where known: the shortcut check asks whether position alone predicts the label.
    pub positions: Option<[Vec<f64>; 2]>,
}

/// Everything a study reads.
#[derive(Debug, Clone)]
pub struct StudyData {
    /// Unlabeled slices for pre-training (patients disjoint from the labeled tasks' for synthetic data).
    pub pool: InMemorySlices,
    /// The labeled tasks.
    pub tasks: Vec<TaskData>,
    /// A content hash of every image and label (recorded in the run folder).
    pub content_hash: String,
    /// Files that could not be read (path: reason); the run goes on without them.
    pub skipped: Vec<String>,
    /// A sentence describing the data.
    pub description: String,
}

impl StudyData {
    /// Every task's splits with the input mapping `input` (the one pre-training used).
    pub fn with_input(mut self, input: &ctssl_train::eval::InputMapping) -> Self {
        for t in &mut self.tasks {
            for s in [&mut t.train, &mut t.val, &mut t.test] {
                s.input = input.clone();
            }
        }
        self
    }
}

/// FNV-1a over bytes; enough to tell two datasets apart in a run record.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn slices(&mut self, s: &InMemorySlices, labels: Option<&[u32]>) {
        for (i, sl) in s.slices.iter().enumerate() {
            self.bytes(sl.patient_id.as_bytes());
            for v in &sl.image.data {
                self.bytes(&v.to_le_bytes());
            }
            if let Some(l) = labels {
                self.bytes(&l[i].to_le_bytes());
            }
        }
    }
}

fn hash_of(pool: &InMemorySlices, tasks: &[TaskData]) -> String {
    let mut h = Fnv::new();
    h.slices(pool, None);
    for t in tasks {
        h.bytes(t.name.as_bytes());
        for s in [&t.train, &t.val, &t.test] {
            h.slices(&s.slices, Some(&s.labels));
        }
    }
    format!("fnv1a64:{:016x}", h.0)
}

fn task_of(name: &str) -> Result<Task> {
    match name {
        "lung" => Ok(Task::Lung),
        "organ" => Ok(Task::Organ),
        "head" => Ok(Task::Head),
        other => Err(PipelineError::Config(format!("unknown synthetic task `{other}` (known: lung, organ, head)"))),
    }
}

fn class_names(task: Task) -> Vec<String> {
    match task {
        Task::Lung => vec!["no opacity".into(), "opacity".into()],
        Task::Head => vec!["no haemorrhage".into(), "haemorrhage".into()],
        _ => (0..task.classes()).map(|c| format!("organ {c}")).collect(),
    }
}

/// The lung and head lesions of `config` scaled in size by `scale`, and the fewest lesion pixels of a
/// positive slice set where given.
fn scale_lesions(mut config: PhantomConfig, scale: f32, min_pixels: Option<u32>) -> PhantomConfig {
    let s = |r: (f32, f32)| (r.0 * scale, r.1 * scale);
    config.lung.lesion_radius_mm = s(config.lung.lesion_radius_mm);
    config.head.blob_radius_mm = s(config.head.blob_radius_mm);
    config.head.subdural_thickness_mm = s(config.head.subdural_thickness_mm);
    if let Some(m) = min_pixels {
        config.lung.min_lesion_pixels = m;
        config.head.min_lesion_pixels = m;
    }
    config
}

/// The synthetic patients of `cfg` as a pool and the requested tasks (the phantom's own patient splits,
/// of the configured sizes for each body part).
pub fn phantom_data(cfg: &DataConfig, tasks: &[String]) -> Result<StudyData> {
    let p = cfg.phantom()?;
    let labeled: usize = p.split.iter().sum();
    let phantom = PhantomConfig {
        seed: p.seed,
        image_size: p.image_size,
        torso_patients: labeled,
        head_patients: labeled,
        pretrain_torso_patients: p.pool[0],
        pretrain_head_patients: p.pool[1],
        torso_slices: p.slices[0],
        head_slices: p.slices[1],
        split: p.split.map(|n| n as f32),
        pretrain_lesions: p.pool_lesions,
        ..PhantomConfig::default()
    };
    let phantom = scale_lesions(phantom, p.lesion_scale, p.min_lesion_pixels);
    let dataset = Dataset::generate(phantom)?;
    let mut pool = InMemorySlices::new();
    for (p, k) in dataset.pretrain_slices() {
        let patient = &dataset.patients[p];
        let s = &patient.slices[k];
        pool.push(Image::from_vec(s.size, s.size, s.values.clone())?, patient.plan.id.clone())?;
    }
    let mut out = Vec::new();
    for name in tasks {
        let task = task_of(name)?;
        let mut parts: [(InMemorySlices, Vec<u32>); 3] = Default::default();
        let mut positions: [Vec<f64>; 3] = Default::default();
        for s in dataset.samples(task) {
            let part = match dataset.split(&s) {
                Some(Split::Train) => 0,
                Some(Split::Validation) => 1,
                Some(Split::Test) => 2,
                None => continue,
            };
            let (hu, side) = dataset.image(&s)?;
            parts[part].0.push(Image::from_vec(side, side, hu)?, dataset.patients[s.patient].plan.id.clone())?;
            parts[part].1.push(s.label);
            let n = dataset.patients[s.patient].slices.len();
            positions[part].push(s.slice as f64 / (n.max(2) - 1) as f64);
        }
        let k = task.classes();
        let [tr, va, te] = parts;
        let [pos_train, _, pos_test] = positions;
        out.push(TaskData {
            name: name.clone(),
            classes: class_names(task),
            train: LabeledSet::new(tr.0, tr.1, k)?,
            val: LabeledSet::new(va.0, va.1, k)?,
            test: LabeledSet::new(te.0, te.1, k)?,
            positions: Some([pos_train, pos_test]),
        });
    }
    let description = format!(
        "synthetic CT (ctssl-phantom, seed {}): {} / {} / {} train / val / test patients per body part (torso, head), \
         pre-training pool of {} torso + {} head other patients ({} slices, lesions {}), {} px",
        p.seed,
        p.split[0],
        p.split[1],
        p.split[2],
        p.pool[0],
        p.pool[1],
        pool.slices.len(),
        if p.pool_lesions { "present, labels unused" } else { "absent" },
        p.image_size
    );
    let content_hash = hash_of(&pool, &out);
    Ok(StudyData { pool, tasks: out, content_hash, skipped: Vec::new(), description })
}

/// Reads every frame of a DICOM file as HU slices (air for padding), with the file's Patient ID.
fn read_slices(path: &Path) -> SlicesRead {
    let img = ctssl_io::read_image_with(path, &ctssl_io::ReadOptions::for_training())?;
    let (rows, cols) = (img.header.rows as usize, img.header.cols as usize);
    let frames = (0..img.header.frames as usize)
        .filter_map(|f| img.frame(f))
        .map(|v| Image::from_vec(rows, cols, v.to_vec()).map_err(PipelineError::from))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((frames, img.header.patient_id.clone()))
}

/// One row of a labels CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRow {
    /// The DICOM file (absolute, or relative to the CSV's folder).
    pub file: PathBuf,
    /// The task (`default` when the CSV has no task column).
    pub task: String,
    /// The class: an integer, or a name (names are numbered in sorted order per task).
    pub label: String,
    /// Patient ID from the CSV (else the file's Patient ID is used).
    pub patient_id: Option<String>,
}

/// Parses a labels CSV: a header naming `file` and `label`, optionally `task` and `patient_id`.
pub fn parse_labels_csv(text: &str, base: &Path) -> Result<Vec<LabelRow>> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| PipelineError::Data("the labels CSV is empty".into()))?;
    let cols: Vec<String> = header.split(',').map(|c| c.trim().to_lowercase()).collect();
    let col = |n: &str| cols.iter().position(|c| c == n);
    let (Some(fc), Some(lc)) = (col("file"), col("label")) else {
        return Err(PipelineError::Data(format!("the labels CSV header `{header}` needs `file` and `label` columns")));
    };
    let (tc, pc) = (col("task"), col("patient_id"));
    lines
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let get = |c: usize| {
                f.get(c).copied().filter(|v| !v.is_empty()).ok_or_else(|| {
                    PipelineError::Data(format!("labels CSV line {}: column {} is missing in `{line}`", i + 1, cols[c]))
                })
            };
            let file = PathBuf::from(get(fc)?);
            Ok(LabelRow {
                file: if file.is_absolute() { file } else { base.join(file) },
                task: tc.map(get).transpose()?.unwrap_or("default").to_string(),
                label: get(lc)?.to_string(),
                patient_id: pc.and_then(|c| f.get(c).filter(|v| !v.is_empty()).map(|v| v.to_string())),
            })
        })
        .collect()
}

/// What [`read_slices`] gives for one file: its frames and patient ID, or why it could not be read.
type SlicesRead = Result<(Vec<Image>, String)>;

/// The user's data: a pre-training folder (scanned recursively for CT) and/or a labels CSV; tasks are
/// split by patient with `val_fraction` / `test_fraction` and `seed`. Unreadable files are skipped with
/// their path and reason.
pub fn dicom_data(cfg: &DataConfig, seed: u64) -> Result<StudyData> {
    let mut skipped = Vec::new();
    let mut pool = InMemorySlices::new();
    if let Some(dir) = &cfg.pretrain_dir {
        let manifest = ctssl_io::scan(&[dir], &ctssl_io::ScanOptions::ct_only())?;
        skipped.extend(manifest.skipped.iter().map(|s| format!("{}: {}", s.path.display(), s.message)));
        let paths: Vec<PathBuf> = manifest.slices().map(|s| s.slice.path.clone()).collect();
        let read: Vec<(PathBuf, SlicesRead)> = paths.into_par_iter().map(|p| (p.clone(), read_slices(&p))).collect();
        for (path, r) in read {
            match r {
                Ok((frames, pid)) => {
                    for f in frames {
                        pool.push(f, pid.clone())?;
                    }
                }
                Err(e) => skipped.push(format!("{}: {}", path.display(), super::error::chain(&e))),
            }
        }
    }
    let mut tasks = Vec::new();
    if let Some(csv) = &cfg.labels_csv {
        let text = std::fs::read_to_string(csv).map_err(|e| PipelineError::io(csv, e))?;
        let rows = parse_labels_csv(&text, csv.parent().unwrap_or(Path::new(".")))?;
        let mut by_task: BTreeMap<String, Vec<&LabelRow>> = BTreeMap::new();
        for r in &rows {
            by_task.entry(r.task.clone()).or_default().push(r);
        }
        for (task, rows) in by_task {
            let mut names: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
            names.sort_by(|a, b| match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => a.cmp(b),
            });
            names.dedup();
            let read: Vec<_> = rows.par_iter().map(|r| (r, read_slices(&r.file))).collect();
            let mut slices = InMemorySlices::new();
            let mut labels = Vec::new();
            for (r, res) in read {
                match res {
                    Ok((frames, pid)) => {
                        let class = names.iter().position(|n| *n == r.label).unwrap_or(0) as u32;
                        for f in frames {
                            slices.push(f, r.patient_id.clone().unwrap_or_else(|| pid.clone()))?;
                            labels.push(class);
                        }
                    }
                    Err(e) => skipped.push(format!("{}: {}", r.file.display(), super::error::chain(&e))),
                }
            }
            if labels.is_empty() {
                return Err(PipelineError::Data(format!("task {task}: no readable labeled file")));
            }
            let all = LabeledSet::new(slices, labels, names.len().max(2))?;
            let (train, val, test) =
                all.split_by_patient(cfg.val_fraction.unwrap_or(0.15), cfg.test_fraction.unwrap_or(0.15), seed)?;
            tasks.push(TaskData { name: task, classes: names, train, val, test, positions: None });
        }
    }
    let leak = remove_task_patients(&mut pool, &tasks);
    if pool.slices.is_empty() && tasks.is_empty() {
        return Err(PipelineError::Data("no readable CT slice in the given folders".into()));
    }
    let description = format!(
        "DICOM: pre-training pool {} slices from {}; {} labeled task(s) from {}; {} file(s) skipped; {}",
        pool.slices.len(),
        cfg.pretrain_dir.as_ref().map_or("-".into(), |p| p.display().to_string()),
        tasks.len(),
        cfg.labels_csv.as_ref().map_or("-".into(), |p| p.display().to_string()),
        skipped.len(),
        leak.describe()
    );
    let content_hash = hash_of(&pool, &tasks);
    Ok(StudyData { pool, tasks, content_hash, skipped, description })
}

/// What [`remove_task_patients`] took out of a pre-training pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolLeak {
    /// Patients of a labeled task found in the pool.
    pub patients: usize,
    /// Their slices, removed from the pool.
    pub slices: usize,
}

impl PoolLeak {
    /// The line of `data.txt`: how many patients of the labeled tasks were removed from the pool.
    pub fn describe(&self) -> String {
        format!(
            "{} patient(s) of the labeled tasks found in the pre-training pool and removed from it ({} slices)",
            self.patients, self.slices
        )
    }
}

/// Removes from `pool` every slice of a patient who is in a labeled task (any split): pre-training on a
/// test patient's other slices would leak the test set into the encoder.
pub fn remove_task_patients(pool: &mut InMemorySlices, tasks: &[TaskData]) -> PoolLeak {
    let labeled: std::collections::HashSet<&str> = tasks
        .iter()
        .flat_map(|t| [&t.train, &t.val, &t.test])
        .flat_map(|set| set.slices.slices.iter().map(|s| s.patient_id.as_str()))
        .collect();
    let mut found: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let before = pool.slices.len();
    pool.slices.retain(|s| {
        let leak = labeled.contains(s.patient_id.as_str());
        if leak {
            found.insert(s.patient_id.clone());
        }
        !leak
    });
    PoolLeak { patients: found.len(), slices: before - pool.slices.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_csv_needs_file_and_label_and_resolves_paths() {
        let rows = parse_labels_csv("file,label,task\na.dcm,1,lung\n/abs/b.dcm,0,lung\n", Path::new("/data")).unwrap();
        assert_eq!(rows[0].file, PathBuf::from("/data/a.dcm"));
        assert_eq!(rows[1].file, PathBuf::from("/abs/b.dcm"));
        assert_eq!(rows[0].task, "lung");
        assert!(parse_labels_csv("path,class\n", Path::new(".")).is_err());
        let err = parse_labels_csv("file,label\na.dcm,\n", Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("label"), "{err}");
    }

    #[test]
    fn synthetic_data_keeps_pool_and_tasks_apart() {
        let cfg = DataConfig {
            source: crate::pipeline::config::DataSource::Phantom,
            phantom_seed: Some(3),
            train_patients: Some(3),
            val_patients: Some(2),
            test_patients: Some(2),
            pretrain_torso_patients: Some(2),
            pretrain_head_patients: Some(1),
            torso_slices: Some(8),
            head_slices: Some(4),
            phantom_image_size: Some(64),
            ..DataConfig::default()
        };
        let d = phantom_data(&cfg, &["lung".into(), "head".into()]).unwrap();
        assert_eq!(d.tasks.len(), 2);
        let pool_ids: std::collections::BTreeSet<&str> = d.pool.slices.iter().map(|s| s.patient_id.as_str()).collect();
        for t in &d.tasks {
            for s in [&t.train, &t.val, &t.test] {
                assert!(s.slices.slices.iter().all(|x| !pool_ids.contains(x.patient_id.as_str())));
            }
        }
        assert_eq!(d.content_hash, phantom_data(&cfg, &["lung".into(), "head".into()]).unwrap().content_hash);
        // the split sizes are the configured numbers of patients of each body part
        let patients = |s: &LabeledSet| {
            s.slices.slices.iter().map(|x| x.patient_id.clone()).collect::<std::collections::BTreeSet<_>>().len()
        };
        for t in &d.tasks {
            assert!(patients(&t.train) <= 3 && patients(&t.val) <= 2 && patients(&t.test) <= 2);
        }
        let head = d.tasks.iter().find(|t| t.name == "head").unwrap();
        assert_eq!(patients(&head.test), 2);
        // another phantom seed is another population
        let other = phantom_data(&DataConfig { phantom_seed: Some(4), ..cfg.clone() }, &["lung".into()]).unwrap();
        assert_ne!(other.content_hash, d.content_hash);
    }
}
