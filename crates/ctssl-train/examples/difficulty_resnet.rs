//! Difficulty check of the synthetic tasks: trains `resnet_tiny` from scratch on each of ctssl-phantom's
//! labeled tasks (the phantom's patient splits, the study's fine-tuning recipe and, by default, the CPU
//! presets' input: lung, soft-tissue and brain windows as three channels scaled to [−1, 1]; `--input minmax`
//! gives the reference study's per-slice min–max instead) and reports, per task, the train / val / test sizes, the positive rate, and the test ROC-AUC,
//! accuracy and balanced accuracy as mean ± 95% CI over seeds (each seed draws a new dataset and a new
//! initialisation), with the time taken.
//!
//! ```text
//! cargo run --release -p ctssl-train --example difficulty_resnet -- \
//!     [--patients 40] [--epochs 10] [--size 64] [--render 64] [--lr 1e-3] [--batch 32] [--seeds 3]
//!     [--first-seed 0] [--tasks lung,organ,head] [--sampling shuffle|balanced] [--input windows|minmax]
//!     [--frozen-epochs 0] [--diagnose]
//!     [--lung-radius 6,18] [--lung-contrast 1.0] [--lung-spread 0.6] [--lung-max 2] [--lung-prevalence 0.5]
//!     [--head-radius 3,10] [--subdural 2,6] [--subdural-fraction 0.4] [--head-contrast 0.8]
//!     [--head-spread 0.7] [--head-prevalence 0.5] [--head-noise-scale 0.3] [--clamp-head lo,hi] [--history]
//! ```
//!
//! Difficulty flags override the phantom's defaults (for calibration); without them the defaults are
//! measured. `--clamp-head lo,hi` clips head HU to a window before min–max scaling (a diagnostic: what a
//! brain window would change). `--diagnose` prints, per task, the lesion size in pixels and the lesion's
//! contrast in min–max units.

use std::time::Instant;

use candle_core::Device;
use ctssl_augment::{Image, InMemorySlices, Sampling, Standardize, WindowStep};
use ctssl_backbones::{Parameters, ResNet, ResNetConfig};
use ctssl_io::HuWindow;
use ctssl_phantom::{Dataset, PhantomConfig, Sample, Split, Task, Tissue};
use ctssl_train::eval::{finetune, predict_proba, ClassificationReport, FinetuneConfig, InputMapping, LabeledSet};
use ctssl_train::stats::mean_ci95;

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value for {name}: {v}")))
}

fn pair(args: &[String], name: &str) -> Option<(f32, f32)> {
    let s: String = arg(args, name)?;
    let v: Vec<f32> = s.split(',').map(|x| x.parse().unwrap_or_else(|_| panic!("bad value for {name}: {s}"))).collect();
    match v.as_slice() {
        [a, b] => Some((*a, *b)),
        _ => panic!("{name} takes two numbers: lo,hi"),
    }
}

/// The phantom config of one seed: defaults, then the difficulty flags.
fn phantom_config(args: &[String], seed: u64, patients: usize, render: usize) -> PhantomConfig {
    let mut c = PhantomConfig {
        seed,
        image_size: render,
        torso_patients: patients,
        head_patients: patients,
        pretrain_torso_patients: 0,
        pretrain_head_patients: 0,
        ..PhantomConfig::default()
    };
    if let Some(v) = pair(args, "--lung-radius") {
        c.lung.lesion_radius_mm = v;
    }
    if let Some(v) = arg(args, "--lung-contrast") {
        c.lung.contrast = v;
    }
    if let Some(v) = arg(args, "--lung-spread") {
        c.lung.location_spread = v;
    }
    if let Some(v) = arg(args, "--lung-max") {
        c.lung.max_lesions = v;
    }
    if let Some(v) = arg(args, "--lung-prevalence") {
        c.lung.positive_fraction = v;
    }
    if let Some(v) = arg(args, "--lung-consolidation") {
        c.lung.consolidation_fraction = v;
    }
    if let Some(v) = pair(args, "--head-radius") {
        c.head.blob_radius_mm = v;
    }
    if let Some(v) = pair(args, "--subdural") {
        c.head.subdural_thickness_mm = v;
    }
    if let Some(v) = arg(args, "--subdural-fraction") {
        c.head.subdural_fraction = v;
    }
    if let Some(v) = arg(args, "--head-contrast") {
        c.head.contrast = v;
    }
    if let Some(v) = arg(args, "--head-spread") {
        c.head.location_spread = v;
    }
    if let Some(v) = arg(args, "--head-prevalence") {
        c.head.positive_fraction = v;
    }
    if let Some(v) = arg(args, "--head-noise-scale") {
        c.scanner.head_noise_scale = v;
    }
    c
}

/// Lesion pixels and lesion contrast in min–max units of one positive sample (mean HU of the lesion
/// pixels minus the mean HU of the surrounding organ's other pixels, over the slice's max − min).
fn lesion_signal(dataset: &Dataset, s: &Sample) -> Option<(usize, f32)> {
    let slice = &dataset.patients[s.patient].slices[s.slice];
    let background: &[Tissue] = match s.task {
        Task::Lung => &[Tissue::Lung],
        Task::Head => &[Tissue::GreyMatter, Tissue::WhiteMatter, Tissue::Fluid],
        Task::Organ => return None,
    };
    let (mut les, mut nl, mut bg, mut nb) = (0.0f64, 0usize, 0.0f64, 0usize);
    for (i, &v) in slice.values.iter().enumerate() {
        if slice.lesion_map[i] != 0 {
            les += v as f64;
            nl += 1;
        } else if background.iter().any(|t| *t as u8 == slice.tissue_map[i]) {
            bg += v as f64;
            nb += 1;
        }
    }
    let (lo, hi) = slice.values.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if nl == 0 || nb == 0 || hi <= lo {
        return None;
    }
    Some((nl, ((les / nl as f64 - bg / nb as f64) / (hi - lo) as f64) as f32))
}

fn median(v: &mut [f32]) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

#[derive(Default)]
struct TaskRuns {
    sizes: Vec<[usize; 3]>,
    positive_rate: Vec<f64>,
    auc: Vec<f64>,
    accuracy: Vec<f64>,
    balanced: Vec<f64>,
    seconds: Vec<f64>,
}

fn ci(values: &[f64]) -> String {
    match mean_ci95(values) {
        Ok(m) => match m.half_width {
            Some(h) => format!("{:.3} ± {:.3}", m.mean, h),
            None => format!("{:.3}", m.mean),
        },
        Err(_) => "n/a".to_string(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let patients: usize = arg(&args, "--patients").unwrap_or(40);
    let epochs: usize = arg(&args, "--epochs").unwrap_or(10);
    let size: usize = arg(&args, "--size").unwrap_or(64);
    let render: usize = arg(&args, "--render").unwrap_or(size);
    let lr: f64 = arg(&args, "--lr").unwrap_or(1e-3);
    let batch: usize = arg(&args, "--batch").unwrap_or(32);
    let seeds: u64 = arg(&args, "--seeds").unwrap_or(3);
    let first_seed: u64 = arg(&args, "--first-seed").unwrap_or(0);
    let tasks: String = arg(&args, "--tasks").unwrap_or_else(|| "lung,organ,head".to_string());
    let sampling = match arg::<String>(&args, "--sampling").as_deref() {
        None | Some("shuffle") => Sampling::Shuffle,
        Some("balanced") => Sampling::ClassBalanced,
        Some(other) => return Err(format!("unknown sampling {other} (shuffle, balanced)").into()),
    };
    let clamp_head = pair(&args, "--clamp-head");
    let frozen_epochs: usize = arg(&args, "--frozen-epochs").unwrap_or(0);
    // The CPU presets' input (configs/cpu-quick.toml): three CT windows as channels, then [−1, 1].
    let input = match arg::<String>(&args, "--input").as_deref() {
        None | Some("windows") => InputMapping {
            window: WindowStep::Multi(vec![HuWindow::LUNG, HuWindow::SOFT_TISSUE, HuWindow::BRAIN]),
            standardize: Some(Standardize::new(0.5, 0.5)),
        },
        Some("minmax") => InputMapping::default(),
        Some(other) => return Err(format!("unknown input {other} (windows, minmax)").into()),
    };
    let diagnose = args.iter().any(|a| a == "--diagnose");
    let tasks: Vec<Task> = tasks
        .split(',')
        .map(|name| match name {
            "lung" => Ok(Task::Lung),
            "organ" => Ok(Task::Organ),
            "head" => Ok(Task::Head),
            other => Err(format!("unknown task {other}")),
        })
        .collect::<Result<_, _>>()?;
    println!(
        "resnet_tiny from scratch: {patients} + {patients} labeled patients per seed, rendered at {render} px, \
         input {size} px ({} channel(s)), {epochs} epochs ({frozen_epochs} frozen), lr {lr}, batch {batch}, \
         {sampling:?}, seeds {first_seed}..{}",
        input.channels(),
        first_seed + seeds
    );
    if args.iter().any(|a| a == "--bn-selfcheck") {
        return bn_selfcheck(size);
    }
    let start = Instant::now();
    let mut runs: Vec<TaskRuns> = tasks.iter().map(|_| TaskRuns::default()).collect();
    for seed in first_seed..first_seed + seeds {
        let t0 = Instant::now();
        let dataset = Dataset::generate(phantom_config(&args, seed, patients, render))?;
        println!("seed {seed}: phantom generated in {:.1} s", t0.elapsed().as_secs_f64());
        for (ti, &task) in tasks.iter().enumerate() {
            let k = task.classes();
            let mut parts: [(InMemorySlices, Vec<u32>); 3] = Default::default();
            let (mut pixels, mut contrast) = (Vec::new(), Vec::new());
            for s in dataset.samples(task) {
                let part = match dataset.split(&s) {
                    Some(Split::Train) => 0,
                    Some(Split::Validation) => 1,
                    Some(Split::Test) => 2,
                    None => continue,
                };
                if diagnose && s.label == 1 {
                    if let Some((n, c)) = lesion_signal(&dataset, &s) {
                        pixels.push(n as f32);
                        contrast.push(c);
                    }
                }
                let (mut hu, side) = dataset.image(&s)?;
                if let (Task::Head, Some((lo, hi))) = (task, clamp_head) {
                    hu.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
                }
                parts[part].0.push(Image::from_vec(side, side, hu)?, format!("patient-{}", s.patient))?;
                parts[part].1.push(s.label);
            }
            if diagnose && !pixels.is_empty() {
                println!(
                    "  {:<5} positives: median lesion pixels {:.0}, median lesion contrast {:.4} of the min–max range",
                    task.name(),
                    median(&mut pixels),
                    median(&mut contrast)
                );
            }
            let [tr, va, te] = parts;
            let (train, val, test) = (
                LabeledSet::new(tr.0, tr.1, k)?.with_input(input.clone()),
                LabeledSet::new(va.0, va.1, k)?.with_input(input.clone()),
                LabeledSet::new(te.0, te.1, k)?.with_input(input.clone()),
            );
            let all: Vec<u32> = train.labels.iter().chain(&val.labels).chain(&test.labels).copied().collect();
            let positive_rate = all.iter().filter(|&&l| l == 1).count() as f64 / all.len().max(1) as f64;
            let model_cfg = ResNetConfig::resnet_tiny().with_in_channels(input.channels()).with_num_classes(Some(k));
            let model = ResNet::new(model_cfg, seed, &Device::Cpu)?;
            let cfg = FinetuneConfig {
                epochs,
                frozen_epochs,
                lr,
                batch_size: batch,
                image_size: size,
                sampling,
                seed,
                ..FinetuneConfig::default()
            };
            let t = Instant::now();
            // `--val-is-train` (a diagnostic): validate on the training split, so the per-epoch "val acc"
            // is the training accuracy in evaluation mode.
            let val_set = if args.iter().any(|a| a == "--val-is-train") { &train } else { &val };
            let r = finetune(&model, &train, val_set, &test, &cfg)?;
            if args.iter().any(|a| a == "--recalibrate-bn") {
                // Diagnostic: re-estimate the batch-norm running statistics for the kept weights (10 passes
                // over the training split in training mode, no weight update), then score the test split again.
                use ctssl_augment::{Loader, LoaderConfig, Recipe};
                let lc = LoaderConfig {
                    batch_size: batch,
                    sampling: Sampling::Shuffle,
                    drop_last: true,
                    seed,
                    prefetch: 1,
                    threads: None,
                };
                let loader =
                    Loader::labeled(train.slices.clone(), train.labels.clone(), input.apply(Recipe::eval(size)), lc)?;
                for pass in 0..10u64 {
                    for b in loader.epoch(pass) {
                        model.forward(&b?.views[0], true)?;
                    }
                }
                let probs = predict_proba(&model, &test, size, 128)?;
                let rep = ClassificationReport::from_probs(&probs, &test.labels, k)?;
                println!(
                    "        after re-estimating batch-norm statistics: test ROC-AUC {:.3} acc {:.3} bal acc {:.3}",
                    rep.roc_auc.unwrap_or(f64::NAN),
                    rep.accuracy,
                    rep.balanced_accuracy
                );
            }
            let secs = t.elapsed().as_secs_f64();
            let auc = r.test.roc_auc.unwrap_or(f64::NAN);
            println!(
                "  {:<5} train/val/test {}/{}/{}  label-1 rate {:.2}  best epoch {}  test ROC-AUC {auc:.3}  acc {:.3}  bal acc {:.3}  ({secs:.0} s)",
                task.name(),
                train.len(),
                val.len(),
                test.len(),
                positive_rate,
                r.best_epoch,
                r.test.accuracy,
                r.test.balanced_accuracy,
            );
            if args.iter().any(|a| a == "--train-eval") {
                // Accuracy on the training split in evaluation mode (batch-norm running statistics).
                let probs = predict_proba(&model, &train, size, 128)?;
                let report = ClassificationReport::from_probs(&probs, &train.labels, k)?;
                println!("        train split in eval mode: acc {:.3}, ROC-AUC {:?}", report.accuracy, report.roc_auc);
                use ctssl_augment::{Loader, LoaderConfig, Recipe};
                let lc = LoaderConfig {
                    batch_size: 32,
                    sampling: Sampling::Sequential,
                    drop_last: false,
                    seed: 0,
                    prefetch: 1,
                    threads: None,
                };
                for recipe in [input.apply(Recipe::finetune(size)), input.apply(Recipe::eval(size))] {
                    let name = recipe.name.clone();
                    let loader = Loader::labeled(train.slices.clone(), train.labels.clone(), recipe, lc)?;
                    if let Some(b) = loader.epoch(0).next() {
                        let x = b?.views[0].clone();
                        let v = x.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
                        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                        let stats = |t: candle_core::Tensor| -> Result<String, Box<dyn std::error::Error>> {
                            let l = t.to_dtype(candle_core::DType::F64)?.to_vec2::<f64>()?;
                            let d: Vec<f64> = l.iter().map(|r| r[1] - r[0]).collect();
                            let m = d.iter().sum::<f64>() / d.len() as f64;
                            let sd = (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / d.len() as f64).sqrt();
                            Ok(format!("logit diff mean {m:.3} sd {sd:.3}"))
                        };
                        println!(
                            "        {name}: input {:?} range {lo:.3}..{hi:.3}; eval mode {}; train mode {}",
                            x.dims(),
                            stats(model.forward(&x, false)?)?,
                            stats(model.forward(&x, true)?)?
                        );
                    }
                }
                for v in model
                    .named_vars("")
                    .into_iter()
                    .filter(|v| v.name.contains("running") || v.name.contains("tracked"))
                    .take(6)
                {
                    let t = v.var.as_tensor().flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
                    let m = t.iter().map(|x| x.abs()).sum::<f64>() / t.len().max(1) as f64;
                    println!("        {} mean |x| {m:.4}", v.name);
                }
            }
            if args.iter().any(|a| a == "--history") {
                let h: Vec<String> =
                    r.history.iter().map(|e| format!("{:.2}/{:.2}", e.train_loss, e.val_accuracy)).collect();
                println!("        train loss / val acc per epoch: {}", h.join(" "));
            }
            let run = &mut runs[ti];
            run.sizes.push([train.len(), val.len(), test.len()]);
            run.positive_rate.push(positive_rate);
            if auc.is_finite() {
                run.auc.push(auc);
            }
            run.accuracy.push(r.test.accuracy);
            run.balanced.push(r.test.balanced_accuracy);
            run.seconds.push(secs);
        }
    }
    println!("\nsummary over {seeds} seeds (mean ± 95% CI, Student t):");
    println!("| task | train / val / test (mean) | label-1 rate | test ROC-AUC | accuracy | balanced accuracy | train s / seed |");
    println!("|---|---|---|---|---|---|---|");
    for (task, run) in tasks.iter().zip(&runs) {
        let n = run.sizes.len().max(1) as f64;
        let mean_size = |j: usize| run.sizes.iter().map(|s| s[j] as f64).sum::<f64>() / n;
        println!(
            "| {} | {:.0} / {:.0} / {:.0} | {} | {} | {} | {} | {:.0} |",
            task.name(),
            mean_size(0),
            mean_size(1),
            mean_size(2),
            if task.classes() == 2 { ci(&run.positive_rate) } else { "— (11 classes)".to_string() },
            ci(&run.auc),
            ci(&run.accuracy),
            ci(&run.balanced),
            run.seconds.iter().sum::<f64>() / n
        );
    }
    println!("total {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Diagnostic: running statistics that have converged on one batch must make evaluation mode reproduce
/// training mode on that batch (60 training-mode passes, no weight update, then compare the logits).
fn bn_selfcheck(size: usize) -> Result<(), Box<dyn std::error::Error>> {
    use candle_core::Tensor;
    let model = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(2)), 1, &Device::Cpu)?;
    let x = Tensor::rand(0f32, 1f32, (16, 1, size, size), &Device::Cpu)?;
    let first = model.forward(&x, true)?.flatten_all()?.to_vec1::<f32>()?;
    for _ in 0..60 {
        model.forward(&x, true)?;
    }
    let a = model.forward(&x, true)?.flatten_all()?.to_vec1::<f32>()?;
    let drift = a.iter().zip(&first).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    println!("training-mode logits, first pass vs 62nd pass (no weight update): max diff {drift:.6}");
    let x2 = Tensor::rand(0f32, 1f32, (16, 1, size, size), &Device::Cpu)?;
    let a2 = model.forward(&x2, true)?.flatten_all()?.to_vec1::<f32>()?;
    let b2 = model.forward(&x2, false)?.flatten_all()?.to_vec1::<f32>()?;
    let d2 = a2.iter().zip(&b2).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    println!("another random batch of the same distribution: max |train − eval| = {d2:.5}");
    let b = model.forward(&x, false)?.flatten_all()?.to_vec1::<f32>()?;
    let diff = a.iter().zip(&b).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    let scale = a.iter().map(|p| p.abs()).fold(0f32, f32::max);
    for v in model.named_vars("").into_iter().filter(|v| v.name.contains("running")) {
        let t = v.var.as_tensor().flatten_all()?.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?;
        println!("  {:<32} mean {:+.4}  first {:+.4}", v.name, t.iter().sum::<f64>() / t.len() as f64, t[0]);
    }
    println!("train-mode logits {:?}", &a[..6]);
    println!("eval-mode logits  {:?}", &b[..6]);
    println!("max |train − eval| = {diff:.5} (largest |logit| {scale:.4})");
    // With momentum 1 one training pass stores exactly this batch's statistics.
    let momentum: f64 = std::env::var("BN_M").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let passes: usize = std::env::var("BN_P").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let config = ResNetConfig { bn_momentum: momentum, ..ResNetConfig::resnet_tiny().with_num_classes(Some(2)) };
    let m1 = ResNet::new(config, 1, &Device::Cpu)?;
    for _ in 0..passes {
        m1.forward(&x, true)?;
    }
    let a = m1.forward(&x, true)?.flatten_all()?.to_vec1::<f32>()?;
    let b = m1.forward(&x, false)?.flatten_all()?.to_vec1::<f32>()?;
    let f = m1.forward_features(&x, true)?.pooled.flatten_all()?.to_vec1::<f32>()?;
    let g = m1.forward_features(&x, false)?.pooled.flatten_all()?.to_vec1::<f32>()?;
    let d = |u: &[f32], v: &[f32]| u.iter().zip(v).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    println!("momentum 1: max |train − eval| logits {:.5}, pooled features {:.5}", d(&a, &b), d(&f, &g));
    let s1 = m1.forward_stem(&x, true)?.flatten_all()?.to_vec1::<f32>()?;
    let s2 = m1.forward_stem(&x, false)?.flatten_all()?.to_vec1::<f32>()?;
    println!("momentum 1: stem max |train − eval| {:.5}", d(&s1, &s2));
    let mut y1 = m1.forward_stem(&x, true)?;
    let mut y2 = m1.forward_stem(&x, false)?;
    for i in 0..4 {
        y1 = m1.forward_stage(i, &y1, true)?;
        y2 = m1.forward_stage(i, &y2, false)?;
        let (u, v) = (y1.flatten_all()?.to_vec1::<f32>()?, y2.flatten_all()?.to_vec1::<f32>()?);
        println!("momentum 1: stage {} {:?} max |train − eval| {:.5}", i + 1, y1.dims(), d(&u, &v));
    }
    Ok(())
}
