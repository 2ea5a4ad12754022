//! The `gemm` crate's rate at the matrix shapes of a ResNet's convolutions, two ways: one product split
//! across all threads (`Parallelism::Rayon`), and one single-threaded product per thread at once (how
//! the convolution kernels use it: a group of images per thread). GFLOP/s over all threads.
//!
//! ```sh
//! cargo run --release -p ctssl-kernels --example gemm_rates -- --threads 2
//! ```

use std::time::Instant;

use rayon::prelude::*;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `c[m×n] = a[m×k] · b[k×n]`, row-major, with `par`.
fn product(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], par: gemm::Parallelism) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // SAFETY: the three slices hold the m×k, k×n and m×n row-major matrices the strides describe.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2usize);
    ctssl_kernels::runtime::init_thread_pool(threads).expect("rayon's pool is built once");
    println!("{:<18} {:>14} {:>16}  (GFLOP/s, {threads} threads)", "m x k x n", "one product", "one per thread");
    // c_out × (c_in·9) × columns of one group: ResNet-18's 3×3 stages, and a square product.
    for (m, k, n) in
        [(64, 576, 1024), (128, 1152, 256), (128, 1152, 512), (256, 2304, 128), (512, 4608, 32), (1024, 1024, 1024)]
    {
        let flop = 2.0 * (m * n * k) as f64;
        let reps = (2e10 / flop) as usize + 1;
        let (a, b) = (vec![0.5f32; m * k], vec![0.25f32; k * n]);
        let mut c = vec![0f32; m * n];
        let time = |f: &mut dyn FnMut()| {
            f();
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        };
        let one =
            time(&mut || (0..reps).for_each(|_| product(m, n, k, &a, &b, &mut c, gemm::Parallelism::Rayon(threads))));
        let each = time(&mut || {
            (0..threads).into_par_iter().for_each(|_| {
                let mut c = vec![0f32; m * n];
                (0..reps).for_each(|_| product(m, n, k, &a, &b, &mut c, gemm::Parallelism::None));
            })
        });
        println!(
            "{:<18} {:>14.1} {:>16.1}",
            format!("{m}x{k}x{n}"),
            flop * reps as f64 / one / 1e9,
            flop * (reps * threads) as f64 / each / 1e9
        );
    }
}
