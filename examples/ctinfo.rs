//! Print one JSON line per DICOM file: status, transfer syntax, size and HU statistics.
//!
//! ```text
//! cargo run --release --example ctinfo -- PATH... [--summary]
//! ```
//!
//! Statistics are over the modality values of all frames (HU for CT); `samples` holds 32 values of
//! the flattened frame-major array at indices `k * n / 32`. Files that fail are reported with
//! `"status": "error"` and the run goes on; the exit code is 0 unless no path could be listed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use ctssl::io::{read_header, read_image, transfer_syntax::trim_uid, IoError};
use rayon::prelude::*;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Inspect DICOM files: status, transfer syntax, size and modality-value statistics")]
struct Args {
    /// Files or folders (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print a last line with counts per status.
    #[arg(long)]
    summary: bool,
}

fn describe(path: &std::path::Path) -> Value {
    let file = path.display().to_string();
    match read_image(path) {
        Ok(image) => {
            let h = &image.header;
            let v = &image.values;
            let n = v.len().max(1) as f64;
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
            let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
            let min = v.iter().copied().fold(f32::INFINITY, f32::min);
            let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let samples: Vec<f32> = (0..32).map(|k| v[k * v.len() / 32]).collect();
            json!({"file": file, "status": "ok", "transfer_syntax": h.transfer_syntax, "modality": h.modality,
                   "rows": h.rows, "cols": h.cols, "frames": h.frames,
                   "min": min, "max": max, "mean": mean, "std": var.sqrt(), "samples": samples})
        }
        Err(IoError::NoPixelData { .. }) => {
            let h = read_header(path).ok();
            json!({"file": file, "status": "no_pixel_data",
                   "transfer_syntax": h.as_ref().map(|h| trim_uid(&h.transfer_syntax).to_string()),
                   "modality": h.and_then(|h| h.modality)})
        }
        Err(IoError::Color { samples_per_pixel, .. }) => {
            let h = read_header(path).ok();
            json!({"file": file, "status": "color", "samples_per_pixel": samples_per_pixel,
                   "transfer_syntax": h.as_ref().map(|h| h.transfer_syntax.clone()),
                   "modality": h.as_ref().and_then(|h| h.modality.clone()),
                   "rows": h.as_ref().map(|h| h.rows), "cols": h.as_ref().map(|h| h.cols),
                   "frames": h.as_ref().map(|h| h.frames)})
        }
        Err(e) => json!({"file": file, "status": "error", "kind": e.kind(), "error": e.to_string()}),
    }
}

fn main() {
    let args = Args::parse();
    let files = match ctssl::io::list_files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ctinfo: {e}");
            std::process::exit(2);
        }
    };
    let lines: Vec<Value> = files.par_iter().map(|p| describe(p)).collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in &lines {
        println!("{line}");
        *counts.entry(line["status"].as_str().unwrap_or("error").to_string()).or_default() += 1;
    }
    if args.summary {
        println!("{}", json!({"summary": counts, "files": lines.len()}));
    }
}
