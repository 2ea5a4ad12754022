//! The parameter store: every tensor of a model as a candle [`Var`] under its torchvision name.

use candle_core::{DType, Tensor, Var};
use std::collections::HashMap;

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

    /// Name → detached tensor for every entry (a copy-free snapshot: the tensors share storage with the
    /// variables, so call [`Tensor::copy`] on them if the model trains on afterwards and the old values matter).
    pub fn state_dict(&self) -> HashMap<String, Tensor> {
        self.entries.iter().map(|e| (e.name.clone(), e.var.as_detached_tensor())).collect()
    }

    /// Float dtype of the trainable parameters (F32 unless the model was built otherwise).
    pub fn float_dtype(&self) -> DType {
        self.entries.iter().find(|e| e.kind == ParamKind::Trainable).map(|e| e.var.dtype()).unwrap_or(DType::F32)
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
    pub fn add(&mut self, name: &str, tensor: Tensor, kind: ParamKind) -> crate::Result<Var> {
        let var = Var::from_tensor(&tensor)?;
        self.store.insert(name, var.clone(), kind);
        Ok(var)
    }
}
