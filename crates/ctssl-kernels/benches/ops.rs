//! Criterion benches: this crate's CPU kernels against candle's reference ops (forward + backward) at
//! ResNet shapes, plus a large matrix product for the machine's GEMM rate. Throughputs are reported as
//! elements/s where one element is one floating-point operation, so `Gelem/s` reads as GFLOP/s.
//!
//! `cargo bench -p ctssl-kernels --bench ops` (mimalloc);
//! `cargo bench -p ctssl-kernels --bench ops --features system-alloc` (the system allocator).

#![allow(clippy::type_complexity)]

use candle_core::{DType, Device, Result, Tensor, Var};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ctssl_kernels::ops::{self, reference, BatchNormParams, Conv2dParams, MaxPool2dParams};
use std::time::Duration;

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn var(dims: &[usize], scale: f64, seed: u64) -> Var {
    // A cheap deterministic fill: values in [−scale, scale].
    let n: usize = dims.iter().product();
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (((s >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0) as f32 * scale as f32
        })
        .collect();
    Var::from_tensor(&Tensor::from_vec(v, dims, &Device::Cpu).unwrap()).unwrap()
}

type ConvFn = fn(&Tensor, &Tensor, Conv2dParams) -> Result<Tensor>;

fn conv_step(f: ConvFn, x: &Var, w: &Var, p: Conv2dParams) {
    let y = f(x.as_tensor(), w.as_tensor(), p).unwrap();
    let grads = y.backward().unwrap();
    assert!(grads.get(w).is_some());
}

fn bench_conv(c: &mut Criterion) {
    // (name, batch, c_in, size, c_out, kernel, stride, padding)
    let shapes: &[(&str, usize, usize, usize, usize, usize, usize, usize)] = &[
        ("3x3 64->64 32x32", 32, 64, 32, 64, 3, 1, 1),
        ("3x3 128->128 16x16", 32, 128, 16, 128, 3, 1, 1),
        ("3x3 256->256 8x8", 32, 256, 8, 256, 3, 1, 1),
        ("3x3 512->512 4x4", 32, 512, 4, 512, 3, 1, 1),
        ("3x3 s2 64->128 32x32", 32, 64, 32, 128, 3, 2, 1),
        ("1x1 s2 64->128 32x32", 32, 64, 32, 128, 1, 2, 0),
        ("7x7 s2 1->64 64x64 stem", 32, 1, 64, 64, 7, 2, 3),
    ];
    let mut group = c.benchmark_group("conv2d fwd+bwd");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for &(name, n, ci, s, co, k, st, pd) in shapes {
        let p = Conv2dParams { stride: st, padding: pd, dilation: 1 };
        let x = var(&[n, ci, s, s], 1.0, 1);
        let w = var(&[co, ci, k, k], 0.1, 2);
        let g = ctssl_kernels::params::ConvGeometry::new(x.dims(), w.dims(), p).unwrap();
        group.throughput(Throughput::Elements((3.0 * g.flops()) as u64));
        group.bench_with_input(BenchmarkId::new("ctssl", name), &p, |b, &p| {
            b.iter(|| conv_step(ops::conv2d, &x, &w, p))
        });
        group.bench_with_input(BenchmarkId::new("candle", name), &p, |b, &p| {
            b.iter(|| conv_step(reference::conv2d, &x, &w, p))
        });
    }
    group.finish();
}

fn bench_conv_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("conv2d fwd");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let p = Conv2dParams { stride: 1, padding: 1, dilation: 1 };
    for &(name, ci, s) in &[("3x3 64 32x32", 64usize, 32usize), ("3x3 256 8x8", 256, 8)] {
        let x = var(&[32, ci, s, s], 1.0, 1).as_tensor().detach();
        let w = var(&[ci, ci, 3, 3], 0.1, 2).as_tensor().detach();
        let g = ctssl_kernels::params::ConvGeometry::new(x.dims(), w.dims(), p).unwrap();
        group.throughput(Throughput::Elements(g.flops() as u64));
        group.bench_function(BenchmarkId::new("ctssl", name), |b| b.iter(|| ops::conv2d(&x, &w, p).unwrap()));
        group.bench_function(BenchmarkId::new("candle", name), |b| b.iter(|| reference::conv2d(&x, &w, p).unwrap()));
    }
    group.finish();
}

fn bench_matmul(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let n = 1024;
    let a = var(&[n, n], 1.0, 3).as_tensor().detach();
    let b = var(&[n, n], 1.0, 4).as_tensor().detach();
    group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
    group.bench_function("candle 1024x1024x1024", |bch| bch.iter(|| a.matmul(&b).unwrap()));
    group.finish();
}

fn bench_batch_norm(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_norm2d train fwd+bwd");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let x = var(&[32, 64, 32, 32], 1.0, 5);
    let w = var(&[64], 1.0, 6);
    let b = var(&[64], 1.0, 7);
    let rm = Tensor::zeros(64, DType::F32, &Device::Cpu).unwrap();
    let rv = Tensor::ones(64, DType::F32, &Device::Cpu).unwrap();
    let p = BatchNormParams::default();
    group.bench_function("ctssl 32x64x32x32", |bch| {
        bch.iter(|| {
            let (y, _) = ops::batch_norm2d(&x, &w, &b, &rm, &rv, p).unwrap();
            y.backward().unwrap()
        })
    });
    group.bench_function("candle 32x64x32x32", |bch| {
        bch.iter(|| {
            let (y, _) = reference::batch_norm2d(&x, &w, &b, &rm, &rv, p).unwrap();
            y.backward().unwrap()
        })
    });
    group.finish();
}

fn bench_max_pool(c: &mut Criterion) {
    let mut group = c.benchmark_group("max_pool2d 3x3 s2 p1 fwd+bwd");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let x = var(&[32, 64, 32, 32], 1.0, 8);
    let p = MaxPool2dParams { kernel: 3, stride: 2, padding: 1 };
    group.bench_function("ctssl 32x64x32x32", |bch| bch.iter(|| ops::max_pool2d(&x, p).unwrap().backward().unwrap()));
    group.bench_function("candle primitives 32x64x32x32", |bch| {
        bch.iter(|| reference::max_pool2d(&x, p).unwrap().backward().unwrap())
    });
    group.finish();
}

fn bench_conv_parts(c: &mut Criterion) {
    use ctssl_kernels::cpu::conv as k;
    let mut group = c.benchmark_group("conv2d kernels");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    let p = Conv2dParams { stride: 1, padding: 1, dilation: 1 };
    // The 3×3 stride-1 convolutions of ResNet-18's four stages at 128 px input, batch 32.
    for &(name, ci, s) in &[
        ("3x3 64 32x32", 64usize, 32usize),
        ("3x3 128 16x16", 128, 16),
        ("3x3 256 8x8", 256, 8),
        ("3x3 512 4x4", 512, 4),
    ] {
        let x: Vec<f32> = var(&[32, ci, s, s], 1.0, 1).as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let w: Vec<f32> = var(&[ci, ci, 3, 3], 0.1, 2).as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let g = ctssl_kernels::params::ConvGeometry::new(&[32, ci, s, s], &[ci, ci, 3, 3], p).unwrap();
        group.throughput(Throughput::Elements(g.flops() as u64));
        group.bench_function(BenchmarkId::new("forward", name), |b| b.iter(|| k::forward(&g, &x, &w).unwrap()));
        group.bench_function(BenchmarkId::new("backward_input", name), |b| {
            b.iter(|| k::backward_input(&g, &x, &w).unwrap())
        });
        group.bench_function(BenchmarkId::new("backward_weight", name), |b| {
            b.iter(|| k::backward_weight(&g, &x, &x).unwrap())
        });
    }
    group.finish();
}

/// The ops of one implementation, for a whole residual block.
struct Impl {
    conv: ConvFn,
    bn: BnFn,
    bn_relu: BnFn,
    add_relu: fn(&Tensor, &Tensor) -> Result<Tensor>,
}

type BnFn =
    fn(&Tensor, &Tensor, &Tensor, &Tensor, &Tensor, BatchNormParams) -> Result<(Tensor, Option<(Tensor, Tensor)>)>;

fn reference_bn_relu(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    rm: &Tensor,
    rv: &Tensor,
    p: BatchNormParams,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    let (y, s) = reference::batch_norm2d(x, w, b, rm, rv, p)?;
    Ok((reference::relu(&y)?, s))
}

fn bench_block(c: &mut Criterion) {
    let mut group = c.benchmark_group("basic block fwd+bwd");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let x = var(&[32, 64, 32, 32], 1.0, 9);
    let w1 = var(&[64, 64, 3, 3], 0.05, 10);
    let w2 = var(&[64, 64, 3, 3], 0.05, 11);
    let gamma = var(&[64], 1.0, 12);
    let beta = var(&[64], 0.1, 13);
    let rm = Tensor::zeros(64, DType::F32, &Device::Cpu).unwrap();
    let rv = Tensor::ones(64, DType::F32, &Device::Cpu).unwrap();
    let p = Conv2dParams { stride: 1, padding: 1, dilation: 1 };
    let bnp = BatchNormParams::default();
    let ours =
        Impl { conv: ops::conv2d, bn: ops::batch_norm2d, bn_relu: ops::batch_norm2d_relu, add_relu: ops::add_relu };
    let theirs = Impl {
        conv: reference::conv2d,
        bn: reference::batch_norm2d,
        bn_relu: reference_bn_relu,
        add_relu: reference::add_relu,
    };
    let g = ctssl_kernels::params::ConvGeometry::new(x.dims(), w1.dims(), p).unwrap();
    group.throughput(Throughput::Elements((6.0 * g.flops()) as u64));
    for (name, f) in [("ctssl", &ours), ("candle", &theirs)] {
        group.bench_function(BenchmarkId::new(name, "32x64x32x32"), |b| {
            b.iter(|| {
                let h = (f.conv)(&x, &w1, p).unwrap();
                let h = (f.bn_relu)(&h, &gamma, &beta, &rm, &rv, bnp).unwrap().0;
                let h = (f.conv)(&h, &w2, p).unwrap();
                let h = (f.bn)(&h, &gamma, &beta, &rm, &rv, bnp).unwrap().0;
                (f.add_relu)(&h, &x).unwrap().sum_all().unwrap().backward().unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_matmul,
    bench_block,
    bench_conv_parts,
    bench_conv_forward,
    bench_conv,
    bench_batch_norm,
    bench_max_pool
);
criterion_main!(benches);
