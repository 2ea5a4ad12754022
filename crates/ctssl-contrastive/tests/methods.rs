//! The method structs: losses through the real trainer, no gradient into EMA targets, EMA-only target
//! updates, queue order, SwAV prototype freezing and normalisation, exact state round trips, export names.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_augment::{Image, InMemorySlices, Loader, LoaderConfig};
use ctssl_backbones::{ResNet, ResNetConfig};
use ctssl_contrastive::methods::*;
use ctssl_contrastive::{info_nce, SwavLossConfig};
use ctssl_kernels::ops::l2_normalize;
use ctssl_train::method::{PretrainMethod, StepContext};
use ctssl_train::trainer::{RunLength, Trainer, TrainerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn backbone() -> ResNetConfig {
    ResNetConfig::resnet_tiny().with_base_width(4)
}

fn randn(seed: u64, dims: &[usize]) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// Two 16-px views, then (multi-crop) two 8-px views, batch 4.
fn views(seed: u64, multi_crop: bool) -> Vec<Tensor> {
    let mut v = vec![randn(seed, &[4, 1, 16, 16]), randn(seed + 1, &[4, 1, 16, 16])];
    if multi_crop {
        v.push(randn(seed + 2, &[4, 1, 8, 8]));
        v.push(randn(seed + 3, &[4, 1, 8, 8]));
    }
    v
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    values(a).iter().zip(values(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn scalar(t: &Tensor) -> f64 {
    values(t)[0]
}

fn ctx_loss(m: &mut dyn PretrainMethod, views: &[Tensor], step: u64, total: u64) -> (Tensor, Vec<(String, f64)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut ctx = StepContext { step, total_steps: total, epoch: 0, rng: &mut rng };
    let out = m.loss(views, &mut ctx).unwrap();
    (out.loss, out.logs)
}

/// A plain SGD step over `vars` with learning rate `lr`.
fn sgd_step(vars: &[(String, Var)], loss: &Tensor, lr: f64) {
    let grads = loss.backward().unwrap();
    for (_, v) in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            v.set(&(v.as_tensor() - (g * lr).unwrap()).unwrap()).unwrap();
        }
    }
}

fn snapshot(vars: &[(String, Var)]) -> Vec<Tensor> {
    vars.iter().map(|(_, v)| v.as_tensor().copy().unwrap()).collect()
}

fn small(name: ContrastiveMethod) -> Box<dyn PretrainMethod> {
    build_method_with(name, backbone(), Scale::Small, 3, &Device::Cpu).unwrap()
}

fn slices(n: usize) -> InMemorySlices {
    let mut s = InMemorySlices::new();
    for i in 0..n {
        let side = 24;
        let r = 6.0 + i as f32;
        let hu: Vec<f32> = (0..side * side)
            .map(|k| {
                let (y, x) = ((k / side) as f32 - 12.0, (k % side) as f32 - 12.0);
                if x * x + y * y < r * r {
                    40.0 * i as f32
                } else {
                    -1000.0
                }
            })
            .collect();
        s.push(Image::from_vec(side, side, hu).unwrap(), format!("p{i}")).unwrap();
    }
    s
}

#[test]
fn every_method_trains_through_the_trainer_and_logs_monitors() {
    for name in ContrastiveMethod::ALL {
        let spec = method_spec(name, Scale::Small);
        let recipe = spec.recipe.recipe(16);
        let loader = Loader::new(
            slices(8),
            recipe,
            LoaderConfig { batch_size: 4, seed: 1, threads: Some(1), ..Default::default() },
        )
        .unwrap();
        let mut method = small(name);
        let mut opt = spec.optimizer.build(method.trainable_vars(), 4).unwrap();
        let length = RunLength { epochs: 2, steps_per_epoch: loader.num_batches() as u64, batch_size: 4 };
        let cfg = spec.optimizer.trainer_config(length, 5).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let summary = Trainer::new(TrainerConfig { log_every_s: 1e9, ..cfg }, dir.path())
            .unwrap()
            .run(method.as_mut(), opt.as_mut(), &loader)
            .unwrap();
        assert_eq!(summary.steps_done, 4, "{name}");
        assert!(summary.last_loss.is_some_and(f64::is_finite), "{name}: {summary:?}");
        let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        for m in MONITOR_NAMES {
            assert!(csv.lines().next().unwrap().contains(m), "{name}: no {m} in {csv}");
        }
    }
}

#[test]
fn encoder_state_dict_is_the_plain_backbone() {
    let want: std::collections::BTreeSet<String> =
        ResNet::new(backbone(), 0, &Device::Cpu).unwrap().state_dict().unwrap().into_keys().collect();
    for name in ContrastiveMethod::ALL {
        let got: std::collections::BTreeSet<String> = small(name).encoder_state_dict().unwrap().into_keys().collect();
        assert_eq!(got, want, "{name}");
        // The exported weights are the trainable (online / student / query) ones.
        let m = small(name);
        let w = &m.encoder_state_dict().unwrap()["conv1.weight"];
        let v = m.trainable_vars().into_iter().find(|(n, _)| n == "backbone.conv1.weight").unwrap().1;
        assert_eq!(max_diff(w, v.as_tensor()), 0.0, "{name}");
    }
}

#[test]
fn names_are_unique_and_state_is_disjoint() {
    for name in ContrastiveMethod::ALL {
        let m = small(name);
        let mut seen = std::collections::HashSet::new();
        for (n, _) in m.trainable_vars() {
            assert!(seen.insert(n.clone()), "{name}: duplicate {n}");
        }
        for (n, _) in m.state_tensors().unwrap() {
            assert!(seen.insert(n.clone()), "{name}: state name {n} clashes");
        }
    }
}

/// Loads `a`'s trainable variables and state into `b`.
fn copy_into(a: &dyn PretrainMethod, b: &mut dyn PretrainMethod) {
    let params: HashMap<String, Tensor> =
        a.trainable_vars().into_iter().map(|(n, v)| (n, v.as_tensor().copy().unwrap())).collect();
    ctssl_train::method::load_vars(&params, &b.trainable_vars()).unwrap();
    let state: HashMap<String, Tensor> = a.state_tensors().unwrap().into_iter().collect();
    b.load_state_tensors(&state).unwrap();
}

#[test]
fn state_round_trip_gives_the_same_loss() {
    for name in ContrastiveMethod::ALL {
        let multi = name.multi_crop();
        let mut a = small(name);
        // A few steps so that BN statistics, EMA targets, queues and the centre move.
        for step in 0..3 {
            let vars = a.trainable_vars();
            let (loss, _) = ctx_loss(a.as_mut(), &views(10 + step, multi), step, 10);
            sgd_step(&vars, &loss, 0.05);
            a.after_step(step, 10).unwrap();
        }
        let mut b = build_method_with(name, backbone(), Scale::Small, 99, &Device::Cpu).unwrap();
        copy_into(a.as_ref(), b.as_mut());
        let sa: HashMap<String, Tensor> = a.state_tensors().unwrap().into_iter().collect();
        for (n, t) in b.state_tensors().unwrap() {
            assert_eq!(
                max_diff(&t.to_dtype(DType::F64).unwrap(), &sa[&n].to_dtype(DType::F64).unwrap()),
                0.0,
                "{name}: {n}"
            );
        }
        let x = views(50, multi);
        let (la, _) = ctx_loss(a.as_mut(), &x, 3, 10);
        let (lb, _) = ctx_loss(b.as_mut(), &x, 3, 10);
        assert_eq!(scalar(&la), scalar(&lb), "{name}");
        // A missing entry is refused.
        let mut partial: HashMap<String, Tensor> = a.state_tensors().unwrap().into_iter().collect();
        let first = partial.keys().next().unwrap().clone();
        partial.remove(&first);
        assert!(b.load_state_tensors(&partial).is_err(), "{name}");
    }
}

#[test]
fn trainer_resume_is_exact() {
    for name in [ContrastiveMethod::MocoV2, ContrastiveMethod::Swav] {
        let spec = method_spec(name, Scale::Small);
        let recipe = spec.recipe.recipe(16);
        let loader = Loader::new(
            slices(8),
            recipe,
            LoaderConfig { batch_size: 4, seed: 1, threads: Some(1), ..Default::default() },
        )
        .unwrap();
        let cfg = TrainerConfig {
            checkpoint_every: 2,
            log_every_s: 1e9,
            ..spec.optimizer.trainer_config(RunLength { epochs: 2, steps_per_epoch: 2, batch_size: 4 }, 5).unwrap()
        };
        let run = |stop: Option<u64>, dir: &std::path::Path| {
            let mut m = small(name);
            let mut opt = spec.optimizer.build(m.trainable_vars(), 4).unwrap();
            let mut t = Trainer::new(cfg.clone(), dir).unwrap();
            if let Some(s) = stop {
                t = t.stop_after(s);
            }
            let summary = t.run(m.as_mut(), opt.as_mut(), &loader).unwrap();
            (summary, m.encoder_state_dict().unwrap(), m.state_tensors().unwrap())
        };
        let straight = tempfile::tempdir().unwrap();
        let (s1, enc1, st1) = run(None, straight.path());
        let resumed = tempfile::tempdir().unwrap();
        run(Some(2), resumed.path());
        let (s2, enc2, st2) = run(None, resumed.path());
        assert_eq!(s2.start_step, 2);
        assert_eq!(s1.last_loss, s2.last_loss, "{name}");
        for (k, v) in &enc1 {
            assert_eq!(max_diff(v, &enc2[k]), 0.0, "{name}: {k}");
        }
        for ((n1, t1), (n2, t2)) in st1.iter().zip(&st2) {
            assert_eq!(n1, n2);
            assert_eq!(
                max_diff(&t1.to_dtype(DType::F64).unwrap(), &t2.to_dtype(DType::F64).unwrap()),
                0.0,
                "{name}: {n1}"
            );
        }
    }
}

#[test]
fn moco_key_encoder_gets_no_gradient_and_moves_only_by_ema() {
    let cfg = MocoV2Config { queue_size: 16, ..MocoV2Config::small(32) };
    let mut m = MocoV2::new(backbone(), cfg, 4, &Device::Cpu).unwrap();
    let keys = m.key_vars();
    let query = m.trainable_vars();
    // Key and query encoders start equal.
    for ((_, k), (_, q)) in keys.iter().zip(&query) {
        assert_eq!(max_diff(k.as_tensor(), q.as_tensor()), 0.0);
    }
    let x = views(1, false);
    let old_queue = m.queue().keys().copy().unwrap();
    let (loss, logs) = ctx_loss(&mut m, &x, 0, 10);
    assert!(scalar(&loss).is_finite());
    assert!(logs.iter().any(|(n, v)| n == "monitor_rank" && *v >= 1.0));
    // The loss used the queue as it was before this batch's keys went in.
    let k = m.keys(&x[1]).unwrap();
    let q = m.queries(&x[0]).unwrap();
    let want = info_nce(&q, &k, &old_queue, cfg.temperature).unwrap();
    assert!((scalar(&loss) - scalar(&want)).abs() < 1e-6);
    // … and the keys went in after: rows 0..4 are the normalised keys, the rest is untouched.
    assert_eq!(m.queue().pointer(), 4);
    assert!(max_diff(&m.queue().keys().narrow(0, 0, 4).unwrap(), &l2_normalize(&k).unwrap()) < 1e-6);
    assert_eq!(max_diff(&m.queue().keys().narrow(0, 4, 12).unwrap(), &old_queue.narrow(0, 4, 12).unwrap()), 0.0);
    // No gradient reaches the key encoder.
    let grads = loss.backward().unwrap();
    assert!(keys.iter().all(|(_, v)| grads.get(v.as_tensor()).is_none()));
    assert!(query.iter().filter(|(n, _)| n.ends_with("weight")).all(|(_, v)| grads.get(v.as_tensor()).is_some()));
    // An optimizer step changes the query encoder; the key encoder moves only in after_step, by EMA.
    let before_k = snapshot(&keys);
    for (_, v) in &query {
        if let Some(g) = grads.get(v.as_tensor()) {
            v.set(&(v.as_tensor() - (g * 0.1).unwrap()).unwrap()).unwrap();
        }
    }
    for ((_, k), b) in keys.iter().zip(&before_k) {
        assert_eq!(max_diff(k.as_tensor(), b), 0.0);
    }
    m.after_step(0, 10).unwrap();
    let mm = cfg.key_momentum;
    let mut moved = false;
    for (((_, k), b), (_, q)) in keys.iter().zip(&before_k).zip(&query) {
        let want = ((b * mm).unwrap() + (q.as_tensor() * (1.0 - mm)).unwrap()).unwrap();
        assert!(max_diff(k.as_tensor(), &want) < 1e-6);
        moved |= max_diff(k.as_tensor(), b) > 0.0;
    }
    assert!(moved);
}

fn check_teacher(m: &mut dyn PretrainMethod, targets: Vec<(String, Var)>, multi: bool, momentum: f64) {
    let online = m.trainable_vars();
    let x = views(7, multi);
    let (loss, _) = ctx_loss(m, &x, 0, 10);
    assert!(scalar(&loss).is_finite());
    let grads = loss.backward().unwrap();
    assert!(targets.iter().all(|(_, v)| grads.get(v.as_tensor()).is_none()));
    let before = snapshot(&targets);
    for (_, v) in &online {
        if let Some(g) = grads.get(v.as_tensor()) {
            v.set(&(v.as_tensor() - (g * 0.1).unwrap()).unwrap()).unwrap();
        }
    }
    for ((_, t), b) in targets.iter().zip(&before) {
        assert_eq!(max_diff(t.as_tensor(), b), 0.0);
    }
    m.after_step(0, 10).unwrap();
    // Targets pair with the online variables of the same suffix.
    let by_suffix: HashMap<String, Var> = online.into_iter().collect();
    for ((n, t), b) in targets.iter().zip(&before) {
        let suffix = n.split_once('_').unwrap().1;
        let o = &by_suffix[suffix];
        let want = ((b * momentum).unwrap() + (o.as_tensor() * (1.0 - momentum)).unwrap()).unwrap();
        assert!(max_diff(t.as_tensor(), &want) < 1e-6, "{n}");
    }
}

#[test]
fn byol_target_gets_no_gradient_and_follows_the_cosine_ema() {
    let mut m = Byol::new(backbone(), ByolConfig::small(), 2, &Device::Cpu).unwrap();
    let targets = m.target_vars();
    assert!(targets.iter().all(|(n, _)| n.starts_with("target_")));
    let m0 = m.momentum_at(0, 10).unwrap();
    assert_eq!(m0, ByolConfig::small().base_momentum);
    assert!((m.momentum_at(10, 10).unwrap() - 1.0).abs() < 1e-12);
    check_teacher(&mut m, targets, false, m0);
}

#[test]
fn dino_teacher_gets_no_gradient_and_centre_moves() {
    let cfg = DinoConfig { output_dim: 64, hidden_dim: 32, bottleneck_dim: 16, ..DinoConfig::small() };
    let mut m = Dino::new(backbone(), cfg, 2, &Device::Cpu).unwrap();
    let targets = m.teacher_vars();
    assert!(targets.iter().all(|(n, _)| n.starts_with("teacher_")));
    assert_eq!(values(m.center()).iter().map(|v| v.abs()).sum::<f64>(), 0.0);
    let m0 = m.momentum_at(0, 10).unwrap();
    check_teacher(&mut m, targets, true, m0);
    assert!(values(m.center()).iter().any(|v| *v != 0.0));
}

#[test]
fn swav_prototypes_frozen_then_trained_and_unit_norm() {
    let cfg = SwavConfig {
        num_prototypes: 12,
        freeze_prototypes_steps: 2,
        queue_length: 8,
        queue_start_step: 1,
        loss: SwavLossConfig::default(),
        ..SwavConfig::small(32)
    };
    let mut m = Swav::new(backbone(), cfg, 6, &Device::Cpu).unwrap();
    let vars = m.trainable_vars();
    let w = m.prototypes().weight().clone();
    let norms = |w: &Tensor| values(&w.sqr().unwrap().sum(1).unwrap().sqrt().unwrap());
    let mut used = Vec::new();
    for step in 0..5u64 {
        let before = w.as_tensor().copy().unwrap();
        let (loss, logs) = ctx_loss(&mut m, &views(20 + step, true), step, 5);
        assert!(scalar(&loss).is_finite());
        used.push(logs.iter().find(|(n, _)| n == "queue_used").unwrap().1);
        let grads = loss.backward().unwrap();
        assert_eq!(grads.get(w.as_tensor()).is_none(), step < 2, "step {step}");
        for (_, v) in &vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                v.set(&(v.as_tensor() - (g * 0.5).unwrap()).unwrap()).unwrap();
            }
        }
        m.after_step(step, 5).unwrap();
        if step < 2 {
            assert!(max_diff(w.as_tensor(), &before) < 1e-6, "prototypes moved while frozen");
        } else {
            assert!(max_diff(w.as_tensor(), &before) > 1e-6, "prototypes did not move at step {step}");
        }
        assert!(norms(w.as_tensor()).iter().all(|n| (n - 1.0).abs() < 1e-5));
    }
    // Queue of 8 filled from step 1 by batches of 4: full after step 2, used from step 3.
    assert_eq!(used, vec![0.0, 0.0, 0.0, 1.0, 1.0]);
    assert!(m.queues().iter().all(|q| q.is_full()));
}

#[test]
fn specs_recipes_and_optimizers_are_usable() {
    for name in ContrastiveMethod::ALL {
        for scale in [Scale::Paper, Scale::Small] {
            let spec = method_spec(name, scale);
            assert_eq!(spec.method, name);
            spec.recipe.recipe(32).validate().unwrap();
            if let Some(r) = spec.study_recipe {
                r.recipe(32).validate().unwrap();
            }
            let vars = vec![("w".to_string(), Var::ones((2, 2), DType::F32, &Device::Cpu).unwrap())];
            spec.optimizer.build(vars, spec.batch_size).unwrap();
            let s = spec.optimizer.lr_schedule(spec.batch_size, 100).unwrap();
            assert!(s.at(50) > 0.0);
        }
    }
    let e = "nope".parse::<ContrastiveMethod>().unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("simclr, moco_v2, byol, swav, barlow_twins, vicreg, dino"), "{e}");
    assert_eq!(Scale::for_backbone(&ResNetConfig::resnet50()), Scale::Paper);
    assert_eq!(Scale::for_backbone(&backbone()), Scale::Small);
    let moco: ContrastiveMethod = "MoCo-v2".parse().unwrap();
    assert_eq!(build_method(moco, backbone(), 0, &Device::Cpu).unwrap().name(), "moco_v2");
    for (alias, m) in
        [("moco", "moco_v2"), ("mocov2", "moco_v2"), ("Barlow-Twins", "barlow_twins"), ("barlow", "barlow_twins")]
    {
        assert_eq!(alias.parse::<ContrastiveMethod>().unwrap().name(), m);
    }
    for m in ContrastiveMethod::ALL {
        // the name round-trips, and is what the built method calls itself (checkpoints record it)
        assert_eq!(m.to_string().parse::<ContrastiveMethod>().unwrap(), m);
        assert_eq!(small(m).name(), m.name());
    }
}
