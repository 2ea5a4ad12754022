//! PNG and JPEG slices read as one grey channel of `f32`.
//!
//! The format is decided by the file's first bytes, never by its name: COVID-CT ships JPEG data in
//! files named `.png`. Such images carry no Hounsfield units; [`GreyImage::max_value`] says the scale
//! of their values (255 for 8-bit, 65535 for 16-bit samples).
//!
//! **Colour rule.** RGB(A) and palette images become grey with the ITU-R BT.601 luma weights,
//! `0.299 R + 0.587 G + 0.114 B`, the rule of PIL's `convert("L")` (computed in `f32`, not rounded).
//! JPEG YCbCr is decoded to RGB first. An alpha channel is dropped, not composited. Grey images keep
//! their samples as they are.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader};

use crate::datasets::DatasetError;

/// An image file format ctssl reads besides DICOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG (8 or 16 bit; grey, grey+alpha, RGB, RGBA, palette).
    Png,
    /// JPEG (baseline or progressive; grey or YCbCr).
    Jpeg,
}

impl ImageFormat {
    /// The format's name.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Png => "PNG",
            ImageFormat::Jpeg => "JPEG",
        }
    }
}

/// What a file is, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A PNG or JPEG image.
    Image(ImageFormat),
    /// A DICOM Part 10 file (`DICM` at offset 128).
    Dicom,
    /// Anything else (a DICOM file without preamble falls here too).
    Other,
}

/// PNG or JPEG from the first bytes of a file, if it is one.
pub fn sniff_image(head: &[u8]) -> Option<ImageFormat> {
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else {
        None
    }
}

/// The kind of a file from its first 132 bytes (or fewer for a short file).
pub fn sniff(head: &[u8]) -> FileKind {
    if let Some(f) = sniff_image(head) {
        FileKind::Image(f)
    } else if head.len() >= 132 && &head[128..132] == b"DICM" {
        FileKind::Dicom
    } else {
        FileKind::Other
    }
}

/// Reads the first bytes of `path` and says what it is.
pub fn sniff_file(path: &Path) -> Result<FileKind, DatasetError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
    let mut head = [0u8; 132];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(DatasetError::Io { path: path.to_path_buf(), source }),
        }
    }
    Ok(sniff(&head[..n]))
}

/// The colour layout a file was stored in (before the reduction to grey).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredColour {
    /// One grey channel.
    Grey,
    /// Grey and alpha (alpha dropped).
    GreyAlpha,
    /// RGB, YCbCr JPEG or palette without transparency (BT.601 luma).
    Rgb,
    /// RGBA or palette with transparency (alpha dropped, BT.601 luma).
    Rgba,
}

/// A decoded slice: one grey channel, row-major, values on the file's own scale.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` grey values in `[0, max_value]`.
    pub values: Vec<f32>,
    /// 255 for 8-bit samples, 65535 for 16-bit ones.
    pub max_value: f32,
    /// Bits per sample in the file (8 or 16).
    pub bits: u8,
    /// The file's format (from its content).
    pub format: ImageFormat,
    /// The file's colour layout.
    pub colour: StoredColour,
}

impl GreyImage {
    /// The values divided by `max_value`, in `[0, 1]`.
    pub fn unit_values(&self) -> Vec<f32> {
        let s = 1.0 / self.max_value;
        self.values.iter().map(|v| v * s).collect()
    }
}

const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

fn luma<T: Copy + Into<f32>>(px: &[T], stride: usize) -> Vec<f32> {
    px.chunks_exact(stride).map(|p| LUMA[0] * p[0].into() + LUMA[1] * p[1].into() + LUMA[2] * p[2].into()).collect()
}

fn first<T: Copy + Into<f32>>(px: &[T], stride: usize) -> Vec<f32> {
    px.chunks_exact(stride).map(|p| p[0].into()).collect()
}

/// Decodes PNG or JPEG bytes (the format sniffed from them) to one grey channel. `path` names the
/// file in errors.
pub fn decode_grey_image(bytes: &[u8], path: &Path) -> Result<GreyImage, DatasetError> {
    let format = sniff_image(bytes).ok_or_else(|| DatasetError::NotAnImage { path: path.to_path_buf() })?;
    let fmt = match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), fmt);
    reader.no_limits();
    let img = reader.decode().map_err(|source| DatasetError::Decode { path: path.to_path_buf(), source })?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (values, bits, colour) = match img {
        DynamicImage::ImageLuma8(b) => (first(b.as_raw(), 1), 8, StoredColour::Grey),
        DynamicImage::ImageLumaA8(b) => (first(b.as_raw(), 2), 8, StoredColour::GreyAlpha),
        DynamicImage::ImageRgb8(b) => (luma(b.as_raw(), 3), 8, StoredColour::Rgb),
        DynamicImage::ImageRgba8(b) => (luma(b.as_raw(), 4), 8, StoredColour::Rgba),
        DynamicImage::ImageLuma16(b) => (first(b.as_raw(), 1), 16, StoredColour::Grey),
        DynamicImage::ImageLumaA16(b) => (first(b.as_raw(), 2), 16, StoredColour::GreyAlpha),
        DynamicImage::ImageRgb16(b) => (luma(b.as_raw(), 3), 16, StoredColour::Rgb),
        DynamicImage::ImageRgba16(b) => (luma(b.as_raw(), 4), 16, StoredColour::Rgba),
        other => {
            // Float images do not come from PNG or JPEG; reduce through 16-bit RGB to stay total.
            let b = other.to_rgb16();
            (luma(b.as_raw(), 3), 16, StoredColour::Rgb)
        }
    };
    if values.len() != width * height || values.is_empty() {
        return Err(DatasetError::BadImage {
            path: path.to_path_buf(),
            reason: format!("{width}x{height} image with {} samples", values.len()),
        });
    }
    let max_value = if bits == 8 { 255.0 } else { 65535.0 };
    Ok(GreyImage { width, height, values, max_value, bits, format, colour })
}

/// Reads a PNG or JPEG file (the format from its content, whatever its name) to one grey channel.
pub fn read_grey_image(path: impl AsRef<Path>) -> Result<GreyImage, DatasetError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
    decode_grey_image(&bytes, path)
}

/// Reads many image files on every core (rayon), in the order given; each result names its file.
pub fn read_grey_images(paths: &[PathBuf]) -> Vec<Result<GreyImage, DatasetError>> {
    use rayon::prelude::*;
    paths.par_iter().map(read_grey_image).collect()
}
