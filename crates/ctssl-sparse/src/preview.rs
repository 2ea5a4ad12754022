//! Reconstruction previews: a PNG with one row per image — input, masked input, reconstruction, and the
//! input's visible cells blended with the reconstruction's masked cells.

use candle_core::{DType, Tensor};
use std::path::Path;

use crate::error::{Result, SparseError};
use crate::loss::patchify;
use crate::mask::Mask;

/// Maps the reconstruction (in per-patch normalised units, what the loss compares) back to the image's
/// scale with each patch's own mean and standard deviation of the input, as SparK's visualisation does.
pub fn denormalise(image: &Tensor, reconstruction: &Tensor, patch: usize) -> Result<Tensor> {
    let dims = image.dims().to_vec();
    let (n, c, h, w) = (dims[0], dims[1], dims[2] / patch, dims[3] / patch);
    let target = patchify(image, patch)?;
    let d = target.dims()[2];
    let mean = target.mean_keepdim(2)?;
    let std = ((target.broadcast_sub(&mean)?.sqr()?.sum_keepdim(2)? / (d.max(2) as f64 - 1.0))? + 1e-6)?.sqrt()?;
    let rec = patchify(reconstruction, patch)?.broadcast_mul(&std)?.broadcast_add(&mean)?;
    // Inverse of `patchify`: [N, L, p·p·C] → [N, C, H, W].
    Ok(rec.reshape((n, h, w, patch, patch, c))?.permute((0, 5, 1, 3, 2, 4))?.reshape((n, c, h * patch, w * patch))?)
}

/// Writes the preview of the first `max_images` images (channel 0) to `path` (atomically: a temporary
/// file, synced, then renamed). Each image is scaled to grey levels by the input's own minimum and maximum.
pub fn write_preview(
    image: &Tensor,
    reconstruction: &Tensor,
    mask: &Mask,
    max_images: usize,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let image = image.detach().to_dtype(DType::F32)?;
    let rec = denormalise(&image, &reconstruction.detach().to_dtype(DType::F32)?, mask.patch())?;
    let visible = mask.at_stride(1, DType::F32, image.device())?;
    let masked = image.broadcast_mul(&visible)?;
    let blended = (&masked + rec.broadcast_mul(&(1.0 - &visible)?)?)?;
    let (n, _, h, w) = image.dims4()?;
    let rows = n.min(max_images.max(1));
    let panels = [image, masked, rec, blended];
    let width = 4 * w;
    let mut pixels = vec![0u8; rows * h * width];
    for r in 0..rows {
        let source: Vec<f32> = panels[0].get(r)?.get(0)?.flatten_all()?.to_vec1()?;
        let lo = source.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = source.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
        for (col, panel) in panels.iter().enumerate() {
            let values: Vec<f32> = panel.get(r)?.get(0)?.flatten_all()?.to_vec1()?;
            for y in 0..h {
                for x in 0..w {
                    let v = ((values[y * w + x] - lo) * scale).round().clamp(0.0, 255.0);
                    pixels[(r * h + y) * width + col * w + x] = v as u8;
                }
            }
        }
    }
    let buffer = image::GrayImage::from_raw(width as u32, (rows * h) as u32, pixels)
        .ok_or_else(|| SparseError::InvalidInput("preview buffer has the wrong size".into()))?;
    let mut png = std::io::Cursor::new(Vec::new());
    buffer
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|source| SparseError::Image { path: path.to_path_buf(), source })?;
    let write = || -> std::io::Result<()> {
        let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
        std::io::Write::write_all(&mut file, png.get_ref())?;
        file.commit()
    };
    write().map_err(|source| SparseError::Io { path: path.to_path_buf(), source })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskGenerator;
    use candle_core::Device;

    #[test]
    fn denormalise_inverts_the_loss_target_and_the_png_has_four_panels() {
        let dev = Device::Cpu;
        let img = Tensor::randn(0f32, 1.0, (3, 1, 16, 24), &dev).unwrap();
        // The normalised target itself denormalises back to the image.
        let t = patchify(&img, 8).unwrap();
        let m = t.mean_keepdim(2).unwrap();
        let c = t.broadcast_sub(&m).unwrap();
        let v = (c.sqr().unwrap().sum_keepdim(2).unwrap() / 63.0).unwrap();
        let norm = c.broadcast_div(&(v + 1e-6).unwrap().sqrt().unwrap()).unwrap();
        let norm = norm.reshape((3, 2, 3, 8, 8, 1)).unwrap().permute((0, 5, 1, 3, 2, 4)).unwrap();
        let norm = norm.reshape((3, 1, 16, 24)).unwrap();
        let back = denormalise(&img, &norm, 8).unwrap();
        let d: f32 = (back - &img).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap();
        assert!(d < 1e-4, "{d}");
        let mask = MaskGenerator::new(8, 0.6).unwrap().generate(3, 16, 24, 0, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("preview.png");
        write_preview(&img, &norm, &mask, 2, &path).unwrap();
        let png = image::open(&path).unwrap();
        assert_eq!((png.width(), png.height()), (96, 32));
    }
}
