//! Runs a loop compiled for the CPU's vector instructions.
//!
//! The workspace builds for the baseline x86-64 (SSE2), so that one binary runs everywhere; the
//! elementwise kernels' loops then stay 4 floats wide, and loops with a select (the ReLU's mask) are
//! not vectorised at all. [`vectorized`] calls its closure from a function compiled with AVX2 and FMA
//! enabled when the CPU has them (checked at run time, cached by `std`); the closure is inlined into it,
//! so its loops are compiled for those instructions. Floating-point results are the same either way:
//! Rust never contracts `a * b + c` into a fused multiply-add on its own.

/// Calls `f`, compiled with AVX2 and FMA when the CPU has them.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for (just checked).
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
