//! The fully connected layer of the workspace: a ResNet's classifier `fc`, and the layers of the
//! projection heads of ctssl-contrastive (which initialise their own, from a seed).

use candle_core::{Tensor, Var};

use crate::error::{BackboneError, Result};
use crate::init::linear_uniform;
use crate::ops;
use crate::params::{Builder, NamedVar, ParamKind, Parameters};

/// A fully connected layer `y = x · Wᵀ + b` for `x: [N, in]`: weight `[out, in]` and an optional bias
/// `[out]`, both [`Var`]s.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Var,
    bias: Option<Var>,
}

impl Linear {
    /// A ResNet's `fc`: weight and bias initialised as PyTorch's `nn.Linear` from the builder's seed and
    /// their names (`{prefix}.weight`, `{prefix}.bias`), and registered in its store.
    pub(crate) fn new(b: &mut Builder<'_>, prefix: &str, in_features: usize, out_features: usize) -> Result<Self> {
        let wn = format!("{prefix}.weight");
        let bn = format!("{prefix}.bias");
        let w = linear_uniform(b.seed, &wn, &[out_features, in_features], in_features, b.dtype, &b.device)?;
        let bias = linear_uniform(b.seed, &bn, &[out_features], in_features, b.dtype, &b.device)?;
        let weight = b.add(&wn, w, ParamKind::Trainable)?;
        let bias = b.add(&bn, bias, ParamKind::Trainable)?;
        Ok(Linear { weight, bias: Some(bias) })
    }

    /// A layer over the variables `weight` `[out, in]` and `bias` `[out]` (shared, not copied: training
    /// the layer updates them).
    pub fn from_vars(weight: Var, bias: Option<Var>) -> Result<Self> {
        let out = match weight.dims() {
            [out, input] if *out > 0 && *input > 0 => *out,
            dims => {
                return Err(BackboneError::InvalidConfig(format!("Linear: weight must be [out, in], got {dims:?}")))
            }
        };
        if let Some(b) = &bias {
            if b.dims() != [out] {
                return Err(BackboneError::InvalidConfig(format!("Linear: bias must be [{out}], got {:?}", b.dims())));
            }
        }
        Ok(Linear { weight, bias })
    }

    /// Weight `[out, in]`.
    pub fn weight(&self) -> &Var {
        &self.weight
    }

    /// Bias `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Var> {
        self.bias.as_ref()
    }

    /// Applies the layer to `x: [N, in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let in_features = self.weight.dim(1)?;
        match x.dims() {
            [_, d] if *d == in_features => {}
            dims => {
                return Err(BackboneError::InvalidInput(format!(
                    "Linear: input must be [N, {in_features}], got {dims:?}"
                )))
            }
        }
        ops::linear(x, self.weight.as_tensor(), self.bias.as_ref().map(Var::as_tensor))
    }
}

impl Parameters for Linear {
    /// `{prefix}weight` and, with a bias, `{prefix}bias`; both trainable.
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        let named = |name: &str, var: &Var| NamedVar {
            name: format!("{prefix}{name}"),
            var: var.clone(),
            kind: ParamKind::Trainable,
        };
        let mut v = vec![named("weight", &self.weight)];
        v.extend(self.bias.iter().map(|b| named("bias", b)));
        v
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;

    #[test]
    fn forward_with_and_without_bias_and_checked_shapes() {
        let dev = Device::Cpu;
        let w = Var::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), &dev).unwrap();
        let b = Var::from_slice(&[0.5f64, -1.0], 2, &dev).unwrap();
        let x = Tensor::from_slice(&[1.0f64, 0.0, -1.0], (1, 3), &dev).unwrap();
        let with = Linear::from_vars(w.clone(), Some(b.clone())).unwrap();
        let without = Linear::from_vars(w.clone(), None).unwrap();
        assert_eq!(with.forward(&x).unwrap().to_vec2::<f64>().unwrap(), vec![vec![-1.5, -3.0]]);
        assert_eq!(without.forward(&x).unwrap().to_vec2::<f64>().unwrap(), vec![vec![-2.0, -2.0]]);
        let names: Vec<String> = with.named_vars("0.").into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["0.weight", "0.bias"]);
        assert_eq!(without.named_vars("0.").len(), 1);
        assert!(with.forward(&Tensor::zeros((1, 2), DType::F64, &dev).unwrap()).is_err());
        assert!(Linear::from_vars(w, Some(Var::zeros(3, DType::F64, &dev).unwrap())).is_err());
        assert!(Linear::from_vars(b, None).is_err());
    }
}
