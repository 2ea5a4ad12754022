//! How a file is decoded: the options of `pixels::read_image_with`, apart from the decoder because a
//! slice cache records them in its index and is read without the feature `dicom`.

use serde::{Deserialize, Serialize};

/// What to do with pixels marked by Pixel Padding Value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum Padding {
    /// Apply the modality transform to them like any pixel (what pydicom's `apply_modality_lut` does).
    #[default]
    Keep,
    /// Replace them by a fixed value, for CT usually air: `Padding::Replace(-1000.0)`.
    Replace(f32),
}

/// The default of [`ReadOptions::max_image_bytes`]: 2 GiB of decoded values.
pub const DEFAULT_MAX_IMAGE_BYTES: u64 = 2 << 30;

fn default_max_image_bytes() -> u64 {
    DEFAULT_MAX_IMAGE_BYTES
}

/// Options of `read_image_with` (`ctssl_io::pixels`, feature `dicom`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadOptions {
    /// Treatment of padding pixels.
    pub padding: Padding,
    /// The largest image a read may decode, in bytes of `CtImage::values` (4 per sample, all
    /// frames); a file that declares more gives [`IoError::LimitExceeded`](crate::IoError::LimitExceeded)
    /// before anything is decoded. It also bounds a deflated data set. Default `DEFAULT_MAX_IMAGE_BYTES`
    /// (2 GiB).
    #[serde(default = "default_max_image_bytes")]
    pub max_image_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { padding: Padding::default(), max_image_bytes: DEFAULT_MAX_IMAGE_BYTES }
    }
}

impl ReadOptions {
    /// The options for training data: padding becomes air (-1000 HU).
    pub fn for_training() -> Self {
        ReadOptions { padding: Padding::Replace(-1000.0), ..ReadOptions::default() }
    }

    /// The same options with another [`ReadOptions::max_image_bytes`].
    pub fn with_max_image_bytes(self, max_image_bytes: u64) -> Self {
        ReadOptions { max_image_bytes, ..self }
    }
}
