//! Labeled slices (HU images, labels, patient IDs), patient-level splits, and batched inference.

use candle_core::{DType, Tensor};
use ctssl_augment::{InMemorySlices, Loader, LoaderConfig, Recipe, Sampling, Standardize, WindowStep};
use ctssl_backbones::ResNet;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::softmax_rows;
use crate::error::{Result, TrainError};

/// How HU become the network's input channels: the base window(s) and an optional standardisation.
/// Fine-tuning and evaluation apply it to their recipes; a study applies the same one to its
/// pre-training recipes, so a pre-trained encoder sees the same kind of input when it is fine-tuned.
#[derive(Debug, Clone, PartialEq)]
pub struct InputMapping {
    /// The base window(s): per-slice min–max (the reference study), a fixed window, or several windows
    /// stacked as channels.
    pub window: WindowStep,
    /// Standardisation after windowing.
    pub standardize: Option<Standardize>,
}

impl Default for InputMapping {
    /// Per-slice min–max scaling, no standardisation: the reference study's input.
    fn default() -> Self {
        InputMapping { window: WindowStep::MinMax, standardize: None }
    }
}

impl InputMapping {
    /// Number of input channels it makes from a 1-channel HU slice.
    pub fn channels(&self) -> usize {
        self.window.channels(1)
    }

    /// `recipe` with this base window and standardisation on every view.
    pub fn apply(&self, recipe: Recipe) -> Recipe {
        let r = recipe.with_window(self.window.clone());
        match &self.standardize {
            Some(s) => r.with_standardize(s.clone()),
            None => r,
        }
    }
}

/// Labeled HU slices: one label per slice; the patient IDs are those of the slices.
#[derive(Debug, Clone)]
pub struct LabeledSet {
    /// The slices (images in HU, patient IDs).
    pub slices: InMemorySlices,
    /// Class of each slice, `< num_classes`.
    pub labels: Vec<u32>,
    /// Number of classes.
    pub num_classes: usize,
    /// How the slices become network input (min–max by default; see [`LabeledSet::with_input`]).
    pub input: InputMapping,
}

impl LabeledSet {
    /// Checks that there is one label per slice and that every label is below `num_classes`.
    pub fn new(slices: InMemorySlices, labels: Vec<u32>, num_classes: usize) -> Result<Self> {
        if slices.slices.len() != labels.len() {
            return Err(TrainError::InvalidArgument(format!(
                "{} labels for {} slices",
                labels.len(),
                slices.slices.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= num_classes) {
            return Err(TrainError::InvalidArgument(format!("label {bad} out of range for {num_classes} classes")));
        }
        Ok(Self { slices, labels, num_classes, input: InputMapping::default() })
    }

    /// The same set with another input mapping.
    pub fn with_input(mut self, input: InputMapping) -> Self {
        self.input = input;
        self
    }

    /// Number of slices.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no slice.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The slices at `indices` (images are shared, not copied).
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let mut slices = InMemorySlices::new();
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let s = self
                .slices
                .slices
                .get(i)
                .ok_or_else(|| TrainError::InvalidArgument(format!("index {i} out of range {}", self.len())))?;
            slices.slices.push(s.clone());
            labels.push(self.labels[i]);
        }
        Ok(Self { slices, labels, num_classes: self.num_classes, input: self.input.clone() })
    }

    /// Splits by patient into (train, validation, test): the distinct patient IDs are shuffled with
    /// `seed`, the first `round(test_fraction · P)` go to test, the next `round(val_fraction · P)` to
    /// validation (each at least one patient when its fraction is positive), the rest to training.
    pub fn split_by_patient(&self, val_fraction: f64, test_fraction: f64, seed: u64) -> Result<(Self, Self, Self)> {
        let ok = |f: f64| f.is_finite() && (0.0..1.0).contains(&f);
        if !ok(val_fraction) || !ok(test_fraction) || val_fraction + test_fraction >= 1.0 {
            return Err(TrainError::InvalidArgument(format!("fractions {val_fraction}, {test_fraction}")));
        }
        let mut patients: Vec<&str> = self.slices.slices.iter().map(|s| s.patient_id.as_str()).collect();
        patients.sort_unstable();
        patients.dedup();
        patients.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let p = patients.len();
        let count = |f: f64| if f > 0.0 { ((f * p as f64).round() as usize).max(1) } else { 0 };
        let (n_test, n_val) = (count(test_fraction), count(val_fraction));
        if n_test + n_val >= p {
            return Err(TrainError::InvalidArgument(format!("{p} patients cannot make three splits")));
        }
        let part = |pid: &str| {
            let pos = patients.iter().position(|q| *q == pid).unwrap_or(usize::MAX);
            if pos < n_test {
                2
            } else if pos < n_test + n_val {
                1
            } else {
                0
            }
        };
        let mut idx: [Vec<usize>; 3] = Default::default();
        for (i, s) in self.slices.slices.iter().enumerate() {
            idx[part(&s.patient_id)].push(i);
        }
        Ok((self.subset(&idx[0])?, self.subset(&idx[1])?, self.subset(&idx[2])?))
    }

    /// An evaluation loader: `Recipe::eval(image_size)` with the set's input mapping, sequential order,
    /// every slice once.
    pub(crate) fn eval_loader(&self, image_size: usize, batch_size: usize) -> Result<Loader<InMemorySlices>> {
        let cfg = LoaderConfig {
            batch_size: batch_size.max(1),
            sampling: Sampling::Sequential,
            drop_last: false,
            seed: 0,
            prefetch: 2,
            threads: None,
        };
        let recipe = self.input.apply(Recipe::eval(image_size));
        Ok(Loader::labeled(self.slices.clone(), self.labels.clone(), recipe, cfg)?)
    }
}

/// Pooled features `[N, C]` (`f32`) of every slice of `set`, in order, with batch norm in evaluation mode.
pub fn extract_features(model: &ResNet, set: &LabeledSet, image_size: usize, batch_size: usize) -> Result<Tensor> {
    let loader = set.eval_loader(image_size, batch_size)?;
    let mut parts = Vec::with_capacity(loader.num_batches());
    for batch in loader.epoch(0) {
        let batch = batch?;
        let x = batch.views.first().ok_or_else(|| TrainError::InvalidArgument("a batch without views".into()))?;
        parts.push(model.forward_features(x, false)?.pooled.detach().to_dtype(DType::F32)?);
    }
    if parts.is_empty() {
        return Err(TrainError::InvalidArgument("no slices to extract features from".into()));
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// Class probabilities `[N, K]` row-major of a model with a classifier (`fc`), evaluation mode.
pub fn predict_proba(model: &ResNet, set: &LabeledSet, image_size: usize, batch_size: usize) -> Result<Vec<f64>> {
    if model.fc().is_none() {
        return Err(TrainError::InvalidArgument("the model has no classifier (fc)".into()));
    }
    let loader = set.eval_loader(image_size, batch_size)?;
    let mut probs = Vec::with_capacity(set.len() * set.num_classes);
    for batch in loader.epoch(0) {
        let batch = batch?;
        let x = batch.views.first().ok_or_else(|| TrainError::InvalidArgument("a batch without views".into()))?;
        probs.extend(softmax_rows(&model.forward(x, false)?)?);
    }
    Ok(probs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctssl_augment::Image;

    #[test]
    fn patient_split_is_disjoint_seeded_and_complete() {
        let mut s = InMemorySlices::new();
        let mut labels = Vec::new();
        for p in 0..10 {
            for k in 0..3 {
                s.push(Image::from_vec(4, 4, vec![k as f32; 16]).unwrap(), format!("pat{p}")).unwrap();
                labels.push((p % 2) as u32);
            }
        }
        let set = LabeledSet::new(s, labels, 2).unwrap();
        let (tr, va, te) = set.split_by_patient(0.2, 0.2, 4).unwrap();
        assert_eq!((tr.len(), va.len(), te.len()), (18, 6, 6));
        let ids = |x: &LabeledSet| {
            let mut v: Vec<String> = x.slices.slices.iter().map(|s| s.patient_id.clone()).collect();
            v.dedup();
            v
        };
        for a in ids(&tr) {
            assert!(!ids(&va).contains(&a) && !ids(&te).contains(&a));
        }
        assert!(ids(&va).iter().all(|a| !ids(&te).contains(a)));
        let again = set.split_by_patient(0.2, 0.2, 4).unwrap();
        assert_eq!(ids(&again.2), ids(&te));
        assert!(set.split_by_patient(0.5, 0.5, 0).is_err());
        assert!(LabeledSet::new(InMemorySlices::new(), vec![0], 2).is_err());
    }
}
