//! End-to-end check of every contrastive / joint-embedding method on synthetic CT: pre-train a small ResNet
//! on the unlabeled pool of ctssl-phantom with the real `Trainer`, then compare a kNN probe on held-out
//! labeled organ crops (patient split) before (random init) and after pre-training.
//!
//! ```text
//! cargo run --release -p ctssl-contrastive --example pretrain_curves -- \
//!     [--methods simclr,moco_v2,byol,swav,barlow_twins,vicreg,dino] [--steps 240] [--batch 32] [--size 64]
//!     [--width 16] [--seed 0] [--lr 1e-3] [--knn-k 20] [--pool-patients 8] [--labeled-patients 16]
//!     [--recipe own|study] [--no-flip] [--out target/pretrain_curves]
//! ```
//!
//! `--recipe own` (default) uses each method's own view recipe, `--recipe study` the study's CT recipe
//! (`study`, or `study_multi_crop` for SwAV and DINO): weaker intensity jitter, flips and rotation.
//!
//! `--no-flip` turns off the horizontal and vertical flips of every view (the organ task has left and right
//! organs as separate classes, which flip-invariant features cannot tell apart). Besides the 11-class kNN
//! accuracy, the table gives the accuracy with left / right organs merged (8 classes).
//!
//! Prints one table row per method (steps, first / last loss, final collapse monitors, kNN accuracy before /
//! after, majority-class chance level, seconds) and writes `summary.csv`, `curves.csv` (step, method, loss,
//! monitors) and `curves.png` (loss per method, raw and smoothed) into the output folder.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use ctssl_augment::{BuiltinRecipe, Image, InMemorySlices, Loader, LoaderConfig, WindowStep};
use ctssl_backbones::{LoadOptions, ResNet, ResNetConfig};
use ctssl_contrastive::methods::{build_method_with, method_spec, ContrastiveMethod, Scale, MONITOR_NAMES};
use ctssl_phantom::{Dataset, PhantomConfig, Split, Task};
use ctssl_train::eval::{argmax_rows, extract_features, knn_predict, KnnConfig, LabeledSet};
use ctssl_train::trainer::{RunLength, Trainer, TrainerConfig};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args.get(i + 1).ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("bad value for {name}: {v}"))
        }
    }
}

/// One method's result.
struct Row {
    method: String,
    steps: u64,
    first_loss: f64,
    last_loss: f64,
    monitors: [f64; 4],
    knn_before: (f64, f64),
    knn_after: (f64, f64),
    seconds: f64,
    lr: f64,
}

/// Organ crops of the labeled patients: kNN memory = training patients, queries = validation + test patients.
fn organ_sets(dataset: &Dataset) -> Result<(LabeledSet, LabeledSet), Box<dyn Error>> {
    let k = Task::Organ.classes();
    let mut parts: [(InMemorySlices, Vec<u32>); 2] = Default::default();
    for s in dataset.samples(Task::Organ) {
        let part = match dataset.split(&s) {
            Some(Split::Train) => 0,
            Some(Split::Validation) | Some(Split::Test) => 1,
            None => continue,
        };
        let (hu, side) = dataset.image(&s)?;
        parts[part].0.push(Image::from_vec(side, side, hu)?, format!("patient-{}", s.patient))?;
        parts[part].1.push(s.label);
    }
    let [tr, te] = parts;
    Ok((LabeledSet::new(tr.0, tr.1, k)?, LabeledSet::new(te.0, te.1, k)?))
}

/// Organ class with left and right merged: bladder, femur, heart, kidney, liver, lung, pancreas, spleen.
fn side_merged(label: usize) -> usize {
    [0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7].get(label).copied().unwrap_or(label)
}

/// kNN accuracy of the encoder `state` on `query` with `memory` as the labeled bank: 11 classes, and with
/// left / right organs counted as one class.
fn knn_accuracy(
    cfg: &ResNetConfig,
    state: &HashMap<String, Tensor>,
    memory: &LabeledSet,
    query: &LabeledSet,
    size: usize,
    k: usize,
) -> Result<(f64, f64), Box<dyn Error>> {
    let model = ResNet::new(cfg.clone(), 0, &Device::Cpu)?;
    model.load_state_dict(state, &LoadOptions::strict())?;
    let fm = extract_features(&model, memory, size, 64)?;
    let fq = extract_features(&model, query, size, 64)?;
    let p = knn_predict(&fm, &memory.labels, &fq, memory.num_classes, &KnnConfig { k, temperature: 0.07 })?;
    let pred = argmax_rows(&p, memory.num_classes);
    let n = query.len() as f64;
    let exact = pred.iter().zip(&query.labels).filter(|(a, b)| **a as u32 == **b).count() as f64 / n;
    let merged = pred.iter().zip(&query.labels).filter(|(a, b)| side_merged(**a) == side_merged(**b as usize)).count()
        as f64
        / n;
    Ok((exact, merged))
}

/// One step of a curve: (step, loss, the four monitors).
type Point = (u64, f64, [f64; 4]);

/// The step records of a run's `metrics.csv`.
fn read_curve(run_dir: &Path) -> Result<Vec<Point>, Box<dyn Error>> {
    let text = std::fs::read_to_string(run_dir.join("metrics.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty metrics.csv")?.split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n);
    let (step_c, loss_c) = (col("step").ok_or("no step column")?, col("loss").ok_or("no loss column")?);
    let mon_c: Vec<Option<usize>> = MONITOR_NAMES.iter().map(|n| col(n)).collect();
    let mut by_step: std::collections::BTreeMap<u64, (f64, [f64; 4])> = Default::default();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        let step = get(Some(step_c));
        if step.is_finite() {
            let m = [get(mon_c[0]), get(mon_c[1]), get(mon_c[2]), get(mon_c[3])];
            by_step.insert(step as u64, (get(Some(loss_c)), m));
        }
    }
    Ok(by_step.into_iter().map(|(s, (l, m))| (s, l, m)).collect())
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// Loss per method in a grid of panels (raw in light colour, moving average of 10 steps on top).
fn plot(path: &Path, curves: &[(String, Vec<Point>)]) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;
    ctssl_study::plot::register_font();
    let cols = 4;
    let rows = curves.len().div_ceil(cols);
    let root = BitMapBackend::new(path, (1200, 300 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((rows, cols));
    for (i, (name, curve)) in curves.iter().enumerate() {
        let losses: Vec<f64> = curve.iter().map(|c| c.1).filter(|v| v.is_finite()).collect();
        if losses.is_empty() {
            continue;
        }
        let (lo, hi) = losses.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-6);
        let last = curve.last().map_or(1, |c| c.0 + 1);
        let mut chart = ChartBuilder::on(&panels[i])
            .caption(name, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0u64..last, (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("step").y_desc("loss").label_style(("sans-serif", 11)).draw()?;
        let colour = Palette99::pick(i);
        chart.draw_series(LineSeries::new(curve.iter().map(|c| (c.0, c.1)), colour.mix(0.25)))?;
        let smooth: Vec<(u64, f64)> = (0..curve.len())
            .map(|j| {
                let from = j.saturating_sub(9);
                (curve[j].0, mean(&curve[from..=j].iter().map(|c| c.1).collect::<Vec<_>>()))
            })
            .collect();
        chart.draw_series(LineSeries::new(smooth, colour.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let all: Vec<String> = ContrastiveMethod::ALL.iter().map(ToString::to_string).collect();
    let methods: String = arg(&args, "--methods", all.join(","))?;
    let steps: u64 = arg(&args, "--steps", 240)?;
    let batch: usize = arg(&args, "--batch", 32)?;
    let size: usize = arg(&args, "--size", 64)?;
    let width: usize = arg(&args, "--width", 16)?;
    let seed: u64 = arg(&args, "--seed", 0)?;
    let lr_override: f64 = arg(&args, "--lr", f64::NAN)?;
    let knn_k: usize = arg(&args, "--knn-k", 20)?;
    let pool_patients: usize = arg(&args, "--pool-patients", 8)?;
    let labeled_patients: usize = arg(&args, "--labeled-patients", 16)?;
    let no_flip = args.iter().any(|a| a == "--no-flip");
    let recipe_choice: String = arg(&args, "--recipe", "own".to_string())?;
    let out: PathBuf = arg(&args, "--out", PathBuf::from("target/pretrain_curves"))?;
    std::fs::create_dir_all(&out)?;

    let t0 = Instant::now();
    let phantom = PhantomConfig {
        seed,
        image_size: size,
        torso_patients: labeled_patients,
        head_patients: 2,
        pretrain_torso_patients: pool_patients,
        pretrain_head_patients: pool_patients / 2,
        ..PhantomConfig::default()
    };
    let dataset = Dataset::generate(phantom)?;
    let mut pool = InMemorySlices::new();
    for (p, k) in dataset.pretrain_slices() {
        let s = &dataset.patients[p].slices[k];
        pool.push(Image::from_vec(s.size, s.size, s.values.clone())?, format!("patient-{p}"))?;
    }
    let (memory, query) = organ_sets(&dataset)?;
    let mut counts = vec![0usize; query.num_classes];
    for &l in &query.labels {
        counts[l as usize] += 1;
    }
    let chance = *counts.iter().max().unwrap_or(&0) as f64 / query.len().max(1) as f64;
    let mut merged_counts = [0usize; 8];
    for &l in &query.labels {
        merged_counts[side_merged(l as usize).min(7)] += 1;
    }
    let chance_merged = *merged_counts.iter().max().unwrap_or(&0) as f64 / query.len().max(1) as f64;
    println!(
        "phantom: pool {} slices ({} + {} patients), organ kNN memory {} / queries {} ({} classes), {size} px, {:.1} s",
        pool.slices.len(),
        pool_patients,
        pool_patients / 2,
        memory.len(),
        query.len(),
        query.num_classes,
        t0.elapsed().as_secs_f64()
    );

    let backbone = ResNetConfig::resnet_tiny().with_base_width(width);
    let mut rows = Vec::new();
    let mut curves = Vec::new();
    for name in methods.split(',') {
        let t = Instant::now();
        let m: ContrastiveMethod = name.parse()?;
        let spec = method_spec(m, Scale::Small);
        let mut method = build_method_with(m, backbone.clone(), Scale::Small, seed, &Device::Cpu)?;
        let knn_before = knn_accuracy(&backbone, &method.encoder_state_dict()?, &memory, &query, size, knn_k)?;
        // Per-slice min-max scaling, as the evaluation recipe does, so probe and pre-training see the same range.
        let recipe_id = match recipe_choice.as_str() {
            "own" => spec.recipe,
            "study" => spec.study_recipe.unwrap_or(if m.multi_crop() {
                BuiltinRecipe::StudyMultiCrop
            } else {
                BuiltinRecipe::Study
            }),
            other => return Err(format!("--recipe must be own or study, got {other}").into()),
        };
        let mut recipe = recipe_id.recipe(size).with_window(WindowStep::MinMax);
        if no_flip {
            for v in &mut recipe.views {
                v.hflip = 0.0;
                v.vflip = 0.0;
            }
        }
        let loader_cfg = LoaderConfig { batch_size: batch, seed, ..LoaderConfig::default() };
        let loader = Loader::new(pool.clone(), recipe, loader_cfg)?;
        let nb = loader.num_batches() as u64;
        let epochs = steps.div_ceil(nb).max(1);
        let mut choice = spec.optimizer;
        if lr_override.is_finite() {
            choice.lr = lr_override;
        }
        let cfg = TrainerConfig {
            checkpoint_every: 0,
            keep_last: 1,
            log_every_s: 30.0,
            ..choice.trainer_config(RunLength { epochs, steps_per_epoch: nb, batch_size: batch }, seed)?
        };
        let run_dir = out.join("runs").join(m.name());
        if run_dir.exists() {
            std::fs::remove_dir_all(&run_dir)?;
        }
        let mut opt = choice.build(method.trainable_vars(), batch)?;
        let summary = Trainer::new(cfg, &run_dir)?.run(method.as_mut(), opt.as_mut(), &loader)?;
        let knn_after = knn_accuracy(&backbone, &method.encoder_state_dict()?, &memory, &query, size, knn_k)?;
        let curve = read_curve(&run_dir)?;
        let losses: Vec<f64> = curve.iter().map(|c| c.1).collect();
        let w = (losses.len() / 10).max(1);
        let monitors =
            curve.iter().rev().map(|c| c.2).find(|m| m.iter().all(|v| v.is_finite())).unwrap_or([f64::NAN; 4]);
        let row = Row {
            method: m.to_string(),
            steps: summary.steps_done,
            first_loss: mean(&losses[..w.min(losses.len())]),
            last_loss: mean(&losses[losses.len().saturating_sub(w)..]),
            monitors,
            knn_before,
            knn_after,
            seconds: t.elapsed().as_secs_f64(),
            lr: choice.lr_for_batch(batch),
        };
        println!(
            "{:<13} {:>4} steps  loss {:.4} -> {:.4}  std {:.4} rank {:.1} align {:.3} unif {:.3}  kNN {:.3} -> {:.3} (chance {:.3}), sides merged {:.3} -> {:.3} (chance {:.3})  {:.0} s",
            row.method,
            row.steps,
            row.first_loss,
            row.last_loss,
            row.monitors[0],
            row.monitors[1],
            row.monitors[2],
            row.monitors[3],
            row.knn_before.0,
            row.knn_after.0,
            chance,
            row.knn_before.1,
            row.knn_after.1,
            chance_merged,
            row.seconds
        );
        rows.push(row);
        curves.push((m.to_string(), curve));
    }

    let mut summary = String::from(
        "method,steps,lr,first_loss,last_loss,monitor_std,monitor_rank,monitor_alignment,monitor_uniformity,knn_before,knn_after,chance,knn_merged_before,knn_merged_after,chance_merged,seconds\n",
    );
    println!(
        "\n| method | steps | loss first → last (mean of 10 %) | std | eff. rank | alignment | uniformity | kNN before | kNN after | chance | kNN L/R merged before | after | chance | s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} → {:.3} | {:.4} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} |",
            r.method,
            r.steps,
            r.first_loss,
            r.last_loss,
            r.monitors[0],
            r.monitors[1],
            r.monitors[2],
            r.monitors[3],
            r.knn_before.0,
            r.knn_after.0,
            chance,
            r.knn_before.1,
            r.knn_after.1,
            chance_merged,
            r.seconds
        );
        summary.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1}\n",
            r.method,
            r.steps,
            r.lr,
            r.first_loss,
            r.last_loss,
            r.monitors[0],
            r.monitors[1],
            r.monitors[2],
            r.monitors[3],
            r.knn_before.0,
            r.knn_after.0,
            chance,
            r.knn_before.1,
            r.knn_after.1,
            chance_merged,
            r.seconds
        ));
    }
    std::fs::write(out.join("summary.csv"), summary)?;
    let mut csv = format!("method,step,loss,{}\n", MONITOR_NAMES.join(","));
    for (name, curve) in &curves {
        for (s, l, m) in curve {
            csv.push_str(&format!("{name},{s},{l},{},{},{},{}\n", m[0], m[1], m[2], m[3]));
        }
    }
    std::fs::write(out.join("curves.csv"), csv)?;
    match plot(&out.join("curves.png"), &curves) {
        Ok(()) => println!("wrote {}", out.join("curves.png").display()),
        Err(e) => println!("no plot: {e}"),
    }
    println!("wrote {} and {}", out.join("summary.csv").display(), out.join("curves.csv").display());
    Ok(())
}
