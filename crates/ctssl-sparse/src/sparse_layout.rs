//! The compact layout of the truly sparse path: at every resolution, the visible positions as a list of
//! rows, and neighbour tables that say, for each output row of a convolution or pooling window and each
//! kernel tap, which input row it reads (or that it reads a masked zero, or the padding).
//!
//! A feature map at stride `s` is a `[A, C]` matrix (row-major, channels last) whose `A` rows are the
//! visible positions at that resolution in raster order `(image, y, x)`. Because every stride divides
//! the mask patch, the visible positions of each resolution are whole blocks of the mask's cells.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::error::{Result, SparseError};
use crate::mask::Mask;

/// Table entry: the tap reads an in-bounds position that is masked (value 0).
pub const INACTIVE: u32 = u32::MAX;
/// Table entry: the tap reads the padding outside the image (0 for a convolution, −∞ for max pooling).
pub const OUTSIDE: u32 = u32::MAX - 1;

/// The visible positions of one resolution.
#[derive(Debug)]
pub struct ActiveLevel {
    /// Stride relative to the input.
    pub stride: usize,
    /// Images.
    pub batch: usize,
    /// Height of the feature map at this stride.
    pub height: usize,
    /// Width of the feature map at this stride.
    pub width: usize,
    /// Dense position `(n·height + y)·width + x` of every row, ascending.
    pub positions: Vec<u32>,
    /// Row of every dense position, or [`INACTIVE`].
    pub index: Vec<u32>,
    /// First row of each image (`batch + 1` entries).
    pub image_rows: Vec<usize>,
}

impl ActiveLevel {
    fn new(mask: &Mask, stride: usize) -> Self {
        let r = mask.patch() / stride;
        let (gh, gw) = mask.grid();
        let (h, w, n) = (gh * r, gw * r, mask.batch());
        let flags = mask.flags();
        let mut positions = Vec::new();
        let mut index = vec![INACTIVE; n * h * w];
        let mut image_rows = Vec::with_capacity(n + 1);
        for img in 0..n {
            image_rows.push(positions.len());
            for y in 0..h {
                for x in 0..w {
                    if flags[(img * gh + y / r) * gw + x / r] != 0 {
                        let p = (img * h + y) * w + x;
                        index[p] = positions.len() as u32;
                        positions.push(p as u32);
                    }
                }
            }
        }
        image_rows.push(positions.len());
        ActiveLevel { stride, batch: n, height: h, width: w, positions, index, image_rows }
    }

    /// Number of visible positions (rows).
    pub fn rows(&self) -> usize {
        self.positions.len()
    }
}

/// Which table: input and output strides, kernel, stride and padding of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TableKey {
    from: usize,
    to: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

/// For each output row and kernel tap `(ky, kx)` (row-major), the input row read, or [`INACTIVE`] /
/// [`OUTSIDE`].
#[derive(Debug)]
pub struct NeighbourTable {
    /// `kernel²`.
    pub taps: usize,
    /// Output rows.
    pub out_rows: usize,
    /// Input rows.
    pub in_rows: usize,
    /// `[out_rows × taps]`.
    pub table: Vec<u32>,
    /// A 1×1, stride-1 window on one resolution: output row `i` reads input row `i`.
    pub identity: bool,
    inverse: OnceLock<Vec<u32>>,
}

impl NeighbourTable {
    /// For each input row and tap, the output row that reads it through that tap, or [`INACTIVE`]
    /// (`[in_rows × taps]`; a fixed tap reads distinct inputs from distinct outputs, so it is unique).
    pub fn inverse(&self) -> &[u32] {
        self.inverse.get_or_init(|| {
            let mut inv = vec![INACTIVE; self.in_rows * self.taps];
            for (o, row) in self.table.chunks_exact(self.taps).enumerate() {
                for (t, &i) in row.iter().enumerate() {
                    if i < OUTSIDE {
                        inv[i as usize * self.taps + t] = o as u32;
                    }
                }
            }
            inv
        })
    }
}

/// The visible positions at every stride `1, 2, 4, …, patch` of one mask, and a cache of neighbour tables.
#[derive(Debug)]
pub struct SparseLayout {
    levels: Vec<Arc<ActiveLevel>>,
    tables: Mutex<HashMap<TableKey, Arc<NeighbourTable>>>,
}

impl SparseLayout {
    /// The layout of `mask` (its patch must be a power of two).
    pub fn new(mask: &Mask) -> Result<Self> {
        let p = mask.patch();
        if !p.is_power_of_two() {
            return Err(SparseError::InvalidInput(format!("mask patch {p} is not a power of two")));
        }
        let (gh, gw) = mask.grid();
        if mask.batch() * gh * gw * p * p >= OUTSIDE as usize {
            return Err(SparseError::InvalidInput("mask too large for 32-bit row indices".into()));
        }
        let mut levels = Vec::new();
        let mut s = 1;
        while s <= p {
            levels.push(Arc::new(ActiveLevel::new(mask, s)));
            s *= 2;
        }
        Ok(SparseLayout { levels, tables: Mutex::new(HashMap::new()) })
    }

    /// The level at `stride`.
    pub fn at_stride(&self, stride: usize) -> Result<&Arc<ActiveLevel>> {
        self.levels
            .iter()
            .find(|l| l.stride == stride)
            .ok_or_else(|| SparseError::InvalidInput(format!("no sparse level at stride {stride}")))
    }

    /// The level whose feature map is `height × width`.
    pub fn for_size(&self, height: usize, width: usize) -> Result<&Arc<ActiveLevel>> {
        self.levels
            .iter()
            .find(|l| l.height == height && l.width == width)
            .ok_or_else(|| SparseError::InvalidInput(format!("no sparse level of size {height}×{width}")))
    }

    /// The table of a `kernel × kernel` window with `stride` and `padding` applied to the level `from`;
    /// returns it with the output level (the level of the window's output size).
    pub fn table(
        &self,
        from: &ActiveLevel,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<(Arc<NeighbourTable>, Arc<ActiveLevel>)> {
        let span = |i: usize| (i + 2 * padding).checked_sub(kernel).map(|d| d / stride.max(1) + 1);
        let (Some(oh), Some(ow)) = (span(from.height), span(from.width)) else {
            return Err(SparseError::InvalidInput(format!("kernel {kernel} larger than the padded input")));
        };
        if kernel == 0 || stride == 0 {
            return Err(SparseError::InvalidInput("kernel and stride must be at least 1".into()));
        }
        let to = Arc::clone(self.for_size(oh, ow)?);
        let key = TableKey { from: from.stride, to: to.stride, kernel, stride, padding };
        let mut cache = self.tables.lock().map_err(|_| SparseError::InvalidInput("table cache poisoned".into()))?;
        if let Some(t) = cache.get(&key) {
            return Ok((Arc::clone(t), to));
        }
        let table = Arc::new(build_table(from, &to, kernel, stride, padding));
        cache.insert(key, Arc::clone(&table));
        Ok((table, to))
    }
}

fn build_table(from: &ActiveLevel, to: &ActiveLevel, kernel: usize, stride: usize, padding: usize) -> NeighbourTable {
    let taps = kernel * kernel;
    let identity = kernel == 1 && stride == 1 && padding == 0 && from.stride == to.stride;
    let mut table = vec![OUTSIDE; to.rows() * taps];
    let (oh, ow) = (to.height, to.width);
    let (ih, iw) = (from.height as isize, from.width as isize);
    table.par_chunks_mut(taps).zip(to.positions.par_iter()).for_each(|(row, &pos)| {
        let pos = pos as usize;
        let (n, oy, ox) = (pos / (oh * ow), (pos / ow) % oh, pos % ow);
        for ky in 0..kernel {
            let iy = (oy * stride + ky) as isize - padding as isize;
            for kx in 0..kernel {
                let ix = (ox * stride + kx) as isize - padding as isize;
                if iy >= 0 && iy < ih && ix >= 0 && ix < iw {
                    let p = ((n as isize * ih + iy) * iw + ix) as usize;
                    row[ky * kernel + kx] = from.index[p];
                }
            }
        }
    });
    NeighbourTable { taps, out_rows: to.rows(), in_rows: from.rows(), table, identity, inverse: OnceLock::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_tables_follow_the_mask() {
        // 1 image, grid 1×2 of 4-pixel cells, right cell visible.
        let mask = Mask::from_flags(vec![0, 1], 1, 1, 2, 4).unwrap();
        let layout = SparseLayout::new(&mask).unwrap();
        let l1 = layout.at_stride(1).unwrap();
        assert_eq!((l1.height, l1.width, l1.rows()), (4, 8, 16));
        assert_eq!(l1.positions[0], 4);
        assert_eq!(l1.index[3], INACTIVE);
        let l4 = layout.at_stride(4).unwrap();
        assert_eq!(l4.positions, vec![1]);
        // 3×3 stride-2 padding-1 window from stride 1 to stride 2.
        let (t, to) = layout.table(l1, 3, 2, 1).unwrap();
        assert_eq!(to.stride, 2);
        assert_eq!(t.out_rows, 4);
        // Output (0, 2) reads input rows −1..1 × 3..5: row −1 is outside, column 3 masked.
        assert_eq!(&t.table[..9], &[OUTSIDE, OUTSIDE, OUTSIDE, INACTIVE, 0, 1, INACTIVE, 4, 5]);
        let inv = t.inverse();
        assert_eq!(inv[9 + 5], 0); // input row 1 = (0, 5) is read by output 0 through tap (1, 2)
        assert!(layout.table(l1, 1, 1, 0).unwrap().0.identity);
    }
}
