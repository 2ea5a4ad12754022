//! Print one JSON line per DICOM file: status, transfer syntax, size and modality-value statistics.
//!
//! ```text
//! cargo run --release --example ctinfo -- PATH... [--summary]
//! ```
//!
//! Folders are searched recursively. Statistics are over the modality values of all frames (HU
//! for CT); `samples` holds 32 values of the flattened frame-major array at indices `k * n / 32`.
//! Statuses: `ok`, `color` (more than one sample per pixel), `no_pixel_data`, and `error` with a
//! message that says what is wrong. Files that fail do not stop the run: the exit code is 0
//! unless a path could not be listed at all.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use ctssl::io::{describe_file, list_files, FileReport};
use rayon::prelude::*;

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

fn main() {
    let args = Args::parse();
    let files = match list_files(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ctinfo: {}", ctssl::io::error_chain(&e));
            std::process::exit(2);
        }
    };
    let reports: Vec<FileReport> = files.par_iter().map(|p| describe_file(p)).collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &reports {
        match serde_json::to_string(r) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("ctinfo: {}: {e}", r.file),
        }
        let status = serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_string));
        *counts.entry(status.unwrap_or_default()).or_default() += 1;
    }
    if args.summary {
        println!("{}", serde_json::json!({"summary": counts, "files": reports.len()}));
    }
}
