//! # ctssl-io
//!
//! The door every CT image comes through: DICOM files (every common transfer syntax) to `f32`
//! Hounsfield units with their geometry, series assembled into volumes, whole folders scanned
//! into a manifest, slices cached for training, HU windows, and a DICOM writer.
//!
//! Reading, decoding, scanning and writing source files (DICOM, PNG / JPEG, NumPy), the datasets and
//! building a slice cache sit behind the default feature `dicom`, which brings the DICOM crates and the
//! image and zip codecs. With `default-features = false` the crate is what a loader needs: opening and
//! reading a built [`SliceCache`], [`HuWindow`], patient splits, and [`IoError`].
//!
//! ```no_run
//! # #[cfg(feature = "dicom")]
//! # fn main() -> Result<(), ctssl_io::IoError> {
//! use ctssl_io::{read_image, HuWindow};
//!
//! let image = read_image("slice.dcm")?;
//! println!("{}x{} slice, spacing {:?}", image.header.rows, image.header.cols, image.header.pixel_spacing);
//! let lung = HuWindow::LUNG;
//! let unit: Vec<f32> = image.values.iter().map(|&hu| lung.apply(hu)).collect();
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "dicom"))]
//! # fn main() {}
//! ```

// Always: a built slice cache, windows, splits, the error type.
pub mod cache;
pub mod error;
mod hash;
mod read_options;
mod skipped;
pub mod split;
pub mod stamp;
pub mod window;

// Feature `dicom`: source files in, DICOM out, datasets, and building a cache.
#[cfg(feature = "dicom")]
mod atomic;
#[cfg(feature = "dicom")]
pub mod attributes;
#[cfg(feature = "dicom")]
pub mod codecs;
#[cfg(feature = "dicom")]
pub mod datasets;
#[cfg(feature = "dicom")]
pub mod files;
#[cfg(feature = "dicom")]
mod fnv128;
#[cfg(feature = "dicom")]
pub mod header;
#[cfg(feature = "dicom")]
pub mod image_file;
#[cfg(feature = "dicom")]
pub mod manifest;
#[cfg(feature = "dicom")]
pub mod npz;
#[cfg(feature = "dicom")]
pub mod pixels;
#[cfg(feature = "dicom")]
mod preflight;
#[cfg(feature = "dicom")]
pub mod report;
#[cfg(feature = "dicom")]
pub mod scan;
#[cfg(feature = "dicom")]
pub mod series;
#[cfg(feature = "dicom")]
pub mod transfer_syntax;
#[cfg(feature = "dicom")]
pub mod volume;
#[cfg(feature = "dicom")]
pub mod write;

pub use cache::{CacheOptions, CachedSlice, HuView, SliceCache, SliceMeta};
pub use error::{error_chain, IoError, Result};
pub use read_options::{Padding, ReadOptions};
pub use skipped::SkippedFile;
pub use split::{PatientSplit, Split};
pub use stamp::FileStamp;
pub use window::{HuWindow, ScaleIntensityRange};

#[cfg(feature = "dicom")]
pub use cache::BuildReport;
#[cfg(feature = "dicom")]
pub use datasets::{DatasetError, Intensity, LabeledDataset};
#[cfg(feature = "dicom")]
pub use files::list_files;
#[cfg(feature = "dicom")]
pub use header::{read_header, ImageHeader, ModalityLut, ModalityTransform, PixelLayout, PixelPadding, WindowPreset};
#[cfg(feature = "dicom")]
pub use image_file::{read_grey_image, GreyImage, ImageFormat};
#[cfg(feature = "dicom")]
pub use manifest::{
    Manifest, ManifestSlice, NonImageFile, PatientEntry, ScanSummary, SeriesEntry, SliceEntry, SliceOrder, StudyEntry,
};
#[cfg(feature = "dicom")]
pub use pixels::{decode_object, read_image, read_image_with, CtImage};
#[cfg(feature = "dicom")]
pub use report::{describe_file, FileReport, FileStatus};
#[cfg(feature = "dicom")]
pub use scan::{scan, scan_with_progress, ScanOptions};
#[cfg(feature = "dicom")]
pub use series::{group_series, read_series, Series, SeriesIssue, SeriesReport, SliceId, SliceRef};
#[cfg(feature = "dicom")]
pub use transfer_syntax::{transfer_syntax_info, transfer_syntax_name, PixelEncoding, TransferSyntaxInfo};
#[cfg(feature = "dicom")]
pub use volume::Volume;
#[cfg(feature = "dicom")]
pub use write::{new_uid, uid_from_seed, write_ct_series, write_ct_slice, CtSlice, SeriesInfo};
