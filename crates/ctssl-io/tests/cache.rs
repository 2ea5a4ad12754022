//! Slice cache: round trip against the decoder, incremental rebuilds, failures, multi-frame files, splits.

mod dataset;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ctssl_io::{
    read_image_with, scan, write_ct_slice, BuildReport, CacheOptions, CtSlice, Manifest, PatientSplit, ReadOptions,
    ScanOptions, SeriesInfo, SliceCache, Split,
};
use dataset::{copy, synthetic_value, write_patient};

/// What the cache must hold for a value the decoder returns.
fn expected_i16(v: f32) -> i16 {
    v.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// Every cached slice equals the decoder's HU of its source frame, rounded and clamped to i16.
fn assert_matches_decoder(cache: &SliceCache) {
    let mut images = BTreeMap::new();
    for s in cache.iter() {
        let image = images
            .entry(s.meta.source.clone())
            .or_insert_with(|| read_image_with(&s.meta.source, &ReadOptions::for_training()).unwrap());
        let frame = image.frame(s.meta.frame as usize).unwrap();
        assert_eq!(s.hu.len(), (s.meta.rows * s.meta.cols) as usize);
        let expected: Vec<i16> = frame.iter().map(|&v| expected_i16(v)).collect();
        assert_eq!(s.hu.to_i16(), expected, "{} frame {}", s.meta.source.display(), s.meta.frame);
        let clipped = frame.iter().filter(|&&v| expected_i16(v) as f32 != v.round()).count();
        assert_eq!(s.meta.clipped as usize, clipped);
        assert_eq!(cache.hu(s.index).unwrap(), expected.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }
}

fn shard_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".safetensors"))
        .collect()
}

fn all_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// A dataset of three synthetic patients (two series each) plus three conformance files and a text file.
fn dataset(root: &Path) -> Manifest {
    for p in 1..=3u64 {
        write_patient(&root.join(format!("p{p}/s0")), p, 0);
        write_patient(&root.join(format!("p{p}/s1")), p, 1);
    }
    copy("CT_small.dcm", root, "real/CT_small.dcm");
    copy("rtdose.dcm", root, "real/rtdose.dcm");
    copy("MR_truncated.dcm", root, "real/MR_truncated.dcm");
    std::fs::write(root.join("real/notes.txt"), "text").unwrap();
    scan(&[root], &ScanOptions::default()).unwrap()
}

fn small_shards() -> CacheOptions {
    // Two synthetic files (16×16 i16 = 512 bytes each) per shard.
    CacheOptions { shard_bytes: 1024, ..CacheOptions::default() }
}

#[test]
fn cache_round_trip_equals_the_decoder_rounded_to_i16() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = dataset(&tmp.path().join("data"));
    let dir = tmp.path().join("cache");
    let (cache, report) = SliceCache::build(&manifest, &dir, &CacheOptions::default()).unwrap();
    // 30 synthetic slices; CT_small 1, rtdose 15 frames; MR_truncated fails.
    let expected_len = 30 + 1 + 15;
    assert_eq!(cache.len(), expected_len);
    assert_eq!(report.entries, expected_len);
    assert_eq!(report.sources, manifest.summary.image_files);
    assert_eq!(report.decoded, manifest.summary.image_files);
    assert_eq!((report.reused, report.copied, report.removed), (0, 0, 0));
    assert_eq!(report.shards_written, 1);
    assert_eq!(cache.shard_names().len(), 1);
    assert_eq!(cache.manifest_hash(), manifest.content_hash());
    assert_eq!(*cache.read_options(), ReadOptions::for_training());
    assert_matches_decoder(&cache);

    assert_eq!(report.failed.len(), 1);
    let failed = &report.failed[0];
    assert!(failed.path.ends_with("MR_truncated.dcm"));
    // Truncated inside the pixel data element: the parser gives up (`not_dicom`), or the decoder (`decode`).
    assert!(["not_dicom", "decode"].contains(&failed.kind.as_str()), "{failed:?}");
    assert!(failed.message.contains("MR_truncated.dcm"), "{}", failed.message);
    assert_eq!(cache.failures(), &report.failed[..]);
    assert!(report.clipped_pixels > 0, "rtdose values (~1e6) are clamped to i16");

    // The synthetic values survive exactly, in manifest order, with their metadata.
    let first = cache.iter().find(|s| s.meta.patient_id.starts_with("PAT")).unwrap();
    assert_eq!(first.meta.patient_id, "PAT0001");
    assert_eq!((first.meta.rows, first.meta.cols, first.meta.frame, first.meta.slice_index), (16, 16, 0, 0));
    for s in cache.iter().filter(|s| s.meta.patient_id.starts_with("PAT")) {
        let p: u64 = s.meta.patient_id[3..].parse().unwrap();
        let k = s.meta.slice_index as usize;
        assert_eq!(s.meta.position.unwrap()[2], 2.5 * k as f64, "slices are in position order");
        let expected: Vec<i16> = (0..256).map(|i| synthetic_value(p, k, i) as i16).collect();
        assert_eq!(s.hu.to_i16(), expected);
        assert_eq!(s.meta.pixel_spacing, Some([1.0, 1.0]));
        assert_eq!(s.meta.modality.as_deref(), Some("CT"));
        assert_eq!(s.meta.clipped, 0);
        assert!(!s.meta.sop_instance_uid.is_empty() && !s.meta.series_instance_uid.is_empty());
    }

    // Open again from disk: same slices.
    let reopened = SliceCache::open(&dir).unwrap();
    assert_eq!(reopened.len(), cache.len());
    for (a, b) in cache.iter().zip(reopened.iter()) {
        assert_eq!(a.meta, b.meta);
        assert_eq!(a.hu.as_bytes(), b.hu.as_bytes());
    }
    let mut buffer = vec![0f32; 256];
    reopened.slice(first.index).unwrap().hu.copy_to_f32(&mut buffer).unwrap();
    assert_eq!(buffer, reopened.hu(first.index).unwrap());
    assert!(reopened.slice(reopened.len()).is_none());
    // Only the index and the shard are in the folder: no temporary files left.
    assert_eq!(all_files(&dir), BTreeSet::from(["index.json".to_string(), cache.shard_names()[0].clone()]));
}

#[test]
fn a_multi_frame_file_gives_one_entry_per_frame() {
    let tmp = tempfile::tempdir().unwrap();
    copy("rtdose.dcm", tmp.path(), "data/rtdose.dcm");
    let (cache, report) =
        SliceCache::build_from_files(&[tmp.path().join("data")], tmp.path().join("cache"), &CacheOptions::default())
            .unwrap();
    assert_eq!(cache.len(), 15);
    assert_eq!(cache.source_count(), 1);
    assert!(report.failed.is_empty());
    let frames: Vec<u32> = cache.iter().map(|s| s.meta.frame).collect();
    assert_eq!(frames, (0..15).collect::<Vec<_>>());
    let indices: Vec<u32> = cache.iter().map(|s| s.meta.slice_index).collect();
    assert_eq!(indices, (0..15).collect::<Vec<_>>());
    assert!(cache.iter().all(|s| s.meta.clipped == 100), "every dose value exceeds i16");
    assert_matches_decoder(&cache);
}

#[test]
fn a_second_build_decodes_nothing_when_nothing_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = dataset(&tmp.path().join("data"));
    let dir = tmp.path().join("cache");
    let (first, _) = SliceCache::build(&manifest, &dir, &small_shards()).unwrap();
    let shards = shard_files(&dir);
    let (second, report) = SliceCache::build(&manifest, &dir, &small_shards()).unwrap();
    assert_eq!(report.decoded, 0);
    assert_eq!(report.reused, manifest.summary.image_files - report.remembered_failures);
    assert_eq!(report.remembered_failures, 1, "MR_truncated is not retried");
    assert_eq!(report.failed.len(), 1);
    assert_eq!((report.shards_written, report.shards_deleted, report.copied), (0, 0, 0));
    assert_eq!(report.shards_kept, shards.len());
    assert_eq!(shard_files(&dir), shards);
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(second.iter()) {
        assert_eq!(a.meta, b.meta);
        assert_eq!(a.hu.as_bytes(), b.hu.as_bytes());
    }
}

/// Rewrite one synthetic slice with new values (same geometry and UIDs), and push its mtime forward.
fn rewrite_slice(path: &Path, patient: u64, series: u64, z_index: usize, offset: f32) {
    let mut info = SeriesInfo::from_seed("ctssl-io-tests", patient * 100 + series);
    info.patient_id = format!("PAT{patient:04}");
    let values: Vec<f32> = (0..256).map(|i| synthetic_value(patient, z_index, i) + offset).collect();
    let mut s = CtSlice::new(values, 16, 16);
    s.position = [-8.0, -8.0, 2.5 * z_index as f64];
    s.instance_number = 5 - z_index as i32;
    write_ct_slice(path, &info, &s).unwrap();
    let later = SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options().write(true).open(path).unwrap().set_modified(later).unwrap();
}

#[test]
fn a_rebuild_decodes_only_changed_and_new_files_and_drops_removed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let manifest = dataset(&data);
    let dir = tmp.path().join("cache");
    let (before, first_report) = SliceCache::build(&manifest, &dir, &small_shards()).unwrap();
    assert!(first_report.shards_written >= 15, "small shards: {}", first_report.shards_written);
    let old_shards = shard_files(&dir);

    // Change one file (IM00001 of patient 2, series 0 is the slice at z index 3), remove one, add a patient.
    let changed = data.join("p2/s0/IM00001.dcm");
    rewrite_slice(&changed, 2, 0, 3, 7.0);
    let removed = data.join("p3/s1/IM00002.dcm");
    std::fs::remove_file(&removed).unwrap();
    write_patient(&data.join("p4/s0"), 4, 0);
    let manifest = scan(&[&data], &ScanOptions::default()).unwrap();

    let (after, report) = SliceCache::build(&manifest, &dir, &small_shards()).unwrap();
    assert_eq!(report.decoded, 1 + 5, "the changed file and the new patient's five");
    assert_eq!(report.removed, 1);
    assert_eq!(report.reused + report.copied + report.remembered_failures + report.decoded, report.sources);
    assert!(report.copied >= 1, "neighbours of changed files in their shard are copied, not decoded");
    assert_eq!(report.clipped_pixels, 0);
    assert_eq!(after.len(), before.len() - 1 + 5);
    assert!(after.iter().all(|s| s.meta.source != removed));
    assert_matches_decoder(&after);

    // The changed slice has its new values; an untouched slice has its old bytes.
    let new_slice = after.iter().find(|s| s.meta.source == changed).unwrap();
    let expected: Vec<i16> = (0..256).map(|i| (synthetic_value(2, 3, i) + 7.0) as i16).collect();
    assert_eq!(new_slice.hu.to_i16(), expected);
    let untouched = data.join("p1/s0/IM00003.dcm");
    let old = before.iter().find(|s| s.meta.source == untouched).unwrap();
    let new = after.iter().find(|s| s.meta.source == untouched).unwrap();
    assert_eq!(old.hu.as_bytes(), new.hu.as_bytes());
    assert_eq!(old.meta, new.meta);

    // The removed slice leaves a gap in its series' slice indices; the others keep theirs.
    let series3: Vec<u32> =
        after.iter().filter(|s| s.meta.source.starts_with(data.join("p3/s1"))).map(|s| s.meta.slice_index).collect();
    assert_eq!(series3.len(), 4);

    // Shards on disk are exactly those the index names; untouched shards were kept, not rewritten.
    let now: BTreeSet<String> = shard_files(&dir);
    assert_eq!(now, after.shard_names().iter().cloned().collect());
    assert!(report.shards_kept > 0);
    assert_eq!(now.intersection(&old_shards).count(), report.shards_kept);
    assert_eq!(report.shards_deleted, old_shards.len() - report.shards_kept);
    assert_eq!(all_files(&dir).len(), now.len() + 1);
    drop(before);
}

#[test]
fn other_read_options_rebuild_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_patient(&data.join("p1"), 1, 0);
    let manifest = scan(&[&data], &ScanOptions::default()).unwrap();
    let dir = tmp.path().join("cache");
    SliceCache::build(&manifest, &dir, &CacheOptions::default()).unwrap();
    let keep_padding = CacheOptions { read: ReadOptions::default(), ..CacheOptions::default() };
    let (cache, report) = SliceCache::build(&manifest, &dir, &keep_padding).unwrap();
    assert_eq!((report.decoded, report.reused, report.shards_deleted), (5, 0, 1));
    assert_eq!(*cache.read_options(), ReadOptions::default());
    assert_eq!(shard_files(&dir).len(), 1);
}

#[test]
fn a_damaged_index_is_a_cache_error_and_a_build_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_patient(&data.join("p1"), 1, 0);
    let manifest = scan(&[&data], &ScanOptions::default()).unwrap();
    let dir = tmp.path().join("cache");
    let (cache, _) = SliceCache::build(&manifest, &dir, &CacheOptions::default()).unwrap();
    let shard = dir.join(&cache.shard_names()[0]);
    drop(cache);

    std::fs::write(dir.join("index.json"), "{ broken").unwrap();
    assert_eq!(SliceCache::open(&dir).unwrap_err().kind(), "cache");
    let (cache, report) = SliceCache::build(&manifest, &dir, &CacheOptions::default()).unwrap();
    assert_eq!((report.decoded, cache.len(), report.shards_deleted), (5, 5, 1));

    // A truncated shard is caught when the cache is opened.
    let shard_now = dir.join(&cache.shard_names()[0]);
    assert_ne!(shard, shard_now, "each build writes shards of a new generation");
    drop(cache);
    let bytes = std::fs::read(&shard_now).unwrap();
    std::fs::write(&shard_now, &bytes[..bytes.len() - 10]).unwrap();
    assert_eq!(SliceCache::open(&dir).unwrap_err().kind(), "cache");
    assert_eq!(SliceCache::open(tmp.path().join("nowhere")).unwrap_err().kind(), "read");
}

#[test]
fn split_indices_partition_the_cache_by_patient() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for p in 0..12 {
        write_patient(&data.join(format!("p{p}")), p, 0);
    }
    let manifest = scan(&[&data], &ScanOptions::default()).unwrap();
    let (cache, _) = SliceCache::build(&manifest, tmp.path().join("cache"), &CacheOptions::default()).unwrap();
    let split = PatientSplit::new(0.6, 0.2, 0.2, 5).unwrap();
    let mut seen = vec![0usize; cache.len()];
    let mut part_of: BTreeMap<String, Split> = BTreeMap::new();
    for part in Split::ALL {
        for i in cache.indices_in(&split, part) {
            seen[i] += 1;
            let id = cache.meta(i).unwrap().patient_id.clone();
            assert_eq!(*part_of.entry(id).or_insert(part), part, "a patient in two parts");
        }
    }
    assert!(seen.iter().all(|&n| n == 1));
    assert_eq!(part_of.len(), 12);
    // The cache's parts agree with the manifest's.
    for part in Split::ALL {
        let from_manifest: BTreeSet<PathBuf> =
            split.select(&manifest, part).slices().map(|s| s.slice.path.clone()).collect();
        let from_cache: BTreeSet<PathBuf> =
            cache.indices_in(&split, part).into_iter().map(|i| cache.meta(i).unwrap().source.clone()).collect();
        assert_eq!(from_manifest, from_cache);
    }
}

#[test]
fn an_empty_manifest_gives_an_empty_cache() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    let manifest = scan(&[tmp.path().join("data")], &ScanOptions::default()).unwrap();
    let (cache, report) = SliceCache::build(&manifest, tmp.path().join("cache"), &CacheOptions::default()).unwrap();
    assert!(cache.is_empty());
    assert_eq!(report.shards_written, 0);
    assert!(SliceCache::open(tmp.path().join("cache")).unwrap().is_empty());
    let zero = CacheOptions { shard_bytes: 0, ..CacheOptions::default() };
    assert_eq!(SliceCache::build(&manifest, tmp.path().join("c2"), &zero).unwrap_err().kind(), "invalid_argument");
}

/// The index of a cache folder as lines: per source file in index order its path under `data`, patient,
/// first slice index and frame count, shard and first tensor (a file's frames are consecutive tensors
/// of one shard with consecutive slice indices, which is checked); then the sources, the failures,
/// and the generation with the shard list.
fn index_lines(dir: &Path, data: &Path) -> Vec<String> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let relative = |p: &serde_json::Value| {
        Path::new(p.as_str().unwrap()).strip_prefix(data).unwrap().to_string_lossy().into_owned()
    };
    let shards: Vec<&str> = index["shards"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let mut files: Vec<(String, Vec<&serde_json::Value>)> = Vec::new();
    for entry in index["entries"].as_array().unwrap() {
        let source = relative(&entry["meta"]["source"]);
        match files.last_mut() {
            Some((last, entries)) if *last == source => entries.push(entry),
            _ => files.push((source, vec![entry])),
        }
    }
    let mut lines = Vec::new();
    for (source, entries) in &files {
        let first = entries[0];
        let number = |e: &serde_json::Value, key: &str| e[key].as_u64().unwrap();
        let tensor = |e: &serde_json::Value| e["tensor"].as_str().unwrap().parse::<u64>().unwrap();
        for (k, e) in entries.iter().enumerate() {
            let k = k as u64;
            assert_eq!(number(&e["meta"], "frame"), k);
            assert_eq!(number(&e["meta"], "slice_index"), number(&first["meta"], "slice_index") + k);
            assert_eq!(e["shard"], first["shard"]);
            assert_eq!(tensor(e), tensor(first) + k);
        }
        lines.push(format!(
            "{source} {} slice {} frames {} in {}/{}",
            first["meta"]["patient_id"].as_str().unwrap(),
            first["meta"]["slice_index"],
            entries.len(),
            shards[number(first, "shard") as usize],
            first["tensor"].as_str().unwrap()
        ));
    }
    for s in index["sources"].as_array().unwrap() {
        lines.push(format!("source {}", relative(&s["path"])));
    }
    for f in index["failed"].as_array().unwrap() {
        lines.push(format!("failed {} {} stamped {}", relative(&f["path"]), f["kind"], !f["stamp"].is_null()));
    }
    lines.push(format!("generation {} shards {}", index["generation"], shards.len()));
    lines
}

/// A build's report with its failures as paths under `data` and kinds (the messages name the files).
fn report_without_failures(report: &BuildReport, data: &Path) -> (BuildReport, Vec<(PathBuf, String)>) {
    let failed = report.failed.iter().map(|f| (f.path.strip_prefix(data).unwrap().to_path_buf(), f.kind.clone()));
    (BuildReport { failed: Vec::new(), ..report.clone() }, failed.collect())
}

#[test]
fn a_rebuild_writes_the_same_index_and_report_as_always() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_patient(&data.join("p1"), 1, 0);
    write_patient(&data.join("p2"), 2, 0);
    copy("rtdose.dcm", &data, "real/rtdose.dcm");
    copy("MR_truncated.dcm", &data, "real/MR_truncated.dcm");
    let dir = tmp.path().join("cache");
    let manifest = scan(&[&data], &ScanOptions::default()).unwrap();
    let (_, first) = SliceCache::build(&manifest, &dir, &small_shards()).unwrap();
    let truncated = vec![(PathBuf::from("real/MR_truncated.dcm"), "decode".to_string())];
    let expected = BuildReport {
        sources: 12,
        decoded: 12,
        entries: 25,
        shards_written: 6,
        clipped_pixels: 1500,
        ..BuildReport::default()
    };
    assert_eq!(report_without_failures(&first, &data), (expected, truncated.clone()));
    // Two 16×16 slices to a shard, in manifest order (by patient, then position); the 15 dose frames
    // fill a shard of their own.
    let first_index = [
        "p1/IM00002.dcm PAT0001 slice 0 frames 1 in shard-000001-00000.safetensors/000000",
        "p1/IM00004.dcm PAT0001 slice 1 frames 1 in shard-000001-00000.safetensors/000001",
        "p1/IM00005.dcm PAT0001 slice 2 frames 1 in shard-000001-00001.safetensors/000000",
        "p1/IM00001.dcm PAT0001 slice 3 frames 1 in shard-000001-00001.safetensors/000001",
        "p1/IM00003.dcm PAT0001 slice 4 frames 1 in shard-000001-00002.safetensors/000000",
        "p2/IM00002.dcm PAT0002 slice 0 frames 1 in shard-000001-00002.safetensors/000001",
        "p2/IM00004.dcm PAT0002 slice 1 frames 1 in shard-000001-00003.safetensors/000000",
        "p2/IM00005.dcm PAT0002 slice 2 frames 1 in shard-000001-00003.safetensors/000001",
        "p2/IM00001.dcm PAT0002 slice 3 frames 1 in shard-000001-00004.safetensors/000000",
        "p2/IM00003.dcm PAT0002 slice 4 frames 1 in shard-000001-00004.safetensors/000001",
        "real/rtdose.dcm id11111 slice 0 frames 15 in shard-000001-00005.safetensors/000000",
        "source p1/IM00002.dcm",
        "source p1/IM00004.dcm",
        "source p1/IM00005.dcm",
        "source p1/IM00001.dcm",
        "source p1/IM00003.dcm",
        "source p2/IM00002.dcm",
        "source p2/IM00004.dcm",
        "source p2/IM00005.dcm",
        "source p2/IM00001.dcm",
        "source p2/IM00003.dcm",
        "source real/rtdose.dcm",
        "failed real/MR_truncated.dcm \"decode\" stamped true",
        "generation 1 shards 6",
    ];
    assert_eq!(index_lines(&dir, &data), first_index);

    // Change one file of patient 1 (IM00001 is the slice at z index 3), remove one of patient 2.
    rewrite_slice(&data.join("p1/IM00001.dcm"), 1, 0, 3, 7.0);
    std::fs::remove_file(data.join("p2/IM00004.dcm")).unwrap();
    let manifest = scan(&[&data], &ScanOptions::default()).unwrap();
    let (cache, second) = SliceCache::build(&manifest, &dir, &small_shards()).unwrap();
    let expected = BuildReport {
        sources: 11,
        decoded: 1,
        reused: 7,
        copied: 2,
        removed: 1,
        entries: 24,
        remembered_failures: 1,
        shards_written: 2,
        shards_kept: 4,
        shards_deleted: 2,
        ..BuildReport::default()
    };
    assert_eq!(report_without_failures(&second, &data), (expected, truncated));
    // The changed file is decoded and its shard neighbour copied into a new shard; the removed file's
    // neighbour is copied too; the other shards stay and the truncated file is not tried again.
    let second_index = [
        "p1/IM00002.dcm PAT0001 slice 0 frames 1 in shard-000001-00000.safetensors/000000",
        "p1/IM00004.dcm PAT0001 slice 1 frames 1 in shard-000001-00000.safetensors/000001",
        "p1/IM00005.dcm PAT0001 slice 2 frames 1 in shard-000002-00000.safetensors/000000",
        "p1/IM00001.dcm PAT0001 slice 3 frames 1 in shard-000002-00000.safetensors/000001",
        "p1/IM00003.dcm PAT0001 slice 4 frames 1 in shard-000001-00002.safetensors/000000",
        "p2/IM00002.dcm PAT0002 slice 0 frames 1 in shard-000001-00002.safetensors/000001",
        "p2/IM00005.dcm PAT0002 slice 1 frames 1 in shard-000002-00001.safetensors/000000",
        "p2/IM00001.dcm PAT0002 slice 2 frames 1 in shard-000001-00004.safetensors/000000",
        "p2/IM00003.dcm PAT0002 slice 3 frames 1 in shard-000001-00004.safetensors/000001",
        "real/rtdose.dcm id11111 slice 0 frames 15 in shard-000001-00005.safetensors/000000",
        "source p1/IM00002.dcm",
        "source p1/IM00004.dcm",
        "source p1/IM00005.dcm",
        "source p1/IM00001.dcm",
        "source p1/IM00003.dcm",
        "source p2/IM00002.dcm",
        "source p2/IM00005.dcm",
        "source p2/IM00001.dcm",
        "source p2/IM00003.dcm",
        "source real/rtdose.dcm",
        "failed real/MR_truncated.dcm \"decode\" stamped true",
        "generation 2 shards 6",
    ];
    assert_eq!(index_lines(&dir, &data), second_index);
    assert_eq!(shard_files(&dir), cache.shard_names().iter().cloned().collect());
    assert_matches_decoder(&cache);
}
