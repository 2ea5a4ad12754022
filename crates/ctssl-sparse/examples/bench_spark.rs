//! Times SparK pre-training steps on synthetic images.
//!
//! `cargo run --release -p ctssl-sparse --example bench_spark -- --arch resnet18 --size 128 --batch 16 --path sparse`
//! (`--path dense` for the dense-masked reference, `--decoder-width 256` for a lighter decoder,
//! `--encoder-only` to time the encoder alone, `--plain` to also time the unmasked dense backbone).
//!
//! Prints the seconds per step of each part (`seconds_per_step_<part>=`: encoder, densify, decoder and
//! loss forward, the whole backward, the optimizer) and, as its last lines, `encoder_images_per_second=`
//! (the masked encoder's forward + backward alone), `images_per_second=` (the whole step: encoder,
//! densify, decoder, loss, backward, AdamW) and `peak_memory_mb=` (the process's peak resident set,
//! VmHWM, Linux only).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use clap::Parser;
use ctssl_backbones::ResNetConfig;
use ctssl_sparse::{ExecutionPath, MaskGenerator, SparkConfig, SparkModel};

#[derive(Parser, Debug)]
struct Args {
    /// Backbone: resnet18, resnet34, resnet50, resnet_tiny, resnet_tiny2.
    #[arg(long, default_value = "resnet18")]
    arch: String,
    /// Square image size (divisible by the backbone's total stride).
    #[arg(long, default_value_t = 128)]
    size: usize,
    /// Images per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Execution path of the encoder: dense (dense-masked reference) or sparse.
    #[arg(long, default_value = "dense")]
    path: String,
    /// Fraction of masked cells.
    #[arg(long, default_value_t = 0.6)]
    mask_ratio: f64,
    /// Decoder width (default: SparK's 768; small-stem presets: their deepest channel count).
    #[arg(long)]
    decoder_width: Option<usize>,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Seed of weights, images and masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also time the plain (unmasked) backbone's forward + backward.
    #[arg(long)]
    plain: bool,
    /// Skip the whole-step timing (encoder only).
    #[arg(long)]
    encoder_only: bool,
}

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let path = ExecutionPath::from_name(&args.path)?;
    let dev = Device::Cpu;
    let mut config = SparkConfig::default().with_mask_ratio(args.mask_ratio).with_path(path);
    if let Some(w) = args.decoder_width {
        config = config.with_decoder_width(w);
    }
    let model = SparkModel::new(ResNetConfig::from_name(&args.arch)?, &config, args.seed, &dev)?;
    let generator = MaskGenerator::new(model.patch_size(), args.mask_ratio)?;
    let (n, s) = (args.batch, args.size);
    let x = Tensor::randn(0f32, 1.0, (n, 1, s, s), &dev)?;
    let mut opt =
        AdamW::new(model.trainable_vars(), ParamsAdamW { lr: 1e-4, weight_decay: 0.04, ..Default::default() })?;
    println!(
        "arch={} size={s} batch={n} path={} mask_ratio={} patch={} params={}",
        args.arch,
        args.path,
        args.mask_ratio,
        model.patch_size(),
        model.trainable_vars().iter().map(|v| v.elem_count()).sum::<usize>()
    );

    // The encoder alone: forward + backward of a scalar that reaches every stage.
    let encoder_step = |step: u64| -> Result<(), Box<dyn std::error::Error>> {
        let mask = generator.generate(n, s, s, args.seed, step)?;
        let features = model.encoder().forward(&x, &mask, true)?;
        let mut total = features[0].mean_all()?;
        for f in &features[1..] {
            total = (total + f.mean_all()?)?;
        }
        let _grads = total.backward()?;
        Ok(())
    };
    for step in 0..args.warmup {
        encoder_step(step as u64)?;
    }
    let t = Instant::now();
    for step in 0..args.steps {
        encoder_step((args.warmup + step) as u64)?;
    }
    let encoder_seconds = t.elapsed().as_secs_f64();

    // For reference: the plain (unmasked) backbone's forward + backward on the same input.
    let plain_step = || -> Result<(), Box<dyn std::error::Error>> {
        let features = model.encoder().backbone().forward_features(&x, true)?.stages;
        let mut total = features[0].mean_all()?;
        for f in &features[1..] {
            total = (total + f.mean_all()?)?;
        }
        let _grads = total.backward()?;
        Ok(())
    };
    let images = (n * args.steps) as f64;
    if args.plain {
        plain_step()?;
        let t = Instant::now();
        for _ in 0..args.steps {
            plain_step()?;
        }
        println!("plain_backbone_images_per_second={:.2}", images / t.elapsed().as_secs_f64());
    }
    if args.encoder_only {
        println!("encoder_images_per_second={:.2}", images / encoder_seconds);
        match peak_memory_mb() {
            Some(mb) => println!("peak_memory_mb={mb:.1}"),
            None => println!("peak_memory_mb=unavailable"),
        }
        return Ok(());
    }

    // The whole step, timed by part: [encoder, densify, decoder, loss, backward, optimizer].
    let mut parts = [0.0f64; 6];
    let mut full_step = |step: u64, parts: &mut [f64; 6]| -> Result<f32, Box<dyn std::error::Error>> {
        let mask = generator.generate(n, s, s, args.seed, step)?;
        let (out, times) = model.forward_timed(&x, &mask, true)?;
        let t = Instant::now();
        let grads = out.loss.backward()?;
        let backward = t.elapsed().as_secs_f64();
        let t = Instant::now();
        opt.step(&grads)?;
        let optimizer = t.elapsed().as_secs_f64();
        for (p, v) in
            parts.iter_mut().zip([times.encoder, times.densify, times.decoder, times.loss, backward, optimizer])
        {
            *p += v;
        }
        Ok(out.loss.to_scalar::<f32>()?)
    };
    let mut scratch = [0.0f64; 6];
    for step in 0..args.warmup {
        full_step(step as u64, &mut scratch)?;
    }
    let t = Instant::now();
    let mut last = 0.0;
    for step in 0..args.steps {
        last = full_step((args.warmup + step) as u64, &mut parts)?;
    }
    let step_seconds = t.elapsed().as_secs_f64();
    println!("last_loss={last}");
    let names = ["encoder_forward", "densify_forward", "decoder_forward", "loss_forward", "backward", "optimizer"];
    for (name, v) in names.iter().zip(parts) {
        println!("seconds_per_step_{name}={:.3}", v / args.steps as f64);
    }
    println!("encoder_images_per_second={:.2}", images / encoder_seconds);
    println!("images_per_second={:.2}", images / step_seconds);
    match peak_memory_mb() {
        Some(mb) => println!("peak_memory_mb={mb:.1}"),
        None => println!("peak_memory_mb=unavailable"),
    }
    Ok(())
}
