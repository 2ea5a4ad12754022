//! Training-step benchmark of the ResNet backbones (ctssl-kernels ops), with its PyTorch peer
//! `benches/peer/torch_train_step.py` for side-by-side runs.
//!
//! ```text
//! cargo run --release --example bench_train_step -- --arch resnet18 --size 64 --batch 32 --steps 10
//! cargo run --release --example bench_train_step -- --arch resnet50 --size 128 --batch 16
//! cargo run --release --example bench_train_step -- --arch resnet18 --eval          # forward only
//! cargo run --release --example bench_train_step -- --arch resnet18 --profile       # time per kind of op
//! cargo run --release --example bench_train_step -- --compare resnet18:64:32,resnet50:128:16 --repeat 3
//! ```
//!
//! One step: forward in training mode on random 1-channel `size × size` images (seeded), cross-entropy
//! against fixed labels over 10 classes, backward, one AdamW update (`ctssl_train::optim::AdamW`, lr
//! 1e-3, weight decay 0.01, the project's optimizer). `--eval` times the forward pass alone in
//! evaluation mode. `--warmup` steps run first, then `--steps` timed ones. The output ends with
//! `ours ...` (median and fastest seconds per step, CPU seconds per step from `getrusage`, minor page
//! faults per step, GFLOP per step, peak RSS) and, as the last line, `images_per_second=<number>` (batch
//! over the median step time).
//!
//! Threads: `--threads N` (default: `RAYON_NUM_THREADS`, else the number of CPUs) sizes rayon's pool,
//! which runs the kernels; the main thread is one of its threads (`ctssl_kernels::runtime`). candle's
//! own elementwise ops (the gradient sums inside `backward`) run on a separate pool of
//! `CANDLE_NUM_THREADS` threads; left unset, this program sizes it as rayon's and stops its workers
//! from spinning between ops (`ctssl_kernels::runtime::configure_candle_threads`).
//!
//! `--compare CONFIGS` (`arch:size:batch,...`) runs, `--repeat` times, for each configuration: this
//! program on one configuration in a child process, then the PyTorch peer with the same shapes and
//! thread count, and prints a table of both sides' medians (wall and CPU time per step, peak RSS).
//! CPU time per step is less sensitive than wall time to other work on a shared machine.

#[path = "common/alloc.rs"]
mod alloc;

use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use clap::Parser;
use ctssl::backbones::{ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl::kernels::{ops, profile};
use ctssl::train::optim::{AdamW, AdamWConfig, Optimizer, ParamGroup};

extern "C" {
    /// POSIX `getrusage`.
    fn getrusage(who: std::ffi::c_int, usage: *mut RUsage) -> std::ffi::c_int;
}

/// Linux's `struct rusage` (x86_64 and aarch64: two `timeval`s, then 14 `long`s).
#[repr(C)]
#[derive(Default)]
struct RUsage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    ixrss: i64,
    idrss: i64,
    isrss: i64,
    minflt: i64,
    majflt: i64,
    nswap: i64,
    inblock: i64,
    oublock: i64,
    msgsnd: i64,
    msgrcv: i64,
    nsignals: i64,
    nvcsw: i64,
    nivcsw: i64,
}

/// (user + system CPU seconds, minor page faults, peak RSS in MiB) of this process so far.
fn usage() -> (f64, i64, f64) {
    let mut u = RUsage::default();
    // SAFETY: `u` is a properly sized and aligned `struct rusage`; RUSAGE_SELF is 0.
    let rc = unsafe { getrusage(0, &mut u) };
    if rc != 0 {
        return (f64::NAN, 0, f64::NAN);
    }
    let secs = |t: [i64; 2]| t[0] as f64 + t[1] as f64 * 1e-6;
    (secs(u.utime) + secs(u.stime), u.minflt, u.maxrss as f64 / 1024.0)
}

#[derive(Parser, Debug)]
#[command(about = "Training-step time of the ctssl ResNets (and a side-by-side run against PyTorch)")]
struct Args {
    /// resnet18, resnet34, resnet50 (torchvision layout, ImageNet stem) or a small preset.
    #[arg(long, default_value = "resnet18")]
    arch: String,
    /// Image side in pixels.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Forward pass only, evaluation mode (no loss, no backward, no update).
    #[arg(long)]
    eval: bool,
    /// Rayon threads for the kernels (0: `RAYON_NUM_THREADS`, else the number of CPUs).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Classes of `fc`.
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Print the time spent per kind of kernel, and in backward / optimizer, per step.
    #[arg(long)]
    profile: bool,
    /// Run candle's reference ops instead of the ctssl-kernels CPU kernels.
    #[arg(long)]
    reference_ops: bool,
    /// Keep mimalloc's default purging (freed memory returned to the OS after 10 ms).
    #[arg(long)]
    default_purge: bool,
    /// Side by side with PyTorch: configurations `arch:size:batch`, comma separated.
    #[arg(long)]
    compare: Option<String>,
    /// Repetitions of each side in `--compare` (alternating ours, PyTorch).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Python interpreter for the PyTorch peer.
    #[arg(long, default_value = "python3")]
    python: String,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Sets an environment variable for this process and its children.
/// Seconds spent in forward, backward and the optimizer during the timed steps.
#[derive(Default)]
struct Phases {
    forward: f64,
    backward: f64,
    optimizer: f64,
}

/// Runs the benchmark of one configuration in this process and prints its result lines.
fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    ops::set_cpu_kernels_enabled(!args.reference_ops);
    let device = Device::Cpu;
    let config = ResNetConfig::from_name(&args.arch)?.with_in_channels(1).with_num_classes(Some(args.classes));
    let model = ResNet::new(config, 0, &device)?;
    let named = model.vars_of_kind("", ParamKind::Trainable);
    let mut opt = AdamW::new(vec![ParamGroup::new(named)], AdamWConfig::default())?;
    let x = {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let normal = rand_distr::StandardNormal;
        let n = args.batch * args.size * args.size;
        let v: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        Tensor::from_vec(v, (args.batch, 1, args.size, args.size), &device)?
    };
    let labels: Vec<u32> = (0..args.batch).map(|i| ((i * 7 + 3) % args.classes) as u32).collect();
    let labels = Tensor::from_vec(labels, (args.batch, 1), &device)?;
    let flops_fwd = model.forward_flops(args.size, args.size) * args.batch as f64;
    let gflop = if args.eval { flops_fwd } else { 3.0 * flops_fwd } / 1e9;

    let mut times = Vec::with_capacity(args.steps);
    let mut phases = Phases::default();
    let (mut cpu0, mut flt0) = (0.0, 0);
    profile::set_enabled(args.profile);
    for step in 0..args.warmup + args.steps {
        if step == args.warmup {
            (cpu0, flt0, _) = usage();
            profile::reset();
            phases = Phases::default();
        }
        let t = Instant::now();
        if args.eval {
            let logits = model.forward(&x, false)?;
            logits.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            phases.forward += t.elapsed().as_secs_f64();
        } else {
            let logits = model.forward(&x, true)?;
            let logp = ops::log_softmax(&logits)?;
            let loss = logp.gather(&labels, 1)?.mean_all()?.neg()?;
            let t1 = Instant::now();
            let grads = loss.backward()?;
            let t2 = Instant::now();
            opt.step(&grads)?;
            loss.to_scalar::<f32>()?;
            let t3 = Instant::now();
            phases.forward += (t1 - t).as_secs_f64();
            phases.backward += (t2 - t1).as_secs_f64();
            phases.optimizer += (t3 - t2).as_secs_f64();
        }
        let dt = t.elapsed().as_secs_f64();
        if step >= args.warmup {
            times.push(dt);
        }
    }
    let (cpu1, flt1, rss) = usage();
    let steps = args.steps.max(1) as f64;
    let (med, fastest) = (median(&times), times.iter().copied().fold(f64::INFINITY, f64::min));
    let mode = if args.eval { "eval" } else { "train" };
    println!(
        "{} {}x{} batch {} ({mode}, {} rayon threads, {} ops): {:.1} ms/step median of {}, fastest {:.1} ms, \
         {:.0} GFLOP/s",
        args.arch,
        args.size,
        args.size,
        args.batch,
        rayon::current_num_threads(),
        if args.reference_ops { "candle reference" } else { "ctssl-kernels" },
        med * 1e3,
        args.steps,
        fastest * 1e3,
        gflop / med
    );
    if args.profile {
        let total: f64 = times.iter().sum();
        println!(
            "per step: forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms (sum of the timed steps / steps)",
            phases.forward / steps * 1e3,
            phases.backward / steps * 1e3,
            phases.optimizer / steps * 1e3
        );
        let mut kernels = 0.0;
        for (kind, calls, secs) in profile::snapshot() {
            if calls > 0 {
                kernels += secs;
                println!(
                    "  {:<9} {:>5} calls/step {:>8.1} ms/step {:>5.1} %",
                    kind.name(),
                    calls as f64 / steps,
                    secs / steps * 1e3,
                    100.0 * secs / total
                );
            }
        }
        println!(
            "  rest      (candle autograd and tensor ops, optimizer, loss; conv dx/dw overlap) {:.1} ms/step",
            (total - kernels) / steps * 1e3
        );
    }
    println!(
        "ours arch={} size={} batch={} mode={mode} steps={} s_per_step={med:.6} s_min={fastest:.6} \
         cpu_s_per_step={:.4} minflt_per_step={:.0} gflop={gflop:.4} peak_rss_mib={rss:.1}",
        args.arch,
        args.size,
        args.batch,
        args.steps,
        (cpu1 - cpu0) / steps,
        (flt1 - flt0) as f64 / steps,
    );
    println!("images_per_second={:.2}", args.batch as f64 / med);
    Ok(())
}

/// `key=value` from a result line.
fn field(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs `cmd`, returns the line starting with `prefix`.
fn result_line(mut cmd: Command, prefix: &str) -> Result<String, Box<dyn std::error::Error>> {
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}{}", stdout, String::from_utf8_lossy(&out.stderr)).into());
    }
    stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_string)
        .ok_or_else(|| format!("{cmd:?} printed no `{prefix}` line").into())
}

/// The side-by-side runs of `--compare`.
fn compare(args: &Args, configs: &str) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peer/torch_train_step.py");
    let threads = rayon::current_num_threads();
    let mut table = Vec::new();
    for spec in configs.split(',') {
        let parts: Vec<&str> = spec.trim().split(':').collect();
        let [arch, size, batch] = parts.as_slice() else {
            return Err(format!("bad configuration `{spec}` (want arch:size:batch)").into());
        };
        let common = |c: &mut Command| {
            c.args(["--arch", arch, "--size", size, "--batch", batch])
                .args(["--steps", &args.steps.to_string(), "--warmup", &args.warmup.to_string()])
                .args(["--threads", &threads.to_string()]);
            if args.eval {
                c.arg("--eval");
            }
        };
        let (mut ours, mut torch) = (Vec::new(), Vec::new());
        for rep in 0..args.repeat {
            let mut c = Command::new(&exe);
            common(&mut c);
            let line = result_line(c, "ours ")?;
            println!("[{rep}] {line}");
            ours.push(line);
            let mut c = Command::new(&args.python);
            c.arg(peer);
            common(&mut c);
            let line = result_line(c, "torch ")?;
            println!("[{rep}] {line}");
            torch.push(line);
        }
        let med = |lines: &[String], k: &str| median(&lines.iter().map(|l| field(l, k)).collect::<Vec<_>>());
        let min = |lines: &[String], k: &str| lines.iter().map(|l| field(l, k)).fold(f64::INFINITY, f64::min);
        let max = |lines: &[String], k: &str| lines.iter().map(|l| field(l, k)).fold(0.0, f64::max);
        let (os, ts) = (med(&ours, "s_per_step"), med(&torch, "s_per_step"));
        let (oc, tc) = (med(&ours, "cpu_s_per_step"), med(&torch, "cpu_s_per_step"));
        let (om, tm) = (min(&ours, "s_min"), min(&torch, "s_min"));
        table.push(format!(
            "| {arch} {size}x{size} b{batch} | {os:.3} | {ts:.3} | {:.2} | {om:.3} / {tm:.3} ({:.2}) | {oc:.3} | {tc:.3} \
             | {:.2} | {:.0} | {:.0} |",
            ts / os,
            tm / om,
            tc / oc,
            max(&ours, "peak_rss_mib"),
            max(&torch, "peak_rss_mib"),
        ));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "{} rep(s) per side, {} threads, {} timed steps after {} warm-up; medians over the repetitions; load average \
         at the end: {}",
        args.repeat,
        threads,
        args.steps,
        args.warmup,
        load.trim()
    );
    println!(
        "| config | ours s/step | PyTorch s/step | speed ratio (PyTorch s / ours s) | fastest step ours / PyTorch s \
         (ratio) | ours CPU s/step | PyTorch CPU s/step | CPU ratio | ours peak RSS MiB | PyTorch peak RSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in table {
        println!("{row}");
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    // SAFETY: before any thread is started (only the arguments have been parsed).
    unsafe { ctssl_kernels::runtime::configure_candle_threads(args.threads) };
    if !args.default_purge {
        alloc::keep_freed_pages();
    }
    ctssl_kernels::runtime::init_thread_pool(args.threads)?;
    match &args.compare {
        Some(configs) => compare(&args, configs),
        None => run(&args),
    }
}
