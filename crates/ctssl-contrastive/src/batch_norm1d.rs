//! Batch norm over the features of `[n, c]` embeddings (`nn.BatchNorm1d`), on `ctssl_kernels`' batch norm.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{NamedVar, ParamKind, Parameters};
use ctssl_kernels::ops::{self, BatchNormParams};

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::dims2;

/// Batch norm of `[n, c]` inputs with running statistics (momentum 0.1, eps 1e-5) and optional affine
/// parameters (weight 1, bias 0 at the start).
#[derive(Debug, Clone)]
pub struct BatchNorm1d {
    weight: Option<Var>,
    bias: Option<Var>,
    running_mean: Var,
    running_var: Var,
    params: BatchNormParams,
}

impl BatchNorm1d {
    /// A new layer over `features` channels, with learnable weight and bias when `affine`.
    pub fn new(features: usize, affine: bool, dtype: DType, device: &Device) -> Result<Self> {
        if features == 0 {
            return Err(ContrastiveError::param("BatchNorm1d::new", "needs at least one feature"));
        }
        let ones = Tensor::ones(features, dtype, device)?;
        let zeros = Tensor::zeros(features, dtype, device)?;
        Ok(Self {
            weight: if affine { Some(Var::from_tensor(&ones)?) } else { None },
            bias: if affine { Some(Var::from_tensor(&zeros)?) } else { None },
            running_mean: Var::from_tensor(&zeros)?,
            running_var: Var::from_tensor(&ones)?,
            params: BatchNormParams::default(),
        })
    }

    /// The running mean `[c]` (a buffer, not trained by gradient).
    pub fn running_mean(&self) -> &Var {
        &self.running_mean
    }

    /// The running variance `[c]` (a buffer, not trained by gradient).
    pub fn running_var(&self) -> &Var {
        &self.running_var
    }

    /// Normalises `x` `[n, c]`: with batch statistics (and updates the running ones) when `train`, else
    /// with the running statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (n, c) = dims2("BatchNorm1d::forward", "input", x)?;
        let (weight, bias) = match (&self.weight, &self.bias) {
            (Some(w), Some(b)) => (w.as_tensor().clone(), b.as_tensor().clone()),
            _ => (Tensor::ones(c, x.dtype(), x.device())?, Tensor::zeros(c, x.dtype(), x.device())?),
        };
        let params = BatchNormParams { training: train, ..self.params };
        let (y, stats) = ops::batch_norm2d(
            &x.reshape((n, c, 1, 1))?,
            &weight,
            &bias,
            self.running_mean.as_tensor(),
            self.running_var.as_tensor(),
            params,
        )?;
        if let Some((mean, var)) = stats {
            self.running_mean.set(&mean.detach())?;
            self.running_var.set(&var.detach())?;
        }
        Ok(y.reshape((n, c))?)
    }
}

impl Parameters for BatchNorm1d {
    /// `weight` and `bias` (trainable; none when not affine), then the buffers `running_mean` and
    /// `running_var`, under `prefix`.
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        let named = |name: &str, var: &Var, kind| NamedVar { name: format!("{prefix}{name}"), var: var.clone(), kind };
        let mut v = Vec::with_capacity(4);
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.push(named("weight", w, ParamKind::Trainable));
            v.push(named("bias", b, ParamKind::Trainable));
        }
        v.push(named("running_mean", &self.running_mean, ParamKind::Buffer));
        v.push(named("running_var", &self.running_var, ParamKind::Buffer));
        v
    }
}
