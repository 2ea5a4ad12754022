//! NumPy `.npy` arrays and `.npz` archives (a zip of `.npy` members, stored or deflated, Zip64 as
//! NumPy writes them), for the integer arrays MedMNIST ships.
//!
//! `.npy` format versions 1 (2-byte header length), 2 and 3 (4-byte header length; 3 allows UTF-8 in
//! the header) are read. Element types: booleans and signed or unsigned integers of 1, 2, 4 and 8 bytes
//! in either byte order; arrays in C order, or Fortran order (reordered to C order on reading).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::datasets::DatasetError;

/// An integer array read from an `.npy` member, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape.
    pub shape: Vec<usize>,
    /// The element type as written in the header (`|u1`, `<i8` ...).
    pub descr: String,
    /// The elements.
    pub data: NpyData,
}

/// The elements of an [`NpyArray`].
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// `uint8` (images), kept as bytes.
    U8(Vec<u8>),
    /// Any other integer or boolean type, widened.
    I64(Vec<i64>),
}

impl NpyArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::U8(v) => v.len(),
            NpyData::I64(v) => v.len(),
        }
    }

    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as `i64` (for labels of any integer type).
    pub fn to_i64(&self) -> Vec<i64> {
        match &self.data {
            NpyData::U8(v) => v.iter().map(|&x| i64::from(x)).collect(),
            NpyData::I64(v) => v.clone(),
        }
    }
}

/// An open `.npz` archive.
pub struct Npz {
    path: PathBuf,
    archive: zip::ZipArchive<std::io::BufReader<std::fs::File>>,
}

impl std::fmt::Debug for Npz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Npz").field("path", &self.path).field("members", &self.members()).finish()
    }
}

impl Npz {
    /// Opens an `.npz` file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::File::open(&path).map_err(|source| DatasetError::Io { path: path.clone(), source })?;
        let archive = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|source| DatasetError::Zip { path: path.clone(), source })?;
        Ok(Npz { path, archive })
    }

    /// The member names without `.npy` (as `np.load(...).files` lists them).
    pub fn members(&self) -> Vec<String> {
        self.archive
            .file_names()
            .filter_map(|n| n.ok())
            .map(|n| n.strip_suffix(".npy").unwrap_or(&n).to_string())
            .collect()
    }

    /// Reads member `name` (with or without `.npy`).
    pub fn array(&mut self, name: &str) -> Result<NpyArray, DatasetError> {
        let member = name.strip_suffix(".npy").unwrap_or(name);
        let file_name = format!("{member}.npy");
        let mut present = self.members();
        present.sort();
        let path = self.path.clone();
        let mut entry = match self.archive.by_name(&file_name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(DatasetError::MissingMember {
                    path,
                    member: member.to_string(),
                    present: present.join(", "),
                })
            }
            Err(source) => return Err(DatasetError::Zip { path, source }),
        };
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 31));
        entry.read_to_end(&mut bytes).map_err(|source| DatasetError::Member {
            path: path.clone(),
            member: member.to_string(),
            source,
        })?;
        parse_npy(&bytes).map_err(|reason| DatasetError::Npy { path, member: member.to_string(), reason })
    }
}

/// Parses the bytes of an `.npy` file; the error says what is wrong.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not an .npy array (no \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated .npy header".into());
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!(".npy format version {v} is not supported (1, 2 and 3 are)")),
    };
    let end = start.checked_add(header_len).filter(|&e| e <= bytes.len()).ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "the .npy header is not UTF-8 text")?;
    let descr = dict_value(header, "descr").ok_or_else(|| format!("no 'descr' in the header `{}`", header.trim()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_string();
    let fortran = match dict_value(header, "fortran_order").as_deref() {
        Some("True") => true,
        Some("False") | None => false,
        Some(o) => return Err(format!("bad fortran_order `{o}`")),
    };
    let shape_text =
        dict_value(header, "shape").ok_or_else(|| format!("no 'shape' in the header `{}`", header.trim()))?;
    let shape: Vec<usize> = shape_text
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| format!("bad shape `{shape_text}`")))
        .collect::<Result<_, _>>()?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("the shape overflows")?;
    let (order, kind, size) = parse_descr(&descr)?;
    let body = &bytes[end..];
    let need = count.checked_mul(size).ok_or("the shape overflows")?;
    if body.len() < need {
        return Err(format!(
            "truncated data: shape {shape:?} of {descr} needs {need} bytes, the member has {}",
            body.len()
        ));
    }
    let body = &body[..need];
    let mut data = if kind == 'u' && size == 1 {
        NpyData::U8(body.to_vec())
    } else {
        let big = order == '>';
        let v = body
            .chunks_exact(size)
            .map(|c| {
                let mut b = [0u8; 8];
                if big {
                    for (i, x) in c.iter().rev().enumerate() {
                        b[i] = *x;
                    }
                } else {
                    b[..size].copy_from_slice(c);
                }
                let u = u64::from_le_bytes(b);
                match kind {
                    'i' => {
                        let shift = 64 - 8 * size as u32;
                        ((u << shift) as i64) >> shift
                    }
                    _ => u as i64,
                }
            })
            .collect();
        NpyData::I64(v)
    };
    if fortran && shape.len() > 1 {
        data = match data {
            NpyData::U8(v) => NpyData::U8(fortran_to_c(&v, &shape)),
            NpyData::I64(v) => NpyData::I64(fortran_to_c(&v, &shape)),
        };
    }
    Ok(NpyArray { shape, descr, data })
}

/// `(byte order, kind, item size)` of a descr such as `<i8`, `|u1`, `|b1`.
fn parse_descr(descr: &str) -> Result<(char, char, usize), String> {
    let mut chars = descr.chars();
    let (order, rest) = match chars.next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, chars.as_str()),
        _ => ('|', descr),
    };
    let mut rc = rest.chars();
    let kind = rc.next().ok_or_else(|| format!("bad dtype `{descr}`"))?;
    let size: usize = rc.as_str().parse().map_err(|_| format!("dtype `{descr}` is not supported"))?;
    let ok = matches!((kind, size), ('i' | 'u', 1 | 2 | 4 | 8) | ('b', 1));
    if !ok {
        return Err(format!("dtype `{descr}` is not supported (integers and booleans are)"));
    }
    // `=` is native order; NumPy writes `<` or `>` explicitly, and every platform ctssl runs on is little endian.
    Ok((if order == '>' { '>' } else { '<' }, if kind == 'b' { 'u' } else { kind }, size))
}

/// The text of `key`'s value in a Python dict literal (`{'descr': '<i8', 'shape': (3, 1), }`).
fn dict_value(header: &str, key: &str) -> Option<String> {
    let pat_single = format!("'{key}'");
    let pat_double = format!("\"{key}\"");
    let at = header
        .find(&pat_single)
        .map(|i| i + pat_single.len())
        .or_else(|| header.find(&pat_double).map(|i| i + pat_double.len()))?;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    if rest.starts_with('(') {
        let close = rest.find(')')?;
        return Some(rest[..=close].to_string());
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().to_string())
}

fn fortran_to_c<T: Copy + Default>(v: &[T], shape: &[usize]) -> Vec<T> {
    let n = v.len();
    let mut out = vec![T::default(); n];
    let nd = shape.len();
    // Fortran strides: dimension 0 varies fastest.
    let mut fstride = vec![1usize; nd];
    for d in 1..nd {
        fstride[d] = fstride[d - 1] * shape[d - 1];
    }
    let mut idx = vec![0usize; nd];
    for item in out.iter_mut() {
        let src: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        if let Some(x) = v.get(src) {
            *item = *x;
        }
        for d in (0..nd).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(version: u8, descr: &str, shape: &str, fortran: bool, body: &[u8]) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        let mut h = dict.into_bytes();
        let pre = if version == 1 { 10 } else { 12 };
        while (pre + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY".to_vec();
        out.push(version);
        out.push(0);
        if version == 1 {
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(&h);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn versions_types_and_orders() {
        let a = parse_npy(&npy(1, "|u1", "(2, 3)", false, &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::U8(vec![1, 2, 3, 4, 5, 6]));
        let b =
            parse_npy(&npy(3, "<i8", "(2,)", false, &[255, 255, 255, 255, 255, 255, 255, 255, 7, 0, 0, 0, 0, 0, 0, 0]))
                .unwrap();
        assert_eq!(b.to_i64(), vec![-1, 7]);
        let c = parse_npy(&npy(2, ">u2", "(1,)", false, &[1, 2])).unwrap();
        assert_eq!(c.to_i64(), vec![258]);
        let f = parse_npy(&npy(1, "|u1", "(2, 3)", true, &[1, 4, 2, 5, 3, 6])).unwrap();
        assert_eq!(f.data, NpyData::U8(vec![1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn bad_arrays_say_why() {
        assert!(parse_npy(b"PK\x03\x04").unwrap_err().contains("magic"));
        assert!(parse_npy(&npy(1, "<f4", "(1,)", false, &[0; 4])).unwrap_err().contains("<f4"));
        assert!(parse_npy(&npy(1, "|u1", "(4, 4)", false, &[0; 3])).unwrap_err().contains("truncated"));
        assert!(parse_npy(&npy(1, "|u1", "(4, 4)", false, &[0; 3])[..12]).unwrap_err().contains("truncated"));
    }
}
