//! Stage-map and pooled-feature shapes of every architecture.

mod common;

use candle_core::{DType, Device};
use ctssl_backbones::{BackboneError, ResNet, ResNetConfig, Stem};

fn check(config: ResNetConfig, batch: usize, size: usize, expect_spatial: [usize; 4], expect_channels: [usize; 4]) {
    let model = ResNet::new(config.clone(), 3, &Device::Cpu).unwrap();
    let x = common::input(1, &[batch, config.in_channels, size, size], DType::F32);
    let f = model.forward_features(&x, false).unwrap();
    for (i, (stage, &s)) in f.stages.iter().zip(expect_spatial.iter()).enumerate() {
        assert_eq!(stage.dims(), &[batch, expect_channels[i], s, s], "stage {i}");
    }
    assert_eq!(f.pooled.dims(), &[batch, expect_channels[3]]);
    assert_eq!(config.stage_channels(), expect_channels);
    assert_eq!(config.stage_strides().map(|stride| size / stride), expect_spatial);
    let out = model.forward(&x, false).unwrap();
    match config.num_classes {
        Some(n) => assert_eq!(out.dims(), &[batch, n]),
        None => assert_eq!(out.dims(), &[batch, expect_channels[3]]),
    }
}

#[test]
fn resnet18_at_64() {
    check(ResNetConfig::resnet18(), 2, 64, [16, 8, 4, 2], [64, 128, 256, 512]);
}

#[test]
fn resnet34_at_64() {
    check(ResNetConfig::resnet34().with_num_classes(Some(7)), 2, 64, [16, 8, 4, 2], [64, 128, 256, 512]);
}

#[test]
fn resnet50_at_64() {
    check(ResNetConfig::resnet50(), 1, 64, [16, 8, 4, 2], [256, 512, 1024, 2048]);
}

#[test]
fn resnet18_at_224() {
    check(ResNetConfig::resnet18().with_num_classes(Some(1000)), 1, 224, [56, 28, 14, 7], [64, 128, 256, 512]);
}

#[test]
fn resnet34_at_224() {
    check(ResNetConfig::resnet34(), 1, 224, [56, 28, 14, 7], [64, 128, 256, 512]);
}

#[test]
fn resnet50_at_224() {
    check(ResNetConfig::resnet50().with_in_channels(3), 1, 224, [56, 28, 14, 7], [256, 512, 1024, 2048]);
}

#[test]
fn tiny_presets_with_small_stem_at_64() {
    check(ResNetConfig::resnet_tiny(), 2, 64, [64, 32, 16, 8], [32, 64, 128, 256]);
    check(ResNetConfig::resnet_tiny2().with_num_classes(Some(3)), 2, 64, [64, 32, 16, 8], [32, 64, 128, 256]);
}

#[test]
fn width_multiplier_and_imagenet_stem_on_a_tiny_model() {
    let config = ResNetConfig::resnet18().with_width_multiplier(0.25).with_stem(Stem::ImageNet);
    assert_eq!(config.base_width, 16);
    check(config, 2, 64, [16, 8, 4, 2], [16, 32, 64, 128]);
    let config = ResNetConfig::resnet50().with_width_multiplier(0.125);
    check(config, 1, 64, [16, 8, 4, 2], [32, 64, 128, 256]);
}

#[test]
fn tiny_preset_parameter_counts() {
    // Counted by hand: stem 288 + 64; layer1 18,560; layer2 57,728; layer3 230,144; layer4 919,040.
    let tiny = ResNet::new(ResNetConfig::resnet_tiny(), 0, &Device::Cpu).unwrap();
    assert_eq!(tiny.num_parameters(), 1_225_824);
    let tiny2 = ResNet::new(ResNetConfig::resnet_tiny2(), 0, &Device::Cpu).unwrap();
    assert_eq!(tiny2.num_parameters(), 1_225_824 + 18_560 + 73_984 + 295_424 + 1_180_672);
}

#[test]
fn wrong_input_and_bad_configs_are_errors() {
    let model = ResNet::new(ResNetConfig::resnet_tiny(), 0, &Device::Cpu).unwrap();
    let x3 = common::input(0, &[1, 3, 16, 16], DType::F32);
    assert!(matches!(model.forward(&x3, false), Err(BackboneError::InvalidInput(_))));
    let x_rank3 = common::input(0, &[1, 16, 16], DType::F32);
    assert!(matches!(model.forward(&x_rank3, false), Err(BackboneError::InvalidInput(_))));
    assert!(model.forward_stage(4, &x3, false).is_err());
    for bad in [
        ResNetConfig::resnet18().with_in_channels(0),
        ResNetConfig::resnet18().with_width_multiplier(0.001),
        ResNetConfig { layers: [2, 0, 2, 2], ..ResNetConfig::resnet18() },
        ResNetConfig { bn_momentum: 1.5, ..ResNetConfig::resnet18() },
        ResNetConfig { bn_eps: 0.0, ..ResNetConfig::resnet18() },
    ] {
        assert!(matches!(ResNet::new(bad, 0, &Device::Cpu), Err(BackboneError::InvalidConfig(_))));
    }
    assert!(ResNetConfig::from_name("resnet101").is_err());
    assert_eq!(ResNetConfig::from_name("resnet50").unwrap(), ResNetConfig::resnet50());
    assert!(ResNet::with_dtype(ResNetConfig::resnet_tiny(), 0, DType::I64, &Device::Cpu).is_err());
}

#[test]
fn forward_flops_match_torchvisions_published_counts() {
    // torchvision's model table: ResNet-18 1.81 and ResNet-50 4.09 "GFLOPS" (multiply-adds of the
    // convolutions and fc, 3×224×224, 1000 classes); forward_flops counts 2 per multiply-add.
    for (config, gmacs) in [(ResNetConfig::resnet18(), 1.81), (ResNetConfig::resnet50(), 4.09)] {
        let config = config.with_in_channels(3).with_num_classes(Some(1000));
        let model = ResNet::new(config, 0, &Device::Cpu).unwrap();
        let got = model.forward_flops(224, 224) / 2e9;
        assert!((got - gmacs).abs() < 0.01, "{got} GMAC, torchvision says {gmacs}");
    }
}
