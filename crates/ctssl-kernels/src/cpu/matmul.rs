//! A thin safe wrapper over `gemm::gemm` for strided row-major views.

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

/// `dst[m×n] (row stride dst_rs) = (accumulate ? dst : 0) + a[m×k] · b[k×n]`.
///
/// Panics if a view does not hold the elements it is asked for (an internal invariant of the kernels).
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    dst_rs: usize,
    accumulate: bool,
    a: View<'_, T>,
    b: View<'_, T>,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len(), "matmul: dst too small");
    assert!(a.fits(m, k) && b.fits(k, n), "matmul: operand too small");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                dst[i * dst_rs..i * dst_rs + n].fill(T::ZERO);
            }
        }
        return;
    }
    let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: the asserts above keep every element that gemm reads or writes inside the slices; dst is
    // borrowed mutably, so it does not alias a or b.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
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
        matmul(m, n, k, &mut dst, n, true, View::rows(&a, k), View::rows(&bt, k).t(), 1);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = 1.0 + (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f64>();
                assert!((dst[i * n + j] - want).abs() < 1e-12);
            }
        }
    }
}
