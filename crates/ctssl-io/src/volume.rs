//! A CT volume: the slices of one series stacked in geometric order, with its voxel-to-patient geometry.
//!
//! Index `(i, j, k)` = (column, row, slice) maps to LPS millimetres as
//! `origin + i·sx·row_dir + j·sy·col_dir + k·sz·normal`, where `row_dir` and `col_dir` are the
//! Image Orientation (Patient) cosines, `normal = row_dir × col_dir`, and `[sz, sy, sx] = spacing`.
//!
//! Gaps are kept as they are: the volume holds only the real slices, `spacing[0]` is the median slice
//! spacing, the true location of every slice is in [`Volume::slice_locations`], and the gap is in
//! [`Volume::issues`]; the affine is exact only when [`Volume::is_uniform`]. Duplicates are dropped
//! (see [`crate::series`]).

use std::path::Path;

use rayon::prelude::*;

use crate::error::{IoError, Result};
use crate::header::read_header;
use crate::pixels::{read_image_with, CtImage, ReadOptions};
use crate::series::{cross, dot, normalize, Series, SeriesIssue};

/// A stack of CT slices in HU with its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Hounsfield units, `z × y × x` (slice, row, column), row-major.
    pub values: Vec<f32>,
    /// `[slices, rows, cols]`.
    pub shape: [usize; 3],
    /// Voxel spacing `[slice, row, column]` in mm.
    pub spacing: [f64; 3],
    /// LPS position (mm) of the centre of the first voxel.
    pub origin: [f64; 3],
    /// Direction cosines, `direction[axis][c]`: column 0 the row direction (i), 1 the column direction (j), 2 the normal (k).
    pub direction: [[f64; 3]; 3],
    /// Location of each slice along the normal, mm (empty without geometry).
    pub slice_locations: Vec<f64>,
    /// Series Instance UID.
    pub series_uid: String,
    /// Non-fatal issues of the series (gaps, duplicates dropped, ...).
    pub issues: Vec<SeriesIssue>,
}

impl Volume {
    /// Read the slices of a series (in parallel) into a volume, keeping padding values as they are.
    pub fn from_series(series: &Series) -> Result<Volume> {
        Volume::from_series_with(series, &ReadOptions::default())
    }

    /// Read the slices of a series into a volume with read options; refuses series with fatal issues.
    pub fn from_series_with(series: &Series, options: &ReadOptions) -> Result<Volume> {
        series.check()?;
        let (rows, cols) = (series.rows() as usize, series.cols() as usize);
        let plane = rows * cols;
        let error = |reason: String| IoError::Series { series_uid: series.uid.clone(), reason };
        let copy_frame = |image: &CtImage, frame: u32, out: &mut [f32]| -> Result<()> {
            if image.header.rows as usize != rows || image.header.cols as usize != cols {
                return Err(error(format!(
                    "{}: {}x{} pixels, expected {rows}x{cols} (file changed since its header was read?)",
                    image.header.path.display(),
                    image.header.rows,
                    image.header.cols
                )));
            }
            let values = image.frame(frame as usize).ok_or_else(|| {
                error(format!("{}: frame {frame} out of {}", image.header.path.display(), image.header.frames))
            })?;
            out.copy_from_slice(values);
            Ok(())
        };
        let path_of = |header: usize| {
            series.headers.get(header).map(|h| h.path.clone()).ok_or_else(|| error(format!("no header {header}")))
        };

        let mut values = vec![0.0f32; plane * series.slices.len()];
        if series.headers.iter().all(|h| h.frames == 1) {
            values.par_chunks_mut(plane.max(1)).zip(series.slices.par_iter()).try_for_each(|(out, slice)| {
                let image = read_image_with(path_of(slice.header)?, options)?;
                copy_frame(&image, slice.frame, out)
            })?;
        } else {
            let mut used: Vec<usize> = series.slices.iter().map(|s| s.header).collect();
            used.sort_unstable();
            used.dedup();
            let images: Vec<(usize, CtImage)> = used
                .par_iter()
                .map(|&h| Ok((h, read_image_with(path_of(h)?, options)?)))
                .collect::<Result<Vec<_>>>()?;
            for (slice, out) in series.slices.iter().zip(values.chunks_mut(plane.max(1))) {
                let image = images
                    .binary_search_by_key(&slice.header, |(h, _)| *h)
                    .ok()
                    .and_then(|i| images.get(i))
                    .ok_or_else(|| error(format!("header {} not read", slice.header)))?;
                copy_frame(&image.1, slice.frame, out)?;
            }
        }

        let pixel_spacing = series.pixel_spacing().unwrap_or([1.0, 1.0]);
        let thickness = series.headers.iter().find_map(|h| h.slice_thickness).filter(|t| *t > 0.0);
        let geometry = series.orientation.zip(series.normal).zip(series.slices.first().and_then(|s| s.position));
        let (origin, direction, slice_locations) = match geometry {
            Some(((o, n), first)) if series.slices.iter().all(|s| s.location.is_some()) => {
                let r = normalize([o[0], o[1], o[2]]).unwrap_or([1.0, 0.0, 0.0]);
                let c = normalize([o[3], o[4], o[5]]).unwrap_or([0.0, 1.0, 0.0]);
                let direction = [[r[0], c[0], n[0]], [r[1], c[1], n[1]], [r[2], c[2], n[2]]];
                (first, direction, series.slices.iter().filter_map(|s| s.location).collect())
            }
            _ => ([0.0; 3], IDENTITY, Vec::new()),
        };
        let slice_spacing = series.slice_spacing.filter(|s| *s > 0.0).or(thickness).unwrap_or(1.0);
        Ok(Volume {
            values,
            shape: [series.slices.len(), rows, cols],
            spacing: [slice_spacing, pixel_spacing[0], pixel_spacing[1]],
            origin,
            direction,
            slice_locations,
            series_uid: series.uid.clone(),
            issues: series.issues.clone(),
        })
    }

    /// Read one file (single- or multi-frame) as a volume.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Volume> {
        let header = read_header(path)?;
        Volume::from_series(&Series::from_headers(header.series_instance_uid.clone(), vec![header]))
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the volume has no voxels.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values of slice `k` (`rows × cols`).
    pub fn slice(&self, k: usize) -> Option<&[f32]> {
        let n = self.shape[1] * self.shape[2];
        self.values.get(k * n..(k + 1) * n)
    }

    /// The value at slice `k`, row `j`, column `i`.
    pub fn get(&self, k: usize, j: usize, i: usize) -> Option<f32> {
        if j >= self.shape[1] || i >= self.shape[2] {
            return None;
        }
        self.values.get((k * self.shape[1] + j) * self.shape[2] + i).copied()
    }

    /// Whether the slices are evenly spaced (no gap, no non-uniform spacing): then the affine is exact.
    pub fn is_uniform(&self) -> bool {
        !self.issues.iter().any(|i| matches!(i, SeriesIssue::Gap { .. } | SeriesIssue::NonUniformSpacing { .. }))
    }

    /// The 4×4 matrix taking `(i, j, k, 1)` = (column, row, slice, 1) to LPS mm.
    pub fn affine(&self) -> [[f64; 4]; 4] {
        let step = [self.spacing[2], self.spacing[1], self.spacing[0]];
        let mut a = [[0.0; 4]; 4];
        for (r, row) in a.iter_mut().take(3).enumerate() {
            for (c, s) in step.iter().enumerate() {
                row[c] = self.direction[r][c] * s;
            }
            row[3] = self.origin[r];
        }
        a[3][3] = 1.0;
        a
    }

    /// LPS mm of the (fractional) index `[i, j, k]` = (column, row, slice).
    pub fn index_to_lps(&self, index: [f64; 3]) -> [f64; 3] {
        let a = self.affine();
        let mut p = [0.0; 3];
        for (r, out) in p.iter_mut().enumerate() {
            *out = a[r][0] * index[0] + a[r][1] * index[1] + a[r][2] * index[2] + a[r][3];
        }
        p
    }

    /// The fractional index `[i, j, k]` of an LPS point (inverse of [`Volume::index_to_lps`]).
    pub fn lps_to_index(&self, lps: [f64; 3]) -> [f64; 3] {
        let d = [lps[0] - self.origin[0], lps[1] - self.origin[1], lps[2] - self.origin[2]];
        let step = [self.spacing[2], self.spacing[1], self.spacing[0]];
        let mut index = [0.0; 3];
        for (c, out) in index.iter_mut().enumerate() {
            let axis = [self.direction[0][c], self.direction[1][c], self.direction[2][c]];
            *out = dot(d, axis) / step[c];
        }
        index
    }

    /// The slice normal (third direction column).
    pub fn normal(&self) -> [f64; 3] {
        [self.direction[0][2], self.direction[1][2], self.direction[2][2]]
    }

    /// Whether the direction matrix is right-handed (normal = row × column direction).
    pub fn is_right_handed(&self) -> bool {
        let col = |c: usize| [self.direction[0][c], self.direction[1][c], self.direction[2][c]];
        dot(cross(col(0), col(1)), col(2)) > 0.0
    }
}

const IDENTITY: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
