//! Loading a state dict (name → tensor) into a model, with torchvision's rules and a report.

use candle_core::{DType, Tensor, Var};
use std::collections::HashMap;

use crate::error::{BackboneError, Result};
use crate::params::ParamStore;

/// How [`load_into_store`] (and `ResNet::load_state_dict`) treats keys that do not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Fail, changing nothing, unless every key matches by name and shape (PyTorch's `strict=True`).
    /// When false, the matching entries are loaded and the rest is only reported.
    pub strict: bool,
    /// Fold a multi-channel stem `conv1.weight` `[o, c, k, k]` into the model's 1-channel `[o, 1, k, k]` by
    /// summing over the input-channel axis: what a grey image copied to `c` channels sees.
    pub fold_rgb_to_grey: bool,
}

impl LoadOptions {
    /// Every key must match.
    pub fn strict() -> Self {
        LoadOptions { strict: true, fold_rgb_to_grey: false }
    }

    /// Load what matches, report the rest.
    pub fn partial() -> Self {
        LoadOptions { strict: false, fold_rgb_to_grey: false }
    }

    /// Turns stem folding on or off.
    pub fn with_fold_rgb_to_grey(mut self, on: bool) -> Self {
        self.fold_rgb_to_grey = on;
        self
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::strict()
    }
}

/// A key present on both sides whose shapes differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// Parameter name.
    pub name: String,
    /// Shape in the model.
    pub expected: Vec<usize>,
    /// Shape in the state dict.
    pub found: Vec<usize>,
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Keys copied into the model (including folded ones).
    pub loaded: Vec<String>,
    /// Model keys absent from the state dict (left unchanged).
    pub missing: Vec<String>,
    /// State-dict keys the model does not have.
    pub unexpected: Vec<String>,
    /// Keys on both sides with different shapes (left unchanged).
    pub shape_mismatch: Vec<ShapeMismatch>,
    /// Keys whose multi-channel source was folded to one channel.
    pub folded: Vec<String>,
    /// `num_batches_tracked` keys absent from the state dict and set to 0, as PyTorch does for state
    /// dicts without version metadata (older checkpoints, safetensors files).
    pub defaulted: Vec<String>,
}

impl LoadReport {
    /// True when every key matched in name and shape (folding and defaulted counters allowed).
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.shape_mismatch.is_empty()
    }

    /// One line naming the first few problems of each kind.
    pub fn summary(&self) -> String {
        fn head(v: &[String]) -> String {
            let mut s = v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            if v.len() > 5 {
                s.push_str(&format!(", … ({} more)", v.len() - 5));
            }
            s
        }
        let shapes: Vec<String> =
            self.shape_mismatch.iter().map(|m| format!("{} {:?} vs {:?}", m.name, m.expected, m.found)).collect();
        format!(
            "loaded {}; missing [{}]; unexpected [{}]; shape mismatch [{}]",
            self.loaded.len(),
            head(&self.missing),
            head(&self.unexpected),
            head(&shapes)
        )
    }
}

/// Converts `t` to the dtype of a destination variable, or says why it cannot.
fn convert(name: &str, t: &Tensor, dst: DType) -> Result<Tensor> {
    let src = t.dtype();
    let ok = if dst.is_float() { src.is_float() } else { src.is_int() || src.is_float() };
    if !ok {
        return Err(BackboneError::DtypeMismatch { name: name.to_string(), expected: dst, found: src });
    }
    Ok(t.to_dtype(dst)?)
}

fn is_stem_fold(name: &str, expected: &[usize], found: &[usize]) -> bool {
    name == "conv1.weight"
        && expected.len() == 4
        && found.len() == 4
        && expected[1] == 1
        && found[1] > 1
        && expected[0] == found[0]
        && expected[2..] == found[2..]
}

/// Copies the entries of `state` into the variables of `store` with the same names.
///
/// Dtypes are converted (any float into a float parameter; any number into the I64 `num_batches_tracked`).
/// With `options.strict`, any missing, unexpected or mis-shaped key fails the whole load and nothing changes.
pub fn load_into_store(
    store: &ParamStore,
    state: &HashMap<String, Tensor>,
    options: &LoadOptions,
) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    let mut plan: Vec<(Var, Tensor)> = Vec::new();
    for entry in store.iter() {
        let name = entry.name.as_str();
        let var = &entry.var;
        let Some(src) = state.get(name) else {
            if name.ends_with(".num_batches_tracked") {
                report.defaulted.push(name.to_string());
                plan.push((var.clone(), Tensor::zeros(var.shape(), var.dtype(), var.device())?));
            } else {
                report.missing.push(name.to_string());
            }
            continue;
        };
        let expected = var.dims().to_vec();
        let found = src.dims().to_vec();
        let mut value = src.clone();
        if expected != found {
            if options.fold_rgb_to_grey && is_stem_fold(name, &expected, &found) {
                value = value.to_dtype(DType::F64)?.sum_keepdim(1)?;
                report.folded.push(name.to_string());
            } else {
                report.shape_mismatch.push(ShapeMismatch { name: name.to_string(), expected, found });
                continue;
            }
        }
        let value = convert(name, &value, var.dtype())?.to_device(var.device())?.copy()?;
        report.loaded.push(name.to_string());
        plan.push((var.clone(), value));
    }
    let mut unexpected: Vec<String> = state.keys().filter(|k| store.get(k).is_none()).cloned().collect();
    unexpected.sort();
    report.unexpected = unexpected;
    if options.strict && !report.is_complete() {
        return Err(BackboneError::StrictLoad(Box::new(report)));
    }
    for (var, value) in plan {
        var.set(&value)?;
    }
    Ok(report)
}
