//! Aggregation of the results table over seeds: mean ± 95 % confidence interval per task ×
//! initialisation × protocol × fraction, and the robustness ranking as labels shrink.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::results::{permille, Protocol, ResultRow};
use ctssl_train::stats::{mean_ci95, MeanCi};

/// A metric of the study's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Metric {
    /// ROC-AUC (binary or macro one-vs-rest).
    RocAuc,
    /// Accuracy.
    Accuracy,
    /// Balanced accuracy.
    BalancedAccuracy,
    /// Macro F1.
    F1Macro,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 4] = [Metric::RocAuc, Metric::Accuracy, Metric::BalancedAccuracy, Metric::F1Macro];

    /// The column name in `results.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::RocAuc => "roc_auc",
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced_accuracy",
            Metric::F1Macro => "f1_macro",
        }
    }

    /// A label for a person.
    pub fn label(self) -> &'static str {
        match self {
            Metric::RocAuc => "ROC-AUC",
            Metric::Accuracy => "accuracy",
            Metric::BalancedAccuracy => "balanced accuracy",
            Metric::F1Macro => "macro F1",
        }
    }

    /// The value of this metric in a row.
    pub fn of(self, row: &ResultRow) -> f64 {
        match self {
            Metric::RocAuc => row.roc_auc,
            Metric::Accuracy => row.accuracy,
            Metric::BalancedAccuracy => row.balanced_accuracy,
            Metric::F1Macro => row.f1_macro,
        }
    }
}

/// Mean ± CI of one metric at one point of the study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Task name.
    pub task: String,
    /// Initialisation.
    pub init: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Label fraction.
    pub fraction: f64,
    /// Mean training patients over the seeds.
    pub train_patients: f64,
    /// The metric over seeds (rows whose value is undefined are left out of it and counted in
    /// `undefined`; `None` if none is defined).
    pub value: Option<MeanCi>,
    /// Seeds whose value is undefined (NaN: an AUC on a split with one class, say).
    pub undefined: usize,
}

/// Mean ± CI of `metric` for every (task, init, protocol, fraction), sorted by task, protocol, init and
/// decreasing fraction.
pub fn aggregate(rows: &[ResultRow], metric: Metric) -> Vec<Cell> {
    let mut groups: BTreeMap<(String, Protocol, String, std::cmp::Reverse<u32>), Vec<&ResultRow>> = BTreeMap::new();
    for r in rows {
        let key = (r.task.clone(), r.protocol, r.init.clone(), std::cmp::Reverse(permille(r.fraction)));
        groups.entry(key).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|((task, protocol, init, _), rs)| {
            let values: Vec<f64> = rs.iter().map(|r| metric.of(r)).filter(|v| v.is_finite()).collect();
            Cell {
                task,
                init,
                protocol,
                fraction: rs[0].fraction,
                train_patients: rs.iter().map(|r| r.train_patients as f64).sum::<f64>() / rs.len() as f64,
                value: mean_ci95(&values).ok(),
                undefined: rs.len() - values.len(),
            }
        })
        .collect()
}

/// How one initialisation holds up as labels shrink, for one task and protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Robustness {
    /// Initialisation.
    pub init: String,
    /// Mean metric with all training labels (the largest fraction evaluated).
    pub full: f64,
    /// Mean metric at the smallest fraction evaluated for every initialisation.
    pub smallest: f64,
    /// That smallest fraction.
    pub smallest_fraction: f64,
    /// `smallest / full`: the share of the full-label score that is kept.
    pub retained: f64,
    /// Mean of the metric over all fractions evaluated for every initialisation (area under the curve
    /// with equally weighted fractions).
    pub mean_over_fractions: f64,
}

/// The robustness of each initialisation for one task and protocol, best first (by the metric at the
/// smallest common fraction, then by the mean over fractions). Only fractions evaluated for every
/// initialisation count, so the comparison is like for like.
pub fn robustness(cells: &[Cell], task: &str, protocol: Protocol) -> Vec<Robustness> {
    let mine: Vec<&Cell> = cells.iter().filter(|c| c.task == task && c.protocol == protocol).collect();
    let mut per_init: BTreeMap<&str, BTreeMap<u32, f64>> = BTreeMap::new();
    for c in &mine {
        if let Some(v) = &c.value {
            per_init.entry(c.init.as_str()).or_default().insert(permille(c.fraction), v.mean);
        }
    }
    let Some(first) = per_init.values().next() else { return Vec::new() };
    let common: Vec<u32> =
        first.keys().copied().filter(|f| per_init.values().all(|m| m.contains_key(f))).collect::<Vec<_>>();
    let (Some(&lo), Some(&hi)) = (common.first(), common.last()) else { return Vec::new() };
    let mut out: Vec<Robustness> = per_init
        .iter()
        .map(|(init, m)| {
            let full = m[&hi];
            let smallest = m[&lo];
            Robustness {
                init: init.to_string(),
                full,
                smallest,
                smallest_fraction: lo as f64 / 1000.0,
                retained: if full > 0.0 { smallest / full } else { f64::NAN },
                mean_over_fractions: common.iter().map(|f| m[f]).sum::<f64>() / common.len() as f64,
            }
        })
        .collect();
    out.sort_by(|a, b| b.smallest.total_cmp(&a.smallest).then(b.mean_over_fractions.total_cmp(&a.mean_over_fractions)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(init: &str, fraction: f64, seed: u64, auc: f64) -> ResultRow {
        crate::fixtures::row("head", init, fraction, seed, auc)
    }

    #[test]
    fn aggregates_over_seeds_with_an_interval() {
        let rows =
            vec![row("a", 1.0, 0, 0.8), row("a", 1.0, 1, 0.9), row("a", 1.0, 2, f64::NAN), row("a", 0.1, 0, 0.7)];
        let cells = aggregate(&rows, Metric::RocAuc);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].fraction, 1.0);
        let v = cells[0].value.as_ref().unwrap();
        assert_eq!(v.n, 2);
        assert!((v.mean - 0.85).abs() < 1e-12);
        // t(0.975, 1) = 12.706; std = 0.0707; half width = 12.706 · 0.0707 / √2 = 0.635.
        assert!((v.half_width.unwrap() - 0.6353).abs() < 1e-3);
        assert_eq!(cells[1].value.as_ref().unwrap().half_width, None);
    }

    #[test]
    fn robustness_ranks_by_the_smallest_common_fraction() {
        let rows = vec![
            row("steady", 1.0, 0, 0.85),
            row("steady", 0.1, 0, 0.80),
            row("steady", 0.05, 0, 0.78),
            row("fragile", 1.0, 0, 0.90),
            row("fragile", 0.1, 0, 0.70),
            row("fragile", 0.05, 0, 0.60),
            row("partial", 1.0, 0, 0.95),
            row("partial", 0.1, 0, 0.75),
        ];
        let cells = aggregate(&rows, Metric::RocAuc);
        let r = robustness(&cells, "head", Protocol::Finetune);
        // 5 % is missing for "partial": the common range is 10 %–100 %.
        assert_eq!(r[0].smallest_fraction, 0.1);
        let order: Vec<&str> = r.iter().map(|x| x.init.as_str()).collect();
        assert_eq!(order, vec!["steady", "partial", "fragile"]);
        assert!((r[0].retained - 0.80 / 0.85).abs() < 1e-12);
        assert!(robustness(&cells, "lung", Protocol::Finetune).is_empty());
    }
}
