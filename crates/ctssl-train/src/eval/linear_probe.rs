//! Linear probe: multinomial logistic regression on frozen (cached) features with an L2 penalty, fitted
//! exactly ([`Logistic`]) for each strength of a grid, strongest first, each fit starting from the last;
//! the strength with the best validation score ([`Selection`]) is kept. Features are standardised with the
//! training mean and deviation. The fit is a convex problem solved to tolerance: the same features give
//! the same probe, with no seed, learning rate or epoch count to tune.

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::lbfgs::LbfgsOptions;
use super::logistic::Logistic;
use super::report::{ClassificationReport, ValCheck};
use super::Selection;
use crate::error::{Result, TrainError};

/// Settings of [`linear_probe`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearProbeConfig {
    /// L2 strengths λ tried, in this order (strongest first lets each fit start close to its answer).
    pub l2: Vec<f64>,
    /// Most solver iterations of one fit.
    pub max_iter: usize,
    /// What the kept strength is selected on.
    pub selection: Selection,
}

/// The default grid of L2 strengths: 10, 1, 0.1, …, 10^-4 (6 strengths, a decade apart).
pub fn default_l2_grid() -> Vec<f64> {
    (0..6).map(|i| 10f64.powi(1 - i)).collect()
}

impl Default for LinearProbeConfig {
    fn default() -> Self {
        Self { l2: default_l2_grid(), max_iter: 100, selection: Selection::RocAuc }
    }
}

/// What [`linear_probe`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Validation score ([`Selection`]) of each strength of the grid.
    pub val_scores: Vec<f64>,
    /// The index in the grid of the strength kept (the first best).
    pub best: usize,
    /// The strength kept.
    pub l2: f64,
    /// Test metrics of the kept classifier.
    pub test: ClassificationReport,
    /// The kept classifier's test class probabilities, `[n, k]` row-major.
    pub test_probs: Vec<f64>,
}

/// Row-major f64 values of a `[n, c]` tensor.
fn rows(x: &Tensor) -> Result<(usize, usize, Vec<f64>)> {
    let (n, c) = x.dims2()?;
    Ok((n, c, x.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?))
}

/// Standardises `x: [n, c]` in place with per-feature `mean` and `std`.
fn standardize(x: &mut [f64], mean: &[f64], std: &[f64]) {
    for row in x.chunks_exact_mut(mean.len()) {
        row.iter_mut().zip(mean.iter().zip(std)).for_each(|(v, (m, s))| *v = (*v - m) / s);
    }
}

/// Trains a linear classifier on `train` features `[N, C]` for each L2 strength of the grid and reports
/// the test metrics of the one with the best validation score (the first such strength).
pub fn linear_probe(
    train: (&Tensor, &[u32]),
    val: (&Tensor, &[u32]),
    test: (&Tensor, &[u32]),
    num_classes: usize,
    cfg: &LinearProbeConfig,
) -> Result<ProbeResult> {
    let (n, c, mut x) = rows(train.0)?;
    let (nv, cv, mut xv) = rows(val.0)?;
    let (nt, ct, mut xt) = rows(test.0)?;
    if n != train.1.len() || n == 0 || c == 0 || nv != val.1.len() || nt != test.1.len() || cv != c || ct != c {
        return Err(TrainError::InvalidArgument(format!(
            "linear probe: {n}/{nv}/{nt} features of width {c}/{cv}/{ct}, {}/{}/{} labels",
            train.1.len(),
            val.1.len(),
            test.1.len()
        )));
    }
    if cfg.l2.is_empty() || cfg.l2.iter().any(|l| !(l.is_finite() && *l > 0.0)) || cfg.max_iter == 0 {
        return Err(TrainError::InvalidArgument(format!(
            "linear probe: L2 strengths {:?} (each > 0) and {} iterations",
            cfg.l2, cfg.max_iter
        )));
    }
    if let Some(&y) = train.1.iter().chain(val.1).chain(test.1).find(|&&y| y as usize >= num_classes) {
        return Err(TrainError::InvalidArgument(format!("linear probe: label {y} of {num_classes} classes")));
    }
    let mean: Vec<f64> = (0..c).map(|j| x.iter().skip(j).step_by(c).sum::<f64>() / n as f64).collect();
    let std: Vec<f64> = (0..c)
        .map(|j| (x.iter().skip(j).step_by(c).map(|v| (v - mean[j]).powi(2)).sum::<f64>() / n as f64).sqrt() + 1e-6)
        .collect();
    for v in [&mut x, &mut xv, &mut xt] {
        standardize(v, &mean, &std);
    }
    let opts = LbfgsOptions { max_iter: cfg.max_iter, grad_tol: 1e-5, ..LbfgsOptions::default() };
    let mut model = Logistic::zeros(c, num_classes);
    let mut kept = (f64::NEG_INFINITY, 0, model.clone());
    let mut val_scores = Vec::with_capacity(cfg.l2.len());
    for (i, &lambda) in cfg.l2.iter().enumerate() {
        model.fit(&x, train.1, lambda, &opts);
        let score = ValCheck::of(&model.probs(&xv), val.1, num_classes)?.score(cfg.selection);
        val_scores.push(score);
        if score > kept.0 {
            kept = (score, i, model.clone());
        }
    }
    let (_, best, model) = kept;
    let test_probs = model.probs(&xt);
    let test = ClassificationReport::from_probs(&test_probs, test.1, num_classes)?;
    Ok(ProbeResult { val_scores, best, l2: cfg.l2[best], test, test_probs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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
    fn separable_blobs_are_learned_and_the_first_best_strength_is_kept() {
        let (tr, ytr) = blobs(90, 1);
        let (va, yva) = blobs(30, 2);
        let (te, yte) = blobs(30, 3);
        let cfg = LinearProbeConfig { selection: Selection::Loss, ..Default::default() };
        let r = linear_probe((&tr, &ytr), (&va, &yva), (&te, &yte), 3, &cfg).unwrap();
        assert!(r.test.accuracy >= 0.95, "{:?}", r.test);
        assert_eq!(r.val_scores.len(), cfg.l2.len());
        let max = r.val_scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(r.val_scores[r.best], max);
        assert!(r.val_scores[..r.best].iter().all(|&a| a < max));
        assert_eq!(r.l2, cfg.l2[r.best]);
        // blobs this clean are best fitted with little penalty: the strongest strengths lose on loss
        assert!(r.best > 0, "{:?}", r.val_scores);
        let again = linear_probe((&tr, &ytr), (&va, &yva), (&te, &yte), 3, &cfg).unwrap();
        assert_eq!(again, r);
    }

    #[test]
    fn a_stronger_penalty_gives_smaller_weights_and_less_confident_probabilities() {
        let (tr, ytr) = blobs(60, 4);
        let (va, yva) = blobs(30, 5);
        let fit = |l2: f64| {
            let cfg = LinearProbeConfig { l2: vec![l2], ..Default::default() };
            linear_probe((&tr, &ytr), (&va, &yva), (&va, &yva), 3, &cfg).unwrap()
        };
        let confidence =
            |r: &ProbeResult| r.test_probs.chunks(3).map(|p| p.iter().cloned().fold(0.0, f64::max)).sum::<f64>();
        let (strong, weak) = (fit(10.0), fit(1e-3));
        assert!(confidence(&strong) < confidence(&weak) - 5.0, "{} vs {}", confidence(&strong), confidence(&weak));
        // λ = 10 on standardised features: the weights are small, the probabilities near uniform
        assert!(strong.test_probs.iter().all(|&p| (p - 1.0 / 3.0).abs() < 0.2), "{:?}", &strong.test_probs[..6]);
    }

    #[test]
    fn bad_settings_and_labels_are_errors() {
        let (tr, ytr) = blobs(9, 1);
        let bad = LinearProbeConfig { l2: vec![1.0, 0.0], ..Default::default() };
        assert!(linear_probe((&tr, &ytr), (&tr, &ytr), (&tr, &ytr), 3, &bad).is_err());
        assert!(linear_probe((&tr, &ytr), (&tr, &ytr), (&tr, &ytr), 2, &LinearProbeConfig::default()).is_err());
    }
}
