//! Difficulty check of the synthetic tasks: trains `resnet_tiny` from scratch on each of ctssl-phantom's
//! labeled tasks (patient splits of the phantom) and prints test ROC-AUC, accuracy and balanced accuracy.
//!
//! ```text
//! cargo run --release -p ctssl-train --example difficulty_resnet -- \
//!     [--patients 24] [--epochs 8] [--size 64] [--lr 1e-3] [--batch 32] [--seed 0] [--tasks lung,organ,head]
//! ```

use std::time::Instant;

use candle_core::Device;
use ctssl_augment::{Image, InMemorySlices};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_phantom::{Dataset, PhantomConfig, Split, Task};
use ctssl_train::eval::{finetune, FinetuneConfig, LabeledSet};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value for {name}: {v}")))
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let patients: usize = arg(&args, "--patients", 24);
    let epochs: usize = arg(&args, "--epochs", 8);
    let size: usize = arg(&args, "--size", 64);
    let lr: f64 = arg(&args, "--lr", 1e-3);
    let batch: usize = arg(&args, "--batch", 32);
    let seed: u64 = arg(&args, "--seed", 0);
    let tasks: String = arg(&args, "--tasks", "lung,organ,head".to_string());

    let t0 = Instant::now();
    let config = PhantomConfig {
        seed,
        image_size: size,
        torso_patients: patients,
        head_patients: patients,
        pretrain_torso_patients: 1,
        pretrain_head_patients: 1,
        ..PhantomConfig::default()
    };
    let dataset = Dataset::generate(config)?;
    println!(
        "phantom: {patients} + {patients} labeled patients, {size} px, generated in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    for name in tasks.split(',') {
        let task = match name {
            "lung" => Task::Lung,
            "organ" => Task::Organ,
            "head" => Task::Head,
            other => return Err(format!("unknown task {other}").into()),
        };
        let k = task.classes();
        let mut parts: [(InMemorySlices, Vec<u32>); 3] = Default::default();
        for s in dataset.samples(task) {
            let part = match dataset.split(&s) {
                Some(Split::Train) => 0,
                Some(Split::Validation) => 1,
                Some(Split::Test) => 2,
                None => continue,
            };
            let (hu, side) = dataset.image(&s)?;
            parts[part].0.push(Image::from_vec(side, side, hu)?, format!("patient-{}", s.patient))?;
            parts[part].1.push(s.label);
        }
        let [tr, va, te] = parts;
        let (train, val, test) =
            (LabeledSet::new(tr.0, tr.1, k)?, LabeledSet::new(va.0, va.1, k)?, LabeledSet::new(te.0, te.1, k)?);
        let model = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(k)), seed, &Device::Cpu)?;
        let cfg = FinetuneConfig {
            epochs,
            frozen_epochs: 0,
            lr,
            batch_size: batch,
            image_size: size,
            seed,
            ..FinetuneConfig::default()
        };
        let t = Instant::now();
        let r = finetune(&model, &train, &val, &test, &cfg)?;
        let auc = r.test.roc_auc.map_or("undefined".to_string(), |a| format!("{a:.3}"));
        println!(
            "{:<6} classes {k:>2}  train/val/test {}/{}/{}  best epoch {}  val acc {:.3}  test ROC-AUC {auc}  acc {:.3}  bal acc {:.3}  ({:.0} s)",
            task.name(),
            train.len(),
            val.len(),
            test.len(),
            r.best_epoch,
            r.history[r.best_epoch].val_accuracy,
            r.test.accuracy,
            r.test.balanced_accuracy,
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
