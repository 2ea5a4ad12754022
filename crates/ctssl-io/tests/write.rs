//! The DICOM writer: written slices read back with the crate's reader give the HU and geometry written.

use std::path::Path;

use ctssl_io::write::{CT_IMAGE_STORAGE, EXPLICIT_VR_LITTLE_ENDIAN};
use ctssl_io::{
    read_header, read_image, uid_from_seed, write_ct_series, write_ct_slice, CtSlice, IoError, ModalityTransform,
    SeriesInfo,
};

const ROWS: u32 = 12;
const COLS: u32 = 20;

/// HU covering air to metal, with fractions and values outside the i16 range.
fn values() -> Vec<f32> {
    let mut v: Vec<f32> = (0..ROWS * COLS).map(|p| -1024.0 + p as f32 * 13.37).collect();
    v[0] = -40_000.0;
    v[1] = 40_000.0;
    v[2] = -0.5;
    v[3] = 2.5;
    v[4] = 31_000.4;
    v
}

fn tilted_slice(values: &[f32]) -> CtSlice<'_> {
    let (s, c) = 20f64.to_radians().sin_cos();
    CtSlice {
        pixel_spacing: [0.683594, 0.7],
        slice_thickness: 1.25,
        position: [-175.158203125, -12.3456789012345, 1234.5],
        orientation: [1.0, 0.0, 0.0, 0.0, c, s],
        instance_number: 17,
        ..CtSlice::new(values, ROWS, COLS)
    }
}

fn info() -> SeriesInfo {
    SeriesInfo {
        patient_sex: Some("F".into()),
        patient_age: Some("063Y".into()),
        series_description: Some("synthetic chest".into()),
        kvp: Some(120.0),
        ..SeriesInfo::from_seed("write-test", 42)
    }
}

#[test]
fn slice_round_trips_through_read_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slice.dcm");
    let hu = values();
    let slice = tilted_slice(&hu);
    let info = info();
    write_ct_slice(&path, &info, &slice).unwrap();

    let image = read_image(&path).unwrap();
    let expected: Vec<f32> = hu.iter().map(|v| v.round().clamp(-32768.0, 32767.0)).collect();
    assert_eq!(image.values, expected);
    assert_eq!((image.values[2], image.values[3]), (-1.0, 3.0), "half away from zero");

    let h = &image.header;
    assert_eq!((h.rows, h.cols, h.frames), (ROWS, COLS, 1));
    assert_eq!(h.transfer_syntax, EXPLICIT_VR_LITTLE_ENDIAN);
    assert_eq!(h.sop_class_uid, CT_IMAGE_STORAGE);
    assert_eq!(h.sop_instance_uid, info.sop_instance_uid(17));
    assert_eq!(h.study_instance_uid, info.study_instance_uid);
    assert_eq!(h.series_instance_uid, info.series_instance_uid);
    assert_eq!(h.patient_id, info.patient_id);
    assert_eq!(h.modality.as_deref(), Some("CT"));
    assert_eq!(h.series_description.as_deref(), Some("synthetic chest"));
    assert_eq!(h.instance_number, Some(17));
    assert_eq!(h.photometric, "MONOCHROME2");
    assert_eq!((h.layout.bits_allocated, h.layout.bits_stored, h.layout.high_bit), (16, 16, 15));
    assert!(h.layout.signed && h.layout.samples_per_pixel == 1);
    assert_eq!(h.pixel_spacing, Some(slice.pixel_spacing));
    assert_eq!(h.slice_thickness, Some(1.25));
    let p = h.image_position.unwrap();
    assert!(p.iter().zip(&slice.position).all(|(a, b)| (a - b).abs() < 1e-12), "{p:?}");
    let o = h.image_orientation.unwrap();
    assert!(o.iter().zip(&slice.orientation).all(|(a, b)| (a - b).abs() < 1e-13), "{o:?}");
    assert_eq!(h.modality_transforms, vec![ModalityTransform::Rescale { slope: 1.0, intercept: 0.0 }]);
    assert_eq!(h.windows, info.windows);
    assert!(h.pixel_padding.is_none());
}

#[test]
fn same_seed_writes_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let hu = values();
    let (a, b, c) = (dir.path().join("a.dcm"), dir.path().join("b.dcm"), dir.path().join("c.dcm"));
    write_ct_slice(&a, &info(), &tilted_slice(&hu)).unwrap();
    write_ct_slice(&b, &info(), &tilted_slice(&hu)).unwrap();
    let other = SeriesInfo { kvp: Some(120.0), ..SeriesInfo::from_seed("write-test", 43) };
    write_ct_slice(&c, &other, &tilted_slice(&hu)).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (ha, hc) = (read_header(&a).unwrap(), read_header(&c).unwrap());
    assert_ne!(ha.series_instance_uid, hc.series_instance_uid);
    assert_ne!(ha.sop_instance_uid, hc.sop_instance_uid);
    assert_eq!(ha.study_instance_uid, uid_from_seed("write-test/study", 42, 0));
}

#[test]
fn random_series_info_gets_fresh_uids() {
    let (a, b) = (SeriesInfo::random(), SeriesInfo::random());
    assert_ne!(a.series_instance_uid, b.series_instance_uid);
    assert_ne!(a.sop_instance_uid(1), a.sop_instance_uid(1));
}

#[test]
fn series_files_are_numbered_and_no_temporaries_remain() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested").join("series");
    let planes: Vec<Vec<f32>> = (0..3).map(|k| vec![k as f32 * 100.0; (ROWS * COLS) as usize]).collect();
    let slices: Vec<CtSlice<'_>> = planes
        .iter()
        .enumerate()
        .map(|(k, p)| CtSlice {
            position: [0.0, 0.0, k as f64],
            instance_number: k as i32 + 1,
            ..CtSlice::new(p.as_slice(), ROWS, COLS)
        })
        .collect();
    let paths = write_ct_series(&out, &info(), &slices).unwrap();
    let names: Vec<_> = paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["IM00001.dcm", "IM00002.dcm", "IM00003.dcm"]);
    let mut listed: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    listed.sort();
    assert_eq!(listed.len(), 3, "{listed:?}");
    for (k, p) in paths.iter().enumerate() {
        assert!(read_image(p).unwrap().values.iter().all(|&v| v == k as f32 * 100.0));
    }
}

#[test]
fn invalid_input_is_refused_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.dcm");
    let short = CtSlice::new(vec![0.0; 5], ROWS, COLS);
    assert!(matches!(write_ct_slice(&path, &info(), &short), Err(IoError::InvalidArgument(_))));
    let bad_age = SeriesInfo { patient_age: Some("63".into()), ..info() };
    let ok = CtSlice::new(vec![0.0; (ROWS * COLS) as usize], ROWS, COLS);
    assert!(matches!(write_ct_slice(&path, &bad_age, &ok), Err(IoError::InvalidArgument(_))));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let nested = dir.path().join("new").join("folder").join("ok.dcm");
    write_ct_slice(&nested, &info(), &ok).unwrap();
    assert!(read_image(&nested).is_ok());
    std::fs::remove_dir_all(dir.path().join("new")).unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    assert!(matches!(write_ct_slice(blocker.join("x.dcm"), &info(), &ok), Err(IoError::Write { .. })));
}

/// Writes a series and `expected.json` for `scripts/check_written_dicom.py` (pydicom cross-check):
/// `CTSSL_WRITE_CHECK_DIR=/tmp/ctssl-written cargo test -p ctssl-io --test write -- --ignored`.
#[test]
#[ignore = "writes a fixture for the pydicom cross-check; run by hand"]
fn write_fixture_for_pydicom() {
    let Some(dir) = std::env::var_os("CTSSL_WRITE_CHECK_DIR") else { return };
    let dir = Path::new(&dir);
    let hu = values();
    let planes: Vec<Vec<f32>> = (0..4).map(|k| hu.iter().map(|v| v + 250.0 * k as f32).collect()).collect();
    let slices: Vec<CtSlice<'_>> = planes
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let base = tilted_slice(p);
            let n = base.normal();
            let position = [0, 1, 2].map(|a| base.position[a] + 1.25 * k as f64 * n[a]);
            CtSlice { position, instance_number: k as i32 + 1, ..base }
        })
        .collect();
    let info = info();
    let paths = write_ct_series(dir, &info, &slices).unwrap();
    let files: Vec<serde_json::Value> = paths
        .iter()
        .zip(&slices)
        .map(|(path, s)| {
            let expected: Vec<f32> = s.values.iter().map(|v| v.round().clamp(-32768.0, 32767.0)).collect();
            serde_json::json!({
                "file": path.file_name().unwrap().to_string_lossy(),
                "rows": s.rows, "cols": s.cols, "hu": expected,
                "pixel_spacing": s.pixel_spacing, "slice_thickness": s.slice_thickness,
                "position": s.position, "orientation": s.orientation,
                "instance_number": s.instance_number, "slice_location": s.slice_location(),
                "sop_instance_uid": info.sop_instance_uid(s.instance_number),
                "series_instance_uid": info.series_instance_uid,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&serde_json::json!({ "files": files })).unwrap();
    std::fs::write(dir.join("expected.json"), text).unwrap();
}
