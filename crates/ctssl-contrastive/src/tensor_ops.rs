//! Small differentiable helpers shared by the losses: off-diagonal sums, one-hot matrices, checks. (Row
//! L2 normalisation is `ctssl_kernels::ops::l2_normalize`.)

use candle_core::{DType, Device, Tensor};

use crate::error::{ContrastiveError, Result};

/// The diagonal of a square `[d, d]` matrix as a `[d]` vector, differentiable.
pub fn diagonal(c: &Tensor) -> Result<Tensor> {
    let d = c.dim(0)?;
    let eye = Tensor::eye(d, c.dtype(), c.device())?;
    Ok((c * eye)?.sum(1)?)
}

/// `Σ_{i≠j} c_ij²` of a square matrix, differentiable.
pub fn off_diagonal_square_sum(c: &Tensor) -> Result<Tensor> {
    Ok((c.sqr()?.sum_all()? - diagonal(c)?.sqr()?.sum_all()?)?)
}

/// A `[rows, cols]` matrix with ones at `(i, cols_of[i])` and zeros elsewhere.
pub(crate) fn one_hot(cols_of: &[usize], cols: usize, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut v = vec![0f64; cols_of.len() * cols];
    for (i, &c) in cols_of.iter().enumerate() {
        v[i * cols + c] = 1.0;
    }
    Ok(Tensor::from_vec(v, (cols_of.len(), cols), device)?.to_dtype(dtype)?)
}

/// Fails unless `x` is a non-empty `[n, d]` float tensor; returns `(n, d)`.
pub(crate) fn dims2(op: &'static str, name: &str, x: &Tensor) -> Result<(usize, usize)> {
    match x.dims() {
        [n, d] if *n > 0 && *d > 0 => {
            if !x.dtype().is_float() {
                return Err(ContrastiveError::shape(op, format!("{name} must be a float tensor, got {:?}", x.dtype())));
            }
            Ok((*n, *d))
        }
        dims => Err(ContrastiveError::shape(op, format!("{name} must be a non-empty [n, d] matrix, got {dims:?}"))),
    }
}

/// Fails unless `a` and `b` have the same `[n, d]` shape; returns `(n, d)`.
pub(crate) fn same_dims2(op: &'static str, a: &Tensor, b: &Tensor) -> Result<(usize, usize)> {
    let da = dims2(op, "first input", a)?;
    let db = dims2(op, "second input", b)?;
    if da != db {
        return Err(ContrastiveError::shape(op, format!("inputs differ in shape: {:?} vs {:?}", a.dims(), b.dims())));
    }
    Ok(da)
}

/// Fails unless `t` is finite and strictly positive.
pub(crate) fn positive(op: &'static str, name: &str, t: f64) -> Result<()> {
    if !(t.is_finite() && t > 0.0) {
        return Err(ContrastiveError::param(op, format!("{name} must be finite and > 0, got {t}")));
    }
    Ok(())
}
