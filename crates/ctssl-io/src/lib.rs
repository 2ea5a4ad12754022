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

pub mod attributes;
pub mod codecs;
pub mod error;
pub mod files;
pub mod header;
pub mod pixels;
pub mod report;
pub mod transfer_syntax;
pub mod window;

pub use error::{IoError, Result};
pub use files::list_files;
pub use header::{read_header, ImageHeader, ModalityLut, ModalityTransform, PixelLayout, PixelPadding, WindowPreset};
pub use pixels::{decode_object, read_image, read_image_with, CtImage, Padding, ReadOptions};
pub use report::{describe_file, FileReport, FileStatus};
pub use transfer_syntax::{transfer_syntax_info, transfer_syntax_name, PixelEncoding, TransferSyntaxInfo};
pub use window::{HuWindow, ScaleIntensityRange};
