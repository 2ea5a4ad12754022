//! Evaluation protocols on a tiny separable problem: small vs large discs in 16 px slices, one patient
//! per slice, split by patient.

use candle_core::{DType, Device};
use ctssl_augment::{Image, InMemorySlices};
use ctssl_backbones::{ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl_train::eval::{
    argmax_rows, extract_features, finetune, knn_predict, linear_probe, predict_proba, Augment, ClassificationReport,
    FinetuneConfig, KnnConfig, LabeledSet, LinearProbeConfig, Selection,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn discs(n: usize, seed: u64) -> LabeledSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut slices = InMemorySlices::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let class = (i % 2) as u32;
        let r = if class == 0 { 3.0 } else { 6.5 } + rng.random_range(-0.5f32..0.5);
        let (cy, cx) = (8.0 + rng.random_range(-1.0f32..1.0), 8.0 + rng.random_range(-1.0f32..1.0));
        let hu: Vec<f32> = (0..256)
            .map(|k| {
                let (y, x) = ((k / 16) as f32 - cy, (k % 16) as f32 - cx);
                let base = if x * x + y * y < r * r { 60.0 } else { -900.0 };
                base + rng.random_range(-30.0f32..30.0)
            })
            .collect();
        slices.push(Image::from_vec(16, 16, hu).unwrap(), format!("patient-{i:03}")).unwrap();
        labels.push(class);
    }
    LabeledSet::new(slices, labels, 2).unwrap()
}

fn model(seed: u64) -> ResNet {
    let cfg = ResNetConfig::resnet_tiny().with_base_width(4).with_num_classes(Some(2));
    ResNet::new(cfg, seed, &Device::Cpu).unwrap()
}

fn cfg(epochs: usize, frozen: usize) -> FinetuneConfig {
    FinetuneConfig {
        epochs,
        frozen_epochs: frozen,
        lr: 1e-2,
        batch_size: 8,
        image_size: 16,
        eval_batch_size: 32,
        ..Default::default()
    }
}

fn values(m: &ResNet, fc: bool) -> Vec<(String, Vec<f64>)> {
    m.named_vars("")
        .into_iter()
        .filter(|v| v.name.starts_with("fc.") == fc)
        .map(|v| {
            (v.name.clone(), v.var.as_tensor().to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap())
        })
        .collect()
}

#[test]
fn finetune_learns_and_keeps_the_best_validation_epoch() {
    let (train, val, test) = discs(60, 1).split_by_patient(0.2, 0.2, 7).unwrap();
    assert_eq!((train.len(), val.len(), test.len()), (36, 12, 12));
    let m = model(3);
    let r = finetune(&m, &train, &val, &test, &cfg(8, 2)).unwrap();
    assert_eq!(r.history.len(), 8);
    assert!(r.history[..2].iter().all(|e| e.frozen) && r.history[2..].iter().all(|e| !e.frozen));
    assert!(r.test.accuracy >= 0.9, "{r:?}");
    let best = r.history.iter().map(|e| e.val_accuracy).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(r.history[r.best_epoch].val_accuracy, best);
    assert!(r.history[..r.best_epoch].iter().all(|e| e.val_accuracy < best));
    // The model holds the kept epoch's weights.
    let p = predict_proba(&m, &val, 16, 32).unwrap();
    let acc = ClassificationReport::from_probs(&p, &val.labels, 2).unwrap().accuracy;
    assert_eq!(acc, r.history[r.best_epoch].val_accuracy);
}

#[test]
fn a_step_budget_is_the_same_whatever_the_subset_and_selects_on_the_chosen_score() {
    let (train, val, test) = discs(60, 1).split_by_patient(0.2, 0.2, 7).unwrap();
    let steps_cfg = |selection| FinetuneConfig {
        steps: 10,
        eval_every: 4,
        epochs: 0,
        frozen_epochs: 0,
        selection,
        augment: Augment::KeepLaterality,
        ..cfg(1, 0)
    };
    // a subset of 8 slices (one batch per epoch) and the whole split (4 batches) get the same 10 steps,
    // checked after 4, 8 and 10
    for n in [8usize, train.len()] {
        let sub = train.subset(&(0..n).collect::<Vec<_>>()).unwrap();
        let r = finetune(&model(3), &sub, &val, &test, &steps_cfg(Selection::Loss)).unwrap();
        assert_eq!(r.history.iter().map(|e| e.step).collect::<Vec<_>>(), vec![4, 8, 10], "{n} slices");
        let best = r.history.iter().map(|e| e.val_loss).fold(f64::INFINITY, f64::min);
        assert_eq!(r.history.iter().find(|e| e.step == r.best_step).unwrap().val_loss, best);
        assert_eq!(r.test_probs.len(), test.len() * 2);
    }
    let r = finetune(&model(3), &train, &val, &test, &steps_cfg(Selection::RocAuc)).unwrap();
    let best = r.history.iter().map(|e| e.val_roc_auc.unwrap()).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(r.history.iter().find(|e| e.step == r.best_step).unwrap().val_roc_auc, Some(best));
    // a step budget trains the whole network: frozen epochs are refused
    assert!(finetune(
        &model(3),
        &train,
        &val,
        &test,
        &FinetuneConfig { frozen_epochs: 1, ..steps_cfg(Selection::Loss) }
    )
    .is_err());
}

#[test]
fn frozen_epochs_leave_the_backbone_unchanged() {
    let (train, val, test) = discs(24, 2).split_by_patient(0.25, 0.25, 1).unwrap();
    let m = model(4);
    let (backbone, head) = (values(&m, false), values(&m, true));
    assert!(backbone.iter().any(|(n, _)| n == "layer1.0.bn1.running_mean"));
    finetune(&m, &train, &val, &test, &cfg(2, 2)).unwrap();
    assert_eq!(values(&m, false), backbone, "weights or batch-norm statistics of the backbone changed");
    assert_ne!(values(&m, true), head);
    // With unfreezing, the backbone moves.
    let m2 = model(4);
    finetune(&m2, &train, &val, &test, &cfg(2, 1)).unwrap();
    assert!(m2.named_vars("").into_iter().any(|v| v.kind == ParamKind::Trainable && !v.name.starts_with("fc.")));
    assert_ne!(values(&m2, false), backbone);
}

#[test]
fn linear_probe_and_knn_on_frozen_features() {
    let (train, val, test) = discs(60, 5).split_by_patient(0.2, 0.2, 3).unwrap();
    let m = model(9);
    let f = |s: &LabeledSet| extract_features(&m, s, 16, 32).unwrap();
    let (ftr, fva, fte) = (f(&train), f(&val), f(&test));
    assert_eq!(ftr.dims(), &[36, 32]);
    let pc = LinearProbeConfig::default();
    let r = linear_probe((&ftr, &train.labels), (&fva, &val.labels), (&fte, &test.labels), 2, &pc).unwrap();
    assert!(r.test.accuracy >= 0.9, "{:?}", r.test);
    let p = knn_predict(&ftr, &train.labels, &fte, 2, &KnnConfig { k: 5, temperature: 0.07 }).unwrap();
    let knn = ClassificationReport::from_probs(&p, &test.labels, 2).unwrap();
    assert!(knn.accuracy >= 0.9, "{knn:?}");
    assert_eq!(argmax_rows(&p, 2).len(), 12);
}
