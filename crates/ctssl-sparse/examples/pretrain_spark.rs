//! A short SparK pre-training run on synthetic CT (the `ctssl-phantom` pre-training pool) through
//! `ctssl-train`'s trainer, writing reconstruction previews and the exported encoder.
//!
//! `cargo run --release -p ctssl-sparse --example pretrain_spark -- --steps 300 --out target/spark_demo`
//!
//! Prints the mean loss of the first and last 20 steps; previews (`input | masked | reconstruction |
//! blend`) go to `<out>/previews/step_*.png`, the encoder to `<out>/encoder.safetensors`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use clap::Parser;
use ctssl_augment::{Image, InMemorySlices, Loader, LoaderConfig, Recipe};
use ctssl_backbones::ResNetConfig;
use ctssl_phantom::{Dataset, PhantomConfig};
use ctssl_sparse::{ExecutionPath, Spark, SparkConfig};
use ctssl_train::method::PretrainMethod;
use ctssl_train::optim::Lamb;
use ctssl_train::trainer::{RunLength, Trainer};

#[derive(Parser, Debug)]
struct Args {
    /// Backbone preset (resnet_tiny, resnet_tiny2, resnet18, resnet50).
    #[arg(long, default_value = "resnet_tiny")]
    arch: String,
    /// Image side.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Optimizer steps.
    #[arg(long, default_value_t = 300)]
    steps: u64,
    /// Peak learning rate. Default: SparK's peak at its reference batch of 4096 (2e-4 × 4096 / 256 =
    /// 3.2e-3); the rule `2e-4 × batch / 256` at a demo batch of 8 gives 6e-6, which barely moves in a few
    /// hundred steps.
    #[arg(long, default_value_t = 3.2e-3)]
    peak_lr: f64,
    /// Warm-up steps.
    #[arg(long, default_value_t = 20)]
    warmup_steps: u64,
    /// Decoder width (default: the preset's deepest channel count).
    #[arg(long)]
    decoder_width: Option<usize>,
    /// Encoder execution path: sparse or dense.
    #[arg(long, default_value = "sparse")]
    path: String,
    /// Unlabeled phantom patients (half torso, half head).
    #[arg(long, default_value_t = 16)]
    patients: usize,
    /// A preview every this many steps.
    #[arg(long, default_value_t = 100)]
    preview_every: u64,
    /// Output folder (emptied of an earlier run's checkpoints first).
    #[arg(long, default_value = "target/spark_demo")]
    out: PathBuf,
    /// Seed of everything.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let t0 = Instant::now();
    let phantom = PhantomConfig {
        seed: args.seed,
        image_size: args.size,
        torso_patients: 0,
        head_patients: 0,
        pretrain_torso_patients: args.patients.div_ceil(2),
        pretrain_head_patients: args.patients / 2,
        ..PhantomConfig::default()
    };
    let dataset = Dataset::generate(phantom)?;
    let mut source = InMemorySlices::new();
    for (p, k) in dataset.pretrain_slices() {
        let slice = &dataset.patients[p].slices[k];
        source.push(Image::from_vec(slice.size, slice.size, slice.values.clone())?, format!("patient-{p}"))?;
    }
    let slices = source.slices.len();
    println!("phantom: {slices} slices of {} px in {:.1} s", args.size, t0.elapsed().as_secs_f64());

    let mut cfg = SparkConfig::default().with_path(ExecutionPath::from_name(&args.path)?);
    if let Some(w) = args.decoder_width {
        cfg = cfg.with_decoder_width(w);
    }
    cfg.optimizer.base_lr = args.peak_lr * 256.0 / args.batch as f64;
    let recipe = Recipe::by_name(&cfg.recipe, args.size)?;
    let loader = Loader::new(
        source,
        recipe,
        LoaderConfig { batch_size: args.batch, seed: args.seed, ..LoaderConfig::default() },
    )?;
    let steps_per_epoch = loader.num_batches() as u64;
    let epochs = args.steps.div_ceil(steps_per_epoch.max(1));
    let total = epochs * steps_per_epoch;
    cfg.optimizer.warmup_epochs = 0.0;
    let length = RunLength { epochs, steps_per_epoch, batch_size: args.batch };
    let mut trainer_cfg = cfg.optimizer.trainer_config(length, args.seed)?;
    if let ctssl_train::schedule::Schedule::WarmupCosine { warmup_steps, .. } = &mut trainer_cfg.lr {
        *warmup_steps = args.warmup_steps.min(total);
    }
    trainer_cfg.checkpoint_every = 0;
    trainer_cfg.keep_last = 1;
    trainer_cfg.log_every_s = 30.0;

    let previews = args.out.join("previews");
    let run_dir = args.out.join("run");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)?;
    }
    let dev = Device::Cpu;
    let mut method = Spark::new(ResNetConfig::from_name(&args.arch)?, cfg.clone(), args.seed, &dev)?.with_previews(
        &previews,
        args.preview_every,
        4,
    );
    let mut opt =
        Lamb::new(cfg.optimizer.param_groups(method.trainable_vars()), cfg.optimizer.lamb_config(args.batch))?;
    println!(
        "SparK {} ({:?} path), mask ratio {}, batch {}, {} steps ({epochs} epochs of {steps_per_epoch}), peak lr {:.2e}",
        args.arch,
        cfg.path,
        cfg.mask_ratio,
        args.batch,
        args.steps,
        cfg.optimizer.peak_lr(args.batch)
    );
    let trainer = Trainer::new(trainer_cfg, &run_dir)?.stop_after(args.steps);
    let t = Instant::now();
    let summary = trainer.run(&mut method, &mut opt, &loader)?;
    let seconds = t.elapsed().as_secs_f64();

    // Loss curve from the trainer's log.
    let log = std::fs::read_to_string(run_dir.join("metrics.jsonl"))?;
    let losses: Vec<f64> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("loss").and_then(|x| x.as_f64()))
        .collect();
    let k = 20.min(losses.len() / 2).max(1);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    let first = mean(&losses[..k.min(losses.len())]);
    let last = mean(&losses[losses.len().saturating_sub(k)..]);
    ctssl_backbones::save_safetensors(&method.encoder_state_dict()?, args.out.join("encoder.safetensors"))?;
    println!(
        "steps={} seconds={seconds:.1} images_per_second={:.2}",
        summary.steps_done,
        (summary.steps_done as f64 * args.batch as f64) / seconds
    );
    println!("loss_first_{k}={first:.4}");
    println!("loss_last_{k}={last:.4}");
    println!("previews in {}", previews.display());
    Ok(())
}
