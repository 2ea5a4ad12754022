//! Test metrics of a classifier from its class probabilities.

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::metrics::{accuracy, balanced_accuracy, confusion_matrix, f1_macro, f1_micro, roc_auc_binary, roc_auc_ovr};

/// Accuracy, balanced accuracy, ROC-AUC, F1 and the confusion matrix of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport {
    /// Number of samples.
    pub n: usize,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Mean per-class recall.
    pub balanced_accuracy: f64,
    /// Binary AUC of class 1 (two classes) or macro one-vs-rest AUC; `None` where undefined.
    pub roc_auc: Option<f64>,
    /// Macro F1.
    pub f1_macro: f64,
    /// Micro F1.
    pub f1_micro: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

/// A validation check: accuracy, ROC-AUC and mean cross-entropy of class probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValCheck {
    /// Accuracy.
    pub accuracy: f64,
    /// ROC-AUC (`None` where undefined).
    pub roc_auc: Option<f64>,
    /// Mean cross-entropy of the true class.
    pub loss: f64,
}

impl ValCheck {
    /// The check of probabilities `probs: [n, k]` against `labels`.
    pub fn of(probs: &[f64], labels: &[u32], k: usize) -> Result<Self> {
        let report = ClassificationReport::from_probs(probs, labels, k)?;
        let loss = probs.chunks(k).zip(labels).map(|(p, &y)| -(p[y as usize].max(1e-12)).ln()).sum::<f64>()
            / labels.len().max(1) as f64;
        Ok(ValCheck { accuracy: report.accuracy, roc_auc: report.roc_auc, loss })
    }

    /// The score to maximise under `selection` (ROC-AUC falls back to the loss where undefined).
    pub fn score(&self, selection: super::Selection) -> f64 {
        match selection {
            super::Selection::Accuracy => self.accuracy,
            super::Selection::RocAuc => self.roc_auc.unwrap_or(-self.loss),
            super::Selection::Loss => -self.loss,
        }
    }
}

/// The index of the largest value of each row of row-major `[n, k]` values (the first on ties).
pub fn argmax_rows(values: &[f64], k: usize) -> Vec<usize> {
    values
        .chunks(k.max(1))
        .map(|r| r.iter().enumerate().fold(0, |best, (i, &v)| if v > r[best] { i } else { best }))
        .collect()
}

impl ClassificationReport {
    /// The report of probabilities (or scores) `probs: [n, k]` row-major against `labels`.
    pub fn from_probs(probs: &[f64], labels: &[u32], k: usize) -> Result<Self> {
        if k == 0 || probs.len() != labels.len() * k {
            return Err(TrainError::InvalidArgument(format!(
                "{} scores for {} labels x {k}",
                probs.len(),
                labels.len()
            )));
        }
        let target: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let pred = argmax_rows(probs, k);
        let roc_auc = if k == 2 {
            let s: Vec<f64> = probs.chunks(2).map(|r| r[1]).collect();
            let pos: Vec<bool> = target.iter().map(|&t| t == 1).collect();
            roc_auc_binary(&s, &pos)?
        } else {
            roc_auc_ovr(probs, &target, k)?.macro_avg
        };
        Ok(Self {
            n: labels.len(),
            accuracy: accuracy(&pred, &target)?,
            balanced_accuracy: balanced_accuracy(&pred, &target, k)?,
            roc_auc,
            f1_macro: f1_macro(&pred, &target, k)?,
            f1_micro: f1_micro(&pred, &target, k)?,
            confusion: confusion_matrix(&pred, &target, k)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_report_by_hand() {
        // scores of class 1: 0.9 0.4 0.6 0.2; labels 1 1 0 0 → predictions 1 0 1 0.
        let p = [0.1, 0.9, 0.6, 0.4, 0.4, 0.6, 0.8, 0.2];
        let r = ClassificationReport::from_probs(&p, &[1, 1, 0, 0], 2).unwrap();
        assert_eq!(r.accuracy, 0.5);
        assert_eq!(r.confusion, vec![vec![1, 1], vec![1, 1]]);
        // Pairs (pos, neg): (0.9,0.6) (0.9,0.2) (0.4,0.6) (0.4,0.2) → 3 of 4.
        assert_eq!(r.roc_auc, Some(0.75));
        assert_eq!(argmax_rows(&[1.0, 1.0, 0.0, 2.0], 2), vec![0, 1]);
        assert!(ClassificationReport::from_probs(&p, &[1, 1, 0], 2).is_err());
    }
}
