//! The study's results table: one row per task × initialisation × protocol × fraction × seed, kept as
//! `results.csv` in the run folder and rewritten atomically after every finished evaluation, so a stopped
//! study resumes without redoing what is done.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StudyError};

/// How an initialisation was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Whole network trained.
    Finetune,
    /// Logistic regression on frozen pooled features.
    LinearProbe,
    /// Weighted k-nearest neighbours on the same frozen features (no training at all).
    Knn,
}

impl Protocol {
    /// `finetune` or `linear_probe`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Finetune => "finetune",
            Protocol::LinearProbe => "linear_probe",
            Protocol::Knn => "knn",
        }
    }

    /// The protocol of a name written by [`Protocol::name`].
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "finetune" => Ok(Protocol::Finetune),
            "linear_probe" => Ok(Protocol::LinearProbe),
            "knn" => Ok(Protocol::Knn),
            other => Err(StudyError::InvalidArgument(format!("unknown protocol `{other}`"))),
        }
    }
}

/// The identity of one evaluation run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunKey {
    /// Task name (`lung`, `organ`, `head`, or a user's).
    pub task: String,
    /// Initialisation: a method name (`spark`, `simclr`...) or `random`.
    pub init: String,
    /// Evaluation protocol.
    pub protocol: Protocol,
    /// Label fraction in per mille (exact key for the float fraction).
    pub fraction_permille: u32,
    /// The seed of the subset and of the fine-tuning.
    pub seed: u64,
}

/// One finished evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Task name.
    pub task: String,
    /// Initialisation (`random` or a pre-training method).
    pub init: String,
    /// Evaluation protocol.
    pub protocol: Protocol,
    /// Fraction of the training patients.
    pub fraction: f64,
    /// Seed of the subset and of the training.
    pub seed: u64,
    /// Training patients in the subset.
    pub train_patients: usize,
    /// Training slices in the subset.
    pub train_slices: usize,
    /// Test slices.
    pub test_slices: usize,
    /// Test ROC-AUC (binary, or macro one-vs-rest); NaN where undefined.
    pub roc_auc: f64,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test balanced accuracy.
    pub balanced_accuracy: f64,
    /// Test macro F1.
    pub f1_macro: f64,
    /// Standard error of the test ROC-AUC by a patient-level bootstrap (NaN where undefined).
    pub roc_auc_se: f64,
    /// The check kept on validation (fine-tuning: optimizer steps done; linear probe: the index of the L2
    /// strength kept in its grid; kNN: 0).
    pub best_epoch: usize,
    /// Wall time of this evaluation in seconds.
    pub seconds: f64,
}

const HEADER: &str = "task,init,protocol,fraction,seed,train_patients,train_slices,test_slices,roc_auc,accuracy,\
balanced_accuracy,f1_macro,roc_auc_se,best_epoch,seconds";

/// The fraction as an exact per-mille key.
pub fn permille(fraction: f64) -> u32 {
    (fraction * 1000.0).round() as u32
}

impl ResultRow {
    /// The run this row answers.
    pub fn key(&self) -> RunKey {
        RunKey {
            task: self.task.clone(),
            init: self.init.clone(),
            protocol: self.protocol,
            fraction_permille: permille(self.fraction),
            seed: self.seed,
        }
    }

    fn to_csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3}",
            self.task,
            self.init,
            self.protocol.name(),
            self.fraction,
            self.seed,
            self.train_patients,
            self.train_slices,
            self.test_slices,
            self.roc_auc,
            self.accuracy,
            self.balanced_accuracy,
            self.f1_macro,
            self.roc_auc_se,
            self.best_epoch,
            self.seconds
        )
    }

    fn from_csv(line: &str, line_no: usize) -> Result<Self> {
        let f: Vec<&str> = line.split(',').collect();
        let bad =
            |what: &str| StudyError::InvalidArgument(format!("results.csv line {line_no}: bad {what} in `{line}`"));
        if f.len() != 15 {
            return Err(bad("number of fields"));
        }
        let num = |i: usize, what: &str| f[i].trim().parse::<f64>().map_err(|_| bad(what));
        let int = |i: usize, what: &str| f[i].trim().parse::<u64>().map_err(|_| bad(what));
        Ok(ResultRow {
            task: f[0].to_string(),
            init: f[1].to_string(),
            protocol: Protocol::from_name(f[2]).map_err(|_| bad("protocol"))?,
            fraction: num(3, "fraction")?,
            seed: int(4, "seed")?,
            train_patients: int(5, "train_patients")? as usize,
            train_slices: int(6, "train_slices")? as usize,
            test_slices: int(7, "test_slices")? as usize,
            roc_auc: num(8, "roc_auc")?,
            accuracy: num(9, "accuracy")?,
            balanced_accuracy: num(10, "balanced_accuracy")?,
            f1_macro: num(11, "f1_macro")?,
            roc_auc_se: num(12, "roc_auc_se")?,
            best_epoch: int(13, "best_epoch")? as usize,
            seconds: num(14, "seconds")?,
        })
    }
}

/// All rows of a study, in the order they finished.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultsTable {
    /// The rows.
    pub rows: Vec<ResultRow>,
}

impl ResultsTable {
    /// Reads `results.csv`; a missing file is an empty table (a new study).
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(StudyError::Io { path: path.to_path_buf(), source: e }),
        };
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        match lines.next() {
            None => return Ok(Self::default()),
            Some((_, h)) if h.trim() == HEADER => {}
            Some(_) => {
                return Err(StudyError::InvalidArgument(format!(
                    "{} does not start with the study's header `{HEADER}`",
                    path.display()
                )))
            }
        }
        let rows = lines.map(|(i, l)| ResultRow::from_csv(l, i + 1)).collect::<Result<Vec<_>>>()?;
        Ok(Self { rows })
    }

    /// Writes the whole table atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = String::with_capacity(64 * (self.rows.len() + 1));
        let _ = writeln!(text, "{HEADER}");
        for r in &self.rows {
            let _ = writeln!(text, "{}", r.to_csv());
        }
        Ok(ctssl_train::checkpoint::write_bytes_atomic(path, text.as_bytes())?)
    }

    /// The runs already done.
    pub fn done(&self) -> BTreeSet<RunKey> {
        self.rows.iter().map(ResultRow::key).collect()
    }

    /// Adds a row, replacing an earlier row of the same run.
    pub fn push(&mut self, row: ResultRow) {
        let key = row.key();
        self.rows.retain(|r| r.key() != key);
        self.rows.push(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(init: &str, fraction: f64, seed: u64, auc: f64) -> ResultRow {
        crate::fixtures::row("lung", init, fraction, seed, auc)
    }

    #[test]
    fn csv_round_trip_keeps_every_field_and_nan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        assert!(ResultsTable::load(&path).unwrap().rows.is_empty());
        let mut t = ResultsTable::default();
        t.push(row("spark", 0.05, 1, 0.8125));
        t.push(row("random", 1.0, 2, f64::NAN));
        t.save(&path).unwrap();
        let back = ResultsTable::load(&path).unwrap();
        assert_eq!(back.rows.len(), 2);
        assert_eq!(back.rows[0], t.rows[0]);
        assert!(back.rows[1].roc_auc.is_nan());
        assert_eq!(back.done().len(), 2);
    }

    #[test]
    fn push_replaces_the_same_run_and_bad_files_are_refused() {
        let mut t = ResultsTable::default();
        t.push(row("spark", 0.05, 1, 0.5));
        t.push(row("spark", 0.05, 1, 0.6));
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].roc_auc, 0.6);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        assert!(ResultsTable::load(&path).is_err());
        std::fs::write(&path, format!("{HEADER}\nlung,spark,finetune,x,1,1,1,1,1,1,1,1,1,1,1\n")).unwrap();
        let err = ResultsTable::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("fraction"), "{err}");
    }
}
