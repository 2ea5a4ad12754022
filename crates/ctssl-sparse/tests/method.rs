//! SparK as a `ctssl-train` method: defaults, names, masks from the run's generator, state round trip,
//! export, and a few trainer steps with previews.

mod common;
use common::seeded;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use ctssl_augment::{phantom_slices, Loader, LoaderConfig, Recipe};
use ctssl_backbones::{LoadOptions, ResNet, ResNetConfig};
use ctssl_sparse::{ExecutionPath, Spark, SparkConfig};
use ctssl_train::method::{PretrainMethod, StepContext};
use ctssl_train::optim::Lamb;
use ctssl_train::trainer::{RunLength, Trainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn small() -> (ResNetConfig, SparkConfig) {
    (ResNetConfig::resnet_tiny().with_base_width(8), SparkConfig::default().with_decoder_width(32))
}

#[test]
fn defaults_follow_the_paper() {
    let c = SparkConfig::default();
    assert_eq!(c.mask_ratio, 0.6);
    assert_eq!(c.path, ExecutionPath::Sparse);
    assert_eq!(c.recipe, "spark");
    let o = c.optimizer;
    assert_eq!(o.betas, (0.9, 0.95));
    assert_eq!(o.clip_grad_norm, 5.0);
    assert!((o.peak_lr(256) - 2e-4).abs() < 1e-15 && (o.peak_lr(32) - 2.5e-5).abs() < 1e-15);
    let wd = o.weight_decay_schedule(100).unwrap();
    assert!((wd.at(0) - 0.04).abs() < 1e-12 && (wd.at(100) - 0.2).abs() < 1e-12);
    let length = RunLength { epochs: 100, steps_per_epoch: 10, batch_size: 32 };
    let lr = o.lr_schedule(length).unwrap();
    assert!((lr.at(0) - 0.005 * 2.5e-5).abs() < 1e-15);
    assert!((lr.at(400) - 2.5e-5).abs() < 1e-15, "peak after 40 warm-up epochs");
    assert!((lr.at(1000) - 0.001 * 2.5e-5).abs() < 1e-15);
    let t = o.trainer_config(length, 7).unwrap();
    assert_eq!((t.clip_grad_norm, t.epochs, t.seed), (Some(5.0), 100, 7));
    assert!(SparkConfig::default().with_mask_ratio(1.0).validate().is_err());
}

#[test]
fn names_groups_state_and_export() {
    let (b, c) = small();
    let m = Spark::new(b.clone(), c.clone(), 3, &Device::Cpu).unwrap();
    let vars = m.trainable_vars();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"encoder.conv1.weight") && names.contains(&"mask_tokens.0"));
    assert!(names.iter().all(|n| !n.starts_with("encoder.fc.")));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    // Mask tokens and rank-1 tensors are not decayed.
    let groups = c.optimizer.param_groups(vars.clone());
    assert_eq!(groups.len(), 2);
    assert!(groups[1].params.iter().any(|(n, _)| n == "mask_tokens.0") && groups[1].wd_scale == 0.0);
    assert!(groups[0].params.iter().all(|(_, v)| v.as_tensor().rank() > 1));
    // State: BN buffers of encoder and head, round trip into another instance.
    let state: HashMap<String, Tensor> = m.state_tensors().unwrap().into_iter().collect();
    assert!(state.contains_key("encoder.bn1.running_var") && state.contains_key("densify_norms.0.running_mean"));
    let mut other = Spark::new(b.clone(), c, 4, &Device::Cpu).unwrap();
    other.load_state_tensors(&state).unwrap();
    let mut missing = state.clone();
    missing.remove("encoder.bn1.running_var");
    assert!(other.load_state_tensors(&missing).is_err());
    // Export: loads into the backbone with only the classifier missing.
    let fresh = ResNet::new(b.with_num_classes(Some(3)), 9, &Device::Cpu).unwrap();
    let report = fresh.load_state_dict(&m.encoder_state_dict().unwrap(), &LoadOptions::partial()).unwrap();
    let mut miss = report.missing.clone();
    miss.sort();
    assert_eq!(miss, vec!["fc.bias".to_string(), "fc.weight".to_string()]);
    assert!(report.unexpected.is_empty() && report.shape_mismatch.is_empty());
}

#[test]
fn masks_come_from_the_run_generator() {
    let (b, c) = small();
    let mut m = Spark::new(b, c, 1, &Device::Cpu).unwrap();
    let x = seeded(&[2, 1, 32, 32], 1).to_dtype(DType::F32).unwrap();
    let loss = |m: &mut Spark, seed: u64, step: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ctx = StepContext { step, total_steps: 10, epoch: 0, rng: &mut rng };
        m.loss(std::slice::from_ref(&x), &mut ctx)
            .unwrap()
            .loss
            .to_dtype(DType::F64)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    // Same generator state and step: the same mask, so the same loss (BN in training mode uses batch
    // statistics, so the running-statistics update between calls does not change the loss).
    let a = loss(&mut m, 5, 2);
    assert_eq!(a, loss(&mut m, 5, 2));
    assert_ne!(a, loss(&mut m, 6, 2));
}

#[test]
fn trainer_runs_lamb_steps_and_writes_previews() {
    let (b, c) = small();
    let dir = tempfile::tempdir().unwrap();
    let source = phantom_slices(8, 32).unwrap();
    let loader =
        Loader::new(source, Recipe::spark(32), LoaderConfig { batch_size: 4, seed: 1, ..LoaderConfig::default() })
            .unwrap();
    let mut method = Spark::new(b, c.clone(), 2, &Device::Cpu).unwrap().with_previews(dir.path().join("p"), 2, 2);
    let mut o = c.optimizer;
    o.base_lr = 0.05;
    o.warmup_epochs = 1.0;
    let mut opt = Lamb::new(o.param_groups(method.trainable_vars()), o.lamb_config(4)).unwrap();
    let cfg = o
        .trainer_config(RunLength { epochs: 2, steps_per_epoch: loader.num_batches() as u64, batch_size: 4 }, 0)
        .unwrap();
    let summary = Trainer::new(cfg, dir.path().join("run")).unwrap().run(&mut method, &mut opt, &loader).unwrap();
    assert_eq!(summary.steps_done, 4);
    assert!(summary.last_loss.unwrap().is_finite());
    for step in [0, 2] {
        let png = image::open(dir.path().join(format!("p/step_{step:06}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (4 * 32, 2 * 32));
    }
}
