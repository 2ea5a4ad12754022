//! The whole study: pre-train every method on the unlabeled pool, then for every task, seed, label
//! fraction and initialisation (each method and random), fine-tune and linear-probe, and write
//! `results.csv`, `report.md` and the plots. Every finished evaluation is saved at once; a stopped study
//! started again with the same folder redoes nothing that is finished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use ctssl_study::{
    nested_subsets, permille, write_checks, write_comparisons, write_report, NestedSubsets, Protocol, ResultsTable,
    RunFacts, RunKey,
};
use ctssl_train::checkpoint::write_bytes_atomic;
use ctssl_train::run_lock::RunLock;
use ctssl_train::trainer::RunLength;
use indicatif::{ProgressBar, ProgressStyle};

use super::analysis::{analyse, RANDOM, RANDOM_CONTROL};
use super::config::{DataSource, StudyConfig};
use super::data::{dicom_data, phantom_data, StudyData};
use super::error::{PipelineError, Result};
use super::evaluate::{finetune_model, knn_point, probe_point, task_features, EvalPoint, Init, TaskFeatures};
use super::methods::RunShape;
use super::pretrain::{pretrain, PretrainRequest};

/// The subsets of every (task, seed).
type Subsets = BTreeMap<(String, u64), NestedSubsets>;

/// The initialisations to evaluate (name, weights) and each method's pre-training seconds.
type Initialisations = (Vec<(String, Init)>, BTreeMap<String, f64>);

/// What a finished study left behind.
#[derive(Debug, Clone)]
pub struct StudyOutcome {
    /// `report.md`.
    pub report: PathBuf,
    /// `results.csv`.
    pub results: PathBuf,
    /// Rows in the results table.
    pub rows: usize,
    /// Evaluations run by this call (the rest were already done).
    pub evaluated: usize,
    /// Wall time of this call in seconds.
    pub seconds: f64,
}

/// The current commit of the source tree, if it is a git checkout (`<hash>` or `<hash>+modified`).
pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash}+modified")
            } else {
                hash
            }
        }
        _ => "unknown (not a git checkout)".into(),
    }
}

/// The input mapping in words: `3 windows (centre/width -600/1500, 40/400, 40/80 HU) → (x − 0.5) / 0.5`.
fn describe_input(cfg: &StudyConfig) -> String {
    let windows = if cfg.model.windows.is_empty() {
        "per-slice min–max, 1 channel".to_string()
    } else {
        let w: Vec<String> = cfg.model.windows.iter().map(|[c, w]| format!("{c}/{w}")).collect();
        format!("{} window(s) as channels (centre/width {} HU)", w.len(), w.join(", "))
    };
    match cfg.model.standardize {
        Some([m, s]) => format!("{windows}, then (x − {m}) / {s}"),
        None => windows,
    }
}

fn load_data(cfg: &StudyConfig) -> Result<StudyData> {
    match cfg.data.source {
        DataSource::Phantom => phantom_data(&cfg.data, &cfg.protocol.tasks),
        DataSource::Dicom => {
            let mut d = dicom_data(&cfg.data, cfg.pretrain.seed)?;
            d.tasks.retain(|t| {
                cfg.protocol.tasks.iter().any(|n| n == &t.name) || cfg.protocol.tasks.iter().any(|n| n == "all")
            });
            Ok(d)
        }
    }
}

/// Checks that `out` holds no study of another configuration or other data, then records this one.
fn claim_folder(cfg: &StudyConfig, data: &StudyData, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| PipelineError::io(out, e))?;
    let toml = cfg.to_toml()?;
    let cfg_path = out.join("config.toml");
    if let Ok(old) = std::fs::read_to_string(&cfg_path) {
        if old != toml {
            return Err(PipelineError::Config(format!(
                "{} holds a study with another configuration; choose another --out or delete the folder",
                out.display()
            )));
        }
    }
    let data_path = out.join("data.txt");
    if let Ok(old) = std::fs::read_to_string(&data_path) {
        if old.lines().next() != Some(data.content_hash.as_str()) {
            return Err(PipelineError::Config(format!(
                "{} holds a study of other data (hash {}, now {})",
                out.display(),
                old.lines().next().unwrap_or(""),
                data.content_hash
            )));
        }
    }
    write_bytes_atomic(&cfg_path, toml.as_bytes())?;
    let mut record = format!("{}\n{}\n", data.content_hash, data.description);
    for s in &data.skipped {
        record.push_str(&format!("skipped: {s}\n"));
    }
    write_bytes_atomic(&data_path, record.as_bytes())?;
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})")
    {
        pb.set_style(style);
    }
    pb.set_message(what.to_string());
    pb
}

/// Runs (or resumes) the study of `cfg` in `out`.
pub fn run_study(cfg: &StudyConfig, out: &Path, device: &Device) -> Result<StudyOutcome> {
    let t0 = Instant::now();
    cfg.validate()?;
    // Held until the study returns: a second process on this folder is refused instead of interleaving.
    let _lock = RunLock::acquire(out)?;
    let input = cfg.input()?;
    let t_data = Instant::now();
    let (data, sources) = if cfg.sources.active() {
        super::sources::study_data(cfg)?
    } else {
        (load_data(cfg)?.with_input(&input), super::sources::SourceInfo::hounsfield(&input))
    };
    let data_seconds = t_data.elapsed().as_secs_f64();
    for s in &data.skipped {
        tracing::warn!("skipped {s}");
    }
    tracing::info!("data: {} ({}) in {data_seconds:.0} s", data.description, data.content_hash);
    claim_folder(cfg, &data, out)?;
    let backbone = cfg.backbone()?;

    let (inits, pretrain_seconds) = pretrain_all(cfg, &data, out, &backbone, &sources.pool_input, device)?;
    let (subsets, skipped) = draw_subsets(cfg, &data)?;
    let results_path = out.join("results.csv");
    let mut table = ResultsTable::load(&results_path)?;
    let evaluated = evaluate_all(cfg, &data, &inits, &subsets, &mut table, &results_path, &backbone, device)?;

    let analysis = analyse(cfg, &data, &table.rows, out)?;
    write_comparisons(out, &analysis.comparisons)?;
    write_checks(out, &analysis.checks)?;
    let mut facts = run_facts(cfg, &data, &pretrain_seconds, evaluated, t0, device);
    facts.extend(sources.facts.iter().cloned());
    let report = write_report(out, &table.rows, &facts, &skipped, &analysis)?;
    Ok(StudyOutcome {
        report,
        results: results_path,
        rows: table.rows.len(),
        evaluated,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Pre-trains every method of `cfg` (or finds it done) and lists the initialisations to evaluate: random
/// (and its negative control), then each method's encoder; with each method's pre-training time.
fn pretrain_all(
    cfg: &StudyConfig,
    data: &StudyData,
    out: &Path,
    backbone: &ctssl_backbones::ResNetConfig,
    pool_input: &ctssl_train::eval::InputMapping,
    device: &Device,
) -> Result<Initialisations> {
    let mut seconds: BTreeMap<String, f64> = BTreeMap::new();
    let mut inits: Vec<(String, Init)> = Vec::new();
    if cfg.protocol.random_init {
        inits.push((RANDOM.into(), Init::Random));
        if cfg.protocol.negative_control {
            inits.push((RANDOM_CONTROL.into(), Init::RandomControl));
        }
    }
    for &method in &cfg.pretrain.methods {
        let dir = out.join("pretrain").join(method.name());
        let req = PretrainRequest {
            method,
            backbone: backbone.clone(),
            shape: RunShape {
                image_size: cfg.model.image_size,
                length: RunLength {
                    epochs: cfg.pretrain.epochs,
                    steps_per_epoch: 0,
                    batch_size: cfg.pretrain.batch_size,
                },
                lr_scale: cfg.pretrain.lr_scale,
                seed: cfg.pretrain.seed,
                decoder_width: cfg.pretrain.spark_decoder_width,
                spark_norm_pix: cfg.pretrain.spark_norm_pix,
            },
            views: cfg.pretrain.views,
            input: pool_input.clone(),
            checkpoint_every: cfg.pretrain.checkpoint_every,
            stop_after: None,
        };
        tracing::info!("pre-training {method} ...");
        let o = pretrain(&req, &data.pool, &dir, device)?;
        let secs_path = dir.join("seconds.txt");
        let previous = || std::fs::read_to_string(&secs_path).ok().and_then(|s| s.trim().parse::<f64>().ok());
        let secs = match &o.summary {
            Some(_) => {
                let total = previous().unwrap_or(0.0) + o.seconds;
                write_bytes_atomic(&secs_path, format!("{total:.1}\n").as_bytes())?;
                total
            }
            None => previous().unwrap_or(f64::NAN),
        };
        tracing::info!("pre-trained {method} in {secs:.0} s: {}", o.encoder.display());
        seconds.insert(method.to_string(), secs);
        inits.push((method.to_string(), Init::Encoder(o.encoder)));
    }
    Ok((inits, seconds))
}

/// The nested, stratified, patient-level subsets of every task and seed, and the fractions skipped.
fn draw_subsets(cfg: &StudyConfig, data: &StudyData) -> Result<(Subsets, BTreeMap<String, Vec<String>>)> {
    let mut subsets: Subsets = BTreeMap::new();
    let mut skipped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for task in &data.tasks {
        let patients: Vec<String> = task.train.slices.slices.iter().map(|s| s.patient_id.clone()).collect();
        for &seed in &cfg.protocol.seeds {
            let s = nested_subsets(&patients, &task.train.labels, &cfg.protocol.fractions, seed)?;
            for k in &s.skipped {
                skipped.entry(task.name.clone()).or_default().push(format!(
                    "{:.0} % (seed {seed}): {}",
                    k.fraction * 100.0,
                    k.reason
                ));
            }
            subsets.insert((task.name.clone(), seed), s);
        }
    }
    Ok((subsets, skipped))
}

/// The protocols of `cfg` at `fraction` for the seed at `seed_index`, in the order they are run: the
/// frozen-feature protocols everywhere, fine-tuning at its fractions and seeds.
fn protocols(cfg: &StudyConfig, fraction: f64, seed_index: usize) -> Vec<Protocol> {
    let pr = &cfg.protocol;
    let finetune = pr.finetune_seeds.is_none_or(|n| seed_index < n)
        && pr.finetune_fractions.as_ref().is_none_or(|f| f.iter().any(|g| permille(*g) == permille(fraction)));
    let mut p = if finetune { vec![Protocol::Finetune] } else { Vec::new() };
    if cfg.finetune.linear_probe {
        p.push(Protocol::LinearProbe);
    }
    if cfg.finetune.knn_k > 0 {
        p.push(Protocol::Knn);
    }
    p
}

/// Runs every evaluation not yet in `table`, saving the table after each; returns how many ran.
#[allow(clippy::too_many_arguments)]
fn evaluate_all(
    cfg: &StudyConfig,
    data: &StudyData,
    inits: &[(String, Init)],
    subsets: &Subsets,
    table: &mut ResultsTable,
    results_path: &Path,
    backbone: &ctssl_backbones::ResNetConfig,
    device: &Device,
) -> Result<usize> {
    let done = table.done();
    let key = |task: &str, init: &str, protocol: Protocol, fraction: f64, seed: u64| RunKey {
        task: task.to_string(),
        init: init.to_string(),
        protocol,
        fraction_permille: permille(fraction),
        seed,
    };
    let mut todo = 0u64;
    for task in &data.tasks {
        for (name, _) in inits {
            for (si, &seed) in cfg.protocol.seeds.iter().enumerate() {
                for sub in &subsets[&(task.name.clone(), seed)].subsets {
                    for p in protocols(cfg, sub.fraction, si) {
                        todo += u64::from(!done.contains(&key(&task.name, name, p, sub.fraction, seed)));
                    }
                }
            }
        }
    }
    let pb = bar(todo, "evaluating");
    let mut evaluated = 0usize;
    for task in &data.tasks {
        for (name, init) in inits {
            // Frozen features: once per encoder, once per seed for random weights.
            let mut features: BTreeMap<u64, TaskFeatures> = BTreeMap::new();
            for (si, &seed) in cfg.protocol.seeds.iter().enumerate() {
                for sub in &subsets[&(task.name.clone(), seed)].subsets {
                    let point = EvalPoint { task, init_name: name, subset: sub, seed };
                    for p in protocols(cfg, sub.fraction, si) {
                        if done.contains(&key(&task.name, name, p, sub.fraction, seed)) {
                            continue;
                        }
                        pb.set_message(format!("{} {name}", task.name));
                        let row = match p {
                            Protocol::Finetune => {
                                finetune_model(point, init, backbone, &cfg.finetune, cfg.model.image_size, device)?.0
                            }
                            Protocol::LinearProbe | Protocol::Knn => {
                                let fseed = if init.seeded() { seed } else { 0 };
                                let f = match features.entry(fseed) {
                                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                                    std::collections::btree_map::Entry::Vacant(e) => e.insert(task_features(
                                        backbone,
                                        init,
                                        task,
                                        fseed,
                                        cfg.model.image_size,
                                        device,
                                    )?),
                                };
                                if p == Protocol::Knn {
                                    knn_point(point, f, cfg.finetune.knn_k)?
                                } else {
                                    probe_point(point, f, &cfg.finetune)?
                                }
                            }
                        };
                        let line = format!(
                            "{:<6} {:<12} {:<12} {:>5.1} % seed {} : AUC {:.3} ± {:.3} acc {:.3} ({:.1} s)",
                            row.task,
                            row.init,
                            row.protocol.name(),
                            row.fraction * 100.0,
                            row.seed,
                            row.roc_auc,
                            row.roc_auc_se,
                            row.accuracy,
                            row.seconds
                        );
                        if pb.is_hidden() {
                            tracing::info!("{line}");
                        } else {
                            pb.println(line);
                        }
                        table.push(row);
                        table.save(results_path)?;
                        ctssl_train::hold::hold_point("evaluation");
                        evaluated += 1;
                        pb.inc(1);
                    }
                }
            }
        }
    }
    pb.finish_and_clear();
    Ok(evaluated)
}

/// What the report says about the run besides its results.
fn run_facts(
    cfg: &StudyConfig,
    data: &StudyData,
    pretrain_seconds: &BTreeMap<String, f64>,
    evaluated: usize,
    t0: Instant,
    device: &Device,
) -> RunFacts {
    let threads = rayon::current_num_threads();
    let f = &cfg.finetune;
    let budget = if f.steps > 0 {
        format!(
            "{} optimizer steps of the whole network at every fraction and for every initialisation, validation every {} steps",
            f.steps, f.eval_every
        )
    } else {
        format!("{} epochs ({} with the backbone frozen, for every initialisation)", f.epochs, f.frozen_epochs)
    };
    let mut facts: Vec<(String, String)> = vec![
        ("preset".into(), cfg.preset.clone()),
        ("data".into(), data.description.clone()),
        ("data hash".into(), data.content_hash.clone()),
        (
            "split sizes (slices)".into(),
            data.tasks
                .iter()
                .map(|t| format!("{} {} / {} / {}", t.name, t.train.len(), t.val.len(), t.test.len()))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        (
            "backbone".into(),
            format!(
                "{} (stem {}, width {}), {} px, input: {}",
                cfg.model.arch,
                cfg.model.stem,
                cfg.model.base_width,
                cfg.model.image_size,
                describe_input(cfg)
            ),
        ),
        (
            "pre-training".into(),
            format!(
                "{} epochs over the pool ({} slices), batch {}, seed {}; views `{}`",
                cfg.pretrain.epochs,
                data.pool.slices.len(),
                cfg.pretrain.batch_size,
                cfg.pretrain.seed,
                cfg.pretrain.views
            ),
        ),
        (
            "pre-training time".into(),
            pretrain_seconds.iter().map(|(m, s)| format!("{m} {s:.0} s")).collect::<Vec<_>>().join(", "),
        ),
        (
            "fine-tuning".into(),
            format!(
                "Adam lr {}, L2 weight decay {}, batch {}, {budget}; augmentation `{}`; kept on validation `{}`",
                f.lr,
                f.weight_decay,
                f.batch_size,
                serde_json::to_value(f.augment).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(),
                serde_json::to_value(f.selection).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            ),
        ),
        (
            "label fractions".into(),
            cfg.protocol.fractions.iter().map(|f| format!("{} %", f * 100.0)).collect::<Vec<_>>().join(", "),
        ),
        (
            "seeds".into(),
            format!(
                "{:?} (each draws its own nested, stratified, patient-level subsets, fine-tuning order and random weights)",
                cfg.protocol.seeds
            ),
        ),
        ("git commit".into(), git_commit()),
        ("machine".into(), format!("{} {}, {threads} threads, device {device:?}", std::env::consts::OS, std::env::consts::ARCH)),
        ("this call".into(), format!("{evaluated} evaluations in {:.1} min", t0.elapsed().as_secs_f64() / 60.0)),
    ];
    if cfg.pretrain.methods.iter().any(|m| m.name() == "spark") {
        let target = if cfg.pretrain.spark_norm_pix {
            "each masked patch normalised by its own mean and deviation (published)"
        } else {
            "the windowed values of each masked patch, level included (norm_pix_loss off; docs/spark.md)"
        };
        facts.push(("SparK's target".into(), target.into()));
    }
    if f.linear_probe {
        let grid: Vec<String> = f.probe_grid().iter().map(|v| format!("{v:.3e}")).collect();
        facts.push((
            "linear probe".into(),
            format!(
                "logistic regression on frozen pooled features (standardised), fitted exactly for each L2 \
                 strength of {{{}}}, the strength kept selected as in fine-tuning",
                grid.join(", ")
            ),
        ));
    }
    if f.knn_k > 0 {
        facts.push(("kNN".into(), format!("k = {}, cosine similarity, votes weighted exp(s / 0.07)", f.knn_k)));
    }
    facts
}
