//! DINO's head: shape, unit-norm weight normalisation, gradients against finite differences in f64, and
//! the frozen last layer.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{gradcheck, values};
use ctssl_backbones::{ParamKind, Parameters};
use ctssl_contrastive::{DinoHead, DinoHeadConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn randn(seed: u64, shape: (usize, usize)) -> Tensor {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape.0 * shape.1).map(|_| r.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn head() -> DinoHead {
    let cfg = DinoHeadConfig {
        input_dim: 5,
        hidden_dim: 6,
        bottleneck_dim: 4,
        output_dim: 7,
        num_layers: 3,
        batch_norm: false,
    };
    DinoHead::new(cfg, 3, DType::F64, &Device::Cpu).unwrap()
}

#[test]
fn logits_are_cosines_with_unit_prototypes() {
    let h = head();
    let y = h.forward(&randn(1, (3, 5)), false, true).unwrap();
    assert_eq!(y.dims(), &[3, 7]);
    assert!(values(&y).iter().all(|v| v.abs() <= 1.0 + 1e-12));
    let names: Vec<String> = h.named_vars("").into_iter().map(|v| v.name).collect();
    assert_eq!(
        names,
        [
            "mlp.0.weight",
            "mlp.0.bias",
            "mlp.2.weight",
            "mlp.2.bias",
            "mlp.4.weight",
            "mlp.4.bias",
            "last_layer.weight_v"
        ]
    );
}

#[test]
fn input_gradient_matches_finite_differences() {
    let h = head();
    let w = randn(2, (3, 7));
    gradcheck(
        &[randn(1, (3, 5))],
        &[0],
        |x| (h.forward(&x[0], false, true).unwrap() * &w).unwrap().sum_all().unwrap(),
        1e-6,
    );
}

#[test]
fn last_layer_gradient_matches_finite_differences_and_freezes() {
    let h = head();
    let x = randn(4, (3, 5));
    let w = randn(5, (3, 7));
    let v = h.last_layer().clone();
    let loss = |freeze: bool| (h.forward(&x, freeze, true).unwrap() * &w).unwrap().sum_all().unwrap();
    let analytic = values(loss(false).backward().unwrap().get(v.as_tensor()).unwrap());
    assert!(loss(true).backward().unwrap().get(v.as_tensor()).is_none(), "a frozen last layer gets a gradient");
    let base = values(v.as_tensor());
    let eps = 1e-6;
    for i in 0..base.len() {
        let at = |d: f64| {
            let mut b = base.clone();
            b[i] += d;
            v.set(&Tensor::from_vec(b, (7, 4), &Device::Cpu).unwrap()).unwrap();
            let l = values(&loss(false))[0];
            v.set(&Tensor::from_vec(base.clone(), (7, 4), &Device::Cpu).unwrap()).unwrap();
            l
        };
        let numeric = (at(eps) - at(-eps)) / (2.0 * eps);
        assert!((numeric - analytic[i]).abs() < 1e-6 * (1.0 + numeric.abs()), "{i}: {numeric} vs {}", analytic[i]);
    }
}

#[test]
fn batch_norm_head_names_and_gradient() {
    let cfg = DinoHeadConfig {
        input_dim: 5,
        hidden_dim: 6,
        bottleneck_dim: 4,
        output_dim: 7,
        num_layers: 3,
        batch_norm: true,
    };
    let h = DinoHead::new(cfg, 3, DType::F64, &Device::Cpu).unwrap();
    let names: Vec<String> = h.vars_of_kind("", ParamKind::Trainable).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[..4], ["mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias"]);
    assert!(names.contains(&"mlp.6.weight".to_string()));
    assert_eq!(h.vars_of_kind("", ParamKind::Buffer).len(), 4);
    let w = randn(2, (3, 7));
    gradcheck(
        &[randn(1, (3, 5))],
        &[0],
        |x| (h.forward(&x[0], false, true).unwrap() * &w).unwrap().sum_all().unwrap(),
        1e-5,
    );
}
