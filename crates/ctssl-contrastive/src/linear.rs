//! The heads' linear layers: ctssl-backbones' [`Linear`], initialised from a seed as PyTorch's
//! `nn.Linear` (uniform in `±1/√in`).

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use ctssl_backbones::Linear;

use crate::error::{ContrastiveError, Result};

/// `[rows, cols]` values uniform in `±bound`, drawn from `ChaCha8Rng::seed_from_u64(seed)`.
pub(crate) fn uniform(seed: u64, shape: &[usize], bound: f64, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    Ok(Tensor::from_vec(v, shape, device)?.to_dtype(dtype)?)
}

/// A new layer `in_dim → out_dim`, with a bias when `bias`; the weight is drawn from `seed`, the bias
/// from `seed + 1`.
pub fn seeded_linear(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> Result<Linear> {
    if in_dim == 0 || out_dim == 0 {
        return Err(ContrastiveError::param("seeded_linear", "dimensions must be positive"));
    }
    let bound = 1.0 / (in_dim as f64).sqrt();
    let weight = Var::from_tensor(&uniform(seed, &[out_dim, in_dim], bound, dtype, device)?)?;
    let bias = if bias {
        Some(Var::from_tensor(&uniform(seed.wrapping_add(1), &[out_dim], bound, dtype, device)?)?)
    } else {
        None
    };
    Ok(Linear::from_vars(weight, bias)?)
}
