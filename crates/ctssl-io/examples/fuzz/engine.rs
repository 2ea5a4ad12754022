//! The fuzzing engine shared by the `fuzz` example (supervised, many minutes) and the
//! `robustness` test (in-process, a few hundred inputs): seeded mutations, the readers under test,
//! and an allocator that counts peak bytes.

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use ctssl_io::ReadOptions;

/// One read: `Ok`, or the error's kind and message.
pub type ReadOutcome = Result<(), (String, String)>;

/// A reader under test: a name, the file extensions of its corpus, a read, and the size of the
/// image a file declares (what the memory bound allows beyond the file's own size).
pub struct Target {
    /// Short name, used in summaries and file names.
    pub name: &'static str,
    /// Corpus files with these extensions (lower case, no dot) are its seeds.
    pub extensions: &'static [&'static str],
    /// Read one file; `Err` holds the error kind and message.
    pub read: fn(&Path, &ReadOptions) -> ReadOutcome,
    /// Bytes of the decoded image the file declares, 0 when unknown.
    pub declared_bytes: fn(&Path) -> u64,
}

fn typed<T>(r: ctssl_io::Result<T>) -> ReadOutcome {
    r.map(|_| ()).map_err(|e| (e.kind().to_string(), e.to_string()))
}

/// The decoded image a DICOM file declares; for a deflated file at least its inflated data set
/// (compressed data may legitimately expand a thousandfold).
fn dicom_declared(path: &Path) -> u64 {
    let image = ctssl_io::read_header(path).map(|h| h.sample_count() as u64 * 4).unwrap_or(0);
    image.max(inflated_len(path))
}

/// Bytes of the inflated data set of a file of the deflated transfer syntax, else 0.
fn inflated_len(path: &Path) -> u64 {
    let Ok(data) = std::fs::read(path) else { return 0 };
    if data.get(128..132) != Some(b"DICM") {
        return 0;
    }
    // The file meta group: explicit VR little endian elements of group 0002.
    let (mut pos, mut deflated) = (132usize, false);
    while let Some(h) = data.get(pos..pos + 8).filter(|h| h[0] == 2 && h[1] == 0) {
        let long = matches!(&h[4..6], b"OB" | b"OW" | b"SQ" | b"UN" | b"UT" | b"UC" | b"UR");
        let (size, len) = if long {
            let Some(l) = data.get(pos + 8..pos + 12) else { return 0 };
            (12, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
        } else {
            (8, u16::from_le_bytes([h[6], h[7]]) as usize)
        };
        let Some(value) = data.get(pos + size..pos + size + len) else { return 0 };
        if h[2..4] == [0x10, 0] {
            deflated = value.starts_with(b"1.2.840.10008.1.2.1.99");
        }
        pos += size + len;
    }
    if !deflated {
        return 0;
    }
    // Count what inflates, up to a corrupt point (small reads: an error loses only the last one).
    let mut decoder = flate2::read::DeflateDecoder::new(&data[pos..]);
    let (mut total, mut buf) = (0u64, [0u8; 1024]);
    while let Ok(n) = std::io::Read::read(&mut decoder, &mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    total
}

/// Every reader of ctssl-io. A new reader is one more line, for example (once the modules exist)
/// `Target { name: "image_file", extensions: &["png", "jpg", "jpeg"], read: |p, _| typed(ctssl_io::image_file::read(p)), declared_bytes: |_| 0 },`
/// and `Target { name: "npz", extensions: &["npz"], read: |p, _| typed(ctssl_io::npz::read(p)), declared_bytes: |_| 0 },`.
pub const TARGETS: &[Target] = &[
    // A header read decodes no image, but it inflates a deflated data set up to the pixel data.
    Target {
        name: "dicom_header",
        extensions: &["dcm"],
        read: |p, _| typed(ctssl_io::read_header(p)),
        declared_bytes: inflated_len,
    },
    Target {
        name: "dicom_image",
        extensions: &["dcm"],
        read: |p, o| typed(ctssl_io::read_image_with(p, o)),
        declared_bytes: dicom_declared,
    },
];

/// The memory a read may use: a fixed allowance, a multiple of the file's size (the file in
/// memory, the checked copy the parser reads, the parsed elements), and three times the decoded
/// image it declares (codec buffers, stored samples, the values; for a deflated file at least its
/// inflated data set) when that is within the limit.
pub fn memory_bound(file_len: u64, declared: u64, options: &ReadOptions) -> u64 {
    let image = if declared <= options.max_image_bytes { declared } else { 0 };
    16 * (1 << 20) + 32 * file_len + 3 * image
}

/// SplitMix64: small, seedable, good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Lengths that break readers: near 4 GB, sign boundaries, zero, odd.
const INTERESTING_U32: &[u32] =
    &[0xFFFF_FFF0, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x7FFF_FFFF, 0x8000_0000, 0x0001_0000, 0, 1, 3, 0xFFFF];
const INTERESTING_U16: &[u16] = &[0xFFFF, 0xFFFE, 0x8000, 0x7FFF, 0, 1, 2, 3, 8, 16, 32, 0x0100];
/// Largest input made.
const MAX_LEN: usize = 4 << 20;

/// Positions of 32-bit length fields: after explicit VRs with 4-byte lengths, and of items.
fn length_fields(data: &[u8]) -> Vec<usize> {
    let long = [b"OB", b"OW", b"SQ", b"UN", b"UT", b"OF", b"OD", b"OL", b"UC", b"UR"];
    let mut out = Vec::new();
    for i in 0..data.len().saturating_sub(8) {
        let w = &data[i..i + 4];
        if (long.iter().any(|v| w[..2] == v[..]) && w[2] == 0 && w[3] == 0) || w == [0xFE, 0xFF, 0x00, 0xE0] {
            out.push(i + 4);
        }
    }
    out
}

/// Make one mutated input from `seed_file`, with `others` for splicing.
pub fn mutate(rng: &mut Rng, seed_file: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = seed_file.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        if out.is_empty() {
            out.push(0);
        }
        let len = out.len();
        match rng.below(9) {
            0 => {
                let bit = rng.below(len * 8);
                out[bit / 8] ^= 1 << (bit % 8);
            }
            1 => {
                let i = rng.below(len);
                out[i] = [0x00, 0xFF, 0x7F, 0x80, rng.next_u64() as u8][rng.below(5)];
            }
            2 | 3 => {
                // A length field set to an interesting value (half the time one the file really has).
                let fields = length_fields(&out);
                let at = if fields.is_empty() || rng.below(4) == 0 {
                    rng.below(len)
                } else {
                    fields[rng.below(fields.len())]
                };
                let value = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                let bytes = value.to_le_bytes();
                for (k, b) in bytes.iter().enumerate() {
                    if let Some(x) = out.get_mut(at + k) {
                        *x = *b;
                    }
                }
            }
            4 => {
                let at = rng.below(len);
                let value = INTERESTING_U16[rng.below(INTERESTING_U16.len())].to_le_bytes();
                for (k, b) in value.iter().enumerate() {
                    if let Some(x) = out.get_mut(at + k) {
                        *x = *b;
                    }
                }
            }
            5 => out.truncate(rng.below(len)),
            6 => {
                // Duplicate a chunk in place.
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(4096));
                let chunk = out[from..from + n].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, chunk);
            }
            7 => {
                let from = rng.below(len);
                let n = 1 + rng.below((len - from).min(4096));
                out.drain(from..from + n);
            }
            _ => {
                // Splice: the tail of this input from a point of another file.
                if let Some(other) = others.get(rng.below(others.len())).filter(|o| !o.is_empty()) {
                    let at = rng.below(len);
                    let from = rng.below(other.len());
                    out.truncate(at);
                    out.extend_from_slice(&other[from..]);
                }
            }
        }
        out.truncate(MAX_LEN);
    }
    out
}

/// An allocator that counts live and peak bytes; install it with `#[global_allocator]`.
pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged, so
// `GlobalAlloc`'s contract holds exactly as it does for `System`; the counting touches only atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's `layout` obligations are passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's `layout` obligations are passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with this `layout` (caller's contract).
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`, `layout` and `new_size` meet `realloc`'s contract (the caller's), and `ptr` came
        // from `System`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Start a measurement: the peak becomes the bytes live now, which are returned.
pub fn start_measuring() -> usize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// Peak bytes allocated since `start_measuring` returned `base`, beyond `base`.
pub fn peak_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}
