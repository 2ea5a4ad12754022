//! Write a synthetic CT dataset (DICOM series per patient + labels CSV) and PNG montages to look at.
//!
//! ```text
//! cargo run --release -p ctssl-phantom --example phantom -- --out DIR --patients N --seed S [--image-size 128]
//! ```
//! `--patients N` is the total: a quarter each of labeled chest-abdomen-pelvis, labeled head,
//! pre-training chest-abdomen-pelvis and pre-training head patients. Montages (windowed slices per
//! task and class, and a few full patients) go to `DIR/montage_*.png`; positive samples have a red
//! frame, negative ones a green frame.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ctssl_phantom::{write_phantom, Organ, Phantom, PhantomConfig, Protocol, Region, Role, Sample, Task, ALL_ORGANS};
use image::{Rgb, RgbImage};

#[derive(Parser, Debug)]
struct Args {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Total number of patients (split in four groups).
    #[arg(long, default_value_t = 400)]
    patients: usize,
    /// Dataset seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    image_size: usize,
    /// Only write the montages (no DICOM).
    #[arg(long)]
    montage_only: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let q = args.patients / 4;
    let config = PhantomConfig {
        seed: args.seed,
        image_size: args.image_size,
        torso_patients: q.max(1),
        head_patients: q.max(1),
        pretrain_torso_patients: q,
        pretrain_head_patients: args.patients.saturating_sub(3 * q),
        ..PhantomConfig::default()
    };
    let phantom = Phantom::new(config)?;
    std::fs::create_dir_all(&args.out)?;
    if !args.montage_only {
        let start = Instant::now();
        let summary = write_phantom(&phantom, &args.out, |_| {})?;
        let secs = start.elapsed().as_secs_f64();
        let text = format!(
            "patients {}\ndicom files {}\ndicom bytes {}\nlabel rows {}\npretrain rows {}\nimage size {}\nthreads {}\nseconds {:.2}\n",
            summary.patients,
            summary.files,
            summary.bytes,
            summary.label_rows,
            summary.pretrain_rows,
            phantom.config().image_size,
            rayon::current_num_threads(),
            secs
        );
        print!("{text}");
        std::fs::write(args.out.join("summary.txt"), &text)?;
        print_label_counts(&args.out.join("labels.csv"))?;
    }
    montages(&phantom, &args.out)?;
    Ok(())
}

fn print_label_counts(labels: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(labels)?;
    let mut counts = std::collections::BTreeMap::<(String, String, String), usize>::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        *counts.entry((f[2].to_string(), f[4].to_string(), f[3].to_string())).or_default() += 1;
    }
    for ((task, split, label), n) in counts {
        println!("task {task:5} split {split:5} label {label:>2}: {n}");
    }
    Ok(())
}

/// Window HU to a grey level.
fn window(hu: f32, center: f32, width: f32) -> u8 {
    (((hu - (center - width / 2.0)) / width).clamp(0.0, 1.0) * 255.0).round() as u8
}

fn window_of(region: Region) -> (f32, f32) {
    match region {
        Region::Head => (40.0, 80.0),
        Region::Chest => (-600.0, 1500.0),
        _ => (40.0, 400.0),
    }
}

/// Draw a square grey image into the canvas at (x, y), scaled to `tile` pixels, with an optional frame colour.
#[allow(clippy::too_many_arguments)]
fn blit(
    canvas: &mut RgbImage,
    image: &[f32],
    side: usize,
    x: u32,
    y: u32,
    tile: u32,
    win: (f32, f32),
    frame: Option<Rgb<u8>>,
) {
    for ty in 0..tile {
        for tx in 0..tile {
            let sx = (tx as usize * side) / tile as usize;
            let sy = (ty as usize * side) / tile as usize;
            let g = window(image[sy * side + sx], win.0, win.1);
            let edge = tx < 2 || ty < 2 || tx + 2 >= tile || ty + 2 >= tile;
            let px = match (frame, edge) {
                (Some(c), true) => c,
                _ => Rgb([g, g, g]),
            };
            canvas.put_pixel(x + tx, y + ty, px);
        }
    }
}

fn montages(phantom: &Phantom, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let plans = phantom.plans();
    let pick = |role: Role, protocol: Protocol, n: usize| -> Vec<usize> {
        plans.iter().filter(|p| p.role == role && p.protocol == protocol).take(n).map(|p| p.index).collect()
    };
    // A few full patients: every other slice of two torsos and one head.
    let mut full = Vec::new();
    for i in pick(Role::Labeled, Protocol::Torso, 2).into_iter().chain(pick(Role::Labeled, Protocol::Head, 1)) {
        full.push(phantom.patient(i)?);
    }
    let tile = 192u32;
    let cols = 12u32;
    let mut canvas = RgbImage::new(cols * tile, full.len() as u32 * tile);
    for (row, p) in full.iter().enumerate() {
        let step = (p.slices.len() as f32 / cols as f32).max(1.0);
        for c in 0..cols {
            let k = ((c as f32 * step) as usize).min(p.slices.len() - 1);
            let s = &p.slices[k];
            blit(&mut canvas, &s.values, s.size, c * tile, row as u32 * tile, tile, window_of(s.region), None);
        }
    }
    canvas.save(out.join("montage_patients.png"))?;
    // Detail: one chest slice in lung and soft-tissue windows, an abdomen slice, a head slice in the brain window.
    let big = 384u32;
    let mut canvas = RgbImage::new(4 * big, big);
    let torso = &full[0];
    let chest = torso.slices.iter().filter(|s| s.region == Region::Chest).nth(4).unwrap_or(&torso.slices[0]);
    let abdomen = torso.slices.iter().filter(|s| s.region == Region::Abdomen).nth(1).unwrap_or(&torso.slices[0]);
    let head = &full[full.len() - 1];
    let brain = &head.slices[head.slices.len() / 2];
    blit(&mut canvas, &chest.values, chest.size, 0, 0, big, (-600.0, 1500.0), None);
    blit(&mut canvas, &chest.values, chest.size, big, 0, big, (40.0, 400.0), None);
    blit(&mut canvas, &abdomen.values, abdomen.size, 2 * big, 0, big, (40.0, 400.0), None);
    blit(&mut canvas, &brain.values, brain.size, 3 * big, 0, big, (40.0, 80.0), None);
    canvas.save(out.join("montage_detail.png"))?;

    // Task samples from the first labeled patients.
    let torsos: Vec<_> =
        pick(Role::Labeled, Protocol::Torso, 8).into_iter().map(|i| phantom.patient(i)).collect::<Result<_, _>>()?;
    let heads: Vec<_> =
        pick(Role::Labeled, Protocol::Head, 8).into_iter().map(|i| phantom.patient(i)).collect::<Result<_, _>>()?;
    let image_of = |patients: &[ctssl_phantom::Patient], s: &Sample| -> (Vec<f32>, usize) {
        let p = patients.iter().find(|p| p.plan.index == s.patient).expect("sample of a rendered patient");
        let slice = &p.slices[s.slice];
        match &s.crop {
            Some(c) => (ctssl_phantom::crop_slice(slice, c), c.size),
            None => (slice.values.clone(), slice.size),
        }
    };
    for (task, patients, win, name) in [
        (Task::Lung, &torsos, (-600.0, 1500.0), "montage_lung.png"),
        (Task::Head, &heads, (40.0, 80.0), "montage_head.png"),
    ] {
        let samples: Vec<Sample> =
            patients.iter().flat_map(|p| p.samples.iter().filter(|s| s.task == task).copied()).collect();
        let per = 8u32;
        let mut canvas = RgbImage::new(per * tile, 2 * tile);
        for (row, label) in [1u32, 0].into_iter().enumerate() {
            for (c, s) in samples.iter().filter(|s| s.label == label).take(per as usize).enumerate() {
                let (img, side) = image_of(patients, s);
                let frame = if label == 1 { Rgb([220, 30, 30]) } else { Rgb([30, 200, 30]) };
                blit(&mut canvas, &img, side, c as u32 * tile, row as u32 * tile, tile, win, Some(frame));
            }
        }
        canvas.save(out.join(name))?;
    }
    // Organ crops: one row per class (label order), up to 8 patients.
    let organ_tile = 128u32;
    let mut canvas = RgbImage::new(8 * organ_tile, ALL_ORGANS.len() as u32 * organ_tile);
    for organ in ALL_ORGANS {
        let samples: Vec<Sample> = torsos
            .iter()
            .flat_map(|p| p.samples.iter().filter(|s| s.task == Task::Organ && s.label == organ.label()).copied())
            .collect();
        for (c, s) in samples.iter().take(8).enumerate() {
            let (img, side) = image_of(&torsos, s);
            let win =
                if matches!(organ, Organ::LungLeft | Organ::LungRight) { (-600.0, 1500.0) } else { (40.0, 400.0) };
            blit(&mut canvas, &img, side, c as u32 * organ_tile, organ.label() * organ_tile, organ_tile, win, None);
        }
    }
    canvas.save(out.join("montage_organ.png"))?;
    println!("montages written to {}", out.display());
    Ok(())
}
