//! The parameter store: every tensor of a model as a candle [`Var`] under its torchvision name; the
//! [`Parameters`] trait, the one way every network of the workspace names its tensors; and
//! [`snapshot`], the one way their values are kept for a checkpoint, a saved state or an export.

use candle_core::{DType, Tensor, Var};
use std::collections::HashMap;

use crate::error::Result;

/// Whether a named tensor is learned by the optimiser or is a buffer (BN running statistics, counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Learned by gradient descent (`weight`, `bias`).
    Trainable,
    /// Updated by the forward pass in training mode, never by the optimiser (`running_mean`, `running_var`,
    /// `num_batches_tracked`).
    Buffer,
}

/// One named tensor of a model.
#[derive(Debug, Clone)]
pub struct NamedVar {
    /// torchvision name, e.g. `layer1.0.bn1.running_mean`.
    pub name: String,
    /// The variable (cloning a [`Var`] shares its storage, so layers and the store see the same values).
    pub var: Var,
    /// Trainable parameter or buffer.
    pub kind: ParamKind,
}

/// A network (or a piece of one) that names its tensors: a ResNet, a linear layer, a projection head, SparK's
/// decoder. Pre-training methods list their networks once through this trait, and the optimizer's
/// variables and a checkpoint's state are read from that one list by [`ParamKind`].
pub trait Parameters {
    /// Every tensor, trainable parameters and buffers, with its kind and its name after `prefix` (which
    /// carries its own separator: `"backbone."`, `"0."`, or `""` for the bare names), in a fixed order
    /// (for a ResNet, torchvision's `state_dict` order).
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar>;

    /// The `(name, variable)` pairs of the tensors of `kind`, in the order of [`Parameters::named_vars`]
    /// (with [`ParamKind::Trainable`]: what an optimizer takes).
    fn vars_of_kind(&self, prefix: &str, kind: ParamKind) -> Vec<(String, Var)> {
        self.named_vars(prefix).into_iter().filter(|v| v.kind == kind).map(|v| (v.name, v.var)).collect()
    }
}

/// Detached copies of `vars`, names kept: the one snapshot of variables for a checkpoint, a method's
/// saved state or an exported state dict. A copy shares no storage with its variable, so it keeps the value it had while the model
/// trains on (a detached tensor without a copy changes with every in-place update); a copy that fails is an
/// error, never a silent fallback to the shared tensor.
pub fn snapshot(vars: &[(String, Var)]) -> Result<Vec<(String, Tensor)>> {
    vars.iter().map(|(name, var)| Ok((name.clone(), var.as_detached_tensor().copy()?))).collect()
}

/// Ordered collection of a model's named variables (the order is torchvision's `state_dict` order).
#[derive(Debug, Clone, Default)]
pub struct ParamStore {
    entries: Vec<NamedVar>,
    index: HashMap<String, usize>,
}

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a variable; a name that is already present is replaced in place.
    pub fn insert(&mut self, name: impl Into<String>, var: Var, kind: ParamKind) {
        let name = name.into();
        match self.index.get(&name) {
            Some(&i) => self.entries[i] = NamedVar { name, var, kind },
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push(NamedVar { name, var, kind });
            }
        }
    }

    /// The variable of a name.
    pub fn get(&self, name: &str) -> Option<&NamedVar> {
        self.index.get(name).map(|&i| &self.entries[i])
    }

    /// All entries in state-dict order.
    pub fn iter(&self) -> impl Iterator<Item = &NamedVar> {
        self.entries.iter()
    }

    /// Number of named tensors (parameters and buffers).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All names in state-dict order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Trainable variables in state-dict order (what an optimiser takes).
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.filtered_vars(|e| e.kind == ParamKind::Trainable)
    }

    /// Variables whose entry passes `keep`, in state-dict order.
    pub fn filtered_vars(&self, keep: impl Fn(&NamedVar) -> bool) -> Vec<Var> {
        self.entries.iter().filter(|e| keep(e)).map(|e| e.var.clone()).collect()
    }

    /// Number of trainable scalars (what `sum(p.numel() for p in model.parameters())` gives in PyTorch).
    pub fn num_trainable(&self) -> usize {
        self.entries.iter().filter(|e| e.kind == ParamKind::Trainable).map(|e| e.var.elem_count()).sum()
    }

    /// Name → copy of every entry (a [`snapshot`]: training on does not change it).
    pub fn state_dict(&self) -> Result<HashMap<String, Tensor>> {
        let vars: Vec<(String, Var)> = self.entries.iter().map(|e| (e.name.clone(), e.var.clone())).collect();
        Ok(snapshot(&vars)?.into_iter().collect())
    }

    /// Float dtype of the trainable parameters (F32 unless the model was built otherwise).
    pub fn float_dtype(&self) -> DType {
        self.entries.iter().find(|e| e.kind == ParamKind::Trainable).map(|e| e.var.dtype()).unwrap_or(DType::F32)
    }
}

impl Parameters for ParamStore {
    /// The entries in state-dict order, their names after `prefix`.
    fn named_vars(&self, prefix: &str) -> Vec<NamedVar> {
        self.entries
            .iter()
            .map(|e| NamedVar { name: format!("{prefix}{}", e.name), var: e.var.clone(), kind: e.kind })
            .collect()
    }
}

/// What the layer constructors need: the store to register into, the seed, dtype and device.
pub(crate) struct Builder<'a> {
    pub store: &'a mut ParamStore,
    pub seed: u64,
    pub dtype: DType,
    pub device: candle_core::Device,
}

impl Builder<'_> {
    /// Registers `tensor` under `name` as a variable and returns the variable.
    pub fn add(&mut self, name: &str, tensor: Tensor, kind: ParamKind) -> Result<Var> {
        let var = Var::from_tensor(&tensor)?;
        self.store.insert(name, var.clone(), kind);
        Ok(var)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn names_take_the_prefix_kinds_filter_and_snapshots_keep_their_values() {
        let dev = Device::Cpu;
        let mut store = ParamStore::new();
        store.insert("bn.weight", Var::ones(2, DType::F32, &dev).unwrap(), ParamKind::Trainable);
        store.insert("bn.running_mean", Var::zeros(2, DType::F32, &dev).unwrap(), ParamKind::Buffer);
        let names: Vec<String> = store.named_vars("head.").into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["head.bn.weight", "head.bn.running_mean"]);
        let buffers = store.vars_of_kind("", ParamKind::Buffer);
        assert_eq!(buffers.len(), 1);
        assert_eq!(buffers[0].0, "bn.running_mean");
        let kept = snapshot(&buffers).unwrap();
        buffers[0].1.set(&Tensor::ones(2, DType::F32, &dev).unwrap()).unwrap();
        assert_eq!(kept[0].1.to_vec1::<f32>().unwrap(), [0.0, 0.0], "a snapshot does not follow its variable");
        let state = store.state_dict().unwrap();
        assert_eq!(state["bn.running_mean"].to_vec1::<f32>().unwrap(), [1.0, 1.0]);
        store.get("bn.running_mean").unwrap().var.set(&Tensor::zeros(2, DType::F32, &dev).unwrap()).unwrap();
        assert_eq!(state["bn.running_mean"].to_vec1::<f32>().unwrap(), [1.0, 1.0], "nor does a state dict");
    }
}
