//! Times the fused batch norm + ReLU (training) at the shapes of a ResNet-18 step, forward and backward
//! kernels alone (the `profile` timers), one line per shape.
//!
//! ```sh
//! cargo run --release -p ctssl-kernels --example bn_layers -- --size 64 --batch 32
//! ```

use candle_core::{DType, Device, Tensor, Var};
use ctssl_kernels::ops::{self, BatchNormParams};
use ctssl_kernels::profile::{self, Kind};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> candle_core::Result<()> {
    let (size, batch, reps) = (arg("--size", 64), arg("--batch", 32), arg("--reps", 20));
    profile::set_enabled(true);
    let s = size / 4;
    println!("{:<14} {:>9} {:>9}  (ms per call, mean of {reps})", "shape", "fwd", "bwd");
    for (c, hw) in [(64, size / 2), (64, s), (128, s / 2), (256, s / 4), (512, s / 8)] {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 1.0, (batch, c, hw, hw), &dev)?))?;
        let w = Var::from_tensor(&Tensor::ones(c, DType::F32, &dev)?)?;
        let b = Var::from_tensor(&Tensor::zeros(c, DType::F32, &dev)?)?;
        let (rm, rv) = (Tensor::zeros(c, DType::F32, &dev)?, Tensor::ones(c, DType::F32, &dev)?);
        let dy = Tensor::randn(0f32, 1.0, (batch, c, hw, hw), &dev)?;
        let run = || -> candle_core::Result<()> {
            let (y, _) = ops::batch_norm2d_relu(&x, &w, &b, &rm, &rv, BatchNormParams::default())?;
            (y * &dy)?.sum_all()?.backward()?;
            Ok(())
        };
        run()?;
        profile::reset();
        for _ in 0..reps {
            run()?;
        }
        let snap = profile::snapshot();
        let get = |k: Kind| snap.iter().find(|(kk, _, _)| *kk == k).map(|(_, n, t)| t / *n.max(&1) as f64 * 1e3);
        println!(
            "{:<14} {:>9.3} {:>9.3}",
            format!("{c}x{hw}x{hw}"),
            get(Kind::BatchNormForward).unwrap_or(0.0),
            get(Kind::BatchNormBackward).unwrap_or(0.0)
        );
    }
    Ok(())
}
