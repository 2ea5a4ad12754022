//! Write one PNG per recipe showing the views it makes from real CT slices.
//!
//! Each row is one sample (a slice with its own position in the epoch); the first column is the slice
//! under the wide window, resized; then come the recipe's views, each at its own size (local crops
//! are smaller). Views are shown as grey levels of `[0, 1]` (channel 0 for multi-window recipes).
//!
//! ```text
//! cargo run --release -p ctssl-augment --example view_grid -- [--size 64] [--out target/view_grid] [--seed 0] [files.dcm ...]
//! ```
//! Without files it reads the CT conformance files `CT_small.dcm` and `693_J2KI.dcm` from
//! the repository's conformance corpus, `tests/data/conformance/dicom` (or `$CTSSL_CONFORMANCE_DIR/dicom`).

use std::path::PathBuf;

use ctssl_augment::{resize, BuiltinRecipe, Image, WIDE_WINDOW};
use ctssl_io::{read_image_with, ReadOptions};

/// Rows per slice (different sample positions, so different draws).
const ROWS_PER_SLICE: usize = 3;
/// Gap between cells, pixels.
const GAP: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut size = 64usize;
    let mut seed = 0u64;
    let mut out = PathBuf::from("target/view_grid");
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--size" => size = args.next().ok_or("--size needs a value")?.parse()?,
            "--seed" => seed = args.next().ok_or("--seed needs a value")?.parse()?,
            "--out" => out = args.next().ok_or("--out needs a value")?.into(),
            "-h" | "--help" => {
                println!("view_grid [--size N] [--seed S] [--out DIR] [files.dcm ...]");
                return Ok(());
            }
            f => files.push(PathBuf::from(f)),
        }
    }
    if files.is_empty() {
        let dir = std::env::var_os("CTSSL_CONFORMANCE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/conformance"))
            .join("dicom");
        files = vec![dir.join("CT_small.dcm"), dir.join("693_J2KI.dcm")];
    }
    let mut slices = Vec::new();
    for f in &files {
        let ct = read_image_with(f, &ReadOptions::for_training())?;
        let (rows, cols) = (ct.header.rows as usize, ct.header.cols as usize);
        let frame = ct.frame(0).ok_or("file without frames")?.to_vec();
        let img = Image::from_vec(rows, cols, frame)?;
        let (lo, hi) = img.min_max();
        println!("{}: {rows}x{cols}, HU {lo:.0}..{hi:.0}", f.display());
        slices.push(img);
    }
    std::fs::create_dir_all(&out)?;
    for id in BuiltinRecipe::ALL {
        let recipe = id.recipe(size);
        let sizes = recipe.view_sizes();
        let n_rows = slices.len() * ROWS_PER_SLICE;
        let width = GAP + (size + GAP) * (1 + sizes.len());
        let height = GAP + (size + GAP) * n_rows;
        let mut canvas = image::GrayImage::from_pixel(width as u32, height as u32, image::Luma([40]));
        for (s, slice) in slices.iter().enumerate() {
            let mut original = resize(slice, size, size, true)?;
            WIDE_WINDOW.apply_in_place(&mut original.data);
            for r in 0..ROWS_PER_SLICE {
                let row = s * ROWS_PER_SLICE + r;
                let y = GAP + row * (size + GAP);
                draw(&mut canvas, &original, GAP, y);
                let views = recipe.make_views(slice, seed, 0, row as u64)?;
                for (k, v) in views.iter().enumerate() {
                    draw(&mut canvas, v, GAP + (k + 1) * (size + GAP), y);
                }
            }
        }
        let path = out.join(format!("{id}_{size}px.png"));
        canvas.save(&path)?;
        println!("wrote {} ({} views per sample)", path.display(), sizes.len());
    }
    Ok(())
}

/// Draw channel 0 of `img` (values in `[0, 1]`) with its top-left corner at `(x0, y0)`.
fn draw(canvas: &mut image::GrayImage, img: &Image, x0: usize, y0: usize) {
    for y in 0..img.height {
        for x in 0..img.width {
            let v = (img.at(0, y, x).clamp(0.0, 1.0) * 255.0).round() as u8;
            canvas.put_pixel((x0 + x) as u32, (y0 + y) as u32, image::Luma([v]));
        }
    }
}
