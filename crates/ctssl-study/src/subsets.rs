//! Nested, stratified, patient-level training subsets for the label-fraction study.
//!
//! The reference study took "the first N" images and kept the subset fixed across seeds. Here each seed
//! draws its own subsets, at the level of patients (never splitting one patient's slices), stratified
//! so every subset keeps the class mix, and nested: the 5 % subset of a seed lies inside its 10 % subset.
//!
//! Patients are grouped into strata by the set of classes their slices contain (for a binary lesion task:
//! patients with and without a lesion; for an organ task where every patient shows every organ: one
//! stratum). Each stratum's patients are shuffled once per seed; the subset at fraction `f` takes the first
//! `max(1, round(f · n))` patients of every stratum. Prefixes of one permutation are nested by construction.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StudyError};

/// One training subset of the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FractionSubset {
    /// The requested fraction of the training patients, in (0, 1].
    pub fraction: f64,
    /// Indices of the slices in the subset (ascending).
    pub indices: Vec<usize>,
    /// The patients of the subset (sorted).
    pub patients: Vec<String>,
}

/// Why a requested fraction was not evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedFraction {
    /// The requested fraction.
    pub fraction: f64,
    /// A sentence saying why.
    pub reason: String,
}

/// The subsets of one seed, largest first, and the fractions the data could not support.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedSubsets {
    /// Subsets in decreasing fraction order; each lies inside the previous one.
    pub subsets: Vec<FractionSubset>,
    /// Fractions not evaluated (no class left out is allowed; a subset equal to a larger one is skipped).
    pub skipped: Vec<SkippedFraction>,
}

/// Draws the nested stratified patient-level subsets of the training slices for one seed.
///
/// `patients[i]` and `labels[i]` describe slice `i`. Fractions must lie in (0, 1]; they are evaluated
/// in decreasing order. A fraction is skipped (with its reason) when its subset would miss a class that
/// the full training set has, or would hold exactly the patients of the next larger fraction.
pub fn nested_subsets(patients: &[String], labels: &[u32], fractions: &[f64], seed: u64) -> Result<NestedSubsets> {
    if patients.len() != labels.len() {
        return Err(StudyError::InvalidArgument(format!("{} patient IDs for {} labels", patients.len(), labels.len())));
    }
    if patients.is_empty() {
        return Err(StudyError::InvalidArgument("no training slices to draw subsets from".into()));
    }
    if let Some(bad) = fractions.iter().find(|f| !(f.is_finite() && **f > 0.0 && **f <= 1.0)) {
        return Err(StudyError::InvalidArgument(format!("label fraction {bad} is not in (0, 1]")));
    }
    let mut classes_of: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    for (p, &l) in patients.iter().zip(labels) {
        classes_of.entry(p.as_str()).or_default().insert(l);
    }
    let mut strata: BTreeMap<Vec<u32>, Vec<&str>> = BTreeMap::new();
    for (p, classes) in &classes_of {
        strata.entry(classes.iter().copied().collect()).or_default().push(p);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for members in strata.values_mut() {
        members.shuffle(&mut rng);
    }
    let all_classes: BTreeSet<u32> = labels.iter().copied().collect();

    let mut order: Vec<f64> = fractions.to_vec();
    order.sort_by(|a, b| b.total_cmp(a));
    order.dedup();
    let mut out = NestedSubsets { subsets: Vec::new(), skipped: Vec::new() };
    for fraction in order {
        let mut chosen: BTreeSet<&str> = BTreeSet::new();
        for members in strata.values() {
            let n = ((fraction * members.len() as f64).round() as usize).clamp(1, members.len());
            chosen.extend(members[..n].iter().copied());
        }
        let indices: Vec<usize> = (0..patients.len()).filter(|&i| chosen.contains(patients[i].as_str())).collect();
        let present: BTreeSet<u32> = indices.iter().map(|&i| labels[i]).collect();
        let patients_sorted: Vec<String> = chosen.iter().map(|p| p.to_string()).collect();
        if present != all_classes {
            let missing: Vec<String> = all_classes.difference(&present).map(|c| c.to_string()).collect();
            out.skipped.push(SkippedFraction {
                fraction,
                reason: format!("{} patients would leave out class(es) {}", chosen.len(), missing.join(", ")),
            });
            continue;
        }
        if let Some(prev) = out.subsets.last() {
            if prev.patients == patients_sorted {
                out.skipped.push(SkippedFraction {
                    fraction,
                    reason: format!(
                        "the same {} patients as the {:.0} % subset (too few patients to go lower)",
                        chosen.len(),
                        prev.fraction * 100.0
                    ),
                });
                continue;
            }
        }
        out.subsets.push(FractionSubset { fraction, indices, patients: patients_sorted });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40 patients, 5 slices each; patients 0..12 have a lesion on slices 1 and 2.
    fn lesion_task() -> (Vec<String>, Vec<u32>) {
        let mut p = Vec::new();
        let mut l = Vec::new();
        for pat in 0..40 {
            for s in 0..5 {
                p.push(format!("p{pat:02}"));
                l.push(u32::from(pat < 12 && (s == 1 || s == 2)));
            }
        }
        (p, l)
    }

    const FRACTIONS: [f64; 6] = [1.0, 0.5, 0.25, 0.1, 0.05, 0.01];

    #[test]
    fn subsets_are_nested_stratified_and_patient_level() {
        let (p, l) = lesion_task();
        let s = nested_subsets(&p, &l, &FRACTIONS, 7).unwrap();
        assert_eq!(s.subsets[0].indices.len(), 200);
        for pair in s.subsets.windows(2) {
            let big: BTreeSet<usize> = pair[0].indices.iter().copied().collect();
            assert!(pair[1].indices.iter().all(|i| big.contains(i)), "not nested");
            assert!(pair[1].indices.len() < pair[0].indices.len());
        }
        for sub in &s.subsets {
            // Whole patients only: every slice of a chosen patient is in.
            for pat in &sub.patients {
                let all = p.iter().filter(|q| *q == pat).count();
                let taken = sub.indices.iter().filter(|&&i| &p[i] == pat).count();
                assert_eq!(all, taken);
            }
            // Stratified: lesion patients are 12 of 40 overall, about 30 % of each subset.
            let lesion = sub.patients.iter().filter(|q| q[1..].parse::<usize>().unwrap() < 12).count();
            let expect = (sub.fraction * 12.0).round().max(1.0) as usize;
            assert_eq!(lesion, expect, "fraction {}", sub.fraction);
        }
        // 10 % = 1 + 3 patients; 5 % rounds to 1 + 1 (0.6 → 1, 1.4 → 1); 1 % = the same → skipped.
        let kept: Vec<f64> = s.subsets.iter().map(|x| x.fraction).collect();
        assert_eq!(kept, vec![1.0, 0.5, 0.25, 0.1, 0.05]);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].fraction, 0.01);
    }

    #[test]
    fn seeds_draw_different_subsets_and_the_same_seed_the_same() {
        let (p, l) = lesion_task();
        let a = nested_subsets(&p, &l, &FRACTIONS, 1).unwrap();
        let b = nested_subsets(&p, &l, &FRACTIONS, 2).unwrap();
        let c = nested_subsets(&p, &l, &FRACTIONS, 1).unwrap();
        assert_eq!(a, c);
        assert_ne!(a.subsets[2].patients, b.subsets[2].patients);
    }

    #[test]
    fn every_class_stays_present_and_bad_input_is_refused() {
        // Class 2 appears only in patient "z"; every stratum keeps at least one patient, so no class is lost.
        let p: Vec<String> = ["a", "b", "c", "z"].iter().map(|s| s.to_string()).collect();
        let l = vec![0, 1, 0, 2];
        let s = nested_subsets(&p, &l, &[1.0, 0.5], 0).unwrap();
        assert!(s.subsets.iter().all(|x| x.indices.iter().any(|&i| l[i] == 2)));
        assert!(nested_subsets(&p, &l, &[0.0], 0).is_err());
        assert!(nested_subsets(&p, &l[..3], &[1.0], 0).is_err());
    }
}
