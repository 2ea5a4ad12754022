//! Image-slice decoding benchmark: ctssl-io (PNG/JPEG sniffed by content → one grey `f32` channel, on
//! every core) against PIL + NumPy (`Image.open(f).convert("L")` → `np.float32`) on the same files, in
//! the same run.
//!
//! ```text
//! pip install pillow numpy
//! cargo run --release --example bench_formats -- [--files 600] [--dir target/bench-formats] [--images DIR]
//! ```
//!
//! Without `--images`, writes `--files` synthetic CT-like slices in the COVID-CT mix (PNG grey, RGB and
//! RGBA, JPEG grey and colour, some JPEG data named `.png`; sizes from 148×61 to 1024×1024) into `--dir`
//! (kept for the next run). Each decoder runs in its own process so that its peak resident memory is
//! its own; the best of `--repeat` runs is kept. Prints a table with images per second, the ratio to
//! PIL and peak memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use ctssl::io::image_file::read_grey_images;

#[derive(Parser)]
struct Args {
    /// Number of synthetic images to write (without --images).
    #[arg(long, default_value_t = 600)]
    files: usize,
    /// Working folder for the synthetic images and the file list.
    #[arg(long, default_value = "target/bench-formats")]
    dir: PathBuf,
    /// Benchmark the PNG/JPEG files below this folder instead.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Timed repetitions per decoder (the best is kept).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Internal: decode the files of this list and print `seconds peak_kib`.
    #[arg(long, hide = true)]
    worker: Option<PathBuf>,
    /// Internal: threads of the worker.
    #[arg(long, hide = true, default_value_t = 0)]
    threads: usize,
}

const SIZES: [(u32, u32); 6] = [(148, 61), (224, 224), (411, 300), (512, 512), (700, 512), (1024, 1024)];

fn slice_image(w: u32, h: u32, seed: u32) -> image::GrayImage {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    image::GrayImage::from_fn(w, h, |x, y| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (state >> 28) as f32;
        let (dx, dy) = ((x as f32 - cx) / (0.45 * w as f32), (y as f32 - cy) / (0.38 * h as f32));
        let body = dx * dx + dy * dy < 1.0;
        let lung = ((dx.abs() - 0.45) / 0.3).powi(2) + (dy / 0.6).powi(2) < 1.0;
        let v = if !body {
            10.0
        } else if lung {
            40.0 + 20.0 * ((x as f32 * 0.05).sin() * (y as f32 * 0.07).cos()).abs()
        } else {
            150.0
        };
        image::Luma([(v + noise).min(255.0) as u8])
    })
}

fn write_synthetic(dir: &Path, n: usize) -> Vec<PathBuf> {
    let _ = std::fs::create_dir_all(dir);
    (0..n)
        .map(|i| {
            let (w, h) = SIZES[i % SIZES.len()];
            let grey = slice_image(w, h, i as u32);
            // The COVID-CT mix: grey PNG, RGB PNG, RGBA PNG, grey JPEG, colour JPEG named .png.
            let (path, img, fmt) = match i % 5 {
                0 => (dir.join(format!("{i}.png")), image::DynamicImage::ImageLuma8(grey), image::ImageFormat::Png),
                1 => (
                    dir.join(format!("{i}.png")),
                    image::DynamicImage::ImageLuma8(grey).to_rgb8().into(),
                    image::ImageFormat::Png,
                ),
                2 => (
                    dir.join(format!("{i}.png")),
                    image::DynamicImage::ImageLuma8(grey).to_rgba8().into(),
                    image::ImageFormat::Png,
                ),
                3 => (dir.join(format!("{i}.jpg")), image::DynamicImage::ImageLuma8(grey), image::ImageFormat::Jpeg),
                _ => (
                    dir.join(format!("{i}.png")),
                    image::DynamicImage::ImageLuma8(grey).to_rgb8().into(),
                    image::ImageFormat::Jpeg,
                ),
            };
            if !path.exists() {
                if let Err(e) = img.save_with_format(&path, fmt) {
                    eprintln!("cannot write {}: {e}", path.display());
                    std::process::exit(1);
                }
            }
            path
        })
        .collect()
}

fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn worker(list: &Path, threads: usize) {
    let paths: Vec<PathBuf> = std::fs::read_to_string(list)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("thread pool: {e}");
            std::process::exit(1);
        }
    };
    let t0 = Instant::now();
    let out = pool.install(|| read_grey_images(&paths));
    let secs = t0.elapsed().as_secs_f64();
    let bad = out.iter().filter(|r| r.is_err()).count();
    if bad > 0 {
        eprintln!("{bad} file(s) failed to decode");
    }
    println!("{secs:.4} {}", peak_kib());
}

fn run(cmd: &mut Command) -> Option<(f64, u64)> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn best(repeat: usize, mut f: impl FnMut() -> Option<(f64, u64)>) -> Option<(f64, u64)> {
    let mut b: Option<(f64, u64)> = None;
    for _ in 0..repeat.max(1) {
        let r = f()?;
        b = Some(match b {
            Some(x) if x.0 <= r.0 => (x.0, x.1.max(r.1)),
            Some(x) => (r.0, x.1.max(r.1)),
            None => r,
        });
    }
    b
}

fn main() {
    let a = Args::parse();
    if let Some(list) = &a.worker {
        worker(list, a.threads);
        return;
    }
    let files = match &a.images {
        Some(dir) => ctssl::io::list_files(&[dir])
            .unwrap_or_default()
            .into_iter()
            .filter(|p| matches!(ctssl::io::image_file::sniff_file(p), Ok(ctssl::io::image_file::FileKind::Image(_))))
            .collect(),
        None => write_synthetic(&a.dir, a.files),
    };
    if files.is_empty() {
        eprintln!("no image files");
        std::process::exit(1);
    }
    let _ = std::fs::create_dir_all(&a.dir);
    let list = a.dir.join("files.txt");
    let mut text = String::new();
    let mut pixels = 0u64;
    for f in &files {
        text.push_str(&f.display().to_string());
        text.push('\n');
    }
    if let Ok(mut fh) = std::fs::File::create(&list) {
        let _ = fh.write_all(text.as_bytes());
    }
    for r in read_grey_images(&files).into_iter().flatten() {
        pixels += (r.width * r.height) as u64;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("bench_formats"));
    let ours = |t: usize| {
        best(a.repeat, || run(Command::new(&exe).arg("--worker").arg(&list).arg("--threads").arg(t.to_string())))
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_formats_pil.py");
    let pil = |p: usize| best(a.repeat, || run(Command::new("python3").arg(&script).arg(&list).arg(p.to_string())));
    let rows = [
        ("ctssl-io", 1, ours(1)),
        ("PIL + NumPy", 1, pil(1)),
        ("ctssl-io", cores, ours(cores)),
        ("PIL + NumPy (multiprocessing)", cores, pil(cores)),
    ];
    let Some((pil_secs, _)) = rows[1].2 else {
        eprintln!("PIL + NumPy did not run: pip install pillow numpy");
        std::process::exit(1);
    };
    println!(
        "{} images, {:.1} Mpixel decoded, on {cores} core(s); best of {} run(s)\n",
        files.len(),
        pixels as f64 / 1e6,
        a.repeat
    );
    println!("| decoder | processes/threads | seconds | images/s | speed vs PIL 1 process | peak memory MiB |");
    println!("|---|---|---|---|---|---|");
    for (name, t, r) in rows {
        match r {
            Some((s, kib)) => println!(
                "| {name} | {t} | {s:.3} | {:.0} | {:.2}× | {:.0} |",
                files.len() as f64 / s,
                pil_secs / s,
                kib as f64 / 1024.0
            ),
            None => println!("| {name} | {t} | failed | | | |"),
        }
    }
}
