//! Prints a ResNet preset's stage shapes and parameter count, then times forward (eval) and
//! forward + backward (train mode, dummy loss) on random 1-channel images.
//!
//! ```text
//! cargo run --release -p ctssl-backbones --example summary -- --arch resnet_tiny --size 64 --batch 32
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use ctssl_backbones::{Block, ResNet, ResNetConfig, Stem};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Stage shapes, parameter count and step time of a ResNet preset")]
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
    /// Timed steps (after 2 warm-up steps).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Run candle's reference ops instead of the ctssl-kernels CPU kernels (for comparison).
    #[arg(long)]
    reference_ops: bool,
    /// Initialisation seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Multiply-accumulate FLOPs (2 per MAC) of the convolutions and `fc` of one forward pass of one image.
fn forward_flops(model: &ResNet, size: usize) -> f64 {
    let conv = |c: &ctssl_backbones::Conv2d, h: usize| -> (f64, usize) {
        let d = c.weight().dims();
        let out = (h + 2 * c.padding() - d[2]) / c.stride() + 1;
        (2.0 * (d[0] * d[1] * d[2] * d[3] * out * out) as f64, out)
    };
    let (mut flops, mut h) = conv(model.conv1(), size);
    if model.config().stem == Stem::ImageNet {
        h = (h + 2 - 3) / 2 + 1;
    }
    for s in 0..4 {
        for block in model.stage(s) {
            let convs: Vec<&ctssl_backbones::Conv2d> = match block {
                Block::Basic { conv1, conv2, .. } => vec![conv1, conv2],
                Block::Bottleneck { conv1, conv2, conv3, .. } => vec![conv1, conv2, conv3],
            };
            if let Some(d) = block.downsample_layer() {
                flops += conv(&d.conv, h).0;
            }
            for c in convs {
                let (f, out) = conv(c, h);
                flops += f;
                h = out;
            }
        }
    }
    if let Some(fc) = model.fc() {
        flops += 2.0 * fc.weight().elem_count() as f64;
    }
    flops
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    ctssl_kernels::ops::set_cpu_kernels_enabled(!args.reference_ops);
    let mut config = ResNetConfig::from_name(&args.arch)?;
    match args.stem.as_str() {
        "preset" => {}
        "imagenet" => config = config.with_stem(Stem::ImageNet),
        "small" => config = config.with_stem(Stem::Small),
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
    let gflop_fwd = forward_flops(&model, args.size) * args.batch as f64 / 1e9;

    if args.steps == 0 {
        return Ok(());
    }
    let mut fwd = Vec::new();
    let mut train = Vec::new();
    for step in 0..args.steps + 2 {
        let t = Instant::now();
        let y = model.forward(&x, false)?;
        y.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
        let t_fwd = t.elapsed().as_secs_f64();
        let t = Instant::now();
        // Dummy loss: mean square of the logits (or of the pooled feature without fc).
        let loss = model.forward(&x, true)?.sqr()?.mean_all()?;
        let grads = loss.backward()?;
        std::hint::black_box(&grads);
        let t_train = t.elapsed().as_secs_f64();
        if step >= 2 {
            fwd.push(t_fwd);
            train.push(t_train);
        }
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (f_min, t_min) = (min(&fwd), min(&train));
    let (f, t) = (median(fwd), median(train));
    println!(
        "batch {} at {}x{}: forward (eval) {:.1} ms, forward+backward (train) {:.1} ms (median of {} steps; \
         fastest {:.1} / {:.1} ms)",
        args.batch,
        args.size,
        args.size,
        f * 1e3,
        t * 1e3,
        args.steps,
        f_min * 1e3,
        t_min * 1e3
    );
    println!(
        "convolution work: {:.2} GFLOP forward, ~{:.2} GFLOP forward+backward ({:.0} GFLOP/s train)",
        gflop_fwd,
        3.0 * gflop_fwd,
        3.0 * gflop_fwd / t
    );
    println!("ops: {}", if args.reference_ops { "candle reference" } else { "ctssl-kernels" });
    println!("images_per_second={:.1}", args.batch as f64 / t);
    Ok(())
}
