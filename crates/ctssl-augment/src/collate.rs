//! Collation of images into candle tensors (NCHW, `f32`).

use candle_core::{Device, Tensor};

use crate::error::{AugmentError, Result};
use crate::image::Image;

/// Stack same-shaped images into one `[B, C, H, W]` tensor on `device`.
pub fn collate(images: &[&Image], device: &Device) -> Result<Tensor> {
    let first = images.first().ok_or_else(|| AugmentError::InvalidImage("cannot collate an empty batch".into()))?;
    let (c, h, w) = (first.channels, first.height, first.width);
    let mut data = Vec::with_capacity(images.len() * c * h * w);
    for img in images {
        if (img.channels, img.height, img.width) != (c, h, w) {
            return Err(AugmentError::InvalidImage(format!(
                "cannot collate a {}x{}x{} image with {c}x{h}x{w} ones",
                img.channels, img.height, img.width
            )));
        }
        data.extend_from_slice(&img.data);
    }
    Ok(Tensor::from_vec(data, (images.len(), c, h, w), device)?)
}

/// Collate per view index: `samples[i][k]` is view `k` of sample `i`; the result's element `k` is `[B, C, H, W]`.
pub fn collate_views(samples: &[Vec<Image>], device: &Device) -> Result<Vec<Tensor>> {
    let n_views = samples.first().map(|s| s.len()).unwrap_or(0);
    if samples.iter().any(|s| s.len() != n_views) {
        return Err(AugmentError::InvalidImage("samples have different numbers of views".into()));
    }
    (0..n_views)
        .map(|k| {
            let column: Vec<&Image> = samples.iter().map(|s| &s[k]).collect();
            collate(&column, device)
        })
        .collect()
}
