//! Every loss's gradient against central finite differences in f64, on fresh seeded inputs.

mod common;

use candle_core::{DType, Device, Tensor};
use common::gradcheck;
use ctssl_contrastive::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn randn(rng: &mut ChaCha8Rng, shape: (usize, usize), scale: f64) -> Tensor {
    let v: Vec<f64> = (0..shape.0 * shape.1).map(|_| rng.random_range(-1.0..1.0) * scale).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap()
}

const TOL: f64 = 1e-6;

#[test]
fn nt_xent_gradient() {
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let x = [randn(&mut r, (4, 3), 1.0), randn(&mut r, (4, 3), 1.0)];
    gradcheck(&x, &[0, 1], |x| nt_xent(&x[0], &x[1], 0.3).unwrap(), TOL);
}

#[test]
fn info_nce_gradient_reaches_only_the_query() {
    let mut r = ChaCha8Rng::seed_from_u64(2);
    let queue = ctssl_kernels::ops::l2_normalize(&randn(&mut r, (6, 3), 1.0)).unwrap();
    let x = [randn(&mut r, (3, 3), 1.0), randn(&mut r, (3, 3), 1.0), queue];
    // The key's finite-difference derivative is not zero, so only the query is checked numerically;
    // the analytic key gradient must be absent.
    gradcheck(&x, &[0], |x| info_nce(&x[0], &x[1], &x[2], 0.2).unwrap(), TOL);
    let k = candle_core::Var::from_tensor(&x[1]).unwrap();
    let g = info_nce(&x[0], &k, &x[2], 0.2).unwrap().backward().unwrap();
    assert!(g.get(&k).is_none());
}

#[test]
fn byol_gradient_and_target_detached() {
    let mut r = ChaCha8Rng::seed_from_u64(3);
    let x: Vec<Tensor> = (0..4).map(|_| randn(&mut r, (3, 4), 1.0)).collect();
    gradcheck(&x, &[0, 1], |x| byol_loss_symmetric(&x[0], &x[1], &x[2], &x[3]).unwrap(), TOL);
    let z = candle_core::Var::from_tensor(&x[2]).unwrap();
    let g = byol_loss(&x[0], &z).unwrap().backward().unwrap();
    assert!(g.get(&z).is_none());
}

#[test]
fn swav_gradient() {
    let mut r = ChaCha8Rng::seed_from_u64(4);
    let x: Vec<Tensor> = (0..3).map(|_| randn(&mut r, (4, 5), 1.0)).collect();
    // Codes are detached, so the loss is differentiated with them fixed: check crops that are never
    // assigned (index 2) and, for an assigned crop, its role as a predictor is part of the same function.
    let cfg = SwavLossConfig { crops_for_assign: vec![0], ..SwavLossConfig::default() };
    gradcheck(&x, &[1, 2], |x| swav_loss(x, &cfg, None).unwrap(), TOL);
}

#[test]
fn barlow_twins_gradient() {
    let mut r = ChaCha8Rng::seed_from_u64(5);
    let x = [randn(&mut r, (5, 3), 1.0), randn(&mut r, (5, 3), 1.0)];
    gradcheck(&x, &[0, 1], |x| barlow_twins_loss(&x[0], &x[1], 0.0051).unwrap(), TOL);
}

#[test]
fn vicreg_gradient() {
    let mut r = ChaCha8Rng::seed_from_u64(6);
    // Scale 0.8: some per-dimension stds fall below 1 (hinge active) and some above.
    let x = [randn(&mut r, (5, 3), 2.0), randn(&mut r, (5, 3), 0.8)];
    gradcheck(&x, &[0, 1], |x| vicreg_loss(&x[0], &x[1], VicregWeights::default()).unwrap(), TOL);
}

#[test]
fn dino_gradient_and_teacher_detached() {
    let mut r = ChaCha8Rng::seed_from_u64(7);
    let x: Vec<Tensor> = (0..6).map(|_| randn(&mut r, (2, 4), 1.0)).collect();
    let center = randn(&mut r, (1, 4), 0.1);
    let cfg = DinoLossConfig::default();
    gradcheck(&x, &[0, 1, 2, 3], |x| dino_loss(&x[..4], &x[4..6], &center, &cfg).unwrap(), TOL);
    let t = candle_core::Var::from_tensor(&x[4]).unwrap();
    let g = dino_loss(&x[..4], &[t.as_tensor().clone(), x[5].clone()], &center, &cfg).unwrap().backward().unwrap();
    assert!(g.get(&t).is_none());
}
