//! PatientEntry-level train / validation / test split, stable under re-scans.
//!
//! Each patient is placed by a hash of (seed, Patient ID) mapped to `[0, 1)` and compared with the
//! cumulative fractions. The decision depends on nothing but that patient's ID and the seed, so
//! adding or removing other patients never moves a patient, and all of a patient's slices share
//! one split. (Files without a Patient ID share the ID `""` and therefore one split.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{IoError, Result};
use crate::hash::{fnv1a64, mix64, FNV64_OFFSET};

/// One part of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training set.
    Train,
    /// Validation set.
    Val,
    /// Test set.
    Test,
}

impl Split {
    /// The three parts, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Lower-case name: `train`, `val`, `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fractions and seed of a patient-level split (validated: non-negative, summing to 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SplitSpec", into = "SplitSpec")]
pub struct PatientSplit {
    train: f64,
    val: f64,
    test: f64,
    seed: u64,
}

/// The serialised form of [`PatientSplit`], validated on the way in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct SplitSpec {
    train: f64,
    val: f64,
    test: f64,
    seed: u64,
}

impl TryFrom<SplitSpec> for PatientSplit {
    type Error = IoError;
    fn try_from(s: SplitSpec) -> Result<Self> {
        PatientSplit::new(s.train, s.val, s.test, s.seed)
    }
}

impl From<PatientSplit> for SplitSpec {
    fn from(s: PatientSplit) -> Self {
        SplitSpec { train: s.train, val: s.val, test: s.test, seed: s.seed }
    }
}

impl PatientSplit {
    /// A split with these fractions (each in `[0, 1]`, summing to 1 within 1e-6) and seed.
    pub fn new(train: f64, val: f64, test: f64, seed: u64) -> Result<PatientSplit> {
        let all = [train, val, test];
        if all.iter().any(|f| !f.is_finite() || *f < 0.0) || ((train + val + test) - 1.0).abs() > 1e-6 {
            return Err(IoError::InvalidArgument(format!(
                "split fractions must be non-negative and sum to 1, got train {train}, val {val}, test {test}"
            )));
        }
        Ok(PatientSplit { train, val, test, seed })
    }

    /// Fractions as `[train, val, test]`.
    pub fn fractions(&self) -> [f64; 3] {
        [self.train, self.val, self.test]
    }

    /// The seed (salt) of the hash.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The part a patient belongs to.
    pub fn assign(&self, patient_id: &str) -> Split {
        let u = unit_hash(patient_id, self.seed);
        let sum = self.train + self.val + self.test;
        let train_end = self.train / sum;
        let val_end = (self.train + self.val) / sum;
        if u < train_end {
            Split::Train
        } else if u < val_end || self.test == 0.0 {
            if self.val == 0.0 {
                Split::Train
            } else {
                Split::Val
            }
        } else {
            Split::Test
        }
    }

    /// The part of every given patient.
    pub fn assign_all<'a>(&self, patient_ids: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, Split> {
        patient_ids.into_iter().map(|id| (id.to_string(), self.assign(id))).collect()
    }
}

/// A patient's stable position in `[0, 1)`: SplitMix64-finalised FNV-1a of the seed and Patient ID.
pub fn unit_hash(patient_id: &str, seed: u64) -> f64 {
    let h = fnv1a64(fnv1a64(FNV64_OFFSET, &seed.to_le_bytes()), patient_id.as_bytes());
    (mix64(h) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("PAT-{i:05}")).collect()
    }

    #[test]
    fn fractions_are_validated() -> Result<()> {
        assert!(PatientSplit::new(0.8, 0.1, 0.1, 0).is_ok());
        assert!(PatientSplit::new(0.8, 0.1, 0.2, 0).is_err());
        assert!(PatientSplit::new(1.2, -0.1, -0.1, 0).is_err());
        assert!(PatientSplit::new(f64::NAN, 0.5, 0.5, 0).is_err());
        let json = r#"{"train":0.5,"val":0.6,"test":0.0,"seed":1}"#;
        assert!(serde_json::from_str::<PatientSplit>(json).is_err());
        let ok = PatientSplit::new(0.7, 0.15, 0.15, 9)?;
        let text = serde_json::to_string(&ok).map_err(|e| IoError::InvalidArgument(e.to_string()))?;
        assert_eq!(serde_json::from_str::<PatientSplit>(&text).ok(), Some(ok));
        Ok(())
    }

    #[test]
    fn fractions_are_roughly_respected() -> Result<()> {
        let split = PatientSplit::new(0.7, 0.2, 0.1, 42)?;
        let all = ids(0..1000);
        let map = split.assign_all(all.iter().map(String::as_str));
        let count = |p: Split| map.values().filter(|s| **s == p).count();
        let (train, val, test) = (count(Split::Train), count(Split::Val), count(Split::Test));
        assert_eq!(train + val + test, 1000);
        // Binomial standard deviations are about 14, 13 and 9.5; allow four of them.
        assert!((700 - 60..=700 + 60).contains(&train), "train {train}");
        assert!((200 - 52..=200 + 52).contains(&val), "val {val}");
        assert!((100 - 38..=100 + 38).contains(&test), "test {test}");
        Ok(())
    }

    #[test]
    fn adding_or_removing_patients_moves_no_one() -> Result<()> {
        let split = PatientSplit::new(0.8, 0.1, 0.1, 7)?;
        let before = split.assign_all(ids(0..500).iter().map(String::as_str));
        let after = split.assign_all(ids(250..1500).iter().map(String::as_str));
        for (id, part) in &before {
            if let Some(now) = after.get(id) {
                assert_eq!(part, now, "{id} moved");
            }
        }
        Ok(())
    }

    #[test]
    fn the_seed_changes_the_assignment() -> Result<()> {
        let a = PatientSplit::new(0.5, 0.25, 0.25, 1)?;
        let b = PatientSplit::new(0.5, 0.25, 0.25, 2)?;
        let all = ids(0..200);
        let moved = all.iter().filter(|id| a.assign(id) != b.assign(id)).count();
        assert!(moved > 50, "only {moved} of 200 moved");
        Ok(())
    }

    #[test]
    fn empty_parts_get_no_one() -> Result<()> {
        let split = PatientSplit::new(0.9, 0.1, 0.0, 3)?;
        assert!(ids(0..2000).iter().all(|id| split.assign(id) != Split::Test));
        let split = PatientSplit::new(1.0, 0.0, 0.0, 3)?;
        assert!(ids(0..2000).iter().all(|id| split.assign(id) == Split::Train));
        let split = PatientSplit::new(0.5, 0.0, 0.5, 3)?;
        assert!(ids(0..2000).iter().all(|id| split.assign(id) != Split::Val));
        Ok(())
    }

    #[test]
    fn unit_hash_is_pinned() {
        // The value must never change between releases: splits recorded in past runs depend on it.
        let u = unit_hash("PAT-00001", 0);
        assert_eq!(u, 5317411034252328.0 / (1u64 << 53) as f64);
        assert_ne!(u, unit_hash("PAT-00001", 1));
    }
}
