//! Slice cache: every frame of a dataset decoded once to `i16` Hounsfield units, stored so that a
//! loader reads it back through a memory map without decoding again.
//!
//! # Format
//!
//! A cache is a folder with
//! - `index.json`: format version, the read options used, the manifest hash, the list of shards,
//!   the stamp (size + modification time) of every source file, the files that failed with their
//!   reasons, and one entry per slice: its metadata and where its pixels are (shard, tensor name).
//! - `shard-GGGGGG-KKKKK.safetensors`: safetensors files, one `I16` tensor `[rows, cols]` per
//!   slice, named by position in the shard (`000000`, `000001`...). A shard holds whole source
//!   files (all frames of a file are in one shard) and is about [`CacheOptions::shard_bytes`] big.
//!
//! Why safetensors shards rather than one memory-mapped file with a hand-made index:
//! - a shard is never modified in place, so an incremental rebuild keeps every shard whose sources
//!   are unchanged and only writes new shards (the changed files, plus unchanged neighbours copied
//!   byte for byte from the old shard, never decoded again); one big file would be rewritten whole;
//! - the files are self-describing and readable from Python (`safetensors.numpy.load_file`), the
//!   format the workspace already uses for weights, with no new dependency;
//! - data offsets are 8-byte aligned and slices are read in place from the memory map.
//!
//! Every file is written atomically (temporary file + rename); the index is renamed last and old
//! shards are deleted only after it, so a crash at any point leaves the previous cache readable.
//! Concurrent builds into one folder are not supported.
//!
//! Building decodes source files and needs the feature `dicom` (module `build`); opening and reading
//! a built cache needs neither DICOM nor image codecs.

#[cfg(feature = "dicom")]
mod build;

use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

#[cfg(feature = "dicom")]
pub use build::BuildReport;

use crate::error::{IoError, Result};
use crate::read_options::ReadOptions;
use crate::skipped::SkippedFile;
use crate::split::{PatientSplit, Split};
use crate::stamp::FileStamp;

/// Version of the cache format written by this crate.
pub const CACHE_VERSION: u32 = 1;

/// Name of the index file inside a cache folder.
pub const INDEX_FILE: &str = "index.json";

/// Value of the `format` field of the index and of the shards' metadata.
const FORMAT: &str = "ctssl-slice-cache";

/// How a cache is built.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CacheOptions {
    /// How files are decoded (default: [`ReadOptions::for_training`]); a cache built with other options is rebuilt.
    pub read: ReadOptions,
    /// Target size of a shard in bytes (default 256 MiB); a file larger than this gets a shard of its own.
    pub shard_bytes: usize,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions { read: ReadOptions::for_training(), shard_bytes: 256 << 20 }
    }
}

/// What the cache knows about one slice (one frame of one file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceMeta {
    /// The source file.
    pub source: PathBuf,
    /// Frame of the source file (0 for single-frame files).
    pub frame: u32,
    /// SOP Instance UID of the source file.
    pub sop_instance_uid: String,
    /// Patient ID.
    pub patient_id: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Modality.
    pub modality: Option<String>,
    /// Position of the slice in its series as ordered by the manifest (frames counted; failed files leave gaps).
    pub slice_index: u32,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Pixel Spacing in mm: (between rows, between columns).
    pub pixel_spacing: Option<[f64; 2]>,
    /// Slice Thickness in mm.
    pub slice_thickness: Option<f64>,
    /// Image Position (Patient) of this frame, mm.
    pub position: Option<[f64; 3]>,
    /// Image Orientation (Patient).
    pub orientation: Option<[f64; 6]>,
    /// Pixels whose value was outside the `i16` range (or NaN) and was clamped.
    pub clipped: u32,
}

/// Where one slice's pixels are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IndexEntry {
    /// The metadata.
    meta: SliceMeta,
    /// Index into [`CacheIndex::shards`].
    shard: usize,
    /// Tensor name inside the shard.
    tensor: String,
}

/// A source file that is in the cache, with its stamp when it was decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SourceRecord {
    /// The file.
    path: PathBuf,
    /// Its stamp when decoded.
    stamp: FileStamp,
}

/// A source file that failed, remembered so that an unchanged file is not decoded again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FailedSource {
    /// The file and the reason.
    #[serde(flatten)]
    file: SkippedFile,
    /// Its stamp when it failed (`None` when it could not be read at all).
    stamp: Option<FileStamp>,
}

/// The contents of `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheIndex {
    /// Always [`FORMAT`].
    format: String,
    /// [`CACHE_VERSION`].
    version: u32,
    /// Incremented by every build; part of the shard names.
    generation: u64,
    /// The read options the slices were decoded with.
    read_options: ReadOptions,
    /// `Manifest::content_hash` of the manifest built from.
    manifest_hash: String,
    /// Shard file names, relative to the cache folder.
    shards: Vec<String>,
    /// Source files with slices in the cache.
    sources: Vec<SourceRecord>,
    /// Source files that failed.
    failed: Vec<FailedSource>,
    /// The slices, in manifest order.
    entries: Vec<IndexEntry>,
}

/// A slice cache opened for reading: the index in memory, the shards memory-mapped.
#[derive(Debug)]
pub struct SliceCache {
    /// The cache folder.
    dir: PathBuf,
    /// The parsed index.
    index: CacheIndex,
    /// One map per shard.
    maps: Vec<Mmap>,
    /// Byte range of each entry's pixels in its shard's map.
    ranges: Vec<Range<usize>>,
    /// Failures, as reported to callers.
    failures: Vec<SkippedFile>,
}

/// One cached slice: its metadata and a view of its pixels.
#[derive(Debug, Clone, Copy)]
pub struct CachedSlice<'a> {
    /// Position in the cache.
    pub index: usize,
    /// The metadata.
    pub meta: &'a SliceMeta,
    /// The HU values, borrowed from the memory map.
    pub hu: HuView<'a>,
}

/// Borrowed `i16` HU values of one slice, row-major, stored little endian.
#[derive(Debug, Clone, Copy)]
pub struct HuView<'a> {
    /// Two bytes per pixel.
    bytes: &'a [u8],
}

impl<'a> HuView<'a> {
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.bytes.len() / 2
    }

    /// Whether the slice has no pixels.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < 2
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// One pixel.
    pub fn get(&self, i: usize) -> Option<i16> {
        let b = self.bytes.get(2 * i..2 * i + 2)?;
        Some(i16::from_le_bytes([b[0], b[1]]))
    }

    /// All pixels in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = i16> + 'a {
        self.bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]]))
    }

    /// The pixels as a vector of `i16`.
    pub fn to_i16(&self) -> Vec<i16> {
        self.iter().collect()
    }

    /// The pixels as `f32` HU.
    pub fn to_f32(&self) -> Vec<f32> {
        self.iter().map(f32::from).collect()
    }

    /// Write the pixels as `f32` HU into `out`, which must have exactly [`HuView::len`] elements.
    pub fn copy_to_f32(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.len() {
            return Err(IoError::InvalidArgument(format!(
                "output has {} elements, the slice has {}",
                out.len(),
                self.len()
            )));
        }
        for (o, v) in out.iter_mut().zip(self.iter()) {
            *o = f32::from(v);
        }
        Ok(())
    }
}

impl SliceCache {
    /// Open a cache folder built by `SliceCache::build` (which needs the feature `dicom`; opening does not).
    pub fn open(dir: impl AsRef<Path>) -> Result<SliceCache> {
        let dir = dir.as_ref();
        let index_path = dir.join(INDEX_FILE);
        let bytes = std::fs::read(&index_path).map_err(|source| IoError::Read { path: index_path.clone(), source })?;
        let index: CacheIndex = serde_json::from_slice(&bytes).map_err(|source| IoError::Json {
            path: index_path.clone(),
            what: "slice cache index",
            source,
        })?;
        if index.format != FORMAT || index.version != CACHE_VERSION {
            return Err(cache_error(
                &index_path,
                format!(
                    "format {} version {} (this build reads {FORMAT} {CACHE_VERSION})",
                    index.format, index.version
                ),
            ));
        }
        let mut maps = Vec::with_capacity(index.shards.len());
        let mut infos = Vec::with_capacity(index.shards.len());
        for name in &index.shards {
            let path = dir.join(name);
            let file = std::fs::File::open(&path).map_err(|source| IoError::Read { path: path.clone(), source })?;
            // SAFETY: shards are written to a temporary file and renamed into place, never modified in
            // place, and deleted only after a new index stops referring to them; the map therefore sees
            // a file that does not change while it is mapped (on Unix an unlinked file stays mapped).
            let map = unsafe { Mmap::map(&file) }.map_err(|source| IoError::Read { path: path.clone(), source })?;
            let (header_len, metadata) =
                SafeTensors::read_metadata(&map).map_err(|source| IoError::Shard { path: path.clone(), source })?;
            infos.push((8 + header_len, metadata));
            maps.push(map);
        }
        let mut ranges = Vec::with_capacity(index.entries.len());
        for (i, entry) in index.entries.iter().enumerate() {
            let Some((data_start, metadata)) = infos.get(entry.shard) else {
                return Err(cache_error(
                    &index_path,
                    format!("entry {i} refers to shard {} of {}", entry.shard, maps.len()),
                ));
            };
            let shard_path = || dir.join(&index.shards[entry.shard]);
            let info = metadata
                .info(&entry.tensor)
                .ok_or_else(|| cache_error(&shard_path(), format!("no tensor {} (entry {i})", entry.tensor)))?;
            let shape = [entry.meta.rows as usize, entry.meta.cols as usize];
            if info.dtype != Dtype::I16 || info.shape != shape {
                return Err(cache_error(
                    &shard_path(),
                    format!(
                        "tensor {} is {:?} {:?}, the index says I16 {:?}",
                        entry.tensor, info.dtype, info.shape, shape
                    ),
                ));
            }
            ranges.push(data_start + info.data_offsets.0..data_start + info.data_offsets.1);
        }
        let failures = index.failed.iter().map(|f| f.file.clone()).collect();
        Ok(SliceCache { dir: dir.to_path_buf(), index, maps, ranges, failures })
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of slices.
    pub fn len(&self) -> usize {
        self.index.entries.len()
    }

    /// Whether the cache holds no slice.
    pub fn is_empty(&self) -> bool {
        self.index.entries.is_empty()
    }

    /// Metadata of slice `i`.
    pub fn meta(&self, i: usize) -> Option<&SliceMeta> {
        self.index.entries.get(i).map(|e| &e.meta)
    }

    /// Slice `i`: metadata and borrowed pixels.
    pub fn slice(&self, i: usize) -> Option<CachedSlice<'_>> {
        let entry = self.index.entries.get(i)?;
        let bytes = self.maps.get(entry.shard)?.get(self.ranges.get(i)?.clone())?;
        Some(CachedSlice { index: i, meta: &entry.meta, hu: HuView { bytes } })
    }

    /// The HU values of slice `i` as `f32`.
    pub fn hu(&self, i: usize) -> Option<Vec<f32>> {
        self.slice(i).map(|s| s.hu.to_f32())
    }

    /// Every slice, in manifest order.
    pub fn iter(&self) -> impl Iterator<Item = CachedSlice<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.slice(i))
    }

    /// Indices of the slices whose patient falls in `part` of `split`.
    pub fn indices_in(&self, split: &PatientSplit, part: Split) -> Vec<usize> {
        let mut memo: Option<(&str, bool)> = None;
        let mut out = Vec::new();
        for (i, entry) in self.index.entries.iter().enumerate() {
            let id = entry.meta.patient_id.as_str();
            let keep = match memo {
                Some((last, keep)) if last == id => keep,
                _ => split.assign(id) == part,
            };
            memo = Some((id, keep));
            if keep {
                out.push(i);
            }
        }
        out
    }

    /// Source files that could not be decoded, with their reasons.
    pub fn failures(&self) -> &[SkippedFile] {
        &self.failures
    }

    /// Number of source files with slices in the cache.
    pub fn source_count(&self) -> usize {
        self.index.sources.len()
    }

    /// Content hash of the manifest the cache was built from.
    pub fn manifest_hash(&self) -> &str {
        &self.index.manifest_hash
    }

    /// The read options the slices were decoded with.
    pub fn read_options(&self) -> &ReadOptions {
        &self.index.read_options
    }

    /// Shard file names, relative to the cache folder.
    pub fn shard_names(&self) -> &[String] {
        &self.index.shards
    }
}

/// A cache error naming the file.
fn cache_error(path: &Path, reason: impl Into<String>) -> IoError {
    IoError::Cache { path: path.to_path_buf(), reason: reason.into() }
}
