//! SwAV's prototypes: a linear layer without bias on L2-normalised features, whose rows are re-normalised
//! every step and which is frozen (its gradient dropped) for the first iterations.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{NamedVar, ParamKind, Parameters};
use ctssl_kernels::ops::l2_normalize;

use crate::error::{ContrastiveError, Result};
use crate::linear::uniform;
use crate::tensor_ops::dims2;

/// `K` prototypes of dimension `D` (weight `[K, D]`, unit rows).
#[derive(Debug, Clone)]
pub struct Prototypes {
    weight: Var,
    freeze_iterations: usize,
}

impl Prototypes {
    /// `count` prototypes of `dim` features, initialised like `nn.Linear` from `seed` then normalised;
    /// frozen while the iteration is below `freeze_iterations` (SwAV: 313, one epoch of ImageNet at 4096).
    pub fn new(
        dim: usize,
        count: usize,
        freeze_iterations: usize,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        if dim == 0 || count == 0 {
            return Err(ContrastiveError::param("Prototypes::new", "dim and count must be positive"));
        }
        let w = uniform(seed, &[count, dim], 1.0 / (dim as f64).sqrt(), dtype, device)?;
        Ok(Self { weight: Var::from_tensor(&l2_normalize(&w)?)?, freeze_iterations })
    }

    /// The weight `[K, D]`.
    pub fn weight(&self) -> &Var {
        &self.weight
    }

    /// Scores `normalize(features) · Wᵀ` `[n, K]` (cosine similarities once the rows are normalised).
    pub fn forward(&self, features: &Tensor) -> Result<Tensor> {
        let (_, d) = dims2("Prototypes::forward", "features", features)?;
        if d != self.weight.dim(1)? {
            return Err(ContrastiveError::shape("Prototypes::forward", format!("features have {d} dims")));
        }
        Ok(l2_normalize(features)?.matmul(&self.weight.t()?)?)
    }

    /// Scores like [`Self::forward`] at training `iteration`: while frozen, the weight enters detached, so no
    /// gradient reaches the prototypes (an optimizer then skips them, as SwAV's `p.grad = None`).
    pub fn forward_at(&self, features: &Tensor, iteration: usize) -> Result<Tensor> {
        if !self.is_frozen(iteration) {
            return self.forward(features);
        }
        let (_, d) = dims2("Prototypes::forward_at", "features", features)?;
        if d != self.weight.dim(1)? {
            return Err(ContrastiveError::shape("Prototypes::forward_at", format!("features have {d} dims")));
        }
        Ok(l2_normalize(features)?.matmul(&self.weight.as_detached_tensor().t()?)?)
    }

    /// Scores of already-normalised stored features (a SwAV queue), without gradient.
    pub fn scores_detached(&self, normalized: &Tensor) -> Result<Tensor> {
        Ok(normalized.detach().matmul(&self.weight.as_tensor().detach().t()?)?)
    }

    /// Re-normalises every prototype to unit length (call before each forward pass, as SwAV does).
    pub fn normalize_prototypes(&self) -> Result<()> {
        Ok(self.weight.set(&l2_normalize(&self.weight.as_tensor().detach())?)?)
    }

    /// Whether the prototypes are frozen at `iteration` (counted from 0).
    pub fn is_frozen(&self, iteration: usize) -> bool {
        iteration < self.freeze_iterations
    }

    /// Drops the prototypes' gradient from `grads` while frozen; returns whether it did.
    pub fn drop_gradient_if_frozen(&self, grads: &mut GradStore, iteration: usize) -> bool {
        self.is_frozen(iteration) && grads.remove(self.weight.as_tensor()).is_some()
    }
}

impl Parameters for Prototypes {
    /// The trainable weight, `{prefix}weight` (`prototypes.weight` in SwAV's checkpoints).
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        vec![NamedVar { name: format!("{prefix}weight"), var: self.weight.clone(), kind: ParamKind::Trainable }]
    }
}
