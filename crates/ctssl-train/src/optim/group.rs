//! Parameter groups: named variables sharing a learning-rate scale, a weight-decay scale and a
//! trust-ratio switch.

use candle_core::Var;

/// A set of named parameters optimized with the same settings.
///
/// The effective learning rate of the group is `optimizer lr × lr_scale` and its effective weight decay
/// `optimizer weight decay × wd_scale`, so that one schedule drives every group.
#[derive(Debug, Clone)]
pub struct ParamGroup {
    /// The parameters, each with a name unique across the optimizer (used for saving state).
    pub params: Vec<(String, Var)>,
    /// Multiplier of the optimizer learning rate.
    pub lr_scale: f64,
    /// Multiplier of the optimizer weight decay (0 = no weight decay).
    pub wd_scale: f64,
    /// Whether LARS / LAMB apply their layer-wise trust ratio to this group.
    pub adapt: bool,
}

impl ParamGroup {
    /// A group with learning-rate and weight-decay scales 1 and trust-ratio adaptation on.
    pub fn new(params: Vec<(String, Var)>) -> Self {
        Self { params, lr_scale: 1.0, wd_scale: 1.0, adapt: true }
    }

    /// A group without weight decay and without trust-ratio adaptation (batch-norm parameters, biases).
    pub fn no_decay(params: Vec<(String, Var)>) -> Self {
        Self { params, lr_scale: 1.0, wd_scale: 0.0, adapt: false }
    }

    /// Sets the learning-rate scale.
    pub fn with_lr_scale(mut self, lr_scale: f64) -> Self {
        self.lr_scale = lr_scale;
        self
    }
}

/// Splits parameters into `[decayed, not decayed]`: tensors of rank ≤ 1 (batch-norm weights and biases,
/// biases of convolutions and linear layers) go to a group with no weight decay and no trust-ratio
/// adaptation; the rest (convolution and linear weights) to a normal group. Empty groups are dropped.
pub fn split_decay(params: Vec<(String, Var)>) -> Vec<ParamGroup> {
    split_decay_also(params, |_| false)
}

/// [`split_decay`], with the tensors whose name passes `no_decay` also in the group without decay (SparK's
/// mask tokens, for example).
pub fn split_decay_also(params: Vec<(String, Var)>, no_decay: impl Fn(&str) -> bool) -> Vec<ParamGroup> {
    let (flat, weights): (Vec<_>, Vec<_>) =
        params.into_iter().partition(|(n, v)| v.as_tensor().rank() <= 1 || no_decay(n));
    let mut groups = Vec::new();
    if !weights.is_empty() {
        groups.push(ParamGroup::new(weights));
    }
    if !flat.is_empty() {
        groups.push(ParamGroup::no_decay(flat));
    }
    groups
}
