//! Frame codecs for encapsulated pixel data: RLE (our own, any sample width), JPEG (baseline,
//! 12-bit extended, lossless) and JPEG-LS (lossless, near-lossless) through pure-Rust decoders.
//! JPEG 2000 goes through `dicom-pixeldata` (OpenJPEG ported to Rust) in `pixels.rs`.

use std::borrow::Cow;

use crate::header::PixelLayout;

/// Split encapsulated fragments into one byte stream per frame.
///
/// One fragment per frame is the common case; otherwise the Basic Offset Table (byte offsets
/// of each frame's first item, counted from the first item's tag, 8 header bytes per item)
/// groups them, and a single frame takes every fragment.
pub fn frame_streams<'a>(fragments: &'a [Vec<u8>], offsets: &[u32], frames: usize) -> Option<Vec<Cow<'a, [u8]>>> {
    if fragments.len() == frames {
        return Some(fragments.iter().map(|f| Cow::Borrowed(f.as_slice())).collect());
    }
    if frames == 1 {
        return Some(vec![Cow::Owned(fragments.concat())]);
    }
    if offsets.len() != frames {
        return None;
    }
    let mut starts = Vec::with_capacity(fragments.len());
    let mut pos = 0u64;
    for f in fragments {
        starts.push(pos);
        pos += f.len() as u64 + 8;
    }
    let streams = (0..frames)
        .map(|i| {
            let (from, to) = (offsets[i] as u64, offsets.get(i + 1).map_or(u64::MAX, |&e| e as u64));
            let bytes: Vec<u8> = fragments
                .iter()
                .zip(&starts)
                .filter(|(_, &s)| s >= from && s < to)
                .flat_map(|(f, _)| f.iter().copied())
                .collect();
            Cow::Owned(bytes)
        })
        .collect();
    Some(streams)
}

/// Why one frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame does not fit the header or its own structure (what is wrong, in words).
    #[error("{0}")]
    Invalid(String),
    /// The JPEG or JPEG-LS decoder failed (its error is the source).
    #[error("the decoder failed")]
    Codec(#[from] openreadout_codecs::CodecError),
}

/// Decode one RLE Lossless frame (PS3.5 Annex G) to little-endian samples of `bits_allocated`.
pub fn decode_rle_frame(data: &[u8], rows: u32, cols: u32, layout: &PixelLayout) -> Result<Vec<u8>, FrameError> {
    decode_rle(data, rows, cols, layout).map_err(FrameError::Invalid)
}

fn decode_rle(data: &[u8], rows: u32, cols: u32, layout: &PixelLayout) -> Result<Vec<u8>, String> {
    let bytes_per = (layout.bits_allocated as usize).div_ceil(8);
    let spp = layout.samples_per_pixel as usize;
    let pixels = rows as usize * cols as usize;
    if data.len() < 64 {
        return Err(format!("RLE header needs 64 bytes, frame has {}", data.len()));
    }
    let word = |i: usize| u32::from_le_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]) as usize;
    let segments = word(0);
    if segments != bytes_per * spp {
        return Err(format!(
            "RLE frame has {segments} segments, {spp} sample(s) of {} bits need {}",
            layout.bits_allocated,
            bytes_per * spp
        ));
    }
    // PackBits turns two bytes into at most 128: a frame that cannot hold the image is refused
    // before its buffer is allocated.
    if (data.len() as u64 - 64) * 64 + 128 < pixels as u64 {
        return Err(format!("RLE frame of {} bytes cannot hold {rows}x{cols} pixels", data.len()));
    }
    let mut out = vec![0u8; pixels * spp * bytes_per];
    for s in 0..segments {
        let start = word(1 + s);
        let end = if s + 1 < segments { word(2 + s) } else { data.len() };
        if start < 64 || start > end || end > data.len() {
            return Err(format!("RLE segment {s} spans bytes {start}..{end} of {}", data.len()));
        }
        // Segment order: for each sample, most significant byte first.
        let (sample, byte_from_msb) = (s / bytes_per, s % bytes_per);
        let byte_le = bytes_per - 1 - byte_from_msb;
        let decoded = unpack_bits(&data[start..end], pixels).map_err(|e| format!("RLE segment {s}: {e}"))?;
        for (p, b) in decoded.into_iter().enumerate() {
            out[(p * spp + sample) * bytes_per + byte_le] = b;
        }
    }
    Ok(out)
}

/// PackBits: a header byte n ≥ 0 copies n + 1 literal bytes, −127 ≤ n ≤ −1 repeats the next byte
/// 1 − n times, −128 is skipped. Decoding stops after `expected` bytes.
fn unpack_bits(src: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(expected);
    let mut i = 0;
    while out.len() < expected && i < src.len() {
        let n = src[i] as i8;
        i += 1;
        if n >= 0 {
            let count = n as usize + 1;
            let lit = src.get(i..i + count).ok_or("literal run past the end of the segment")?;
            out.extend_from_slice(lit);
            i += count;
        } else if n != -128 {
            let b = *src.get(i).ok_or("repeat run past the end of the segment")?;
            out.extend(std::iter::repeat_n(b, (1 - n as isize) as usize));
            i += 1;
        }
    }
    if out.len() < expected {
        return Err(format!("decoded {} bytes, expected {expected}", out.len()));
    }
    out.truncate(expected);
    Ok(out)
}

/// Check one JPEG 2000 frame before the codec sees it: the codestream's image and components must
/// be the frame the header declares (the codec adapter copies each decoded component into a buffer
/// of that size), and every tile-part must lie within the stream (a cut stream decodes to partial
/// garbage in a lenient decoder).
pub fn check_j2k_frame(data: &[u8], rows: u32, cols: u32, layout: &PixelLayout) -> Result<(), String> {
    // SOC then SIZ; in a JP2 file they start the contiguous codestream box.
    let soc = data
        .windows(4)
        .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        .ok_or("no JPEG 2000 codestream (SOC and SIZ markers) in the frame")?;
    let be16 = |p: usize| data.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let be32 = |p: usize| data.get(p..p + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let short = || format!("codestream of {} bytes ends inside its SIZ marker segment", data.len() - soc);
    let siz = soc + 2;
    let lsiz = be16(siz + 2).ok_or_else(short)? as usize;
    let field = |i: usize| be32(siz + 6 + 4 * i).ok_or_else(short);
    let (xsiz, ysiz, xosiz, yosiz) = (field(0)?, field(1)?, field(2)?, field(3)?);
    let (xtsiz, ytsiz, xtosiz, ytosiz) = (field(4)?, field(5)?, field(6)?, field(7)?);
    let csiz = be16(siz + 38).ok_or_else(short)? as usize;
    if lsiz != 38 + 3 * csiz {
        return Err(format!("SIZ marker segment length {lsiz} does not fit {csiz} component(s)"));
    }
    if xosiz >= xsiz || yosiz >= ysiz || xtsiz == 0 || ytsiz == 0 || xtosiz > xosiz || ytosiz > yosiz {
        return Err(format!(
            "codestream geometry is inconsistent (image {xsiz}x{ysiz} from {xosiz},{yosiz}, tiles {xtsiz}x{ytsiz} from {xtosiz},{ytosiz})"
        ));
    }
    let (width, height) = (xsiz - xosiz, ysiz - yosiz);
    if width != cols || height != rows {
        return Err(format!("codestream is {width}x{height}, header says {cols}x{rows}"));
    }
    let tiles = (xsiz - xtosiz).div_ceil(xtsiz) as u64 * (ysiz - ytosiz).div_ceil(ytsiz) as u64;
    if tiles > 65_536 {
        return Err(format!("codestream has {tiles} tiles"));
    }
    if csiz != layout.samples_per_pixel as usize {
        return Err(format!("codestream has {csiz} component(s), header says {}", layout.samples_per_pixel));
    }
    for c in 0..csiz {
        let p = siz + 40 + 3 * c;
        let (ssiz, dx, dy) = match data.get(p..p + 3) {
            Some(b) => (b[0], b[1], b[2]),
            None => return Err(short()),
        };
        let precision = (ssiz & 0x7F) as u16 + 1;
        if precision > layout.bits_allocated.max(8) || precision > 16 {
            return Err(format!(
                "component {c} has {precision}-bit samples, the header allocates {} bits",
                layout.bits_allocated
            ));
        }
        if dx != 1 || dy != 1 {
            return Err(format!("component {c} is subsampled ({dx}x{dy})"));
        }
    }
    // Marker segments of the main header, then the tile-parts, each within the stream.
    let mut p = siz + 2 + lsiz;
    loop {
        let marker =
            be16(p).ok_or_else(|| format!("codestream ends at byte {} in its main header", data.len() - soc))?;
        match marker {
            0xFF90 => break,
            0xFFD9 => return Err("codestream has no tile-part".into()),
            m if m >> 8 == 0xFF => {
                let len = be16(p + 2).ok_or("codestream ends inside a marker segment")? as usize;
                p += 2 + len;
            }
            m => return Err(format!("{m:#06x} where a JPEG 2000 marker was expected at byte {}", p - soc)),
        }
    }
    // Tile-parts: SOT with Psot, the tile-part's length from its SOT (0: up to EOC).
    let mut parts = 0usize;
    loop {
        match be16(p) {
            Some(0xFF90) => {
                let psot = be32(p + 6).ok_or("codestream ends inside a tile-part header")? as usize;
                parts += 1;
                if psot == 0 {
                    break;
                }
                if psot < 14 || p + psot > data.len() {
                    return Err(format!(
                        "codestream ends at byte {}, tile-part {parts} needs bytes {}..{}",
                        data.len() - soc,
                        p - soc,
                        p - soc + psot
                    ));
                }
                p += psot;
            }
            Some(0xFFD9) => break,
            // Padding after the last tile-part is tolerated; a missing EOC too.
            _ if parts > 0 && p >= data.len().saturating_sub(2) => break,
            Some(m) => return Err(format!("{m:#06x} where a tile-part or EOC was expected at byte {}", p - soc)),
            None => break,
        }
    }
    Ok(())
}

/// Widen or narrow a decoded raster (u8, or little-endian u16 samples) to `bits_allocated`.
fn raster_to_layout(r: openreadout_codecs::Raster, layout: &PixelLayout) -> Vec<u8> {
    let bytes_per = (layout.bits_allocated as usize).div_ceil(8);
    let src_bytes = if r.bits_per_sample <= 8 { 1 } else { 2 };
    if src_bytes == bytes_per {
        return r.data;
    }
    let n = r.data.len() / src_bytes;
    let mut out = vec![0u8; n * bytes_per];
    for i in 0..n {
        let v: u32 = if src_bytes == 1 {
            r.data[i] as u32
        } else {
            u16::from_le_bytes([r.data[2 * i], r.data[2 * i + 1]]) as u32
        };
        out[i * bytes_per..(i + 1) * bytes_per].copy_from_slice(&v.to_le_bytes()[..bytes_per]);
    }
    out
}

fn check_raster(r: &openreadout_codecs::Raster, rows: u32, cols: u32, layout: &PixelLayout) -> Result<(), String> {
    if r.width != cols || r.height != rows {
        return Err(format!("codestream is {}x{}, header says {cols}x{rows}", r.width, r.height));
    }
    if r.channels != layout.samples_per_pixel as u32 {
        return Err(format!("codestream has {} component(s), header says {}", r.channels, layout.samples_per_pixel));
    }
    Ok(())
}

/// Decode one JPEG frame (any process jpeg-decoder or the 12-bit decoder supports).
pub fn decode_jpeg_frame(data: &[u8], rows: u32, cols: u32, layout: &PixelLayout) -> Result<Vec<u8>, FrameError> {
    let limit = rows as usize * cols as usize * layout.samples_per_pixel as usize * 2;
    let r = openreadout_codecs::jpeg_decode_limited(data, limit)?;
    check_raster(&r, rows, cols, layout).map_err(FrameError::Invalid)?;
    Ok(raster_to_layout(r, layout))
}

/// Decode one JPEG-LS frame.
pub fn decode_jpeg_ls_frame(data: &[u8], rows: u32, cols: u32, layout: &PixelLayout) -> Result<Vec<u8>, FrameError> {
    let limit = rows as usize * cols as usize * layout.samples_per_pixel as usize * 2;
    let r = openreadout_codecs::jpegls_decode_limited(data, limit)?;
    check_raster(&r, rows, cols, layout).map_err(FrameError::Invalid)?;
    Ok(raster_to_layout(r, layout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_literal_and_repeat_runs() {
        // 3 literals, then 4 × 0x07, then a no-op, then 1 literal
        let src = [2u8, 1, 2, 3, (-3i8) as u8, 7, 0x80, 0, 9];
        assert_eq!(unpack_bits(&src, 8).unwrap(), vec![1, 2, 3, 7, 7, 7, 7, 9]);
        assert!(unpack_bits(&src, 9).is_err());
    }

    #[test]
    fn rle_frame_16_bit_orders_bytes_msb_first() {
        let layout =
            PixelLayout { samples_per_pixel: 1, bits_allocated: 16, bits_stored: 16, high_bit: 15, signed: false };
        let mut data = vec![0u8; 64];
        data[0..4].copy_from_slice(&2u32.to_le_bytes());
        data[4..8].copy_from_slice(&64u32.to_le_bytes());
        data[8..12].copy_from_slice(&67u32.to_le_bytes());
        data.extend_from_slice(&[1, 0x12, 0x34]); // high bytes of 2 pixels
        data.extend_from_slice(&[1, 0x56, 0x78]); // low bytes
        let out = decode_rle_frame(&data, 1, 2, &layout).unwrap();
        assert_eq!(out, vec![0x56, 0x12, 0x78, 0x34]);
    }
}
