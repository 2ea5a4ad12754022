//! Time and minor page faults of a few forward + backward passes of a ResNet basic block
//! (conv 3×3 → batch norm → ReLU → conv 3×3 → batch norm) at batch 32, 64 channels, 32×32, with
//! mimalloc (default) or the system allocator (`--features system-alloc`):
//!
//! `cargo run --release -p ctssl-kernels --example alloc_faults [-- STEPS]`
//! `cargo run --release -p ctssl-kernels --example alloc_faults --features system-alloc [-- STEPS]`

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use ctssl_kernels::ops::{self, BatchNormParams, Conv2dParams};

#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Minor page faults of this process so far (field 10 of /proc/self/stat), if readable.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(7)?.parse().ok()
}

fn main() -> candle_core::Result<()> {
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (32, 64, 32, 32), &dev)?)?;
    let w1 = Var::from_tensor(&Tensor::randn(0f32, 0.05, (64, 64, 3, 3), &dev)?)?;
    let w2 = Var::from_tensor(&Tensor::randn(0f32, 0.05, (64, 64, 3, 3), &dev)?)?;
    let gamma = Var::from_tensor(&Tensor::ones(64, DType::F32, &dev)?)?;
    let beta = Var::from_tensor(&Tensor::zeros(64, DType::F32, &dev)?)?;
    let rm = Tensor::zeros(64, DType::F32, &dev)?;
    let rv = Tensor::ones(64, DType::F32, &dev)?;
    let conv = Conv2dParams { stride: 1, padding: 1, dilation: 1 };
    let bn = BatchNormParams::default();
    let step = || -> candle_core::Result<()> {
        let h = ops::conv2d(&x, &w1, conv)?;
        let h = ops::batch_norm2d(&h, &gamma, &beta, &rm, &rv, bn)?.0.relu()?;
        let h = ops::conv2d(&h, &w2, conv)?;
        let h = ops::batch_norm2d(&h, &gamma, &beta, &rm, &rv, bn)?.0;
        h.sum_all()?.backward()?;
        Ok(())
    };
    step()?; // warm-up
    let faults0 = minor_faults();
    let t0 = Instant::now();
    for _ in 0..steps {
        step()?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let faults = match (faults0, minor_faults()) {
        (Some(a), Some(b)) => format!("{}", b.saturating_sub(a) / steps as u64),
        _ => "unknown".to_string(),
    };
    let alloc = if cfg!(feature = "system-alloc") { "system" } else { "mimalloc" };
    println!(
        "allocator={alloc} steps={steps} seconds_per_step={:.4} minor_faults_per_step={faults}",
        secs / steps as f64
    );
    Ok(())
}
