//! A bounds-checking pass over a DICOM file before `dicom-object` parses it.
//!
//! `dicom-object` trusts element lengths: a 276-byte file whose length field says 4 GB made it
//! reserve 4 GB. This pass walks the file meta group and the data set — element headers, sequences,
//! items and pixel data fragments, to any depth — checking every length against the bytes that are
//! really there, and hands the parser only bytes it has checked:
//!
//! - an element whose length runs past the end of the file (a truncated file) ends the data set:
//!   everything before it is kept, as pydicom's lazy reader does;
//! - an element whose outer length is sound but whose inside is not (a broken sequence) is left out,
//!   and so is a VR `UN` element of undefined length (a vendor's sequence encoded as implicit VR,
//!   PS3.5 6.2.2), which the parser would read with the wrong VR rules;
//! - a meta group without its group length gets one, and a data set encoded in implicit VR under an
//!   explicit transfer syntax (or the reverse) is read as it is encoded;
//! - a deflated data set is inflated here, up to a limit.
//!
//! The pixel data element is checked too: complete, or truncated with the numbers an error message
//! needs. Only whole, in-bounds elements reach the parser, so it never allocates more than the file
//! holds.

use std::cell::Cell;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::error::{IoError, Result};

/// Deepest nesting of sequences accepted; deeper data is malformed (and would exhaust the stack of a
/// recursive parser).
const MAX_DEPTH: usize = 32;
const UNDEFINED: u32 = 0xFFFF_FFFF;
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

/// How the data set is encoded, as far as the parser is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Implicit VR little endian.
    ImplicitLe,
    /// Explicit VR little endian (also every encapsulated syntax, and deflate once inflated).
    ExplicitLe,
    /// Explicit VR big endian.
    ExplicitBe,
}

/// What the pass found of the pixel data element (top level only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PixelState {
    /// No Pixel Data element, or a header-only pass that stopped before it.
    NotRead,
    /// Present and complete; passed to the parser.
    Complete,
    /// Native pixel data whose value runs past the end of the file.
    TruncatedNative {
        /// The value length the element declares.
        declared: u64,
        /// The bytes of the value the file holds.
        available: u64,
    },
    /// Encapsulated pixel data whose fragments are whole up to the end of the file, without the
    /// sequence delimiter (repaired by the check; never returned by it).
    Unclosed,
    /// Encapsulated pixel data cut inside a fragment, or without its sequence delimiter and last item.
    TruncatedFragments {
        /// Complete fragments (the Basic Offset Table item not counted).
        complete: usize,
        /// The cut item: the length it declares and the bytes that remain.
        cut: Option<(u64, u64)>,
    },
}

/// A file checked and reduced to what the parser may read.
#[derive(Debug)]
pub(crate) struct Checked {
    /// `DICM`, then the file meta group with a correct group length.
    pub meta: Vec<u8>,
    /// How to parse the data set.
    pub syntax: Syntax,
    /// The inflated data set of a deflated file; `kept` indexes it instead of the file.
    pub inflated: Option<Vec<u8>>,
    /// The byte ranges of the data set elements that passed, in file order (of the file's bytes,
    /// or of `inflated`): nothing is copied.
    pub kept: Vec<Range<usize>>,
    /// A sequence delimiter to append after `kept` (pixel data whose delimiter is missing).
    pub closing: Option<[u8; 8]>,
    /// The pixel data element.
    pub pixel: PixelState,
    /// What was cut, skipped or repaired, for diagnostics.
    pub repairs: Vec<String>,
}

impl Checked {
    /// The checked data set as a reader over `file` (the bytes given to [`check`]), without copying.
    pub fn reader<'a>(&'a self, file: &'a [u8]) -> Pieces<'a> {
        let body = self.inflated.as_deref().unwrap_or(file);
        let mut parts: Vec<&[u8]> = self.kept.iter().filter_map(|r| body.get(r.clone())).collect();
        if let Some(c) = &self.closing {
            parts.push(c);
        }
        Pieces { parts, at: 0 }
    }
}

/// A reader over several byte slices in turn.
pub(crate) struct Pieces<'a> {
    parts: Vec<&'a [u8]>,
    at: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(part) = self.parts.get_mut(self.at) {
            if part.is_empty() {
                self.at += 1;
                continue;
            }
            let n = part.len().min(buf.len());
            buf[..n].copy_from_slice(&part[..n]);
            *part = &part[n..];
            return Ok(n);
        }
        Ok(0)
    }
}

/// The pass needs bytes beyond the buffer (header-only reads grow their buffer and retry).
#[derive(Debug)]
pub(crate) struct NeedMore(pub u64);

/// Check `data` (the first `data.len()` bytes of a file of `file_len` bytes).
///
/// `header_only` stops at the pixel data. `max_inflated` bounds a deflated data set.
pub(crate) fn check(
    path: &Path,
    data: &[u8],
    file_len: u64,
    header_only: bool,
    max_inflated: u64,
) -> Result<std::result::Result<Checked, NeedMore>> {
    let not_dicom = |reason: String| IoError::NotDicom { path: path.to_path_buf(), reason };
    let more = |need: u64| (data.len() as u64) < file_len && need > data.len() as u64;

    // Preamble and magic code.
    let start = if data.get(128..132) == Some(b"DICM") {
        132
    } else if data.get(0..4) == Some(b"DICM") {
        4
    } else if more(132) {
        return Ok(Err(NeedMore(132)));
    } else {
        return Err(not_dicom("no DICM prefix: not a DICOM Part 10 file (no file meta information)".into()));
    };

    // File meta group: explicit VR little endian, group 0002, whatever its group length says.
    let mut meta = Vec::with_capacity(256);
    let mut transfer_syntax = None;
    let mut pos = start;
    loop {
        if pos + 8 > data.len() {
            if more(pos as u64 + 8) {
                return Ok(Err(NeedMore(pos as u64 + 8)));
            }
            break;
        }
        let group = u16::from_le_bytes([data[pos], data[pos + 1]]);
        if group != 0x0002 {
            break;
        }
        let element = u16::from_le_bytes([data[pos + 2], data[pos + 3]]);
        let vr = VR::from_binary([data[pos + 4], data[pos + 5]]).unwrap_or(VR::UN);
        let (header, len) = if long_length(vr) {
            if pos + 12 > data.len() {
                if more(pos as u64 + 12) {
                    return Ok(Err(NeedMore(pos as u64 + 12)));
                }
                return Err(not_dicom(format!("file meta element (0002,{element:04X}) is cut by the end of the file")));
            }
            (12, u32::from_le_bytes([data[pos + 8], data[pos + 9], data[pos + 10], data[pos + 11]]))
        } else {
            (8, u16::from_le_bytes([data[pos + 6], data[pos + 7]]) as u32)
        };
        if len == UNDEFINED {
            return Err(not_dicom(format!("file meta element (0002,{element:04X}) has an undefined length")));
        }
        let end = pos as u64 + header + len as u64;
        if end > data.len() as u64 {
            if more(end) {
                return Ok(Err(NeedMore(end)));
            }
            return Err(not_dicom(format!(
                "file meta element (0002,{element:04X}) declares {len} bytes, the file ends {} bytes later",
                data.len() - pos - header as usize
            )));
        }
        let end = end as usize;
        if element == 0x0010 {
            let uid = String::from_utf8_lossy(&data[pos + header as usize..end]);
            transfer_syntax = Some(uid.trim_end_matches(['\0', ' ']).trim().to_string());
        }
        if element != 0x0000 {
            meta.extend_from_slice(&data[pos..end]);
        }
        pos = end;
    }
    let Some(transfer_syntax) = transfer_syntax.filter(|t| !t.is_empty()) else {
        return Err(not_dicom("the file meta group has no Transfer Syntax UID (0002,0010)".into()));
    };
    let meta_len = meta.len() as u32;
    let mut meta_bytes = Vec::with_capacity(meta.len() + 16);
    meta_bytes.extend_from_slice(b"DICM");
    meta_bytes.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    meta_bytes.extend_from_slice(&meta_len.to_le_bytes());
    meta_bytes.extend_from_slice(&meta);

    let declared = if transfer_syntax == "1.2.840.10008.1.2" {
        Syntax::ImplicitLe
    } else if transfer_syntax == "1.2.840.10008.1.2.2" {
        Syntax::ExplicitBe
    } else {
        Syntax::ExplicitLe
    };
    let walked = if transfer_syntax == DEFLATED {
        if (data.len() as u64) < file_len {
            return Ok(Err(NeedMore(file_len)));
        }
        // Inflate as far as the walk needs: a header-only read stops at the pixel data, so it
        // inflates little more than the header; a full read inflates all, up to the limit.
        let limit = max_inflated.saturating_add(1);
        let mut target = if header_only { 64 * 1024 } else { limit };
        loop {
            let mut out = Vec::new();
            let mut repairs = Vec::new();
            let mut decoder = flate2::read::DeflateDecoder::new(&data[pos..]).take(target.min(limit));
            if let Err(e) = decoder.read_to_end(&mut out) {
                repairs.push(format!("deflated data set is corrupt after {} inflated bytes: {e}", out.len()));
            }
            if out.len() as u64 > max_inflated {
                return Err(IoError::LimitExceeded {
                    path: path.to_path_buf(),
                    what: "inflated data set".into(),
                    size: out.len() as u64,
                    limit: max_inflated,
                });
            }
            let whole = (out.len() as u64) < target.min(limit);
            let body_len = if whole { out.len() as u64 } else { max_inflated };
            match walk(&out, body_len, 0, declared, &transfer_syntax, header_only, repairs) {
                Ok(w) => break Walked { inflated: Some(out), ..w },
                Err(NeedMore(n)) if !whole => target = n.max(2 * target),
                Err(NeedMore(n)) => {
                    return Err(not_dicom(format!("the inflated data set needs {n} bytes, it has {}", out.len())))
                }
            }
        }
    } else {
        match walk(data, file_len, pos, declared, &transfer_syntax, header_only, Vec::new()) {
            Ok(w) => w,
            Err(need) => return Ok(Err(need)),
        }
    };
    let Walked { syntax, kept, closing, pixel, repairs, inflated } = walked;
    Ok(Ok(Checked { meta: meta_bytes, syntax, inflated, kept, closing, pixel, repairs }))
}

/// The checked data set: how to parse it, its bytes, its pixel data, what was repaired.
struct Walked {
    syntax: Syntax,
    kept: Vec<Range<usize>>,
    closing: Option<[u8; 8]>,
    inflated: Option<Vec<u8>>,
    pixel: PixelState,
    repairs: Vec<String>,
}

/// Walk the data set `body[base..]` (of `body_len` bytes in all, more than `body.len()` while a
/// header-only read has not read it all) and keep the elements that pass.
fn walk(
    body: &[u8],
    body_len: u64,
    base: usize,
    declared: Syntax,
    transfer_syntax: &str,
    header_only: bool,
    mut repairs: Vec<String>,
) -> std::result::Result<Walked, NeedMore> {
    // Like pydicom: the first element shows whether the data set is really explicit or implicit VR.
    let syntax = match (declared, body.get(base + 4..base + 6)) {
        (Syntax::ExplicitLe, Some(vr)) if VR::from_binary([vr[0], vr[1]]).is_none() => {
            repairs.push(format!("data set is implicit VR although the transfer syntax {transfer_syntax} is explicit"));
            Syntax::ImplicitLe
        }
        (Syntax::ImplicitLe, Some(vr)) if VR::from_binary([vr[0], vr[1]]).is_some() => {
            repairs.push("data set is explicit VR although the transfer syntax is implicit".into());
            Syntax::ExplicitLe
        }
        (s, _) => s,
    };

    let walker = Walker { data: body, file_len: body_len, syntax, nested_un: Cell::new(false) };
    let mut kept: Vec<Range<usize>> = Vec::new();
    let mut pixel = PixelState::NotRead;
    let mut closing = None;
    let mut pos = base;
    while pos < body.len() || (pos as u64) < body_len {
        if pos + 8 > body.len() {
            if walker.more(pos as u64 + 8) {
                return Err(NeedMore(pos as u64 + 8));
            }
            repairs.push(format!("{} stray byte(s) at the end of the data set", body.len() - pos));
            break;
        }
        let tag = walker.tag(pos);
        if header_only && tag >= PIXEL_DATA {
            break;
        }
        if tag == ITEM_END || tag == SEQUENCE_END {
            // A stray delimiter outside any sequence (the parser would skip it too).
            repairs.push(format!("skipped a stray {tag} at byte {pos}"));
            pos += 8;
            continue;
        }
        walker.nested_un.set(false);
        match walker.element(pos, body.len(), 0) {
            Ok(end) => {
                if tag == PIXEL_DATA {
                    pixel = PixelState::Complete;
                    if walker.misaligned_words(pos) {
                        // Read as 16-bit words, an odd length leaves a byte behind: nothing after
                        // the pixel data can be read in step, so the data set ends with it.
                        repairs.push("pixel data of odd length: the data set ends after it".into());
                        kept.push(pos..end);
                        break;
                    }
                }
                if walker.is_undefined_un(pos) || walker.nested_un.get() {
                    repairs.push(format!(
                        "skipped {tag}: it holds a VR UN element of undefined length (an implicit VR sequence)"
                    ));
                } else {
                    kept.push(pos..end);
                }
                pos = end;
            }
            Err(Fault::NeedMore(n)) => return Err(NeedMore(n)),
            Err(Fault::Truncated(why)) => {
                if tag == PIXEL_DATA {
                    pixel = walker.truncated_pixels(pos);
                    if pixel == PixelState::Unclosed {
                        // Every fragment is whole; only the sequence delimiter is missing at the
                        // end of the file: keep the fragments and close the sequence.
                        repairs.push("pixel data without its sequence delimiter at the end of the file".into());
                        kept.push(pos..body.len());
                        pixel = PixelState::Complete;
                        let mut delimiter = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
                        if syntax == Syntax::ExplicitBe {
                            delimiter[..4].copy_from_slice(&[0xFF, 0xFE, 0xE0, 0xDD]);
                        }
                        closing = Some(delimiter);
                        break;
                    }
                }
                repairs.push(format!("data set ends inside {tag}: {why}"));
                break;
            }
            Err(Fault::Malformed { why, skip_to: Some(end) }) => {
                repairs.push(format!("skipped {tag}: {why}"));
                pos = end;
            }
            Err(Fault::Malformed { why, skip_to: None }) => {
                repairs.push(format!("data set ends at {tag}: {why}"));
                break;
            }
        }
    }
    Ok(Walked { syntax, kept, closing, pixel, repairs, inflated: None })
}

fn long_length(vr: VR) -> bool {
    !matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::AT
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::FL
            | VR::FD
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::SL
            | VR::SS
            | VR::ST
            | VR::TM
            | VR::UI
            | VR::UL
            | VR::US
    )
}

/// Bytes of one value of a binary VR, as the parser reads it (1 for bytes and text).
fn value_unit(vr: VR) -> usize {
    match vr {
        VR::US | VR::OW | VR::SS => 2,
        VR::AT | VR::FL | VR::OF | VR::SL | VR::OL | VR::UL => 4,
        VR::FD | VR::OD | VR::SV | VR::OV | VR::UV => 8,
        _ => 1,
    }
}

/// A fault inside a container: the container cannot be resumed after the inner element, only
/// skipped as a whole (when its own length is sound) or cut.
fn inside(f: Fault) -> Fault {
    match f {
        Fault::Malformed { why, .. } => Fault::Malformed { why, skip_to: None },
        other => other,
    }
}

enum Fault {
    /// A header-only read must read further.
    NeedMore(u64),
    /// The element runs past the end of the file.
    Truncated(String),
    /// The element is inconsistent; `skip_to` is its end when its own length can be trusted.
    Malformed { why: String, skip_to: Option<usize> },
}

/// An element header as the parser will see it.
struct Header {
    tag: Tag,
    vr: VR,
    len: u32,
    /// Bytes of the header.
    size: usize,
}

struct Walker<'a> {
    data: &'a [u8],
    file_len: u64,
    syntax: Syntax,
    /// Set when a nested element is a VR UN of undefined length: the parser would read its
    /// implicit VR content with explicit VR rules, so the top-level element holding it is left out.
    nested_un: Cell<bool>,
}

impl Walker<'_> {
    fn more(&self, need: u64) -> bool {
        (self.data.len() as u64) < self.file_len && need > self.data.len() as u64
    }

    fn u16_at(&self, pos: usize, big: bool) -> u16 {
        let b = [self.data[pos], self.data[pos + 1]];
        if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32_at(&self, pos: usize, big: bool) -> u32 {
        let b = [self.data[pos], self.data[pos + 1], self.data[pos + 2], self.data[pos + 3]];
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn big(&self) -> bool {
        self.syntax == Syntax::ExplicitBe
    }

    /// The tag at `pos` (needs 4 bytes).
    fn tag(&self, pos: usize) -> Tag {
        Tag(self.u16_at(pos, self.big()), self.u16_at(pos + 2, self.big()))
    }

    /// Bytes `pos..pos + n` must lie within `limit`; past the end of the data, the file is truncated.
    /// `what` names the bytes, for the message; it is only called on failure.
    fn need(&self, pos: usize, n: u64, limit: usize, what: impl FnOnce() -> String) -> std::result::Result<(), Fault> {
        let end = pos as u64 + n;
        if end <= limit as u64 {
            return Ok(());
        }
        if limit == self.data.len() {
            if self.more(end) {
                return Err(Fault::NeedMore(end));
            }
            return Err(Fault::Truncated(format!(
                "{} needs {n} bytes at byte {pos}, the data ends {} bytes later",
                what(),
                self.data.len().saturating_sub(pos)
            )));
        }
        Err(Fault::Malformed {
            why: format!("{} needs {n} bytes at byte {pos}, its container ends {} bytes later", what(), limit - pos),
            skip_to: None,
        })
    }

    /// Read the element header at `pos`.
    fn header(&self, pos: usize, limit: usize, implicit: bool) -> std::result::Result<Header, Fault> {
        self.need(pos, 8, limit, || "an element header".into())?;
        let big = self.big() && !implicit;
        let tag = Tag(self.u16_at(pos, big), self.u16_at(pos + 2, big));
        if tag.0 == 0xFFFE || implicit || self.syntax == Syntax::ImplicitLe {
            let len = self.u32_at(pos + 4, big);
            let vr = if tag == PIXEL_DATA {
                VR::OW
            } else {
                StandardDataDictionary.by_tag(tag).map(|e| e.vr().relaxed()).unwrap_or(VR::UN)
            };
            return Ok(Header { tag, vr, len, size: 8 });
        }
        let vr = VR::from_binary([self.data[pos + 4], self.data[pos + 5]]).unwrap_or(VR::UN);
        if long_length(vr) {
            self.need(pos, 12, limit, || "an element header".into())?;
            Ok(Header { tag, vr, len: self.u32_at(pos + 8, big), size: 12 })
        } else {
            Ok(Header { tag, vr, len: self.u16_at(pos + 6, big) as u32, size: 8 })
        }
    }

    /// Whether the element at `pos` is read as 16-bit words but has an odd length.
    fn misaligned_words(&self, pos: usize) -> bool {
        self.header(pos, self.data.len(), false)
            .is_ok_and(|h| h.len != UNDEFINED && value_unit(h.vr) == 2 && h.len % 2 == 1)
    }

    /// Whether the element at `pos` (top level, explicit VR) is a `UN` of undefined length.
    fn is_undefined_un(&self, pos: usize) -> bool {
        self.syntax != Syntax::ImplicitLe
            && self.header(pos, self.data.len(), false).is_ok_and(|h| h.vr == VR::UN && h.len == UNDEFINED)
    }

    /// Check the element at `pos`, which must end by `limit`; returns its end.
    fn element(&self, pos: usize, limit: usize, depth: usize) -> std::result::Result<usize, Fault> {
        self.element_in(pos, limit, depth, false)
    }

    fn element_in(&self, pos: usize, limit: usize, depth: usize, implicit: bool) -> std::result::Result<usize, Fault> {
        let h = self.header(pos, limit, implicit)?;
        if h.tag.0 == 0xFFFE {
            return Err(Fault::Malformed { why: format!("unexpected item tag {}", h.tag), skip_to: None });
        }
        let value = pos + h.size;
        let implicit_here = implicit || self.syntax == Syntax::ImplicitLe;
        if depth > 0 && !implicit_here && h.vr == VR::UN && h.len == UNDEFINED {
            self.nested_un.set(true);
        }
        if h.len == UNDEFINED {
            if h.tag == PIXEL_DATA {
                return self.fragments(value, limit).map(|(end, _)| end);
            }
            // Explicit SQ, implicit VR (any tag), and explicit UN (its content is implicit VR).
            let inner_implicit = implicit_here || h.vr == VR::UN;
            if h.vr == VR::SQ || h.vr == VR::UN || implicit_here {
                return self.items(value, None, limit, depth + 1, inner_implicit);
            }
            return Err(Fault::Malformed {
                why: format!("{} of VR {:?} has an undefined length", h.tag, h.vr),
                skip_to: None,
            });
        }
        self.need(value, h.len as u64, limit, || format!("the value of {}", h.tag))?;
        let end = value + h.len as usize;
        // The parser reads binary values in whole units and would leave the rest of a length that is
        // not a multiple of the unit behind, misreading every element after it.
        let unit = value_unit(h.vr);
        if !(h.len as usize).is_multiple_of(unit) && h.tag != PIXEL_DATA {
            return Err(Fault::Malformed {
                why: format!("{} of VR {:?} has {} bytes, not a multiple of {unit}", h.tag, h.vr, h.len),
                skip_to: Some(end),
            });
        }
        if h.vr == VR::SQ {
            return self.items(value, Some(end), end, depth + 1, implicit_here).map_err(|f| match f {
                Fault::Malformed { why, .. } | Fault::Truncated(why) => Fault::Malformed { why, skip_to: Some(end) },
                need @ Fault::NeedMore(_) => need,
            });
        }
        Ok(end)
    }

    /// Check the items of a sequence starting at `pos`: up to `end` (defined length) or up to its
    /// sequence delimiter, within `limit`.
    fn items(
        &self,
        mut pos: usize,
        end: Option<usize>,
        limit: usize,
        depth: usize,
        implicit: bool,
    ) -> std::result::Result<usize, Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::Malformed { why: format!("sequences nested deeper than {MAX_DEPTH}"), skip_to: None });
        }
        let big = self.big() && !implicit;
        loop {
            if end == Some(pos) {
                return Ok(pos);
            }
            self.need(pos, 8, limit, || "an item header".into())?;
            let tag = Tag(self.u16_at(pos, big), self.u16_at(pos + 2, big));
            let len = self.u32_at(pos + 4, big);
            if tag == SEQUENCE_END && end.is_none() {
                return Ok(pos + 8);
            }
            if tag != ITEM {
                return Err(Fault::Malformed {
                    why: format!("{tag} where a sequence item was expected"),
                    skip_to: None,
                });
            }
            pos += 8;
            if len == UNDEFINED {
                // Elements up to the item delimiter.
                loop {
                    self.need(pos, 8, limit, || "an element header".into())?;
                    let t = Tag(self.u16_at(pos, big), self.u16_at(pos + 2, big));
                    if t == ITEM_END {
                        pos += 8;
                        break;
                    }
                    pos = self.element_in(pos, limit, depth, implicit).map_err(inside)?;
                }
            } else {
                self.need(pos, len as u64, limit, || "a sequence item".into())?;
                let item_end = pos + len as usize;
                while pos < item_end {
                    pos = self.element_in(pos, item_end, depth, implicit).map_err(inside)?;
                }
            }
        }
    }

    /// Check encapsulated pixel data fragments from `pos` to the sequence delimiter; returns the end
    /// and the number of fragments (Basic Offset Table included).
    fn fragments(&self, mut pos: usize, limit: usize) -> std::result::Result<(usize, usize), Fault> {
        let mut count = 0;
        loop {
            self.need(pos, 8, limit, || "a pixel data item header".into())?;
            let tag = self.tag(pos);
            let len = self.u32_at(pos + 4, self.big());
            if tag == SEQUENCE_END {
                return Ok((pos + 8, count));
            }
            if tag != ITEM || len == UNDEFINED {
                return Err(Fault::Malformed {
                    why: format!("{tag} of length {len:#x} where a pixel data fragment was expected"),
                    skip_to: None,
                });
            }
            self.need(pos + 8, len as u64, limit, || format!("pixel data fragment {count}"))?;
            pos += 8 + len as usize;
            count += 1;
        }
    }

    /// What is left of a top-level pixel data element at `pos` that runs past the end of the data.
    fn truncated_pixels(&self, pos: usize) -> PixelState {
        let Ok(h) = self.header(pos, self.data.len(), false) else {
            return PixelState::TruncatedNative { declared: 0, available: 0 };
        };
        let value = pos + h.size;
        if h.len != UNDEFINED {
            return PixelState::TruncatedNative {
                declared: h.len as u64,
                available: self.data.len().saturating_sub(value) as u64,
            };
        }
        // Count whole fragments up to the cut (the first item is the offset table).
        let mut p = value;
        let mut items = 0usize;
        let mut cut = None;
        while p + 8 <= self.data.len() {
            let len = self.u32_at(p + 4, self.big()) as u64;
            if self.tag(p) != ITEM {
                break;
            }
            let remain = (self.data.len() - p - 8) as u64;
            if len > remain {
                cut = Some((len, remain));
                break;
            }
            p += 8 + len as usize;
            items += 1;
        }
        if cut.is_none() && p == self.data.len() && items > 0 {
            // Whole fragments up to the end of the file: only the delimiter is missing.
            return PixelState::Unclosed;
        }
        PixelState::TruncatedFragments { complete: items.saturating_sub(1), cut }
    }
}
