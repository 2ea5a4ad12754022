//! Projection heads, BYOL predictor and SwAV prototypes.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{gradcheck, values};
use ctssl_backbones::{ParamKind, Parameters};
use ctssl_contrastive::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rand(seed: u64, shape: (usize, usize)) -> Tensor {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape.0 * shape.1).map(|_| r.random_range(-1.0..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

#[test]
fn projection_head_shapes_names_and_determinism() {
    let dev = Device::Cpu;
    let cfg = ProjectionHeadConfig { last_batch_norm: true, ..ProjectionHeadConfig::simclr(8, 16, 4) };
    let head = ProjectionHead::new(cfg, 7, DType::F32, &dev).unwrap();
    let x = rand(1, (5, 8)).to_dtype(DType::F32).unwrap();
    let y = head.forward(&x, true).unwrap();
    assert_eq!(y.dims(), &[5, 4]);
    let names: Vec<String> = head.vars_of_kind("", ParamKind::Trainable).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "1.weight", "1.bias", "3.weight"]);
    let buffers = head.vars_of_kind("", ParamKind::Buffer);
    let buffer_names: Vec<&str> = buffers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(buffer_names, ["1.running_mean", "1.running_var", "4.running_mean", "4.running_var"]);
    let all: Vec<String> = head.named_vars("projector.").into_iter().map(|v| v.name).collect();
    assert_eq!(
        all[..5],
        [
            "projector.0.weight",
            "projector.1.weight",
            "projector.1.bias",
            "projector.1.running_mean",
            "projector.1.running_var"
        ]
    );
    // The last BN (no affine) standardises each output feature over the batch.
    for col in values(&y.t().unwrap().contiguous().unwrap()).chunks(5) {
        let mean = col.iter().sum::<f64>() / 5.0;
        assert!(mean.abs() < 1e-5);
    }
    // Running statistics moved away from (0, 1) in training mode.
    let rm = values(buffers[0].1.as_tensor());
    assert!(rm.iter().any(|v| v.abs() > 1e-4));
    let again = ProjectionHead::new(cfg, 7, DType::F32, &dev).unwrap();
    assert_eq!(values(head.named_vars("")[0].var.as_tensor()), values(again.named_vars("")[0].var.as_tensor()));
    let other = ProjectionHead::new(cfg, 8, DType::F32, &dev).unwrap();
    assert_ne!(values(head.named_vars("")[0].var.as_tensor()), values(other.named_vars("")[0].var.as_tensor()));
    // Evaluation mode uses the running statistics: a single sample works.
    assert_eq!(head.forward(&x.narrow(0, 0, 1).unwrap(), false).unwrap().dims(), &[1, 4]);
}

#[test]
fn projection_head_input_gradient_matches_finite_differences() {
    let head = ProjectionHead::new(ProjectionHeadConfig::byol(3, 6, 2), 3, DType::F64, &Device::Cpu).unwrap();
    let x = rand(2, (4, 3));
    let target = rand(3, (4, 2));
    gradcheck(&[x], &[0], |x| byol_loss(&head.forward(&x[0], true).unwrap(), &target).unwrap(), 1e-6);
}

#[test]
fn byol_predictor_and_expander_configs() {
    let p = ProjectionHeadConfig::byol(256, 4096, 256);
    assert_eq!((p.input_dim, p.hidden_dim, p.output_dim, p.num_layers), (256, 4096, 256, 2));
    let e = ProjectionHeadConfig::expander(512, 64);
    let head = ProjectionHead::new(e, 1, DType::F32, &Device::Cpu).unwrap();
    // Two hidden Linear(no bias)–BN(weight, bias) blocks, then a Linear without bias.
    assert_eq!(head.vars_of_kind("", ParamKind::Trainable).len(), 3 + 3 + 1);
    assert!(ProjectionHead::new(ProjectionHeadConfig { num_layers: 0, ..e }, 1, DType::F32, &Device::Cpu).is_err());
}

#[test]
fn prototypes_are_renormalised_and_frozen_at_first() {
    let protos = Prototypes::new(4, 6, 2, 9, DType::F64, &Device::Cpu).unwrap();
    let norms = |p: &Prototypes| values(&p.weight().as_tensor().sqr().unwrap().sum(1).unwrap());
    assert!(norms(&protos).iter().all(|n| (n - 1.0).abs() < 1e-12));
    // An optimiser step leaves the rows off the sphere; normalize_prototypes brings them back.
    protos.weight().set(&(protos.weight().as_tensor() * 1.7).unwrap()).unwrap();
    protos.normalize_prototypes().unwrap();
    assert!(norms(&protos).iter().all(|n| (n - 1.0).abs() < 1e-12));
    // Scores are cosine similarities, so they lie in [-1, 1] whatever the feature scale.
    let x = (rand(4, (3, 4)) * 50.0).unwrap();
    let scores = protos.forward(&x).unwrap();
    assert!(values(&scores).iter().all(|s| s.abs() <= 1.0 + 1e-12));
    let loss =
        swav_loss(&[scores.clone(), protos.forward(&rand(5, (3, 4))).unwrap()], &SwavLossConfig::default(), None)
            .unwrap();
    for (iteration, frozen) in [(0, true), (1, true), (2, false)] {
        let mut grads = loss.backward().unwrap();
        assert_eq!(protos.drop_gradient_if_frozen(&mut grads, iteration), frozen);
        assert_eq!(grads.get(protos.weight()).is_some(), !frozen);
    }
}
