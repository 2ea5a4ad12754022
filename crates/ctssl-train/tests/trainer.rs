//! The trainer with a tiny ResNet and a small SimCLR-like NT-Xent method written here: an interrupted and
//! resumed run ends bit for bit like an uninterrupted one; a non-finite loss stops the run and keeps the
//! last good checkpoint; metrics files are written.

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_augment::{Image, InMemorySlices, Loader, LoaderConfig, Recipe};
use ctssl_backbones::{NamedVar, ParamKind, Parameters, ResNet, ResNetConfig};
use ctssl_train::checkpoint::{latest, list_checkpoints};
use ctssl_train::method::{LossOutput, Part, PretrainMethod, StepContext};
use ctssl_train::optim::{split_decay, Optimizer, Sgd, SgdConfig};
use ctssl_train::schedule::Schedule;
use ctssl_train::trainer::{Trainer, TrainerConfig};
use ctssl_train::{Result, TrainError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct TinySimclr {
    encoder: ResNet,
    proj: Projector,
    temperature: f64,
}

/// One trainable tensor, `{prefix}weight` (the projection matrix `[features, 8]` of [`TinySimclr`]).
struct Projector(Var);

impl Parameters for Projector {
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        vec![NamedVar { name: format!("{prefix}weight"), var: self.0.clone(), kind: ParamKind::Trainable }]
    }
}

impl TinySimclr {
    fn new(seed: u64) -> Self {
        let cfg = ResNetConfig::resnet_tiny().with_base_width(4);
        let encoder = ResNet::new(cfg.clone(), seed, &Device::Cpu).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xabc);
        let d = cfg.feature_dim();
        let w: Vec<f32> = (0..d * 8).map(|_| rng.random_range(-0.3..0.3)).collect();
        let proj = Var::from_slice(&w, (d, 8), &Device::Cpu).unwrap();
        Self { encoder, proj: Projector(proj), temperature: 0.5 }
    }

    fn embed(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.encoder.forward_features(x, true)?.pooled;
        let z = h.matmul(self.proj.0.as_tensor())?;
        let norm = z.sqr()?.sum_keepdim(1)?.sqrt()?.affine(1.0, 1e-8)?;
        Ok(z.broadcast_div(&norm)?)
    }
}

impl PretrainMethod for TinySimclr {
    fn name(&self) -> &str {
        "tiny-simclr"
    }
    fn parts(&self) -> Vec<Part<'_>> {
        vec![Part::trained("encoder.", &self.encoder), Part::trained("projector.", &self.proj)]
    }
    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> Result<LossOutput> {
        // The run's generator decides the view order, so resuming must restore it.
        let (a, b) = if ctx.rng.random_bool(0.5) { (&views[0], &views[1]) } else { (&views[1], &views[0]) };
        let z = Tensor::cat(&[self.embed(a)?, self.embed(b)?], 0)?;
        let n = z.dim(0)?;
        let half = n / 2;
        let eye = Tensor::eye(n, DType::F32, &Device::Cpu)?;
        let sim = (z.matmul(&z.t()?)?.affine(1.0 / self.temperature, 0.0)? - eye.affine(1e9, 0.0)?)?;
        let max = sim.max_keepdim(1)?.detach();
        let lse = (sim.broadcast_sub(&max)?.exp()?.sum_keepdim(1)?.log()? + &max)?;
        let logp = sim.broadcast_sub(&lse)?;
        let pos: Vec<f32> = (0..n * n).map(|k| if (k / n + half) % n == k % n { 1.0 } else { 0.0 }).collect();
        let pos = Tensor::from_vec(pos, (n, n), &Device::Cpu)?;
        let loss = (logp * pos)?.sum_all()?.affine(-1.0 / n as f64, 0.0)?;
        Ok(LossOutput { loss, logs: vec![("batch".into(), n as f64)] })
    }
    fn encoder(&self) -> &ResNet {
        &self.encoder
    }
}

fn slices() -> InMemorySlices {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut s = InMemorySlices::new();
    for p in 0..12 {
        let hu: Vec<f32> = (0..24 * 24).map(|_| rng.random_range(-1000.0..400.0)).collect();
        s.push(Image::from_vec(24, 24, hu).unwrap(), format!("p{p}")).unwrap();
    }
    s
}

fn loader() -> Loader<InMemorySlices> {
    let cfg = LoaderConfig { batch_size: 4, seed: 11, prefetch: 2, ..LoaderConfig::default() };
    Loader::new(slices(), Recipe::simclr(16), cfg).unwrap()
}

fn config() -> TrainerConfig {
    TrainerConfig {
        epochs: 3,
        lr: Schedule::warmup_cosine(0.05, 0.0, 2, 9).unwrap(),
        weight_decay: Schedule::Constant { value: 1e-4 },
        clip_grad_norm: Some(5.0),
        checkpoint_every: 2,
        keep_last: 2,
        seed: 3,
        log_every_s: 3600.0,
    }
}

fn sgd(m: &TinySimclr) -> Sgd {
    Sgd::new(split_decay(m.trainable_vars()), SgdConfig { lr: 0.05, momentum: 0.9, ..Default::default() }).unwrap()
}

fn bits(m: &TinySimclr) -> Vec<(String, Vec<u64>)> {
    let mut out: Vec<(String, Vec<u64>)> = m
        .trainable_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .chain(m.state_tensors().unwrap())
        .map(|(n, t)| {
            let v = t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            (n, v.into_iter().map(f64::to_bits).collect())
        })
        .collect();
    out.sort();
    out
}

fn run(dir: &Path, stop: Option<u64>, seed: u64) -> (TinySimclr, ctssl_train::trainer::RunSummary) {
    let mut m = TinySimclr::new(seed);
    let mut opt = sgd(&m);
    let mut t = Trainer::new(config(), dir).unwrap().with_extra_config(serde_json::json!({"data": "random"}));
    if let Some(s) = stop {
        t = t.stop_after(s);
    }
    let s = t.run(&mut m, &mut opt, &loader()).unwrap();
    (m, s)
}

#[test]
fn resumed_run_matches_uninterrupted_run_bit_for_bit() {
    let a = tempfile::tempdir().unwrap();
    let (full, s_full) = run(a.path(), None, 1);
    assert_eq!((s_full.start_step, s_full.steps_done, s_full.total_steps), (0, 9, 9));

    let b = tempfile::tempdir().unwrap();
    let (_, s1) = run(b.path(), Some(5), 1);
    assert_eq!(s1.steps_done, 5);
    let steps: Vec<u64> = list_checkpoints(b.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![2, 4]);
    // A fresh process: other initial weights, which the checkpoint must overwrite.
    let (resumed, s2) = run(b.path(), None, 99);
    assert_eq!((s2.start_step, s2.steps_done), (4, 9));
    assert_eq!(s2.last_loss, s_full.last_loss);
    let (x, y) = (bits(&full), bits(&resumed));
    assert_eq!(x.len(), y.len());
    for ((n1, v1), (n2, v2)) in x.iter().zip(&y) {
        assert_eq!(n1, n2);
        assert!(v1 == v2, "{n1} differs after resume");
    }
    // The runs actually trained (weights moved away from a fresh initialisation).
    assert_ne!(bits(&TinySimclr::new(1)), x);
    // keep_last 2: checkpoints 8 and 9 (the end) remain.
    let steps: Vec<u64> = list_checkpoints(b.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![8, 9]);

    // Metrics: a header and 9 rows in the CSV; per-step and per-epoch records in the JSON lines.
    let csv = std::fs::read_to_string(a.path().join("metrics.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "step,epoch,loss,lr,weight_decay,grad_norm,batch");
    assert_eq!(lines.len(), 10);
    let jsonl = std::fs::read_to_string(a.path().join("metrics.jsonl")).unwrap();
    let recs: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(recs.iter().filter(|r| r.get("loss").is_some()).count(), 9);
    assert_eq!(recs.iter().filter(|r| r.get("epoch_end").is_some()).count(), 3);
    assert!(recs.iter().filter_map(|r| r.get("loss")).all(|l| l.as_f64().unwrap().is_finite()));
}

/// Squared norm of one weight, NaN from step 3 on (the encoder is only there to be exported).
struct Poisoned {
    w: Projector,
    encoder: ResNet,
}

impl PretrainMethod for Poisoned {
    fn name(&self) -> &str {
        "poisoned"
    }
    fn parts(&self) -> Vec<Part<'_>> {
        vec![Part::trained("w.", &self.w)]
    }
    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> Result<LossOutput> {
        let x = views[0].mean_all()?;
        let loss = self.w.0.as_tensor().sqr()?.sum_all()?.broadcast_mul(&x)?;
        let loss = if ctx.step >= 3 { loss.affine(f64::NAN, 0.0)? } else { loss };
        Ok(LossOutput::new(loss))
    }
    fn encoder(&self) -> &ResNet {
        &self.encoder
    }
}

#[test]
fn non_finite_loss_stops_and_keeps_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let w = Projector(Var::from_slice(&[1.0f32, 2.0], 2, &Device::Cpu).unwrap());
    let mut m =
        Poisoned { w, encoder: ResNet::new(ResNetConfig::resnet_tiny().with_base_width(4), 0, &Device::Cpu).unwrap() };
    let mut opt = sgd_plain(&m);
    let cfg = TrainerConfig { checkpoint_every: 1, keep_last: 10, ..config() };
    let err = Trainer::new(cfg, dir.path()).unwrap().run(&mut m, &mut opt, &loader()).unwrap_err();
    assert!(matches!(err, TrainError::NonFinite { step: 3, .. }), "{err}");
    assert!(err.to_string().contains("step 3"));
    let steps: Vec<u64> = list_checkpoints(dir.path()).unwrap().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![1, 2, 3]);
    assert_eq!(latest(dir.path()).unwrap().unwrap(), dir.path().join("ckpt-3.safetensors"));
    let w = m.w.0.as_tensor().to_vec1::<f32>().unwrap();
    assert!(w.iter().all(|v| v.is_finite()), "no update after the NaN: {w:?}");
}

fn sgd_plain(m: &Poisoned) -> Sgd {
    Sgd::new(split_decay(m.trainable_vars()), SgdConfig { lr: 0.01, ..Default::default() }).unwrap()
}

#[test]
fn invalid_configs_are_rejected() {
    let d = tempfile::tempdir().unwrap();
    assert!(Trainer::new(TrainerConfig { epochs: 0, ..config() }, d.path()).is_err());
    assert!(Trainer::new(TrainerConfig { clip_grad_norm: Some(-1.0), ..config() }, d.path()).is_err());
    let opt_lr = sgd(&TinySimclr::new(0)).learning_rate();
    assert_eq!(opt_lr, 0.05);
}
