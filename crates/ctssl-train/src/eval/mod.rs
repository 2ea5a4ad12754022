//! Evaluation protocols over labeled slices split by patient: full fine-tuning with the study's schedule
//! ([`finetune()`]), a linear probe on frozen pooled features ([`linear_probe()`]) and a weighted kNN
//! classifier on features ([`knn_predict`]). All are seeded and report [`ClassificationReport`]s.

mod data;
mod finetune;
mod knn;
mod lbfgs;
mod linear_probe;
mod logistic;
mod report;

pub use data::{extract_features, predict_proba, InputMapping, LabeledSet};
pub use finetune::{finetune, Augment, EpochRecord, FinetuneConfig, FinetuneResult, Selection};
pub use knn::{knn_predict, KnnConfig};
pub use linear_probe::{default_l2_grid, linear_probe, LinearProbeConfig, ProbeResult};
pub use report::{argmax_rows, ClassificationReport, ValCheck};

use candle_core::{DType, Tensor};
// The log-softmax built from candle's primitives (`x − max − log Σ exp(x − max)`), on every device; not
// `ops::log_softmax`, whose CPU kernel sums in f64 and so rounds differently: the fine-tuning and probe
// results on record were computed with this one.
use ctssl_kernels::ops::reference::log_softmax;

use crate::error::Result;

/// Mean cross-entropy of `logits: [B, K]` against `labels` (`u32` class indices), with a stable
/// log-softmax.
pub fn cross_entropy(logits: &Tensor, labels: &[u32]) -> Result<Tensor> {
    let (b, k) = logits.dims2()?;
    if labels.len() != b {
        return Err(crate::TrainError::InvalidArgument(format!("{} labels for {b} logits", labels.len())));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= k) {
        return Err(crate::TrainError::InvalidArgument(format!("label {bad} out of range for {k} classes")));
    }
    let mut one_hot = vec![0f32; b * k];
    for (i, &l) in labels.iter().enumerate() {
        one_hot[i * k + l as usize] = 1.0;
    }
    let one_hot = Tensor::from_vec(one_hot, (b, k), logits.device())?.to_dtype(logits.dtype())?;
    let logp = log_softmax(logits)?;
    Ok((logp * one_hot)?.sum_all()?.affine(-1.0 / b as f64, 0.0)?)
}

/// Row-wise softmax of `[B, K]` as row-major `f64` values.
pub fn softmax_rows(x: &Tensor) -> Result<Vec<f64>> {
    Ok(log_softmax(x)?.exp()?.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn cross_entropy_value_and_gradient() {
        let x = Var::from_slice(&[1.0f64, 2.0, 0.5, 0.0, -1.0, 3.0], (2, 3), &Device::Cpu).unwrap();
        let loss = cross_entropy(x.as_tensor(), &[1, 2]).unwrap();
        let lse = |r: &[f64]| r.iter().map(|v| v.exp()).sum::<f64>().ln();
        let want = ((lse(&[1.0, 2.0, 0.5]) - 2.0) + (lse(&[0.0, -1.0, 3.0]) - 3.0)) / 2.0;
        assert!((loss.to_scalar::<f64>().unwrap() - want).abs() < 1e-12);
        // Gradient against finite differences.
        let g = loss.backward().unwrap().get(x.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let base = x.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for i in 0..6 {
            let f = |d: f64| {
                let mut v = base.clone();
                v[i] += d;
                let t = Tensor::from_vec(v, (2, 3), &Device::Cpu).unwrap();
                cross_entropy(&t, &[1, 2]).unwrap().to_scalar::<f64>().unwrap()
            };
            let num = (f(1e-6) - f(-1e-6)) / 2e-6;
            assert!((num - g[i]).abs() < 1e-7, "{i}: {num} vs {}", g[i]);
        }
        assert!(cross_entropy(x.as_tensor(), &[3, 0]).is_err());
        let p = softmax_rows(x.as_tensor()).unwrap();
        assert!((p[0] + p[1] + p[2] - 1.0).abs() < 1e-12);
    }
}
