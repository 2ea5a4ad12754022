//! The one error type of `ctssl-io`: every variant names the file and what was wrong with it.

use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, scanning, caching or writing CT data.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file could not be opened or read from disk.
    #[error("{path}: cannot read file")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not a DICOM Part 10 file, or its header could not be parsed.
    #[error("{path}: not a readable DICOM file: {reason}")]
    NotDicom {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// The DICOM parser refused bytes that passed the bounds check; its error is the source.
    #[error("{path}: not a readable DICOM file: {what}")]
    Unparsable {
        /// The file.
        path: PathBuf,
        /// What could not be parsed.
        what: String,
        /// The parser's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A required attribute is absent.
    #[error("{path}: missing required attribute {attribute}")]
    MissingAttribute {
        /// The file.
        path: PathBuf,
        /// Keyword and tag, for example `BitsAllocated (0028,0100)`.
        attribute: String,
    },
    /// An attribute is present but its value cannot be used.
    #[error("{path}: invalid value of {attribute}: {reason}")]
    InvalidAttribute {
        /// The file.
        path: PathBuf,
        /// Keyword and tag.
        attribute: String,
        /// Why the value is unusable.
        reason: String,
    },
    /// The file has no Pixel Data element.
    #[error("{path}: no pixel data")]
    NoPixelData {
        /// The file.
        path: PathBuf,
    },
    /// More than one sample per pixel: colour images are not CT input.
    #[error(
        "{path}: colour image ({samples_per_pixel} samples per pixel, {photometric}); CT needs one sample per pixel"
    )]
    Color {
        /// The file.
        path: PathBuf,
        /// Samples per Pixel.
        samples_per_pixel: u16,
        /// Photometric Interpretation.
        photometric: String,
    },
    /// No decoder for this transfer syntax is built in.
    #[error("{path}: unsupported transfer syntax {name} ({uid})")]
    UnsupportedTransferSyntax {
        /// The file.
        path: PathBuf,
        /// Transfer syntax UID.
        uid: String,
        /// Its name, or `unknown`.
        name: String,
    },
    /// The codec failed on the pixel data, or the pixel data is shorter than the header says.
    #[error("{path}: cannot decode pixel data ({transfer_syntax}): {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Transfer syntax name.
        transfer_syntax: String,
        /// What failed.
        reason: String,
    },
    /// A codec failed on the pixel data; its error is the source.
    #[error("{path}: cannot decode pixel data ({transfer_syntax}): {what}")]
    Codec {
        /// The file.
        path: PathBuf,
        /// Transfer syntax name.
        transfer_syntax: String,
        /// What was being decoded.
        what: String,
        /// The codec's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The file declares more than a configured limit allows (an image larger than
    /// `ReadOptions::max_image_bytes`, a deflated data set that inflates beyond it).
    #[error("{path}: {what} of {size} bytes exceeds the limit of {limit} bytes")]
    LimitExceeded {
        /// The file.
        path: PathBuf,
        /// What is too large, for example `declared image (512x512, 100000 frames, 1 sample)`.
        what: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Slices that cannot form one volume.
    #[error("series {series_uid}: {reason}")]
    Series {
        /// Series Instance UID.
        series_uid: String,
        /// What is inconsistent.
        reason: String,
    },
    /// The slice cache is damaged or does not match its index.
    #[error("{path}: slice cache: {reason}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON file of the crate (a manifest, a cache index) could not be parsed or written.
    #[error("{path}: {what} is not readable JSON of this format")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the file is (`manifest`, `slice cache index`).
        what: &'static str,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A slice-cache shard is not a readable safetensors file.
    #[error("{path}: slice cache shard is not a readable safetensors file")]
    Shard {
        /// The shard file.
        path: PathBuf,
        /// The safetensors error.
        source: safetensors::SafeTensorError,
    },
    /// Writing a file or creating a folder failed (the `io::Error`, with its kind, is the source).
    #[error("{path}: cannot write")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A DICOM object could not be encoded for writing.
    #[error("{path}: cannot encode the DICOM object")]
    Encode {
        /// The file that was to be written.
        path: PathBuf,
        /// The encoder's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A manifest file (dataset scan) is malformed or of an unknown version.
    #[error("{path}: manifest: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file with the same SOP Instance UID as another file of the scan (a copy of the same image).
    #[error("{path}: duplicate SOP Instance UID {sop_instance_uid}; kept {kept}")]
    DuplicateInstance {
        /// The file skipped.
        path: PathBuf,
        /// The shared SOP Instance UID.
        sop_instance_uid: String,
        /// The file kept instead.
        kept: PathBuf,
    },
    /// A caller passed an argument that cannot be used.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl IoError {
    /// The message and every cause (`source()`) after it, as one line: what reports and manifests
    /// record.
    pub fn message_with_causes(&self) -> String {
        error_chain(self)
    }

    /// A short machine-readable name of the error kind, used in manifests and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            IoError::Read { .. } => "read",
            IoError::NotDicom { .. } | IoError::Unparsable { .. } => "not_dicom",
            IoError::MissingAttribute { .. } => "missing_attribute",
            IoError::InvalidAttribute { .. } => "invalid_attribute",
            IoError::NoPixelData { .. } => "no_pixel_data",
            IoError::Color { .. } => "color",
            IoError::UnsupportedTransferSyntax { .. } => "unsupported_transfer_syntax",
            IoError::Decode { .. } | IoError::Codec { .. } => "decode",
            IoError::LimitExceeded { .. } => "limit_exceeded",
            IoError::Series { .. } => "series",
            IoError::Cache { .. } | IoError::Shard { .. } => "cache",
            IoError::Json { what: "manifest", .. } => "manifest",
            IoError::Json { .. } => "cache",
            IoError::Write { .. } | IoError::Encode { .. } => "write",
            IoError::Manifest { .. } => "manifest",
            IoError::DuplicateInstance { .. } => "duplicate_instance",
            IoError::InvalidArgument(_) => "invalid_argument",
        }
    }
}

/// An error and its causes (its `source()` chain) as one line, `outer: cause: root cause`, each message
/// once.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
