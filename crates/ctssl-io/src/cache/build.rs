//! Building and incrementally rebuilding a slice cache.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use safetensors::{Dtype, View};
use serde::{Deserialize, Serialize};

use super::{
    cache_error, CacheIndex, CacheOptions, FailedSource, IndexEntry, SliceCache, SliceMeta, SourceRecord,
    CACHE_VERSION, FORMAT, INDEX_FILE,
};
use crate::error::{IoError, Result};
use crate::manifest::{Manifest, ManifestSlice, SkippedFile};
use crate::pixels::read_image_with;
use crate::scan::{scan, ScanOptions};
use crate::stamp::FileStamp;

/// What a build did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// Source files in the manifest.
    pub sources: usize,
    /// Files decoded by this build (new or changed).
    pub decoded: usize,
    /// Unchanged files whose slices stayed where they were.
    pub reused: usize,
    /// Unchanged files whose slices were copied, without decoding, into a new shard.
    pub copied: usize,
    /// Files of the previous cache no longer in the manifest.
    pub removed: usize,
    /// Slices in the cache.
    pub entries: usize,
    /// Every source file without slices in the cache, with the reason.
    pub failed: Vec<SkippedFile>,
    /// Of those, unchanged files that had failed before and were not tried again.
    pub remembered_failures: usize,
    /// Shards written.
    pub shards_written: usize,
    /// Shards of the previous cache kept as they were.
    pub shards_kept: usize,
    /// Shards of the previous cache deleted.
    pub shards_deleted: usize,
    /// Pixels clamped to the `i16` range by this build's decoding.
    pub clipped_pixels: u64,
}

/// What to do with one source file.
enum Plan {
    /// Unchanged since it was cached with this stamp: its slices are the previous cache's entries with these indices.
    Reuse(Vec<usize>, FileStamp),
    /// Unchanged and failed last time.
    Remembered(FailedSource),
    /// New or changed (its stamp now, taken before decoding): decode it.
    Decode(FileStamp),
    /// It cannot even be stat'ed now.
    Missing(SkippedFile),
}

/// One frame ready for a shard.
struct Frame {
    /// The metadata (the manifest fields are filled in when the index is assembled).
    meta: SliceMeta,
    /// `i16` little-endian pixels.
    bytes: Vec<u8>,
}

/// Where a file's slices ended up.
enum Placed {
    /// In a new shard: metadata and tensor name per frame.
    New { shard: String, frames: Vec<(SliceMeta, String)> },
    /// In a kept shard of the previous cache, entries with these indices.
    Kept(Vec<usize>),
    /// Nowhere.
    Failed(FailedSource),
}

/// A tensor view over frame bytes (avoids `TensorView::new`'s error path on our own, well-formed data).
struct I16Tensor<'a> {
    shape: [usize; 2],
    bytes: &'a [u8],
}

impl View for I16Tensor<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::I16
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

impl SliceCache {
    /// Build (or bring up to date) the cache of a manifest's image files in `dir`.
    ///
    /// Files whose size and modification time match the previous build are not decoded again;
    /// files no longer in the manifest are dropped. Files that fail to decode are reported in
    /// [`BuildReport::failed`] and [`SliceCache::failures`], not returned as errors.
    pub fn build(
        manifest: &Manifest,
        dir: impl AsRef<Path>,
        options: &CacheOptions,
    ) -> Result<(SliceCache, BuildReport)> {
        Self::build_with_progress(manifest, dir, options, &|_, _| {})
    }

    /// Scan `paths` (folders or files, every modality) and build the cache of what the scan finds.
    pub fn build_from_files<P: AsRef<Path>>(
        paths: &[P],
        dir: impl AsRef<Path>,
        options: &CacheOptions,
    ) -> Result<(SliceCache, BuildReport)> {
        let manifest = scan(paths, &ScanOptions::default())?;
        Self::build(&manifest, dir, options)
    }

    /// [`SliceCache::build`], calling `progress(files done, files total)` from the worker threads.
    ///
    /// The steps: plan each file against the previous cache, decide which old shards stay, place the
    /// files that need no new shard, decode or copy the others into new shards, assemble the index in
    /// manifest order, then write it and delete the shards it no longer names.
    pub fn build_with_progress(
        manifest: &Manifest,
        dir: impl AsRef<Path>,
        options: &CacheOptions,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<(SliceCache, BuildReport)> {
        let dir = dir.as_ref();
        if options.shard_bytes == 0 {
            return Err(IoError::InvalidArgument("shard_bytes must be positive".into()));
        }
        std::fs::create_dir_all(dir).map_err(|source| IoError::Write { path: dir.to_path_buf(), source })?;

        // The previous cache, when it can be reused (same format and read options).
        let old = SliceCache::open(dir).ok().filter(|c| c.index.read_options == options.read);
        let generation = next_generation(dir);
        let files: Vec<ManifestSlice<'_>> = manifest.slices().collect();
        let total = files.len();
        progress(0, total);
        let done = AtomicUsize::new(0);
        let tick = || progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
        let plans = plan_files(&files, old.as_ref());
        let build = Build { dir, options, generation, files: &files, plans: &plans, old: old.as_ref(), tick: &tick };

        let mut report = BuildReport { sources: total, removed: build.removed_sources(), ..BuildReport::default() };
        let keep_shard = build.kept_shards();
        let (mut placed, pending) = build.place_unchanged(&keep_shard, &mut report);
        build.write_pending(&pending, &mut placed, &mut report)?;
        let index = build.assemble_index(manifest.content_hash(), placed, &mut report);
        commit_index(dir, &index, old, report)
    }
}

/// What every step of one build reads: where it writes, the files in manifest order with their plans,
/// the previous cache and the progress tick.
struct Build<'a> {
    /// The cache folder.
    dir: &'a Path,
    /// The build's options.
    options: &'a CacheOptions,
    /// The generation of the shards this build writes.
    generation: u64,
    /// The manifest's image files, in manifest order.
    files: &'a [ManifestSlice<'a>],
    /// What to do with each file (same order).
    plans: &'a [Plan],
    /// The previous cache, when it can be reused.
    old: Option<&'a SliceCache>,
    /// Counts one more file done.
    tick: &'a (dyn Fn() + Sync),
}

/// The frames of one file ready for a shard, or why it has none.
type FileFrames = std::result::Result<Vec<Frame>, FailedSource>;

impl Build<'_> {
    /// Files of the previous cache no longer in the manifest.
    fn removed_sources(&self) -> usize {
        let Some(old) = self.old else { return 0 };
        let in_manifest: HashSet<&Path> = self.files.iter().map(|f| f.slice.path.as_path()).collect();
        old.index.sources.iter().filter(|s| !in_manifest.contains(s.path.as_path())).count()
    }

    /// Which shards of the previous cache stay: those in which every slice belongs to an unchanged file
    /// still in the manifest (one flag per old shard; none without a previous cache).
    fn kept_shards(&self) -> Vec<bool> {
        let Some(old) = self.old else { return Vec::new() };
        let mut keep = vec![true; old.index.shards.len()];
        let mut reused = HashSet::new();
        for p in self.plans {
            if let Plan::Reuse(ids, _) = p {
                reused.extend(ids.iter().copied());
            }
        }
        for (i, entry) in old.index.entries.iter().enumerate() {
            if !reused.contains(&i) {
                if let Some(k) = keep.get_mut(entry.shard) {
                    *k = false;
                }
            }
        }
        keep
    }

    /// Place every file that needs no new shard: unchanged in a kept shard, failed before and unchanged,
    /// or missing now. Returns the placement of each file (`None` while pending) and the pending files:
    /// new or changed ones, and unchanged ones whose old shard goes.
    fn place_unchanged(&self, keep_shard: &[bool], report: &mut BuildReport) -> (Vec<Option<Placed>>, Vec<usize>) {
        let mut placed: Vec<Option<Placed>> = Vec::with_capacity(self.files.len());
        let mut pending: Vec<usize> = Vec::new();
        for (i, p) in self.plans.iter().enumerate() {
            let slot = match p {
                Plan::Reuse(ids, _) if ids.iter().all(|&e| in_kept_shard(self.old, keep_shard, e)) => {
                    report.reused += 1;
                    (self.tick)();
                    Some(Placed::Kept(ids.clone()))
                }
                Plan::Remembered(f) => {
                    report.remembered_failures += 1;
                    (self.tick)();
                    Some(Placed::Failed(f.clone()))
                }
                Plan::Missing(f) => {
                    (self.tick)();
                    Some(Placed::Failed(FailedSource { file: f.clone(), stamp: None }))
                }
                Plan::Reuse(..) | Plan::Decode(_) => {
                    pending.push(i);
                    None
                }
            };
            placed.push(slot);
        }
        (placed, pending)
    }

    /// Decode or copy the pending files a shard's worth at a time, write each shard, and place the files.
    fn write_pending(&self, pending: &[usize], placed: &mut [Option<Placed>], report: &mut BuildReport) -> Result<()> {
        let mut shard_count = 0usize;
        for run in self.shard_runs(pending) {
            let results = self.frames_of(run);
            let name = format!("shard-{:06}-{shard_count:05}.safetensors", self.generation);
            if write_run_shard(&self.dir.join(&name), &results)? {
                shard_count += 1;
                report.shards_written += 1;
            }
            self.place_run(run, results, &name, placed, report);
        }
        Ok(())
    }

    /// The pending files cut into runs of about [`CacheOptions::shard_bytes`], one new shard each; a run
    /// holds at least one file, so a file larger than a shard gets a shard of its own.
    fn shard_runs<'p>(&self, pending: &'p [usize]) -> Vec<&'p [usize]> {
        let mut runs = Vec::new();
        let mut start = 0;
        while start < pending.len() {
            let mut end = start;
            let mut bytes = 0usize;
            while end < pending.len() && (end == start || bytes < self.options.shard_bytes) {
                bytes += estimated_bytes(&self.files[pending[end]], &self.plans[pending[end]], self.old);
                end += 1;
            }
            runs.push(&pending[start..end]);
            start = end;
        }
        runs
    }

    /// The frames of each file of a run, in parallel: decoded from the file, or copied from the previous
    /// cache without decoding.
    fn frames_of(&self, run: &[usize]) -> Vec<FileFrames> {
        run.par_iter()
            .map(|&i| {
                let out = match &self.plans[i] {
                    Plan::Reuse(ids, _) => copy_frames(self.old, ids, &self.files[i]),
                    Plan::Decode(stamp) => decode_frames(&self.files[i], *stamp, self.options),
                    Plan::Remembered(f) => Err(f.clone()),
                    Plan::Missing(f) => Err(FailedSource { file: f.clone(), stamp: None }),
                };
                (self.tick)();
                out
            })
            .collect()
    }

    /// Record where each file of a run went (its frames' tensors in shard `name`, numbered in order as
    /// [`write_run_shard`] wrote them, or its failure) and count it in the report.
    fn place_run(
        &self,
        run: &[usize],
        results: Vec<FileFrames>,
        name: &str,
        placed: &mut [Option<Placed>],
        report: &mut BuildReport,
    ) {
        let mut next_tensor = 0usize;
        for (&i, result) in run.iter().zip(results) {
            let decoded = matches!(self.plans[i], Plan::Decode(_));
            let slot = match result {
                Ok(frames) => {
                    if decoded {
                        report.decoded += 1;
                    } else {
                        report.copied += 1;
                    }
                    let frames = frames
                        .into_iter()
                        .map(|f| {
                            if decoded {
                                report.clipped_pixels += u64::from(f.meta.clipped);
                            }
                            let tensor = format!("{next_tensor:06}");
                            next_tensor += 1;
                            (f.meta, tensor)
                        })
                        .collect();
                    Placed::New { shard: name.to_string(), frames }
                }
                Err(failed) => {
                    if decoded {
                        report.decoded += 1;
                    }
                    Placed::Failed(failed)
                }
            };
            if let Some(s) = placed.get_mut(i) {
                *s = Some(slot);
            }
        }
    }

    /// The index in manifest order: each file's entries (new or kept, with the manifest's patient,
    /// study, series and slice index), its source record, or its failure.
    fn assemble_index(
        &self,
        manifest_hash: String,
        placed: Vec<Option<Placed>>,
        report: &mut BuildReport,
    ) -> CacheIndex {
        let mut index = IndexBuilder::new(CacheIndex {
            format: FORMAT.to_string(),
            version: CACHE_VERSION,
            generation: self.generation,
            read_options: self.options.read,
            manifest_hash,
            shards: Vec::new(),
            sources: Vec::new(),
            failed: Vec::new(),
            entries: Vec::new(),
        });
        let mut series_base = 0u32;
        for ((file, slot), plan) in self.files.iter().zip(placed).zip(self.plans) {
            if file.index == 0 {
                series_base = 0;
            }
            self.add_file(&mut index, file, series_base, slot, plan, report);
            series_base = series_base.saturating_add(file.slice.frames);
        }
        report.entries = index.index.entries.len();
        index.index
    }

    /// Add one file to the index: its slices and source record when it has slices, its failure when it
    /// failed. `series_base` is the slice index of its first frame in its series.
    fn add_file(
        &self,
        index: &mut IndexBuilder,
        file: &ManifestSlice<'_>,
        series_base: u32,
        slot: Option<Placed>,
        plan: &Plan,
        report: &mut BuildReport,
    ) {
        let stamp = match plan {
            Plan::Reuse(_, stamp) | Plan::Decode(stamp) => Some(*stamp),
            _ => None,
        };
        match slot {
            Some(Placed::New { shard, frames }) => {
                for (meta, tensor) in frames {
                    index.push(file, series_base, meta, &shard, tensor);
                }
                index.source(file, stamp);
            }
            Some(Placed::Kept(ids)) => {
                if let Some(old) = self.old {
                    for e in ids {
                        if let Some(entry) = old.index.entries.get(e) {
                            let name = old.index.shards.get(entry.shard).cloned().unwrap_or_default();
                            index.push(file, series_base, entry.meta.clone(), &name, entry.tensor.clone());
                        }
                    }
                }
                index.source(file, stamp);
            }
            Some(Placed::Failed(f)) => {
                report.failed.push(f.file.clone());
                index.index.failed.push(f);
            }
            None => {}
        }
    }
}

/// An index being assembled: shards are numbered in the order entries first name them.
struct IndexBuilder {
    /// The index so far.
    index: CacheIndex,
    /// Position of each shard name in [`CacheIndex::shards`].
    shard_ids: HashMap<String, usize>,
}

impl IndexBuilder {
    /// Start from an index without shards, sources, failures or entries.
    fn new(index: CacheIndex) -> IndexBuilder {
        IndexBuilder { index, shard_ids: HashMap::new() }
    }

    /// Add one slice of `file` in shard `shard_name`, taking patient, study and series from the manifest
    /// and the slice index from `series_base` and the frame.
    fn push(
        &mut self,
        file: &ManifestSlice<'_>,
        series_base: u32,
        mut meta: SliceMeta,
        shard_name: &str,
        tensor: String,
    ) {
        meta.patient_id = file.patient.patient_id.clone();
        meta.study_instance_uid = file.study.study_instance_uid.clone();
        meta.series_instance_uid = file.series.series_instance_uid.clone();
        meta.slice_index = series_base.saturating_add(meta.frame);
        let shards = &mut self.index.shards;
        let shard = *self.shard_ids.entry(shard_name.to_string()).or_insert_with(|| {
            shards.push(shard_name.to_string());
            shards.len() - 1
        });
        self.index.entries.push(IndexEntry { meta, shard, tensor });
    }

    /// Record `file` as a source of the cache with its stamp (a file without one has no record).
    fn source(&mut self, file: &ManifestSlice<'_>, stamp: Option<FileStamp>) {
        if let Some(stamp) = stamp {
            self.index.sources.push(SourceRecord { path: file.slice.path.clone(), stamp });
        }
    }
}

/// Finish a build: count the old shards the index still names, write the index (the moment the new
/// cache replaces the old one), delete the shards it no longer names, and open the new cache.
fn commit_index(
    dir: &Path,
    index: &CacheIndex,
    old: Option<SliceCache>,
    mut report: BuildReport,
) -> Result<(SliceCache, BuildReport)> {
    let referenced: HashSet<String> = index.shards.iter().cloned().collect();
    if let Some(old) = &old {
        report.shards_kept = old.index.shards.iter().filter(|s| referenced.contains(*s)).count();
    }
    // The previous cache's maps are closed before its shards are deleted.
    drop(old);
    let index_path = dir.join(INDEX_FILE);
    let json = serde_json::to_vec(index).map_err(|source| IoError::Json {
        path: index_path.clone(),
        what: "slice cache index",
        source,
    })?;
    crate::atomic::write_atomic(&index_path, &json)?;
    report.shards_deleted = delete_unreferenced_shards(dir, &referenced);
    let cache = SliceCache::open(dir)?;
    Ok((cache, report))
}

/// Write the frames of a run as one shard at `path`, tensors `000000`, `000001`... in order; `false`
/// (and no file) when the run has no frame.
fn write_run_shard(path: &Path, results: &[FileFrames]) -> Result<bool> {
    let mut tensors: Vec<(String, I16Tensor<'_>)> = Vec::new();
    for frames in results.iter().flatten() {
        for frame in frames {
            let tensor = format!("{:06}", tensors.len());
            let shape = [frame.meta.rows as usize, frame.meta.cols as usize];
            tensors.push((tensor, I16Tensor { shape, bytes: &frame.bytes }));
        }
    }
    if tensors.is_empty() {
        return Ok(false);
    }
    write_shard(path, tensors)?;
    Ok(true)
}

/// What to do with each file, given the previous cache (in parallel: each plan stats its file).
fn plan_files(files: &[ManifestSlice<'_>], old: Option<&SliceCache>) -> Vec<Plan> {
    let lookup = old.map(Lookup::new);
    files.par_iter().map(|f| plan(f.slice.path.as_path(), lookup.as_ref())).collect()
}

impl SliceCache {
    /// The raw little-endian bytes of entry `i` (for copying into a new shard).
    fn raw(&self, i: usize) -> Option<&[u8]> {
        self.maps.get(self.index.entries.get(i)?.shard)?.get(self.ranges.get(i)?.clone())
    }
}

/// The previous cache indexed by source path.
struct Lookup<'a> {
    /// Stamp of each cached source.
    stamps: HashMap<&'a Path, FileStamp>,
    /// Entry indices of each cached source.
    entries: HashMap<&'a Path, Vec<usize>>,
    /// Remembered failures.
    failed: HashMap<&'a Path, &'a FailedSource>,
}

impl<'a> Lookup<'a> {
    fn new(old: &'a SliceCache) -> Lookup<'a> {
        let stamps = old.index.sources.iter().map(|s| (s.path.as_path(), s.stamp)).collect();
        let mut entries: HashMap<&Path, Vec<usize>> = HashMap::new();
        for (i, e) in old.index.entries.iter().enumerate() {
            entries.entry(e.meta.source.as_path()).or_default().push(i);
        }
        let failed = old.index.failed.iter().map(|f| (f.file.path.as_path(), f)).collect();
        Lookup { stamps, entries, failed }
    }
}

/// Decide what to do with one file, given the previous cache.
fn plan(path: &Path, old: Option<&Lookup<'_>>) -> Plan {
    let stamp = match FileStamp::of(path) {
        Ok(s) => s,
        Err(e) => return Plan::Missing(SkippedFile::new(path, &e)),
    };
    let Some(old) = old else { return Plan::Decode(stamp) };
    if old.stamps.get(path) == Some(&stamp) {
        if let Some(ids) = old.entries.get(path).filter(|ids| !ids.is_empty()) {
            return Plan::Reuse(ids.clone(), stamp);
        }
    }
    if let Some(f) = old.failed.get(path).filter(|f| f.stamp == Some(stamp)) {
        return Plan::Remembered((*f).clone());
    }
    Plan::Decode(stamp)
}

/// Whether old entry `e` lies in a shard that is kept.
fn in_kept_shard(old: Option<&SliceCache>, keep: &[bool], e: usize) -> bool {
    old.and_then(|o| o.index.entries.get(e)).and_then(|entry| keep.get(entry.shard)).copied().unwrap_or(false)
}

/// Bytes a file will take in a shard.
fn estimated_bytes(file: &ManifestSlice<'_>, plan: &Plan, old: Option<&SliceCache>) -> usize {
    match (plan, old) {
        (Plan::Reuse(ids, _), Some(old)) => ids.iter().filter_map(|&e| old.raw(e)).map(<[u8]>::len).sum(),
        _ => 2 * file.slice.rows as usize * file.slice.cols as usize * file.slice.frames as usize,
    }
}

/// Decode every frame of a file.
fn decode_frames(
    file: &ManifestSlice<'_>,
    stamp: FileStamp,
    options: &CacheOptions,
) -> std::result::Result<Vec<Frame>, FailedSource> {
    let path = file.slice.path.as_path();
    let failed = |e: IoError| FailedSource { file: SkippedFile::new(path, &e), stamp: Some(stamp) };
    let image = read_image_with(path, &options.read).map_err(failed)?;
    let h = &image.header;
    let mut frames = Vec::with_capacity(h.frames as usize);
    for f in 0..h.frames as usize {
        let values = image.frame(f).ok_or_else(|| {
            failed(IoError::Decode {
                path: path.to_path_buf(),
                transfer_syntax: h.transfer_syntax_name().to_string(),
                reason: format!("frame {f} of {} missing after decoding", h.frames),
            })
        })?;
        let mut bytes = Vec::new();
        let clipped = push_i16(values, &mut bytes);
        frames.push(Frame {
            meta: SliceMeta {
                source: path.to_path_buf(),
                frame: f as u32,
                sop_instance_uid: h.sop_instance_uid.clone(),
                patient_id: String::new(),
                study_instance_uid: String::new(),
                series_instance_uid: String::new(),
                modality: h.modality.clone(),
                slice_index: 0,
                rows: h.rows,
                cols: h.cols,
                pixel_spacing: h.pixel_spacing,
                slice_thickness: h.slice_thickness,
                position: h.frame_position(f),
                orientation: h.image_orientation,
                clipped,
            },
            bytes,
        });
    }
    Ok(frames)
}

/// Copy a file's frames out of the previous cache.
fn copy_frames(
    old: Option<&SliceCache>,
    ids: &[usize],
    file: &ManifestSlice<'_>,
) -> std::result::Result<Vec<Frame>, FailedSource> {
    let missing = || FailedSource {
        file: SkippedFile::new(
            &file.slice.path,
            &cache_error(&file.slice.path, "previous cache entry vanished while rebuilding"),
        ),
        stamp: None,
    };
    let old = old.ok_or_else(missing)?;
    ids.iter()
        .map(|&e| {
            let meta = old.index.entries.get(e).map(|x| x.meta.clone()).ok_or_else(missing)?;
            let bytes = old.raw(e).ok_or_else(missing)?.to_vec();
            Ok(Frame { meta, bytes })
        })
        .collect()
}

/// Write one shard atomically: a killed build leaves no partial shard, and a full disk keeps no temporary.
fn write_shard(path: &Path, tensors: Vec<(String, I16Tensor<'_>)>) -> Result<()> {
    let metadata =
        HashMap::from([("format".to_string(), FORMAT.to_string()), ("version".to_string(), CACHE_VERSION.to_string())]);
    let bytes = safetensors::serialize(tensors, Some(metadata))
        .map_err(|e| IoError::Encode { path: path.to_path_buf(), source: Box::new(e) })?;
    crate::atomic::write_atomic(path, &bytes)
}

/// One more than the highest generation among the shard files in `dir`.
fn next_generation(dir: &Path) -> u64 {
    shard_files(dir).iter().filter_map(|(_, g)| *g).max().map_or(1, |g| g + 1)
}

/// Shard files in `dir` with their generation.
fn shard_files(dir: &Path) -> Vec<(PathBuf, Option<u64>)> {
    let Ok(read) = std::fs::read_dir(dir) else { return Vec::new() };
    read.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let rest = name.strip_prefix("shard-")?.strip_suffix(".safetensors")?;
            let generation = rest.split('-').next().and_then(|g| g.parse::<u64>().ok());
            Some((e.path(), generation))
        })
        .collect()
}

/// Delete shard files no longer referenced by the index; returns how many were deleted.
fn delete_unreferenced_shards(dir: &Path, referenced: &HashSet<String>) -> usize {
    shard_files(dir)
        .into_iter()
        .filter(|(path, _)| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !referenced.contains(name) && std::fs::remove_file(path).is_ok()
        })
        .count()
}

/// Round and clamp HU values to `i16`, appending little-endian bytes; returns how many were clamped.
fn push_i16(values: &[f32], out: &mut Vec<u8>) -> u32 {
    let mut clipped = 0u32;
    out.reserve(values.len() * 2);
    for &v in values {
        let r = v.round();
        let q = if r.is_nan() {
            clipped += 1;
            0
        } else if r < i16::MIN as f32 {
            clipped += 1;
            i16::MIN
        } else if r > i16::MAX as f32 {
            clipped += 1;
            i16::MAX
        } else {
            r as i16
        };
        out.extend_from_slice(&q.to_le_bytes());
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::super::HuView;
    use super::*;

    #[test]
    fn rounding_and_clamping() {
        let mut out = Vec::new();
        let clipped = push_i16(&[-1000.4, -0.5, 0.5, 1.5, 40000.0, -40000.0, f32::NAN, 32767.4], &mut out);
        let view = HuView { bytes: &out };
        // f32::round rounds half away from zero.
        assert_eq!(view.to_i16(), vec![-1000, -1, 1, 2, i16::MAX, i16::MIN, 0, i16::MAX]);
        assert_eq!(clipped, 3);
        assert_eq!(view.len(), 8);
        assert_eq!(view.get(8), None);
        let mut f = vec![0f32; 8];
        assert!(view.copy_to_f32(&mut f).is_ok());
        assert_eq!(f[0], -1000.0);
        assert!(view.copy_to_f32(&mut [0f32; 3]).is_err());
    }
}
