//! The main job: pre-train every method on unlabeled CT, fine-tune and linear-probe each (and random
//! initialisation) on the labeled tasks at shrinking label fractions with repeated seeds, and write
//! `report.md`, `results.csv` and plots. On the embedded synthetic patients by default.
//!
//! ```text
//! cargo run --release --example study                        # preset cpu-quick, runs/study-cpu-quick
//! cargo run --release --example study -- --preset cpu-full --out runs/full
//! cargo run --release --example study -- --methods spark,simclr --seeds 0,1 --fractions 1,0.1
//! cargo run --release --example study -- --data-dir /ct/unlabeled --labels /ct/labels.csv --tasks all
//! cargo run --release --example study -- --print-config > my.toml   # edit, then --config my.toml
//! cargo run --release --example study -- --task covid-ct:data/COVID-CT --task medmnist:data/organsmnist.npz \
//!     --pretrain-data data/LIDC-png --dedup --methods spark,moco_v2       # the paper's datasets (docs/paper.md)
//! ```
//!
//! Stopping and starting the same command again resumes: finished pre-training runs and evaluations are
//! kept, an interrupted pre-training run continues from its last checkpoint.

use std::path::PathBuf;

use clap::Parser;
use ctssl::pipeline::methods::Method;
use ctssl::pipeline::{run_study, StudyConfig};

#[path = "common/alloc.rs"]
mod alloc;

#[derive(Parser, Debug)]
#[command(about = "The label-fraction study: which pre-training holds up as labels shrink")]
struct Args {
    /// Preset: cpu-quick (default, ~20 min on 2 cores), cpu-full (hours), paper (ResNet-50, 224 px, GPU).
    #[arg(long, default_value = "cpu-quick")]
    preset: String,
    /// A TOML configuration file (replaces the preset; `--print-config` shows the format).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run folder (default: runs/study-<preset>); the same folder resumes a stopped study.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Methods, comma separated (spark, simclr, moco_v2, byol, swav, barlow_twins, vicreg, dino; `all`).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Tasks, comma separated (lung, organ, head; or the tasks of --labels, `all` for every one).
    #[arg(long, value_delimiter = ',')]
    tasks: Option<Vec<String>>,
    /// Label fractions in (0, 1], comma separated (every one fine-tuned unless --finetune-fractions).
    #[arg(long, value_delimiter = ',')]
    fractions: Option<Vec<f64>>,
    /// The fractions that are also fine-tuned (a subset of the fractions; the frozen-feature protocols
    /// run at every fraction).
    #[arg(long, value_delimiter = ',')]
    finetune_fractions: Option<Vec<f64>>,
    /// Seeds, comma separated.
    #[arg(long, value_delimiter = ',')]
    seeds: Option<Vec<u64>>,
    /// Pre-training epochs.
    #[arg(long)]
    pretrain_epochs: Option<u64>,
    /// Fine-tuning epochs (replaces the preset's step budget).
    #[arg(long)]
    finetune_epochs: Option<usize>,
    /// Fine-tuning optimizer steps, the same at every fraction (replaces the preset's epoch budget).
    #[arg(long)]
    finetune_steps: Option<usize>,
    /// Seed of the synthetic population (another seed renders other patients with the same settings).
    #[arg(long)]
    phantom_seed: Option<u64>,
    /// Leave out random initialisation.
    #[arg(long)]
    no_random_init: bool,
    /// Leave out the linear probe.
    #[arg(long)]
    no_linear_probe: bool,
    /// Folder of unlabeled DICOM CT for pre-training (switches the data source to dicom).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Labels CSV (`file,label[,task][,patient_id]`) of the user's labeled DICOM files.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// A labeled task as distributed, `kind:PATH`, repeatable: `covid-ct:DIR`, `medmnist:FILE.npz`,
    /// `csv:FILE` (columns file,label[,task][,patient_id][,split]), `head-ct:DIR` (docs/paper.md).
    #[arg(long = "task")]
    task: Vec<String>,
    /// Pre-training data, repeatable: a DICOM tree or a folder of image slices (told apart by content).
    #[arg(long = "pretrain-data")]
    pretrain_data: Vec<PathBuf>,
    /// Remove near-identical neighbouring slices from the pre-training data (threshold:
    /// `sources.dedup_max_distance`).
    #[arg(long)]
    dedup: bool,
    /// `cpu`, or `cuda` (GPU 0; needs the build feature `cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Print the resolved configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn resolve(a: &Args) -> Result<StudyConfig, Box<dyn std::error::Error>> {
    let mut cfg = match &a.config {
        Some(path) => StudyConfig::from_file(path)?,
        None => StudyConfig::preset(&a.preset)?,
    };
    if let Some(m) = &a.methods {
        cfg.pretrain.methods = if m.iter().any(|x| x == "all") {
            Method::ALL.to_vec()
        } else {
            m.iter()
                .map(|x| {
                    x.parse::<Method>().map_err(|_| {
                        let known: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                        format!("--methods: unknown method `{x}` (known: {}; or all)", known.join(", "))
                    })
                })
                .collect::<Result<_, _>>()?
        };
    }
    if let Some(t) = &a.tasks {
        cfg.protocol.tasks = t.clone();
    }
    if let Some(f) = &a.fractions {
        cfg.protocol.fractions = f.clone();
        // the preset's fine-tuning fractions were a choice among its own fractions
        cfg.protocol.finetune_fractions = None;
    }
    if let Some(f) = &a.finetune_fractions {
        cfg.protocol.finetune_fractions = Some(f.clone());
    }
    if let Some(s) = &a.seeds {
        cfg.protocol.seeds = s.clone();
        cfg.protocol.finetune_seeds = cfg.protocol.finetune_seeds.map(|n| n.min(s.len().max(1)));
    }
    if let Some(e) = a.pretrain_epochs {
        cfg.pretrain.epochs = e;
    }
    if let Some(e) = a.finetune_epochs {
        cfg.finetune.epochs = e;
        cfg.finetune.frozen_epochs = cfg.finetune.frozen_epochs.min(e);
        (cfg.finetune.steps, cfg.finetune.eval_every) = (0, 0);
    }
    if let Some(s) = a.finetune_steps {
        cfg.finetune.eval_every = if cfg.finetune.eval_every == 0 { s } else { cfg.finetune.eval_every.min(s) };
        (cfg.finetune.steps, cfg.finetune.epochs, cfg.finetune.frozen_epochs) = (s, 0, 0);
    }
    cfg.protocol.random_init &= !a.no_random_init;
    cfg.finetune.linear_probe &= !a.no_linear_probe;
    if a.data_dir.is_some() || a.labels.is_some() {
        if a.phantom_seed.is_some() {
            return Err("--phantom-seed applies to the synthetic data, not to --data-dir / --labels".into());
        }
        cfg.data.use_dicom(a.data_dir.clone(), a.labels.clone());
    }
    if let Some(s) = a.phantom_seed {
        cfg.data.phantom_seed = Some(s);
    }
    if !a.task.is_empty() {
        cfg.sources.tasks = a.task.clone();
    }
    if !a.pretrain_data.is_empty() {
        cfg.sources.pretrain_data = a.pretrain_data.clone();
    }
    cfg.sources.dedup |= a.dedup;
    cfg.validate()?;
    Ok(cfg)
}

fn main() {
    alloc::keep_freed_pages();
    // SAFETY: first thing in `main` (after a malloc setting), before any thread is started.
    unsafe { ctssl::pipeline::init_cpu_runtime() };
    ctssl::pipeline::init_logging();
    let args = Args::parse();
    let cfg = match resolve(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", ctssl::pipeline::error::report(&*e));
            std::process::exit(2);
        }
    };
    if args.print_config {
        match cfg.to_toml() {
            Ok(t) => print!("{t}"),
            Err(e) => {
                eprintln!("{}", ctssl::pipeline::error::report(&e));
                std::process::exit(2);
            }
        }
        return;
    }
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("study-{}", cfg.preset)));
    eprintln!("study `{}` in {}", cfg.preset, out.display());
    let device = match ctssl::pipeline::device(&args.device) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{}", ctssl::pipeline::error::report(&e));
            std::process::exit(2);
        }
    };
    match run_study(&cfg, &out, &device) {
        Ok(o) => {
            println!(
                "study finished: {} rows ({} evaluated now) in {:.1} min\nreport: {}\nresults: {}",
                o.rows,
                o.evaluated,
                o.seconds / 60.0,
                o.report.display(),
                o.results.display()
            );
        }
        Err(e) => {
            eprintln!("{}", ctssl::pipeline::error::report(&e));
            std::process::exit(1);
        }
    }
}
