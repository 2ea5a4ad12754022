//! Dataset scan: manifest contents, skipped files and their reasons, order, persistence, hashing, splits.

mod dataset;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use ctssl_io::{scan, scan_with_progress, Manifest, PatientSplit, ScanOptions, SliceOrder, Split};
use dataset::{copy, write_patient};
use tempfile::TempDir;

/// A folder mixing good, broken, non-image, colour, duplicate and non-DICOM files.
fn mixed_folder() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy("CT_small.dcm", d, "ct/CT_small.dcm");
    copy("CT_small.dcm", d, "ct/copy/CT_small_again.dcm"); // same SOP Instance UID: a duplicate
    copy("MR_small.dcm", d, "mr/MR_small.dcm");
    copy("rtdose.dcm", d, "dose/rtdose.dcm"); // 15 frames
    copy("MR_truncated.dcm", d, "broken/MR_truncated.dcm"); // header fine, pixel data short
    copy("no_meta.dcm", d, "broken/no_meta.dcm");
    copy("rtstruct.dcm", d, "broken/rtstruct.dcm");
    copy("nested_priv_SQ.dcm", d, "broken/nested_priv_SQ.dcm");
    copy("SC_rgb_rle.dcm", d, "colour/SC_rgb_rle.dcm");
    copy("rtplan.dcm", d, "other/rtplan.dcm");
    copy("test-SR.dcm", d, "other/test-SR.dcm");
    std::fs::write(d.join("notes.txt"), "not a DICOM file\n").unwrap();
    std::fs::write(d.join("empty.dcm"), "").unwrap();
    tmp
}

fn kinds(m: &Manifest) -> BTreeMap<String, usize> {
    m.summary.skipped_by_kind.clone()
}

fn names(paths: impl Iterator<Item = impl AsRef<Path>>) -> Vec<String> {
    paths.map(|p| p.as_ref().file_name().unwrap().to_string_lossy().into_owned()).collect()
}

#[test]
fn skipped_files_are_reported_with_their_reasons() {
    let tmp = mixed_folder();
    let m = scan(&[tmp.path()], &ScanOptions::default()).unwrap();
    let s = &m.summary;
    assert_eq!(s.files, 13);
    assert_eq!((s.image_files, s.frames, s.patients, s.studies, s.series), (3, 17, 3, 3, 3));
    assert_eq!(s.non_image, 3);
    assert_eq!(s.skipped, 7);
    assert_eq!(s.filtered_out, 0);
    let expected: BTreeMap<String, usize> =
        [("color", 1), ("duplicate_instance", 2), ("not_dicom", 4)].map(|(k, n)| (k.to_string(), n)).into();
    assert_eq!(kinds(&m), expected);
    assert_eq!(s.files, s.image_files + s.non_image + s.skipped + s.filtered_out);

    let reason = |name: &str| m.skipped.iter().find(|f| f.path.ends_with(name)).map(|f| (f.kind.as_str(), &f.message));
    assert_eq!(reason("notes.txt").map(|r| r.0), Some("not_dicom"));
    assert_eq!(reason("empty.dcm").map(|r| r.0), Some("not_dicom"));
    assert_eq!(reason("no_meta.dcm").map(|r| r.0), Some("not_dicom"));
    assert_eq!(reason("rtstruct.dcm").map(|r| r.0), Some("not_dicom"));
    assert_eq!(reason("SC_rgb_rle.dcm").map(|r| r.0), Some("color"));
    // Copies of one image: the first by path is kept; a truncated copy (smaller) loses to the intact one.
    let (kind, message) = reason("CT_small_again.dcm").unwrap();
    assert_eq!(kind, "duplicate_instance");
    assert!(message.contains("ct/CT_small.dcm"), "{message}");
    assert!(message.contains("CT_small_again.dcm"), "the message names the file: {message}");
    assert!(reason("MR_truncated.dcm").unwrap().1.contains("MR_small.dcm"));
    // Every message names its file.
    for f in &m.skipped {
        assert!(f.message.contains(&*f.path.to_string_lossy()), "{f:?}");
    }
    let non_image = names(m.non_image.iter().map(|f| &f.path));
    assert_eq!(non_image, ["nested_priv_SQ.dcm", "rtplan.dcm", "test-SR.dcm"]);
    assert_eq!(m.non_image[1].modality.as_deref(), Some("RTPLAN"));

    // Patients by ID; the multi-frame dose file is one entry with its frame count.
    let ids: Vec<&str> = m.patient_ids().collect();
    assert_eq!(ids, ["1CT1", "4MR1", "id11111"]);
    let dose = m.slices().find(|s| s.slice.path.ends_with("rtdose.dcm")).unwrap();
    assert_eq!((dose.slice.frames, dose.slice.rows, dose.slice.cols), (15, 10, 10));
    assert_eq!(dose.slice.frame_positions.len(), 0);
    let ct = m.slices().find(|s| s.slice.path.ends_with("CT_small.dcm")).unwrap();
    assert_eq!((ct.slice.rows, ct.slice.cols, ct.slice.frames), (128, 128, 1));
    assert_eq!(ct.slice.modality.as_deref(), Some("CT"));
    assert!(ct.slice.pixel_spacing.is_some() && ct.slice.position.is_some() && ct.slice.orientation.is_some());
    assert_eq!(ct.slice.stamp.size, 39206);
    assert!(ct.slice.stamp.modified_ns.is_some());
}

#[test]
fn two_scans_give_the_same_manifest_and_hash() {
    let tmp = mixed_folder();
    write_patient(&tmp.path().join("synthetic/p1"), 1, 0);
    let a = scan(&[tmp.path()], &ScanOptions::default()).unwrap();
    let b = scan(&[tmp.path()], &ScanOptions::default()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.content_hash(), b.content_hash());
    assert_eq!(a.content_hash().len(), 32);
    let order = |m: &Manifest| m.slices().map(|s| s.slice.path.clone()).collect::<Vec<_>>();
    assert_eq!(order(&a), order(&b));
}

#[test]
fn content_hash_ignores_location_and_modification_time_but_not_content() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    for p in 0..3 {
        write_patient(&one.path().join(format!("p{p}")), p, 0);
        write_patient(&two.path().join(format!("p{p}")), p, 0);
    }
    let a = scan(&[one.path()], &ScanOptions::default()).unwrap();
    let b = scan(&[two.path()], &ScanOptions::default()).unwrap();
    assert_ne!(a, b, "the paths differ");
    assert_eq!(a.content_hash(), b.content_hash());

    write_patient(&two.path().join("p3"), 3, 0);
    let c = scan(&[two.path()], &ScanOptions::default()).unwrap();
    assert_ne!(a.content_hash(), c.content_hash());
    let ct_only = scan(&[one.path()], &ScanOptions::ct_only()).unwrap();
    assert_ne!(a.content_hash(), ct_only.content_hash(), "the filter is part of the hash");
}

#[test]
fn ct_only_filter_counts_what_it_leaves_out() {
    let tmp = mixed_folder();
    let m = scan(&[tmp.path()], &ScanOptions::ct_only()).unwrap();
    assert_eq!(m.modality_filter, Some(vec!["CT".to_string()]));
    assert_eq!(m.summary.image_files, 1);
    assert_eq!(m.summary.filtered_out, 3);
    let expected: BTreeMap<String, usize> = [("MR", 2), ("RTDOSE", 1)].map(|(k, n)| (k.to_string(), n)).into();
    assert_eq!(m.summary.filtered_by_modality, expected);
    assert!(m.slices().all(|s| s.slice.modality.as_deref() == Some("CT")));
    let s = &m.summary;
    assert_eq!(s.files, s.image_files + s.non_image + s.skipped + s.filtered_out);
    let custom = ScanOptions { modalities: Some(vec!["mr".into(), "ct".into()]), keep_duplicates: true };
    let m = scan(&[tmp.path()], &custom).unwrap();
    assert_eq!(m.summary.image_files, 4, "CT twice, MR twice (duplicates kept)");
    assert!(!m.summary.skipped_by_kind.contains_key("duplicate_instance"));
}

#[test]
fn synthetic_series_are_grouped_and_ordered_by_position() {
    let tmp = tempfile::tempdir().unwrap();
    for p in [3u64, 1, 2] {
        write_patient(&tmp.path().join(format!("patient{p}/a")), p, 0);
        write_patient(&tmp.path().join(format!("patient{p}/b")), p, 1);
    }
    let m = scan(&[tmp.path()], &ScanOptions::ct_only()).unwrap();
    assert_eq!(m.patient_ids().collect::<Vec<_>>(), ["PAT0001", "PAT0002", "PAT0003"]);
    assert_eq!((m.summary.studies, m.summary.series, m.summary.image_files), (6, 6, 30));
    for patient in &m.patients {
        let uids: Vec<&str> = patient.studies.iter().map(|s| s.study_instance_uid.as_str()).collect();
        let mut sorted = uids.clone();
        sorted.sort();
        assert_eq!(uids, sorted);
        for series in patient.studies.iter().flat_map(|s| &s.series) {
            assert_eq!(series.order, SliceOrder::Position);
            let z: Vec<f64> = series.slices.iter().map(|s| s.position.unwrap()[2]).collect();
            assert_eq!(z, [0.0, 2.5, 5.0, 7.5, 10.0]);
            // Instance numbers run against z, and file names are scrambled: only geometry gives this order.
            let instances: Vec<i64> = series.slices.iter().map(|s| s.instance_number.unwrap()).collect();
            assert_eq!(instances, [5, 4, 3, 2, 1]);
            let locations: Vec<f64> = series.slices.iter().map(|s| s.location().unwrap()).collect();
            assert_eq!(locations, z);
        }
    }
}

#[test]
fn manifest_saves_atomically_and_loads_back() {
    let tmp = tempfile::tempdir().unwrap();
    write_patient(&tmp.path().join("data/p1"), 1, 0);
    let m = scan(&[tmp.path().join("data")], &ScanOptions::default()).unwrap();
    let path = tmp.path().join("out/manifest.json");
    m.save(&path).unwrap();
    let loaded = Manifest::load(&path).unwrap();
    assert_eq!(loaded, m);
    assert_eq!(loaded.content_hash(), m.content_hash());
    let leftovers: Vec<_> =
        std::fs::read_dir(tmp.path().join("out")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, ["manifest.json"]);
    // Saving again replaces the file.
    m.retain_patients(|_| false).save(&path).unwrap();
    assert_eq!(Manifest::load(&path).unwrap().summary.patients, 0);

    std::fs::write(&path, "{ not json").unwrap();
    assert_eq!(Manifest::load(&path).unwrap_err().kind(), "manifest");
    let mut future = serde_json::to_value(&m).unwrap();
    future["version"] = 99.into();
    std::fs::write(&path, future.to_string()).unwrap();
    assert_eq!(Manifest::load(&path).unwrap_err().kind(), "manifest");
    assert_eq!(Manifest::load(tmp.path().join("missing.json")).unwrap_err().kind(), "read");
}

#[test]
fn progress_counts_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    write_patient(&tmp.path().join("p1"), 1, 0);
    std::fs::write(tmp.path().join("readme.txt"), "x").unwrap();
    let calls = AtomicUsize::new(0);
    let seen = Mutex::new(Vec::new());
    let m = scan_with_progress(&[tmp.path()], &ScanOptions::default(), &|done, total| {
        calls.fetch_add(1, Ordering::Relaxed);
        seen.lock().unwrap().push((done, total));
    })
    .unwrap();
    assert_eq!(m.summary.files, 6);
    assert_eq!(calls.load(Ordering::Relaxed), 7);
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().all(|&(_, total)| total == 6));
    assert_eq!(seen.iter().map(|&(done, _)| done).max(), Some(6));
    assert_eq!(seen[0], (0, 6));
}

#[test]
fn a_missing_root_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = scan(&[tmp.path().join("nope")], &ScanOptions::default()).unwrap_err();
    assert_eq!(err.kind(), "read");
}

#[test]
fn patient_split_is_stable_across_rescans_and_keeps_patients_whole() {
    let tmp = tempfile::tempdir().unwrap();
    for p in 0..8 {
        write_patient(&tmp.path().join(format!("p{p}")), p, 0);
    }
    let split = PatientSplit::new(0.5, 0.25, 0.25, 11).unwrap();
    let before = scan(&[tmp.path()], &ScanOptions::default()).unwrap();
    let assigned_before = split.assign_all(before.patient_ids());

    // Each patient lands in exactly one part, with all its files; together the parts are the manifest.
    let parts: Vec<Manifest> = Split::ALL.iter().map(|&part| split.select(&before, part)).collect();
    let mut all_files = Vec::new();
    for (part, m) in Split::ALL.iter().zip(&parts) {
        for s in m.slices() {
            assert_eq!(split.assign(&s.patient.patient_id), *part);
            all_files.push(s.slice.path.clone());
        }
        assert_eq!(m.summary.image_files, m.slices().count());
    }
    all_files.sort();
    let mut expected: Vec<_> = before.slices().map(|s| s.slice.path.clone()).collect();
    expected.sort();
    assert_eq!(all_files, expected);
    for id in before.patient_ids() {
        assert_eq!(parts.iter().filter(|m| m.patient_ids().any(|p| p == id)).count(), 1, "{id}");
    }

    // New patients arrive, one leaves: nobody who stays moves.
    for p in 8..20 {
        write_patient(&tmp.path().join(format!("p{p}")), p, 0);
    }
    std::fs::remove_dir_all(tmp.path().join("p0")).unwrap();
    let after = scan(&[tmp.path()], &ScanOptions::default()).unwrap();
    assert_eq!(after.summary.patients, 19);
    let assigned_after = split.assign_all(after.patient_ids());
    for (id, part) in &assigned_before {
        if let Some(now) = assigned_after.get(id) {
            assert_eq!(part, now, "{id} moved");
        }
    }
}
