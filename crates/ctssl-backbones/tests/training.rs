//! Training behaviour: SGD lowers a loss, every parameter gets a gradient, gradients match finite
//! differences, batch norm's train and eval modes, seeds, zero-initialised residuals.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{Optimizer, SGD};
use ctssl_backbones::{Parameters, ResNet, ResNetConfig, Stem};

fn labels(n: usize, classes: usize) -> Tensor {
    Tensor::from_vec((0..n).map(|i| (i % classes) as u32).collect::<Vec<_>>(), n, &Device::Cpu).unwrap()
}

#[test]
fn sgd_lowers_the_loss_on_a_tiny_batch() {
    let config = ResNetConfig::resnet_tiny().with_base_width(8).with_num_classes(Some(4));
    let model = ResNet::new(config, 11, &Device::Cpu).unwrap();
    let x = common::input(5, &[8, 1, 32, 32], DType::F32);
    let y = labels(8, 4);
    let mut sgd = SGD::new(model.trainable_vars(), 0.05).unwrap();
    let mut losses = Vec::new();
    for _ in 0..8 {
        let logits = model.forward(&x, true).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
        losses.push(loss.to_scalar::<f32>().unwrap());
        sgd.backward_step(&loss).unwrap();
    }
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "loss did not fall at every step: {losses:?}");
    assert!(losses[7] < 0.7 * losses[0], "loss did not fall enough: {losses:?}");
    assert_eq!(model.bn1().num_batches_tracked().unwrap(), 8);
}

#[test]
fn every_trainable_tensor_gets_a_gradient_through_the_imagenet_stem() {
    // The ImageNet stem's max pool has kernel 3 and stride 2 (candle's own max pool has no backward there).
    let config = ResNetConfig::resnet18().with_base_width(8).with_num_classes(Some(3)).with_stem(Stem::ImageNet);
    let model = ResNet::new(config, 2, &Device::Cpu).unwrap();
    let x = common::input(9, &[4, 1, 64, 64], DType::F32);
    let loss = candle_nn::loss::cross_entropy(&model.forward(&x, true).unwrap(), &labels(4, 3)).unwrap();
    let grads = loss.backward().unwrap();
    for v in model.named_vars("").iter().filter(|v| v.kind == ctssl_backbones::ParamKind::Trainable) {
        let g = grads.get(&v.var).unwrap_or_else(|| panic!("no gradient for {}", v.name));
        assert_eq!(g.dims(), v.var.dims());
        let norm: f64 = common::values(g).iter().map(|x| x * x).sum();
        assert!(norm > 0.0 && norm.is_finite(), "{}: gradient norm {norm}", v.name);
    }
    for v in model.named_vars("").iter().filter(|v| v.kind == ctssl_backbones::ParamKind::Buffer) {
        assert!(grads.get(&v.var).is_none(), "{} is a buffer but got a gradient", v.name);
    }
}

fn perturbed(var: &Var, index: usize, delta: f64) -> Tensor {
    let mut v = common::values(var.as_tensor());
    v[index] += delta;
    Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap()
}

#[test]
fn gradients_match_finite_differences_in_f64() {
    let config = ResNetConfig::resnet50().with_base_width(4).with_num_classes(Some(3)).with_stem(Stem::ImageNet);
    let model = ResNet::with_dtype(config, 4, DType::F64, &Device::Cpu).unwrap();
    // Non-trivial BN affine parameters, so their gradients are tested away from the initial 1 / 0.
    for v in model.named_vars("").iter().filter(|v| v.name.ends_with("bn3.weight") || v.name.ends_with("bn2.bias")) {
        let n = v.var.elem_count();
        let t = common::input(n as u64, &[n], DType::F64);
        v.var.set(&((t * 0.3).unwrap() + 1.0).unwrap()).unwrap();
    }
    let x = common::input(3, &[4, 1, 64, 64], DType::F64);
    let proj = common::input(4, &[4, 3], DType::F64);
    let loss_of = |m: &ResNet| -> Tensor {
        let logits = m.forward(&x, true).unwrap();
        (logits.sqr().unwrap() * &proj).unwrap().sum_all().unwrap()
    };
    let grads = loss_of(&model).backward().unwrap();
    let checks = [
        ("conv1.weight", 5),
        ("bn1.weight", 1),
        ("layer1.0.conv2.weight", 7),
        ("layer2.0.downsample.0.weight", 3),
        ("layer3.0.bn2.bias", 2),
        ("layer4.2.bn3.weight", 6),
        ("layer4.2.conv3.weight", 11),
        ("fc.weight", 4),
        ("fc.bias", 1),
    ];
    // A narrow network has many ReLU / max-pool inputs within 1e-5 of a kink (crossing one makes a
    // central difference meaningless), so the step is small; f64 keeps the rounding error near 1e-9.
    let h = 1e-7;
    for (name, index) in checks {
        let var = &model.params().get(name).unwrap().var;
        let analytic = common::values(grads.get(var).unwrap())[index];
        let original = var.as_tensor().copy().unwrap();
        var.set(&perturbed(var, index, h)).unwrap();
        let plus = loss_of(&model).to_scalar::<f64>().unwrap();
        var.set(&perturbed(&Var::from_tensor(&original).unwrap(), index, -h)).unwrap();
        let minus = loss_of(&model).to_scalar::<f64>().unwrap();
        var.set(&original).unwrap();
        let numeric = (plus - minus) / (2.0 * h);
        let err = (analytic - numeric).abs() / numeric.abs().max(analytic.abs()).max(1e-3);
        assert!(err < 1e-4, "{name}[{index}]: analytic {analytic}, numeric {numeric}, rel err {err}");
    }
}

#[test]
fn train_mode_updates_running_statistics_like_pytorch_and_eval_mode_does_not() {
    let model = ResNet::new(ResNetConfig::resnet_tiny(), 1, &Device::Cpu).unwrap();
    let x = common::input(2, &[4, 1, 16, 16], DType::F32);
    let before = model.state_dict().unwrap().into_iter().collect::<Vec<_>>();

    // Evaluation changes no buffer.
    model.forward(&x, false).unwrap();
    for (k, t) in &before {
        assert_eq!(common::max_abs_diff(t, &model.state_dict().unwrap()[k]), 0.0, "{k} changed in eval mode");
    }

    // Training: running = 0.9 * running + 0.1 * batch statistic (unbiased variance), counter + 1.
    let conv_out = model.conv1().forward(&x).unwrap();
    let per_channel = conv_out.transpose(0, 1).unwrap().flatten_from(1).unwrap().to_dtype(DType::F64).unwrap();
    let n = per_channel.dim(1).unwrap() as f64;
    let mean = per_channel.mean(1).unwrap();
    let var_unbiased = (per_channel.broadcast_sub(&mean.unsqueeze(1).unwrap()).unwrap().sqr().unwrap().sum(1).unwrap()
        / (n - 1.0))
        .unwrap();
    model.forward(&x, true).unwrap();
    let rm = common::values(model.bn1().running_mean().as_tensor());
    let rv = common::values(model.bn1().running_var().as_tensor());
    for (c, (m, v)) in common::values(&mean).iter().zip(common::values(&var_unbiased)).enumerate() {
        assert!((rm[c] - 0.1 * m).abs() < 1e-5, "running_mean[{c}]");
        assert!((rv[c] - (0.9 + 0.1 * v)).abs() < 1e-4 * (1.0 + v), "running_var[{c}]");
    }
    assert_eq!(model.bn1().num_batches_tracked().unwrap(), 1);
    assert_eq!(model.stage(3)[0].last_bn().num_batches_tracked().unwrap(), 1);
}

#[test]
fn eval_mode_is_per_sample_and_train_mode_uses_batch_statistics() {
    let model = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(5)), 1, &Device::Cpu).unwrap();
    let x = common::input(2, &[4, 1, 16, 16], DType::F32);
    let first = x.narrow(0, 0, 1).unwrap();
    let eval_batch = model.forward(&x, false).unwrap().narrow(0, 0, 1).unwrap();
    let eval_alone = model.forward(&first, false).unwrap();
    assert!(common::max_abs_diff(&eval_batch, &eval_alone) < 1e-4);
    let train_batch = model.forward(&x, true).unwrap().narrow(0, 0, 1).unwrap();
    let x2 = common::input(3, &[4, 1, 16, 16], DType::F32);
    let other = Tensor::cat(&[&first, &x2.narrow(0, 1, 3).unwrap()], 0).unwrap();
    let train_other = model.forward(&other, true).unwrap().narrow(0, 0, 1).unwrap();
    assert!(common::max_abs_diff(&train_batch, &train_other) > 1e-3, "train mode should depend on the batch");

    // In train mode each channel of the stem BN output has mean 0 and variance s²/(s² + eps) over the batch,
    // s² the biased variance of the convolution output (weight 1, bias 0 at initialisation).
    let conv = model.conv1().forward(&x).unwrap();
    let per_channel = |t: &Tensor| t.transpose(0, 1).unwrap().flatten_from(1).unwrap().to_dtype(DType::F64).unwrap();
    let c = per_channel(&conv);
    let s2 = c.broadcast_sub(&c.mean_keepdim(1).unwrap()).unwrap().sqr().unwrap().mean(1).unwrap();
    let y = per_channel(&model.bn1().forward(&conv, true).unwrap());
    for m in common::values(&y.mean(1).unwrap()) {
        assert!(m.abs() < 1e-5);
    }
    for (v, s2) in common::values(&y.sqr().unwrap().mean(1).unwrap()).iter().zip(common::values(&s2)) {
        let expected = s2 / (s2 + 1e-5);
        assert!((v - expected).abs() < 1e-4, "{v} vs {expected}");
    }
}

#[test]
fn same_seed_gives_the_same_weights_and_another_seed_does_not() {
    let a = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(10)), 123, &Device::Cpu).unwrap();
    let b = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(10)), 123, &Device::Cpu).unwrap();
    let c = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(10)), 124, &Device::Cpu).unwrap();
    let (sa, sb, sc) = (a.state_dict().unwrap(), b.state_dict().unwrap(), c.state_dict().unwrap());
    for (k, t) in &sa {
        assert_eq!(common::values(t), common::values(&sb[k]), "{k}");
    }
    assert_ne!(common::values(&sa["conv1.weight"]), common::values(&sc["conv1.weight"]));
    assert_ne!(common::values(&sa["fc.weight"]), common::values(&sc["fc.weight"]));
    // Each tensor has its own stream: dropping fc leaves every other tensor as it was.
    let d = ResNet::new(ResNetConfig::resnet_tiny(), 123, &Device::Cpu).unwrap();
    for (k, t) in d.state_dict().unwrap() {
        assert_eq!(common::values(&t), common::values(&sa[&k]), "{k}");
    }
    // Different tensors of one shape get different values.
    assert_ne!(common::values(&sa["layer1.0.conv1.weight"]), common::values(&sa["layer1.0.conv2.weight"]));
}

#[test]
fn zero_init_residual_zeroes_the_last_bn_of_every_block() {
    let model = ResNet::new(ResNetConfig::resnet50().with_base_width(4).with_zero_init_residual(true), 0, &Device::Cpu)
        .unwrap();
    for v in model.named_vars("").iter().filter(|v| v.name.ends_with(".weight") && v.name.contains("bn")) {
        let expected = if v.name.ends_with("bn3.weight") { 0.0 } else { 1.0 };
        assert!(common::values(v.var.as_tensor()).iter().all(|&x| x == expected), "{}", v.name);
    }
    // A block without a projection is then the identity on non-negative inputs.
    let block = &model.stage(0)[1];
    let x = common::input(1, &[2, 16, 8, 8], DType::F32).relu().unwrap();
    assert_eq!(common::max_abs_diff(&block.forward(&x, false).unwrap(), &x), 0.0);

    let basic = ResNet::new(ResNetConfig::resnet_tiny().with_zero_init_residual(true), 0, &Device::Cpu).unwrap();
    assert!(common::values(basic.stage(2)[0].last_bn().weight().as_tensor()).iter().all(|&x| x == 0.0));
    assert!(common::values(basic.stage(2)[0].downsample_layer().unwrap().bn.weight().as_tensor())
        .iter()
        .all(|&x| x == 1.0));
}
