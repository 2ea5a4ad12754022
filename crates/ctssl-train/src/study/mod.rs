//! The label-fraction study's protocol, independent of which methods are compared: nested stratified
//! patient-level subsets per seed ([`subsets`]), the resumable results table ([`results`]), aggregation
//! over seeds with 95 % intervals and the robustness ranking ([`summary`]), and the report with plots
//! ([`report`]). The `study` example of the `ctssl` package composes these with the pre-training methods.

pub mod report;
pub mod results;
pub mod subsets;
pub mod summary;

pub use report::{write_report, RunFacts};
pub use results::{Protocol, ResultRow, ResultsTable, RunKey};
pub use subsets::{nested_subsets, FractionSubset, NestedSubsets, SkippedFraction};
pub use summary::{aggregate, robustness, Cell, Metric, Robustness};
