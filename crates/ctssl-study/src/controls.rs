//! The controls a study prints before it ranks anything, and the measurements behind them: the test
//! AUC's standard error by a patient-level (cluster) bootstrap, and whether a slice's position along its
//! series alone predicts the label (a shortcut the network could learn instead of the finding).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, StudyError};
use ctssl_train::eval::ClassificationReport;

/// Standard error of the test ROC-AUC of class probabilities `probs: [n, k]` under resampling of whole
/// patients (`clusters[i]`: the patient of sample `i`; slices of one patient are not independent), from
/// `reps` bootstrap draws seeded by `seed`. `None` where the AUC is undefined in too many draws.
pub fn cluster_bootstrap_auc_se(
    probs: &[f64],
    labels: &[u32],
    k: usize,
    clusters: &[String],
    reps: usize,
    seed: u64,
) -> Result<Option<f64>> {
    let n = labels.len();
    if probs.len() != n * k || clusters.len() != n || reps < 2 {
        return Err(StudyError::InvalidArgument(format!(
            "bootstrap: {} scores, {n} labels, {} clusters, {reps} draws",
            probs.len(),
            clusters.len()
        )));
    }
    let mut ids: Vec<&str> = clusters.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    let members: Vec<Vec<usize>> = ids
        .iter()
        .map(|id| clusters.iter().enumerate().filter(|(_, c)| c.as_str() == *id).map(|(i, _)| i).collect())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut aucs = Vec::with_capacity(reps);
    let (mut p, mut l) = (Vec::with_capacity(probs.len()), Vec::with_capacity(n));
    for _ in 0..reps {
        p.clear();
        l.clear();
        for _ in 0..members.len() {
            for &i in &members[rng.random_range(0..members.len())] {
                p.extend_from_slice(&probs[i * k..(i + 1) * k]);
                l.push(labels[i]);
            }
        }
        if let Some(a) = ClassificationReport::from_probs(&p, &l, k)?.roc_auc {
            aucs.push(a);
        }
    }
    if aucs.len() * 10 < reps * 9 {
        return Ok(None);
    }
    let mean = aucs.iter().sum::<f64>() / aucs.len() as f64;
    let var = aucs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (aucs.len() - 1) as f64;
    Ok(Some(var.sqrt()))
}

/// How well the position of a slice along its series alone predicts a binary label: the positive rate of
/// each of `bins` position bins is learned on the training samples, and the test samples scored by their
/// bin's rate; the test ROC-AUC of that score (0.5: position says nothing). `None` where undefined.
pub fn position_shortcut_auc(
    train_pos: &[f64],
    train_labels: &[u32],
    test_pos: &[f64],
    test_labels: &[u32],
    bins: usize,
) -> Result<Option<f64>> {
    if train_pos.len() != train_labels.len() || test_pos.len() != test_labels.len() || bins == 0 {
        return Err(StudyError::InvalidArgument("shortcut check: positions and labels differ in length".into()));
    }
    let bin = |x: f64| ((x.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
    let (mut pos, mut all) = (vec![1.0; bins], vec![2.0; bins]); // a Laplace prior of one positive in two
    for (&x, &y) in train_pos.iter().zip(train_labels) {
        all[bin(x)] += 1.0;
        pos[bin(x)] += f64::from(u8::from(y == 1));
    }
    let probs: Vec<f64> = test_pos
        .iter()
        .flat_map(|&x| {
            let r = pos[bin(x)] / all[bin(x)];
            [1.0 - r, r]
        })
        .collect();
    Ok(ClassificationReport::from_probs(&probs, test_labels, 2)?.roc_auc)
}

/// One control of a study: a row of `checks.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// `learnability`, `precision`, `pretraining_effect`, `negative_control` or `shortcut`.
    pub check: String,
    /// Task (`all` for a check over the run).
    pub task: String,
    /// Initialisation (`random`, a method, or `-`).
    pub method: String,
    /// The measured value (NaN where it could not be measured: then the check fails).
    pub value: f64,
    /// The threshold it is held to.
    pub threshold: f64,
    /// Whether it passed.
    pub passed: bool,
    /// What was measured, in words (the report prints it; the CSV leaves it out).
    pub what: String,
}

/// `checks.csv`: `check,task,method,value,threshold,passed`.
pub fn checks_csv(checks: &[CheckRow]) -> String {
    let mut s = String::from("check,task,method,value,threshold,passed\n");
    for c in checks {
        let value = if c.value.is_finite() { format!("{:.6}", c.value) } else { String::new() };
        let _ = writeln!(s, "{},{},{},{},{},{}", c.check, c.task, c.method, value, c.threshold, c.passed);
    }
    s
}

/// Writes `checks.csv` into `dir` atomically.
pub fn write_checks(dir: &Path, checks: &[CheckRow]) -> Result<PathBuf> {
    let path = dir.join("checks.csv");
    ctssl_train::checkpoint::write_bytes_atomic(&path, checks_csv(checks).as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_se_is_near_hanley_mcneil_for_independent_samples() {
        // 400 independent samples (one per patient), AUC about 0.8: Hanley–McNeil gives about 0.022
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 400;
        let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let probs: Vec<f64> = labels
            .iter()
            .flat_map(|&y| {
                let s: f64 = rng.random::<f64>() + if y == 1 { 0.45 } else { 0.0 };
                let p = s / 1.45;
                [1.0 - p, p]
            })
            .collect();
        let ids: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let auc = ClassificationReport::from_probs(&probs, &labels, 2).unwrap().roc_auc.unwrap();
        let (a, n1, n0) = (auc, 200.0, 200.0);
        let (q1, q2) = (a / (2.0 - a), 2.0 * a * a / (1.0 + a));
        let hm = ((a * (1.0 - a) + (n1 - 1.0) * (q1 - a * a) + (n0 - 1.0) * (q2 - a * a)) / (n1 * n0)).sqrt();
        let se = cluster_bootstrap_auc_se(&probs, &labels, 2, &ids, 400, 7).unwrap().unwrap();
        assert!((se / hm - 1.0).abs() < 0.2, "bootstrap {se}, Hanley-McNeil {hm}, AUC {auc}");
        // the same samples as 40 patients of 10 identical slices: the error is far larger than the
        // slice count suggests
        let clustered: Vec<String> = (0..n).map(|i| format!("p{}", i % 40)).collect();
        let idx: Vec<usize> = (0..n).map(|i| i % 40).collect();
        let p2: Vec<f64> = idx.iter().flat_map(|&j| [probs[2 * j], probs[2 * j + 1]]).collect();
        let l2: Vec<u32> = idx.iter().map(|&j| labels[j]).collect();
        let se2 = cluster_bootstrap_auc_se(&p2, &l2, 2, &clustered, 400, 7).unwrap().unwrap();
        assert!(se2 > 2.0 * se, "{se2} vs {se}");
    }

    #[test]
    fn position_shortcut_is_found_and_absent_when_labels_ignore_position() {
        let pos: Vec<f64> = (0..200).map(|i| (i % 20) as f64 / 19.0).collect();
        let by_position: Vec<u32> = pos.iter().map(|&x| u32::from(x > 0.5)).collect();
        let a = position_shortcut_auc(&pos, &by_position, &pos, &by_position, 10).unwrap().unwrap();
        assert!(a > 0.95, "{a}");
        let alternating: Vec<u32> = (0..200).map(|i| ((i / 20) % 2) as u32).collect();
        let a = position_shortcut_auc(&pos, &alternating, &pos, &alternating, 10).unwrap().unwrap();
        assert!((a - 0.5).abs() < 0.05, "{a}");
    }

    #[test]
    fn checks_csv_has_the_columns_and_empty_undefined_values() {
        let rows = vec![CheckRow {
            check: "precision".into(),
            task: "lung".into(),
            method: "random".into(),
            value: f64::NAN,
            threshold: 0.025,
            passed: false,
            what: String::new(),
        }];
        assert_eq!(checks_csv(&rows), "check,task,method,value,threshold,passed\nprecision,lung,random,,0.025,false\n");
    }
}
