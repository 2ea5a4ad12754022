//! The CPU kernels behind [`crate::ops`], as candle custom ops (`cpu_fwd` + `bwd`).
//!
//! Each op works on contiguous `f32` or `f64` buffers; the public functions of [`crate::ops`] make their
//! inputs contiguous first. Matrix products go through the `gemm` crate (the one candle uses); the
//! rest is written so that the inner loops are contiguous slices the compiler vectorises, and is split
//! over rayon's threads in pieces whose size depends only on the shapes, so that results do not depend
//! on the number of threads.
//!
//! # Writing a custom op
//!
//! The plumbing of these kernels is public, so that other crates' custom ops (the sparse kernels of
//! ctssl-sparse) use the same: [`Real`] for the element type and [`dispatch!`] to pick it from a
//! dtype; [`input_slice`] (in `cpu_fwd`) and [`with_slice`] (in `bwd`) for an input's elements;
//! [`tensor_from`] and [`Real::storage`] for the outputs, with [`uninit_vec`], [`write_slice`],
//! [`fill`] and [`assume_init`] where an output is written entirely before it is read; and
//! [`matmul`] for matrix products, the crate's one call into `gemm`.

pub mod activation;
pub mod batch_norm;
pub mod conv;
pub mod conv_bn;
mod conv_taps;
pub(crate) mod im2col;
pub mod layer_norm;
pub mod matmul;
pub mod pool;
pub mod simd;
pub mod softmax;

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor, WithDType};

use crate::error::KernelError;

/// The element types of the kernels: `f32` and `f64`.
pub trait Real: WithDType + Send + Sync + PartialOrd + std::ops::Neg<Output = Self> {
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// −∞.
    const NEG_INFINITY: Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Exponential.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// A CPU storage that owns `data`.
    fn storage(data: Vec<Self>) -> CpuStorage {
        <Self as WithDType>::to_cpu_storage_owned(data)
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn exp(self) -> Self {
        f32::exp(self)
    }
    fn ln(self) -> Self {
        f32::ln(self)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
}

/// The contiguous elements of a custom op's input (the storage and layout that `cpu_fwd` receives).
///
/// Fails, naming `op`, when the layout is not contiguous or the storage does not hold `T`.
pub fn input_slice<'a, T: Real>(op: &'static str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [T]> {
    let (start, end) =
        l.contiguous_offsets().ok_or_else(|| KernelError::shape(op, "the CPU kernel needs a contiguous input"))?;
    Ok(&T::cpu_storage_as_slice(s)?[start..end])
}

/// Runs `f` on the contiguous elements of `t` (made contiguous first if needed), as a custom op's
/// backward pass reads its tensors.
///
/// Fails, naming `op`, when `t` is not on the CPU or does not hold `T`.
pub fn with_slice<T: Real, R>(op: &'static str, t: &Tensor, f: impl FnOnce(&[T]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(input_slice(op, s, layout)?),
        _ => Err(KernelError::NotCpu { op }.into()),
    }
}

/// A buffer of `len` uninitialised elements, for outputs that a kernel writes entirely before they are
/// read (saves the zero fill of `vec![0; len]`, a full extra pass over memory). Kernels write it through
/// [`MaybeUninit::write`] (or [`write_slice`], [`fill`], `matmul_uninit`) and hand it on with
/// [`assume_init`] once every element is written.
pub fn uninit_vec<T>(len: usize) -> Vec<MaybeUninit<T>> {
    let mut v = Vec::with_capacity(len);
    // SAFETY: the capacity is `len`, and `MaybeUninit<T>` is valid uninitialised.
    unsafe { v.set_len(len) };
    v
}

/// The `Vec<T>` of a buffer from [`uninit_vec`].
///
/// # Safety
/// Every element of `v` must have been written.
pub unsafe fn assume_init<T>(v: Vec<MaybeUninit<T>>) -> Vec<T> {
    let mut v = std::mem::ManuallyDrop::new(v);
    let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
    // SAFETY: `MaybeUninit<T>` has the layout of `T`, the allocation is the vector's own (same capacity),
    // and the caller guarantees that every element is initialised.
    unsafe { Vec::from_raw_parts(ptr as *mut T, len, cap) }
}

/// The initialised view of part of a buffer from [`uninit_vec`].
///
/// # Safety
/// Every element of `s` must have been written.
pub unsafe fn assume_init_ref<T>(s: &[MaybeUninit<T>]) -> &[T] {
    // SAFETY: same layout; the caller guarantees that every element is initialised.
    unsafe { &*(s as *const [MaybeUninit<T>] as *const [T]) }
}

/// Copies `src` into `dst`; panics unless the lengths are equal.
#[inline]
pub fn write_slice<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "write_slice: lengths differ");
    // SAFETY: equal lengths (checked), `MaybeUninit<T>` has the layout of `T`, and a `&mut` and a `&` slice
    // never overlap. (A loop of `MaybeUninit::write` was not turned into a `memcpy`.)
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr() as *mut T, src.len()) }
}

/// Writes `value` into every element of `dst`.
#[inline]
pub fn fill<T: Copy>(dst: &mut [MaybeUninit<T>], value: T) {
    for d in dst {
        d.write(value);
    }
}

/// A CPU tensor of `dims` from `data` (a backward pass's gradients).
pub fn tensor_from<T: Real>(data: Vec<T>, dims: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(data, dims, &candle_core::Device::Cpu)
}

/// Calls `$body` with the type `$t` bound to `f32` or `f64` according to `$dtype` (a
/// [`candle_core::DType`]); `$body` is a `candle_core::Result`, and any other dtype is a
/// [`KernelError::DType`] of the op named `$op` (a `&'static str`).
///
/// ```
/// use candle_core::DType;
/// use ctssl_kernels::cpu::{dispatch, Real};
///
/// fn zeros(dtype: DType, len: usize) -> candle_core::Result<candle_core::CpuStorage> {
///     dispatch!("zeros", dtype, T => Ok(T::storage(vec![T::ZERO; len])))
/// }
/// assert!(zeros(DType::F64, 3).is_ok());
/// assert!(zeros(DType::U8, 3).is_err());
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __cpu_dispatch {
    ($op:expr, $dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::cpu::__private::DType::F32 => {
                type $t = f32;
                let r: $crate::cpu::__private::Result<_> = $body;
                r
            }
            $crate::cpu::__private::DType::F64 => {
                type $t = f64;
                let r: $crate::cpu::__private::Result<_> = $body;
                r
            }
            dtype => Err($crate::error::KernelError::DType { op: $op, dtype }.into()),
        }
    };
}
#[doc(inline)]
pub use crate::__cpu_dispatch as dispatch;

/// What [`dispatch!`] names from its expansion site, whatever the caller imports.
#[doc(hidden)]
pub mod __private {
    pub use candle_core::{DType, Result};
}

/// The dtype of a CPU storage.
pub fn storage_dtype(s: &CpuStorage) -> DType {
    use candle_core::backend::BackendStorage;
    s.dtype()
}
