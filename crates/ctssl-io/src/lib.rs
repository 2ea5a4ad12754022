//! # ctssl-io
//!
//! The door every CT image comes through: DICOM files (every common transfer syntax) to `f32`
//! Hounsfield units with their geometry, series assembled into volumes, whole folders scanned
//! into a manifest, slices cached for training, HU windows, and a DICOM writer.
//!
//! ```no_run
//! use ctssl_io::{read_image, HuWindow};
//!
//! let image = read_image("slice.dcm")?;
//! println!("{}x{} slice, spacing {:?}", image.header.rows, image.header.cols, image.header.pixel_spacing);
//! let lung = HuWindow::LUNG;
//! let unit: Vec<f32> = image.values.iter().map(|&hu| lung.apply(hu)).collect();
//! # Ok::<(), ctssl_io::IoError>(())
//! ```

mod atomic;
pub mod attributes;
pub mod cache;
pub mod codecs;
pub mod datasets;
pub mod error;
pub mod files;
mod hash;
pub mod header;
pub mod image_file;
pub mod manifest;
pub mod npz;
pub mod pixels;
mod preflight;
pub mod report;
pub mod scan;
pub mod series;
pub mod split;
pub mod stamp;
pub mod transfer_syntax;
pub mod volume;
pub mod window;
pub mod write;

pub use cache::{BuildReport, CacheOptions, CachedSlice, HuView, SliceCache, SliceMeta};
pub use datasets::{DatasetError, Intensity, LabeledDataset};
pub use error::{IoError, Result};
pub use files::list_files;
pub use header::{
    error_chain, read_header, ImageHeader, ModalityLut, ModalityTransform, PixelLayout, PixelPadding, WindowPreset,
};
pub use image_file::{read_grey_image, GreyImage, ImageFormat};
pub use manifest::{
    Manifest, ManifestSlice, NonImageFile, PatientEntry, ScanSummary, SeriesEntry, SkippedFile, SliceEntry, SliceOrder,
    StudyEntry,
};
pub use pixels::{decode_object, read_image, read_image_with, CtImage, Padding, ReadOptions};
pub use report::{describe_file, FileReport, FileStatus};
pub use scan::{scan, scan_with_progress, ScanOptions};
pub use series::{group_series, read_series, Series, SeriesIssue, SeriesReport, SliceId, SliceRef};
pub use split::{PatientSplit, Split};
pub use stamp::FileStamp;
pub use transfer_syntax::{transfer_syntax_info, transfer_syntax_name, PixelEncoding, TransferSyntaxInfo};
pub use volume::Volume;
pub use window::{HuWindow, ScaleIntensityRange};
pub use write::{new_uid, uid_from_seed, write_ct_series, write_ct_slice, CtSlice, SeriesInfo};
