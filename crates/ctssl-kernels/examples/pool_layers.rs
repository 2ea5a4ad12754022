//! Times the ResNet stem's max pooling (3×3, stride 2, padding 1) and the global average pooling at the
//! shapes of a training step, forward and backward kernels apart (the `profile` timers), one line each.
//!
//! ```sh
//! cargo run --release -p ctssl-kernels --example pool_layers -- --size 64 --batch 32
//! ```

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use ctssl_kernels::ops::{self, MaxPool2dParams};
use ctssl_kernels::profile::{self, Kind};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> candle_core::Result<()> {
    let (size, batch, reps) = (arg("--size", 64), arg("--batch", 32), arg("--reps", 20));
    ctssl_kernels::runtime::init_thread_pool(arg("--threads", 2)).expect("rayon's pool is built once");
    profile::set_enabled(true);
    let dev = Device::Cpu;
    println!("{:<26} {:>9} {:>9}  (ms per call, mean of {reps})", "op", "fwd", "bwd");
    let max = MaxPool2dParams { kernel: 3, stride: 2, padding: 1 };
    let cases: [(&str, usize, usize); 2] = [("max_pool2d 3x3 s2", 64, size / 2), ("global_avg_pool", 512, size / 32)];
    for (name, c, hw) in cases {
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (batch, c, hw, hw), &dev)?)?;
        let pool = |x: &Tensor| if c == 64 { ops::max_pool2d(x, max) } else { ops::global_avg_pool(x) };
        let dy = pool(x.as_tensor())?.randn_like(0.0, 1.0)?;
        let run = || -> candle_core::Result<()> { (pool(x.as_tensor())? * &dy)?.sum_all()?.backward().map(|_| ()) };
        run()?;
        let t = Instant::now();
        for _ in 0..reps {
            pool(x.as_tensor())?;
        }
        let fwd = t.elapsed().as_secs_f64() / reps as f64;
        profile::reset();
        for _ in 0..reps {
            run()?;
        }
        let total = profile::snapshot().iter().filter(|(k, _, _)| *k == Kind::Pool).map(|(_, _, t)| *t).sum::<f64>();
        let bwd = total / reps as f64 - fwd;
        println!("{:<26} {:>9.3} {:>9.3}", format!("{name} {c}x{hw}x{hw}"), fwd * 1e3, bwd * 1e3);
    }
    Ok(())
}
