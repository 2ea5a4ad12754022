//! Classification metrics: accuracy, balanced accuracy, ROC-AUC, F1, confusion matrix.
//!
//! Labels are class indices `0..n_classes`; predictions are class indices too, except for ROC-AUC
//! which takes scores. Conventions (they follow scikit-learn unless stated):
//! - the confusion matrix has true classes as rows and predicted classes as columns;
//! - balanced accuracy is the mean recall over the classes present in the targets;
//! - macro F1 averages `2TP / (2TP + FP + FN)` over the classes present in the targets or the predictions
//!   (a class predicted but never true counts with F1 = 0); micro F1 pools TP, FP and FN over classes;
//! - ROC-AUC is the Mann–Whitney statistic with ties given average ranks (a tie between a positive and a
//!   negative counts one half). It is undefined when only one class is present: the binary function returns
//!   `Ok(None)`, never NaN. The one-vs-rest macro average skips classes for which the one-vs-rest problem is
//!   undefined (absent from the targets, or the only class present), reports them as `None` per class, and
//!   averages the others; scikit-learn raises an error instead.

use crate::error::{Result, TrainError};

fn check_labels(pred: &[usize], target: &[usize], n_classes: usize) -> Result<()> {
    if pred.len() != target.len() {
        return Err(TrainError::InvalidArgument(format!("{} predictions for {} targets", pred.len(), target.len())));
    }
    if pred.is_empty() {
        return Err(TrainError::InvalidArgument("no samples".into()));
    }
    if let Some(&bad) = pred.iter().chain(target).find(|&&c| c >= n_classes) {
        return Err(TrainError::InvalidArgument(format!("label {bad} out of range for {n_classes} classes")));
    }
    Ok(())
}

/// Confusion matrix `m[true][predicted]` (counts) for `n_classes` classes.
pub fn confusion_matrix(pred: &[usize], target: &[usize], n_classes: usize) -> Result<Vec<Vec<u64>>> {
    check_labels(pred, target, n_classes)?;
    let mut m = vec![vec![0u64; n_classes]; n_classes];
    for (&p, &t) in pred.iter().zip(target) {
        m[t][p] += 1;
    }
    Ok(m)
}

/// Fraction of predictions equal to the target.
pub fn accuracy(pred: &[usize], target: &[usize]) -> Result<f64> {
    let n_classes = pred.iter().chain(target).max().map_or(0, |m| m + 1);
    check_labels(pred, target, n_classes)?;
    let correct = pred.iter().zip(target).filter(|(p, t)| p == t).count();
    Ok(correct as f64 / pred.len() as f64)
}

/// Mean over the classes present in `target` of the per-class recall.
pub fn balanced_accuracy(pred: &[usize], target: &[usize], n_classes: usize) -> Result<f64> {
    let m = confusion_matrix(pred, target, n_classes)?;
    let recalls: Vec<f64> = m
        .iter()
        .enumerate()
        .filter_map(|(c, row)| {
            let support: u64 = row.iter().sum();
            (support > 0).then(|| row[c] as f64 / support as f64)
        })
        .collect();
    Ok(recalls.iter().sum::<f64>() / recalls.len() as f64)
}

/// Per-class (TP, FP, FN) counts from a confusion matrix.
fn tp_fp_fn(m: &[Vec<u64>]) -> Vec<(u64, u64, u64)> {
    (0..m.len())
        .map(|c| {
            let tp = m[c][c];
            let fn_ = m[c].iter().sum::<u64>() - tp;
            let fp = m.iter().map(|row| row[c]).sum::<u64>() - tp;
            (tp, fp, fn_)
        })
        .collect()
}

/// Macro F1: mean of per-class F1 over the classes that occur in the targets or the predictions.
pub fn f1_macro(pred: &[usize], target: &[usize], n_classes: usize) -> Result<f64> {
    let m = confusion_matrix(pred, target, n_classes)?;
    let f1s: Vec<f64> = tp_fp_fn(&m)
        .into_iter()
        .filter(|&(tp, fp, fn_)| tp + fp + fn_ > 0)
        .map(|(tp, fp, fn_)| 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64)
        .collect();
    Ok(f1s.iter().sum::<f64>() / f1s.len() as f64)
}

/// Micro F1: F1 of the TP, FP and FN counts pooled over classes (equals accuracy for single-label data).
pub fn f1_micro(pred: &[usize], target: &[usize], n_classes: usize) -> Result<f64> {
    let m = confusion_matrix(pred, target, n_classes)?;
    let (tp, fp, fn_) = tp_fp_fn(&m).into_iter().fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    Ok(2.0 * tp as f64 / (2 * tp + fp + fn_) as f64)
}

/// Average ranks (1-based) of `scores`, ties sharing the mean of the ranks they span.
fn average_ranks(scores: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1; their mean is (i + j)/2 + 1.
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// Binary ROC-AUC of `scores` (higher = more positive) against `positive` labels.
///
/// Returns `Ok(None)` when the labels hold only one class (the AUC is undefined), and an error for
/// mismatched lengths, no samples or a non-finite score.
pub fn roc_auc_binary(scores: &[f64], positive: &[bool]) -> Result<Option<f64>> {
    if scores.len() != positive.len() {
        return Err(TrainError::InvalidArgument(format!("{} scores for {} labels", scores.len(), positive.len())));
    }
    if scores.is_empty() {
        return Err(TrainError::InvalidArgument("no samples".into()));
    }
    if let Some(bad) = scores.iter().find(|s| !s.is_finite()) {
        return Err(TrainError::InvalidArgument(format!("non-finite score {bad}")));
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Ok(None);
    }
    let ranks = average_ranks(scores);
    let rank_sum: f64 = ranks.iter().zip(positive).filter(|(_, &p)| p).map(|(r, _)| r).sum();
    let u = rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Ok(Some(u / (n_pos as f64 * n_neg as f64)))
}

/// One-vs-rest ROC-AUC for several classes: per class, and their macro average.
#[derive(Debug, Clone, PartialEq)]
pub struct OvrAuc {
    /// AUC of class `c` against the rest; `None` where undefined (class absent, or the only one present).
    pub per_class: Vec<Option<f64>>,
    /// Mean of the defined per-class values; `None` if no class is defined.
    pub macro_avg: Option<f64>,
}

/// Macro one-vs-rest ROC-AUC. `scores` is row-major `[n_samples, n_classes]` (probabilities or logits).
pub fn roc_auc_ovr(scores: &[f64], target: &[usize], n_classes: usize) -> Result<OvrAuc> {
    if n_classes == 0 || scores.len() != target.len() * n_classes {
        return Err(TrainError::InvalidArgument(format!(
            "{} scores for {} samples x {n_classes} classes",
            scores.len(),
            target.len()
        )));
    }
    if let Some(&bad) = target.iter().find(|&&t| t >= n_classes) {
        return Err(TrainError::InvalidArgument(format!("label {bad} out of range for {n_classes} classes")));
    }
    let mut per_class = Vec::with_capacity(n_classes);
    for c in 0..n_classes {
        let col: Vec<f64> = scores.iter().skip(c).step_by(n_classes).copied().collect();
        let pos: Vec<bool> = target.iter().map(|&t| t == c).collect();
        per_class.push(roc_auc_binary(&col, &pos)?);
    }
    let defined: Vec<f64> = per_class.iter().flatten().copied().collect();
    let macro_avg = (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64);
    Ok(OvrAuc { per_class, macro_avg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn confusion_and_accuracy_hand_case() {
        // targets 0 0 1 1 2 2, predictions 0 1 1 1 2 0
        let t = [0, 0, 1, 1, 2, 2];
        let p = [0, 1, 1, 1, 2, 0];
        let m = confusion_matrix(&p, &t, 3).unwrap();
        assert_eq!(m, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
        assert!(close(accuracy(&p, &t).unwrap(), 4.0 / 6.0));
        // recalls 1/2, 1, 1/2
        assert!(close(balanced_accuracy(&p, &t, 3).unwrap(), 2.0 / 3.0));
        // F1: class0 tp1 fp1 fn1 -> 2/4; class1 tp2 fp1 fn0 -> 4/5; class2 tp1 fp0 fn1 -> 2/3
        assert!(close(f1_macro(&p, &t, 3).unwrap(), (0.5 + 0.8 + 2.0 / 3.0) / 3.0));
        assert!(close(f1_micro(&p, &t, 3).unwrap(), 4.0 / 6.0));
    }

    #[test]
    fn balanced_accuracy_ignores_absent_class_and_f1_counts_spurious_one() {
        // class 2 never true but predicted once.
        let t = [0, 0, 0, 1];
        let p = [0, 0, 2, 1];
        assert!(close(balanced_accuracy(&p, &t, 3).unwrap(), (2.0 / 3.0 + 1.0) / 2.0));
        // F1: c0 tp2 fp0 fn1 -> 4/5; c1 -> 1; c2 tp0 fp1 -> 0
        assert!(close(f1_macro(&p, &t, 3).unwrap(), (0.8 + 1.0 + 0.0) / 3.0));
    }

    #[test]
    fn label_errors() {
        assert!(confusion_matrix(&[0, 3], &[0, 1], 3).is_err());
        assert!(accuracy(&[0], &[0, 1]).is_err());
        assert!(accuracy(&[], &[]).is_err());
    }

    #[test]
    fn auc_hand_case_and_ties() {
        // positives 0.8, 0.4 ; negatives 0.6, 0.2 : pairs (0.8>0.6)(0.8>0.2)(0.4<0.6)(0.4>0.2) = 3/4
        let auc = roc_auc_binary(&[0.8, 0.6, 0.4, 0.2], &[true, false, true, false]).unwrap().unwrap();
        assert!(close(auc, 0.75));
        // tie: positive 0.5, negatives 0.5 and 0.1 -> (0.5 + 1)/2
        let auc = roc_auc_binary(&[0.5, 0.5, 0.1], &[true, false, false]).unwrap().unwrap();
        assert!(close(auc, 0.75));
        // all tied -> 0.5
        let auc = roc_auc_binary(&[1.0; 4], &[true, false, true, false]).unwrap().unwrap();
        assert!(close(auc, 0.5));
    }

    #[test]
    fn auc_perfect_inverted_and_undefined() {
        let s = [0.1, 0.2, 0.3, 0.9];
        let y = [false, false, true, true];
        assert_eq!(roc_auc_binary(&s, &y).unwrap(), Some(1.0));
        let inv: Vec<bool> = y.iter().map(|b| !b).collect();
        assert_eq!(roc_auc_binary(&s, &inv).unwrap(), Some(0.0));
        assert_eq!(roc_auc_binary(&s, &[true; 4]).unwrap(), None);
        assert_eq!(roc_auc_binary(&s, &[false; 4]).unwrap(), None);
        assert!(roc_auc_binary(&[f64::NAN, 0.0], &[true, false]).is_err());
        assert!(roc_auc_binary(&[0.0], &[true, false]).is_err());
    }

    #[test]
    fn auc_ovr_skips_absent_class() {
        // 3 classes, class 2 absent from targets.
        let scores = [
            0.7, 0.2, 0.1, //
            0.6, 0.3, 0.1, //
            0.2, 0.7, 0.1, //
            0.5, 0.4, 0.1,
        ];
        let t = [0, 0, 1, 1];
        let r = roc_auc_ovr(&scores, &t, 3).unwrap();
        // class 0: positives 0.7, 0.6 vs negatives 0.2, 0.5 -> 1
        // class 1: positives 0.7, 0.4 vs negatives 0.2, 0.3 -> 1
        assert_eq!(r.per_class, vec![Some(1.0), Some(1.0), None]);
        assert_eq!(r.macro_avg, Some(1.0));
        // only one class present: nothing defined
        let r = roc_auc_ovr(&scores, &[0, 0, 0, 0], 3).unwrap();
        assert_eq!(r.macro_avg, None);
    }

    #[test]
    fn auc_ovr_two_classes_matches_binary() {
        let scores = [0.9, 0.1, 0.4, 0.6, 0.35, 0.65, 0.2, 0.8];
        let t = [0, 1, 0, 1];
        let r = roc_auc_ovr(&scores, &t, 2).unwrap();
        let b = roc_auc_binary(&[0.1, 0.6, 0.65, 0.8], &[false, true, false, true]).unwrap().unwrap();
        assert!(close(r.per_class[1].unwrap(), b));
        assert!(close(r.per_class[0].unwrap(), b));
        assert!(close(b, 0.75));
    }
}
