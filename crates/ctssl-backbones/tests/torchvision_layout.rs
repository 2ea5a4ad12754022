//! Names, shapes, dtypes and parameter counts against torchvision (fixtures derived from torchvision's rules),
//! and loading a torchvision-shaped state dict.

use candle_core::{DType, Device, Tensor};
use ctssl_backbones::{LoadOptions, Parameters, ResNet, ResNetConfig};
use std::collections::HashMap;

struct Key {
    name: String,
    dtype: DType,
    shape: Vec<usize>,
}

fn fixture(arch: &str) -> Vec<Key> {
    let path = format!("{}/tests/fixtures/torchvision_{arch}_keys.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next().unwrap().to_string();
            let dtype = match it.next().unwrap() {
                "F32" => DType::F32,
                "I64" => DType::I64,
                other => panic!("dtype {other}"),
            };
            let shape = it.next().unwrap().trim_matches(['[', ']']);
            let shape = shape.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
            Key { name, dtype, shape }
        })
        .collect()
}

fn imagenet(config: ResNetConfig) -> ResNet {
    ResNet::new(config.with_in_channels(3).with_num_classes(Some(1000)), 0, &Device::Cpu).unwrap()
}

fn assert_layout_matches(model: &ResNet, arch: &str, expected_keys: usize) {
    let keys = fixture(arch);
    assert_eq!(keys.len(), expected_keys);
    let ours = model.named_vars("");
    assert_eq!(ours.len(), keys.len());
    for (k, v) in keys.iter().zip(ours.iter()) {
        assert_eq!(v.name, k.name, "order or name differs");
        assert_eq!(v.var.dims(), k.shape.as_slice(), "{}", k.name);
        assert_eq!(v.var.dtype(), k.dtype, "{}", k.name);
    }
}

#[test]
fn resnet50_keys_shapes_dtypes_and_order_match_torchvision() {
    assert_layout_matches(&imagenet(ResNetConfig::resnet50()), "resnet50", 320);
}

#[test]
fn resnet18_keys_shapes_dtypes_and_order_match_torchvision() {
    assert_layout_matches(&imagenet(ResNetConfig::resnet18()), "resnet18", 122);
}

#[test]
fn parameter_counts_match_torchvision() {
    assert_eq!(imagenet(ResNetConfig::resnet18()).num_parameters(), 11_689_512);
    assert_eq!(imagenet(ResNetConfig::resnet34()).num_parameters(), 21_797_672);
    assert_eq!(imagenet(ResNetConfig::resnet50()).num_parameters(), 25_557_032);
}

#[test]
fn trainable_vars_exclude_buffers() {
    let model = imagenet(ResNetConfig::resnet18());
    let n_bn = model.named_vars("").iter().filter(|v| v.name.ends_with("running_mean")).count();
    assert_eq!(n_bn, 20);
    // 122 keys - 3 buffers per BN.
    assert_eq!(model.trainable_vars().len(), 122 - 3 * n_bn);
    assert_eq!(model.head_vars().len(), 2);
    assert_eq!(model.backbone_vars().len() + 2, model.trainable_vars().len());
}

/// A state dict with torchvision's names, shapes and dtypes (F32 weights, I64 counters), filled with
/// recognisable values.
fn torchvision_like_state(arch: &str) -> HashMap<String, Tensor> {
    fixture(arch)
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let n: usize = k.shape.iter().product();
            let t = match k.dtype {
                DType::I64 => Tensor::new(1000 + i as i64, &Device::Cpu).unwrap(),
                _ => {
                    let v: Vec<f32> = (0..n).map(|j| ((i * 31 + j) % 997) as f32 * 1e-3 - 0.4).collect();
                    Tensor::from_vec(v, k.shape.as_slice(), &Device::Cpu).unwrap()
                }
            };
            (k.name, t)
        })
        .collect()
}

#[test]
fn torchvision_resnet50_state_dict_loads_with_every_key_matched() {
    let state = torchvision_like_state("resnet50");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tv.safetensors");
    ctssl_backbones::save_safetensors(&state, &path).unwrap();

    let model = imagenet(ResNetConfig::resnet50());
    let report = model.load_safetensors(&path, &LoadOptions::strict()).unwrap();
    assert!(report.is_complete(), "{}", report.summary());
    assert_eq!(report.loaded.len(), 320);
    assert!(report.defaulted.is_empty() && report.folded.is_empty());
    let ours = model.state_dict().unwrap();
    for (name, t) in &state {
        let o = &ours[name];
        assert_eq!(o.dtype(), t.dtype(), "{name}");
        let diff = (o.to_dtype(DType::F64).unwrap() - t.to_dtype(DType::F64).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert_eq!(diff, 0.0, "{name}");
    }
    assert_eq!(model.bn1().num_batches_tracked().unwrap(), 1005);
}

#[test]
fn rgb_stem_folds_to_one_channel_by_summing_input_channels() {
    let state = torchvision_like_state("resnet50");
    let grey = ResNet::new(ResNetConfig::resnet50().with_num_classes(Some(1000)), 0, &Device::Cpu).unwrap();
    // Without folding, conv1 is a shape mismatch and a strict load fails, changing nothing.
    let before = grey.conv1().weight().as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let err = grey.load_state_dict(&state, &LoadOptions::strict()).unwrap_err();
    assert!(err.to_string().contains("conv1.weight"), "{err}");
    let still = grey.conv1().weight().as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(before, still);
    assert_eq!(grey.bn1().num_batches_tracked().unwrap(), 0);

    let report = grey.load_state_dict(&state, &LoadOptions::strict().with_fold_rgb_to_grey(true)).unwrap();
    assert_eq!(report.folded, vec!["conv1.weight".to_string()]);
    assert!(report.is_complete());
    let rgb: Vec<f32> = state["conv1.weight"].flatten_all().unwrap().to_vec1().unwrap();
    let folded: Vec<f32> = grey.conv1().weight().as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    for o in 0..64 {
        for p in 0..49 {
            let s: f64 = (0..3).map(|c| rgb[o * 147 + c * 49 + p] as f64).sum();
            assert!((folded[o * 49 + p] as f64 - s).abs() < 1e-6);
        }
    }

    // Folding gives a grey image the response an RGB copy of it gets from the 3-channel model.
    let rgb_model = imagenet(ResNetConfig::resnet50());
    rgb_model.load_state_dict(&state, &LoadOptions::strict()).unwrap();
    let v: Vec<f32> = (0..32 * 32).map(|i| ((i * 7919) % 101) as f32 / 101.0).collect();
    let x = Tensor::from_vec(v, (1, 1, 32, 32), &Device::Cpu).unwrap();
    let x3 = Tensor::cat(&[&x, &x, &x], 1).unwrap();
    let a = grey.forward_stem(&x, false).unwrap();
    let b = rgb_model.forward_stem(&x3, false).unwrap();
    let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(d < 1e-4, "{d}");
}

#[test]
fn feature_extractor_loads_a_classifier_checkpoint_partially() {
    let state = torchvision_like_state("resnet18");
    let model = ResNet::new(ResNetConfig::resnet18().with_in_channels(3), 1, &Device::Cpu).unwrap();
    let report = model.load_state_dict(&state, &LoadOptions::partial()).unwrap();
    assert_eq!(report.unexpected, vec!["fc.bias".to_string(), "fc.weight".to_string()]);
    assert!(report.missing.is_empty() && report.shape_mismatch.is_empty());
    assert_eq!(report.loaded.len(), 120);

    // A classifier with another class count: fc is a shape mismatch, the rest loads.
    let ten =
        ResNet::new(ResNetConfig::resnet18().with_in_channels(3).with_num_classes(Some(10)), 1, &Device::Cpu).unwrap();
    let report = ten.load_state_dict(&state, &LoadOptions::partial()).unwrap();
    let names: Vec<_> = report.shape_mismatch.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["fc.weight", "fc.bias"]);
    assert_eq!(report.shape_mismatch[0].expected, vec![10, 512]);
    assert_eq!(report.shape_mismatch[0].found, vec![1000, 512]);
}

#[test]
fn missing_num_batches_tracked_is_defaulted_like_pytorch() {
    let mut state = torchvision_like_state("resnet18");
    state.retain(|k, _| !k.ends_with("num_batches_tracked"));
    let model = imagenet(ResNetConfig::resnet18());
    let report = model.load_state_dict(&state, &LoadOptions::strict()).unwrap();
    assert_eq!(report.defaulted.len(), 20);
    assert!(report.is_complete());
}

#[test]
fn float64_and_int32_sources_are_converted() {
    let state: HashMap<String, Tensor> = torchvision_like_state("resnet18")
        .into_iter()
        .map(|(k, t)| {
            let t =
                if t.dtype() == DType::I64 { t.to_dtype(DType::U32).unwrap() } else { t.to_dtype(DType::F64).unwrap() };
            (k, t)
        })
        .collect();
    let model = imagenet(ResNetConfig::resnet18());
    model.load_state_dict(&state, &LoadOptions::strict()).unwrap();
    assert_eq!(model.params().get("fc.weight").unwrap().var.dtype(), DType::F32);
    assert_eq!(model.bn1().num_batches_tracked().unwrap(), 1005);
}

/// Loads a state dict exported by `scripts/export_torchvision.py export --arch resnet50` (needs PyTorch, so
/// not part of the default run): `$CTSSL_TORCHVISION_RESNET50` or `tests/fixtures/resnet50_torchvision.safetensors`.
#[test]
#[ignore = "needs a file exported from PyTorch by scripts/export_torchvision.py"]
fn torchvision_export_loads_with_every_key_matched() {
    let path = std::env::var("CTSSL_TORCHVISION_RESNET50")
        .unwrap_or_else(|_| format!("{}/tests/fixtures/resnet50_torchvision.safetensors", env!("CARGO_MANIFEST_DIR")));
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} does not exist: export it with scripts/export_torchvision.py (needs PyTorch)"
    );
    let rgb = imagenet(ResNetConfig::resnet50());
    let report = rgb.load_safetensors(&path, &LoadOptions::strict()).unwrap();
    assert!(report.is_complete() && report.defaulted.is_empty(), "{}", report.summary());
    assert_eq!(report.loaded.len(), 320);
    let grey = ResNet::new(ResNetConfig::resnet50().with_num_classes(Some(1000)), 0, &Device::Cpu).unwrap();
    let report = grey.load_safetensors(&path, &LoadOptions::strict().with_fold_rgb_to_grey(true)).unwrap();
    assert_eq!(report.folded, vec!["conv1.weight".to_string()]);
    let x = Tensor::zeros((1, 1, 64, 64), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(grey.forward(&x, false).unwrap().dims(), &[1, 1000]);
}
