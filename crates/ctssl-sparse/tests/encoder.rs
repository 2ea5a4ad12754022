//! The masked encoder on both execution paths: exact zeros, equality with the plain backbone under an
//! all-visible mask, gradients against finite differences, export.

mod common;
use common::{max_abs_diff, seeded};

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{LoadOptions, Parameters, ResNet, ResNetConfig};
use ctssl_sparse::{encoder_state_dict, ExecutionPath, Mask, MaskGenerator, SparseEncoder};

const PATHS: [ExecutionPath; 2] = [ExecutionPath::DenseMasked, ExecutionPath::Sparse];

fn check_masked_zero(features: &[Tensor; 4], mask: &Mask, strides: [usize; 4]) {
    let dev = Device::Cpu;
    for (f, &s) in features.iter().zip(&strides) {
        let m = mask.at_stride(s, f.dtype(), &dev).unwrap();
        let outside = f.broadcast_mul(&(1.0 - &m).unwrap()).unwrap();
        let total: f64 = outside.abs().unwrap().sum_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar().unwrap();
        assert_eq!(total, 0.0, "nonzero value at a masked position at stride {s}");
        let inside: f64 = f.abs().unwrap().sum_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar().unwrap();
        assert!(inside > 0.0, "all-zero map at stride {s}");
    }
}

#[test]
fn masked_positions_are_exactly_zero_at_every_stage() {
    let dev = Device::Cpu;
    for cfg in [ResNetConfig::resnet_tiny().with_base_width(8), ResNetConfig::resnet50().with_base_width(4)] {
        for path in PATHS {
            let enc = SparseEncoder::new(ResNet::new(cfg.clone(), 1, &dev).unwrap()).with_path(path);
            let p = enc.patch_size();
            let (h, w) = (4 * p, 3 * p);
            let mask = MaskGenerator::new(p, 0.6).unwrap().generate(2, h, w, 5, 0).unwrap();
            let x = seeded(&[2, 1, h, w], 1).to_dtype(DType::F32).unwrap();
            for train in [true, false] {
                let f = enc.forward(&x, &mask, train).unwrap();
                check_masked_zero(&f, &mask, enc.stage_strides());
            }
        }
    }
}

#[test]
fn all_visible_mask_equals_the_plain_backbone() {
    let dev = Device::Cpu;
    // f64, so that the comparison tests the semantics and not f32 rounding (f32 agrees to about 1e-5
    // relative; `all_visible_mask_matches_in_f32_up_to_rounding` checks that).
    let cfgs = [ResNetConfig::resnet_tiny().with_base_width(8), ResNetConfig::resnet18().with_base_width(8)];
    for (cfg, path) in cfgs.iter().flat_map(|c| PATHS.map(|p| (c.clone(), p))) {
        let plain = ResNet::with_dtype(cfg.clone(), 3, DType::F64, &dev).unwrap();
        let enc = SparseEncoder::new(ResNet::with_dtype(cfg, 3, DType::F64, &dev).unwrap()).with_path(path);
        let p = enc.patch_size();
        let (h, w) = (2 * p, 3 * p);
        let x = seeded(&[3, 1, h, w], 2);
        let mask = Mask::all_visible(3, 2, 3, p).unwrap();
        let expected = plain.forward_features(&x, true).unwrap().stages;
        let got = enc.forward(&x, &mask, true).unwrap();
        for (e, g) in expected.iter().zip(&got) {
            let d = max_abs_diff(e, g);
            assert!(d < 1e-5, "stage differs by {d}");
        }
        // Running statistics were updated the same way.
        for (a, b) in plain.named_vars("").into_iter().zip(enc.backbone().named_vars("")) {
            if a.name.ends_with("running_var") || a.name.ends_with("running_mean") {
                assert!(max_abs_diff(a.var.as_tensor(), b.var.as_tensor()) < 1e-5, "{}", a.name);
            }
            if a.name.ends_with("num_batches_tracked") {
                assert_eq!(
                    a.var.as_tensor().to_scalar::<i64>().unwrap(),
                    b.var.as_tensor().to_scalar::<i64>().unwrap(),
                    "{}",
                    a.name
                );
            }
        }
        // Evaluation mode too.
        let expected = plain.forward_features(&x, false).unwrap().stages;
        let got = enc.forward(&x, &mask, false).unwrap();
        for (e, g) in expected.iter().zip(&got) {
            assert!(max_abs_diff(e, g) < 1e-5);
        }
    }
}

#[test]
fn all_visible_mask_matches_in_f32_up_to_rounding() {
    let dev = Device::Cpu;
    let cfg = ResNetConfig::resnet18().with_base_width(8);
    let plain = ResNet::new(cfg.clone(), 3, &dev).unwrap();
    let enc = SparseEncoder::new(ResNet::new(cfg, 3, &dev).unwrap());
    let x = seeded(&[2, 1, 64, 96], 3).to_dtype(DType::F32).unwrap();
    let mask = Mask::all_visible(2, 2, 3, 32).unwrap();
    let expected = plain.forward_features(&x, true).unwrap().stages;
    let got = enc.forward(&x, &mask, true).unwrap();
    for (e, g) in expected.iter().zip(&got) {
        let scale: f64 =
            e.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_dtype(DType::F64).unwrap().to_scalar().unwrap();
        let d = max_abs_diff(e, g);
        assert!(d < 1e-5 * (1.0 + scale), "stage differs by {d} at scale {scale}");
    }
}

/// Weighted sum of the stage maps with fixed weights: a scalar whose gradient reaches every layer.
fn objective(enc: &SparseEncoder, x: &Tensor, mask: &Mask, weights: &[Tensor]) -> Tensor {
    let f = enc.forward(x, mask, true).unwrap();
    let mut total = Tensor::zeros((), DType::F64, &Device::Cpu).unwrap();
    for (m, r) in f.iter().zip(weights) {
        total = (total + (m * r).unwrap().sum_all().unwrap()).unwrap();
    }
    total
}

#[test]
fn gradients_match_finite_differences_in_f64() {
    let dev = Device::Cpu;
    let cfgs = [ResNetConfig::resnet_tiny().with_base_width(4), ResNetConfig::resnet50().with_base_width(2)];
    for (cfg, path) in cfgs.iter().flat_map(|c| PATHS.map(|p| (c.clone(), p))) {
        let enc = SparseEncoder::new(ResNet::with_dtype(cfg, 9, DType::F64, &dev).unwrap()).with_path(path);
        let p = enc.patch_size();
        let (h, w) = (2 * p, 2 * p);
        let mask = MaskGenerator::new(p, 0.5).unwrap().generate(2, h, w, 1, 0).unwrap();
        let x = Var::from_tensor(&seeded(&[2, 1, h, w], 1)).unwrap();
        let f = enc.forward(x.as_tensor(), &mask, true).unwrap();
        let weights: Vec<Tensor> = f.iter().zip(2u64..).map(|(m, seed)| seeded(m.dims(), seed)).collect();
        let grads = objective(&enc, x.as_tensor(), &mask, &weights).backward().unwrap();
        let mut checked = 0;
        let mut vars: Vec<(String, Var)> = vec![("x".into(), x.clone())];
        for e in enc.backbone().named_vars("") {
            let n = &e.name;
            let wanted = n == "conv1.weight"
                || n == "bn1.weight"
                || n.starts_with("layer2.0.") && n.ends_with("weight")
                || n.starts_with("layer4.0.") && (n.ends_with(".bias") || n.ends_with("conv1.weight"));
            if wanted && e.kind == ctssl_backbones::ParamKind::Trainable {
                vars.push((n.clone(), e.var.clone()));
            }
        }
        for (name, var) in &vars {
            let g = grads.get(var).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let count = base.len();
            for &idx in &[0, count / 3, count - 1] {
                let eps = 1e-6;
                let eval = |delta: f64| {
                    let mut v = base.clone();
                    v[idx] += delta;
                    var.set(&Tensor::from_vec(v, var.shape(), &dev).unwrap()).unwrap();
                    let o = objective(&enc, x.as_tensor(), &mask, &weights).to_scalar::<f64>().unwrap();
                    var.set(&Tensor::from_vec(base.clone(), var.shape(), &dev).unwrap()).unwrap();
                    o
                };
                // The network is piecewise smooth (ReLU, max pool): a step may cross a kink, so the
                // central difference must agree at one of three step sizes.
                // The tolerance allows for the rounding of the objective itself, which a central
                // difference divides by 2e: 8 ulps of |objective| / e on top of 1e-5 relative.
                let analytic = g[idx];
                let scale = objective(&enc, x.as_tensor(), &mask, &weights).to_scalar::<f64>().unwrap().abs();
                let numeric: Vec<(f64, f64)> = [eps, eps / 10.0, eps / 100.0]
                    .iter()
                    .map(|&e| ((eval(e) - eval(-e)) / (2.0 * e), 8.0 * f64::EPSILON * scale / e))
                    .collect();
                let tol = 1e-5 * (1.0 + analytic.abs());
                let best = numeric.iter().map(|(n, r)| (n - analytic).abs() - r).fold(f64::INFINITY, f64::min);
                assert!(best < tol, "{name}[{idx}]: numeric {numeric:?} vs analytic {analytic}");
                checked += 1;
            }
        }
        assert!(checked >= 12, "checked only {checked}");
    }
}

#[test]
fn export_loads_into_a_fresh_backbone_missing_only_fc() {
    let dev = Device::Cpu;
    let cfg = ResNetConfig::resnet_tiny().with_base_width(8);
    let enc = SparseEncoder::new(ResNet::new(cfg.clone(), 4, &dev).unwrap());
    let p = enc.patch_size();
    let mask = MaskGenerator::new(p, 0.6).unwrap().generate(2, 4 * p, 4 * p, 0, 0).unwrap();
    let x = seeded(&[2, 1, 4 * p, 4 * p], 4).to_dtype(DType::F32).unwrap();
    enc.forward(&x, &mask, true).unwrap();
    let state = encoder_state_dict(&enc).unwrap();
    let fresh = ResNet::new(cfg.with_num_classes(Some(5)), 99, &dev).unwrap();
    let report = fresh.load_state_dict(&state, &LoadOptions::partial()).unwrap();
    let mut missing = report.missing.clone();
    missing.sort();
    assert_eq!(missing, vec!["fc.bias".to_string(), "fc.weight".to_string()]);
    assert!(report.unexpected.is_empty() && report.shape_mismatch.is_empty(), "{}", report.summary());
    for e in enc.backbone().named_vars("") {
        let got = fresh.params().get(&e.name).unwrap();
        assert_eq!(
            max_abs_diff(
                &e.var.as_tensor().to_dtype(DType::F64).unwrap(),
                &got.var.as_tensor().to_dtype(DType::F64).unwrap()
            ),
            0.0,
            "{}",
            e.name
        );
    }
    // Through a file as well.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("encoder.safetensors");
    ctssl_sparse::save_encoder_safetensors(&enc, &path).unwrap();
    let report = fresh.load_safetensors(&path, &LoadOptions::partial()).unwrap();
    assert_eq!(report.missing.len(), 2);
    assert!(report.unexpected.is_empty());
}
