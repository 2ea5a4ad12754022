//! I/O benchmark: ctssl-io against pydicom + numpy on the same files, in the same run.
//!
//! ```text
//! cargo run --release --example bench_io -- [--decode-files 200] [--header-files 10000] [--dir DIR]
//! ```
//!
//! 1. Writes `--decode-files` uncompressed 512×512 CT slices and `--header-files` 128×128 slices
//!    with the ctssl writer (kept in `--dir` for the next run).
//! 2. Decodes every 512×512 slice to HU on one core (ctssl) and with `dcmread` +
//!    `apply_modality_lut` (pydicom, one core: scripts/bench_pydicom.py), and on all cores (ctssl).
//! 3. Scans the folder of 128×128 slices into a manifest (`ctssl_io::scan`: parallel header-only
//!    reads, grouping into patients / studies / series, ordering along the slice normal) on all
//!    cores, against `dcmread(stop_before_pixels=True)` of every file (pydicom, one core).
//!
//! Prints a table with files per second, the ratio, and peak resident memory of each process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use ctssl::io::write::{write_ct_series, CtSlice, SeriesInfo};
use ctssl::io::{list_files, read_image, scan, ScanOptions};
use rayon::prelude::*;

#[derive(Parser)]
struct Args {
    /// Number of 512×512 slices to decode.
    #[arg(long, default_value_t = 200)]
    decode_files: usize,
    /// Number of 128×128 slices for the header scan.
    #[arg(long, default_value_t = 10_000)]
    header_files: usize,
    /// Working folder for the written slices.
    #[arg(long, default_value = "target/bench-io")]
    dir: PathBuf,
    /// Timed repetitions of the decode pass (the best is kept).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// A body-like phantom: an elliptic body of soft tissue with lungs, a spine and scanner noise.
fn phantom(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 40.0
    };
    let c = n as f32 / 2.0;
    (0..n * n)
        .map(|i| {
            let (y, x) = ((i / n) as f32 - c, (i % n) as f32 - c);
            let body = (x / (0.45 * n as f32)).powi(2) + (y / (0.33 * n as f32)).powi(2) < 1.0;
            let lung = ((x.abs() - 0.2 * n as f32) / (0.13 * n as f32)).powi(2) + (y / (0.2 * n as f32)).powi(2) < 1.0;
            let spine = (x / (0.05 * n as f32)).powi(2) + ((y - 0.22 * n as f32) / (0.05 * n as f32)).powi(2) < 1.0;
            let hu = if !body {
                -1000.0
            } else if spine {
                700.0
            } else if lung {
                -850.0
            } else {
                40.0
            };
            hu + noise()
        })
        .collect()
}

fn ensure_series(dir: &Path, count: usize, size: usize) -> Vec<PathBuf> {
    let existing = list_files(&[dir]).unwrap_or_default();
    if existing.len() == count {
        return existing;
    }
    let _ = std::fs::remove_dir_all(dir);
    let info = SeriesInfo::from_seed("bench-io", size as u64);
    let template = phantom(size, size as u64);
    let slices: Vec<CtSlice> = (0..count)
        .map(|i| {
            let mut s = CtSlice::new(template.as_slice(), size as u32, size as u32);
            s.position = [0.0, 0.0, i as f64];
            s.instance_number = i as i32 + 1;
            s
        })
        .collect();
    write_ct_series(dir, &info, &slices).expect("write benchmark slices")
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args = Args::parse();
    let decode_dir = args.dir.join("decode512");
    let header_dir = args.dir.join("header128");
    let t = Instant::now();
    let decode_files = ensure_series(&decode_dir, args.decode_files, 512);
    let header_files = ensure_series(&header_dir, args.header_files, 128);
    eprintln!("slices ready in {:.1} s", t.elapsed().as_secs_f64());

    // Warm the page cache so both sides read from memory.
    for f in decode_files.iter().chain(&header_files) {
        let _ = std::fs::read(f);
    }

    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut best_one = f64::INFINITY;
    let mut checksum = 0.0f64;
    for _ in 0..args.repeat {
        let t = Instant::now();
        one.install(|| {
            for f in &decode_files {
                let image = read_image(f).expect("decode");
                checksum += image.values[0] as f64;
            }
        });
        best_one = best_one.min(t.elapsed().as_secs_f64());
    }
    let mut best_all = f64::INFINITY;
    for _ in 0..args.repeat {
        let t = Instant::now();
        let s: f64 = decode_files.par_iter().map(|f| read_image(f).expect("decode").values[0] as f64).sum();
        checksum += s;
        best_all = best_all.min(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let manifest = scan(&[&header_dir], &ScanOptions::default()).expect("scan");
    let header_all = t.elapsed().as_secs_f64();
    assert_eq!(manifest.summary.image_files, header_files.len(), "{:?}", manifest.summary);
    let rust_peak = peak_rss_mib();

    let py = Command::new("python3")
        .arg("scripts/bench_pydicom.py")
        .arg(&decode_dir)
        .arg(&header_dir)
        .args(["--repeat", &args.repeat.to_string()])
        .output();
    let py: Option<serde_json::Value> = py.ok().and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let py_ok = py.as_ref().filter(|v| v.get("error").is_none());

    let n_dec = decode_files.len() as f64;
    let n_hdr = header_files.len() as f64;
    let cores = rayon::current_num_threads();
    println!("| task | ctssl | pydicom + numpy | ratio |");
    println!("|---|---|---|---|");
    let (py_dec, py_hdr, py_peak) = match py_ok {
        Some(v) => (
            v["decode_seconds"].as_f64().unwrap_or(f64::NAN),
            v["header_seconds"].as_f64().unwrap_or(f64::NAN),
            v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        ),
        None => (f64::NAN, f64::NAN, f64::NAN),
    };
    println!(
        "| decode 512×512 int16 → HU f32, 1 core | {:.0} files/s | {:.0} files/s | {:.1}× |",
        n_dec / best_one,
        n_dec / py_dec,
        py_dec / best_one
    );
    println!("| decode 512×512, {cores} cores | {:.0} files/s | – | – |", n_dec / best_all);
    println!(
        "| header scan of {} files into a manifest, {cores} cores (pydicom: headers only, 1 core) | {:.0} files/s | {:.0} files/s | {:.1}× |",
        header_files.len(),
        n_hdr / header_all,
        n_hdr / py_hdr,
        py_hdr / header_all
    );
    println!("| peak resident memory | {rust_peak:.0} MiB | {py_peak:.0} MiB | |");
    match py {
        Some(v) if v.get("error").is_none() => {
            println!("\npydicom {} numpy {}", v["pydicom"].as_str().unwrap_or("?"), v["numpy"].as_str().unwrap_or("?"))
        }
        Some(v) => println!("\npydicom side skipped: {}", v["error"]),
        None => println!("\npydicom side skipped: python3 or scripts/bench_pydicom.py not found"),
    }
    eprintln!("checksum {checksum}");
}
