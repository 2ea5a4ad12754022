//! Series ordering and volume assembly on series written by the crate's own DICOM writer.

use std::path::{Path, PathBuf};

use ctssl_io::{
    group_series, read_header, read_series, write_ct_slice, CtSlice, IoError, Series, SeriesInfo, SeriesIssue,
    SeriesReport, Volume,
};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

const N: usize = 8;
const ROWS: u32 = 16;
const COLS: u32 = 16;
const DZ: f64 = 2.5;
const PIXEL_SPACING: [f64; 2] = [0.7, 0.8];
const ORIGIN: [f64; 3] = [-5.6, -6.4, -40.0];

/// HU of slice `k`: `100·k − 500` plus a pixel pattern below 50, so `hu / 100` identifies the slice.
fn hu(k: usize) -> Vec<f32> {
    (0..(ROWS * COLS) as usize).map(|p| 100.0 * k as f32 - 500.0 + (p % 47) as f32).collect()
}

/// Which slice a plane of values came from.
fn slice_index(plane: &[f32]) -> usize {
    ((plane[0] + 500.0) / 100.0).round() as usize
}

fn axial() -> [f64; 6] {
    CtSlice::AXIAL
}

/// Orientation rotated `deg` degrees about the x axis.
fn tilted(deg: f64) -> [f64; 6] {
    let (s, c) = deg.to_radians().sin_cos();
    [1.0, 0.0, 0.0, 0.0, c, s]
}

fn normal(o: [f64; 6]) -> [f64; 3] {
    [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
}

/// Position of slice `k`: along the normal of `o`, `DZ` apart.
fn position(o: [f64; 6], k: usize) -> [f64; 3] {
    let n = normal(o);
    let t = k as f64 * DZ;
    [ORIGIN[0] + t * n[0], ORIGIN[1] + t * n[1], ORIGIN[2] + t * n[2]]
}

fn slice(o: [f64; 6], k: usize, instance_number: i32) -> CtSlice<'static> {
    CtSlice {
        pixel_spacing: PIXEL_SPACING,
        slice_thickness: DZ,
        position: position(o, k),
        orientation: o,
        instance_number,
        ..CtSlice::new(hu(k), ROWS, COLS)
    }
}

/// Write slice `ks[f]` to file `f` with instance number `instances[f]`.
fn write(dir: &Path, info: &SeriesInfo, o: [f64; 6], ks: &[usize], instances: &[i32]) -> Vec<PathBuf> {
    ks.iter()
        .zip(instances)
        .enumerate()
        .map(|(f, (&k, &inst))| {
            let path = dir.join(format!("file{f:03}.dcm"));
            write_ct_slice(&path, info, &slice(o, k, inst)).unwrap();
            path
        })
        .collect()
}

fn one_series(paths: &[PathBuf]) -> Series {
    let (mut series, errors) = read_series(paths);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(series.len(), 1);
    series.remove(0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn close3(a: [f64; 3], b: [f64; 3]) -> bool {
    a.iter().zip(&b).all(|(x, y)| close(*x, *y))
}

/// The volume holds slices `expected` in this order, with the written geometry.
fn check_volume(volume: &Volume, o: [f64; 6], expected: &[usize]) {
    assert_eq!(volume.shape, [expected.len(), ROWS as usize, COLS as usize]);
    for (z, &k) in expected.iter().enumerate() {
        let plane = volume.slice(z).unwrap();
        assert_eq!(slice_index(plane), k, "slice {z}");
        assert_eq!(plane, hu(k).as_slice(), "values of slice {z}");
        let (p, n) = (position(o, k), normal(o));
        assert!(close(volume.slice_locations[z], p[0] * n[0] + p[1] * n[1] + p[2] * n[2]), "location of slice {z}");
    }
    assert!(close(volume.spacing[1], PIXEL_SPACING[0]) && close(volume.spacing[2], PIXEL_SPACING[1]));
    assert!(close3(volume.origin, position(o, expected[0])), "origin {:?}", volume.origin);
    let n = normal(o);
    let dir = volume.direction;
    assert!(close3([dir[0][0], dir[1][0], dir[2][0]], [o[0], o[1], o[2]]));
    assert!(close3([dir[0][1], dir[1][1], dir[2][1]], [o[3], o[4], o[5]]));
    assert!(close3(volume.normal(), n));
    assert!(volume.is_right_handed());
    assert_eq!(volume.slice_locations.len(), expected.len());
}

/// For an evenly spaced volume: the affine maps every slice's corner voxels to their written positions.
fn check_affine(volume: &Volume, o: [f64; 6], expected: &[usize]) {
    assert!(volume.is_uniform(), "{:?}", volume.issues);
    assert!(close(volume.spacing[0], DZ), "spacing {:?}", volume.spacing);
    let a = volume.affine();
    assert_eq!(a[3], [0.0, 0.0, 0.0, 1.0]);
    for (z, &k) in expected.iter().enumerate() {
        let p = position(o, k);
        assert!(close3(volume.index_to_lps([0.0, 0.0, z as f64]), p), "slice {z}");
        let (i, j) = (COLS as f64 - 1.0, ROWS as f64 - 1.0);
        let corner = [
            p[0] + i * PIXEL_SPACING[1] * o[0] + j * PIXEL_SPACING[0] * o[3],
            p[1] + i * PIXEL_SPACING[1] * o[1] + j * PIXEL_SPACING[0] * o[4],
            p[2] + i * PIXEL_SPACING[1] * o[2] + j * PIXEL_SPACING[0] * o[5],
        ];
        assert!(close3(volume.index_to_lps([i, j, z as f64]), corner));
        assert!(close3(volume.lps_to_index(corner), [i, j, z as f64]));
    }
}

fn kinds(series: &Series) -> Vec<&'static str> {
    series.issues.iter().map(SeriesIssue::kind).collect()
}

#[test]
fn ordered_series_builds_volume_with_written_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let ks: Vec<usize> = (0..N).collect();
    let instances: Vec<i32> = (1..=N as i32).collect();
    let paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 1), axial(), &ks, &instances);
    let series = one_series(&paths);
    assert!(series.issues.is_empty(), "{:?}", series.issues);
    assert_eq!(series.slice_spacing, Some(DZ));
    let volume = Volume::from_series(&series).unwrap();
    check_volume(&volume, axial(), &ks);
    check_affine(&volume, axial(), &ks);
    assert_eq!(volume.series_uid, SeriesInfo::from_seed("series-test", 1).series_instance_uid);
}

#[test]
fn reversed_file_order_is_sorted_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let ks: Vec<usize> = (0..N).rev().collect();
    let instances: Vec<i32> = (1..=N as i32).collect();
    let paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 2), axial(), &ks, &instances);
    let volume = Volume::from_series(&one_series(&paths)).unwrap();
    let expected: Vec<usize> = (0..N).collect();
    check_volume(&volume, axial(), &expected);
    check_affine(&volume, axial(), &expected);
}

#[test]
fn shuffled_file_order_is_sorted_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let ks = [5, 2, 7, 0, 3, 6, 1, 4];
    let instances: Vec<i32> = ks.iter().map(|&k| k as i32 + 1).collect();
    let mut paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 3), axial(), &ks, &instances);
    paths.reverse();
    let volume = Volume::from_series(&one_series(&paths)).unwrap();
    let expected: Vec<usize> = (0..N).collect();
    check_volume(&volume, axial(), &expected);
    check_affine(&volume, axial(), &expected);
}

#[test]
fn instance_numbers_that_disagree_with_position_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let ks: Vec<usize> = (0..N).collect();
    let instances = [4, 8, 1, 6, 2, 7, 3, 5];
    let paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 4), axial(), &ks, &instances);
    let series = one_series(&paths);
    let order: Vec<Option<i64>> =
        series.slices.iter().map(|s| series.header_of(s).and_then(|h| h.instance_number)).collect();
    assert_eq!(order, instances.iter().map(|&i| Some(i as i64)).collect::<Vec<_>>());
    let volume = Volume::from_series(&series).unwrap();
    check_volume(&volume, axial(), &ks);
    check_affine(&volume, axial(), &ks);
}

#[test]
fn tilted_series_is_ordered_along_its_normal() {
    let dir = tempfile::tempdir().unwrap();
    let o = tilted(20.0);
    let ks = [3, 0, 6, 1, 7, 2, 5, 4];
    let instances: Vec<i32> = (1..=N as i32).collect();
    let paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 5), o, &ks, &instances);
    let series = one_series(&paths);
    assert!(series.issues.is_empty(), "{:?}", series.issues);
    let n = series.normal.unwrap();
    assert!(close3(n, normal(o)) && close(n[1], -(20f64.to_radians().sin())));
    let volume = Volume::from_series(&series).unwrap();
    let expected: Vec<usize> = (0..N).collect();
    check_volume(&volume, o, &expected);
    check_affine(&volume, o, &expected);
}

#[test]
fn missing_slice_is_reported_as_gap_and_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let ks = [0, 1, 2, 3, 5, 6, 7];
    let instances = [1, 2, 3, 4, 6, 7, 8];
    let paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 6), axial(), &ks, &instances);
    let series = one_series(&paths);
    assert_eq!(kinds(&series), ["gap"]);
    let SeriesIssue::Gap { after, from, to, expected } = series.issues[0] else { unreachable!() };
    assert_eq!(after, 3);
    assert!(close(expected, DZ) && close(to - from, 2.0 * DZ));
    assert!(close(from, ORIGIN[2] + 3.0 * DZ) && close(to, ORIGIN[2] + 5.0 * DZ));
    assert!(series.is_usable() && series.check().is_ok());
    let volume = Volume::from_series(&series).unwrap();
    check_volume(&volume, axial(), &ks);
    assert!(!volume.is_uniform());
    assert!(close(volume.spacing[0], DZ));
    let locations: Vec<f64> = ks.iter().map(|&k| ORIGIN[2] + k as f64 * DZ).collect();
    assert!(volume.slice_locations.iter().zip(&locations).all(|(a, b)| close(*a, *b)));
    let report = series.report();
    assert!(report.usable && report.slices == 7 && report.files == 7);
}

#[test]
fn duplicate_position_is_reported_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let info = SeriesInfo::from_seed("series-test", 7);
    let ks: Vec<usize> = (0..N).collect();
    let instances: Vec<i32> = (1..=N as i32).collect();
    let mut paths = write(dir.path(), &info, axial(), &ks, &instances);
    let extra = dir.path().join("extra.dcm");
    write_ct_slice(&extra, &info, &slice(axial(), 3, 20)).unwrap();
    paths.insert(0, extra.clone());
    let series = one_series(&paths);
    assert_eq!(kinds(&series), ["duplicate"]);
    let SeriesIssue::Duplicate { kept, dropped, location } = &series.issues[0] else { unreachable!() };
    assert_eq!(kept.path, paths[4]);
    assert_eq!(dropped.path, extra);
    assert!(close(location.unwrap(), ORIGIN[2] + 3.0 * DZ));
    assert_eq!(series.slices.len(), N);
    let volume = Volume::from_series(&series).unwrap();
    check_volume(&volume, axial(), &ks);
    check_affine(&volume, axial(), &ks);
}

#[test]
fn mixed_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let info = SeriesInfo::from_seed("series-test", 8);
    let ks: Vec<usize> = (0..N - 1).collect();
    let instances: Vec<i32> = (1..N as i32).collect();
    let mut paths = write(dir.path(), &info, axial(), &ks, &instances);
    let small = CtSlice {
        position: position(axial(), N - 1),
        pixel_spacing: PIXEL_SPACING,
        instance_number: N as i32,
        ..CtSlice::new(vec![0.0; 12 * 16], 12, 16)
    };
    let odd = dir.path().join("small.dcm");
    write_ct_slice(&odd, &info, &small).unwrap();
    paths.push(odd);
    let series = one_series(&paths);
    assert!(!series.is_usable());
    assert!(series.issues.iter().any(|i| matches!(i, SeriesIssue::MixedSize { sizes } if sizes.len() == 2)));
    assert!(matches!(series.check(), Err(IoError::Series { .. })));
    match Volume::from_series(&series) {
        Err(IoError::Series { series_uid, reason }) => {
            assert_eq!(series_uid, info.series_instance_uid);
            assert!(reason.contains("mixed sizes"), "{reason}");
        }
        other => panic!("expected a series error, got {other:?}"),
    }
}

#[test]
fn mixed_orientations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let info = SeriesInfo::from_seed("series-test", 9);
    let mut paths = write(dir.path(), &info, axial(), &[0, 1, 2, 3], &[1, 2, 3, 4]);
    let odd = dir.path().join("tilted.dcm");
    write_ct_slice(&odd, &info, &slice(tilted(20.0), 4, 5)).unwrap();
    paths.push(odd);
    let series = one_series(&paths);
    assert!(kinds(&series).contains(&"mixed_orientation"), "{:?}", series.issues);
    assert!(matches!(Volume::from_series(&series), Err(IoError::Series { .. })));
}

#[test]
fn headers_are_grouped_by_series_uid() {
    let dir = tempfile::tempdir().unwrap();
    let a = SeriesInfo::from_seed("series-test", 10);
    let b = SeriesInfo::from_seed("series-test", 11);
    let mut paths = write(dir.path(), &a, axial(), &[0, 1, 2], &[1, 2, 3]);
    let sub = dir.path().join("b");
    std::fs::create_dir(&sub).unwrap();
    paths.extend(write(&sub, &b, tilted(20.0), &[2, 0, 1, 3], &[1, 2, 3, 4]));
    let headers: Vec<_> = paths.iter().map(|p| read_header(p).unwrap()).collect();
    let groups = group_series(headers);
    assert_eq!(groups.len(), 2);
    for series in &groups {
        let expected = if series.uid == a.series_instance_uid { 3 } else { 4 };
        assert_eq!(series.slices.len(), expected);
        assert!(series.is_usable() && series.issues.is_empty(), "{:?}", series.issues);
        let volume = Volume::from_series(series).unwrap();
        let z: Vec<usize> = (0..expected).map(|k| slice_index(volume.slice(k).unwrap())).collect();
        assert_eq!(z, (0..expected).collect::<Vec<_>>());
    }
}

#[test]
fn without_geometry_slices_follow_instance_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let ks = [2, 0, 3, 1];
    let paths = write(dir.path(), &SeriesInfo::from_seed("series-test", 12), axial(), &ks, &[3, 1, 4, 2]);
    let mut headers: Vec<_> = paths.iter().map(|p| read_header(p).unwrap()).collect();
    for h in &mut headers {
        h.image_position = None;
        h.image_orientation = None;
    }
    let series = Series::from_headers("x", headers.clone());
    assert_eq!(kinds(&series), ["no_geometry"]);
    let volume = Volume::from_series(&series).unwrap();
    let z: Vec<usize> = (0..4).map(|k| slice_index(volume.slice(k).unwrap())).collect();
    assert_eq!(z, [0, 1, 2, 3]);
    assert_eq!(volume.origin, [0.0; 3]);
    assert!(close(volume.spacing[0], DZ), "thickness is the fallback spacing");
    assert!(volume.slice_locations.is_empty());

    // Geometry on some slices but not others cannot be ordered.
    let mut partial: Vec<_> = paths.iter().map(|p| read_header(p).unwrap()).collect();
    partial[1].image_position = None;
    let series = Series::from_headers("y", partial);
    assert!(matches!(series.issues[..], [SeriesIssue::PartialGeometry { ref missing }] if missing.len() == 1));
    assert!(Volume::from_series(&series).is_err());
}

#[test]
fn drifting_positions_are_reported_as_misaligned() {
    let dir = tempfile::tempdir().unwrap();
    let info = SeriesInfo::from_seed("series-test", 14);
    let paths: Vec<PathBuf> = (0..4)
        .map(|k| {
            let mut s = slice(axial(), k, k as i32 + 1);
            s.position[1] += 0.5 * k as f64; // gantry tilt: each slice shifted posteriorly
            let path = dir.path().join(format!("{k}.dcm"));
            write_ct_slice(&path, &info, &s).unwrap();
            path
        })
        .collect();
    let series = one_series(&paths);
    assert_eq!(kinds(&series), ["misaligned"]);
    assert!(matches!(series.issues[0], SeriesIssue::Misaligned { max_offset } if close(max_offset, 1.5)));
    assert!(Volume::from_series(&series).is_ok());
}

#[test]
fn report_serialises_to_json() {
    let dir = tempfile::tempdir().unwrap();
    let paths =
        write(dir.path(), &SeriesInfo::from_seed("series-test", 13), axial(), &[0, 1, 2, 4, 4], &[1, 2, 3, 4, 5]);
    let report = one_series(&paths).report();
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"kind\":\"gap\"") && json.contains("\"kind\":\"duplicate\""), "{json}");
    let back: SeriesReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

/// An Enhanced CT Image file: `frames` frames of [`hu`], frame `f` at the position of slice `order[f]`.
fn write_enhanced(path: &Path, o: [f64; 6], order: &[usize]) {
    let el = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
    let ds = |xs: &[f64]| PrimitiveValue::Strs(xs.iter().map(|x| format!("{x:.10}")).collect());
    let item = |elements: Vec<DataElement<InMemDicomObject>>| InMemDicomObject::from_element_iter(elements);
    let seq = |tag, items: Vec<InMemDicomObject>| {
        DataElement::new(tag, VR::SQ, dicom_core::value::DataSetSequence::from(items))
    };

    let shared = item(vec![
        seq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(vec![
                el(tags::PIXEL_SPACING, VR::DS, ds(&PIXEL_SPACING)),
                el(tags::SLICE_THICKNESS, VR::DS, ds(&[DZ])),
            ])],
        ),
        seq(tags::PLANE_ORIENTATION_SEQUENCE, vec![item(vec![el(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds(&o))])]),
        seq(
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            vec![item(vec![
                el(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into()),
                el(tags::RESCALE_SLOPE, VR::DS, "1".into()),
                el(tags::RESCALE_TYPE, VR::LO, "HU".into()),
            ])],
        ),
    ]);
    let per_frame: Vec<InMemDicomObject> = order
        .iter()
        .map(|&k| {
            item(vec![seq(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![el(tags::IMAGE_POSITION_PATIENT, VR::DS, ds(&position(o, k)))])],
            )])
        })
        .collect();
    let pixels: Vec<u16> = order.iter().flat_map(|&k| hu(k)).map(|v| (v.round() as i32 + 1024) as u16).collect();
    let obj = InMemDicomObject::from_element_iter(vec![
        el(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.2.1".into()),
        el(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1234".into()),
        el(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1235".into()),
        el(tags::SERIES_INSTANCE_UID, VR::UI, "2.25.1236".into()),
        el(tags::MODALITY, VR::CS, "CT".into()),
        el(tags::INSTANCE_NUMBER, VR::IS, "1".into()),
        el(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        el(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2".into()),
        el(tags::NUMBER_OF_FRAMES, VR::IS, order.len().to_string().as_str().into()),
        el(tags::ROWS, VR::US, PrimitiveValue::from(ROWS as u16)),
        el(tags::COLUMNS, VR::US, PrimitiveValue::from(COLS as u16)),
        el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16)),
        el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16)),
        el(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![shared]),
        ),
        DataElement::new(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(per_frame),
        ),
        el(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    let file = obj.with_meta(FileMetaTableBuilder::new().transfer_syntax("1.2.840.10008.1.2.1")).unwrap();
    file.write_to_file(path).unwrap();
}

#[test]
fn enhanced_multiframe_file_becomes_ordered_volume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("enhanced.dcm");
    let o = tilted(20.0);
    let order = [4, 1, 6, 0, 3, 7, 2, 5];
    write_enhanced(&path, o, &order);
    let header = read_header(&path).unwrap();
    assert_eq!(header.frames, N as u32);
    assert_eq!(header.frame_positions.len(), N);
    let volume = Volume::from_file(&path).unwrap();
    assert!(volume.issues.is_empty(), "{:?}", volume.issues);
    let expected: Vec<usize> = (0..N).collect();
    check_volume(&volume, o, &expected);
    check_affine(&volume, o, &expected);
    let frames: Vec<u32> = one_series(&[path]).slices.iter().map(|s| s.frame).collect();
    assert_eq!(frames, [3, 1, 6, 4, 0, 7, 2, 5]);
}
