//! Pre-trains one method on unlabeled CT — the embedded synthetic patients, or a DICOM folder (scanned
//! recursively; unreadable files are reported and skipped) — and writes checkpoints and the encoder
//! (`encoder.safetensors`, torchvision names) into the run folder. Started again with the same folder,
//! it resumes from the last checkpoint.
//!
//! ```text
//! cargo run --release --example pretrain -- --method spark --out runs/spark
//! cargo run --release --example pretrain -- --method byol --data-dir /ct/unlabeled --epochs 20 --out runs/byol
//! cargo run --release --example pretrain -- --method spark --pretrain-data data/LIDC-png --dedup --out runs/spark
//! ```

use std::path::PathBuf;

use clap::Parser;
use ctssl::pipeline::data::{dicom_data, phantom_data};
use ctssl::pipeline::methods::{Method, RunShape, Views};
use ctssl::pipeline::pretrain::{pretrain, PretrainRequest};
use ctssl::pipeline::StudyConfig;
use ctssl::train::trainer::RunLength;

#[path = "common/alloc.rs"]
mod alloc;

#[derive(Parser, Debug)]
#[command(about = "Pre-train one self-supervised method on CT slices")]
struct Args {
    /// spark, simclr, moco_v2, byol, swav, barlow_twins, vicreg or dino (also moco, barlow).
    #[arg(long)]
    method: String,
    /// Run folder.
    #[arg(long)]
    out: PathBuf,
    /// Preset giving the backbone, image size, batch and data defaults.
    #[arg(long, default_value = "cpu-quick")]
    preset: String,
    /// Folder of unlabeled DICOM CT (default: the synthetic pre-training pool).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Pre-training data, repeatable: a DICOM tree or a folder of image slices (PNG/JPEG), told apart by
    /// content; image slices get the preset's image mapping (docs/paper.md).
    #[arg(long = "pretrain-data")]
    pretrain_data: Vec<PathBuf>,
    /// Remove near-identical neighbouring slices from `--pretrain-data`.
    #[arg(long)]
    dedup: bool,
    /// Epochs (default: the preset's).
    #[arg(long)]
    epochs: Option<u64>,
    /// Batch size (default: the preset's).
    #[arg(long)]
    batch: Option<usize>,
    /// Use every method's own published views instead of the study's recipe.
    #[arg(long)]
    own_views: bool,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `cpu` or `cuda`.
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let method: Method = a.method.parse()?;
    let mut cfg = StudyConfig::preset(&a.preset)?;
    let device = ctssl::pipeline::device(&a.device)?;
    cfg.sources.dedup |= a.dedup;
    let mut input = cfg.input()?;
    let data = match &a.data_dir {
        None if !a.pretrain_data.is_empty() => {
            let p = ctssl::pipeline::sources::load_pool_data(&cfg, &a.pretrain_data)?;
            input = ctssl::pipeline::sources::input_for(&cfg, p.kind)?;
            ctssl::pipeline::data::StudyData {
                pool: p.slices,
                tasks: Vec::new(),
                content_hash: String::new(),
                skipped: p.left_out,
                description: p.summary,
            }
        }
        Some(dir) => {
            cfg.data.use_dicom(Some(dir.clone()), None);
            dicom_data(&cfg.data, a.seed)?
        }
        None => phantom_data(&cfg.data, &[])?,
    };
    for s in &data.skipped {
        eprintln!("skipped {s}");
    }
    eprintln!("data: {}", data.description);
    let req = PretrainRequest {
        method,
        backbone: cfg.backbone()?,
        shape: RunShape {
            image_size: cfg.model.image_size,
            length: RunLength {
                epochs: a.epochs.unwrap_or(cfg.pretrain.epochs),
                steps_per_epoch: 0,
                batch_size: a.batch.unwrap_or(cfg.pretrain.batch_size),
            },
            lr_scale: cfg.pretrain.lr_scale,
            seed: a.seed,
            decoder_width: cfg.pretrain.spark_decoder_width,
            spark_norm_pix: cfg.pretrain.spark_norm_pix,
        },
        views: if a.own_views { Views::Own } else { cfg.pretrain.views },
        input,
        checkpoint_every: cfg.pretrain.checkpoint_every,
        stop_after: None,
    };
    let o = pretrain(&req, &data.pool, &a.out, &device)?;
    match o.summary {
        Some(s) => println!(
            "{}: {} of {} steps, last loss {:?}, {:.0} s; encoder {}",
            method,
            s.steps_done,
            s.total_steps,
            s.last_loss,
            o.seconds,
            o.encoder.display()
        ),
        None => println!("{method} is already pre-trained: {}", o.encoder.display()),
    }
    Ok(())
}

fn main() {
    alloc::keep_freed_pages();
    // SAFETY: first thing in `main` (after a malloc setting), before any thread is started.
    unsafe { ctssl::pipeline::init_cpu_runtime() };
    ctssl::pipeline::init_logging();
    if let Err(e) = run(&Args::parse()) {
        eprintln!("{}", ctssl::pipeline::error::report(&*e));
        std::process::exit(1);
    }
}
