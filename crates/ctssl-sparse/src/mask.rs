//! SparK masks: one visible/masked flag per cell of the deepest feature map's grid, per image.
//!
//! A cell covers `patch × patch` input pixels, `patch` being the backbone's total stride (32 for a
//! ResNet with the ImageNet stem, 8 with the small stem). Every stage sees the same mask, repeated by an
//! integer factor to its resolution, so the cells stay aligned with every feature map.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, SparseError};

/// Draws masks with a fixed patch size and mask ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskGenerator {
    patch: usize,
    ratio: f64,
}

impl MaskGenerator {
    /// A generator for cells of `patch × patch` pixels, masking a fraction `ratio` (in `[0, 1)`) of them.
    pub fn new(patch: usize, ratio: f64) -> Result<Self> {
        if patch == 0 {
            return Err(SparseError::InvalidConfig("mask patch size must be at least 1".into()));
        }
        if !(ratio.is_finite() && (0.0..1.0).contains(&ratio)) {
            return Err(SparseError::InvalidConfig(format!("mask ratio must be in [0, 1), got {ratio}")));
        }
        Ok(MaskGenerator { patch, ratio })
    }

    /// The patch size (pixels per cell side).
    pub fn patch(&self) -> usize {
        self.patch
    }

    /// The fraction of masked cells.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Number of visible cells per image on a grid of `cells` cells: `round(cells × (1 − ratio))`, at least 1.
    pub fn visible_count(&self, cells: usize) -> usize {
        ((cells as f64 * (1.0 - self.ratio)).round() as usize).clamp(1, cells.max(1))
    }

    /// Masks for `batch` images of `height × width` pixels (both divisible by the patch size).
    ///
    /// Image `i` draws its visible cells uniformly without replacement from a ChaCha8 generator keyed by
    /// the 32 bytes `(seed, step, i, 0)` (little-endian), so the mask depends on nothing else.
    pub fn generate(&self, batch: usize, height: usize, width: usize, seed: u64, step: u64) -> Result<Mask> {
        if batch == 0 || height == 0 || width == 0 {
            return Err(SparseError::InvalidInput(format!("empty mask request {batch}×{height}×{width}")));
        }
        if !height.is_multiple_of(self.patch) || !width.is_multiple_of(self.patch) {
            return Err(SparseError::InvalidInput(format!(
                "image size {height}×{width} is not divisible by the mask patch {}",
                self.patch
            )));
        }
        let (gh, gw) = (height / self.patch, width / self.patch);
        let cells = gh * gw;
        let keep = self.visible_count(cells);
        let mut visible = vec![0u8; batch * cells];
        for (image, flags) in visible.chunks_mut(cells).enumerate() {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&seed.to_le_bytes());
            key[8..16].copy_from_slice(&step.to_le_bytes());
            key[16..24].copy_from_slice(&(image as u64).to_le_bytes());
            let mut rng = ChaCha8Rng::from_seed(key);
            // Partial Fisher–Yates: the first `keep` entries of the permutation are the visible cells.
            let mut order: Vec<usize> = (0..cells).collect();
            for i in 0..keep {
                let j = rng.random_range(i..cells);
                order.swap(i, j);
                flags[order[i]] = 1;
            }
        }
        Mask::from_flags(visible, batch, gh, gw, self.patch)
    }
}

/// A batch of masks: `visible[n][cell]` is 1 where the cell is visible, 0 where it is masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    visible: Vec<u8>,
    batch: usize,
    grid_h: usize,
    grid_w: usize,
    patch: usize,
}

impl Mask {
    /// A mask from explicit flags (`batch × grid_h × grid_w`, row-major, nonzero = visible).
    pub fn from_flags(flags: Vec<u8>, batch: usize, grid_h: usize, grid_w: usize, patch: usize) -> Result<Self> {
        if flags.len() != batch * grid_h * grid_w || patch == 0 {
            return Err(SparseError::InvalidInput(format!(
                "mask flags: {} values for {batch}×{grid_h}×{grid_w} cells, patch {patch}",
                flags.len()
            )));
        }
        let visible = flags.into_iter().map(|f| u8::from(f != 0)).collect();
        Ok(Mask { visible, batch, grid_h, grid_w, patch })
    }

    /// Every cell visible (the mask under which the encoder equals the plain backbone).
    pub fn all_visible(batch: usize, grid_h: usize, grid_w: usize, patch: usize) -> Result<Self> {
        Self::from_flags(vec![1; batch * grid_h * grid_w], batch, grid_h, grid_w, patch)
    }

    /// Images in the batch.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Grid size `(rows, columns)` of cells.
    pub fn grid(&self) -> (usize, usize) {
        (self.grid_h, self.grid_w)
    }

    /// Pixels per cell side.
    pub fn patch(&self) -> usize {
        self.patch
    }

    /// Image size `(height, width)` in pixels the mask was made for.
    pub fn image_size(&self) -> (usize, usize) {
        (self.grid_h * self.patch, self.grid_w * self.patch)
    }

    /// The flags, `batch × grid_h × grid_w`, 1 = visible.
    pub fn flags(&self) -> &[u8] {
        &self.visible
    }

    /// Visible cells of image `n`.
    pub fn visible_count(&self, n: usize) -> usize {
        let cells = self.grid_h * self.grid_w;
        self.visible.get(n * cells..(n + 1) * cells).map(|s| s.iter().map(|&v| v as usize).sum()).unwrap_or(0)
    }

    /// The mask on its grid as `[N, 1, grid_h, grid_w]` of `dtype` (1 visible, 0 masked).
    pub fn grid_tensor(&self, dtype: DType, device: &Device) -> Result<Tensor> {
        let values: Vec<f32> = self.visible.iter().map(|&v| f32::from(v)).collect();
        Ok(Tensor::from_vec(values, (self.batch, 1, self.grid_h, self.grid_w), device)?.to_dtype(dtype)?)
    }

    /// The mask at a feature map of the given stride (a divisor of the patch): each cell repeated
    /// `patch / stride` times along both axes, `[N, 1, H / stride, W / stride]`.
    pub fn at_stride(&self, stride: usize, dtype: DType, device: &Device) -> Result<Tensor> {
        if stride == 0 || !self.patch.is_multiple_of(stride) {
            return Err(SparseError::InvalidInput(format!(
                "stride {stride} does not divide the mask patch {}",
                self.patch
            )));
        }
        let r = self.patch / stride;
        let grid = self.grid_tensor(dtype, device)?;
        if r == 1 {
            return Ok(grid);
        }
        let (n, gh, gw) = (self.batch, self.grid_h, self.grid_w);
        Ok(grid.reshape((n, 1, gh, 1, gw, 1))?.broadcast_as((n, 1, gh, r, gw, r))?.reshape((n, 1, gh * r, gw * r))?)
    }

    /// The masks at every power-of-two stride from 1 to the patch, for one dtype and device.
    pub fn pyramid(&self, dtype: DType, device: &Device) -> Result<MaskPyramid> {
        let mut levels = Vec::new();
        let mut stride = 1;
        while stride <= self.patch {
            if self.patch.is_multiple_of(stride) {
                levels.push((stride, self.at_stride(stride, dtype, device)?));
            }
            stride *= 2;
        }
        Ok(MaskPyramid { levels, image: self.image_size() })
    }
}

/// The mask at every resolution the encoder meets, looked up by a feature map's spatial size.
#[derive(Debug, Clone)]
pub struct MaskPyramid {
    levels: Vec<(usize, Tensor)>,
    image: (usize, usize),
}

impl MaskPyramid {
    /// The mask `[N, 1, h, w]` for a feature map of spatial size `h × w`.
    pub fn for_size(&self, h: usize, w: usize) -> Result<&Tensor> {
        self.levels.iter().find(|(_, m)| m.dims()[2] == h && m.dims()[3] == w).map(|(_, m)| m).ok_or_else(|| {
            SparseError::InvalidInput(format!(
                "no mask level of size {h}×{w} for an image of {}×{}",
                self.image.0, self.image.1
            ))
        })
    }

    /// The mask at `stride` (a power of two dividing the patch).
    pub fn at_stride(&self, stride: usize) -> Result<&Tensor> {
        self.levels
            .iter()
            .find(|(s, _)| *s == stride)
            .map(|(_, m)| m)
            .ok_or_else(|| SparseError::InvalidInput(format!("no mask level at stride {stride}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_count_is_exact_per_image() {
        let g = MaskGenerator::new(32, 0.6).unwrap();
        for &(h, w) in &[(128, 128), (224, 224), (96, 160), (32, 64)] {
            let m = g.generate(5, h, w, 11, 3).unwrap();
            let cells = (h / 32) * (w / 32);
            let expected = ((cells as f64) * 0.4).round().max(1.0) as usize;
            for n in 0..5 {
                assert_eq!(m.visible_count(n), expected, "{h}x{w} image {n}");
            }
        }
        // 49 cells at ratio 0.6: round(19.6) = 20.
        assert_eq!(g.visible_count(49), 20);
        assert_eq!(g.visible_count(16), 6);
    }

    #[test]
    fn masks_are_deterministic_and_vary_with_seed_step_and_image() {
        let g = MaskGenerator::new(32, 0.75).unwrap();
        let a = g.generate(4, 256, 256, 5, 9).unwrap();
        assert_eq!(a, g.generate(4, 256, 256, 5, 9).unwrap());
        assert_ne!(a, g.generate(4, 256, 256, 6, 9).unwrap());
        assert_ne!(a, g.generate(4, 256, 256, 5, 10).unwrap());
        let cells = 64;
        assert_ne!(a.flags()[..cells], a.flags()[cells..2 * cells]);
    }

    #[test]
    fn non_square_shapes_and_repeat_upsampling() {
        let g = MaskGenerator::new(32, 0.5).unwrap();
        let m = g.generate(2, 64, 96, 1, 0).unwrap();
        assert_eq!(m.grid(), (2, 3));
        let dev = Device::Cpu;
        let full = m.at_stride(1, DType::F32, &dev).unwrap();
        assert_eq!(full.dims(), &[2, 1, 64, 96]);
        let s4 = m.at_stride(4, DType::F32, &dev).unwrap();
        assert_eq!(s4.dims(), &[2, 1, 16, 24]);
        let grid: Vec<f32> = m.grid_tensor(DType::F32, &dev).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let v: Vec<f32> = s4.flatten_all().unwrap().to_vec1().unwrap();
        for n in 0..2 {
            for y in 0..16 {
                for x in 0..24 {
                    assert_eq!(v[n * 384 + y * 24 + x], grid[n * 6 + (y / 8) * 3 + x / 8]);
                }
            }
        }
        assert!(g.generate(1, 64, 90, 1, 0).is_err());
        assert!(MaskGenerator::new(32, 1.0).is_err());
        let p = m.pyramid(DType::F64, &dev).unwrap();
        assert_eq!(p.for_size(32, 48).unwrap().dims(), &[2, 1, 32, 48]);
        assert!(p.for_size(5, 5).is_err());
    }
}
