//! The transfer syntaxes ctssl knows, and how each one's pixel data is decoded.

/// How the pixel data of a transfer syntax is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelEncoding {
    /// Native (uncompressed) little endian; deflated files are inflated by the parser.
    NativeLittleEndian,
    /// Native big endian (retired, still found in archives).
    NativeBigEndian,
    /// Encapsulated RLE Lossless.
    Rle,
    /// Encapsulated JPEG (baseline, extended 12-bit, lossless).
    Jpeg,
    /// Encapsulated JPEG-LS (lossless or near-lossless).
    JpegLs,
    /// Encapsulated JPEG 2000 (lossless or lossy).
    Jpeg2000,
    /// Anything else (JPEG XL, video, HTJ2K...): reported as unsupported.
    Other,
}

/// A transfer syntax: its UID, name and pixel encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferSyntaxInfo {
    /// The UID.
    pub uid: &'static str,
    /// The name from PS3.6.
    pub name: &'static str,
    /// How the pixel data is encoded.
    pub encoding: PixelEncoding,
    /// Whether decoding loses information.
    pub lossy: bool,
}

const KNOWN: &[TransferSyntaxInfo] = &[
    ts("1.2.840.10008.1.2", "Implicit VR Little Endian", PixelEncoding::NativeLittleEndian, false),
    ts("1.2.840.10008.1.2.1", "Explicit VR Little Endian", PixelEncoding::NativeLittleEndian, false),
    ts("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", PixelEncoding::NativeLittleEndian, false),
    ts("1.2.840.10008.1.2.2", "Explicit VR Big Endian", PixelEncoding::NativeBigEndian, false),
    ts("1.2.840.10008.1.2.5", "RLE Lossless", PixelEncoding::Rle, false),
    ts("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", PixelEncoding::Jpeg, true),
    ts("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", PixelEncoding::Jpeg, true),
    ts("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", PixelEncoding::Jpeg, false),
    ts("1.2.840.10008.1.2.4.70", "JPEG Lossless, First-Order Prediction (Process 14 SV1)", PixelEncoding::Jpeg, false),
    ts("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", PixelEncoding::JpegLs, false),
    ts("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", PixelEncoding::JpegLs, true),
    ts("1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless", PixelEncoding::Jpeg2000, false),
    ts("1.2.840.10008.1.2.4.91", "JPEG 2000", PixelEncoding::Jpeg2000, true),
    ts("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless", PixelEncoding::Other, false),
    ts("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Lossless", PixelEncoding::Other, false),
    ts("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", PixelEncoding::Other, true),
    ts("1.2.840.10008.1.2.4.110", "JPEG XL Lossless", PixelEncoding::Other, false),
    ts("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", PixelEncoding::Other, true),
    ts("1.2.840.10008.1.2.4.112", "JPEG XL", PixelEncoding::Other, true),
    ts("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", PixelEncoding::Other, true),
    ts("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile", PixelEncoding::Other, true),
    ts("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile", PixelEncoding::Other, true),
];

const fn ts(uid: &'static str, name: &'static str, encoding: PixelEncoding, lossy: bool) -> TransferSyntaxInfo {
    TransferSyntaxInfo { uid, name, encoding, lossy }
}

/// Strip the trailing NUL / space padding that DICOM UIDs may carry.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

/// Look up a transfer syntax by UID; unknown UIDs give an `Other` entry named `unknown`.
pub fn transfer_syntax_info(uid: &str) -> TransferSyntaxInfo {
    let uid = trim_uid(uid);
    KNOWN.iter().copied().find(|t| t.uid == uid).unwrap_or(TransferSyntaxInfo {
        uid: "",
        name: "unknown",
        encoding: PixelEncoding::Other,
        lossy: false,
    })
}

/// The name of a transfer syntax UID, or `unknown`.
pub fn transfer_syntax_name(uid: &str) -> &'static str {
    transfer_syntax_info(uid).name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_syntaxes() {
        assert_eq!(transfer_syntax_info("1.2.840.10008.1.2.4.80\0").encoding, PixelEncoding::JpegLs);
        assert_eq!(transfer_syntax_name("1.2.840.10008.1.2.2"), "Explicit VR Big Endian");
        assert_eq!(transfer_syntax_info("1.2.3").encoding, PixelEncoding::Other);
        assert_eq!(transfer_syntax_name("1.2.3"), "unknown");
    }
}
