//! Where slices come from: the `ctssl-io` slice cache, slices held in memory, or a subset of either.

use std::sync::Arc;

use ctssl_io::SliceCache;

use crate::error::{AugmentError, Result};
use crate::image::Image;

/// One slice in HU with the patient it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct HuSlice {
    /// The HU values, one channel, `rows × cols` (`height × width`); shared, so that an in-memory source
    /// hands it out without copying.
    pub image: Arc<Image>,
    /// Patient ID (for patient-level splits and reports).
    pub patient_id: String,
}

/// A random-access collection of HU slices, shareable across threads.
pub trait SliceSource: Send + Sync {
    /// Number of slices.
    fn len(&self) -> usize;

    /// Whether there is no slice.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slice `index` (an owned copy in `f32` HU).
    fn get(&self, index: usize) -> Result<HuSlice>;
}

impl<S: SliceSource + ?Sized> SliceSource for Arc<S> {
    fn len(&self) -> usize {
        (**self).len()
    }

    fn get(&self, index: usize) -> Result<HuSlice> {
        (**self).get(index)
    }
}

impl SliceSource for SliceCache {
    fn len(&self) -> usize {
        SliceCache::len(self)
    }

    fn get(&self, index: usize) -> Result<HuSlice> {
        let slice = self.slice(index).ok_or(AugmentError::OutOfRange { index, len: SliceCache::len(self) })?;
        let (rows, cols) = (slice.meta.rows as usize, slice.meta.cols as usize);
        let image = Image::from_vec(rows, cols, slice.hu.to_f32())
            .map_err(|e| AugmentError::Source { index, source: Box::new(e) })?;
        Ok(HuSlice { image: Arc::new(image), patient_id: slice.meta.patient_id.clone() })
    }
}

/// Slices held in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InMemorySlices {
    /// The slices.
    pub slices: Vec<HuSlice>,
}

impl InMemorySlices {
    /// An empty collection.
    pub fn new() -> Self {
        InMemorySlices::default()
    }

    /// Add a single-channel HU image (fails on a multi-channel image).
    pub fn push(&mut self, image: Image, patient_id: impl Into<String>) -> Result<()> {
        if image.channels != 1 {
            return Err(AugmentError::InvalidImage(format!("a HU slice has 1 channel, not {}", image.channels)));
        }
        self.slices.push(HuSlice { image: Arc::new(image), patient_id: patient_id.into() });
        Ok(())
    }
}

impl SliceSource for InMemorySlices {
    fn len(&self) -> usize {
        self.slices.len()
    }

    fn get(&self, index: usize) -> Result<HuSlice> {
        self.slices.get(index).cloned().ok_or(AugmentError::OutOfRange { index, len: self.slices.len() })
    }
}

/// The slices of `inner` at `indices` (e.g. a patient split from [`SliceCache::indices_in`]).
#[derive(Debug, Clone)]
pub struct Subset<S> {
    /// The underlying source.
    pub inner: S,
    /// Indices into `inner`.
    pub indices: Vec<usize>,
}

impl<S: SliceSource> Subset<S> {
    /// A subset; fails when an index is outside `inner`.
    pub fn new(inner: S, indices: Vec<usize>) -> Result<Self> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= inner.len()) {
            return Err(AugmentError::OutOfRange { index: bad, len: inner.len() });
        }
        Ok(Subset { inner, indices })
    }
}

impl<S: SliceSource> SliceSource for Subset<S> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn get(&self, index: usize) -> Result<HuSlice> {
        let &i = self.indices.get(index).ok_or(AugmentError::OutOfRange { index, len: self.indices.len() })?;
        self.inner.get(i)
    }
}
