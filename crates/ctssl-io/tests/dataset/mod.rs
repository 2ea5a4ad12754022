//! Test datasets for the scan and cache tests: copies of conformance files and small synthetic CT series.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ctssl_io::{write_ct_series, CtSlice, SeriesInfo};

/// The folder of conformance DICOM files: the repository's `tests/data/conformance/dicom`, or
/// `$CTSSL_CONFORMANCE_DIR/dicom` when set. A missing corpus fails the test, saying where it looked.
pub fn conformance_dir() -> PathBuf {
    let corpus = std::env::var_os("CTSSL_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/conformance"));
    let dir = corpus.join("dicom");
    assert!(
        dir.join("CT_small.dcm").is_file(),
        "conformance corpus not found in {}; set CTSSL_CONFORMANCE_DIR to the corpus folder",
        dir.display()
    );
    dir
}

/// A file of the conformance corpus.
pub fn conformance(name: &str) -> PathBuf {
    conformance_dir().join(name)
}

/// Copy a conformance file to `dir/relative`.
pub fn copy(name: &str, dir: &Path, relative: &str) -> PathBuf {
    let to = dir.join(relative);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(conformance(name), &to).unwrap();
    // The corpus is read-only; copies must be writable so tests can change them.
    let mut perms = std::fs::metadata(&to).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&to, perms).unwrap();
    to
}

/// Slice positions along z of a synthetic series, in the order they are written (not sorted).
pub const Z_WRITE_ORDER: [usize; 5] = [3, 0, 4, 1, 2];

/// The HU value of pixel `i` of slice `k` (by position) of patient `p`.
pub fn synthetic_value(p: u64, k: usize, i: usize) -> f32 {
    -1000.0 + ((i * 7 + k * 131 + p as usize * 31) % 2500) as f32
}

/// Write one synthetic CT series of 5 slices of 16×16 for patient `p` into `dir`; files are named in
/// a scrambled z order and instance numbers run against z, so only geometry gives the right order.
pub fn write_patient(dir: &Path, p: u64, series: u64) -> Vec<PathBuf> {
    let mut info = SeriesInfo::from_seed("ctssl-io-tests", p * 100 + series);
    info.patient_id = format!("PAT{p:04}");
    let slices: Vec<CtSlice<'static>> = Z_WRITE_ORDER
        .iter()
        .map(|&k| {
            let values: Vec<f32> = (0..256).map(|i| synthetic_value(p, k, i)).collect();
            let mut s = CtSlice::new(values, 16, 16);
            s.position = [-8.0, -8.0, 2.5 * k as f64];
            s.instance_number = 5 - k as i32;
            s
        })
        .collect();
    write_ct_series(dir, &info, &slices).unwrap()
}
