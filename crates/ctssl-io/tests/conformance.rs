//! Conformance against pydicom: every file of the corpus decodes to pydicom's values, every broken
//! file gives a typed error, and nothing panics.
//!
//! The corpus is the repository's `tests/data/conformance` (pydicom's test files, MIT; see its
//! `LICENSE`); `$CTSSL_CONFORMANCE_DIR` points the test at another copy. A missing corpus fails the
//! test with the paths it tried.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ctssl_io::{describe_file, read_header, read_image, FileStatus, IoError};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    let tried: Vec<PathBuf> = match std::env::var_os("CTSSL_CONFORMANCE_DIR") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/conformance")],
    };
    for dir in &tried {
        if dir.join("reference.jsonl").is_file() && dir.join("dicom").is_dir() {
            return dir.clone();
        }
    }
    panic!(
        "conformance corpus not found: looked for reference.jsonl and dicom/ in {:?}; set CTSSL_CONFORMANCE_DIR to the corpus folder",
        tried
    );
}

fn reference() -> (PathBuf, Vec<Value>) {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("reference.jsonl")).expect("read reference.jsonl");
    let entries =
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("json")).collect();
    (dir, entries)
}

/// Files whose pixel data pydicom's plugins could not decode: either outcome is accepted here,
/// but not a panic.
const PYDICOM_CODEC_FAILURES: &[&str] = &["JPEG-lossy.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"];

fn is_lossy(ts: &str) -> bool {
    ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.91"]
        .contains(&ts)
}

#[test]
fn every_file_matches_pydicom() {
    let (dir, entries) = reference();
    assert!(entries.len() >= 78, "reference has {} entries", entries.len());
    let mut failures = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &entries {
        let name = r["file"].as_str().expect("file name");
        let path = dir.join("dicom").join(name);
        let expected = r["status"].as_str().expect("status");
        let ours = match std::panic::catch_unwind(|| describe_file(&path)) {
            Ok(report) => report,
            Err(_) => {
                failures.push(format!("{name}: panicked"));
                continue;
            }
        };
        *counts.entry(expected).or_default() += 1;
        let got = ours.status;
        if PYDICOM_CODEC_FAILURES.contains(&name) {
            continue;
        }
        let want = match expected {
            "ok" => FileStatus::Ok,
            "color" => FileStatus::Color,
            "no_pixel_data" => FileStatus::NoPixelData,
            _ => FileStatus::Error,
        };
        if got != want {
            failures.push(format!("{name}: expected {expected}, got {got:?} {:?}", ours.error));
            continue;
        }
        match got {
            FileStatus::Error => {
                let msg = ours.error.clone().unwrap_or_default();
                if !msg.contains(name) {
                    failures.push(format!("{name}: error message does not name the file: {msg}"));
                }
            }
            FileStatus::Ok => {
                for key in ["rows", "cols", "frames"] {
                    let ours_v = match key {
                        "rows" => ours.rows,
                        "cols" => ours.cols,
                        _ => ours.frames,
                    };
                    if ours_v.map(u64::from) != r[key].as_u64() {
                        failures.push(format!("{name}: {key} {ours_v:?} != {}", r[key]));
                    }
                }
                let ts = r["transfer_syntax"].as_str().unwrap_or_default();
                // Lossless: exact up to float formatting. Lossy: within one grey level of the
                // codec's rounding, scaled by the rescale slope.
                let slope = read_header(&path).map(|h| match h.modality_transform(0) {
                    ctssl_io::ModalityTransform::Rescale { slope, .. } => slope.abs(),
                    _ => 1.0,
                });
                let tol = if is_lossy(ts) { 1.0 * slope.unwrap_or(1.0) + 1e-3 } else { 1e-3 };
                let close = |a: f64, b: f64, t: f64| (a - b).abs() <= t * b.abs().max(1.0);
                let stats = [("min", ours.min), ("max", ours.max), ("mean", ours.mean), ("std", ours.std)];
                for (key, v) in stats {
                    let want = r[key].as_f64().expect("reference stat");
                    let t = if is_lossy(ts) && (key == "mean" || key == "std") { 1e-2 } else { 1e-3 };
                    match v {
                        Some(v) if close(v, want, t) => {}
                        _ => failures.push(format!("{name}: {key} {v:?} != {want}")),
                    }
                }
                let samples = ours.samples.clone().unwrap_or_default();
                let reference: Vec<f64> =
                    r["samples"].as_array().expect("samples").iter().filter_map(Value::as_f64).collect();
                if samples.len() != reference.len()
                    || samples.iter().zip(&reference).any(|(a, b)| (a - b).abs() > tol.max(1e-3 * b.abs()))
                {
                    failures.push(format!("{name}: samples differ\n ours {samples:?}\n ref  {reference:?}"));
                }
                // The header-only read agrees with the full read.
                match read_header(&path) {
                    Ok(h)
                        if Some(h.rows) == ours.rows && Some(h.cols) == ours.cols && Some(h.frames) == ours.frames => {}
                    other => failures.push(format!("{name}: header-only read disagrees: {other:?}")),
                }
            }
            FileStatus::Color | FileStatus::NoPixelData => {}
        }
    }
    assert!(failures.is_empty(), "{} conformance failure(s):\n{}", failures.len(), failures.join("\n"));
    assert!(counts.get("ok").copied().unwrap_or(0) >= 20, "too few decodable files: {counts:?}");
}

#[test]
fn broken_files_give_typed_errors_that_name_the_cause() {
    let dir = corpus_dir().join("dicom");
    let expect = |name: &str, check: &dyn Fn(&IoError) -> bool| {
        let err = read_image(dir.join(name)).expect_err(name);
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    };
    expect("no_meta.dcm", &|e| matches!(e, IoError::NotDicom { .. }));
    expect("rtstruct.dcm", &|e| matches!(e, IoError::NotDicom { .. }));
    expect(
        "meta_missing_tsyntax.dcm",
        &|e| matches!(e, IoError::NotDicom { reason, .. } if reason.contains("ransfer")),
    );
    expect("MR_truncated.dcm", &|e| matches!(e, IoError::Decode { .. }));
    expect(
        "badVR.dcm",
        &|e| matches!(e, IoError::InvalidAttribute { attribute, .. } if attribute.contains("NumberOfFrames")),
    );
    expect("nested_priv_SQ.dcm", &|e| matches!(e, IoError::MissingAttribute { .. }));
    expect("SC_rgb_rle.dcm", &|e| matches!(e, IoError::Color { samples_per_pixel: 3, .. }));
    expect("rtplan.dcm", &|e| matches!(e, IoError::NoPixelData { .. }));
}

#[test]
fn ct_slices_are_in_hounsfield_units() {
    let dir = corpus_dir().join("dicom");
    let image = read_image(dir.join("CT_small.dcm")).expect("CT_small");
    let h = &image.header;
    assert_eq!(h.modality.as_deref(), Some("CT"));
    assert_eq!((h.rows, h.cols, h.frames), (128, 128, 1));
    assert!(h.pixel_spacing.is_some() && h.image_position.is_some() && h.image_orientation.is_some());
    assert!(!h.series_instance_uid.is_empty() && !h.sop_instance_uid.is_empty());
    // Air outside the body, soft tissue inside: HU, not raw stored values.
    let min = image.values.iter().copied().fold(f32::INFINITY, f32::min);
    assert!(min < -800.0, "min {min}");
}
