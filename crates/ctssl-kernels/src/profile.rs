//! Optional timing of the CPU kernels by kind of work (off by default; one relaxed atomic load per
//! kernel call when off).
//!
//! [`set_enabled`]`(true)` (or the environment variable `CTSSL_KERNEL_PROFILE=1`, read on the first
//! call) makes every kernel add its wall time and call count to a process-wide counter of its
//! [`Kind`]; [`snapshot`] reads them and [`reset`] clears them. The times are wall-clock seconds of the
//! calling thread; kernels that run concurrently (from different threads) overlap, so their sum can
//! exceed the step time.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

/// The kinds of work the profile tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Convolution forward passes (and transposed convolutions' input gradients).
    ConvForward,
    /// Convolution input gradients (and transposed convolutions' forward passes).
    ConvInputGrad,
    /// Convolution weight gradients.
    ConvWeightGrad,
    /// Batch norm forward passes (statistics and normalisation, with the fused ReLU).
    BatchNormForward,
    /// Batch norm backward passes.
    BatchNormBackward,
    /// ReLU, `add_relu` and their gradients.
    Elementwise,
    /// Max and average pooling, forward and backward.
    Pool,
    /// Softmax, log-softmax, layer norm, upsampling.
    Other,
}

impl Kind {
    /// Every kind, in the order of [`snapshot`].
    pub const ALL: [Kind; 8] = [
        Kind::ConvForward,
        Kind::ConvInputGrad,
        Kind::ConvWeightGrad,
        Kind::BatchNormForward,
        Kind::BatchNormBackward,
        Kind::Elementwise,
        Kind::Pool,
        Kind::Other,
    ];

    /// A short name (`conv_fwd`, `conv_dx`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::ConvForward => "conv_fwd",
            Kind::ConvInputGrad => "conv_dx",
            Kind::ConvWeightGrad => "conv_dw",
            Kind::BatchNormForward => "bn_fwd",
            Kind::BatchNormBackward => "bn_bwd",
            Kind::Elementwise => "relu_add",
            Kind::Pool => "pool",
            Kind::Other => "other",
        }
    }
}

/// 0: not decided yet (read the environment), 1: off, 2: on.
static STATE: AtomicU8 = AtomicU8::new(0);
static NANOS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static CALLS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Turns the profile on or off for the whole process.
pub fn set_enabled(on: bool) {
    STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether the profile is on.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => {
            let on = std::env::var("CTSSL_KERNEL_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0");
            set_enabled(on);
            on
        }
    }
}

/// Clears every counter.
pub fn reset() {
    for i in 0..Kind::ALL.len() {
        NANOS[i].store(0, Ordering::Relaxed);
        CALLS[i].store(0, Ordering::Relaxed);
    }
}

/// `(kind, calls, seconds)` for every kind since the last [`reset`].
pub fn snapshot() -> Vec<(Kind, u64, f64)> {
    Kind::ALL
        .iter()
        .enumerate()
        .map(|(i, k)| (*k, CALLS[i].load(Ordering::Relaxed), NANOS[i].load(Ordering::Relaxed) as f64 * 1e-9))
        .collect()
}

/// Runs `f`, adding its wall time to `kind` when the profile is on.
#[inline]
pub(crate) fn timed<R>(kind: Kind, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    let t = Instant::now();
    let r = f();
    let i = kind as usize;
    NANOS[i].fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    CALLS[i].fetch_add(1, Ordering::Relaxed);
    r
}
