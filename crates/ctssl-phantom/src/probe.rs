//! A difficulty probe: a simple baseline (multinomial logistic regression on windowed, downsampled
//! pixels plus an HU histogram) trained on the train + validation patients of a task and scored on
//! its test patients. It checks that a task is neither trivial nor impossible; it stands in for
//! the small ResNet until the training crates exist.

use crate::dataset::Dataset;
use crate::error::{PhantomError, Result};
use crate::plan::Split;
use crate::task::Task;

/// Side of the downsampled image used as features.
pub const PROBE_GRID: usize = 16;
/// Bins of the HU histogram used as features.
pub const PROBE_BINS: usize = 16;

/// The display window (centre, width) a task's features are computed in.
pub fn task_window(task: Task) -> (f32, f32) {
    match task {
        Task::Lung => (-600.0, 1500.0),
        Task::Organ => (40.0, 400.0),
        Task::Head => (40.0, 80.0),
    }
}

/// Features of an image: the windowed image averaged into a 16 × 16 grid, a 16-bin histogram of it, and
/// quantiles of difference-of-Gaussians (blob) responses at two scales.
pub fn features(image: &[f32], side: usize, window: (f32, f32)) -> Vec<f32> {
    let lo = window.0 - window.1 / 2.0;
    let unit = |v: f32| ((v - lo) / window.1).clamp(0.0, 1.0);
    let g = PROBE_GRID;
    let mut grid = vec![0.0f32; g * g];
    let mut count = vec![0.0f32; g * g];
    let mut hist = [0.0f32; PROBE_BINS];
    for (i, &v) in image.iter().enumerate().take(side * side) {
        let u = unit(v);
        let (r, c) = (i / side, i % side);
        let cell = (r * g / side) * g + c * g / side;
        grid[cell] += u;
        count[cell] += 1.0;
        hist[((u * PROBE_BINS as f32) as usize).min(PROBE_BINS - 1)] += 1.0;
    }
    let n = (side * side).max(1) as f32;
    grid.iter_mut().zip(&count).for_each(|(v, c)| *v /= c.max(1.0));
    grid.extend(hist.iter().map(|h| h / n));
    // Blob responses: upper quantiles of difference-of-Gaussians images at two scales.
    let unit_image: Vec<f32> = image.iter().take(side * side).map(|&v| unit(v)).collect();
    for sigma in [1.0f32, 2.5] {
        let mut fine = unit_image.clone();
        let mut coarse = unit_image.clone();
        crate::scanner::blur(&mut fine, side, sigma);
        crate::scanner::blur(&mut coarse, side, 2.0 * sigma);
        let mut dog: Vec<f32> = fine.iter().zip(&coarse).map(|(a, b)| a - b).collect();
        dog.sort_by(f32::total_cmp);
        for q in [0.5f32, 0.9, 0.97, 0.99, 0.997, 1.0] {
            let k = ((dog.len() as f32 - 1.0) * q).round() as usize;
            grid.push(dog.get(k).copied().unwrap_or(0.0));
            let k = ((dog.len() as f32 - 1.0) * (1.0 - q)).round() as usize;
            grid.push(dog.get(k).copied().unwrap_or(0.0));
        }
    }
    grid
}

/// A multinomial logistic regression (softmax) with L2 penalty, trained by full-batch gradient descent
/// with Adam on standardised features.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    /// Weights, `classes × features`.
    pub weights: Vec<f32>,
    /// Biases, one per class.
    pub bias: Vec<f32>,
    /// Feature means (standardisation).
    pub mean: Vec<f32>,
    /// Feature standard deviations (standardisation).
    pub std: Vec<f32>,
    /// Classes.
    pub classes: usize,
}

impl LogisticRegression {
    /// Fit on rows `x` (each of the same length) with labels `< classes`.
    pub fn fit(x: &[Vec<f32>], y: &[u32], classes: usize, l2: f32, epochs: usize) -> Result<LogisticRegression> {
        let d = x.first().map_or(0, |r| r.len());
        if x.is_empty()
            || x.len() != y.len()
            || x.iter().any(|r| r.len() != d)
            || y.iter().any(|&c| c as usize >= classes)
        {
            return Err(PhantomError::InvalidArgument("probe: empty or inconsistent training data".into()));
        }
        let n = x.len() as f32;
        let mut mean = vec![0.0f32; d];
        let mut std = vec![0.0f32; d];
        for r in x {
            mean.iter_mut().zip(r).for_each(|(m, v)| *m += v / n);
        }
        for r in x {
            std.iter_mut().zip(r.iter().zip(&mean)).for_each(|(s, (v, m))| *s += (v - m) * (v - m) / n);
        }
        std.iter_mut().for_each(|s| *s = s.sqrt().max(1e-6));
        let mut model =
            LogisticRegression { weights: vec![0.0; classes * d], bias: vec![0.0; classes], mean, std, classes };
        let xs: Vec<Vec<f32>> = x.iter().map(|r| model.standardise(r)).collect();
        let (mut m1, mut v1) = (vec![0.0f32; classes * (d + 1)], vec![0.0f32; classes * (d + 1)]);
        let (lr, b1, b2) = (0.05f32, 0.9f32, 0.999f32);
        for t in 1..=epochs {
            let mut grad = vec![0.0f32; classes * (d + 1)];
            for (r, &label) in xs.iter().zip(y) {
                let p = model.softmax_standardised(r);
                for k in 0..classes {
                    let e = p[k] - if k == label as usize { 1.0 } else { 0.0 };
                    let row = &mut grad[k * (d + 1)..(k + 1) * (d + 1)];
                    row.iter_mut().zip(r).for_each(|(g, v)| *g += e * v / n);
                    row[d] += e / n;
                }
            }
            for k in 0..classes {
                for j in 0..=d {
                    let idx = k * (d + 1) + j;
                    let w = if j < d { model.weights[k * d + j] } else { 0.0 };
                    let g = grad[idx] + if j < d { l2 * w } else { 0.0 };
                    m1[idx] = b1 * m1[idx] + (1.0 - b1) * g;
                    v1[idx] = b2 * v1[idx] + (1.0 - b2) * g * g;
                    let step = lr * (m1[idx] / (1.0 - b1.powi(t as i32)))
                        / ((v1[idx] / (1.0 - b2.powi(t as i32))).sqrt() + 1e-8);
                    if j < d {
                        model.weights[k * d + j] -= step;
                    } else {
                        model.bias[k] -= step;
                    }
                }
            }
        }
        Ok(model)
    }

    fn standardise(&self, r: &[f32]) -> Vec<f32> {
        r.iter().zip(self.mean.iter().zip(&self.std)).map(|(v, (m, s))| (v - m) / s).collect()
    }

    fn softmax_standardised(&self, r: &[f32]) -> Vec<f32> {
        let d = self.mean.len();
        let logits: Vec<f32> = (0..self.classes)
            .map(|k| self.bias[k] + self.weights[k * d..(k + 1) * d].iter().zip(r).map(|(w, v)| w * v).sum::<f32>())
            .collect();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let s: f32 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    /// Class probabilities of one row.
    pub fn predict(&self, row: &[f32]) -> Vec<f32> {
        self.softmax_standardised(&self.standardise(row))
    }
}

/// ROC-AUC of scores against binary labels (ties count one half); `None` without both classes.
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (np, nn) = (positive.iter().filter(|&&p| p).count(), positive.iter().filter(|&&p| !p).count());
    if np == 0 || nn == 0 {
        return None;
    }
    // Sum of the (average) ranks of the positives.
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if positive[k] {
                rank_sum += rank;
            }
        }
        i = j + 1;
    }
    Some((rank_sum - np as f64 * (np as f64 + 1.0) / 2.0) / (np as f64 * nn as f64))
}

/// What the probe measured on one task.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// Task.
    pub task: Task,
    /// Training samples (train + validation patients).
    pub train: usize,
    /// Test samples.
    pub test: usize,
    /// ROC-AUC on the test patients (macro one-vs-rest for the organ task).
    pub auc: f64,
    /// Accuracy on the test patients.
    pub accuracy: f64,
}

/// Train the probe on a task's train + validation patients and score it on its test patients.
pub fn probe_task(dataset: &Dataset, task: Task) -> Result<ProbeResult> {
    let window = task_window(task);
    let (mut xtr, mut ytr, mut xte, mut yte) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in dataset.samples(task) {
        let (img, side) = dataset.image(&s)?;
        let f = features(&img, side, window);
        if dataset.split(&s) == Some(Split::Test) {
            xte.push(f);
            yte.push(s.label);
        } else {
            xtr.push(f);
            ytr.push(s.label);
        }
    }
    let classes = task.classes();
    let model = LogisticRegression::fit(&xtr, &ytr, classes, 1e-2, 300)?;
    let probs: Vec<Vec<f32>> = xte.iter().map(|r| model.predict(r)).collect();
    let correct = probs
        .iter()
        .zip(&yte)
        .filter(|(p, &y)| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|m| m.0) == Some(y as usize))
        .count();
    let mut aucs = Vec::new();
    for k in 0..classes {
        let scores: Vec<f32> = probs.iter().map(|p| p[k]).collect();
        let pos: Vec<bool> = yte.iter().map(|&y| y as usize == k).collect();
        if let Some(a) = roc_auc(&scores, &pos) {
            aucs.push(a);
        }
        if classes == 2 {
            break; // class 0's AUC of the binary task equals 1 − class 1's; report class 1
        }
    }
    if classes == 2 {
        let scores: Vec<f32> = probs.iter().map(|p| p[1]).collect();
        let pos: Vec<bool> = yte.iter().map(|&y| y == 1).collect();
        aucs = roc_auc(&scores, &pos).into_iter().collect();
    }
    if aucs.is_empty() {
        return Err(PhantomError::InvalidArgument(format!(
            "probe: the test split of task {} lacks a class",
            task.name()
        )));
    }
    Ok(ProbeResult {
        task,
        train: xtr.len(),
        test: xte.len(),
        auc: aucs.iter().sum::<f64>() / aucs.len() as f64,
        accuracy: correct as f64 / yte.len().max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), Some(0.5));
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, true]), None);
    }

    #[test]
    fn logistic_regression_separates_separable_data() {
        let x: Vec<Vec<f32>> = (0..40).map(|i| vec![i as f32, (i % 3) as f32]).collect();
        let y: Vec<u32> = (0..40).map(|i| u32::from(i >= 20)).collect();
        let m = LogisticRegression::fit(&x, &y, 2, 1e-3, 300).unwrap();
        assert!(m.predict(&[2.0, 0.0])[0] > 0.9 && m.predict(&[38.0, 0.0])[1] > 0.9);
        assert!(LogisticRegression::fit(&x, &y[..3], 2, 0.0, 1).is_err());
    }
}
