//! Fine-tunes (and linear-probes) a ResNet on a labeled CT task — synthetic (`lung`, `organ`, `head`) or a
//! labels CSV of the user's DICOM files — from a pre-trained encoder, torchvision weights, or random
//! initialisation, on a fraction of the training patients, and prints the test metrics; with `--out`, keeps
//! them (`results.csv`) and the fine-tuned model (`model.safetensors`) in a run folder that resumes.
//!
//! ```text
//! cargo run --release --example finetune -- --task lung --init random
//! cargo run --release --example finetune -- --task head --init encoder:runs/spark/encoder.safetensors --fraction 0.1 --out runs/ft-head
//! cargo run --release --example finetune -- --task covid-ct:data/COVID-CT --init encoder:runs/spark/encoder.safetensors
//! cargo run --release --example finetune -- --labels /ct/labels.csv --task default --init torchvision:resnet50.safetensors --preset paper
//! ```

use std::path::PathBuf;

use clap::Parser;
use ctssl::pipeline::data::{dicom_data, phantom_data};
use ctssl::pipeline::evaluate::{EvalPoint, Init};
use ctssl::pipeline::finetune::{finetune_run, FinetuneJob};
use ctssl::pipeline::StudyConfig;
use ctssl::study::nested_subsets;

#[path = "common/alloc.rs"]
mod alloc;

#[derive(Parser, Debug)]
#[command(about = "Fine-tune and linear-probe a ResNet on a labeled CT task")]
struct Args {
    /// Task: lung, organ, head (synthetic), a task of --labels (`default` when the CSV has no task column), or
    /// a dataset as distributed, `kind:PATH` (`covid-ct:DIR`, `medmnist:FILE.npz`, `csv:FILE`, `head-ct:DIR`).
    #[arg(long)]
    task: String,
    /// `random`, `encoder:<file>` (ours) or `torchvision:<file>` (a torchvision state dict as safetensors).
    #[arg(long, default_value = "random")]
    init: String,
    /// Fraction of the training patients (stratified, patient level).
    #[arg(long, default_value_t = 1.0)]
    fraction: f64,
    /// Seed of the subset and of the training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Preset giving the backbone, image size and fine-tuning settings.
    #[arg(long, default_value = "cpu-quick")]
    preset: String,
    /// Labels CSV of the user's DICOM files (`file,label[,task][,patient_id]`).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Fine-tuning epochs (default: the preset's budget; replaces a step budget).
    #[arg(long)]
    epochs: Option<usize>,
    /// Fine-tuning optimizer steps (default: the preset's budget; replaces an epoch budget).
    #[arg(long)]
    steps: Option<usize>,
    /// `cpu` or `cuda`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Run folder: keeps `results.csv` and the fine-tuned `model.safetensors`; the same command with the same
    /// folder resumes an interrupted run and redoes nothing of a finished one.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = StudyConfig::preset(&a.preset)?;
    if let Some(e) = a.epochs {
        cfg.finetune.epochs = e;
        cfg.finetune.frozen_epochs = cfg.finetune.frozen_epochs.min(e);
        (cfg.finetune.steps, cfg.finetune.eval_every) = (0, 0);
    }
    if let Some(s) = a.steps {
        cfg.finetune.eval_every = if cfg.finetune.eval_every == 0 { s } else { cfg.finetune.eval_every.min(s) };
        (cfg.finetune.steps, cfg.finetune.epochs, cfg.finetune.frozen_epochs) = (s, 0, 0);
    }
    let device = ctssl::pipeline::device(&a.device)?;
    let init = match a.init.split_once(':') {
        None if a.init == "random" => Init::Random,
        Some(("encoder", p)) => Init::Encoder(PathBuf::from(p)),
        Some(("torchvision", p)) => Init::Torchvision(PathBuf::from(p)),
        _ => return Err(format!("--init {}: use random, encoder:<file> or torchvision:<file>", a.init).into()),
    };
    let spec = ctssl::pipeline::sources::TaskSpec::is_spec(&a.task);
    let data = match &a.labels {
        _ if spec => {
            cfg.sources.tasks = vec![a.task.clone()];
            cfg.pretrain.methods.clear();
            ctssl::pipeline::sources::study_data(&cfg)?.0
        }
        Some(csv) => {
            cfg.data.use_dicom(None, Some(csv.clone()));
            dicom_data(&cfg.data, a.seed)?
        }
        None => phantom_data(&cfg.data, std::slice::from_ref(&a.task))?,
    };
    let data = if spec { data } else { data.with_input(&cfg.input()?) };
    for s in &data.skipped {
        eprintln!("skipped {s}");
    }
    let task = data
        .tasks
        .iter()
        .find(|t| spec || t.name == a.task)
        .ok_or_else(|| format!("no task `{}` in the data", a.task))?;
    let patients: Vec<String> = task.train.slices.slices.iter().map(|s| s.patient_id.clone()).collect();
    let subsets = nested_subsets(&patients, &task.train.labels, &[a.fraction], a.seed)?;
    let Some(subset) = subsets.subsets.first() else {
        return Err(format!("fraction {}: {:?}", a.fraction, subsets.skipped).into());
    };
    let backbone = cfg.backbone()?;
    let point = EvalPoint { task, init_name: &a.init, subset, seed: a.seed };
    let description = format!(
        "task {}\ninit {}\nfraction {}\nseed {}\ndata {}\n\n{}",
        a.task,
        a.init,
        a.fraction,
        a.seed,
        data.content_hash,
        cfg.to_toml()?
    );
    let job = FinetuneJob {
        init: &init,
        backbone: &backbone,
        settings: &cfg.finetune,
        image_size: cfg.model.image_size,
        description: &description,
    };
    let outcome = finetune_run(point, job, a.out.as_deref(), &device)?;
    if outcome.resumed_done {
        println!("already done in {}", a.out.as_deref().unwrap_or(std::path::Path::new(".")).display());
    }
    println!(
        "task {} ({} classes: {}), {} of {} training patients ({} slices), test {} slices",
        task.name,
        task.classes.len(),
        task.classes.join(", "),
        subset.patients.len(),
        {
            let mut p = patients.clone();
            p.sort();
            p.dedup();
            p.len()
        },
        subset.indices.len(),
        task.test.len()
    );
    for r in &outcome.rows {
        println!(
            "{:<12} ROC-AUC {:.3} ± {:.3}  accuracy {:.3}  balanced accuracy {:.3}  macro F1 {:.3}  (kept at {}, {:.1} s)",
            r.protocol.name(),
            r.roc_auc,
            r.roc_auc_se,
            r.accuracy,
            r.balanced_accuracy,
            r.f1_macro,
            r.best_epoch,
            r.seconds
        );
    }
    if let Some(model) = &outcome.model {
        println!("fine-tuned model: {}", model.display());
    }
    Ok(())
}

fn main() {
    alloc::keep_freed_pages();
    // SAFETY: first thing in `main` (after a malloc setting), before any thread is started.
    unsafe { ctssl::pipeline::init_cpu_runtime() };
    if let Err(e) = run(&Args::parse()) {
        eprintln!("{}", ctssl::pipeline::error::report(&*e));
        std::process::exit(1);
    }
}
