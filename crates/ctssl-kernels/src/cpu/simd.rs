//! Runs a loop compiled for the CPU's vector instructions.
//!
//! The workspace builds for the baseline x86-64 (SSE2), so that one binary runs everywhere; the
//! elementwise kernels' loops then stay 4 floats wide, and loops with a select (the ReLU's mask) are
//! not vectorised at all. [`vectorized`] calls its closure from a function compiled with AVX2 and FMA
//! enabled when the CPU has them (checked at run time, cached by `std`); the closure is inlined into it,
//! so its loops are compiled for those instructions. The compiler inlines a closure only while it is
//! small: a larger loop body is a [`Kernel`] whose `run` is marked `#[inline(always)]`, and
//! [`vectorized_kernel`] forces it into the AVX2 function the same way. Floating-point results are the same either way:
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

/// Calls `f` compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// A loop body run by [`vectorized_kernel`]; implement `run` with `#[inline(always)]` (without it,
/// nothing is gained over [`vectorized`]).
pub trait Kernel {
    /// What the body returns.
    type Output;
    /// The body.
    fn run(self) -> Self::Output;
}

/// Runs `k`, compiled with AVX2 and FMA when the CPU has them, however large its body.
#[inline(always)]
pub fn vectorized_kernel<K: Kernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for (just checked).
        return unsafe { avx2_kernel(k) };
    }
    k.run()
}

/// Runs `k` compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_kernel<K: Kernel>(k: K) -> K::Output {
    k.run()
}
