//! Difficulty probe: generate a labeled dataset in memory and report, per task, the test ROC-AUC and
//! accuracy of a logistic regression on windowed 16 × 16 pixels plus an HU histogram (split by patient).
//!
//! ```text
//! cargo run --release -p ctssl-phantom --example difficulty -- [--patients 100] [--seed 0] [--image-size 128]
//! ```

use std::time::Instant;

use clap::Parser;
use ctssl_phantom::probe::probe_task;
use ctssl_phantom::{Dataset, PhantomConfig, ALL_TASKS};

#[derive(Parser, Debug)]
struct Args {
    /// Labeled patients per protocol (torso and head).
    #[arg(long, default_value_t = 100)]
    patients: usize,
    /// Dataset seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    image_size: usize,
    /// Only these tasks (comma-separated: lung,organ,head).
    #[arg(long, default_value = "lung,organ,head")]
    tasks: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = PhantomConfig {
        seed: args.seed,
        image_size: args.image_size,
        torso_patients: if args.tasks.contains("lung") || args.tasks.contains("organ") { args.patients } else { 0 },
        head_patients: if args.tasks.contains("head") { args.patients } else { 0 },
        pretrain_torso_patients: 0,
        pretrain_head_patients: 0,
        ..PhantomConfig::default()
    };
    let start = Instant::now();
    let dataset = Dataset::generate(config)?;
    println!("generated {} patients in {:.1} s", dataset.patients.len(), start.elapsed().as_secs_f64());
    for task in ALL_TASKS.into_iter().filter(|t| args.tasks.contains(t.name())) {
        let samples = dataset.samples(task);
        let positives = samples.iter().filter(|s| s.label == 1).count();
        let r = probe_task(&dataset, task)?;
        println!(
            "task {:5}: {} samples ({} with label 1), train {} test {}: test ROC-AUC {:.3}, accuracy {:.3}",
            task.name(),
            samples.len(),
            positives,
            r.train,
            r.test,
            r.auc,
            r.accuracy
        );
    }
    Ok(())
}
