//! Every op: gradients against central finite differences in f64, and the public op (the CPU kernel)
//! against the reference built from candle's primitives (values and gradients, f32 and f64), on seeded
//! random shapes with odd sizes, strides, padding and dilation.

#![allow(clippy::type_complexity, clippy::cloned_ref_to_slice_refs)]

mod common;

use candle_core::{Device, Tensor};
use common::{check_finite_differences, compare, f32, randn, rng};
use ctssl_kernels::ops::{self, reference, BatchNormParams, Conv2dParams, ConvTranspose2dParams, MaxPool2dParams};

/// (n, c_in, h, w, c_out, k, stride, padding, dilation)
const CONV_CASES: &[(usize, usize, usize, usize, usize, usize, usize, usize, usize)] = &[
    (2, 3, 7, 9, 4, 3, 1, 1, 1),
    (2, 3, 9, 8, 5, 3, 2, 1, 1),
    (1, 2, 11, 10, 3, 3, 1, 2, 2),
    (2, 4, 6, 7, 3, 1, 1, 0, 1),
    (2, 3, 8, 8, 4, 1, 2, 0, 1),
    (1, 2, 15, 13, 3, 7, 2, 3, 1),
    (3, 5, 5, 6, 2, 3, 2, 0, 2),
    (1, 3, 17, 17, 4, 1, 1, 0, 1),
    (9, 2, 6, 6, 3, 3, 1, 1, 1),
    (3, 2, 17, 16, 3, 3, 1, 1, 1),
    // One image per group and more groups than weight-gradient chunks: products accumulate within a chunk.
    (10, 2, 16, 17, 3, 3, 1, 1, 1),
    // 1×1 stride 2 on an odd size (a strided gather), several images per group.
    (3, 4, 9, 9, 5, 1, 2, 0, 1),
    // Dilation 2 with stride 2.
    (2, 3, 12, 12, 3, 3, 2, 2, 2),
    // Small maps with enough channels for the tap-by-tap kernels (stride 1 and 2).
    (2, 32, 3, 3, 4, 3, 1, 1, 1),
    (3, 33, 5, 4, 5, 3, 2, 1, 1),
];

#[test]
fn conv2d_gradients_match_finite_differences() {
    for (i, &(n, ci, h, w, co, k, s, p, d)) in CONV_CASES.iter().enumerate() {
        let mut r = rng(100 + i as u64);
        let x = randn(&mut r, &[n, ci, h, w], 1.0);
        let wt = randn(&mut r, &[co, ci, k, k], 0.5);
        let params = Conv2dParams { stride: s, padding: p, dilation: d };
        check_finite_differences(|t| ops::conv2d(&t[0], &t[1], params), &[x.clone(), wt.clone()], 20, i as u64);
        check_finite_differences(|t| reference::conv2d(&t[0], &t[1], params), &[x, wt], 20, i as u64);
    }
}

#[test]
fn conv2d_matches_candle() {
    for (i, &(n, ci, h, w, co, k, s, p, d)) in CONV_CASES.iter().enumerate() {
        let mut r = rng(200 + i as u64);
        let x = randn(&mut r, &[n, ci, h, w], 1.0);
        let wt = randn(&mut r, &[co, ci, k, k], 0.5);
        let params = Conv2dParams { stride: s, padding: p, dilation: d };
        let ours = |t: &[Tensor]| ops::conv2d(&t[0], &t[1], params);
        let theirs = |t: &[Tensor]| reference::conv2d(&t[0], &t[1], params);
        compare(ours, theirs, &[x.clone(), wt.clone()], 1e-10, i as u64);
        compare(ours, theirs, &[f32(&x), f32(&wt)], 1e-4, i as u64);
    }
}

/// The backward pass computes no gradient for an input that takes no part in the graph (a network's
/// image), and the weight gradient is the same as when the input is a variable.
#[test]
fn conv2d_skips_the_gradient_of_an_untracked_input() {
    let mut r = rng(300);
    let x = randn(&mut r, &[2, 3, 6, 5], 1.0);
    let w = candle_core::Var::from_tensor(&randn(&mut r, &[4, 3, 3, 3], 0.5)).unwrap();
    let xv = candle_core::Var::from_tensor(&x).unwrap();
    let p = Conv2dParams { stride: 1, padding: 1, dilation: 1 };
    let plain = ops::conv2d(&x, &w, p).unwrap().sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let tracked = ops::conv2d(&xv, &w, p).unwrap().sqr().unwrap().sum_all().unwrap().backward().unwrap();
    assert!(plain.get(&x).is_none());
    assert!(tracked.get(&xv).is_some());
    assert_eq!(common::max_rel_diff(plain.get(&w).unwrap(), tracked.get(&w).unwrap()), 0.0);
}

/// (n, c_in, h, w, c_out, k, stride, padding, output_padding, dilation)
const CONVT_CASES: &[(usize, usize, usize, usize, usize, usize, usize, usize, usize, usize)] = &[
    (2, 3, 4, 5, 2, 2, 2, 0, 0, 1),
    (2, 3, 5, 4, 4, 3, 2, 1, 1, 1),
    (1, 4, 6, 7, 3, 3, 1, 1, 0, 1),
    (2, 2, 3, 5, 3, 3, 1, 0, 0, 2),
    (1, 3, 4, 4, 2, 1, 1, 0, 0, 1),
    (2, 2, 5, 3, 3, 4, 2, 1, 0, 1),
    (1, 2, 4, 5, 2, 3, 1, 0, 1, 2),
];

#[test]
fn conv_transpose2d_gradients_match_finite_differences() {
    for (i, &(n, ci, h, w, co, k, s, p, op, d)) in CONVT_CASES.iter().enumerate() {
        let mut r = rng(300 + i as u64);
        let x = randn(&mut r, &[n, ci, h, w], 1.0);
        let wt = randn(&mut r, &[ci, co, k, k], 0.5);
        let params = ConvTranspose2dParams { stride: s, padding: p, output_padding: op, dilation: d };
        check_finite_differences(
            |t| ops::conv_transpose2d(&t[0], &t[1], params),
            &[x.clone(), wt.clone()],
            20,
            i as u64,
        );
        check_finite_differences(|t| reference::conv_transpose2d(&t[0], &t[1], params), &[x, wt], 20, i as u64);
    }
}

#[test]
fn conv_transpose2d_matches_candle() {
    for (i, &(n, ci, h, w, co, k, s, p, op, d)) in CONVT_CASES.iter().enumerate() {
        let mut r = rng(400 + i as u64);
        let x = randn(&mut r, &[n, ci, h, w], 1.0);
        let wt = randn(&mut r, &[ci, co, k, k], 0.5);
        let params = ConvTranspose2dParams { stride: s, padding: p, output_padding: op, dilation: d };
        let ours = |t: &[Tensor]| ops::conv_transpose2d(&t[0], &t[1], params);
        let theirs = |t: &[Tensor]| reference::conv_transpose2d(&t[0], &t[1], params);
        compare(ours, theirs, &[x.clone(), wt.clone()], 1e-10, i as u64);
        compare(ours, theirs, &[f32(&x), f32(&wt)], 1e-4, i as u64);
    }
}

const BN_CASES: &[(usize, usize, usize, usize)] = &[(2, 3, 5, 7), (4, 5, 3, 3), (1, 2, 6, 5), (3, 16, 4, 4)];

fn bn_inputs(i: usize, n: usize, c: usize, h: usize, w: usize) -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
    let mut r = rng(500 + i as u64);
    let x = (randn(&mut r, &[n, c, h, w], 2.0) + 0.5).unwrap();
    let wt = (randn(&mut r, &[c], 0.5) + 1.0).unwrap();
    let b = randn(&mut r, &[c], 0.5);
    let rm = randn(&mut r, &[c], 0.3);
    let rv = (randn(&mut r, &[c], 0.2).abs().unwrap() + 0.5).unwrap();
    (x, wt, b, rm, rv)
}

#[test]
fn batch_norm2d_gradients_match_finite_differences() {
    for (i, &(n, c, h, w)) in BN_CASES.iter().enumerate() {
        let (x, wt, b, rm, rv) = bn_inputs(i, n, c, h, w);
        for training in [true, false] {
            let p = BatchNormParams { momentum: 0.1, eps: 1e-5, training };
            let f = |t: &[Tensor]| Ok(ops::batch_norm2d(&t[0], &t[1], &t[2], &rm, &rv, p)?.0);
            check_finite_differences(f, &[x.clone(), wt.clone(), b.clone()], 20, i as u64);
        }
    }
}

#[test]
fn batch_norm2d_matches_reference() {
    for (i, &(n, c, h, w)) in BN_CASES.iter().enumerate() {
        let (x, wt, b, rm, rv) = bn_inputs(i, n, c, h, w);
        for training in [true, false] {
            let p = BatchNormParams { momentum: 0.1, eps: 1e-5, training };
            for (inputs, tol) in [
                (vec![x.clone(), wt.clone(), b.clone(), rm.clone(), rv.clone()], 1e-10),
                (vec![f32(&x), f32(&wt), f32(&b), f32(&rm), f32(&rv)], 1e-4),
            ] {
                let (rm_t, rv_t) = (inputs[3].clone(), inputs[4].clone());
                let ours = |t: &[Tensor]| Ok(ops::batch_norm2d(&t[0], &t[1], &t[2], &rm_t, &rv_t, p)?.0);
                let theirs = |t: &[Tensor]| Ok(reference::batch_norm2d(&t[0], &t[1], &t[2], &rm_t, &rv_t, p)?.0);
                compare(ours, theirs, &inputs[..3], tol, i as u64);
                let (_, s1) = ops::batch_norm2d(&inputs[0], &inputs[1], &inputs[2], &rm_t, &rv_t, p).unwrap();
                let (_, s2) = reference::batch_norm2d(&inputs[0], &inputs[1], &inputs[2], &rm_t, &rv_t, p).unwrap();
                assert_eq!(s1.is_some(), training);
                if let (Some((m1, v1)), Some((m2, v2))) = (s1, s2) {
                    assert!(common::max_rel_diff(&m1, &m2) < tol);
                    assert!(common::max_rel_diff(&v1, &v2) < tol);
                }
            }
        }
    }
}

/// The fused convolution + batch norm (+ ReLU) against the ops in turn: outputs, every gradient and the
/// running statistics (f64 and f32), and its gradients against finite differences; im2col and tap-wise
/// convolutions, strided and not.
#[test]
fn conv2d_batch_norm2d_equals_the_ops_in_turn() {
    // (n, c_in, h, w, c_out, k, stride, padding)
    let cases =
        [(2, 3, 7, 6, 4, 3, 1, 1), (3, 2, 9, 9, 5, 3, 2, 1), (2, 32, 3, 3, 3, 3, 1, 1), (2, 4, 5, 5, 3, 1, 1, 0)];
    for (i, &(n, ci, h, w, co, k, s, p)) in cases.iter().enumerate() {
        let mut r = rng(400 + i as u64);
        let x = randn(&mut r, &[n, ci, h, w], 1.0);
        let wt = randn(&mut r, &[co, ci, k, k], 0.5);
        let (_, gamma, beta, rm, rv) = bn_inputs(i, 2, co, 2, 2);
        let conv = Conv2dParams { stride: s, padding: p, dilation: 1 };
        let bn = BatchNormParams::default();
        for relu in [false, true] {
            for (inputs, tol) in [
                (vec![x.clone(), wt.clone(), gamma.clone(), beta.clone()], 1e-10),
                (vec![f32(&x), f32(&wt), f32(&gamma), f32(&beta)], 1e-4),
            ] {
                let (rm_t, rv_t) = (rm.to_dtype(inputs[0].dtype()).unwrap(), rv.to_dtype(inputs[0].dtype()).unwrap());
                let fused = |t: &[Tensor]| {
                    Ok(ops::conv2d_batch_norm2d(&t[0], &t[1], &t[2], &t[3], &rm_t, &rv_t, conv, bn, relu)?.0)
                };
                let apart = |t: &[Tensor]| {
                    let z = ops::conv2d(&t[0], &t[1], conv)?;
                    let f = if relu { ops::batch_norm2d_relu } else { ops::batch_norm2d };
                    Ok(f(&z, &t[2], &t[3], &rm_t, &rv_t, bn)?.0)
                };
                compare(fused, apart, &inputs, tol, i as u64);
                let (_, s1) = ops::conv2d_batch_norm2d(
                    &inputs[0], &inputs[1], &inputs[2], &inputs[3], &rm_t, &rv_t, conv, bn, relu,
                )
                .unwrap();
                let z = ops::conv2d(&inputs[0], &inputs[1], conv).unwrap();
                let (_, s2) = ops::batch_norm2d(&z, &inputs[2], &inputs[3], &rm_t, &rv_t, bn).unwrap();
                let ((m1, v1), (m2, v2)) = (s1.unwrap(), s2.unwrap());
                assert!(common::max_rel_diff(&m1, &m2) < tol && common::max_rel_diff(&v1, &v2) < tol);
                if tol < 1e-6 {
                    check_finite_differences(fused, &inputs, 20, i as u64);
                }
            }
        }
    }
}

#[test]
fn batch_norm2d_running_statistics_follow_pytorch() {
    // One channel, values 1..=4 over (n, h, w): mean 2.5, biased var 1.25, unbiased var 5/3.
    let x = Tensor::from_vec(vec![1f64, 2., 3., 4.], (2, 1, 1, 2), &Device::Cpu).unwrap();
    let one = Tensor::ones(1, candle_core::DType::F64, &Device::Cpu).unwrap();
    let zero = Tensor::zeros(1, candle_core::DType::F64, &Device::Cpu).unwrap();
    let p = BatchNormParams { momentum: 0.1, eps: 1e-5, training: true };
    let (y, stats) = ops::batch_norm2d(&x, &one, &zero, &zero, &one, p).unwrap();
    let (m, v) = stats.unwrap();
    assert!((m.to_vec1::<f64>().unwrap()[0] - 0.25).abs() < 1e-12);
    assert!((v.to_vec1::<f64>().unwrap()[0] - (0.9 + 0.1 * 5.0 / 3.0)).abs() < 1e-12);
    let y: Vec<f64> = y.flatten_all().unwrap().to_vec1().unwrap();
    let expect = (1.0 - 2.5) / (1.25f64 + 1e-5).sqrt();
    assert!((y[0] - expect).abs() < 1e-12);
}

/// (n, c, h, w, kernel, stride, padding)
const POOL_CASES: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
    (2, 3, 9, 9, 3, 2, 1),
    (2, 2, 8, 7, 2, 2, 0),
    (1, 3, 7, 10, 3, 1, 1),
    (2, 2, 11, 9, 5, 3, 2),
    (1, 2, 6, 6, 1, 2, 0),
];

#[test]
fn max_pool2d_gradients_match_finite_differences() {
    for (i, &(n, c, h, w, k, s, p)) in POOL_CASES.iter().enumerate() {
        let mut r = rng(600 + i as u64);
        let x = randn(&mut r, &[n, c, h, w], 1.0);
        let params = MaxPool2dParams { kernel: k, stride: s, padding: p };
        check_finite_differences(|t| ops::max_pool2d(&t[0], params), &[x.clone()], 30, i as u64);
        check_finite_differences(|t| reference::max_pool2d(&t[0], params), &[x], 30, i as u64);
    }
}

#[test]
fn max_pool2d_matches_reference_and_candle() {
    for (i, &(n, c, h, w, k, s, p)) in POOL_CASES.iter().enumerate() {
        let mut r = rng(700 + i as u64);
        let x = randn(&mut r, &[n, c, h, w], 1.0);
        let params = MaxPool2dParams { kernel: k, stride: s, padding: p };
        let ours = |t: &[Tensor]| ops::max_pool2d(&t[0], params);
        compare(ours, |t: &[Tensor]| reference::max_pool2d(&t[0], params), &[x.clone()], 1e-12, i as u64);
        compare(ours, |t: &[Tensor]| reference::max_pool2d(&t[0], params), &[f32(&x)], 1e-6, i as u64);
        // candle's own backward is only right when the windows tile the image exactly.
        if k == s && p == 0 && h % k == 0 && w % k == 0 {
            compare(ours, |t: &[Tensor]| t[0].max_pool2d_with_stride(k, s), &[x], 1e-12, i as u64);
        }
    }
}

#[test]
fn global_avg_pool_gradients_and_reference() {
    let mut r = rng(800);
    let x = randn(&mut r, &[3, 4, 5, 7], 1.0);
    check_finite_differences(|t| ops::global_avg_pool(&t[0]), &[x.clone()], 30, 1);
    let ours = |t: &[Tensor]| ops::global_avg_pool(&t[0]);
    compare(ours, |t: &[Tensor]| reference::global_avg_pool(&t[0]), &[x.clone()], 1e-12, 2);
    compare(ours, |t: &[Tensor]| reference::global_avg_pool(&t[0]), &[f32(&x)], 1e-6, 3);
}

#[test]
fn softmax_and_log_softmax_gradients() {
    for (i, dims) in [vec![5usize, 7], vec![2, 3, 10], vec![1]].into_iter().enumerate() {
        let mut r = rng(900 + i as u64);
        let x = randn(&mut r, &dims, 3.0);
        check_finite_differences(|t| ops::softmax_last_dim(&t[0]), &[x.clone()], 30, i as u64);
        check_finite_differences(|t| ops::log_softmax(&t[0]), &[x.clone()], 30, i as u64);
        let ours = |t: &[Tensor]| ops::softmax_last_dim(&t[0]);
        compare(ours, |t: &[Tensor]| reference::softmax_last_dim(&t[0]), &[x.clone()], 1e-12, 1);
        compare(ours, |t: &[Tensor]| reference::softmax_last_dim(&t[0]), &[f32(&x)], 1e-5, 1);
        let ours = |t: &[Tensor]| ops::log_softmax(&t[0]);
        compare(ours, |t: &[Tensor]| reference::log_softmax(&t[0]), &[x.clone()], 1e-12, 1);
        compare(ours, |t: &[Tensor]| reference::log_softmax(&t[0]), &[f32(&x)], 1e-5, 1);
    }
    // Large logits stay finite.
    let x = Tensor::from_vec(vec![1000f32, 0., -1000.], 3, &Device::Cpu).unwrap();
    let y: Vec<f32> = ops::log_softmax(&x).unwrap().to_vec1().unwrap();
    assert!(y.iter().all(|v| v.is_finite()) && y[0].abs() < 1e-6);
}

#[test]
fn l2_normalize_gradients_unit_rows_and_zero_rows() {
    let mut r = rng(950);
    let x = randn(&mut r, &[4, 6], 2.0);
    check_finite_differences(|t| ops::l2_normalize(&t[0]), &[x.clone()], 30, 7);
    let norms: Vec<f64> = ops::l2_normalize(&x).unwrap().sqr().unwrap().sum(1).unwrap().to_vec1().unwrap();
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-12), "{norms:?}");
    // A zero row stays zero (the norm is clamped at 1e-12), and only matrices are accepted.
    let zero = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    let y: Vec<Vec<f32>> = ops::l2_normalize(&zero).unwrap().to_vec2().unwrap();
    assert!(y.iter().flatten().all(|v| *v == 0.0));
    assert!(ops::l2_normalize(&Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap()).is_err());
}

#[test]
fn layer_norm_gradients() {
    for (i, dims) in [vec![4usize, 9], vec![2, 3, 16]].into_iter().enumerate() {
        let mut r = rng(1000 + i as u64);
        let d = *dims.last().unwrap();
        let x = (randn(&mut r, &dims, 2.0) + 1.0).unwrap();
        let wt = (randn(&mut r, &[d], 0.5) + 1.0).unwrap();
        let b = randn(&mut r, &[d], 0.5);
        check_finite_differences(
            |t| ops::layer_norm(&t[0], &t[1], Some(&t[2]), 1e-5),
            &[x.clone(), wt.clone(), b.clone()],
            20,
            1,
        );
        check_finite_differences(|t| ops::layer_norm(&t[0], &t[1], None, 1e-5), &[x.clone(), wt.clone()], 20, 2);
        let ours = |t: &[Tensor]| ops::layer_norm(&t[0], &t[1], Some(&t[2]), 1e-5);
        let theirs = |t: &[Tensor]| reference::layer_norm(&t[0], &t[1], Some(&t[2]), 1e-5);
        compare(ours, theirs, &[x.clone(), wt.clone(), b.clone()], 1e-10, 3);
        compare(ours, theirs, &[f32(&x), f32(&wt), f32(&b)], 1e-4, 3);
    }
}

#[test]
fn upsample_gradients_and_candle_forward() {
    let mut r = rng(1100);
    let x = randn(&mut r, &[2, 3, 4, 5], 1.0);
    for (oh, ow) in [(8, 10), (7, 9), (3, 4), (12, 5)] {
        check_finite_differences(|t| ops::upsample_nearest2d(&t[0], oh, ow), &[x.clone()], 30, 1);
        for ac in [false, true] {
            check_finite_differences(|t| ops::upsample_bilinear2d(&t[0], oh, ow, ac), &[x.clone()], 30, 2);
            let ours = ops::upsample_bilinear2d(&x, oh, ow, ac).unwrap();
            let theirs = x.upsample_bilinear2d(oh, ow, ac).unwrap();
            assert!(common::max_rel_diff(&ours, &theirs) < 1e-6, "bilinear {oh}x{ow} align_corners={ac}");
        }
        let ours = ops::upsample_nearest2d(&x, oh, ow).unwrap();
        let theirs = x.upsample_nearest2d(oh, ow).unwrap();
        assert!(common::max_rel_diff(&ours, &theirs) < 1e-12, "nearest {oh}x{ow}");
    }
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 3, 4, 4), candle_core::DType::F32, &dev).unwrap();
    let w = Tensor::zeros((2, 4, 3, 3), candle_core::DType::F32, &dev).unwrap();
    assert!(ops::conv2d(&x, &w, Conv2dParams::default()).is_err());
    let w = Tensor::zeros((2, 3, 7, 7), candle_core::DType::F32, &dev).unwrap();
    assert!(ops::conv2d(&x, &w, Conv2dParams::default()).is_err());
    assert!(ops::conv2d(&x, &w, Conv2dParams { stride: 0, padding: 3, dilation: 1 }).is_err());
    assert!(ops::max_pool2d(&x, MaxPool2dParams { kernel: 3, stride: 2, padding: 2 }).is_err());
    let c = Tensor::zeros(3, candle_core::DType::F32, &dev).unwrap();
    let c4 = Tensor::zeros(4, candle_core::DType::F32, &dev).unwrap();
    assert!(ops::batch_norm2d(&x, &c4, &c, &c, &c, BatchNormParams::default()).is_err());
    assert!(ops::global_avg_pool(&c).is_err());
}

#[test]
fn max_pool2d_kernel_sends_tied_gradients_to_the_first_maximum() {
    // All-equal input: PyTorch's rule (and this crate's CPU kernel) gives each window's gradient to its
    // first element; the reference shares it between all tied elements. This also shows that the
    // public op runs the custom kernel on the CPU.
    let x = candle_core::Var::from_tensor(&Tensor::ones((1, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap())
        .unwrap();
    let p = MaxPool2dParams { kernel: 2, stride: 2, padding: 0 };
    let g = ops::max_pool2d(&x, p).unwrap().sum_all().unwrap().backward().unwrap();
    let g: Vec<f32> = g.get(&x).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let want = [1., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.];
    assert_eq!(g, want);
}

/// PyTorch's max pooling, written as its scalar loop: each window scanned in row-major order, an element
/// taken when strictly greater than the best so far or NaN. Returns the output values and the gradient
/// of `sum(y · dy)` with `dy[o] = o + 1`.
fn naive_max_pool(x: &[f32], (n, c, h, w): (usize, usize, usize, usize), p: MaxPool2dParams) -> (Vec<f32>, Vec<f32>) {
    let (oh, ow) = p.out_size(h, w).unwrap();
    let (mut y, mut dx) = (Vec::new(), vec![0f32; x.len()]);
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let (y0, x0) =
                    ((oy * p.stride) as isize - p.padding as isize, (ox * p.stride) as isize - p.padding as isize);
                let (mut best, mut at) = (f32::NEG_INFINITY, None);
                for iy in y0.max(0)..(y0 + p.kernel as isize).min(h as isize) {
                    for ix in x0.max(0)..(x0 + p.kernel as isize).min(w as isize) {
                        let i = plane * h * w + iy as usize * w + ix as usize;
                        if at.is_none() {
                            at = Some(i);
                        }
                        if x[i] > best || x[i].is_nan() {
                            (best, at) = (x[i], Some(i));
                        }
                    }
                }
                y.push(best);
                dx[at.unwrap()] += (y.len()) as f32;
            }
        }
    }
    (y, dx)
}

#[test]
fn max_pool2d_kernel_picks_pytorchs_element_among_ties_and_nans() {
    // Values from {0, 1, 2} (ties in every window, across rows and columns) with a few NaNs and −∞.
    for (i, &(n, c, h, w, k, s, p)) in POOL_CASES.iter().enumerate() {
        let mut state = 0x9e37_79b9_u32.wrapping_add(i as u32);
        let x: Vec<f32> = (0..n * c * h * w)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                match state >> 26 {
                    0 => f32::NAN,
                    1 => f32::NEG_INFINITY,
                    r => (r % 3) as f32,
                }
            })
            .collect();
        let params = MaxPool2dParams { kernel: k, stride: s, padding: p };
        let (want_y, want_dx) = naive_max_pool(&x, (n, c, h, w), params);
        let xv = candle_core::Var::from_vec(x, (n, c, h, w), &Device::Cpu).unwrap();
        let y = ops::max_pool2d(&xv, params).unwrap();
        let dy = Tensor::arange(1f32, (y.elem_count() + 1) as f32, &Device::Cpu).unwrap().reshape(y.dims()).unwrap();
        let g = (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
        let got_y: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let same = |a: f32, b: f32| a == b || (a.is_nan() && b.is_nan());
        assert!(got_y.iter().zip(&want_y).all(|(a, b)| same(*a, *b)), "values differ, case {i}");
        let got_dx: Vec<f32> = g.get(&xv).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got_dx, want_dx, "gradient routed to another element, case {i}");
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    // 9 small images: several groups per job; 2 large ones: fewer groups than threads, so gemm itself
    // runs in parallel.
    for dims in [[9, 8, 12, 11], [2, 8, 17, 16]] {
        same_with_any_thread_count(&dims);
    }
}

fn same_with_any_thread_count(dims: &[usize]) {
    let mut r = rng(1200);
    let x = f32(&randn(&mut r, dims, 1.0));
    let w = f32(&randn(&mut r, &[16, 8, 3, 3], 0.2));
    let gamma = f32(&randn(&mut r, &[16], 1.0));
    let beta = f32(&randn(&mut r, &[16], 1.0));
    let run = |threads: usize| -> Vec<Vec<f32>> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let xv = candle_core::Var::from_tensor(&x).unwrap();
            let wv = candle_core::Var::from_tensor(&w).unwrap();
            let gv = candle_core::Var::from_tensor(&gamma).unwrap();
            let bv = candle_core::Var::from_tensor(&beta).unwrap();
            let zeros = Tensor::zeros(16, candle_core::DType::F32, &Device::Cpu).unwrap();
            let ones = Tensor::ones(16, candle_core::DType::F32, &Device::Cpu).unwrap();
            let y = ops::conv2d(&xv, &wv, Conv2dParams { stride: 1, padding: 1, dilation: 1 }).unwrap();
            let (y, _) = ops::batch_norm2d(&y, &gv, &bv, &zeros, &ones, BatchNormParams::default()).unwrap();
            let y = ops::max_pool2d(&y, MaxPool2dParams { kernel: 3, stride: 2, padding: 1 }).unwrap();
            let loss = ops::global_avg_pool(&y).unwrap().sqr().unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            [xv.as_tensor(), wv.as_tensor(), gv.as_tensor(), bv.as_tensor()]
                .iter()
                .map(|t| grads.get(t).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect()
        })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(4));
}

#[test]
fn relu_and_add_relu_gradients() {
    let mut r = rng(1300);
    // Values away from 0, where ReLU is differentiable.
    let a = randn(&mut r, &[2, 3, 5, 7], 1.0);
    let a = (a.sign().unwrap() * (a.abs().unwrap() + 0.01).unwrap()).unwrap();
    let b = randn(&mut r, &[2, 3, 5, 7], 0.001);
    check_finite_differences(|t| ops::relu(&t[0]), &[a.clone()], 40, 1);
    check_finite_differences(|t| ops::add_relu(&t[0], &t[1]), &[a.clone(), b.clone()], 40, 2);
    compare(|t: &[Tensor]| ops::relu(&t[0]), |t: &[Tensor]| reference::relu(&t[0]), &[a.clone()], 1e-12, 3);
    let ours = |t: &[Tensor]| ops::add_relu(&t[0], &t[1]);
    let theirs = |t: &[Tensor]| reference::add_relu(&t[0], &t[1]);
    compare(ours, theirs, &[a.clone(), b.clone()], 1e-12, 4);
    compare(ours, theirs, &[f32(&a), f32(&b)], 1e-6, 5);
    assert!(ops::add_relu(&a, &b.narrow(3, 0, 6).unwrap()).is_err());
}

#[test]
fn batch_norm2d_relu_matches_its_parts() {
    for (i, &(n, c, h, w)) in BN_CASES.iter().enumerate() {
        let (x, wt, b, rm, rv) = bn_inputs(i, n, c, h, w);
        for training in [true, false] {
            let p = BatchNormParams { momentum: 0.1, eps: 1e-5, training };
            let fused = |t: &[Tensor]| Ok(ops::batch_norm2d_relu(&t[0], &t[1], &t[2], &rm, &rv, p)?.0);
            check_finite_differences(fused, &[x.clone(), wt.clone(), b.clone()], 20, i as u64);
            let parts = |t: &[Tensor]| reference::relu(&reference::batch_norm2d(&t[0], &t[1], &t[2], &rm, &rv, p)?.0);
            compare(fused, parts, &[x.clone(), wt.clone(), b.clone()], 1e-10, i as u64);
            let (_, s1) = ops::batch_norm2d_relu(&x, &wt, &b, &rm, &rv, p).unwrap();
            let (_, s2) = reference::batch_norm2d(&x, &wt, &b, &rm, &rv, p).unwrap();
            if let (Some((m1, v1)), Some((m2, v2))) = (s1, s2) {
                assert!(common::max_rel_diff(&m1, &m2) < 1e-12 && common::max_rel_diff(&v1, &v2) < 1e-12);
            }
        }
    }
}
