//! A thin safe wrapper over `gemm::gemm` for strided row-major views: the one place where the kernels
//! (this crate's and ctssl-sparse's) call `gemm`, and so the one `unsafe` matrix product.

use std::mem::MaybeUninit;

use gemm::Parallelism;

use super::Real;

/// A matrix view into a slice: element `(i, j)` is at `offset + i·rs + j·cs`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    /// The elements.
    pub data: &'a [T],
    /// Offset of element (0, 0).
    pub offset: usize,
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a, T> View<'a, T> {
    /// A row-major view with row stride `rs`.
    pub fn rows(data: &'a [T], rs: usize) -> Self {
        Self { data, offset: 0, rs, cs: 1 }
    }

    /// The transposed view.
    pub fn t(self) -> Self {
        Self { rs: self.cs, cs: self.rs, ..self }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// Threads to give each product when `parallel_jobs` of them run at once: rayon's threads shared out,
/// at least one (`gemm_threads(1)` for a product that runs alone).
pub fn gemm_threads(parallel_jobs: usize) -> usize {
    (rayon::current_num_threads() / parallel_jobs.max(1)).max(1)
}

/// `dst[m×n] = (accumulate ? dst : 0) + a[m×k] · b[k×n]`, element `(i, j)` of `dst` at `i·rs + j·cs` for
/// `(rs, cs) = dst_strides`.
///
/// Panics if a view does not hold the elements it is asked for (an internal invariant of the kernels).
#[allow(clippy::too_many_arguments)]
pub fn matmul_strided<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    dst_strides: (usize, usize),
    accumulate: bool,
    a: View<'_, T>,
    b: View<'_, T>,
    threads: usize,
) {
    // SAFETY: `dst` is initialised, so reading it (accumulate) is fine; `T` and `MaybeUninit<T>` have the
    // same layout, and the product only stores initialised values.
    let dst = unsafe { &mut *(dst as *mut [T] as *mut [MaybeUninit<T>]) };
    product(m, n, k, dst, dst_strides, accumulate, a, b, threads)
}

/// `dst[m×n] = a[m×k] · b[k×n]` into uninitialised memory, element `(i, j)` of `dst` at `i·rs + j·cs` for
/// `(rs, cs) = dst_strides`: every element of the `m × n` view is written (none is read), so the caller
/// may then take them as initialised ([`super::assume_init`]).
///
/// Panics if a view does not hold the elements it is asked for (an internal invariant of the kernels).
#[allow(clippy::too_many_arguments)]
pub fn matmul_uninit<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [MaybeUninit<T>],
    dst_strides: (usize, usize),
    a: View<'_, T>,
    b: View<'_, T>,
    threads: usize,
) {
    product(m, n, k, dst, dst_strides, false, a, b, threads)
}

#[allow(clippy::too_many_arguments)]
fn product<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [MaybeUninit<T>],
    (rs, cs): (usize, usize),
    accumulate: bool,
    a: View<'_, T>,
    b: View<'_, T>,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * rs + (n - 1) * cs < dst.len(), "matmul: dst too small");
    assert!(a.fits(m, k) && b.fits(k, n), "matmul: operand too small");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * rs + j * cs].write(T::ZERO);
                }
            }
        }
        return;
    }
    let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every element that gemm reads or writes inside the slices; dst is
    // borrowed mutably, so it does not alias a or b. With `read_dst = false` gemm only stores into dst
    // (every element of the m × n view), so dst may be uninitialised then; with `accumulate` the caller
    // passes initialised memory (`matmul_strided`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr() as *mut T,
            cs as isize,
            rs as isize,
            accumulate,
            a.data.as_ptr().add(a.offset),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr().add(b.offset),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive_with_transposes() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let bt: Vec<f64> = (0..n * k).map(|i| (i as f64 * 0.11).cos()).collect(); // b stored as [n×k]
        let mut dst = vec![1.0; m * n];
        matmul_strided(m, n, k, &mut dst, (n, 1), true, View::rows(&a, k), View::rows(&bt, k).t(), 1);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = 1.0 + (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f64>();
                assert!((dst[i * n + j] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn transposed_lhs_accumulates_on_several_threads() {
        let (m, n, k) = (4, 5, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect(); // [m×k]
        let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect(); // [k×m]
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut d1 = vec![0.0; m * n];
        let mut d2 = vec![1.0; m * n];
        matmul_strided(m, n, k, &mut d1, (n, 1), false, View::rows(&a, k), View::rows(&b, n), 1);
        matmul_strided(m, n, k, &mut d2, (n, 1), true, View::rows(&at, m).t(), View::rows(&b, n), 2);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
                assert!((d1[i * n + j] - want).abs() < 1e-12);
                assert!((d2[i * n + j] - want - 1.0).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn strided_and_uninit_destinations_match_the_row_major_product() {
        let (m, n, k) = (6, 5, 4);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.29).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.13).cos()).collect();
        let mut want = vec![0.0; m * n];
        matmul_strided(m, n, k, &mut want, (n, 1), false, View::rows(&a, k), View::rows(&b, n), 1);
        // Column-major destination (the transposed layout), accumulated onto ones.
        let mut t = vec![1.0; m * n];
        matmul_strided(m, n, k, &mut t, (1, m), true, View::rows(&a, k), View::rows(&b, n), 1);
        let mut u = vec![MaybeUninit::uninit(); m * n];
        matmul_uninit(m, n, k, &mut u, (n, 1), View::rows(&a, k), View::rows(&b, n), 2);
        for i in 0..m {
            for j in 0..n {
                assert!((t[j * m + i] - 1.0 - want[i * n + j]).abs() < 1e-12);
                // SAFETY: matmul_uninit wrote every element.
                assert_eq!(unsafe { u[i * n + j].assume_init() }, want[i * n + j]);
            }
        }
    }
}
