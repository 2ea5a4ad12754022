//! The pre-training method trait: what one loop ([`crate::trainer`]) needs from SimCLR, MoCo, BYOL, SwAV,
//! DINO or SparK.
//!
//! A method owns its networks (the backbone, heads, predictors, EMA targets) and lists each of them once,
//! with the prefix of its names, in [`PretrainMethod::parts`]. Everything the trainer needs to know about
//! variables is read from that list: the optimizer's variables ([`PretrainMethod::trainable_vars`]: the
//! parameters of the trained parts) and what a checkpoint saves besides them
//! ([`PretrainMethod::state_vars`]: the buffers of the trained parts and every tensor of an EMA target).
//! State that belongs to no part (queues, DINO's centre) goes through [`PretrainMethod::extra_state`].
//!
//! Per optimizer step the trainer calls [`PretrainMethod::loss`] on the batch's views, runs backward over
//! the trainable variables, steps the optimizer, then calls [`PretrainMethod::after_step`] (EMA update of a
//! target network, prototype normalisation). For checkpoints it saves the trainable variables and
//! [`PretrainMethod::state_tensors`], and restores both on resume.
//!
//! How the eight methods map onto the trait:
//! - SimCLR: views 0 and 1 → encoder + projector → NT-Xent; no `after_step`; parts: backbone, projector.
//! - MoCo v2: query encoder trained; key encoder a target part, the queue extra state; `after_step` updates
//!   the key encoder by EMA (the queue is pushed in `loss`, after the keys are computed, as in the paper).
//! - BYOL: online network + predictor trained; target network a target part; `after_step` does the EMA
//!   with a cosine momentum from `step / total_steps`.
//! - SwAV: prototypes trained (and normalised in `after_step`), optional queues extra state; the
//!   multi-crop views come in as several tensors of different sizes.
//! - Barlow Twins and VICReg: as SimCLR (two views, encoder + projector, no `after_step`), with their own
//!   losses on the cross-correlation or the variance, invariance and covariance terms.
//! - DINO: student trained, teacher a target part, the centre extra state; teacher EMA in `after_step`.
//! - SparK: one part, the model (encoder, densify, decoder); the random masks come from
//!   [`StepContext::rng`] (recorded in checkpoints), so resumed runs draw the same masks.

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use ctssl_backbones::{snapshot, ParamKind, Parameters, ResNet};
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

/// One network of a method, under the prefix of its names in the method's variable lists and checkpoints.
#[derive(Clone, Copy)]
pub struct Part<'a> {
    /// Written before every name of the network, with its own separator (`"backbone."`).
    pub prefix: &'a str,
    /// The network.
    pub network: &'a dyn Parameters,
    /// Whether the optimizer trains the network's parameters. A network that follows another one instead
    /// (an EMA target: MoCo's key encoder, BYOL's target network, DINO's teacher) is not trained, and all
    /// of its tensors are state.
    pub trained: bool,
}

impl<'a> Part<'a> {
    /// A network the optimizer trains: its parameters are trainable variables, its buffers state.
    pub fn trained(prefix: &'a str, network: &'a dyn Parameters) -> Self {
        Self { prefix, network, trained: true }
    }

    /// A network no optimizer sees (an EMA target): its parameters and buffers are all state.
    pub fn target(prefix: &'a str, network: &'a dyn Parameters) -> Self {
        Self { prefix, network, trained: false }
    }
}

/// A self-supervised pre-training method that the [`crate::trainer::Trainer`] can run.
///
/// A method implements [`PretrainMethod::parts`], [`PretrainMethod::encoder`] and the steps; the variable
/// lists, the saved state and the export ([`PretrainMethod::trainable_vars`], [`PretrainMethod::state_vars`],
/// [`PretrainMethod::state_tensors`], [`PretrainMethod::load_state_tensors`],
/// [`PretrainMethod::encoder_state_dict`]) are derived from them, and implementations keep those
/// definitions, so that no method lists its networks twice.
pub trait PretrainMethod {
    /// A short name (`"simclr"`, `"byol"` ...), written to the run's config.
    fn name(&self) -> &str;

    /// Every network of the method, each once, with prefixes that keep all names unique. The order is the
    /// order of [`PretrainMethod::trainable_vars`], so it fixes the optimizer's (and every sum over its
    /// variables); the names are checkpoint keys.
    fn parts(&self) -> Vec<Part<'_>>;

    /// The backbone being pre-trained (the online, query or student one), which
    /// [`PretrainMethod::encoder_state_dict`] exports.
    fn encoder(&self) -> &ResNet;

    /// The loss of a batch: `views[k]` is view `k` of every sample, `[B, C, H, W]`.
    fn loss(&mut self, views: &[Tensor], ctx: &mut StepContext<'_>) -> Result<LossOutput>;

    /// Called after each optimizer step with the number of the step just done (0-based) and the total
    /// (EMA updates, prototype normalisation, queue updates). Does nothing by default.
    fn after_step(&mut self, _step: u64, _total_steps: u64) -> Result<()> {
        Ok(())
    }

    /// State a resumed run needs that no part holds (queues, centres), with names distinct from the
    /// parts'. These are tensors, which a method replaces rather than updates in place, so they are saved
    /// as they are. None by default.
    fn extra_state(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(Vec::new())
    }

    /// Restores [`PretrainMethod::extra_state`] from `state`: the saved entries that name no variable of
    /// [`PretrainMethod::state_vars`]. Must fail on a missing, misshapen or unexpected entry, and then leave
    /// the method as it was. By default `state` must be empty.
    fn load_extra_state(&mut self, state: HashMap<String, Tensor>) -> Result<()> {
        expect_no_more(&state)
    }

    /// The variables the optimizer updates: the parameters of the trained parts, part by part, with their
    /// prefixed names (used for parameter groups — biases and batch-norm parameters are recognised by
    /// name — and as checkpoint keys). Derived from [`PretrainMethod::parts`].
    fn trainable_vars(&self) -> Vec<(String, Var)> {
        let parts = self.parts();
        parts
            .iter()
            .filter(|p| p.trained)
            .flat_map(|p| p.network.vars_of_kind(p.prefix, ParamKind::Trainable))
            .collect()
    }

    /// The variables a checkpoint saves besides [`PretrainMethod::trainable_vars`]: the buffers of the
    /// trained parts (batch-norm running statistics) and every tensor of the target parts. Derived from
    /// [`PretrainMethod::parts`].
    fn state_vars(&self) -> Vec<(String, Var)> {
        let mut vars = Vec::new();
        for p in self.parts() {
            if p.trained {
                vars.extend(p.network.vars_of_kind(p.prefix, ParamKind::Buffer));
            } else {
                vars.extend(p.network.named_vars(p.prefix).into_iter().map(|v| (v.name, v.var)));
            }
        }
        vars
    }

    /// Everything besides the trainable variables that a resumed run needs: a [`snapshot`] of
    /// [`PretrainMethod::state_vars`] (copies, so training on does not change them), then
    /// [`PretrainMethod::extra_state`].
    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut state = snapshot(&self.state_vars())?;
        state.extend(self.extra_state()?);
        Ok(state)
    }

    /// The encoder to export: copies of [`PretrainMethod::encoder`]'s tensors under their torchvision names
    /// (`conv1.weight`, `layer1.0.bn1.running_mean`), without a classifier ([`ResNet::encoder_state_dict`]).
    fn encoder_state_dict(&self) -> Result<HashMap<String, Tensor>> {
        Ok(self.encoder().encoder_state_dict()?)
    }

    /// Restores what [`PretrainMethod::state_tensors`] returned; fails on a missing, unexpected or
    /// misshapen entry, and then changes nothing.
    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let vars = self.state_vars();
        let mut extra = state.clone();
        let mut own = HashMap::with_capacity(vars.len());
        for (name, _) in &vars {
            if let Some(t) = extra.remove(name) {
                own.insert(name.clone(), t);
            }
        }
        validate_names_shapes(&own, &vars)?;
        self.load_extra_state(extra)?;
        load_vars(&own, &vars)
    }
}

/// Fails with [`TrainError::UnexpectedTensor`] if `state` holds anything (the first name in order): for a
/// [`PretrainMethod::load_extra_state`] once it has taken the entries it knows.
pub fn expect_no_more(state: &HashMap<String, Tensor>) -> Result<()> {
    match state.keys().min() {
        Some(name) => Err(TrainError::UnexpectedTensor(name.clone())),
        None => Ok(()),
    }
}

/// Sets `vars` from `state`: the names must be exactly those of `vars` and shapes must match; nothing is
/// set unless everything matches (for restoring a checkpoint's variables).
pub fn load_vars(state: &HashMap<String, Tensor>, vars: &[(String, Var)]) -> Result<()> {
    validate_names_shapes(state, vars)?;
    for (name, var) in vars {
        let t = state.get(name).ok_or_else(|| TrainError::MissingTensor(name.clone()))?;
        let want = var.as_tensor();
        var.set(&t.to_device(want.device())?.to_dtype(want.dtype())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use ctssl_backbones::{ParamStore, ResNet, ResNetConfig};

    #[test]
    fn resnet_names_split_and_load_round_trip() {
        let cfg = ResNetConfig::resnet_tiny().with_base_width(4);
        let a = ResNet::new(cfg.clone(), 1, &Device::Cpu).unwrap();
        let b = ResNet::new(cfg, 2, &Device::Cpu).unwrap();
        let ta = a.vars_of_kind("enc.", ParamKind::Trainable);
        assert!(ta.iter().any(|(n, _)| n == "enc.conv1.weight"));
        assert!(a.vars_of_kind("", ParamKind::Buffer).iter().any(|(n, _)| n == "bn1.running_mean"));
        let state: HashMap<String, Tensor> = snapshot(&ta).unwrap().into_iter().collect();
        let tb = b.vars_of_kind("enc.", ParamKind::Trainable);
        load_vars(&state, &tb).unwrap();
        for ((_, x), (_, y)) in ta.iter().zip(&tb) {
            let d = (x.as_tensor() - y.as_tensor()).unwrap().abs().unwrap().sum_all().unwrap();
            assert_eq!(d.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap(), 0.0);
        }
        assert!(load_vars(&state, &tb[1..]).is_err());
    }

    /// A network of one weight `[2]` and one buffer `[2]`, both filled with `value`.
    fn network(value: f32) -> ParamStore {
        let mut store = ParamStore::new();
        let t = Tensor::from_slice(&[value, value], 2, &Device::Cpu).unwrap();
        store.insert("weight", Var::from_tensor(&t).unwrap(), ParamKind::Trainable);
        store.insert("running_mean", Var::from_tensor(&t).unwrap(), ParamKind::Buffer);
        store
    }

    /// An online network, its EMA target, and a counter as extra state (and a backbone to export).
    struct Toy {
        online: ParamStore,
        target: ParamStore,
        counter: Tensor,
        backbone: ResNet,
    }

    impl Toy {
        fn new(value: f32) -> Self {
            let counter = Tensor::new(&[value], &Device::Cpu).unwrap();
            let backbone = ResNet::new(ResNetConfig::resnet_tiny().with_base_width(4), 0, &Device::Cpu).unwrap();
            Self { online: network(value), target: network(value + 10.0), counter, backbone }
        }
    }

    impl PretrainMethod for Toy {
        fn name(&self) -> &str {
            "toy"
        }
        fn parts(&self) -> Vec<Part<'_>> {
            vec![Part::trained("online.", &self.online), Part::target("target.", &self.target)]
        }
        fn loss(&mut self, _: &[Tensor], _: &mut StepContext<'_>) -> Result<LossOutput> {
            Ok(LossOutput::new(self.online.get("weight").unwrap().var.as_tensor().sum_all()?))
        }
        fn extra_state(&self) -> Result<Vec<(String, Tensor)>> {
            Ok(vec![("counter".into(), self.counter.clone())])
        }
        fn load_extra_state(&mut self, mut state: HashMap<String, Tensor>) -> Result<()> {
            let counter = state.remove("counter").ok_or_else(|| TrainError::MissingTensor("counter".into()))?;
            expect_no_more(&state)?;
            self.counter = counter;
            Ok(())
        }
        fn encoder(&self) -> &ResNet {
            &self.backbone
        }
    }

    fn first(t: &Tensor) -> f32 {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn variable_lists_and_state_derive_from_the_parts() {
        let a = Toy::new(1.0);
        let names = |v: Vec<(String, Var)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(a.trainable_vars()), ["online.weight"]);
        assert_eq!(names(a.state_vars()), ["online.running_mean", "target.weight", "target.running_mean"]);
        let state = a.state_tensors().unwrap();
        let state_names: Vec<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(state_names, ["online.running_mean", "target.weight", "target.running_mean", "counter"]);
        // The saved values are copies: the variables train on without them.
        a.target.get("weight").unwrap().var.set(&Tensor::new(&[0f32, 0.0], &Device::Cpu).unwrap()).unwrap();
        assert_eq!(first(&state[1].1), 11.0);

        let state: HashMap<String, Tensor> = state.into_iter().collect();
        let mut b = Toy::new(5.0);
        b.load_state_tensors(&state).unwrap();
        assert_eq!(first(b.target.get("weight").unwrap().var.as_tensor()), 11.0);
        assert_eq!(first(&b.counter), 1.0);
        // An unexpected, a missing or a misshapen entry is refused, and nothing changes.
        let mut c = Toy::new(7.0);
        let mut unexpected = state.clone();
        unexpected.insert("queue".into(), Tensor::new(&[0f32], &Device::Cpu).unwrap());
        assert!(matches!(c.load_state_tensors(&unexpected), Err(TrainError::UnexpectedTensor(n)) if n == "queue"));
        let mut missing = state.clone();
        missing.remove("counter");
        assert!(matches!(c.load_state_tensors(&missing), Err(TrainError::MissingTensor(n)) if n == "counter"));
        let mut misshapen = state.clone();
        misshapen.insert("target.weight".into(), Tensor::new(&[0f32], &Device::Cpu).unwrap());
        assert!(matches!(c.load_state_tensors(&misshapen), Err(TrainError::ShapeMismatch { .. })));
        assert_eq!(first(c.target.get("weight").unwrap().var.as_tensor()), 17.0);
        assert_eq!(first(c.online.get("running_mean").unwrap().var.as_tensor()), 7.0);
        assert_eq!(first(&c.counter), 7.0);
    }
}
