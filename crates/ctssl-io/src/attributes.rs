//! Typed access to data-set attributes, with the repairs real archives need.
//!
//! An element stored with VR `UN` (unknown) keeps its raw bytes. Read as a number it would be
//! garbage: the text `"1"` of a Rescale Slope is the byte 0x31, that is 49. Every accessor here
//! re-reads `UN` values with the VR the standard dictionary gives the tag.

use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::value::{DicomValueType, PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;

use crate::error::{IoError, Result};

/// `Keyword (gggg,eeee)`, for error messages.
pub fn attribute_name(tag: Tag) -> String {
    match StandardDataDictionary.by_tag(tag) {
        Some(entry) => format!("{} ({:04X},{:04X})", entry.alias(), tag.0, tag.1),
        None => format!("({:04X},{:04X})", tag.0, tag.1),
    }
}

/// The VR the standard dictionary gives a tag; `Xs` resolves to SS or US by `signed`.
fn dictionary_vr(tag: Tag, signed: bool) -> Option<VR> {
    match StandardDataDictionary.by_tag(tag)?.vr() {
        VirtualVr::Exact(vr) => Some(vr),
        VirtualVr::Xs => Some(if signed { VR::SS } else { VR::US }),
        _ => None,
    }
}

/// A number or text value, decoded from the element's bytes where its VR is `UN`.
enum Decoded<'a> {
    Borrowed(&'a PrimitiveValue),
    Owned(PrimitiveValue),
}

impl Decoded<'_> {
    fn get(&self) -> &PrimitiveValue {
        match self {
            Decoded::Borrowed(v) => v,
            Decoded::Owned(v) => v,
        }
    }
}

/// Re-decode little-endian `UN` bytes with the dictionary VR.
fn reinterpret_unknown(bytes: &[u8], vr: VR) -> Option<PrimitiveValue> {
    fn chunks<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    Some(match vr {
        VR::US => PrimitiveValue::U16(chunks(bytes, u16::from_le_bytes).into()),
        VR::SS => PrimitiveValue::I16(chunks(bytes, i16::from_le_bytes).into()),
        VR::UL => PrimitiveValue::U32(chunks(bytes, u32::from_le_bytes).into()),
        VR::SL => PrimitiveValue::I32(chunks(bytes, i32::from_le_bytes).into()),
        VR::FL => PrimitiveValue::F32(chunks(bytes, f32::from_le_bytes).into()),
        VR::FD => PrimitiveValue::F64(chunks(bytes, f64::from_le_bytes).into()),
        VR::OB | VR::OW | VR::UN | VR::SQ => return None,
        _ => {
            let text = String::from_utf8_lossy(bytes);
            let parts: Vec<String> = text
                .trim_end_matches(['\0', ' '])
                .split('\\')
                .map(|s| s.trim_matches(['\0', ' ']).to_string())
                .collect();
            PrimitiveValue::Strs(parts.into())
        }
    })
}

/// Read access to one data set (the root or a sequence item) of one file.
#[derive(Clone, Copy)]
pub struct Attributes<'a> {
    obj: &'a InMemDicomObject,
    path: &'a Path,
    signed_pixels: bool,
}

impl<'a> Attributes<'a> {
    /// Wrap a data set; `path` names the file in errors.
    pub fn new(obj: &'a InMemDicomObject, path: &'a Path) -> Self {
        Attributes { obj, path, signed_pixels: false }
    }

    /// Resolve `Xs` attributes (such as Pixel Padding Value) as signed.
    pub fn with_signed_pixels(mut self, signed: bool) -> Self {
        self.signed_pixels = signed;
        self
    }

    /// The wrapped data set.
    pub fn object(&self) -> &'a InMemDicomObject {
        self.obj
    }

    fn invalid(&self, tag: Tag, reason: impl Into<String>) -> IoError {
        IoError::InvalidAttribute {
            path: self.path.to_path_buf(),
            attribute: attribute_name(tag),
            reason: reason.into(),
        }
    }

    /// The error for an absent required attribute.
    pub fn missing(&self, tag: Tag) -> IoError {
        IoError::MissingAttribute { path: self.path.to_path_buf(), attribute: attribute_name(tag) }
    }

    fn primitive(&self, tag: Tag) -> Result<Option<Decoded<'a>>> {
        let Some(elem) = self.obj.get(tag) else { return Ok(None) };
        match elem.value() {
            Value::Primitive(PrimitiveValue::Empty) => Ok(None),
            Value::Primitive(p) if elem.vr() == VR::UN => {
                let vr = dictionary_vr(tag, self.signed_pixels);
                let bytes = p.to_bytes();
                match vr.and_then(|vr| reinterpret_unknown(&bytes, vr)) {
                    Some(v) => Ok(Some(Decoded::Owned(v))),
                    None => Ok(Some(Decoded::Borrowed(p))),
                }
            }
            Value::Primitive(p) => Ok(Some(Decoded::Borrowed(p))),
            _ => Err(self.invalid(tag, "expected a value, found a sequence")),
        }
    }

    /// All numeric values of an attribute (text VRs such as DS and IS are parsed).
    pub fn f64s(&self, tag: Tag) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.primitive(tag)? else { return Ok(None) };
        match v.get() {
            PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => {
                let mut out = Vec::new();
                for s in v.get().to_multi_str().iter().flat_map(|s| s.split('\\')) {
                    let s = s.trim_matches(['\0', ' ']);
                    if s.is_empty() {
                        continue;
                    }
                    let x: f64 = s.parse().map_err(|_| self.invalid(tag, format!("{s:?} is not a number")))?;
                    if !x.is_finite() {
                        return Err(self.invalid(tag, format!("{s:?} is not finite")));
                    }
                    out.push(x);
                }
                Ok(if out.is_empty() { None } else { Some(out) })
            }
            p => p.to_multi_float64().map(Some).map_err(|e| self.invalid(tag, e.to_string())),
        }
    }

    /// The first numeric value of an attribute.
    pub fn f64(&self, tag: Tag) -> Result<Option<f64>> {
        Ok(self.f64s(tag)?.and_then(|v| v.first().copied()))
    }

    /// An integer attribute (US, SS, IS...); a fractional value is an error.
    pub fn int(&self, tag: Tag) -> Result<Option<i64>> {
        match self.f64(tag)? {
            None => Ok(None),
            Some(x) if x.fract() == 0.0 => Ok(Some(x as i64)),
            Some(x) => Err(self.invalid(tag, format!("{x} is not an integer"))),
        }
    }

    /// A required integer attribute within `min..=max`.
    pub fn required_int(&self, tag: Tag, min: i64, max: i64) -> Result<i64> {
        let v = self.int(tag)?.ok_or_else(|| self.missing(tag))?;
        if v < min || v > max {
            return Err(self.invalid(tag, format!("{v} is outside {min}..={max}")));
        }
        Ok(v)
    }

    /// A fixed number of numeric values (for example 3 for Image Position), if present.
    pub fn f64_array<const N: usize>(&self, tag: Tag) -> Result<Option<[f64; N]>> {
        let Some(v) = self.f64s(tag)? else { return Ok(None) };
        if v.len() < N {
            return Err(self.invalid(tag, format!("expected {N} values, found {}", v.len())));
        }
        let mut a = [0.0; N];
        a.copy_from_slice(&v[..N]);
        Ok(Some(a))
    }

    /// All text values of an attribute, trimmed of padding.
    pub fn strings(&self, tag: Tag) -> Result<Vec<String>> {
        let Some(v) = self.primitive(tag)? else { return Ok(Vec::new()) };
        Ok(v.get()
            .to_multi_str()
            .iter()
            .flat_map(|s| s.split('\\'))
            .map(|s| s.trim_matches(['\0', ' ']).to_string())
            .collect())
    }

    /// The first text value, or `None` when absent or empty.
    pub fn string(&self, tag: Tag) -> Result<Option<String>> {
        Ok(self.strings(tag)?.into_iter().next().filter(|s| !s.is_empty()))
    }

    /// A 16-bit binary attribute (US, SS, OW), such as LUT data.
    pub fn u16s(&self, tag: Tag) -> Result<Option<Vec<u16>>> {
        let Some(v) = self.primitive(tag)? else { return Ok(None) };
        match v.get() {
            PrimitiveValue::U16(x) => Ok(Some(x.to_vec())),
            PrimitiveValue::I16(x) => Ok(Some(x.iter().map(|&y| y as u16).collect())),
            PrimitiveValue::U8(x) => Ok(Some(x.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())),
            other => Err(self.invalid(tag, format!("expected 16-bit values, found {:?}", other.value_type()))),
        }
    }

    /// The items of a sequence attribute (empty when absent).
    pub fn items(&self, tag: Tag) -> Result<&'a [InMemDicomObject]> {
        match self.obj.get(tag).map(|e| e.value()) {
            None => Ok(&[]),
            Some(Value::Sequence(seq)) => Ok(seq.items()),
            Some(Value::Primitive(PrimitiveValue::Empty)) => Ok(&[]),
            Some(_) => Err(self.invalid(tag, "expected a sequence")),
        }
    }

    /// The first item of a sequence, wrapped for attribute access.
    pub fn item(&self, tag: Tag) -> Result<Option<Attributes<'a>>> {
        Ok(self.items(tag)?.first().map(|obj| Attributes { obj, ..*self }))
    }

    /// Wrap a sequence item with the same file name and sign convention.
    pub fn child(&self, obj: &'a InMemDicomObject) -> Attributes<'a> {
        Attributes { obj, ..*self }
    }

    /// Whether an element with this tag is present (even empty).
    pub fn contains(&self, tag: Tag) -> bool {
        self.obj.get(tag).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue};
    use dicom_dictionary_std::tags;

    #[test]
    fn unknown_vr_is_reread_with_dictionary_vr() {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(tags::RESCALE_SLOPE, VR::UN, PrimitiveValue::U8(b"1 ".to_vec().into())));
        obj.put(DataElement::new(tags::ROWS, VR::UN, PrimitiveValue::U8(vec![0, 2].into())));
        let path = Path::new("x.dcm");
        let a = Attributes::new(&obj, path);
        assert_eq!(a.f64(tags::RESCALE_SLOPE).unwrap(), Some(1.0));
        assert_eq!(a.int(tags::ROWS).unwrap(), Some(512));
    }

    #[test]
    fn bad_number_names_the_attribute() {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("1A")));
        let path = Path::new("x.dcm");
        let err = Attributes::new(&obj, path).int(tags::NUMBER_OF_FRAMES).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("NumberOfFrames") && msg.contains("1A"), "{msg}");
    }
}
