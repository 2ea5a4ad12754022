//! A fully connected layer `y = x Wᵀ + b` with its parameters as `Var`s.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::dims2;

/// Linear layer with weight `[out, in]` and optional bias `[out]`, initialised as PyTorch's `nn.Linear`
/// (uniform in `±1/√in`) from a seed.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Var,
    bias: Option<Var>,
}

/// `[rows, cols]` values uniform in `±bound`, drawn from `ChaCha8Rng::seed_from_u64(seed)`.
pub(crate) fn uniform(seed: u64, shape: &[usize], bound: f64, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    Ok(Tensor::from_vec(v, shape, device)?.to_dtype(dtype)?)
}

impl Linear {
    /// A new layer `in_dim → out_dim`; the weight uses `seed`, the bias `seed + 1`.
    pub fn new(in_dim: usize, out_dim: usize, bias: bool, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        if in_dim == 0 || out_dim == 0 {
            return Err(ContrastiveError::param("Linear::new", "dimensions must be positive"));
        }
        let bound = 1.0 / (in_dim as f64).sqrt();
        let weight = Var::from_tensor(&uniform(seed, &[out_dim, in_dim], bound, dtype, device)?)?;
        let bias = if bias {
            Some(Var::from_tensor(&uniform(seed.wrapping_add(1), &[out_dim], bound, dtype, device)?)?)
        } else {
            None
        };
        Ok(Self { weight, bias })
    }

    /// The weight `[out, in]`.
    pub fn weight(&self) -> &Var {
        &self.weight
    }

    /// The bias `[out]`, if any.
    pub fn bias(&self) -> Option<&Var> {
        self.bias.as_ref()
    }

    /// `x Wᵀ + b` for `x` `[n, in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, d) = dims2("Linear::forward", "input", x)?;
        let in_dim = self.weight.dim(1)?;
        if d != in_dim {
            return Err(ContrastiveError::shape("Linear::forward", format!("input has {d} features, layer {in_dim}")));
        }
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b.as_tensor())?,
            None => y,
        })
    }

    /// The trainable parameters with names (`weight`, `bias`) under `prefix`.
    pub fn named_vars(&self, prefix: &str) -> Vec<(String, Var)> {
        let mut v = vec![(format!("{prefix}weight"), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push((format!("{prefix}bias"), b.clone()));
        }
        v
    }
}
