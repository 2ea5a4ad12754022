//! Batch norm over the visible positions only (SparK's "sparse" batch norm), in its dense-masked form.

use candle_core::{Tensor, Var};

use crate::error::{Result, SparseError};

/// Parameters of one masked batch norm, borrowed from a layer (the backbone's or the densify's).
#[derive(Debug, Clone, Copy)]
pub struct MaskedBatchNorm<'a> {
    /// Scale `[C]`.
    pub weight: &'a Tensor,
    /// Shift `[C]`.
    pub bias: &'a Tensor,
    /// Running mean `[C]`, updated in training.
    pub running_mean: &'a Var,
    /// Running variance `[C]`, updated in training (unbiased batch variance, as PyTorch).
    pub running_var: &'a Var,
    /// Weight of the batch statistic in the running average.
    pub momentum: f64,
    /// Added to the variance under the square root.
    pub eps: f64,
}

impl MaskedBatchNorm<'_> {
    /// Normalises `x: [N, C, H, W]` per channel with statistics over the positions where `mask: [N, 1, H, W]`
    /// is 1 (training) or with the running statistics (evaluation); the output is exactly zero where the
    /// mask is 0. Differentiable in `x`, `weight` and `bias`; in training the running statistics are updated
    /// from the visible positions (biased variance to normalise, unbiased in the running average).
    pub fn forward(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let dims = x.dims();
        if dims.len() != 4 || mask.dims() != [dims[0], 1, dims[2], dims[3]] {
            return Err(SparseError::InvalidInput(format!(
                "masked batch norm: x {dims:?} and mask {:?} do not match",
                mask.dims()
            )));
        }
        let c = dims[1];
        let w = self.weight.reshape((1, c, 1, 1))?;
        let b = self.bias.reshape((1, c, 1, 1))?;
        if !train {
            let mean = self.running_mean.as_tensor().reshape((1, c, 1, 1))?;
            let inv = (self.running_var.as_tensor().reshape((1, c, 1, 1))? + self.eps)?.sqrt()?.recip()?;
            let y = x.broadcast_sub(&mean)?.broadcast_mul(&inv.broadcast_mul(&w)?)?.broadcast_add(&b)?;
            return Ok(y.broadcast_mul(mask)?);
        }
        let count = mask.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        if count < 1.0 {
            return Err(SparseError::InvalidInput("masked batch norm: no visible position".into()));
        }
        let mean = (x.broadcast_mul(mask)?.sum_keepdim((0, 2, 3))? / count)?;
        let centred = x.broadcast_sub(&mean)?.broadcast_mul(mask)?;
        let var = (centred.sqr()?.sum_keepdim((0, 2, 3))? / count)?;
        let scale = (var.clone() + self.eps)?.sqrt()?.recip()?.broadcast_mul(&w)?;
        let y = centred.broadcast_mul(&scale)?.broadcast_add(&b)?.broadcast_mul(mask)?;
        let m = self.momentum;
        let unbiased = if count > 1.0 { (var.detach() * (count / (count - 1.0)))? } else { var.detach() };
        let rm = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean.detach().flatten_all()? * m)?)?;
        let rv = ((self.running_var.as_tensor() * (1.0 - m))? + (unbiased.flatten_all()? * m)?)?;
        self.running_mean.set(&rm)?;
        self.running_var.set(&rv)?;
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn statistics_come_from_visible_positions_only() {
        let dev = Device::Cpu;
        // One channel, 1×1×2×2: visible values 1 and 3, masked value 100 and 0.
        let x = Tensor::new(&[[[[1.0f64, 100.0], [3.0, 0.0]]]], &dev).unwrap();
        let mask = Tensor::new(&[[[[1.0f64, 0.0], [1.0, 0.0]]]], &dev).unwrap();
        let (w, b) = (Tensor::ones(1, DType::F64, &dev).unwrap(), Tensor::zeros(1, DType::F64, &dev).unwrap());
        let rm = Var::zeros(1, DType::F64, &dev).unwrap();
        let rv = Var::ones(1, DType::F64, &dev).unwrap();
        let bn = MaskedBatchNorm { weight: &w, bias: &b, running_mean: &rm, running_var: &rv, momentum: 0.1, eps: 0.0 };
        let y: Vec<f64> = bn.forward(&x, &mask, true).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        // mean 2, biased var 1 → (−1, 0, 1, 0).
        assert_eq!(y, vec![-1.0, 0.0, 1.0, 0.0]);
        let rm: Vec<f64> = rm.as_tensor().to_vec1().unwrap();
        let rv: Vec<f64> = rv.as_tensor().to_vec1().unwrap();
        assert!((rm[0] - 0.2).abs() < 1e-12);
        assert!((rv[0] - (0.9 + 0.1 * 2.0)).abs() < 1e-12);
    }
}
