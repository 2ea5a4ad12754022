//! Does the view loader keep up with training at the default study settings?
//!
//! ```text
//! cargo build --release --example loader_vs_training
//! ./target/release/examples/loader_vs_training [--recipes simclr,study,swav] [--size 64] [--batch 32] \
//!     [--slice-size 128] [--local-crops 6] [--steps 3] [--loader-seconds 3]
//! ```
//!
//! For each recipe, on the same slices (synthetic chest phantoms, `--slice-size` px, 128 like the
//! `ctssl-phantom` default; 512 for full-size CT):
//!
//! - (a) the loader's rate: views per second of wall time while iterating its batches (batch `--batch`,
//!   prefetch 4, rayon's global pool = all cores) and doing nothing else;
//! - (b) the training step's rate: views per second that forward + backward + AdamW step of
//!   `ResNetConfig::resnet_tiny()` (1 channel) consume, on one pre-built batch of the recipe's views. Views
//!   of equal size go through the network together (as multi-crop implementations do), and the loss
//!   touches every view: mean NT-Xent (τ 0.2) of the pooled features of view 0 against each other view,
//!   or the mean square of the pooled features for a one-view recipe (SparK);
//! - (a)/(b): how many times faster the loader makes views than training uses them;
//! - the trainer's step time with batches from the loader (its prefetch thread and rayon workers
//!   competing for the same cores) against the pre-built batch (measured before and after, median), and
//!   the time per step spent waiting for the next batch: the slowdown says whether loading stalls
//!   training.
//!
//! Multi-crop recipes (swav, dino, study_multi_crop) get `--local-crops` local views (6 in the study's
//! CPU preset; DINO publishes 8). Prints a markdown table, then one `loader_vs_training …` line per recipe.

#[path = "common/alloc.rs"]
mod alloc;

use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use clap::Parser;
use ctssl::augment::{chest_phantom, HuSlice, InMemorySlices, Loader, LoaderConfig, Recipe};
use ctssl::backbones::{ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl::contrastive::nt_xent;
use ctssl::train::optim::{split_decay, AdamW, AdamWConfig, Optimizer};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Parser, Debug)]
#[command(about = "The view loader's rate against the training step's consumption, per recipe")]
struct Args {
    /// Recipes, comma separated.
    #[arg(long, default_value = "simclr,moco_v2,byol,study,swav,dino,study_multi_crop,spark")]
    recipes: String,
    /// View size (global views).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Local crops of the multi-crop recipes.
    #[arg(long, default_value_t = 6)]
    local_crops: usize,
    /// Side of the source slices.
    #[arg(long, default_value_t = 128)]
    slice_size: usize,
    /// Slices per epoch (16 distinct phantoms, repeated).
    #[arg(long, default_value_t = 1024)]
    slices: usize,
    /// Seconds of loader-only iteration per recipe.
    #[arg(long, default_value_t = 3.0)]
    loader_seconds: f64,
    /// Timed training steps per phase (pre-built, from the loader, pre-built again).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Batches the loader makes ahead.
    #[arg(long, default_value_t = 4)]
    prefetch: usize,
    /// Seed of the model and of the views.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The recipe by name, with `n_local` local crops when it is a multi-crop one (views after the first two).
fn recipe(name: &str, size: usize, n_local: usize) -> Res<Recipe> {
    let mut r = Recipe::by_name(name, size)?;
    if r.views.len() > 2 {
        let local = r.views[2].clone();
        r.views.truncate(2);
        r.views.extend(std::iter::repeat_n(local, n_local));
    }
    Ok(r)
}

/// `count` slices of side `size`: 16 distinct phantoms, shared (not copied) when repeated.
fn slices(count: usize, size: usize) -> Res<InMemorySlices> {
    let distinct: Vec<Arc<_>> =
        (0..16).map(|i| chest_phantom(size, size, i).map(Arc::new)).collect::<Result<_, _>>()?;
    let mut s = InMemorySlices::new();
    for i in 0..count {
        s.slices.push(HuSlice { image: Arc::clone(&distinct[i % distinct.len()]), patient_id: format!("p{i}") });
    }
    Ok(s)
}

/// The model and its optimizer.
struct Trainer {
    model: ResNet,
    opt: AdamW,
}

impl Trainer {
    fn new(seed: u64) -> Res<Self> {
        let model = ResNet::new(ResNetConfig::resnet_tiny(), seed, &Device::Cpu)?;
        let opt = AdamW::new(split_decay(model.vars_of_kind("", ParamKind::Trainable)), AdamWConfig::default())?;
        Ok(Trainer { model, opt })
    }

    /// Pooled features of every view; runs of views with equal shapes go through the network together.
    fn features(&self, views: &[Tensor]) -> Res<Vec<Tensor>> {
        let mut out = Vec::with_capacity(views.len());
        let mut i = 0;
        while i < views.len() {
            let dims = views[i].dims();
            let j = i + views[i..].iter().take_while(|v| v.dims() == dims).count();
            let x = if j - i == 1 { views[i].clone() } else { Tensor::cat(&views[i..j], 0)? };
            let pooled = self.model.forward(&x, true)?;
            let b = dims[0];
            for k in 0..j - i {
                out.push(pooled.narrow(0, k * b, b)?);
            }
            i = j;
        }
        Ok(out)
    }

    /// One step: forward, loss, backward, AdamW update; returns the loss.
    fn step(&mut self, views: &[Tensor]) -> Res<f32> {
        let z = self.features(views)?;
        let loss = match z.as_slice() {
            [] => return Err("a batch without views".into()),
            [only] => only.sqr()?.mean_all()?,
            [first, rest @ ..] => {
                let mut sum = nt_xent(first, &rest[0], 0.2)?;
                for other in &rest[1..] {
                    sum = (sum + nt_xent(first, other, 0.2)?)?;
                }
                (sum / rest.len() as f64)?
            }
        };
        let grads = loss.backward()?;
        self.opt.step(&grads)?;
        Ok(loss.to_scalar::<f32>()?)
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// What one recipe measured.
struct Row {
    name: String,
    views_per_sample: usize,
    loader_vps: f64,
    step_prebuilt: f64,
    step_loader: f64,
    wait: f64,
    batch: usize,
}

impl Row {
    fn train_vps(&self) -> f64 {
        (self.batch * self.views_per_sample) as f64 / self.step_prebuilt
    }
}

fn measure(name: &str, args: &Args, source: &InMemorySlices) -> Res<Row> {
    let recipe = recipe(name, args.size, args.local_crops)?;
    let views_per_sample = recipe.num_views();
    let config =
        LoaderConfig { batch_size: args.batch, prefetch: args.prefetch, seed: args.seed, ..LoaderConfig::default() };
    let loader = Loader::new(source.clone(), recipe, config)?;

    // (a) The loader alone.
    let t0 = Instant::now();
    let mut views = 0usize;
    let mut epoch = 0u64;
    let loader_secs = 'outer: loop {
        for b in loader.epoch(epoch) {
            views += b?.views.iter().map(|t| t.dims()[0]).sum::<usize>();
            let s = t0.elapsed().as_secs_f64();
            if s >= args.loader_seconds {
                break 'outer s;
            }
        }
        epoch += 1;
    };
    let loader_vps = views as f64 / loader_secs;

    // (b) Training on one pre-built batch, then on the loader's batches, then pre-built again.
    let mut trainer = Trainer::new(args.seed)?;
    let fixed = loader.batch(1000, 0)?;
    for _ in 0..args.warmup {
        trainer.step(&fixed.views)?;
    }
    let mut prebuilt = Vec::new();
    let timed_prebuilt = |trainer: &mut Trainer, out: &mut Vec<f64>| -> Res<()> {
        for _ in 0..args.steps {
            let t = Instant::now();
            let loss = trainer.step(&fixed.views)?;
            if !loss.is_finite() {
                return Err(format!("{name}: loss {loss}").into());
            }
            out.push(t.elapsed().as_secs_f64());
        }
        Ok(())
    };
    timed_prebuilt(&mut trainer, &mut prebuilt)?;
    let (mut with_loader, mut waits) = (Vec::new(), Vec::new());
    {
        let mut it = loader.epoch(1001);
        for _ in 0..args.warmup {
            let b = it.next().ok_or("epoch too short: raise --slices")??;
            trainer.step(&b.views)?;
        }
        for _ in 0..args.steps {
            let t = Instant::now();
            let b = it.next().ok_or("epoch too short: raise --slices")??;
            waits.push(t.elapsed().as_secs_f64());
            trainer.step(&b.views)?;
            with_loader.push(t.elapsed().as_secs_f64());
        }
    }
    timed_prebuilt(&mut trainer, &mut prebuilt)?;
    Ok(Row {
        name: name.to_string(),
        views_per_sample,
        loader_vps,
        step_prebuilt: median(&prebuilt),
        step_loader: median(&with_loader),
        wait: waits.iter().sum::<f64>() / waits.len().max(1) as f64,
        batch: args.batch,
    })
}

fn set_env(key: &str, value: &str) {
    #[allow(unused_unsafe)]
    // SAFETY: called at the start of `main`, before any other thread exists.
    unsafe {
        std::env::set_var(key, value)
    };
}

fn main() -> Res<()> {
    let args = Args::parse();
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // candle's own elementwise ops (gradient sums, optimiser update) run inline instead of on a
        // spinning pool next to rayon's (see ctssl-kernels' docs and the bench_train_step example).
        set_env("CANDLE_NUM_THREADS", "1");
    }
    alloc::keep_freed_pages();
    if args.batch == 0 || args.steps == 0 {
        return Err("--batch and --steps must be positive".into());
    }
    let source = slices(args.slices.max(args.batch * (2 * args.warmup + args.steps + 1)), args.slice_size)?;
    println!(
        "resnet_tiny, {} px views, batch {}, {} local crops, slices {} px, {} rayon threads, prefetch {}",
        args.size,
        args.batch,
        args.local_crops,
        args.slice_size,
        rayon::current_num_threads(),
        args.prefetch
    );
    let mut rows = Vec::new();
    for name in args.recipes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let row = measure(name, &args, &source)?;
        eprintln!("{name}: done");
        rows.push(row);
    }
    println!();
    println!(
        "| recipe | views / sample | (a) loader views/s | train step, pre-built batch (s) | (b) training views/s | (a)/(b) \
         | train step, loader batches (s) | slowdown | waiting for a batch (ms/step) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.1} | {:.0}× | {:.3} | {:+.1} % | {:.1} |",
            r.name,
            r.views_per_sample,
            r.loader_vps,
            r.step_prebuilt,
            r.train_vps(),
            r.loader_vps / r.train_vps(),
            r.step_loader,
            100.0 * (r.step_loader / r.step_prebuilt - 1.0),
            1e3 * r.wait
        );
    }
    for r in &rows {
        println!(
            "loader_vs_training recipe={} views_per_sample={} loader_views_per_s={:.1} train_views_per_s={:.2} \
             ratio={:.2} step_prebuilt_s={:.4} step_loader_s={:.4} wait_ms={:.2}",
            r.name,
            r.views_per_sample,
            r.loader_vps,
            r.train_vps(),
            r.loader_vps / r.train_vps(),
            r.step_prebuilt,
            r.step_loader,
            1e3 * r.wait
        );
    }
    Ok(())
}
