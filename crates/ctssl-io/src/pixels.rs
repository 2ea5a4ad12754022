//! Pixel data → stored sample bytes → modality values (Hounsfield units for CT).

use std::borrow::Cow;
use std::path::Path;

use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;

use crate::codecs::{self, frame_streams};
use crate::error::{IoError, Result};
use crate::header::{panic_message, ImageHeader, PixelLayout};
use crate::preflight::PixelState;
use crate::transfer_syntax::{transfer_syntax_info, PixelEncoding};

pub use crate::read_options::{Padding, ReadOptions, DEFAULT_MAX_IMAGE_BYTES};

/// A decoded image: its header and the modality values of all frames.
#[derive(Debug, Clone, PartialEq)]
pub struct CtImage {
    /// The metadata.
    pub header: ImageHeader,
    /// Modality values (HU for CT), frame-major then row-major: `frames × rows × cols`.
    pub values: Vec<f32>,
}

impl CtImage {
    /// The values of one frame.
    pub fn frame(&self, index: usize) -> Option<&[f32]> {
        let n = self.header.rows as usize * self.header.cols as usize;
        self.values.get(index * n..(index + 1) * n)
    }
}

/// Read a file and decode every frame to modality values, keeping padding as it is.
pub fn read_image(path: impl AsRef<Path>) -> Result<CtImage> {
    read_image_with(path, &ReadOptions::default())
}

/// Read a file and decode every frame to modality values.
pub fn read_image_with(path: impl AsRef<Path>, options: &ReadOptions) -> Result<CtImage> {
    let path = path.as_ref();
    let opened = crate::header::open_checked(path, false, options.max_image_bytes)?;
    match opened.pixel {
        PixelState::Complete | PixelState::NotRead | PixelState::Unclosed => decode_object(&opened.obj, path, options),
        truncated => {
            // The header is whole; the pixel data is not: say which frame is missing and why.
            let header = ImageHeader::from_object(&opened.obj, path)?;
            check_header(&header, options)?;
            Err(decode_error(&header, truncation_message(&header, &truncated)))
        }
    }
}

/// What a truncated pixel data element lacks, frame by frame.
fn truncation_message(header: &ImageHeader, state: &PixelState) -> String {
    let frames = header.frames as u64;
    match *state {
        PixelState::TruncatedNative { declared, available } => {
            let per_frame = frame_bytes(header);
            let first_missing = available.checked_div(per_frame).unwrap_or(0).min(frames.saturating_sub(1));
            format!(
                "frame {} of {frames}: the pixel data ends at byte {available} of its declared {declared}, the frame needs bytes {}..{}",
                first_missing + 1,
                first_missing * per_frame,
                (first_missing + 1) * per_frame
            )
        }
        PixelState::TruncatedFragments { complete, cut: Some((declared, remain)) } => format!(
            "the file ends inside pixel data fragment {} ({remain} of its {declared} bytes are there); {complete} complete fragment(s) for {frames} frame(s)",
            complete + 1
        ),
        PixelState::TruncatedFragments { complete, cut: None } => format!(
            "the pixel data has {complete} complete fragment(s) for {frames} frame(s) and no sequence delimiter: the file is cut"
        ),
        PixelState::Complete | PixelState::NotRead | PixelState::Unclosed => String::new(),
    }
}

/// Bytes of one frame of native pixel data.
fn frame_bytes(header: &ImageHeader) -> u64 {
    let samples = header.rows as u64 * header.cols as u64 * header.layout.samples_per_pixel as u64;
    (samples * header.layout.bits_allocated as u64).div_ceil(8)
}

/// Refuse images larger than the options allow, before anything is decoded.
fn check_header(header: &ImageHeader, options: &ReadOptions) -> Result<()> {
    let size = header.sample_count() as u64 * 4;
    if size > options.max_image_bytes {
        return Err(IoError::LimitExceeded {
            path: header.path.clone(),
            what: format!(
                "declared image ({}x{}, {} frame(s), {} sample(s) per pixel, as 32-bit values)",
                header.rows, header.cols, header.frames, header.layout.samples_per_pixel
            ),
            size,
            limit: options.max_image_bytes,
        });
    }
    Ok(())
}

/// Decode the pixels of an opened file.
pub fn decode_object(obj: &DefaultDicomObject, path: &Path, options: &ReadOptions) -> Result<CtImage> {
    if obj.get(tags::PIXEL_DATA).is_none() {
        return Err(IoError::NoPixelData { path: path.to_path_buf() });
    }
    let header = ImageHeader::from_object(obj, path)?;
    check_header(&header, options)?;
    if header.layout.samples_per_pixel != 1 {
        return Err(IoError::Color {
            path: path.to_path_buf(),
            samples_per_pixel: header.layout.samples_per_pixel,
            photometric: header.photometric.clone(),
        });
    }
    let (bytes, layout) = stored_bytes(obj, &header)?;
    let values = to_modality_values(&bytes, &layout, &header, options)?;
    Ok(CtImage { header, values })
}

fn decode_error(header: &ImageHeader, reason: impl Into<String>) -> IoError {
    IoError::Decode {
        path: header.path.clone(),
        transfer_syntax: header.transfer_syntax_name().to_string(),
        reason: reason.into(),
    }
}

/// The stored samples of all frames as little-endian bytes, with the layout they are in.
fn stored_bytes<'a>(obj: &'a DefaultDicomObject, header: &ImageHeader) -> Result<(Cow<'a, [u8]>, PixelLayout)> {
    let info = transfer_syntax_info(&header.transfer_syntax);
    let value = obj.get(tags::PIXEL_DATA).map(|e| e.value());
    match (info.encoding, value) {
        (_, None) => Err(IoError::NoPixelData { path: header.path.clone() }),
        (PixelEncoding::NativeLittleEndian, Some(Value::Primitive(p))) => Ok((p.to_bytes(), header.layout)),
        (PixelEncoding::NativeBigEndian, Some(Value::Primitive(p))) => {
            Ok((big_endian_to_native(p, header.layout), header.layout))
        }
        (PixelEncoding::NativeLittleEndian | PixelEncoding::NativeBigEndian, Some(_)) => {
            Err(decode_error(header, "native transfer syntax but the pixel data is not a plain value"))
        }
        (PixelEncoding::Rle | PixelEncoding::Jpeg | PixelEncoding::JpegLs, Some(Value::PixelSequence(seq))) => {
            let streams =
                frame_streams(seq.fragments(), seq.offset_table(), header.frames as usize).ok_or_else(|| {
                    decode_error(header, missing_fragments(seq.fragments().len(), header.frames as usize))
                })?;
            let decode = match info.encoding {
                PixelEncoding::Rle => codecs::decode_rle_frame,
                PixelEncoding::Jpeg => codecs::decode_jpeg_frame,
                _ => codecs::decode_jpeg_ls_frame,
            };
            let mut out = Vec::new();
            let frames = streams.len();
            for (i, stream) in streams.iter().enumerate() {
                let which = format!("frame {} of {frames}", i + 1);
                let frame = std::panic::catch_unwind(|| decode(stream, header.rows, header.cols, &header.layout))
                    .map_err(|p| decode_error(header, format!("{which}: the codec panicked: {}", panic_message(&*p))))?
                    .map_err(|e| match e {
                        codecs::FrameError::Invalid(reason) => decode_error(header, format!("{which}: {reason}")),
                        codecs::FrameError::Codec(source) => IoError::Codec {
                            path: header.path.clone(),
                            transfer_syntax: header.transfer_syntax_name().to_string(),
                            what: which.clone(),
                            source: Box::new(source),
                        },
                    })?;
                out.extend_from_slice(&frame);
            }
            Ok((Cow::Owned(out), header.layout))
        }
        (PixelEncoding::Jpeg2000, Some(Value::PixelSequence(seq))) => {
            // The codec adapter writes each decoded component into a frame buffer sized from the
            // header: check every frame's codestream against the header first, so that it cannot
            // write past it, and contain whatever panic still escapes.
            let frames = header.frames as usize;
            let streams = frame_streams(seq.fragments(), seq.offset_table(), frames)
                .ok_or_else(|| decode_error(header, missing_fragments(seq.fragments().len(), frames)))?;
            for (i, stream) in streams.iter().enumerate() {
                codecs::check_j2k_frame(stream, header.rows, header.cols, &header.layout)
                    .map_err(|e| decode_error(header, format!("frame {} of {frames}: {e}", i + 1)))?;
            }
            let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data()))
                .map_err(|p| decode_error(header, format!("the JPEG 2000 codec panicked: {}", panic_message(&*p))))?
                .map_err(|e| IoError::Codec {
                    path: header.path.clone(),
                    transfer_syntax: header.transfer_syntax_name().to_string(),
                    what: "JPEG 2000 frames".into(),
                    source: Box::new(e),
                })?;
            let layout = PixelLayout { bits_allocated: decoded.bits_allocated(), ..header.layout };
            Ok((Cow::Owned(decoded.into_data()), layout))
        }
        (PixelEncoding::Rle | PixelEncoding::Jpeg | PixelEncoding::Jpeg2000 | PixelEncoding::JpegLs, Some(_)) => {
            Err(decode_error(header, "encapsulated transfer syntax but the pixel data has no fragments"))
        }
        (PixelEncoding::Other, _) => Err(IoError::UnsupportedTransferSyntax {
            path: header.path.clone(),
            uid: header.transfer_syntax.clone(),
            name: info.name.to_string(),
        }),
    }
}

/// Why encapsulated fragments cannot be split into frames.
fn missing_fragments(fragments: usize, frames: usize) -> String {
    if fragments < frames {
        format!(
            "frame {} of {frames}: the pixel data has {fragments} fragment(s) and no offset table that splits them into frames; frames {}..={frames} are not in the file",
            fragments + 1,
            fragments + 1
        )
    } else {
        format!("{fragments} fragments cannot be split into {frames} frames (no usable offset table)")
    }
}

/// Native big endian: the parser already swapped 16-bit words; 32-bit samples need their halves swapped too.
fn big_endian_to_native(p: &PrimitiveValue, layout: PixelLayout) -> Cow<'_, [u8]> {
    match (p, layout.bits_allocated) {
        (PrimitiveValue::U16(words), 32) => {
            let mut out = Vec::with_capacity(words.len() * 2);
            for pair in words.chunks_exact(2) {
                out.extend_from_slice(&(((pair[0] as u32) << 16) | pair[1] as u32).to_le_bytes());
            }
            Cow::Owned(out)
        }
        (PrimitiveValue::U8(bytes), 16) => Cow::Owned(bytes.chunks_exact(2).flat_map(|c| [c[1], c[0]]).collect()),
        (PrimitiveValue::U8(bytes), 32) => {
            Cow::Owned(bytes.chunks_exact(4).flat_map(|c| [c[3], c[2], c[1], c[0]]).collect())
        }
        _ => p.to_bytes(),
    }
}

/// Read one stored sample (little endian) at `index`, masked to Bits Stored and sign-extended.
#[inline(always)]
fn sample(bytes: &[u8], index: usize, bytes_per: usize, shift: u32, bits: u32, signed: bool) -> i64 {
    let raw: u64 = match bytes_per {
        1 => bytes[index] as u64,
        2 => u16::from_le_bytes([bytes[2 * index], bytes[2 * index + 1]]) as u64,
        _ => {
            let o = 4 * index;
            u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as u64
        }
    };
    let v = (raw >> shift) & ((1u64 << bits) - 1);
    if signed && (v >> (bits - 1)) & 1 == 1 {
        v as i64 - (1i64 << bits)
    } else {
        v as i64
    }
}

/// Apply masking, sign, padding and the modality transform to all frames.
fn to_modality_values(
    bytes: &[u8],
    layout: &PixelLayout,
    header: &ImageHeader,
    options: &ReadOptions,
) -> Result<Vec<f32>> {
    let per_frame = header.rows as usize * header.cols as usize;
    let total = per_frame * header.frames as usize;
    if layout.bits_allocated == 1 {
        if bytes.len() * 8 < total {
            return Err(decode_error(
                header,
                format!(
                    "pixel data has {} bytes, {} frames of 1-bit samples need {}",
                    bytes.len(),
                    header.frames,
                    total.div_ceil(8)
                ),
            ));
        }
        return Ok((0..total)
            .map(|i| {
                let stored = ((bytes[i / 8] >> (i % 8)) & 1) as i64;
                header.modality_transform(i / per_frame).apply(stored) as f32
            })
            .collect());
    }
    let bytes_per = (layout.bits_allocated / 8) as usize;
    let needed = total * bytes_per;
    if bytes.len() < needed {
        let per_frame_bytes = per_frame * bytes_per;
        let missing = (bytes.len() / per_frame_bytes.max(1)).min(header.frames.saturating_sub(1) as usize);
        return Err(decode_error(
            header,
            format!(
                "frame {} of {}: the pixel data has {} bytes, the frame needs bytes {}..{} ({}x{} samples of {} bits each; all frames need {needed})",
                missing + 1,
                header.frames,
                bytes.len(),
                missing * per_frame_bytes,
                (missing + 1) * per_frame_bytes,
                header.rows,
                header.cols,
                layout.bits_allocated
            ),
        ));
    }
    let bits = layout.bits_stored.min(layout.bits_allocated) as u32;
    let shift = (layout.high_bit as u32 + 1).saturating_sub(bits);
    let signed = layout.signed;
    let padding = match options.padding {
        Padding::Keep => None,
        Padding::Replace(v) => header.pixel_padding.map(|p| (p, v)),
    };
    let mut out = Vec::with_capacity(total);
    for frame in 0..header.frames as usize {
        let base = frame * per_frame;
        let t = header.modality_transform(frame);
        match (t, padding, bytes_per, bits) {
            // The hot path: 16-bit samples, a rescale, no padding.
            (crate::header::ModalityTransform::Rescale { slope, intercept }, None, 2, 16) => {
                let src = &bytes[2 * base..2 * (base + per_frame)];
                let (slope, intercept) = (*slope as f32, *intercept as f32);
                let words = src.chunks_exact(2).map(|c| [c[0], c[1]]);
                if signed {
                    out.extend(words.map(|w| i16::from_le_bytes(w) as f32 * slope + intercept));
                } else {
                    out.extend(words.map(|w| u16::from_le_bytes(w) as f32 * slope + intercept));
                }
            }
            _ => out.extend((0..per_frame).map(|i| {
                let stored = sample(bytes, base + i, bytes_per, shift, bits, signed);
                match padding {
                    Some((p, fill)) if p.contains(stored) => fill,
                    _ => t.apply(stored) as f32,
                }
            })),
        }
    }
    Ok(out)
}
