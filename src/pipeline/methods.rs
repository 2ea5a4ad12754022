//! Every pre-training method by name, with the views and the optimizer it trains with: the one place
//! where the study learns what a method needs.

use candle_core::Device;
use ctssl_augment::{BuiltinRecipe, Recipe};
use ctssl_backbones::ResNetConfig;
use ctssl_contrastive::{build_method, method_spec, ContrastiveMethod, Scale};
use ctssl_train::method::PretrainMethod;
use ctssl_train::optim::Optimizer;
use ctssl_train::trainer::{RunLength, TrainerConfig};

use super::error::Result;

/// The methods the study can pre-train.
pub const METHODS: [&str; 8] = ["spark", "simclr", "moco_v2", "byol", "swav", "barlow_twins", "vicreg", "dino"];

/// Whose views a method trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Views {
    /// The reference study's recipe where the method is one of the study's (MoCo v2, BYOL, SwAV); the
    /// method's own published recipe otherwise.
    Study,
    /// Every method's own published recipe.
    Own,
    /// Views for CT that keep laterality: the study's recipe without flips and with small rotations
    /// (`ct`, `ct_multi_crop` for the multi-crop methods, `spark_ct` for SparK). The CPU presets' choice:
    /// left and right organs are mirror images, and flipped views teach an encoder to confuse them.
    Ct,
}

impl Views {
    /// `study`, `own` or `ct` (the `[pretrain] views` setting).
    pub fn from_name(name: &str) -> Result<Views> {
        match name {
            "study" => Ok(Views::Study),
            "own" => Ok(Views::Own),
            "ct" => Ok(Views::Ct),
            other => {
                Err(super::error::PipelineError::Config(format!("unknown views `{other}` (known: study, own, ct)")))
            }
        }
    }
}

/// A method ready to train: the method, its views, its optimizer and the trainer's schedules.
pub struct MethodRun {
    /// The method (networks, loss, teachers).
    pub method: Box<dyn PretrainMethod>,
    /// The views of each sample.
    pub recipe: Recipe,
    /// The optimizer over the method's trainable variables.
    pub optimizer: Box<dyn Optimizer>,
    /// Learning-rate and weight-decay schedules, clipping, seed.
    pub trainer: TrainerConfig,
    /// The optimizer settings, as recorded in the run's config.
    pub optimizer_settings: String,
}

/// Everything that sizes a pre-training run.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    /// Side of the views.
    pub image_size: usize,
    /// Epochs over the pool, batches per epoch, samples per batch.
    pub length: RunLength,
    /// Multiplies the method's default learning rate.
    pub lr_scale: f64,
    /// Seed of the run.
    pub seed: u64,
    /// SparK's decoder width (`None`: SparK's default for the backbone); other methods ignore it.
    pub decoder_width: Option<usize>,
}

/// Builds method `name` on `backbone` for a run of `shape`.
pub fn method_run(
    name: &str,
    backbone: ResNetConfig,
    shape: RunShape,
    views: Views,
    device: &Device,
) -> Result<MethodRun> {
    let scale = Scale::for_backbone(&backbone);
    if name == "spark" {
        return super::spark::spark_run(backbone, shape, scale == Scale::Paper, views == Views::Ct, device);
    }
    let m: ContrastiveMethod = name.parse()?;
    let spec = method_spec(m, scale);
    let recipe_id = match views {
        Views::Study => spec.study_recipe.unwrap_or(spec.recipe),
        Views::Own => spec.recipe,
        Views::Ct if m.multi_crop() => BuiltinRecipe::CtMultiCrop,
        Views::Ct => BuiltinRecipe::Ct,
    };
    let recipe = recipe_id.recipe(shape.image_size);
    let method = build_method(m, backbone, shape.seed, device)?;
    let mut choice = spec.optimizer;
    choice.lr *= shape.lr_scale;
    let optimizer = choice.build(method.trainable_vars(), shape.length.batch_size)?;
    let trainer = choice.trainer_config(shape.length, shape.seed)?;
    Ok(MethodRun { method, recipe, optimizer, trainer, optimizer_settings: format!("{choice:?}") })
}
