//! safetensors save → load round trips, the file format, and errors.

mod common;

use candle_core::{DType, Device};
use candle_nn::optim::{Optimizer, SGD};
use ctssl_backbones::{BackboneError, LoadOptions, ResNet, ResNetConfig};

fn trained_model() -> ResNet {
    let model = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(3)), 1, &Device::Cpu).unwrap();
    let x = common::input(1, &[4, 1, 16, 16], DType::F32);
    let mut sgd = SGD::new(model.trainable_vars(), 0.01).unwrap();
    for _ in 0..2 {
        let loss = model.forward(&x, true).unwrap().sqr().unwrap().mean_all().unwrap();
        sgd.backward_step(&loss).unwrap();
    }
    model
}

#[test]
fn save_then_load_is_bit_exact() {
    let a = trained_model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    a.save_safetensors(&path).unwrap();
    // Nothing but the file is left behind by the atomic write.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("tiny.safetensors")]);

    let b = ResNet::new(ResNetConfig::resnet_tiny().with_num_classes(Some(3)), 99, &Device::Cpu).unwrap();
    let report = b.load_safetensors(&path, &LoadOptions::strict()).unwrap();
    assert!(report.is_complete());
    assert_eq!(report.loaded.len(), a.params().len());
    let (sa, sb) = (a.state_dict().unwrap(), b.state_dict().unwrap());
    for (k, t) in &sa {
        assert_eq!(t.dtype(), sb[k].dtype(), "{k}");
        let bits = |t: &candle_core::Tensor| -> Vec<u64> {
            match t.dtype() {
                DType::I64 => vec![t.to_scalar::<i64>().unwrap() as u64],
                _ => t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits() as u64).collect(),
            }
        };
        assert_eq!(bits(t), bits(&sb[k]), "{k}");
    }
    assert_eq!(b.bn1().num_batches_tracked().unwrap(), 2);
    let x = common::input(8, &[2, 1, 16, 16], DType::F32);
    assert_eq!(common::max_abs_diff(&a.forward(&x, false).unwrap(), &b.forward(&x, false).unwrap()), 0.0);
    // Overwriting an existing file works too.
    b.save_safetensors(&path).unwrap();
}

#[test]
fn file_has_torch_compatible_dtypes_shapes_and_metadata() {
    let a = trained_model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    a.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str), Some("pt"));
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let counter = st.tensor("bn1.num_batches_tracked").unwrap();
    assert_eq!(counter.dtype(), safetensors::Dtype::I64);
    assert!(counter.shape().is_empty());
    assert_eq!(counter.data(), &2i64.to_le_bytes());
    let w = st.tensor("layer2.0.downsample.0.weight").unwrap();
    assert_eq!(w.dtype(), safetensors::Dtype::F32);
    assert_eq!(w.shape(), &[64, 32, 1, 1]);
    assert_eq!(st.len(), a.params().len());
}

#[test]
fn load_errors_name_the_file() {
    let model = ResNet::new(ResNetConfig::resnet_tiny(), 1, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.safetensors");
    match model.load_safetensors(&missing, &LoadOptions::strict()) {
        Err(BackboneError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected an Io error, got {other:?}"),
    }
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x10\0\0\0\0\0\0\0{not json}").unwrap();
    assert!(matches!(model.load_safetensors(&corrupt, &LoadOptions::strict()), Err(BackboneError::Safetensors { .. })));
    let bad_dir = dir.path().join("no").join("such").join("dir.safetensors");
    assert!(matches!(model.save_safetensors(&bad_dir), Err(BackboneError::Io { .. })));
}

#[test]
fn strict_load_of_another_architecture_fails_without_changing_anything() {
    let a = trained_model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    a.save_safetensors(&path).unwrap();
    let other = ResNet::new(ResNetConfig::resnet_tiny2().with_num_classes(Some(3)), 5, &Device::Cpu).unwrap();
    let before = other.state_dict().unwrap().into_iter().map(|(k, t)| (k, common::values(&t))).collect::<Vec<_>>();
    let err = other.load_safetensors(&path, &LoadOptions::strict()).unwrap_err();
    let BackboneError::StrictLoad(report) = err else { panic!("expected StrictLoad") };
    assert!(report.missing.iter().any(|k| k.starts_with("layer1.1.")));
    let after = other.state_dict().unwrap();
    for (k, v) in before {
        assert_eq!(v, common::values(&after[&k]), "{k} changed by a failed strict load");
    }
    let partial = other.load_safetensors(&path, &LoadOptions::partial()).unwrap();
    assert_eq!(partial.loaded.len(), a.params().len());
}
