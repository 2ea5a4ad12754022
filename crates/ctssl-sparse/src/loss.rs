//! SparK's reconstruction loss: MSE of each masked patch, averaged over the masked patches only; the
//! target patch normalised by its own mean and deviation (SparK's and MAE's `norm_pix_loss`) or, for
//! data whose values mean something in themselves (CT densities through fixed HU windows), as it is.

use candle_core::{DType, Tensor};

use crate::error::{Result, SparseError};
use crate::mask::Mask;

/// `[N, C, H, W]` → `[N, L, p·p·C]` with `L = (H / p) · (W / p)` patches in row-major order.
pub fn patchify(x: &Tensor, patch: usize) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() != 4 || patch == 0 || !dims[2].is_multiple_of(patch) || !dims[3].is_multiple_of(patch) {
        return Err(SparseError::InvalidInput(format!("cannot patchify {dims:?} with patch {patch}")));
    }
    let (n, c, h, w) = (dims[0], dims[1], dims[2] / patch, dims[3] / patch);
    Ok(x.reshape((n, c, h, patch, w, patch))?.permute((0, 2, 4, 3, 5, 1))?.reshape((n, h * w, patch * patch * c))?)
}

/// The loss of `reconstruction` against `image` (both `[N, C, H, W]`) under `mask`.
///
/// With `normalize`, each target patch is normalised by its own mean and standard deviation:
/// `(t − μ) / √(σ² + 1e-6)` with the unbiased variance, as SparK's code (`torch.var` default); without,
/// the target is the image itself, so the patch's level (on CT: its density) must be reconstructed too.
/// The squared error is averaged within each patch, then over the masked patches of the batch (visible
/// patches do not count).
pub fn masked_patch_loss(image: &Tensor, reconstruction: &Tensor, mask: &Mask, normalize: bool) -> Result<Tensor> {
    if image.dims() != reconstruction.dims() {
        return Err(SparseError::InvalidInput(format!(
            "image {:?} and reconstruction {:?} differ in shape",
            image.dims(),
            reconstruction.dims()
        )));
    }
    let p = mask.patch();
    let target = patchify(&image.detach(), p)?;
    let rec = patchify(reconstruction, p)?;
    let (n, l, d) = target.dims3()?;
    if (n, l) != (mask.batch(), mask.grid().0 * mask.grid().1) {
        return Err(SparseError::InvalidInput(format!(
            "mask {:?} does not fit the image {:?}",
            mask.grid(),
            image.dims()
        )));
    }
    let target = if normalize {
        if d < 2 {
            return Err(SparseError::InvalidInput("patches need at least 2 values for a standard deviation".into()));
        }
        let mean = target.mean_keepdim(2)?;
        let centred = target.broadcast_sub(&mean)?;
        let var = (centred.sqr()?.sum_keepdim(2)? / (d as f64 - 1.0))?;
        centred.broadcast_div(&(var + 1e-6)?.sqrt()?)?
    } else {
        target
    };
    let per_patch = (rec - target)?.sqr()?.mean(2)?; // [N, L]
    let masked = (1.0 - mask.grid_tensor(per_patch.dtype(), per_patch.device())?.reshape((n, l))?)?;
    let count = masked.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((per_patch.mul(&masked)?.sum_all()? / (count + 1e-8))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskGenerator;
    use candle_core::Device;

    #[test]
    fn patchify_orders_patches_row_major() {
        let dev = Device::Cpu;
        let x = Tensor::arange(0f32, 16.0, &dev).unwrap().reshape((1, 1, 4, 4)).unwrap();
        let p: Vec<Vec<f32>> = patchify(&x, 2).unwrap().squeeze(0).unwrap().to_vec2().unwrap();
        assert_eq!(p[0], vec![0.0, 1.0, 4.0, 5.0]);
        assert_eq!(p[1], vec![2.0, 3.0, 6.0, 7.0]);
        assert_eq!(p[3], vec![10.0, 11.0, 14.0, 15.0]);
    }

    #[test]
    fn loss_counts_masked_patches_only() {
        let dev = Device::Cpu;
        let mask = MaskGenerator::new(8, 0.5).unwrap().generate(2, 32, 24, 3, 0).unwrap();
        let img = Tensor::randn(0f64, 1.0, (2, 1, 32, 24), &dev).unwrap();
        let rec = Tensor::randn(0f64, 1.0, (2, 1, 32, 24), &dev).unwrap();
        let base = masked_patch_loss(&img, &rec, &mask, true).unwrap().to_scalar::<f64>().unwrap();
        // Change the reconstruction at visible cells only: the loss must not move.
        let vis = mask.at_stride(1, DType::F64, &dev).unwrap();
        let noise = Tensor::randn(0f64, 10.0, (2, 1, 32, 24), &dev).unwrap();
        let rec2 = (&rec + noise.broadcast_mul(&vis).unwrap()).unwrap();
        let same = masked_patch_loss(&img, &rec2, &mask, true).unwrap().to_scalar::<f64>().unwrap();
        assert_eq!(base, same);
        // Changing a masked cell does move it.
        let rec3 = (&rec + noise.broadcast_mul(&(1.0 - &vis).unwrap()).unwrap()).unwrap();
        let other = masked_patch_loss(&img, &rec3, &mask, true).unwrap().to_scalar::<f64>().unwrap();
        assert!((other - base).abs() > 1e-3);
        // A perfect reconstruction of the normalised target gives (almost) zero.
        let t = patchify(&img, 8).unwrap();
        let m = t.mean_keepdim(2).unwrap();
        let c = t.broadcast_sub(&m).unwrap();
        let v = (c.sqr().unwrap().sum_keepdim(2).unwrap() / 63.0).unwrap();
        let norm = c.broadcast_div(&(v + 1e-6).unwrap().sqrt().unwrap()).unwrap();
        let perfect = norm.reshape((2, 4, 3, 8, 8, 1)).unwrap().permute((0, 5, 1, 3, 2, 4)).unwrap();
        let perfect = perfect.reshape((2, 1, 32, 24)).unwrap();
        let zero = masked_patch_loss(&img, &perfect, &mask, true).unwrap().to_scalar::<f64>().unwrap();
        assert!(zero < 1e-20, "{zero}");
    }

    #[test]
    fn the_raw_target_keeps_the_level_of_a_patch() {
        let dev = Device::Cpu;
        let mask = MaskGenerator::new(8, 0.5).unwrap().generate(1, 16, 16, 3, 0).unwrap();
        let img = Tensor::randn(0f64, 1.0, (1, 1, 16, 16), &dev).unwrap();
        // the image itself is a perfect raw reconstruction
        let zero = masked_patch_loss(&img, &img, &mask, false).unwrap().to_scalar::<f64>().unwrap();
        assert_eq!(zero, 0.0);
        // brighten every pixel by 2: normalised patches do not change, so only the raw loss sees it
        // (each masked patch misses by exactly 2: a mean squared error of 4)
        let bright = (&img + 2.0).unwrap();
        let raw = masked_patch_loss(&bright, &img, &mask, false).unwrap().to_scalar::<f64>().unwrap();
        assert!((raw - 4.0).abs() < 1e-6, "{raw}"); // the mean divides by (count + 1e-8)
        let a = masked_patch_loss(&img, &img, &mask, true).unwrap().to_scalar::<f64>().unwrap();
        let b = masked_patch_loss(&bright, &img, &mask, true).unwrap().to_scalar::<f64>().unwrap();
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
}
