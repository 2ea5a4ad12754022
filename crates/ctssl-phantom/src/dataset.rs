//! The generator ([`Phantom`]) and an in-memory dataset ([`Dataset`]).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::PhantomConfig;
use crate::error::{PhantomError, Result};
use crate::noise::derive_seed;
use crate::patient::{Patient, PatientModel};
use crate::plan::{PatientPlan, Protocol, Role, Split};
use crate::task::{crop_slice, samples_of, Sample, Task};

/// A generator of synthetic patients: lists the patients cheaply and renders any of them on demand.
#[derive(Debug, Clone)]
pub struct Phantom {
    config: PhantomConfig,
    plans: Vec<PatientPlan>,
}

impl Phantom {
    /// A generator for a config (checked).
    pub fn new(config: PhantomConfig) -> Result<Phantom> {
        config.validate()?;
        let plans = plan_patients(&config);
        Ok(Phantom { config, plans })
    }

    /// The config.
    pub fn config(&self) -> &PhantomConfig {
        &self.config
    }

    /// Every patient's plan, in dataset order: labeled torso, labeled head, pre-training torso, pre-training head.
    pub fn plans(&self) -> &[PatientPlan] {
        &self.plans
    }

    /// Draw the model (anatomy, scanner, lesions) of patient `index`.
    pub fn model(&self, index: usize) -> Result<PatientModel> {
        let plan = self.plan(index)?;
        Ok(PatientModel::draw(plan, &self.config))
    }

    fn plan(&self, index: usize) -> Result<&PatientPlan> {
        self.plans.get(index).ok_or_else(|| {
            PhantomError::InvalidArgument(format!("patient index {index} (the dataset has {})", self.plans.len()))
        })
    }

    /// Render patient `index`: all slices (in parallel) and its samples.
    pub fn patient(&self, index: usize) -> Result<Patient> {
        let model = self.model(index)?;
        let slices =
            (0..model.slice_z.len()).into_par_iter().map(|k| model.render_slice(k)).collect::<Result<Vec<_>>>()?;
        let samples = samples_of(&model.plan, &slices, &self.config);
        Ok(Patient {
            plan: model.plan.clone(),
            scanner: model.scanner,
            female: model.female,
            lesions: model.lesion_summary(),
            slices,
            samples,
        })
    }

    /// Render every patient (in parallel) into memory.
    pub fn generate(&self) -> Result<Dataset> {
        let patients = (0..self.plans.len()).into_par_iter().map(|i| self.patient(i)).collect::<Result<Vec<_>>>()?;
        Ok(Dataset { config: self.config.clone(), patients })
    }
}

fn plan_patients(config: &PhantomConfig) -> Vec<PatientPlan> {
    let groups = [
        (Role::Labeled, Protocol::Torso, config.torso_patients, "T"),
        (Role::Labeled, Protocol::Head, config.head_patients, "H"),
        (Role::Pretrain, Protocol::Torso, config.pretrain_torso_patients, "PT"),
        (Role::Pretrain, Protocol::Head, config.pretrain_head_patients, "PH"),
    ];
    let mut plans = Vec::with_capacity(config.patient_count());
    for (g, &(role, protocol, count, prefix)) in groups.iter().enumerate() {
        let splits = if role == Role::Labeled {
            assign_splits(count, config.split, derive_seed(config.seed, &[0x5B17, g as u64]))
        } else {
            vec![]
        };
        for i in 0..count {
            plans.push(PatientPlan {
                index: plans.len(),
                id: format!("{prefix}{:04}", i + 1),
                protocol,
                role,
                split: splits.get(i).copied(),
                seed: derive_seed(config.seed, &[g as u64, i as u64]),
            });
        }
    }
    plans
}

/// Splits for `count` patients in the given proportions, shuffled by a seed.
fn assign_splits(count: usize, fractions: [f32; 3], seed: u64) -> Vec<Split> {
    let sum: f32 = fractions.iter().sum();
    let n_val = ((fractions[1] / sum) * count as f32).round() as usize;
    let n_test = (((fractions[2] / sum) * count as f32).round() as usize).min(count - n_val.min(count));
    let n_val = n_val.min(count);
    let mut splits: Vec<Split> = (0..count)
        .map(|i| {
            if i < n_val {
                Split::Validation
            } else if i < n_val + n_test {
                Split::Test
            } else {
                Split::Train
            }
        })
        .collect();
    splits.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    splits
}

/// A whole synthetic dataset in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The config that made it.
    pub config: PhantomConfig,
    /// Patients in plan order (`patients[i].plan.index == i`).
    pub patients: Vec<Patient>,
}

impl Dataset {
    /// Generate a dataset in memory (shorthand for `Phantom::new(config)?.generate()`).
    pub fn generate(config: PhantomConfig) -> Result<Dataset> {
        Phantom::new(config)?.generate()
    }

    /// The labeled samples of one task, in patient order.
    pub fn samples(&self, task: Task) -> Vec<Sample> {
        self.patients.iter().flat_map(|p| p.samples.iter().filter(|s| s.task == task).copied()).collect()
    }

    /// The image of a sample: the slice's HU, or the resampled crop for the organ task; and its side.
    pub fn image(&self, sample: &Sample) -> Result<(Vec<f32>, usize)> {
        let slice = self
            .patients
            .get(sample.patient)
            .and_then(|p| p.slices.get(sample.slice))
            .ok_or_else(|| PhantomError::InvalidArgument(format!("sample {sample:?} is not in the dataset")))?;
        Ok(match &sample.crop {
            Some(crop) => (crop_slice(slice, crop), crop.size),
            None => (slice.values.clone(), slice.size),
        })
    }

    /// The split of a sample's patient.
    pub fn split(&self, sample: &Sample) -> Option<Split> {
        self.patients.get(sample.patient).and_then(|p| p.plan.split)
    }

    /// The unlabeled pre-training pool: (patient index, slice index) of every slice of its patients.
    pub fn pretrain_slices(&self) -> Vec<(usize, usize)> {
        self.patients
            .iter()
            .filter(|p| p.plan.role == Role::Pretrain)
            .flat_map(|p| (0..p.slices.len()).map(move |k| (p.plan.index, k)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_follow_the_fractions() {
        let s = assign_splits(20, [0.7, 0.15, 0.15], 1);
        assert_eq!(s.iter().filter(|&&x| x == Split::Validation).count(), 3);
        assert_eq!(s.iter().filter(|&&x| x == Split::Test).count(), 3);
        assert_eq!(s.iter().filter(|&&x| x == Split::Train).count(), 14);
        assert_eq!(assign_splits(2, [0.0, 1.0, 1.0], 3).len(), 2);
    }
}
