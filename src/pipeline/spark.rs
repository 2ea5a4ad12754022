//! SparK's run for the study: the method from `ctssl-sparse`, its recipe (one view), LAMB with the
//! published schedule, scaled for short CPU runs.

use candle_core::Device;
use ctssl_augment::BuiltinRecipe;
use ctssl_backbones::ResNetConfig;
use ctssl_sparse::{Spark, SparkConfig};
use ctssl_train::optim::Lamb;

use super::error::Result;
use super::method_run::{MethodRun, RunShape};

/// Peak learning rate per 256 images of the CPU preset: the published 2e-4 is tuned for 1,600 epochs of
/// ImageNet; a run of a few hundred steps needs a larger step to move at all (docs/spark.md).
const SMALL_BASE_LR: f64 = 1e-2;

/// SparK on `backbone` for a run of `shape`, on views of `recipe` (`spark`, or `spark_ct` without the
/// horizontal flip); `paper` keeps every published setting.
pub fn spark_run(
    backbone: ResNetConfig,
    shape: RunShape,
    recipe: BuiltinRecipe,
    paper: bool,
    device: &Device,
) -> Result<MethodRun> {
    let mut cfg =
        SparkConfig { recipe: recipe.name().into(), norm_pix_loss: shape.spark_norm_pix, ..SparkConfig::default() };
    if let Some(w) = shape.decoder_width {
        cfg = cfg.with_decoder_width(w);
    }
    if !paper {
        cfg.optimizer.base_lr = SMALL_BASE_LR;
    }
    cfg.optimizer.base_lr *= shape.lr_scale;
    // The reference warms up for 40 of 1,600 epochs; a short run warms up for a tenth of its steps (as
    // the contrastive methods do), not a whole epoch: of a 2-epoch run that would be half.
    let epochs = shape.length.epochs as f64;
    if epochs < 4.0 * cfg.optimizer.warmup_epochs {
        cfg.optimizer.warmup_epochs = epochs / 10.0;
    }
    let recipe = recipe.recipe(shape.image_size);
    let opt = cfg.optimizer;
    let method = Spark::new(backbone, cfg, shape.seed, device)?;
    let groups = opt.param_groups(ctssl_train::method::PretrainMethod::trainable_vars(&method));
    let optimizer = Box::new(Lamb::new(groups, opt.lamb_config(shape.length.batch_size))?);
    let trainer = opt.trainer_config(shape.length, shape.seed)?;
    Ok(MethodRun { method: Box::new(method), recipe, optimizer, trainer, optimizer_settings: format!("LAMB {opt:?}") })
}
