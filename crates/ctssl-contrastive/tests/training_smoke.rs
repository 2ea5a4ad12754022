//! A few SGD steps of a projection head under each two-view loss: the loss falls and the embeddings do
//! not collapse (a small check that the losses' gradients point the right way end to end).

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{ParamKind, Parameters};
use ctssl_contrastive::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(rng: &mut ChaCha8Rng, n: usize, d: usize, scale: f64) -> Tensor {
    let v: Vec<f32> = (0..n * d)
        .map(|_| {
            let s: f64 = StandardNormal.sample(rng);
            (s * scale) as f32
        })
        .collect();
    Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
}

/// Trains a fresh head for `steps` SGD steps with `loss(z1, z2)`; returns (first loss, last loss, report).
fn train(loss: impl Fn(&Tensor, &Tensor) -> Tensor, lr: f64, steps: usize) -> (f32, f32, CollapseReport) {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let data = gaussian(&mut rng, 32, 8, 1.0);
    let head = ProjectionHead::new(ProjectionHeadConfig::simclr(8, 32, 8), 5, DType::F32, &Device::Cpu).unwrap();
    let vars = head.vars_of_kind("", ParamKind::Trainable);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let v1 = (&data + gaussian(&mut rng, 32, 8, 0.1)).unwrap();
        let v2 = (&data + gaussian(&mut rng, 32, 8, 0.1)).unwrap();
        let l = loss(&head.forward(&v1, true).unwrap(), &head.forward(&v2, true).unwrap());
        losses.push(l.to_scalar::<f32>().unwrap());
        let grads = l.backward().unwrap();
        for (_, v) in &vars {
            if let Some(g) = grads.get(v) {
                v.set(&(v.as_tensor() - (g * lr).unwrap()).unwrap()).unwrap();
            }
        }
    }
    let z1 = head.forward(&data, false).unwrap();
    let z2 = head.forward(&(&data + gaussian(&mut rng, 32, 8, 0.1)).unwrap(), false).unwrap();
    let first = losses[..5].iter().sum::<f32>() / 5.0;
    let last = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    (first, last, CollapseReport::new(&z1, &z2).unwrap())
}

fn assert_learns(name: &str, (first, last, report): (f32, f32, CollapseReport)) {
    eprintln!("{name}: loss {first:.4} -> {last:.4}; {report}");
    assert!(last < 0.9 * first, "{name}: loss {first} → {last}");
    assert!(report.mean_std > 0.1 && report.effective_rank > 2.0, "{name} collapsed: {report}");
}

#[test]
fn simclr_learns_without_collapse() {
    assert_learns("simclr", train(|a, b| nt_xent(a, b, 0.5).unwrap(), 0.2, 60));
}

#[test]
fn barlow_twins_learns_without_collapse() {
    assert_learns("barlow", train(|a, b| barlow_twins_loss(a, b, 0.0051).unwrap(), 0.01, 60));
}

#[test]
fn vicreg_learns_without_collapse() {
    assert_learns("vicreg", train(|a, b| vicreg_loss(a, b, VicregWeights::default()).unwrap(), 0.005, 60));
}
