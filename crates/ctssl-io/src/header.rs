//! Image metadata: geometry, identity, pixel layout and the modality transform of one DICOM file.

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use std::io::Read;

use dicom_object::{DefaultDicomObject, FileMetaTable, InMemDicomObject};
use dicom_transfer_syntax_registry::entries;
use serde::{Deserialize, Serialize};

use crate::attributes::Attributes;
use crate::error::{IoError, Result};
use crate::preflight::{self, Checked, NeedMore, PixelState, Syntax};
use crate::transfer_syntax::{transfer_syntax_name, trim_uid};

pub use crate::error::error_chain;

/// A display window stored in the file (Window Center / Width).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPreset {
    /// Window centre.
    pub center: f64,
    /// Window width.
    pub width: f64,
    /// Window Center & Width Explanation, when given.
    pub explanation: Option<String>,
}

/// A Modality LUT (0028,3000): stored values index a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalityLut {
    /// First stored value mapped (LUT Descriptor, second value).
    pub first_mapped: i64,
    /// The table; stored values outside it are clamped to its ends.
    pub data: Vec<u16>,
}

/// How stored values become modality values (Hounsfield units for CT).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ModalityTransform {
    /// `value = stored × slope + intercept` (identity when the file has no rescale).
    Rescale {
        /// Rescale Slope.
        slope: f64,
        /// Rescale Intercept.
        intercept: f64,
    },
    /// A lookup table.
    Lut(ModalityLut),
}

impl ModalityTransform {
    /// The identity transform.
    pub const IDENTITY: ModalityTransform = ModalityTransform::Rescale { slope: 1.0, intercept: 0.0 };

    /// Apply to one stored value.
    #[inline]
    pub fn apply(&self, stored: i64) -> f64 {
        match self {
            ModalityTransform::Rescale { slope, intercept } => stored as f64 * slope + intercept,
            ModalityTransform::Lut(lut) => {
                let last = lut.data.len().saturating_sub(1) as i64;
                let i = (stored - lut.first_mapped).clamp(0, last) as usize;
                lut.data.get(i).copied().unwrap_or(0) as f64
            }
        }
    }
}

/// Pixel Padding Value (and Range Limit): stored values that mark "no image here".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelPadding {
    /// Pixel Padding Value, in stored-value units.
    pub value: i64,
    /// Pixel Padding Range Limit: with it, every stored value between the two (inclusive) is padding.
    pub range_limit: Option<i64>,
}

impl PixelPadding {
    /// Whether a stored value is padding.
    #[inline]
    pub fn contains(&self, stored: i64) -> bool {
        match self.range_limit {
            None => stored == self.value,
            Some(limit) => stored >= self.value.min(limit) && stored <= self.value.max(limit),
        }
    }
}

/// How samples are stored in the pixel data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelLayout {
    /// Samples per Pixel (1 for CT).
    pub samples_per_pixel: u16,
    /// Bits Allocated (8, 16 or 32).
    pub bits_allocated: u16,
    /// Bits Stored.
    pub bits_stored: u16,
    /// High Bit.
    pub high_bit: u16,
    /// Pixel Representation: signed (two's complement) when true.
    pub signed: bool,
}

/// Everything ctssl needs to know about an image file except its pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageHeader {
    /// The file.
    pub path: PathBuf,
    /// Transfer Syntax UID.
    pub transfer_syntax: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Patient ID (empty when absent).
    pub patient_id: String,
    /// Study Instance UID (empty when absent).
    pub study_instance_uid: String,
    /// Series Instance UID (empty when absent).
    pub series_instance_uid: String,
    /// Modality (CT, MR...).
    pub modality: Option<String>,
    /// Series Description.
    pub series_description: Option<String>,
    /// Instance Number.
    pub instance_number: Option<i64>,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Number of Frames (1 for single-frame images).
    pub frames: u32,
    /// Photometric Interpretation.
    pub photometric: String,
    /// Sample layout.
    pub layout: PixelLayout,
    /// Pixel Spacing in mm: (between rows, between columns).
    pub pixel_spacing: Option<[f64; 2]>,
    /// Slice Thickness in mm.
    pub slice_thickness: Option<f64>,
    /// Image Position (Patient) of the first frame, mm, LPS.
    pub image_position: Option<[f64; 3]>,
    /// Image Orientation (Patient): row then column direction cosines.
    pub image_orientation: Option<[f64; 6]>,
    /// Per-frame positions of an enhanced multi-frame image (empty otherwise).
    pub frame_positions: Vec<[f64; 3]>,
    /// Window presets.
    pub windows: Vec<WindowPreset>,
    /// Modality transform per frame (one entry when all frames share it).
    pub modality_transforms: Vec<ModalityTransform>,
    /// Pixel padding, if the file declares it.
    pub pixel_padding: Option<PixelPadding>,
}

impl ImageHeader {
    /// Name of the transfer syntax.
    pub fn transfer_syntax_name(&self) -> &'static str {
        transfer_syntax_name(&self.transfer_syntax)
    }

    /// The modality transform of a frame.
    pub fn modality_transform(&self, frame: usize) -> &ModalityTransform {
        self.modality_transforms
            .get(frame)
            .or_else(|| self.modality_transforms.first())
            .unwrap_or(&ModalityTransform::IDENTITY)
    }

    /// Image position of a frame: per-frame when known, else the file's.
    pub fn frame_position(&self, frame: usize) -> Option<[f64; 3]> {
        self.frame_positions.get(frame).copied().or(self.image_position)
    }

    /// Number of samples in all frames.
    pub fn sample_count(&self) -> usize {
        self.rows as usize * self.cols as usize * self.frames as usize * self.layout.samples_per_pixel as usize
    }

    /// Read the header of an opened file.
    pub fn from_object(obj: &DefaultDicomObject, path: &Path) -> Result<ImageHeader> {
        let root = Attributes::new(obj, path);
        let transfer_syntax = trim_uid(&obj.meta().transfer_syntax).to_string();
        let text = |tag: Tag| -> Result<String> { Ok(root.string(tag)?.unwrap_or_default()) };

        let rows = root.required_int(tags::ROWS, 1, u16::MAX as i64)? as u32;
        let cols = root.required_int(tags::COLUMNS, 1, u16::MAX as i64)? as u32;
        let frames = match root.int(tags::NUMBER_OF_FRAMES)? {
            None => 1,
            Some(n) if (1..=1 << 20).contains(&n) => n as u32,
            Some(n) => {
                return Err(IoError::InvalidAttribute {
                    path: path.to_path_buf(),
                    attribute: crate::attributes::attribute_name(tags::NUMBER_OF_FRAMES),
                    reason: format!("{n} frames"),
                })
            }
        };
        // Strict: the codecs size their frame buffers from the file's own value, so a clamped
        // copy here would let them write into a buffer of another size.
        let samples_per_pixel = match root.int(tags::SAMPLES_PER_PIXEL)? {
            None => 1,
            Some(n) if (1..=4).contains(&n) => n as u16,
            Some(n) => {
                return Err(IoError::InvalidAttribute {
                    path: path.to_path_buf(),
                    attribute: crate::attributes::attribute_name(tags::SAMPLES_PER_PIXEL),
                    reason: format!("{n} (expected 1 to 4)"),
                })
            }
        };
        let bits_allocated = root.required_int(tags::BITS_ALLOCATED, 1, 64)? as u16;
        if ![1, 8, 16, 32].contains(&bits_allocated) {
            return Err(IoError::InvalidAttribute {
                path: path.to_path_buf(),
                attribute: crate::attributes::attribute_name(tags::BITS_ALLOCATED),
                reason: format!("{bits_allocated} (expected 1, 8, 16 or 32)"),
            });
        }
        let bits_stored =
            root.int(tags::BITS_STORED)?.unwrap_or(bits_allocated as i64).clamp(1, bits_allocated as i64) as u16;
        let high_bit =
            root.int(tags::HIGH_BIT)?.unwrap_or(bits_stored as i64 - 1).clamp(0, bits_allocated as i64 - 1) as u16;
        let signed = root.int(tags::PIXEL_REPRESENTATION)?.unwrap_or(0) == 1;
        let layout = PixelLayout { samples_per_pixel, bits_allocated, bits_stored, high_bit, signed };
        let root = root.with_signed_pixels(signed);

        let shared = root.item(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)?;
        let per_frame = root.items(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)?;

        // Geometry: the root data set, else the shared functional groups, else the first frame's.
        let first_frame = per_frame.first().map(|o| root.child(o));
        let group = |seq: Tag| -> Result<Option<Attributes<'_>>> {
            for g in [shared, first_frame].into_iter().flatten() {
                if let Some(item) = g.item(seq)? {
                    return Ok(Some(item));
                }
            }
            Ok(None)
        };
        let measures = group(tags::PIXEL_MEASURES_SEQUENCE)?;
        let pixel_spacing = match root.f64_array::<2>(tags::PIXEL_SPACING)? {
            Some(s) => Some(s),
            None => match measures {
                Some(m) => m.f64_array::<2>(tags::PIXEL_SPACING)?,
                None => None,
            },
        };
        let slice_thickness = match root.f64(tags::SLICE_THICKNESS)? {
            Some(t) => Some(t),
            None => match measures {
                Some(m) => m.f64(tags::SLICE_THICKNESS)?,
                None => None,
            },
        };
        let image_orientation = match root.f64_array::<6>(tags::IMAGE_ORIENTATION_PATIENT)? {
            Some(o) => Some(o),
            None => match group(tags::PLANE_ORIENTATION_SEQUENCE)? {
                Some(g) => g.f64_array::<6>(tags::IMAGE_ORIENTATION_PATIENT)?,
                None => None,
            },
        };
        let mut frame_positions = Vec::new();
        for item in per_frame {
            let pos = match root.child(item).item(tags::PLANE_POSITION_SEQUENCE)? {
                Some(p) => p.f64_array::<3>(tags::IMAGE_POSITION_PATIENT)?,
                None => None,
            };
            match pos {
                Some(p) => frame_positions.push(p),
                None => {
                    frame_positions.clear();
                    break;
                }
            }
        }
        let image_position = match root.f64_array::<3>(tags::IMAGE_POSITION_PATIENT)? {
            Some(p) => Some(p),
            None => frame_positions.first().copied(),
        };

        let windows = read_windows(&root)?;
        let modality_transforms = read_modality_transforms(&root, shared, per_frame, frames)?;
        let pixel_padding = match root.int(tags::PIXEL_PADDING_VALUE)? {
            Some(value) => Some(PixelPadding { value, range_limit: root.int(tags::PIXEL_PADDING_RANGE_LIMIT)? }),
            None => None,
        };

        Ok(ImageHeader {
            path: path.to_path_buf(),
            transfer_syntax,
            sop_class_uid: text(tags::SOP_CLASS_UID)?,
            sop_instance_uid: text(tags::SOP_INSTANCE_UID)?,
            patient_id: text(tags::PATIENT_ID)?,
            study_instance_uid: text(tags::STUDY_INSTANCE_UID)?,
            series_instance_uid: text(tags::SERIES_INSTANCE_UID)?,
            modality: root.string(tags::MODALITY)?,
            series_description: root.string(tags::SERIES_DESCRIPTION)?,
            instance_number: root.int(tags::INSTANCE_NUMBER).ok().flatten(),
            rows,
            cols,
            frames,
            photometric: text(tags::PHOTOMETRIC_INTERPRETATION)?,
            layout,
            pixel_spacing,
            slice_thickness,
            image_position,
            image_orientation,
            frame_positions,
            windows,
            modality_transforms,
            pixel_padding,
        })
    }
}

fn read_windows(root: &Attributes<'_>) -> Result<Vec<WindowPreset>> {
    let (Some(centers), Some(widths)) =
        (root.f64s(tags::WINDOW_CENTER).ok().flatten(), root.f64s(tags::WINDOW_WIDTH).ok().flatten())
    else {
        return Ok(Vec::new());
    };
    let explanations = root.strings(tags::WINDOW_CENTER_WIDTH_EXPLANATION).unwrap_or_default();
    Ok(centers
        .iter()
        .zip(&widths)
        .enumerate()
        .filter(|(_, (_, w))| **w > 0.0)
        .map(|(i, (c, w))| WindowPreset {
            center: *c,
            width: *w,
            explanation: explanations.get(i).filter(|s| !s.is_empty()).cloned(),
        })
        .collect())
}

/// The Modality LUT Sequence of a data set, if it has one.
fn read_lut(attrs: &Attributes<'_>) -> Result<Option<ModalityTransform>> {
    let Some(item) = attrs.item(tags::MODALITY_LUT_SEQUENCE)? else { return Ok(None) };
    let desc = item.f64s(tags::LUT_DESCRIPTOR)?.ok_or_else(|| item.missing(tags::LUT_DESCRIPTOR))?;
    if desc.len() < 3 {
        return Err(IoError::InvalidAttribute {
            path: PathBuf::new(),
            attribute: crate::attributes::attribute_name(tags::LUT_DESCRIPTOR),
            reason: format!("expected 3 values, found {}", desc.len()),
        });
    }
    let entries = if desc[0] == 0.0 { 65536 } else { desc[0] as usize };
    let mut data = item.u16s(tags::LUT_DATA)?.ok_or_else(|| item.missing(tags::LUT_DATA))?;
    if desc[2] <= 8.0 && data.len() * 2 == entries {
        // 8-bit entries packed two per 16-bit word
        data = data.iter().flat_map(|w| [w & 0xFF, w >> 8]).collect();
    }
    data.truncate(entries);
    Ok(Some(ModalityTransform::Lut(ModalityLut { first_mapped: desc[1] as i64, data })))
}

/// The rescale of a data set (root, or a Pixel Value Transformation item).
fn read_rescale(attrs: &Attributes<'_>) -> Result<Option<ModalityTransform>> {
    match (attrs.f64(tags::RESCALE_SLOPE)?, attrs.f64(tags::RESCALE_INTERCEPT)?) {
        (None, None) => Ok(None),
        (slope, intercept) => {
            Ok(Some(ModalityTransform::Rescale { slope: slope.unwrap_or(1.0), intercept: intercept.unwrap_or(0.0) }))
        }
    }
}

fn read_modality_transforms(
    root: &Attributes<'_>,
    shared: Option<Attributes<'_>>,
    per_frame: &[dicom_object::InMemDicomObject],
    frames: u32,
) -> Result<Vec<ModalityTransform>> {
    if let Some(lut) = read_lut(root)? {
        return Ok(vec![lut]);
    }
    if let Some(r) = read_rescale(root)? {
        return Ok(vec![r]);
    }
    // Enhanced multi-frame: Pixel Value Transformation per frame, or shared.
    let shared_transform =
        match shared.map(|s| s.item(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)).transpose()?.flatten() {
            Some(item) => read_rescale(&item)?,
            None => None,
        };
    if !per_frame.is_empty() {
        let mut out = Vec::with_capacity(per_frame.len());
        let mut any = false;
        for item in per_frame {
            let own = match root.child(item).item(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)? {
                Some(t) => read_rescale(&t)?,
                None => None,
            };
            any |= own.is_some();
            out.push(own.or_else(|| shared_transform.clone()).unwrap_or(ModalityTransform::IDENTITY));
        }
        if any && out.len() == frames as usize {
            return Ok(out);
        }
    }
    Ok(vec![shared_transform.unwrap_or(ModalityTransform::IDENTITY)])
}

/// Open a DICOM file, reading the data set up to (not including) the pixel data when `header_only`.
pub(crate) fn open(path: &Path, header_only: bool) -> Result<DefaultDicomObject> {
    open_checked(path, header_only, crate::pixels::DEFAULT_MAX_IMAGE_BYTES).map(|o| o.obj)
}

/// A parsed file and what the bounds check found of its pixel data.
pub(crate) struct Opened {
    pub obj: DefaultDicomObject,
    pub pixel: PixelState,
}

/// Bytes read first by a header-only open; more are read only when the header goes on.
const HEADER_CHUNK: u64 = 8 * 1024;

/// Open a file: check every length against the bytes there ([`crate::preflight`]), then parse the
/// checked bytes. `max_inflated` bounds a deflated data set.
pub(crate) fn open_checked(path: &Path, header_only: bool, max_inflated: u64) -> Result<Opened> {
    // The file's bytes go into a buffer kept by the thread between reads: a fresh one would be
    // zeroed and page-faulted in on every read, which tripled the time of a 512x512 slice.
    READ_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let result = open_into(path, header_only, max_inflated, &mut buf);
            if buf.capacity() > KEPT_BUFFER {
                *buf = Vec::new();
            }
            result
        }
        Err(_) => open_into(path, header_only, max_inflated, &mut Vec::new()),
    })
}

thread_local! {
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest read buffer a thread keeps between reads.
const KEPT_BUFFER: usize = 64 << 20;

fn open_into(path: &Path, header_only: bool, max_inflated: u64, buf: &mut Vec<u8>) -> Result<Opened> {
    let read_error = |source: std::io::Error| IoError::Read { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut file_len = file.metadata().map_err(read_error)?.len();
    let mut want = if header_only { HEADER_CHUNK.min(file_len) } else { file_len };
    let checked = loop {
        let missing = want.saturating_sub(buf.len() as u64);
        buf.try_reserve_exact(missing as usize).map_err(|e| read_error(std::io::Error::other(e)))?;
        (&mut file).take(missing).read_to_end(buf).map_err(read_error)?;
        if (buf.len() as u64) < want {
            // The file shrank while being read: what is there is all there is.
            file_len = buf.len() as u64;
        }
        match preflight::check(path, buf, file_len, header_only, max_inflated)? {
            Ok(checked) => break checked,
            Err(NeedMore(n)) if n > buf.len() as u64 && (buf.len() as u64) < file_len => {
                want = n.max(2 * buf.len() as u64).min(file_len);
            }
            Err(NeedMore(n)) => {
                return Err(IoError::NotDicom {
                    path: path.to_path_buf(),
                    reason: format!("the header needs {n} bytes, the file has {file_len}"),
                })
            }
        }
    };
    parse_checked(path, checked, buf)
}

/// Parse bytes the bounds check passed. A panic of the parser is contained as a typed error.
fn parse_checked(path: &Path, checked: Checked, file: &[u8]) -> Result<Opened> {
    let not_dicom = |reason: String| IoError::NotDicom { path: path.to_path_buf(), reason };
    let meta = FileMetaTable::from_reader(&checked.meta[..]).map_err(|e| IoError::Unparsable {
        path: path.to_path_buf(),
        what: "the file meta group".into(),
        source: Box::new(e),
    })?;
    let ts = match checked.syntax {
        Syntax::ImplicitLe => entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        Syntax::ExplicitLe => entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
        Syntax::ExplicitBe => entries::EXPLICIT_VR_BIG_ENDIAN.erased(),
    };
    let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        InMemDicomObject::read_dataset_with_ts(checked.reader(file), &ts)
    }));
    let obj = match parsed {
        Ok(Ok(obj)) => obj,
        Ok(Err(e)) => {
            let mut what = "the data set".to_string();
            if let Some(r) = checked.repairs.first() {
                what.push_str(&format!(" (after the bounds check: {r})"));
            }
            return Err(IoError::Unparsable { path: path.to_path_buf(), what, source: Box::new(e) });
        }
        Err(panic) => return Err(not_dicom(format!("the DICOM parser panicked: {}", panic_message(&*panic)))),
    };
    Ok(Opened { obj: obj.with_exact_meta(meta), pixel: checked.pixel })
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Read only the header of a file (stops before the pixel data).
pub fn read_header(path: impl AsRef<Path>) -> Result<ImageHeader> {
    let path = path.as_ref();
    let obj = open(path, true)?;
    ImageHeader::from_object(&obj, path)
}
