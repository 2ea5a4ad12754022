//! Reader robustness: the fuzzing findings (`tests/data/fuzz`) give typed errors with bounded
//! memory, files pydicom reads are read as far as they are intact, pixel data shorter than its
//! frames need is a precise error, and a short run of the fuzzing engine finds no panic.
//!
//! Memory is measured with a counting allocator, so the tests of this binary run one at a time.

#[path = "../examples/fuzz/engine.rs"]
mod engine;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ctssl_io::{describe_file, read_header, read_image, read_image_with, FileStatus, IoError, ReadOptions};
use dicom_core::value::{PixelFragmentSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

#[global_allocator]
static ALLOCATOR: engine::Counting = engine::Counting;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn conformance(name: &str) -> PathBuf {
    data_dir().join("conformance/dicom").join(name)
}

/// Run `f`, returning its result and the peak bytes it allocated.
fn measured<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = engine::start_measuring();
    let out = f();
    (out, engine::peak_since(base) as u64)
}

const FUZZ_FILES: &[&str] = &[
    "huge-length-1.dcm",
    "huge-length-2.dcm",
    "huge-length-3.dcm",
    "huge-length-4.dcm",
    "huge-length-5.dcm",
    "j2k-panic-1.dcm",
];

/// Found by the project's harness (docs/fuzzing.md): a typed error or a read, within the bound.
const HARNESS_FINDINGS: &[&str] = &[
    "misaligned-value-1.dcm",
    "misaligned-value-2.dcm",
    "misaligned-value-3.dcm",
    "misaligned-value-4.dcm",
    "misaligned-value-5.dcm",
    "deflate-expansion-1.dcm",
];

#[test]
fn harness_findings_stay_within_the_memory_bound() {
    let _guard = serial();
    let options = ReadOptions::default();
    for name in HARNESS_FINDINGS {
        let path = data_dir().join("fuzz").join(name);
        let len = std::fs::metadata(&path).expect("fuzz file").len();
        for target in engine::TARGETS {
            let declared = (target.declared_bytes)(&path);
            let (outcome, peak) = measured(|| catch_unwind(|| (target.read)(&path, &options)));
            let bound = engine::memory_bound(len, declared, &options);
            assert!(outcome.is_ok(), "{name}, {}: panicked", target.name);
            assert!(peak <= bound, "{name}, {}: peak {peak} bytes > bound {bound} (file {len} bytes)", target.name);
            assert!(peak < 64 << 20, "{name}, {}: peak {peak} bytes", target.name);
        }
    }
}

#[test]
fn samples_per_pixel_outside_one_to_four_is_refused_before_the_codec() {
    let _guard = serial();
    // The JPEG 2000 adapter sizes its buffer from the file's Samples per Pixel (0 here) and
    // panicked writing into it; the header now refuses the value instead of clamping it.
    let path = data_dir().join("fuzz/samples-per-pixel-0.dcm");
    let err = catch_unwind(|| read_image(&path)).expect("no panic").expect_err("spp 0");
    assert!(
        matches!(&err, IoError::InvalidAttribute { attribute, .. } if attribute.contains("SamplesPerPixel")),
        "{err:?}"
    );
}

#[test]
fn a_binary_value_of_odd_length_does_not_put_the_parser_out_of_step() {
    let _guard = serial();
    // misaligned-value-3: (0008,0100) became VR SL with 6 bytes; read as 4-byte values, 2 bytes
    // were left behind and the next "element" claimed 1.1 GB.
    let path = data_dir().join("fuzz/misaligned-value-3.dcm");
    let (result, peak) = measured(|| read_header(&path));
    assert!(peak < 1 << 20, "peak {peak} bytes for a 3,308-byte file");
    assert!(matches!(result, Err(IoError::MissingAttribute { .. })), "{result:?}");
}

#[test]
fn fuzz_findings_give_typed_errors_within_the_memory_bound() {
    let _guard = serial();
    let options = ReadOptions::default();
    for name in FUZZ_FILES {
        let path = data_dir().join("fuzz").join(name);
        let len = std::fs::metadata(&path).expect("fuzz file").len();
        let header = catch_unwind(|| read_header(&path)).unwrap_or_else(|_| panic!("{name}: read_header panicked"));
        let declared = header.as_ref().map(|h| h.sample_count() as u64 * 4).unwrap_or(0);
        let (image, peak) = measured(|| catch_unwind(|| read_image(&path)));
        let image = image.unwrap_or_else(|_| panic!("{name}: read_image panicked"));
        let bound = engine::memory_bound(len, declared, &options);
        assert!(
            peak <= bound,
            "{name}: peak {peak} bytes > bound {bound} (file {len} bytes, declared image {declared})"
        );
        println!(
            "{name}: {len} bytes, peak {peak} bytes (bound {bound}); header: {:?}; image: {:?}",
            header.as_ref().map(|h| (h.rows, h.cols, h.frames)).map_err(|e| e.to_string()),
            image.as_ref().map(|i| i.values.len()).map_err(|e| e.to_string())
        );
        match image {
            Err(e) => assert!(e.to_string().contains(name), "{name}: the error does not name the file: {e}"),
            Ok(img) => panic!("{name}: read {} values from a broken file", img.values.len()),
        }
    }
}

#[test]
fn length_fields_past_the_end_of_the_file_are_not_allocated() {
    let _guard = serial();
    // huge-length-3: 276 bytes whose length field claims about 4 GB.
    let path = data_dir().join("fuzz/huge-length-3.dcm");
    let (result, peak) = measured(|| read_image(&path));
    assert!(peak < 1 << 20, "peak {peak} bytes for a 276-byte file");
    let err = result.expect_err("broken file");
    assert!(
        matches!(err, IoError::NoPixelData { .. } | IoError::NotDicom { .. } | IoError::MissingAttribute { .. }),
        "{err:?}"
    );
}

#[test]
fn a_jpeg_2000_codestream_larger_than_its_frame_is_refused_before_the_codec() {
    let _guard = serial();
    let path = data_dir().join("fuzz/j2k-panic-1.dcm");
    let err = catch_unwind(|| read_image(&path)).expect("no panic").expect_err("broken file");
    assert!(matches!(err, IoError::Decode { .. }), "{err:?}");
}

#[test]
fn declared_images_beyond_the_limit_are_typed_errors() {
    let _guard = serial();
    let path = conformance("CT_small.dcm");
    let err = read_image_with(&path, &ReadOptions::default().with_max_image_bytes(1000)).expect_err("limit");
    assert!(matches!(err, IoError::LimitExceeded { size: 65536, limit: 1000, .. }), "{err:?}");
    assert_eq!(err.kind(), "limit_exceeded");
    assert!(read_image_with(&path, &ReadOptions::default().with_max_image_bytes(65536)).is_ok());
}

// --- Files pydicom reads and ctssl refused -------------------------------------------------------

#[test]
fn un_sequence_of_undefined_length_is_skipped_like_pydicom_reads_past_it() {
    let _guard = serial();
    // A private sequence with VR UN and undefined length; pydicom: a data set without pixel data.
    let path = conformance("UN_sequence.dcm");
    assert_eq!(describe_file(&path).status, FileStatus::NoPixelData);
    assert!(matches!(read_image(&path), Err(IoError::NoPixelData { .. })));
    // Not an image: the header read names the missing attribute instead of refusing the file.
    assert!(matches!(read_header(&path), Err(IoError::MissingAttribute { .. })));
}

#[test]
fn meta_group_without_its_group_length_is_read() {
    let _guard = serial();
    let path = conformance("no_meta_group_length.dcm");
    assert_eq!(describe_file(&path).status, FileStatus::NoPixelData);
    assert!(matches!(read_image(&path), Err(IoError::NoPixelData { .. })));
}

#[test]
fn truncated_rt_plan_is_read_up_to_the_cut() {
    let _guard = serial();
    // pydicom reads the elements before the cut; the file has no pixel data.
    let path = conformance("rtplan_truncated.dcm");
    let report = describe_file(&path);
    assert_eq!(report.status, FileStatus::NoPixelData, "{report:?}");
    // A scan lists it as a non-image file with the attributes before the cut.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&path, dir.path().join("plan.dcm")).expect("copy");
    let manifest = ctssl_io::scan(&[dir.path()], &ctssl_io::ScanOptions::ct_only()).expect("scan");
    assert!(manifest.skipped.is_empty(), "{:?}", manifest.skipped);
    assert_eq!(manifest.non_image.len(), 1);
    assert_eq!(manifest.non_image[0].modality.as_deref(), Some("RTPLAN"));
}

#[test]
fn implicit_vr_data_set_under_an_explicit_transfer_syntax_is_read() {
    let _guard = serial();
    // SC_rgb_jpeg.dcm: JPEG baseline, but the data set is encoded in implicit VR (pydicom: colour
    // 256x256). The header reads; the image is refused as colour, not as an unreadable file.
    let path = conformance("SC_rgb_jpeg.dcm");
    let h = read_header(&path).expect("header");
    assert_eq!((h.rows, h.cols, h.layout.samples_per_pixel), (256, 256, 3));
    assert_eq!(h.transfer_syntax, "1.2.840.10008.1.2.4.50");
    assert!(matches!(read_image(&path), Err(IoError::Color { samples_per_pixel: 3, .. })));
}

/// A ten-frame JPEG 2000 lossless file made from `MR_small_jp2klossless.dcm` (one 64x64 frame):
/// `fragments` copies of its codestream, the last one cut to `last_len` bytes when given.
fn multi_frame_j2k(dir: &Path, name: &str, fragments: usize, last_len: Option<usize>) -> PathBuf {
    let src = dicom_object::open_file(conformance("MR_small_jp2klossless.dcm")).expect("source");
    let codestream: Vec<u8> =
        src.element(tags::PIXEL_DATA).expect("pixel data").fragments().expect("fragments").concat();
    let mut obj = src.clone();
    let mut frags: Vec<Vec<u8>> = vec![codestream.clone(); fragments];
    if let (Some(n), Some(last)) = (last_len, frags.last_mut()) {
        last.truncate(n);
        if last.len() % 2 == 1 {
            last.push(0);
        }
    }
    obj.put(DataElement::new(tags::NUMBER_OF_FRAMES, VR::IS, PrimitiveValue::from("10")));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(Vec::<u32>::new(), frags)),
    ));
    let path = dir.join(name);
    obj.write_to_file(&path).expect("write");
    path
}

#[test]
fn jpeg_2000_pixel_data_shorter_than_its_frames_is_a_precise_error() {
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let one = read_image(conformance("MR_small_jp2klossless.dcm")).expect("single frame");

    // Whole: ten frames, each the source frame.
    let whole = multi_frame_j2k(dir.path(), "emri_like.dcm", 10, None);
    let img = read_image(&whole).expect("ten frames");
    assert_eq!(img.header.frames, 10);
    for f in 0..10 {
        assert_eq!(img.frame(f), Some(&one.values[..]), "frame {f}");
    }

    // emri_small_jpeg_2k_lossless_too_short: the file ends inside the last fragment, without the
    // sequence delimiter. pydicom reports the shortage; so does ctssl, and the header still reads.
    let bytes = std::fs::read(&whole).expect("read");
    let cut = dir.path().join("emri_small_jpeg_2k_lossless_too_short.dcm");
    std::fs::write(&cut, &bytes[..bytes.len() - 600]).expect("write");
    assert_eq!(read_header(&cut).expect("header").frames, 10);
    let err = read_image(&cut).expect_err("cut pixel data");
    let msg = err.to_string();
    assert!(matches!(err, IoError::Decode { .. }), "{err:?}");
    assert!(msg.contains("fragment 10") && msg.contains("9 complete fragment(s) for 10 frame(s)"), "{msg}");
    assert!(msg.contains("emri_small_jpeg_2k_lossless_too_short.dcm"), "{msg}");

    // Fewer fragments than frames: frames 9 and 10 are not in the file.
    let eight = multi_frame_j2k(dir.path(), "eight.dcm", 8, None);
    let msg = read_image(&eight).expect_err("two frames missing").to_string();
    assert!(msg.contains("frame 9 of 10") && msg.contains("8 fragment(s)"), "{msg}");

    // The last fragment complete as an item but its codestream cut: found before decoding.
    let short = multi_frame_j2k(dir.path(), "short_last.dcm", 10, Some(1000));
    let msg = read_image(&short).expect_err("cut codestream").to_string();
    assert!(msg.contains("frame 10 of 10") && msg.contains("codestream ends"), "{msg}");
}

#[test]
fn native_pixel_data_cut_by_the_end_of_the_file_names_the_missing_frame() {
    let _guard = serial();
    // MR_truncated.dcm: pydicom "8130 vs 8192 bytes".
    let path = conformance("MR_truncated.dcm");
    assert_eq!(read_header(&path).expect("header").rows, 64);
    let err = read_image(&path).expect_err("truncated");
    let msg = err.to_string();
    assert!(matches!(err, IoError::Decode { .. }), "{err:?}");
    assert!(msg.contains("frame 1 of 1") && msg.contains("8130") && msg.contains("8192"), "{msg}");
}

// --- The fuzzing engine, in process ---------------------------------------------------------------

#[test]
fn short_fuzz_run_finds_no_panic_and_stays_within_the_memory_bound() {
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus_dir = data_dir().join("conformance/dicom");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&corpus_dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| b.len() <= 64 * 1024)
        .collect();
    seeds.sort();
    assert!(seeds.len() > 40, "{} seed files", seeds.len());
    let options = ReadOptions::default();
    let mut rng = engine::Rng::new(1);
    let mut failures = Vec::new();
    let inputs = 400;
    for i in 0..inputs {
        let seed = &seeds[rng.below(seeds.len())];
        let data = engine::mutate(&mut rng, seed, &seeds);
        let path = dir.path().join(format!("input-{i}.dcm"));
        std::fs::write(&path, &data).expect("write");
        for target in engine::TARGETS {
            let declared = (target.declared_bytes)(&path);
            let (outcome, peak) = measured(|| catch_unwind(AssertUnwindSafe(|| (target.read)(&path, &options))));
            if outcome.is_err() {
                failures.push(format!("input {i}, {}: panic", target.name));
            }
            let bound = engine::memory_bound(data.len() as u64, declared, &options);
            if peak > bound {
                failures.push(format!("input {i}, {}: peak {peak} > bound {bound}", target.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_parser_refusal_keeps_the_parser_error_as_its_source() {
    let _guard = serial();
    // CT_small.dcm with a 4-byte File Meta Information Version (0002,0001): every length is sound,
    // but the parser of the file meta group accepts only 2 bytes.
    let mut bytes = std::fs::read(conformance("CT_small.dcm")).expect("read");
    let at =
        bytes.windows(12).position(|w| w == [0x02, 0, 0x01, 0, b'O', b'B', 0, 0, 2, 0, 0, 0]).expect("(0002,0001)");
    bytes[at + 8] = 4;
    bytes.splice(at + 14..at + 14, [0u8, 0]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("meta_version_4_bytes.dcm");
    std::fs::write(&path, &bytes).expect("write");
    let err = read_image(&path).expect_err("meta version of 4 bytes");
    assert_eq!(err.kind(), "not_dicom", "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    assert!(err.message_with_causes().contains("meta_version_4_bytes.dcm"), "{}", err.message_with_causes());
}
