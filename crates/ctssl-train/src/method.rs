//! The pre-training method trait: what one loop ([`crate::trainer`]) needs from SimCLR, MoCo, BYOL, SwAV,
//! DINO or SparK.
//!
//! A method owns its networks (the backbone, heads, predictors, EMA targets, queues, prototypes). Per
//! optimizer step the trainer calls [`PretrainMethod::loss`] on the batch's views, runs backward over
//! [`PretrainMethod::trainable_vars`], steps the optimizer, then calls [`PretrainMethod::after_step`] (EMA
//! update of a target network, prototype normalisation, queue update). For checkpoints it saves the
//! trainable variables and the method's other state ([`PretrainMethod::state_tensors`]: batch-norm running
//! statistics, EMA targets, queues) and restores both on resume.
//!
//! How the eight methods map onto the trait:
//! - SimCLR: views 0 and 1 → encoder + projector → NT-Xent; no `after_step`; state = BN buffers.
//! - MoCo v2: query encoder trainable; key encoder + queue in `state_tensors`; `after_step` updates the key
//!   encoder by EMA (the queue is pushed in `loss`, after the keys are computed, as in the paper).
//! - BYOL: online network + predictor trainable; target network in `state_tensors`; `after_step` does the
//!   EMA with a cosine momentum from `step / total_steps`.
//! - SwAV: prototypes trainable (and normalised in `after_step`), optional queue in `state_tensors`; the
//!   multi-crop views come in as several tensors of different sizes.
//! - Barlow Twins and VICReg: as SimCLR (two views, encoder + projector, no `after_step`), with their own
//!   losses on the cross-correlation or the variance, invariance and covariance terms.
//! - DINO: student trainable, teacher and centre in `state_tensors`; teacher EMA in `after_step`.
//! - SparK: the random masks come from [`StepContext::rng`] (recorded in checkpoints), so resumed runs draw
//!   the same masks.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use ctssl_backbones::Parameters;
use rand_chacha::ChaCha8Rng;

use crate::checkpoint::validate_names_shapes;
use crate::error::{Result, TrainError};

/// The result of one loss evaluation.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// The scalar loss to differentiate (any float dtype, shape `[]` or `[1]`).
    pub loss: Tensor,
    /// Extra scalars to log for this step (e.g. `("accuracy", 0.8)`, `("teacher_momentum", 0.996)`).
    pub logs: Vec<(String, f64)>,
}

impl LossOutput {
    /// A loss without extra logs.
    pub fn new(loss: Tensor) -> Self {
        Self { loss, logs: Vec::new() }
    }
}

/// Where the run is when [`PretrainMethod::loss`] is called.
#[derive(Debug)]
pub struct StepContext<'a> {
    /// The 0-based optimizer step being computed.
    pub step: u64,
    /// Total optimizer steps of the run.
    pub total_steps: u64,
    /// The current epoch (0-based).
    pub epoch: u64,
    /// The run's random generator (masks, random choices of a method). Its state is saved in every
    /// checkpoint, so a resumed run draws the same numbers.
    pub rng: &'a mut ChaCha8Rng,
}

/// A self-supervised pre-training method that the [`crate::trainer::Trainer`] can run.
pub trait PretrainMethod {
    /// A short name (`"simclr"`, `"byol"` ...), written to the run's config.
    fn name(&self) -> &str;

    /// The variables the optimizer updates, with unique names (used for parameter groups — biases and
    /// batch-norm parameters are recognised by name — and as checkpoint keys).
    fn trainable_vars(&self) -> Vec<(String, Var)>;

    /// The loss of a batch: `views[k]` is view `k` of every sample, `[B, C, H, W]`.
    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> Result<LossOutput>;

    /// Called after each optimizer step with the number of the step just done (0-based) and the total
    /// (EMA updates, prototype normalisation, queue updates). Does nothing by default.
    fn after_step(&mut self, _step: u64, _total_steps: u64) -> Result<()> {
        Ok(())
    }

    /// Everything besides the trainable variables that a resumed run needs (batch-norm running statistics,
    /// EMA targets, queues, centres), with names distinct from those of [`PretrainMethod::trainable_vars`].
    fn state_tensors(&self) -> Vec<(String, Tensor)>;

    /// Restores what [`PretrainMethod::state_tensors`] returned; must fail on missing or misshapen entries.
    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;

    /// The encoder (backbone) to export, with torchvision names (`conv1.weight`, `layer1.0.bn1.running_mean`).
    fn encoder_state_dict(&self) -> HashMap<String, Tensor>;
}

/// Detached copies of `vars` as named tensors (for [`PretrainMethod::state_tensors`] of `Var` buffers).
pub fn vars_to_tensors(vars: &[(String, Var)]) -> Result<Vec<(String, Tensor)>> {
    vars.iter().map(|(n, v)| Ok((n.clone(), v.as_detached_tensor().copy()?))).collect()
}

/// Sets `vars` from `state`: the names must be exactly those of `vars` and shapes must match; nothing is
/// set unless everything matches (for [`PretrainMethod::load_state_tensors`]).
pub fn load_vars(state: &HashMap<String, Tensor>, vars: &[(String, Var)]) -> Result<()> {
    validate_names_shapes(state, vars)?;
    for (name, var) in vars {
        let t = state.get(name).ok_or_else(|| TrainError::MissingTensor(name.clone()))?;
        let want = var.as_tensor();
        var.set(&t.to_device(want.device())?.to_dtype(want.dtype())?)?;
    }
    Ok(())
}

/// The trainable variables of a ResNet with their torchvision names, prefixed with `prefix`.
pub fn resnet_trainable(model: &ctssl_backbones::ResNet, prefix: &str) -> Vec<(String, Var)> {
    model.vars_of_kind(prefix, ctssl_backbones::ParamKind::Trainable)
}

/// The buffers (running statistics, counters) of a ResNet with their torchvision names, prefixed.
pub fn resnet_buffers(model: &ctssl_backbones::ResNet, prefix: &str) -> Vec<(String, Var)> {
    model.vars_of_kind(prefix, ctssl_backbones::ParamKind::Buffer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use ctssl_backbones::{ResNet, ResNetConfig};

    #[test]
    fn resnet_names_split_and_load_round_trip() {
        let cfg = ResNetConfig::resnet_tiny().with_base_width(4);
        let a = ResNet::new(cfg.clone(), 1, &Device::Cpu).unwrap();
        let b = ResNet::new(cfg, 2, &Device::Cpu).unwrap();
        let ta = resnet_trainable(&a, "enc.");
        assert!(ta.iter().any(|(n, _)| n == "enc.conv1.weight"));
        assert!(resnet_buffers(&a, "").iter().any(|(n, _)| n == "bn1.running_mean"));
        let state: HashMap<String, Tensor> = vars_to_tensors(&ta).unwrap().into_iter().collect();
        let tb = resnet_trainable(&b, "enc.");
        load_vars(&state, &tb).unwrap();
        for ((_, x), (_, y)) in ta.iter().zip(&tb) {
            let d = (x.as_tensor() - y.as_tensor()).unwrap().abs().unwrap().sum_all().unwrap();
            assert_eq!(d.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap(), 0.0);
        }
        assert!(load_vars(&state, &tb[1..]).is_err());
    }
}
