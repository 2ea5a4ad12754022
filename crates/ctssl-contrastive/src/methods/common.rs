//! Pieces shared by the method structs: running the backbone over views grouped by size, the collapse
//! logs, the pairing of EMA targets with online variables, and state maps with non-`Var` entries (queues,
//! centres).

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use ctssl_backbones::ResNet;
use ctssl_train::{Result as TrainResult, TrainError};

use crate::collapse_monitor::CollapseReport;
use crate::error::ContrastiveError;

impl From<ContrastiveError> for TrainError {
    fn from(e: ContrastiveError) -> Self {
        match e {
            ContrastiveError::Candle(c) => TrainError::Candle(c),
            ContrastiveError::Train(t) => t,
            ContrastiveError::Backbone(b) => TrainError::Backbone(b),
            other => TrainError::InvalidArgument(other.to_string()),
        }
    }
}

/// Fails unless there are at least `min` views, all `[B, C, H, W]` with the same `B ≥ 2`.
pub(crate) fn check_views(method: &str, views: &[Tensor], min: usize) -> TrainResult<usize> {
    if views.len() < min {
        return Err(TrainError::InvalidArgument(format!("{method}: needs at least {min} views, got {}", views.len())));
    }
    let b = views[0].dims().first().copied().unwrap_or(0);
    for v in views {
        if v.rank() != 4 || v.dims()[0] != b {
            return Err(TrainError::InvalidArgument(format!(
                "{method}: every view must be [B, C, H, W] with the same B, got {:?} and {:?}",
                views[0].dims(),
                v.dims()
            )));
        }
    }
    if b < 2 {
        return Err(TrainError::InvalidArgument(format!("{method}: needs a batch of at least 2, got {b}")));
    }
    Ok(b)
}

/// Pooled backbone features `[B, F]` of each view, in the order of `views`. Consecutive views of the same
/// size go through the backbone as one batch (as the reference multi-crop code does), so batch norm sees
/// all of them together. `train` selects batch statistics (and running-statistics updates).
pub(crate) fn pooled_features(backbone: &ResNet, views: &[Tensor], train: bool) -> TrainResult<Vec<Tensor>> {
    let mut out = Vec::with_capacity(views.len());
    let mut start = 0;
    while start < views.len() {
        let mut end = start + 1;
        while end < views.len() && views[end].dims() == views[start].dims() {
            end += 1;
        }
        let b = views[start].dims()[0];
        let x = if end - start == 1 { views[start].clone() } else { Tensor::cat(&views[start..end], 0)? };
        let pooled = backbone.forward_features(&x, train)?.pooled;
        for k in 0..end - start {
            out.push(pooled.narrow(0, k * b, b)?);
        }
        start = end;
    }
    Ok(out)
}

/// Applies `f` to the concatenation of `xs` (all `[B, D]`) and splits the result back per input.
pub(crate) fn map_concat(xs: &[Tensor], f: impl FnOnce(&Tensor) -> TrainResult<Tensor>) -> TrainResult<Vec<Tensor>> {
    let b = xs.first().map(|x| x.dims()[0]).ok_or_else(|| TrainError::InvalidArgument("no input".into()))?;
    let y = f(&Tensor::cat(xs, 0)?)?;
    (0..xs.len()).map(|k| Ok(y.narrow(0, k * b, b)?)).collect()
}

/// Names of the collapse monitors in [`ctssl_train::method::LossOutput::logs`].
pub const MONITOR_NAMES: [&str; 4] = ["monitor_std", "monitor_rank", "monitor_alignment", "monitor_uniformity"];

/// The collapse monitors of two views' embeddings as log entries (see [`MONITOR_NAMES`]), when `step` is a
/// multiple of `every` (never when `every` is 0).
pub(crate) fn collapse_logs(z1: &Tensor, z2: &Tensor, step: u64, every: u64) -> TrainResult<Vec<(String, f64)>> {
    if every == 0 || !step.is_multiple_of(every) {
        return Ok(Vec::new());
    }
    let r = CollapseReport::new(z1, z2)?;
    Ok(MONITOR_NAMES
        .iter()
        .map(|n| n.to_string())
        .zip([r.mean_std, r.effective_rank, r.alignment, r.uniformity])
        .collect())
}

/// Takes the entries `names` out of `state` (failing when one is missing), leaving the rest.
pub(crate) fn take_entries(state: &mut HashMap<String, Tensor>, names: &[String]) -> TrainResult<Vec<Tensor>> {
    names.iter().map(|n| state.remove(n).ok_or_else(|| TrainError::MissingTensor(n.clone()))).collect()
}

/// Checks that `t` has the shape `dims`.
pub(crate) fn expect_dims(name: &str, t: &Tensor, dims: &[usize]) -> TrainResult<()> {
    if t.dims() != dims {
        return Err(TrainError::ShapeMismatch {
            name: name.to_string(),
            expected: dims.to_vec(),
            found: t.dims().to_vec(),
        });
    }
    Ok(())
}

/// Pairs `(name, target, online)` of two equally shaped variable lists, named by the target's names.
pub(crate) fn pair_vars(
    targets: Vec<(String, Var)>,
    online: Vec<(String, Var)>,
) -> TrainResult<Vec<(String, Var, Var)>> {
    if targets.len() != online.len() {
        return Err(TrainError::InvalidArgument(format!(
            "target has {} variables, online network {}",
            targets.len(),
            online.len()
        )));
    }
    Ok(targets.into_iter().zip(online).map(|((n, t), (_, o))| (n, t, o)).collect())
}
