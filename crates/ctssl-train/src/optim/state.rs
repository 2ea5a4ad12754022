//! Per-parameter optimizer state (step count and moment buffers), saved and restored as named tensors.

use std::collections::{HashMap, HashSet};

use candle_core::{DType, Device, Tensor};

use super::group::ParamGroup;
use crate::error::{Result, TrainError};

/// State of one parameter: how many updates it has had and its buffers (one per slot).
#[derive(Debug, Clone)]
pub(crate) struct ParamState {
    pub step: u64,
    pub bufs: Vec<Tensor>,
}

/// State of all parameters of an optimizer, keyed by parameter name.
#[derive(Debug, Clone)]
pub(crate) struct StateStore {
    slots: &'static [&'static str],
    pub map: HashMap<String, ParamState>,
}

impl StateStore {
    pub fn new(slots: &'static [&'static str]) -> Self {
        Self { slots, map: HashMap::new() }
    }

    /// Tensors named `<param>/step` (i64 scalar) and `<param>/<slot>`.
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (name, st) in &self.map {
            let step = i64::try_from(st.step)
                .map_err(|_| TrainError::InvalidArgument(format!("step count of {name} overflows i64")))?;
            out.insert(format!("{name}/step"), Tensor::new(step, &Device::Cpu)?);
            for (slot, buf) in self.slots.iter().zip(&st.bufs) {
                out.insert(format!("{name}/{slot}"), buf.copy()?);
            }
        }
        Ok(out)
    }

    /// Replaces the state with the one in `src`, validating names, shapes and dtypes against `groups`.
    /// A parameter without a `<param>/step` entry starts fresh; any entry naming no parameter is an error.
    pub fn load(&mut self, groups: &[ParamGroup], src: &HashMap<String, Tensor>) -> Result<()> {
        let mut used = HashSet::new();
        let mut map = HashMap::new();
        for (name, var) in groups.iter().flat_map(|g| &g.params) {
            let key = format!("{name}/step");
            let Some(step_t) = src.get(&key) else { continue };
            used.insert(key.clone());
            let step = step_t.to_dtype(DType::I64)?.to_scalar::<i64>()?;
            let step =
                u64::try_from(step).map_err(|_| TrainError::InvalidArgument(format!("{key}: negative step {step}")))?;
            let mut bufs = Vec::with_capacity(self.slots.len());
            for slot in self.slots {
                let key = format!("{name}/{slot}");
                let t = src.get(&key).ok_or_else(|| TrainError::MissingTensor(key.clone()))?;
                let want = var.as_tensor();
                if t.dims() != want.dims() {
                    return Err(TrainError::ShapeMismatch {
                        name: key,
                        expected: want.dims().to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                // A copy of its own: the fused optimizers update their buffers in place.
                bufs.push(t.to_device(want.device())?.to_dtype(want.dtype())?.copy()?);
                used.insert(key);
            }
            map.insert(name.clone(), ParamState { step, bufs });
        }
        if let Some(extra) = src.keys().find(|k| !used.contains(*k)) {
            return Err(TrainError::UnexpectedTensor(extra.clone()));
        }
        self.map = map;
        Ok(())
    }
}

/// Checks that parameter names and variables are unique across groups.
pub(crate) fn check_groups(groups: &[ParamGroup]) -> Result<()> {
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for (name, var) in groups.iter().flat_map(|g| &g.params) {
        if !names.insert(name.as_str()) || !ids.insert(var.as_tensor().id()) {
            return Err(TrainError::DuplicateName(name.clone()));
        }
    }
    Ok(())
}

/// Euclidean norm of a tensor, accumulated in f64.
pub(crate) fn l2_norm(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt())
}
