//! Linear probe: multinomial logistic regression on frozen (cached) features, trained with AdamW on
//! shuffled mini-batches; features standardised with the training mean and deviation; the epoch with the
//! best validation score ([`Selection`]: accuracy by default) is kept.

use candle_core::{DType, Tensor, Var};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::report::{ClassificationReport, ValCheck};
use super::{cross_entropy, softmax_rows, Selection};
use crate::error::{Result, TrainError};
use crate::optim::{AdamW, AdamWConfig, Optimizer, ParamGroup};

/// Settings of [`linear_probe`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearProbeConfig {
    /// Passes over the training features.
    pub epochs: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay (on the weights, not the bias).
    pub weight_decay: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Seed of the mini-batch order.
    pub seed: u64,
    /// What the kept epoch is selected on.
    pub selection: Selection,
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self { epochs: 100, lr: 1e-2, weight_decay: 1e-4, batch_size: 256, seed: 0, selection: Selection::Accuracy }
    }
}

/// What [`linear_probe`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Validation accuracy after each epoch.
    pub val_accuracy: Vec<f64>,
    /// The (0-based) epoch kept.
    pub best_epoch: usize,
    /// Test metrics of the kept classifier.
    pub test: ClassificationReport,
    /// The kept classifier's test class probabilities, `[n, k]` row-major.
    pub test_probs: Vec<f64>,
}

fn standardize(x: &Tensor, mean: &Tensor, std: &Tensor) -> Result<Tensor> {
    Ok(x.to_dtype(DType::F32)?.broadcast_sub(mean)?.broadcast_div(std)?)
}

/// Trains a linear classifier on `train` features `[N, C]` and reports test metrics of the epoch with the
/// best validation accuracy (the first such epoch).
#[allow(clippy::too_many_arguments)]
pub fn linear_probe(
    train: (&Tensor, &[u32]),
    val: (&Tensor, &[u32]),
    test: (&Tensor, &[u32]),
    num_classes: usize,
    cfg: &LinearProbeConfig,
) -> Result<ProbeResult> {
    let (n, c) = train.0.dims2()?;
    if n != train.1.len() || n == 0 || cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(TrainError::InvalidArgument(format!(
            "linear probe: {n} features, {} labels, {} epochs, batch {}",
            train.1.len(),
            cfg.epochs,
            cfg.batch_size
        )));
    }
    let dev = train.0.device().clone();
    let x = train.0.to_dtype(DType::F32)?;
    let mean = x.mean_keepdim(0)?;
    let std = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?.sqrt()?.affine(1.0, 1e-6)?;
    let xs = standardize(&x, &mean, &std)?;
    let (xv, xt) = (standardize(val.0, &mean, &std)?, standardize(test.0, &mean, &std)?);
    let w = Var::zeros((c, num_classes), DType::F32, &dev)?;
    let b = Var::zeros(num_classes, DType::F32, &dev)?;
    let groups = vec![
        ParamGroup::new(vec![("weight".into(), w.clone())]),
        ParamGroup::no_decay(vec![("bias".into(), b.clone())]),
    ];
    let mut opt = AdamW::new(groups, AdamWConfig { lr: cfg.lr, weight_decay: cfg.weight_decay, ..Default::default() })?;
    let logits = |x: &Tensor| -> Result<Tensor> { Ok(x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?) };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let (mut best, mut best_epoch, mut best_wb) =
        (f64::NEG_INFINITY, 0, (w.as_detached_tensor(), b.as_detached_tensor()));
    let mut val_accuracy = Vec::with_capacity(cfg.epochs);
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(cfg.batch_size) {
            let idx: Vec<u32> = chunk.iter().map(|&i| i as u32).collect();
            let idx = Tensor::from_vec(idx, chunk.len(), &dev)?;
            let labels: Vec<u32> = chunk.iter().map(|&i| train.1[i]).collect();
            let loss = cross_entropy(&logits(&xs.index_select(&idx, 0)?)?, &labels)?;
            opt.step(&loss.backward()?)?;
        }
        let check = ValCheck::of(&softmax_rows(&logits(&xv)?)?, val.1, num_classes)?;
        val_accuracy.push(check.accuracy);
        let score = check.score(cfg.selection);
        if score > best {
            (best, best_epoch) = (score, epoch);
            best_wb = (w.as_detached_tensor().copy()?, b.as_detached_tensor().copy()?);
        }
    }
    w.set(&best_wb.0)?;
    b.set(&best_wb.1)?;
    let test_probs = softmax_rows(&logits(&xt)?)?;
    let test = ClassificationReport::from_probs(&test_probs, test.1, num_classes)?;
    Ok(ProbeResult { val_accuracy, best_epoch, test, test_probs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::Rng;

    fn blobs(n: usize, seed: u64) -> (Tensor, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let class = (i % 3) as u32;
            for d in 0..5 {
                let centre = if d as u32 == class { 2.0 } else { 0.0 };
                x.push(centre + rng.random_range(-0.8f32..0.8));
            }
            y.push(class);
        }
        (Tensor::from_vec(x, (n, 5), &Device::Cpu).unwrap(), y)
    }

    #[test]
    fn separable_blobs_are_learned_and_best_epoch_is_kept() {
        let (tr, ytr) = blobs(90, 1);
        let (va, yva) = blobs(30, 2);
        let (te, yte) = blobs(30, 3);
        let cfg = LinearProbeConfig { epochs: 30, lr: 0.05, batch_size: 16, ..Default::default() };
        let r = linear_probe((&tr, &ytr), (&va, &yva), (&te, &yte), 3, &cfg).unwrap();
        assert!(r.test.accuracy >= 0.95, "{:?}", r.test);
        let max = r.val_accuracy.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(r.val_accuracy[r.best_epoch], max);
        assert!(r.val_accuracy[..r.best_epoch].iter().all(|&a| a < max));
        let again = linear_probe((&tr, &ytr), (&va, &yva), (&te, &yte), 3, &cfg).unwrap();
        assert_eq!(again, r);
    }
}
