//! The label-fraction study's protocol, independent of which methods are compared: nested stratified
//! patient-level subsets per seed ([`subsets`]), the resumable results table ([`results`]), aggregation
//! over seeds with 95 % intervals and the robustness ranking ([`summary`]), paired comparisons with a
//! baseline and Holm's correction ([`paired`]), the controls ([`controls`]), and the report
//! ([`report`]) with its plots ([`plot`], text drawn with an embedded font). The `study` example of the
//! `ctssl` package composes these with the pre-training methods.
//!
//! The crate sits above the training core (`ctssl-train`: evaluation reports, statistics, atomic writes)
//! and knows no pre-training method.
//!
//! ```
//! use ctssl_study::{aggregate, nested_subsets, Metric, Protocol, ResultRow};
//!
//! # fn main() -> ctssl_study::Result<()> {
//! // Slices of four patients, two with a lesion (label 1) and two without.
//! let patients: Vec<String> = ["a", "a", "b", "c", "d"].iter().map(|p| p.to_string()).collect();
//! let labels = [1, 1, 0, 1, 0];
//! let drawn = nested_subsets(&patients, &labels, &[1.0, 0.5], 7)?;
//! assert_eq!(drawn.subsets[0].patients.len(), 4);
//! assert_eq!(drawn.subsets[1].patients.len(), 2); // one patient of each stratum
//!
//! let row = |seed, auc| ResultRow {
//!     task: "lung".into(), init: "random".into(), protocol: Protocol::Finetune, fraction: 0.5, seed,
//!     train_patients: 2, train_slices: 3, test_slices: 10, roc_auc: auc, accuracy: 0.7,
//!     balanced_accuracy: 0.7, f1_macro: 0.6, roc_auc_se: 0.05, best_epoch: 3, seconds: 1.0,
//! };
//! let cells = aggregate(&[row(0, 0.80), row(1, 0.84)], Metric::RocAuc);
//! assert!((cells[0].value.as_ref().unwrap().mean - 0.82).abs() < 1e-12);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod controls;
pub mod error;
pub mod paired;
pub mod plot;
pub mod report;
pub mod results;
pub mod subsets;
pub mod summary;

pub use controls::{checks_csv, cluster_bootstrap_auc_se, position_shortcut_auc, write_checks, CheckRow};
pub use error::{Result, StudyError};
pub use paired::{
    compare_to_baseline, comparisons_csv, holm, paired_t, write_comparisons, Comparison, PairedTest, ALPHA,
};
pub use plot::{LineChart, Point, Series};
pub use report::{write_report, Analysis, RunFacts};
pub use results::{permille, Protocol, ResultRow, ResultsTable, RunKey};
pub use subsets::{nested_subsets, FractionSubset, NestedSubsets, SkippedFraction};
pub use summary::{aggregate, robustness, Cell, Metric, Robustness};

/// Rows for the tests of this crate.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{Protocol, ResultRow};

    /// A fine-tuning row of `task` / `init` at `fraction` and `seed` with ROC-AUC `auc` (accuracy and
    /// balanced accuracy 0.1 lower, F1 0.2 lower, 40 patients at 100 %).
    pub fn row(task: &str, init: &str, fraction: f64, seed: u64, auc: f64) -> ResultRow {
        ResultRow {
            task: task.into(),
            init: init.into(),
            protocol: Protocol::Finetune,
            fraction,
            seed,
            train_patients: (fraction * 40.0).round().max(1.0) as usize,
            train_slices: 100,
            test_slices: 30,
            roc_auc: auc,
            accuracy: auc - 0.1,
            balanced_accuracy: auc - 0.1,
            f1_macro: auc - 0.2,
            roc_auc_se: 0.02,
            best_epoch: 1,
            seconds: 1.0,
        }
    }
}
