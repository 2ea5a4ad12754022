//! Side-by-side training-step benchmark: our ResNets (ctssl-kernels ops) against PyTorch's torchvision
//! models on the same CPU, same shapes, in one run.
//!
//! ```text
//! cargo run --release -p ctssl-backbones --example bench_train -- --steps 10
//! ```
//!
//! For each configuration (default: resnet18 64×64 batch 32, resnet18 128×128 batch 32, resnet50 128×128
//! batch 16) it runs ours in a child process of this binary (so that each gets its own peak RSS), then
//! `python3 crates/ctssl-backbones/scripts/bench_torch_train.py` with the same arguments. One step:
//! forward in train mode on random 1-channel images, cross-entropy against random labels (10 classes),
//! backward, plain SGD (lr 0.01). Times are medians of the timed steps after 2 warm-up steps.
//! GFLOP/s counts 3× the forward pass's convolution and `fc` multiply-adds (×2) per step.
//! The last lines, one per configuration, are machine-readable (`bench_train ...`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{DType, Device, Tensor};
use candle_nn::Optimizer;
use clap::Parser;
use ctssl_backbones::{Block, ResNet, ResNetConfig, Stem};
use std::process::Command;
use std::time::Instant;

extern "C" {
    /// mimalloc's runtime option setter (in the static library the `mimalloc` crate links).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (v2 and v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[derive(Parser, Debug)]
#[command(about = "Training step time of our ResNets against PyTorch's, side by side")]
struct Args {
    /// Configurations `arch:size:batch`, comma separated.
    #[arg(long, default_value = "resnet18:64:32,resnet18:128:32,resnet50:128:16")]
    configs: String,
    /// Timed steps (after the warm-up steps).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Warm-up steps.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Skip the PyTorch runs.
    #[arg(long)]
    no_torch: bool,
    /// Python interpreter for the PyTorch runs.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Keep mimalloc's default purging (freed memory returned to the OS after 10 ms).
    #[arg(long)]
    default_purge: bool,
    /// Internal: run one configuration in this process and print its result line.
    #[arg(long, hide = true)]
    single: Option<String>,
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

/// Peak resident set size of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One line of the table.
struct Row {
    c: Config,
    ours_s: f64,
    torch_s: f64,
    gflop: f64,
    ours_rss: f64,
    torch_rss: f64,
    ours_cpu: f64,
    torch_cpu: f64,
    ours_min: f64,
    torch_min: f64,
}

struct Config {
    arch: String,
    size: usize,
    batch: usize,
}

fn parse_config(s: &str) -> Result<Config, Box<dyn std::error::Error>> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    match parts.as_slice() {
        [arch, size, batch] => Ok(Config { arch: arch.to_string(), size: size.parse()?, batch: batch.parse()? }),
        _ => Err(format!("bad configuration `{s}` (want arch:size:batch)").into()),
    }
}

/// User + system CPU time of this process so far, in seconds (from `/proc/self/stat`, clock ticks of
/// 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (tick(11) + tick(12)) / 100.0
}

/// Runs one configuration here; returns (median s/step, fastest s/step, CPU s/step, GFLOP per step).
fn run_ours(c: &Config, steps: usize, warmup: usize) -> Result<(f64, f64, f64, f64), Box<dyn std::error::Error>> {
    const CLASSES: usize = 10;
    let config = ResNetConfig::from_name(&c.arch)?.with_in_channels(1).with_num_classes(Some(CLASSES));
    let device = Device::Cpu;
    let model = ResNet::new(config, 0, &device)?;
    let mut sgd = candle_nn::SGD::new(model.trainable_vars(), 0.01)?;
    let x = Tensor::randn(0f32, 1.0, (c.batch, 1, c.size, c.size), &device)?;
    let labels: Vec<u32> = (0..c.batch).map(|i| ((i * 7 + 3) % CLASSES) as u32).collect();
    let labels = Tensor::new(labels.as_slice(), &device)?;
    let gflop = 3.0 * forward_flops(&model, c.size) * c.batch as f64 / 1e9;
    let mut times = Vec::with_capacity(steps);
    let mut cpu0 = 0.0;
    for step in 0..warmup + steps {
        if step == warmup {
            cpu0 = cpu_seconds();
        }
        let t = Instant::now();
        let logits = model.forward(&x, true)?;
        let logp = ctssl_kernels::ops::log_softmax(&logits)?;
        let loss = candle_nn::loss::nll(&logp, &labels)?;
        let grads = loss.backward()?;
        sgd.step(&grads)?;
        loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let dt = t.elapsed().as_secs_f64();
        if step >= warmup {
            times.push(dt);
        }
    }
    let cpu = (cpu_seconds() - cpu0) / steps.max(1) as f64;
    let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((median(times), fastest, cpu, gflop))
}

/// Sets an environment variable for this process and its children (called before any thread starts).
#[allow(unused_unsafe)]
fn set_env(key: &str, value: &str) {
    // SAFETY: called at the start of `main`, before this program starts any thread.
    unsafe { std::env::set_var(key, value) };
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // candle 0.11 runs its own elementwise ops (the gradient sums of its backward pass, the SGD
        // update) on a spinning barrier pool next to rayon's threads; on 2 cores that pool's main thread
        // spent ~15 % of a step waiting for a descheduled worker. With one thread the ops run inline.
        set_env("CANDLE_NUM_THREADS", "1");
    }
    if !args.default_purge {
        // Keep freed pages mapped: a training step frees and reallocates the same large buffers, and
        // purging them makes every step page-fault (and zero) them again.
        // SAFETY: a plain option setter of the linked mimalloc, called before any thread is spawned.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    if let Some(single) = &args.single {
        let c = parse_config(single)?;
        let (med, fastest, cpu, gflop) = run_ours(&c, args.steps, args.warmup)?;
        println!(
            "ours arch={} size={} batch={} steps={} s_per_step={med:.6} s_min={fastest:.6} cpu_s_per_step={cpu:.4} \
             gflop={gflop:.4} peak_rss_mib={:.1}",
            c.arch,
            c.size,
            c.batch,
            args.steps,
            peak_rss_mib()
        );
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_torch_train.py");
    let mut rows = Vec::new();
    for spec in args.configs.split(',') {
        let c = parse_config(spec)?;
        let mut cmd = Command::new(&exe);
        cmd.args(["--single", spec.trim(), "--steps", &args.steps.to_string(), "--warmup", &args.warmup.to_string()]);
        if args.default_purge {
            cmd.arg("--default-purge");
        }
        let out = cmd.output()?;
        let ours = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        if !out.status.success() {
            return Err(format!("our run of {spec} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        println!("{ours}");
        let torch = if args.no_torch {
            None
        } else {
            let out = Command::new(&args.python)
                .arg(script)
                .args(["--arch", &c.arch, "--size", &c.size.to_string(), "--batch", &c.batch.to_string()])
                .args(["--steps", &args.steps.to_string(), "--warmup", &args.warmup.to_string()])
                .output()?;
            if !out.status.success() {
                return Err(format!("PyTorch run of {spec} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
            let line = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
            println!("{line}");
            Some(line)
        };
        let num = |l: &str, k: &str| field(l, k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        let ours_s = num(&ours, "s_per_step");
        let gflop = num(&ours, "gflop");
        let ours_rss = num(&ours, "peak_rss_mib");
        let ours_cpu = num(&ours, "cpu_s_per_step");
        let ours_min = num(&ours, "s_min");
        let (torch_s, torch_rss, torch_cpu, torch_min) =
            torch.as_deref().map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |l| {
                (num(l, "s_per_step"), num(l, "peak_rss_mib"), num(l, "cpu_s_per_step"), num(l, "s_min"))
            });
        rows.push(Row { c, ours_s, torch_s, gflop, ours_rss, torch_rss, ours_cpu, torch_cpu, ours_min, torch_min });
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!("steps {} (after {} warm-up), medians; load average at the end: {}", args.steps, args.warmup, load.trim());
    println!(
        "| config | ours s/step | PyTorch s/step | ratio (PyTorch/ours) | ours GFLOP/s | PyTorch GFLOP/s \
         | fastest step ours / PyTorch s (ratio) | ours CPU s/step | PyTorch CPU s/step | ours peak RSS MiB \
         | PyTorch peak RSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} {}x{} b{} | {:.3} | {:.3} | {:.2} | {:.0} | {:.0} | {:.3} / {:.3} ({:.2}) | {:.2} | {:.2} | {:.0} | {:.0} |",
            r.c.arch,
            r.c.size,
            r.c.size,
            r.c.batch,
            r.ours_s,
            r.torch_s,
            r.torch_s / r.ours_s,
            r.gflop / r.ours_s,
            r.gflop / r.torch_s,
            r.ours_min,
            r.torch_min,
            r.torch_min / r.ours_min,
            r.ours_cpu,
            r.torch_cpu,
            r.ours_rss,
            r.torch_rss
        );
    }
    for r in &rows {
        println!(
            "bench_train arch={} size={} batch={} ours_s={:.4} torch_s={:.4} ratio={:.3} ours_gflops={:.1} \
             torch_gflops={:.1} ours_min_s={:.4} torch_min_s={:.4} ours_cpu_s={:.3} torch_cpu_s={:.3} \
             ours_rss_mib={:.0} torch_rss_mib={:.0}",
            r.c.arch,
            r.c.size,
            r.c.batch,
            r.ours_s,
            r.torch_s,
            r.torch_s / r.ours_s,
            r.gflop / r.ours_s,
            r.gflop / r.torch_s,
            r.ours_min,
            r.torch_min,
            r.ours_cpu,
            r.torch_cpu,
            r.ours_rss,
            r.torch_rss
        );
    }
    Ok(())
}
