//! Times each convolution kernel at the shapes of a ResNet-18 step (forward, input gradient, weight
//! gradient, and the two gradients one after the other as the op's backward pass runs them), one line
//! per layer.
//!
//! ```sh
//! cargo run --release -p ctssl-kernels --example conv_layers -- --size 64 --batch 32
//! ```
//! The PyTorch side of the same table: `python3 benches/peer/torch_conv_layers.py --size 64 --batch 32`.
//!
//! Each line also gives each kernel's rate (nominal FLOPs: the full product, zero padding included) as a
//! share of a 1024³ matrix product timed just before that layer (candle's `matmul`, the `gemm` crate on
//! every thread), so that the ratio holds when the machine's speed drifts between layers.

use std::time::Instant;

use ctssl_kernels::cpu::conv as k;
use ctssl_kernels::ops::Conv2dParams;
use ctssl_kernels::params::ConvGeometry;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median_ms(mut f: impl FnMut(), reps: usize) -> f64 {
    for _ in 0..2 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let (size, batch, reps) = (arg("--size", 64), arg("--batch", 32), arg("--reps", 15));
    let s = size / 4; // after the stem and the max pool
                      // name, c_in, c_out, input size, kernel, stride, padding
    let layers = [
        ("stem 7x7 s2", 1, 64, size, 7, 2, 3),
        ("layer1 3x3", 64, 64, s, 3, 1, 1),
        ("layer2.0 3x3 s2", 64, 128, s, 3, 2, 1),
        ("layer2 3x3", 128, 128, s / 2, 3, 1, 1),
        ("layer3.0 3x3 s2", 128, 256, s / 2, 3, 2, 1),
        ("layer3 3x3", 256, 256, s / 4, 3, 1, 1),
        ("layer4.0 3x3 s2", 256, 512, s / 4, 3, 2, 1),
        ("layer4 3x3", 512, 512, s / 8, 3, 1, 1),
        ("downsample2 1x1 s2", 64, 128, s, 1, 2, 0),
        ("downsample4 1x1 s2", 256, 512, s / 4, 1, 2, 0),
    ];
    let (a, b) = {
        let dev = candle_core::Device::Cpu;
        let n = 1024;
        let a: Vec<f32> = (0..n * n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i * 31) % 1000) as f32 / 500.0 - 1.0).collect();
        (
            candle_core::Tensor::from_vec(a, (n, n), &dev).expect("matrix"),
            candle_core::Tensor::from_vec(b, (n, n), &dev).expect("matrix"),
        )
    };
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>8}  {:>7} {:>6} {:>6} {:>6}  (ms, median of {reps}; % of the matmul rate)",
        "layer", "fwd", "dx", "dw", "dx+dw", "matmul", "fwd%", "dx%", "dw%"
    );
    for (name, ci, co, hw, kk, st, pad) in layers {
        let p = Conv2dParams { stride: st, padding: pad, dilation: 1 };
        let g = ConvGeometry::new(&[batch, ci, hw, hw], &[co, ci, kk, kk], p).expect("geometry");
        let x: Vec<f32> = (0..batch * ci * hw * hw).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let w: Vec<f32> = (0..co * ci * kk * kk).map(|i| ((i * 104_729) % 1000) as f32 / 5000.0 - 0.1).collect();
        let dy: Vec<f32> = (0..batch * co * g.oh * g.ow).map(|i| ((i * 31) % 1000) as f32 / 500.0 - 1.0).collect();
        let mm_ms = median_ms(|| drop(a.matmul(&b).expect("matmul")), 5);
        let mm_gflops = 2.0 * 1024f64.powi(3) / mm_ms / 1e6;
        let f = median_ms(|| drop(k::forward(&g, &x, &w).expect("fwd")), reps);
        let dx = median_ms(|| drop(k::backward_input(&g, &dy, &w).expect("dx")), reps);
        let dw = median_ms(|| drop(k::backward_weight(&g, &x, &dy).expect("dw")), reps);
        let both = median_ms(
            || {
                // As the op's backward pass runs them: one after the other, each on every thread.
                drop(k::backward_input(&g, &dy, &w).expect("dx"));
                drop(k::backward_weight(&g, &x, &dy).expect("dw"));
            },
            reps,
        );
        let share = |ms: f64| 100.0 * g.flops() / ms / 1e6 / mm_gflops;
        println!(
            "{name:<20} {f:>8.2} {dx:>8.2} {dw:>8.2} {both:>8.2}  {mm_gflops:>7.1} {:>6.0} {:>6.0} {:>6.0}",
            share(f),
            share(dx),
            share(dw)
        );
    }
}
