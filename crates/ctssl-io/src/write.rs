//! A DICOM writer for CT: Hounsfield-unit slices to CT Image Storage files, written atomically.
//!
//! Every file is CT Image Storage (`1.2.840.10008.5.1.4.1.1.2`) in Explicit VR Little Endian,
//! MONOCHROME2, signed 16-bit stored values (Bits Allocated/Stored 16, High Bit 15, Pixel
//! Representation 1).
//!
//! **Rescale.** Stored values are `round(HU)` clamped to `i16`, with Rescale Slope 1 and Rescale
//! Intercept 0 (`HU = stored`). Signed 16 bits hold −32768…32767 HU, which covers air (−1000),
//! every tissue, bone, contrast and metal (scanners clip at about 30 000 HU), so no intercept shift
//! is needed; keeping the intercept at 0 makes a stored value read as itself in every viewer. The
//! written HU are therefore the input rounded to whole HU, the native precision of CT. Non-finite
//! input (NaN, ±∞) is refused rather than silently mapped.
//!
//! **UIDs.** [`uid_from_seed`] derives a UID from a namespace, a seed and an index, so the same seed
//! writes the same study, series, frame of reference and instance UIDs (reproducible synthetic data);
//! [`new_uid`] makes a fresh one. Both are `2.25.<decimal of a 128-bit number>` (at most 44 characters).

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dicom_core::smallvec::SmallVec;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use rayon::prelude::*;

use crate::error::{IoError, Result};
use crate::header::WindowPreset;

/// SOP Class UID of CT Image Storage.
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
/// Transfer Syntax UID of Explicit VR Little Endian.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Rescale Slope written to every file.
pub const RESCALE_SLOPE: f64 = 1.0;
/// Rescale Intercept written to every file (stored value = HU).
pub const RESCALE_INTERCEPT: f64 = 0.0;
/// Implementation Class UID of files written by ctssl.
const IMPLEMENTATION_CLASS_UID: &str = "2.25.137038125948464656254770291383395443437";

/// Identity and description of the patient, study and series that written slices belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    /// Patient ID.
    pub patient_id: String,
    /// Patient's Name (DICOM person name, e.g. `Phantom^Seven`).
    pub patient_name: String,
    /// Patient's Sex: `M`, `F` or `O`.
    pub patient_sex: Option<String>,
    /// Patient's Age, DICOM age string such as `045Y`.
    pub patient_age: Option<String>,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Frame of Reference UID shared by the series' slices.
    pub frame_of_reference_uid: String,
    /// Study Date, `YYYYMMDD`.
    pub study_date: String,
    /// Study Time, `HHMMSS`.
    pub study_time: String,
    /// Study ID.
    pub study_id: String,
    /// Study Description.
    pub study_description: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Series Number.
    pub series_number: i32,
    /// KVP (peak tube voltage, kV).
    pub kvp: Option<f64>,
    /// Body Part Examined (e.g. `CHEST`).
    pub body_part: Option<String>,
    /// Window presets written as Window Center / Width / Explanation.
    pub windows: Vec<WindowPreset>,
    /// Namespace and seed of the SOP Instance UIDs: deterministic when set, random when `None`.
    pub instance_uid_seed: Option<(String, u64)>,
}

impl SeriesInfo {
    /// A series whose UIDs all derive from `(namespace, seed)`: the same arguments give the same UIDs.
    pub fn from_seed(namespace: &str, seed: u64) -> SeriesInfo {
        SeriesInfo {
            patient_id: format!("CTSSL{seed:06}"),
            patient_name: format!("Synthetic^{seed}"),
            study_instance_uid: uid_from_seed(&format!("{namespace}/study"), seed, 0),
            series_instance_uid: uid_from_seed(&format!("{namespace}/series"), seed, 0),
            frame_of_reference_uid: uid_from_seed(&format!("{namespace}/frame-of-reference"), seed, 0),
            instance_uid_seed: Some((format!("{namespace}/sop"), seed)),
            ..SeriesInfo::default()
        }
    }

    /// A series with fresh random UIDs.
    pub fn random() -> SeriesInfo {
        SeriesInfo::default()
    }

    /// The SOP Instance UID of the slice with this instance number.
    pub fn sop_instance_uid(&self, instance_number: i32) -> String {
        match &self.instance_uid_seed {
            Some((namespace, seed)) => uid_from_seed(namespace, *seed, instance_number as u32 as u64),
            None => new_uid(),
        }
    }
}

impl Default for SeriesInfo {
    /// Anonymous synthetic patient, fresh random UIDs, soft-tissue and lung windows.
    fn default() -> Self {
        SeriesInfo {
            patient_id: "CTSSL".into(),
            patient_name: "Synthetic^Patient".into(),
            patient_sex: None,
            patient_age: None,
            study_instance_uid: new_uid(),
            series_instance_uid: new_uid(),
            frame_of_reference_uid: new_uid(),
            study_date: "20240101".into(),
            study_time: "120000".into(),
            study_id: "1".into(),
            study_description: None,
            series_description: None,
            series_number: 1,
            kvp: None,
            body_part: None,
            windows: vec![
                WindowPreset { center: 40.0, width: 400.0, explanation: Some("SOFT TISSUE".into()) },
                WindowPreset { center: -600.0, width: 1500.0, explanation: Some("LUNG".into()) },
            ],
            instance_uid_seed: None,
        }
    }
}

/// One CT slice to write: HU values (row-major `rows × cols`) and its geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct CtSlice<'a> {
    /// Hounsfield units, row-major; borrowed or owned.
    pub values: Cow<'a, [f32]>,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Pixel Spacing in mm: (between rows, between columns).
    pub pixel_spacing: [f64; 2],
    /// Slice Thickness in mm.
    pub slice_thickness: f64,
    /// Image Position (Patient) of the first pixel, mm, LPS.
    pub position: [f64; 3],
    /// Image Orientation (Patient): row then column direction cosines.
    pub orientation: [f64; 6],
    /// Instance Number (also selects the deterministic SOP Instance UID).
    pub instance_number: i32,
}

impl<'a> CtSlice<'a> {
    /// Axial orientation: rows along +x (left), columns along +y (posterior).
    pub const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

    /// An axial slice at the origin with 1 mm pixels and thickness, instance number 1.
    pub fn new(values: impl Into<Cow<'a, [f32]>>, rows: u32, cols: u32) -> CtSlice<'a> {
        CtSlice {
            values: values.into(),
            rows,
            cols,
            pixel_spacing: [1.0, 1.0],
            slice_thickness: 1.0,
            position: [0.0; 3],
            orientation: Self::AXIAL,
            instance_number: 1,
        }
    }

    /// The slice normal (row cosines × column cosines).
    pub fn normal(&self) -> [f64; 3] {
        let o = &self.orientation;
        cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])
    }

    /// Slice Location: the position projected on the slice normal, mm.
    pub fn slice_location(&self) -> f64 {
        let n = self.normal();
        n[0] * self.position[0] + n[1] * self.position[1] + n[2] * self.position[2]
    }

    fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(IoError::InvalidArgument(format!("CT slice {}: {what}", self.instance_number)));
        if self.rows == 0 || self.cols == 0 || self.rows > u16::MAX as u32 || self.cols > u16::MAX as u32 {
            return bad(format!("{}x{} pixels (each side must be 1..=65535)", self.rows, self.cols));
        }
        let expected = self.rows as usize * self.cols as usize;
        if self.values.len() != expected {
            return bad(format!("{} values for {}x{} pixels", self.values.len(), self.rows, self.cols));
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return bad(format!("value {} at index {i} is not finite", self.values[i]));
        }
        if !self.pixel_spacing.iter().chain([&self.slice_thickness]).all(|s| s.is_finite() && *s > 0.0) {
            return bad(format!(
                "pixel spacing {:?} and thickness {} must be positive",
                self.pixel_spacing, self.slice_thickness
            ));
        }
        if !self.position.iter().all(|p| p.is_finite()) {
            return bad(format!("position {:?} is not finite", self.position));
        }
        let o = &self.orientation;
        let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
        let unit = |v: [f64; 3]| (dot(v, v).sqrt() - 1.0).abs() < 1e-3;
        if !o.iter().all(|x| x.is_finite()) || !unit(r) || !unit(c) || dot(r, c).abs() > 1e-3 {
            return bad(format!("orientation {o:?} is not two orthogonal unit vectors"));
        }
        Ok(())
    }
}

/// Write one slice as a CT Image Storage file, atomically (temporary sibling, then rename); creates the folder.
pub fn write_ct_slice(path: impl AsRef<Path>, info: &SeriesInfo, slice: &CtSlice<'_>) -> Result<()> {
    let path = path.as_ref();
    let obj = ct_object(info, slice)?;
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
                .implementation_version_name("CTSSL_010"),
        )
        .map_err(|e| IoError::Encode { path: path.to_path_buf(), source: Box::new(e) })?;
    let mut bytes = Vec::with_capacity(slice.values.len() * 2 + 4096);
    file.write_all(&mut bytes).map_err(|e| IoError::Encode { path: path.to_path_buf(), source: Box::new(e) })?;
    crate::atomic::write_atomic(path, &bytes)
}

/// Write slices as `IM00001.dcm`, `IM00002.dcm`, … (numbered by their place in `slices`) into `dir`.
pub fn write_ct_series(dir: impl AsRef<Path>, info: &SeriesInfo, slices: &[CtSlice<'_>]) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir).map_err(|source| IoError::Write { path: dir.to_path_buf(), source })?;
    slices
        .par_iter()
        .enumerate()
        .map(|(i, slice)| {
            let path = dir.join(format!("IM{:05}.dcm", i + 1));
            write_ct_slice(&path, info, slice).map(|()| path)
        })
        .collect()
}

/// A deterministic UID `2.25.<n>`, `n` a 128-bit hash of `(namespace, seed, index)`.
pub fn uid_from_seed(namespace: &str, seed: u64, index: u64) -> String {
    let mut bytes = Vec::with_capacity(namespace.len() + 17);
    bytes.extend_from_slice(namespace.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(&seed.to_le_bytes());
    bytes.extend_from_slice(&index.to_le_bytes());
    uid_from_u128(hash128(&bytes))
}

/// A fresh UID `2.25.<n>` from the clock, the process id and a counter.
pub fn new_uid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let local = 0u8;
    let address = &local as *const u8 as usize as u64;
    let mut bytes = Vec::with_capacity(40);
    bytes.extend_from_slice(&nanos.to_le_bytes());
    bytes.extend_from_slice(&std::process::id().to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&address.to_le_bytes());
    uid_from_u128(hash128(&bytes))
}

/// Whether a string is a valid DICOM UID (digits and dots, no empty or zero-led component, ≤ 64 chars).
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid
            .split('.')
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) && (c == "0" || !c.starts_with('0')))
}

/// `2.25.` and the decimal of a 128-bit number shaped as a version-8 (custom) UUID.
fn uid_from_u128(h: u128) -> String {
    let h = (h & !(0xF << 76) & !(0x3 << 62)) | (0x8 << 76) | (0x2 << 62);
    format!("2.25.{h}")
}

/// FNV-1a over 128 bits followed by a mixing finaliser (well spread for near-identical inputs).
fn hash128(bytes: &[u8]) -> u128 {
    let mut fnv = crate::fnv128::Fnv128::new();
    fnv.update(bytes);
    let mut h = fnv.value();
    for k in [0x9E3779B97F4A7C15F39CC0605CEDC835u128, 0xD6E8FEB86659FD93C2B2AE3D27D4EB4Fu128] {
        h ^= h >> 67;
        h = h.wrapping_mul(k | 1);
        h ^= h >> 59;
    }
    h
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// A decimal string (DS) of at most 16 characters: the shortest exact form, else the closest fixed or scientific form.
fn ds(x: f64) -> String {
    let plain = format!("{x}");
    if plain.len() <= 16 {
        return plain;
    }
    let fixed = (0..=15).rev().map(|p| trim_fraction(format!("{x:.p$}"))).find(|s| s.len() <= 16);
    let sci = (0..=15).rev().map(|p| format!("{x:.p$e}")).find(|s| s.len() <= 16);
    let error = |s: &String| s.parse::<f64>().map_or(f64::INFINITY, |v| (v - x).abs());
    match (fixed, sci) {
        (Some(f), Some(e)) if error(&e) < error(&f) => e,
        (Some(f), _) => f,
        (None, Some(e)) => e,
        (None, None) => format!("{x:.0e}"),
    }
}

fn trim_fraction(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn strs(values: impl IntoIterator<Item = String>) -> PrimitiveValue {
    PrimitiveValue::Strs(values.into_iter().collect::<SmallVec<[String; 2]>>())
}

fn check_info(info: &SeriesInfo) -> Result<()> {
    for (name, uid) in [
        ("Study Instance UID", &info.study_instance_uid),
        ("Series Instance UID", &info.series_instance_uid),
        ("Frame of Reference UID", &info.frame_of_reference_uid),
    ] {
        if !is_valid_uid(uid) {
            return Err(IoError::InvalidArgument(format!("{name} {uid:?} is not a valid UID")));
        }
    }
    if let Some(sex) = &info.patient_sex {
        if !["M", "F", "O"].contains(&sex.as_str()) {
            return Err(IoError::InvalidArgument(format!("Patient's Sex {sex:?} (expected M, F or O)")));
        }
    }
    if let Some(age) = &info.patient_age {
        let b = age.as_bytes();
        if b.len() != 4 || !b[..3].iter().all(u8::is_ascii_digit) || !b"DWMY".contains(&b[3]) {
            return Err(IoError::InvalidArgument(format!("Patient's Age {age:?} (expected nnnD/W/M/Y)")));
        }
    }
    if info.study_date.len() != 8 || !info.study_date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IoError::InvalidArgument(format!("Study Date {:?} (expected YYYYMMDD)", info.study_date)));
    }
    Ok(())
}

/// The data set of one CT slice.
fn ct_object(info: &SeriesInfo, slice: &CtSlice<'_>) -> Result<InMemDicomObject> {
    check_info(info)?;
    slice.validate()?;
    let sop_instance_uid = info.sop_instance_uid(slice.instance_number);
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag: Tag, vr: VR, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    let text = |s: &str| PrimitiveValue::from(s);
    let empty = PrimitiveValue::Empty;

    put(tags::SPECIFIC_CHARACTER_SET, VR::CS, text("ISO_IR 192"));
    put(tags::IMAGE_TYPE, VR::CS, strs(["DERIVED".into(), "SECONDARY".into(), "AXIAL".into()]));
    put(tags::SOP_CLASS_UID, VR::UI, text(CT_IMAGE_STORAGE));
    put(tags::SOP_INSTANCE_UID, VR::UI, text(&sop_instance_uid));
    put(tags::STUDY_DATE, VR::DA, text(&info.study_date));
    put(tags::SERIES_DATE, VR::DA, text(&info.study_date));
    put(tags::CONTENT_DATE, VR::DA, text(&info.study_date));
    put(tags::STUDY_TIME, VR::TM, text(&info.study_time));
    put(tags::SERIES_TIME, VR::TM, text(&info.study_time));
    put(tags::CONTENT_TIME, VR::TM, text(&info.study_time));
    put(tags::ACCESSION_NUMBER, VR::SH, empty.clone());
    put(tags::MODALITY, VR::CS, text("CT"));
    put(tags::MANUFACTURER, VR::LO, text("ctssl"));
    put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, empty.clone());
    if let Some(d) = &info.study_description {
        put(tags::STUDY_DESCRIPTION, VR::LO, text(d));
    }
    if let Some(d) = &info.series_description {
        put(tags::SERIES_DESCRIPTION, VR::LO, text(d));
    }
    put(tags::PATIENT_NAME, VR::PN, text(&info.patient_name));
    put(tags::PATIENT_ID, VR::LO, text(&info.patient_id));
    put(tags::PATIENT_BIRTH_DATE, VR::DA, empty.clone());
    put(tags::PATIENT_SEX, VR::CS, info.patient_sex.as_deref().map_or(empty.clone(), text));
    if let Some(age) = &info.patient_age {
        put(tags::PATIENT_AGE, VR::AS, text(age));
    }
    if let Some(part) = &info.body_part {
        put(tags::BODY_PART_EXAMINED, VR::CS, text(part));
    }
    put(tags::SLICE_THICKNESS, VR::DS, text(&ds(slice.slice_thickness)));
    put(tags::KVP, VR::DS, info.kvp.map_or(empty.clone(), |k| text(&ds(k))));
    put(tags::STUDY_INSTANCE_UID, VR::UI, text(&info.study_instance_uid));
    put(tags::SERIES_INSTANCE_UID, VR::UI, text(&info.series_instance_uid));
    put(tags::STUDY_ID, VR::SH, text(&info.study_id));
    put(tags::SERIES_NUMBER, VR::IS, text(&info.series_number.to_string()));
    put(tags::ACQUISITION_NUMBER, VR::IS, text("1"));
    put(tags::INSTANCE_NUMBER, VR::IS, text(&slice.instance_number.to_string()));
    put(tags::IMAGE_POSITION_PATIENT, VR::DS, strs(slice.position.iter().map(|&v| ds(v))));
    put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, strs(slice.orientation.iter().map(|&v| ds(v))));
    put(tags::FRAME_OF_REFERENCE_UID, VR::UI, text(&info.frame_of_reference_uid));
    put(tags::POSITION_REFERENCE_INDICATOR, VR::LO, empty.clone());
    put(tags::SLICE_LOCATION, VR::DS, text(&ds(slice.slice_location())));
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, text("MONOCHROME2"));
    put(tags::ROWS, VR::US, PrimitiveValue::from(slice.rows as u16));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(slice.cols as u16));
    put(tags::PIXEL_SPACING, VR::DS, strs(slice.pixel_spacing.iter().map(|&v| ds(v))));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
    put(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(1u16));
    if !info.windows.is_empty() {
        put(tags::WINDOW_CENTER, VR::DS, strs(info.windows.iter().map(|w| ds(w.center))));
        put(tags::WINDOW_WIDTH, VR::DS, strs(info.windows.iter().map(|w| ds(w.width))));
        if info.windows.iter().any(|w| w.explanation.is_some()) {
            let explanations = info.windows.iter().map(|w| w.explanation.clone().unwrap_or_default());
            put(tags::WINDOW_CENTER_WIDTH_EXPLANATION, VR::LO, strs(explanations));
        }
    }
    put(tags::RESCALE_INTERCEPT, VR::DS, text(&ds(RESCALE_INTERCEPT)));
    put(tags::RESCALE_SLOPE, VR::DS, text(&ds(RESCALE_SLOPE)));
    put(tags::RESCALE_TYPE, VR::LO, text("HU"));
    put(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, text("00"));
    let stored: SmallVec<[u16; 2]> = slice.values.iter().map(|&hu| hu_to_stored(hu) as u16).collect();
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(stored));
    Ok(obj)
}

/// The stored value of one HU value: `round((HU − intercept) / slope)` clamped to `i16`.
pub fn hu_to_stored(hu: f32) -> i16 {
    ((hu as f64 - RESCALE_INTERCEPT) / RESCALE_SLOPE).round().clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds_fits_sixteen_characters() {
        for x in [0.0, 1.0, -1000.0, 0.9396926207859084, -0.3420201433256687, 123456.789012345, 1e-20, -2.5e300] {
            let s = ds(x);
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap();
            assert!((back - x).abs() <= 1e-12 * x.abs().max(1.0), "{x} -> {s}");
        }
    }

    #[test]
    fn uids_are_valid_deterministic_and_distinct() {
        let a = uid_from_seed("ns", 7, 0);
        assert_eq!(a, uid_from_seed("ns", 7, 0));
        assert_ne!(a, uid_from_seed("ns", 7, 1));
        assert_ne!(a, uid_from_seed("ns", 8, 0));
        assert_ne!(a, uid_from_seed("nt", 7, 0));
        assert!(is_valid_uid(&a) && a.starts_with("2.25.") && a.len() <= 64, "{a}");
        let (r1, r2) = (new_uid(), new_uid());
        assert!(is_valid_uid(&r1) && r1 != r2);
        assert!(!is_valid_uid("1.02.3") && !is_valid_uid("1..2") && !is_valid_uid("1.a"));
    }

    #[test]
    fn stored_values_round_and_clamp() {
        assert_eq!(hu_to_stored(-1000.4), -1000);
        assert_eq!(hu_to_stored(12.5), 13);
        assert_eq!(hu_to_stored(1e9), i16::MAX);
        assert_eq!(hu_to_stored(-1e9), i16::MIN);
    }

    #[test]
    fn invalid_slices_are_refused() {
        let info = SeriesInfo::from_seed("t", 1);
        let short = CtSlice::new(vec![0.0; 3], 2, 2);
        assert!(matches!(ct_object(&info, &short), Err(IoError::InvalidArgument(_))));
        let nan = CtSlice::new(vec![0.0, f32::NAN, 0.0, 0.0], 2, 2);
        assert!(matches!(ct_object(&info, &nan), Err(IoError::InvalidArgument(_))));
        let skew = CtSlice { orientation: [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], ..CtSlice::new(vec![0.0; 4], 2, 2) };
        assert!(matches!(ct_object(&info, &skew), Err(IoError::InvalidArgument(_))));
        let bad_uid = SeriesInfo { series_instance_uid: "1.2.x".into(), ..info };
        assert!(matches!(ct_object(&bad_uid, &CtSlice::new(vec![0.0; 4], 2, 2)), Err(IoError::InvalidArgument(_))));
    }
}
