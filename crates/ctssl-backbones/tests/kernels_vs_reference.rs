//! A whole ResNet-18 training step with the ctssl-kernels CPU kernels equals the same step with candle's
//! reference ops (its own test binary: the kernel switch is process-wide).

mod common;

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{ParamKind, Parameters, ResNet, ResNetConfig};

type Named = Vec<(String, Tensor)>;

/// Logits, gradients of the trainable tensors, and buffers after one training-mode step.
fn step(kernels: bool) -> (Tensor, Named, Named) {
    ctssl_kernels::ops::set_cpu_kernels_enabled(kernels);
    let config = ResNetConfig::resnet18().with_width_multiplier(0.25).with_num_classes(Some(5));
    let model = ResNet::new(config, 8, &Device::Cpu).unwrap();
    let x = common::input(1, &[4, 1, 64, 64], DType::F32);
    let y = Tensor::from_vec(vec![0u32, 1, 2, 3], 4, &Device::Cpu).unwrap();
    let logits = model.forward(&x, true).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
    let grads = loss.backward().unwrap();
    let g = model
        .vars_of_kind("", ParamKind::Trainable)
        .into_iter()
        .map(|(name, var)| (name, grads.get(&var).unwrap().clone()))
        .collect();
    let buffers = model
        .vars_of_kind("", ParamKind::Buffer)
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().copy().unwrap()))
        .collect();
    (logits, g, buffers)
}

#[test]
fn resnet18_step_with_kernels_equals_reference_ops() {
    let (logits_k, grads_k, buffers_k) = step(true);
    let (logits_r, grads_r, buffers_r) = step(false);
    ctssl_kernels::ops::set_cpu_kernels_enabled(true);
    let rel = |a: &Tensor, b: &Tensor| {
        let scale = common::values(b).iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-12);
        common::max_abs_diff(a, b) / scale
    };
    assert!(rel(&logits_k, &logits_r) < 1e-4);
    let mut worst = (0f64, String::new());
    for ((name, a), (_, b)) in grads_k.iter().zip(grads_r.iter()) {
        let r = rel(a, b);
        if r > worst.0 {
            worst = (r, name.clone());
        }
    }
    println!("largest gradient difference relative to the tensor's max: {:.3e} ({})", worst.0, worst.1);
    assert!(worst.0 < 1e-4, "{}: relative difference {}", worst.1, worst.0);
    for ((name, a), (_, b)) in buffers_k.iter().zip(buffers_r.iter()) {
        assert!(rel(a, b) < 1e-4, "{name}");
    }
}
