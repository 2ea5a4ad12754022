//! CPU helpers of the sparse kernels: the float types they run on, access to a tensor's contiguous
//! elements, and a safe wrapper over `gemm::gemm` for row-major matrices.

use candle_core::{CpuStorage, DType, Layout, Storage, Tensor};
use gemm::Parallelism;

/// The element types of the sparse kernels, `f32` and `f64`: the same trait as the dense kernels'.
pub use ctssl_kernels::cpu::Real as Float;

/// An error of a sparse kernel, as a candle error (so that it can come out of a custom op).
pub(crate) fn kernel_error(op: &str, message: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: {message}"))
}

/// The contiguous elements of a custom op's input.
pub(crate) fn input_slice<'a, T: Float>(op: &str, s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [T]> {
    let (start, end) = l.contiguous_offsets().ok_or_else(|| kernel_error(op, "needs a contiguous input"))?;
    Ok(&T::cpu_storage_as_slice(s)?[start..end])
}

/// Runs `f` on the contiguous elements of `t` (made contiguous first if needed); CPU tensors only.
pub(crate) fn with_slice<T: Float, R>(
    op: &str,
    t: &Tensor,
    f: impl FnOnce(&[T]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(input_slice(op, s, layout)?),
        _ => Err(kernel_error(op, "the sparse kernels run on the CPU only")),
    }
}

/// A CPU tensor of `dims` from `data`.
pub(crate) fn tensor_from<T: Float>(data: Vec<T>, dims: &[usize]) -> candle_core::Result<Tensor> {
    Tensor::from_vec(data, dims, &candle_core::Device::Cpu)
}

/// The dtype of a CPU storage.
pub(crate) fn storage_dtype(s: &CpuStorage) -> DType {
    use candle_core::backend::BackendStorage;
    s.dtype()
}

/// Calls `$body` with `$t` bound to `f32` or `f64` according to `$dtype`.
macro_rules! dispatch {
    ($op:expr, $dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            candle_core::DType::F32 => {
                type $t = f32;
                let r: candle_core::Result<_> = $body;
                r
            }
            candle_core::DType::F64 => {
                type $t = f64;
                let r: candle_core::Result<_> = $body;
                r
            }
            dtype => Err($crate::cpu::kernel_error($op, format!("unsupported dtype {dtype:?}"))),
        }
    };
}
pub(crate) use dispatch;

/// A read-only matrix operand: element `(i, j)` at `data[i·rs + j·cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> Mat<'a, T> {
    /// A row-major matrix with row stride `rs`.
    pub fn rows(data: &'a [T], rs: usize) -> Self {
        Mat { data, rs, cs: 1 }
    }
    /// The transposed view.
    pub fn t(self) -> Self {
        Mat { data: self.data, rs: self.cs, cs: self.rs }
    }
    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// `dst[m×n]` (row-major, contiguous) `= (accumulate ? dst : 0) + a[m×k] · b[k×n]`, on `threads` rayon
/// threads.
pub(crate) fn matmul<T: Float>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    accumulate: bool,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n, "matmul: dst too small");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    assert!(a.fits(m, k) && b.fits(k, n), "matmul: operand too small");
    let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts keep every element gemm reads or writes inside the slices; `dst` is borrowed
    // mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            par,
        )
    }
}

/// The rayon threads available.
pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_plain_and_transposed_lhs() {
        let (m, n, k) = (4, 5, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect(); // [m×k]
        let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect(); // [k×m]
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut d1 = vec![0.0; m * n];
        let mut d2 = vec![1.0; m * n];
        matmul((m, n, k), &mut d1, false, Mat::rows(&a, k), Mat::rows(&b, n), 1);
        matmul((m, n, k), &mut d2, true, Mat::rows(&at, m).t(), Mat::rows(&b, n), 2);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                assert!((d1[i * n + j] - want).abs() < 1e-12);
                assert!((d2[i * n + j] - want - 1.0).abs() < 1e-12);
            }
        }
    }
}
