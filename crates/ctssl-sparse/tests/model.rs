//! The whole SparK model: shapes, gradients, and a few optimiser steps lowering the loss.

mod common;
use common::seeded;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ctssl_backbones::ResNetConfig;
use ctssl_sparse::{MaskGenerator, SparkConfig, SparkModel};

/// Smooth synthetic "slices": a bright disc on a gradient, different per image.
fn synthetic(n: usize, h: usize, w: usize) -> Tensor {
    let mut v = Vec::with_capacity(n * h * w);
    for i in 0..n {
        let (cy, cx, r) = (h as f32 * (0.3 + 0.1 * i as f32), w as f32 * 0.5, h as f32 * 0.25);
        for y in 0..h {
            for x in 0..w {
                let d = ((y as f32 - cy).powi(2) + (x as f32 - cx).powi(2)).sqrt();
                v.push(if d < r { 1.0 } else { 0.0 } + 0.3 * y as f32 / h as f32);
            }
        }
    }
    Tensor::from_vec(v, (n, 1, h, w), &Device::Cpu).unwrap()
}

#[test]
fn shapes_for_both_stems_and_non_square_inputs() {
    let dev = Device::Cpu;
    for backbone in [
        ResNetConfig::resnet_tiny().with_base_width(8),
        ResNetConfig::resnet_tiny().with_base_width(8).with_stem(ctssl_backbones::Stem::Strided),
        ResNetConfig::resnet18().with_base_width(8),
    ] {
        let model = SparkModel::new(backbone, &SparkConfig::default().with_decoder_width(64), 0, &dev).unwrap();
        let p = model.patch_size();
        let (h, w) = (2 * p, 3 * p);
        let x = seeded(&[2, 1, h, w], 1).to_dtype(DType::F32).unwrap();
        let mask = MaskGenerator::new(p, 0.6).unwrap().generate(2, h, w, 1, 0).unwrap();
        let out = model.forward(&x, &mask, true).unwrap();
        assert_eq!(out.reconstruction.dims(), &[2, 1, h, w]);
        assert_eq!(out.loss.dims(), &[] as &[usize]);
    }
    // Reconstruction channels are configurable (here a 3-channel backbone reconstructs 3 channels).
    let backbone = ResNetConfig::resnet_tiny().with_base_width(8).with_in_channels(3);
    let model = SparkModel::new(backbone, &SparkConfig::default(), 0, &dev).unwrap();
    let x = seeded(&[2, 3, 16, 24], 2).to_dtype(DType::F32).unwrap();
    let mask = MaskGenerator::new(8, 0.6).unwrap().generate(2, 16, 24, 1, 0).unwrap();
    assert_eq!(model.forward(&x, &mask, true).unwrap().reconstruction.dims(), &[2, 3, 16, 24]);
    // A mask made for another size is refused.
    let other = MaskGenerator::new(8, 0.6).unwrap().generate(2, 16, 16, 1, 0).unwrap();
    assert!(model.forward(&x, &other, true).is_err());
}

#[test]
fn every_trainable_variable_gets_a_finite_gradient() {
    let dev = Device::Cpu;
    let cfg = SparkConfig::default().with_decoder_width(32);
    let model = SparkModel::new(ResNetConfig::resnet_tiny().with_base_width(8), &cfg, 2, &dev).unwrap();
    let x = synthetic(2, 32, 32);
    let mask = MaskGenerator::new(8, 0.6).unwrap().generate(2, 32, 32, 3, 0).unwrap();
    let out = model.forward(&x, &mask, true).unwrap();
    let grads = out.loss.backward().unwrap();
    let vars = model.trainable_vars();
    let mut nonzero = 0;
    for v in &vars {
        let g = grads.get(v).expect("every variable takes part in the loss");
        let s: f32 = g.abs().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(s.is_finite());
        if s > 0.0 {
            nonzero += 1;
        }
    }
    assert!(nonzero * 10 >= vars.len() * 9, "{nonzero} of {} gradients nonzero", vars.len());
    // Names follow SparK for the head.
    let names: Vec<String> = model.head_params().names();
    for n in
        ["mask_tokens.0", "densify_projs.3.weight", "dense_decoder.dec.0.up_sample.weight", "dense_decoder.proj.bias"]
    {
        assert!(names.iter().any(|x| x == n), "missing {n}");
    }
}

#[test]
fn a_few_adamw_steps_lower_the_loss() {
    let dev = Device::Cpu;
    let cfg = SparkConfig::default().with_decoder_width(32);
    let model = SparkModel::new(ResNetConfig::resnet_tiny().with_base_width(8), &cfg, 5, &dev).unwrap();
    let x = synthetic(4, 32, 32);
    let mask = MaskGenerator::new(8, 0.6).unwrap().generate(4, 32, 32, 11, 0).unwrap();
    let mut opt =
        AdamW::new(model.trainable_vars(), ParamsAdamW { lr: 3e-3, weight_decay: 0.0, ..Default::default() }).unwrap();
    let mut losses = Vec::new();
    for _ in 0..15 {
        let out = model.forward(&x, &mask, true).unwrap();
        let l: f32 = out.loss.to_dtype(DType::F32).unwrap().to_scalar().unwrap();
        losses.push(l);
        opt.backward_step(&out.loss).unwrap();
    }
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last < 0.8 * first, "loss did not fall: {losses:?}");
}
