//! Prints a ResNet preset's stage shapes, parameter count and convolution work. Step times:
//! `cargo run --release --example bench_train_step` (the workspace root's benchmark).
//!
//! ```text
//! cargo run --release -p ctssl-backbones --example summary -- --arch resnet_tiny --size 64 --batch 32
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{Device, Tensor};
use clap::Parser;
use ctssl_backbones::{ResNet, ResNetConfig, Stem};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Stage shapes, parameter count and convolution work of a ResNet preset")]
struct Args {
    /// resnet18, resnet34, resnet50, resnet_tiny, resnet_tiny2.
    #[arg(long, default_value = "resnet_tiny")]
    arch: String,
    /// Stem: `preset` (the preset's own), `imagenet` (7x7 s2 + max pool) or `small` (3x3 s1, no pool).
    #[arg(long, default_value = "preset")]
    stem: String,
    /// Width multiplier applied to torchvision's base width 64 (0 keeps the preset's width).
    #[arg(long, default_value_t = 0.0)]
    width: f64,
    /// Input channels of conv1.
    #[arg(long, default_value_t = 1)]
    in_channels: usize,
    /// Classes of fc (0: no fc; the dummy loss then uses the pooled feature).
    #[arg(long, default_value_t = 0)]
    classes: usize,
    /// Save the freshly initialised state dict to this safetensors file.
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Initialisation seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut config = ResNetConfig::from_name(&args.arch)?;
    match args.stem.as_str() {
        "preset" => {}
        "imagenet" => config = config.with_stem(Stem::ImageNet),
        "small" => config = config.with_stem(Stem::Small),
        "strided" => config = config.with_stem(Stem::Strided),
        other => return Err(format!("unknown stem `{other}`").into()),
    }
    config = config.with_in_channels(args.in_channels).with_num_classes(Some(args.classes));
    if args.width > 0.0 {
        config = config.with_width_multiplier(args.width);
    }
    let device = Device::Cpu;
    let t0 = Instant::now();
    let model = ResNet::new(config.clone(), args.seed, &device)?;
    println!(
        "{} ({:?} blocks {:?}, widths {:?}, stem {:?}): {} parameters, {} state-dict entries, built in {:.2} s",
        args.arch,
        config.block,
        config.layers,
        config.stage_widths(),
        config.stem,
        model.num_parameters(),
        model.params().len(),
        t0.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.save {
        model.save_safetensors(path)?;
        println!("saved the state dict to {}", path.display());
    }
    let x = Tensor::randn(0f32, 1.0, (args.batch, config.in_channels, args.size, args.size), &device)?;
    let features = model.forward_features(&x, false)?;
    for (i, s) in features.stages.iter().enumerate() {
        println!("layer{}: {:?}", i + 1, s.dims());
    }
    println!("pooled: {:?}", features.pooled.dims());
    let gflop = model.forward_flops(args.size, args.size) * args.batch as f64 / 1e9;
    println!(
        "convolution and fc work for a batch of {} at {}x{}: {:.2} GFLOP forward, ~{:.2} GFLOP per training step",
        args.batch,
        args.size,
        args.size,
        gflop,
        3.0 * gflop
    );
    Ok(())
}
