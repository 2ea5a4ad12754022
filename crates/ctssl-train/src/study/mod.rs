//! The label-fraction study's protocol, independent of which methods are compared: nested stratified
//! patient-level subsets per seed ([`subsets`]), the resumable results table ([`results`]), aggregation
//! over seeds with 95 % intervals and the robustness ranking ([`summary`]), and the report with plots
//! ([`report`]). The `study` example of the `ctssl` package composes these with the pre-training methods.

pub mod controls;
pub mod paired;
pub mod report;
pub mod results;
pub mod subsets;
pub mod summary;

pub use controls::{checks_csv, cluster_bootstrap_auc_se, position_shortcut_auc, write_checks, CheckRow};
pub use paired::{
    compare_to_baseline, comparisons_csv, holm, paired_t, write_comparisons, Comparison, PairedTest, ALPHA,
};
pub use report::{write_report, Analysis, RunFacts};
pub use results::{permille, Protocol, ResultRow, ResultsTable, RunKey};
pub use subsets::{nested_subsets, FractionSubset, NestedSubsets, SkippedFraction};
pub use summary::{aggregate, robustness, Cell, Metric, Robustness};

/// Rows for the tests of this module.
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
