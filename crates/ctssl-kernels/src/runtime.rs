//! Process-wide set-up for training on the CPU.

/// Builds rayon's global thread pool with `threads` threads (0: one per CPU), the calling thread being
/// one of them. Call it at the start of `main`, before any parallel work.
///
/// The kernels of [`crate::cpu`] start a few hundred parallel loops per training step. Called from a
/// thread outside the pool, each loop is handed to the pool's threads while the caller sleeps until it
/// is done; with the caller in the pool it runs its share of the loop itself and nothing is handed over
/// (a ResNet-18 step at 64 px on 2 cores: 0.213 → 0.206 s, `bench_train_step`).
///
/// Fails if the global pool has already been built (for example by an earlier call).
pub fn init_thread_pool(threads: usize) -> Result<(), rayon::ThreadPoolBuildError> {
    let mut builder = rayon::ThreadPoolBuilder::new().use_current_thread();
    if threads > 0 {
        builder = builder.num_threads(threads);
    }
    builder.build_global()
}

/// Sizes candle's own thread pool for training beside this crate's kernels. Leaves a variable the user
/// has set alone.
///
/// # Safety
///
/// It sets environment variables (which candle reads when its pool starts): no other thread may read or
/// write the environment while it runs. Call it first thing in `main`, before any thread is started.
///
/// candle 0.11 runs its elementwise ops (the gradient sums inside `Tensor::backward`, a `zeros_like`
/// and an `add` for every tensor of the graph) on a barrier pool of `CANDLE_NUM_THREADS` threads,
/// separate from rayon's. Its workers spin between ops by default, which on a small machine takes the
/// cores from rayon's threads; with one thread those ops run on the calling thread alone while the
/// other cores wait. This sets `CANDLE_NUM_THREADS` to `threads` (0: `RAYON_NUM_THREADS`, else one per
/// CPU, as rayon's pool) and
/// `CANDLE_BARRIER_POOL_SPIN_LIMIT` to 0, so candle's workers share those ops and sleep between them:
/// the time outside the kernels of a ResNet-18 step at 128 px on 2 cores went from ~100 to ~80 ms
/// (`bench_train_step --profile`).
pub unsafe fn configure_candle_threads(threads: usize) {
    let threads = match threads {
        0 => std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse().ok()).filter(|&n: &usize| n > 0),
        n => Some(n),
    }
    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    for (key, value) in [("CANDLE_NUM_THREADS", threads.to_string()), ("CANDLE_BARRIER_POOL_SPIN_LIMIT", "0".into())] {
        if std::env::var_os(key).is_none() {
            // SAFETY: the caller guarantees that no other thread touches the environment now (this
            // function's contract); edition 2024 makes `set_var` itself unsafe for that reason.
            #[allow(unused_unsafe)]
            unsafe {
                std::env::set_var(key, value)
            };
        }
    }
}
