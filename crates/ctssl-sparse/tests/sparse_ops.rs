//! Each custom op of the sparse path: gradients against central finite differences in f64, and the
//! forward values against a dense computation.

mod common;
use common::{max_abs_diff, seeded};

use candle_core::{DType, Device, Tensor, Var};
use ctssl_kernels::ops::{self as k, Conv2dParams, MaxPool2dParams};
use ctssl_sparse::sparse_bn::SparseBatchNorm;
use ctssl_sparse::sparse_conv::sparse_conv2d;
use ctssl_sparse::sparse_pool::sparse_max_pool2d;
use ctssl_sparse::sparse_scatter::{gather_visible, scatter_visible, scatter_visible_fill};
use ctssl_sparse::{Mask, MaskGenerator, SparseLayout};

fn randn(dims: &[usize], seed: u64) -> Var {
    Var::from_tensor(&seeded(dims, seed)).unwrap()
}

fn dev() -> Device {
    Device::Cpu
}

/// Checks d f / d v for every variable at up to 12 indices against central differences.
fn check_gradients(vars: &[(&str, &Var)], f: &dyn Fn() -> Tensor) {
    let grads = f().backward().unwrap();
    for (name, var) in vars {
        let g = grads.get(var).unwrap_or_else(|| panic!("no gradient for {name}"));
        let g: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
        let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let n = base.len();
        let step = (n / 12).max(1);
        for idx in (0..n).step_by(step).chain([n - 1]) {
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[idx] += delta;
                var.set(&Tensor::from_vec(v, var.shape(), &dev()).unwrap()).unwrap();
                let o = f().to_scalar::<f64>().unwrap();
                var.set(&Tensor::from_vec(base.clone(), var.shape(), &dev()).unwrap()).unwrap();
                o
            };
            let eps = 1e-5;
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
            let tol = 1e-6 * (1.0 + g[idx].abs());
            assert!((numeric - g[idx]).abs() < tol, "{name}[{idx}]: numeric {numeric} vs analytic {}", g[idx]);
        }
    }
}

fn mask(batch: usize, h: usize, w: usize, patch: usize, seed: u64) -> Mask {
    MaskGenerator::new(patch, 0.5).unwrap().generate(batch, h, w, seed, 0).unwrap()
}

#[test]
fn sparse_conv_equals_masked_dense_conv_and_has_exact_gradients() {
    // 2 images of 8×12 with 4-pixel cells; stride-1 and stride-2 windows of sizes 1, 3 and 7.
    let m = mask(2, 8, 12, 4, 3);
    let layout = SparseLayout::new(&m).unwrap();
    let l1 = layout.at_stride(1).unwrap().clone();
    let vis1 = m.at_stride(1, DType::F64, &dev()).unwrap();
    let x_dense = randn(&[2, 3, 8, 12], 1);
    for &(kernel, stride, padding) in &[(3, 1, 1), (3, 2, 1), (1, 2, 0), (1, 1, 0), (7, 2, 3)] {
        let (table, to) = layout.table(&l1, kernel, stride, padding).unwrap();
        let w = randn(&[5, 3, kernel, kernel], 7 + kernel as u64);
        // Forward against the dense convolution of the masked input, masked at the output.
        let x_rows = gather_visible(x_dense.as_tensor(), &l1).unwrap();
        let y = scatter_visible(&sparse_conv2d(&x_rows, w.as_tensor(), &table).unwrap(), &to).unwrap();
        let p = Conv2dParams { stride, padding, dilation: 1 };
        let dense = k::conv2d(&x_dense.as_tensor().broadcast_mul(&vis1).unwrap(), w.as_tensor(), p).unwrap();
        let vis_out = m.at_stride(to.stride, DType::F64, &dev()).unwrap();
        let dense = dense.broadcast_mul(&vis_out).unwrap();
        assert!(max_abs_diff(&y, &dense) < 1e-12, "k{kernel} s{stride}");
        // Gradients in x (rows) and w.
        let xr = Var::from_tensor(&x_rows).unwrap();
        let r = randn(&[to.rows(), 5], 99);
        check_gradients(&[("x", &xr), ("w", &w)], &|| {
            (sparse_conv2d(xr.as_tensor(), w.as_tensor(), &table).unwrap() * r.as_tensor()).unwrap().sum_all().unwrap()
        });
    }
}

#[test]
fn sparse_batch_norm_gradients_train_and_eval_with_and_without_relu() {
    let x = randn(&[37, 4], 5);
    let w = randn(&[4], 6);
    let b = randn(&[4], 7);
    let rm = Var::from_tensor(&Tensor::new(&[0.1f64, -0.2, 0.3, 0.0], &dev()).unwrap()).unwrap();
    let rv = Var::from_tensor(&Tensor::new(&[1.5f64, 0.5, 2.0, 1.0], &dev()).unwrap()).unwrap();
    let r = randn(&[37, 4], 8);
    for train in [true, false] {
        for relu in [false, true] {
            let f = || {
                let bn = SparseBatchNorm {
                    weight: w.as_tensor(),
                    bias: b.as_tensor(),
                    running_mean: &rm,
                    running_var: &rv,
                    momentum: 0.0,
                    eps: 1e-5,
                };
                (bn.forward(x.as_tensor(), relu, train).unwrap() * r.as_tensor()).unwrap().sum_all().unwrap()
            };
            check_gradients(&[("x", &x), ("weight", &w), ("bias", &b)], &f);
        }
    }
    // Training statistics: mean 0 and variance 1 per channel before the affine map; running update.
    let bn = SparseBatchNorm {
        weight: &Tensor::ones(4, DType::F64, &dev()).unwrap(),
        bias: &Tensor::zeros(4, DType::F64, &dev()).unwrap(),
        running_mean: &rm,
        running_var: &rv,
        momentum: 0.1,
        eps: 0.0,
    };
    let before: Vec<f64> = rm.as_tensor().to_vec1().unwrap();
    let y = bn.forward(x.as_tensor(), false, true).unwrap();
    let mean: Vec<f64> = y.mean(0).unwrap().to_vec1().unwrap();
    let var: Vec<f64> = y.sqr().unwrap().mean(0).unwrap().to_vec1().unwrap();
    for c in 0..4 {
        assert!(mean[c].abs() < 1e-12 && (var[c] - 1.0).abs() < 1e-9);
    }
    let batch_mean: Vec<f64> = x.as_tensor().mean(0).unwrap().to_vec1().unwrap();
    let after: Vec<f64> = rm.as_tensor().to_vec1().unwrap();
    for c in 0..4 {
        assert!((after[c] - (0.9 * before[c] + 0.1 * batch_mean[c])).abs() < 1e-12);
    }
}

#[test]
fn sparse_max_pool_equals_masked_dense_pool_and_has_exact_gradients() {
    let m = mask(2, 8, 12, 4, 11);
    let layout = SparseLayout::new(&m).unwrap();
    let l1 = layout.at_stride(1).unwrap().clone();
    let (table, to) = layout.table(&l1, 3, 2, 1).unwrap();
    // ReLU-like (non-negative) values, as after the stem; masked positions are zero in the dense map.
    let x_dense = randn(&[2, 3, 8, 12], 2).as_tensor().abs().unwrap();
    let vis1 = m.at_stride(1, DType::F64, &dev()).unwrap();
    let rows = gather_visible(&x_dense, &l1).unwrap();
    let y = scatter_visible(&sparse_max_pool2d(&rows, &table).unwrap(), &to).unwrap();
    let dense =
        k::max_pool2d(&x_dense.broadcast_mul(&vis1).unwrap(), MaxPool2dParams { kernel: 3, stride: 2, padding: 1 })
            .unwrap()
            .broadcast_mul(&m.at_stride(2, DType::F64, &dev()).unwrap())
            .unwrap();
    assert_eq!(max_abs_diff(&y, &dense), 0.0);
    // Signed values too (masked zeros then win over negative visible values).
    let xr = randn(&[l1.rows(), 3], 4);
    let r = randn(&[to.rows(), 3], 5);
    check_gradients(&[("x", &xr)], &|| {
        (sparse_max_pool2d(xr.as_tensor(), &table).unwrap() * r.as_tensor()).unwrap().sum_all().unwrap()
    });
}

#[test]
fn gather_scatter_and_fill_are_exact_with_exact_gradients() {
    let m = mask(3, 8, 4, 4, 2);
    let layout = SparseLayout::new(&m).unwrap();
    let l2 = layout.at_stride(2).unwrap().clone();
    let dense = randn(&[3, 2, 4, 2], 1);
    let rows = gather_visible(dense.as_tensor(), &l2).unwrap();
    let back = scatter_visible(&rows, &l2).unwrap();
    let vis = m.at_stride(2, DType::F64, &dev()).unwrap();
    assert_eq!(max_abs_diff(&back, &dense.as_tensor().broadcast_mul(&vis).unwrap()), 0.0);
    let token = randn(&[1, 2, 1, 1], 3);
    let filled = scatter_visible_fill(&rows, token.as_tensor(), &l2).unwrap();
    let want = (dense.as_tensor().broadcast_mul(&vis).unwrap()
        + (1.0 - &vis).unwrap().broadcast_mul(token.as_tensor()).unwrap())
    .unwrap();
    assert_eq!(max_abs_diff(&filled, &want), 0.0);
    let r = randn(&[3, 2, 4, 2], 4);
    let rr = Var::from_tensor(&rows).unwrap();
    check_gradients(&[("dense", &dense)], &|| {
        let g = gather_visible(dense.as_tensor(), &l2).unwrap();
        (g.sqr().unwrap() * randn(&[l2.rows(), 2], 6).as_tensor()).unwrap().sum_all().unwrap()
    });
    check_gradients(&[("rows", &rr), ("token", &token)], &|| {
        let d = scatter_visible_fill(rr.as_tensor(), token.as_tensor(), &l2).unwrap();
        (d.sqr().unwrap() * r.as_tensor()).unwrap().sum_all().unwrap()
    });
    check_gradients(&[("rows", &rr)], &|| {
        (scatter_visible(rr.as_tensor(), &l2).unwrap() * r.as_tensor()).unwrap().sum_all().unwrap()
    });
}
