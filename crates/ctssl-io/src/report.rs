//! A one-line summary of a file: its status and the statistics of its modality values.
//!
//! This is what the `ctinfo` example prints, one JSON object per file, and what the conformance
//! test compares with pydicom's decoded values.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::IoError;
use crate::header::read_header;
use crate::pixels::read_image;

/// What became of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// A greyscale image, decoded.
    Ok,
    /// More than one sample per pixel: not a CT input.
    Color,
    /// A DICOM file without pixel data (structured report, RT plan...).
    NoPixelData,
    /// Unreadable: see `error`.
    Error,
}

/// Status, size and statistics of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    /// The path as given.
    pub file: String,
    /// The outcome.
    pub status: FileStatus,
    /// Transfer Syntax UID, when the header could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_syntax: Option<String>,
    /// Modality, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    /// Rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    /// Columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cols: Option<u32>,
    /// Number of frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    /// Samples per pixel, for colour images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples_per_pixel: Option<u16>,
    /// Smallest modality value over all frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest modality value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Population standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// 32 values of the flattened frame-major array at indices `k * n / 32`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<Vec<f64>>,
    /// The error kind ([`IoError::kind`]), for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What is wrong, for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FileReport {
    fn empty(file: String, status: FileStatus) -> Self {
        FileReport {
            file,
            status,
            transfer_syntax: None,
            modality: None,
            rows: None,
            cols: None,
            frames: None,
            samples_per_pixel: None,
            min: None,
            max: None,
            mean: None,
            std: None,
            samples: None,
            kind: None,
            error: None,
        }
    }
}

/// Read and decode a file, and summarise it. Never fails: errors become `status: error`.
pub fn describe_file(path: &Path) -> FileReport {
    let file = path.display().to_string();
    match read_image(path) {
        Ok(image) => {
            let h = &image.header;
            let v = &image.values;
            let n = v.len();
            let mut r = FileReport::empty(file, FileStatus::Ok);
            r.transfer_syntax = Some(h.transfer_syntax.clone());
            r.modality = h.modality.clone();
            (r.rows, r.cols, r.frames) = (Some(h.rows), Some(h.cols), Some(h.frames));
            if n > 0 {
                let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
                let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n as f64;
                r.mean = Some(mean);
                r.std = Some(var.sqrt());
                r.min = Some(v.iter().copied().fold(f32::INFINITY, f32::min) as f64);
                r.max = Some(v.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64);
                r.samples = Some((0..32).map(|k| v[k * n / 32] as f64).collect());
            }
            r
        }
        Err(IoError::NoPixelData { .. }) => {
            let mut r = FileReport::empty(file, FileStatus::NoPixelData);
            if let Ok(h) = read_header(path) {
                r.transfer_syntax = Some(h.transfer_syntax);
                r.modality = h.modality;
            }
            r
        }
        Err(IoError::Color { samples_per_pixel, .. }) => {
            let mut r = FileReport::empty(file, FileStatus::Color);
            r.samples_per_pixel = Some(samples_per_pixel);
            if let Ok(h) = read_header(path) {
                r.transfer_syntax = Some(h.transfer_syntax);
                r.modality = h.modality;
                (r.rows, r.cols, r.frames) = (Some(h.rows), Some(h.cols), Some(h.frames));
            }
            r
        }
        Err(e) => {
            let mut r = FileReport::empty(file, FileStatus::Error);
            r.kind = Some(e.kind().to_string());
            r.error = Some(e.message_with_causes());
            r
        }
    }
}
