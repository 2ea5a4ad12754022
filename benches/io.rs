//! Criterion benches of ctssl-io: decoding a 512×512 uncompressed CT slice to HU, a header-only
//! read, and windowing. For the comparison with pydicom in the same run, see
//! `cargo run --release --example bench_io`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ctssl::io::write::{write_ct_slice, CtSlice, SeriesInfo};
use ctssl::io::{read_header, read_image, read_image_with, HuWindow, ReadOptions};

fn slice_file(dir: &std::path::Path) -> std::path::PathBuf {
    let n = 512usize;
    let values: Vec<f32> = (0..n * n).map(|i| ((i * 7919) % 2400) as f32 - 1000.0).collect();
    let path = dir.join("slice.dcm");
    write_ct_slice(&path, &SeriesInfo::from_seed("bench", 1), &CtSlice::new(values, n as u32, n as u32))
        .expect("write slice");
    path
}

fn io(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = slice_file(dir.path());
    let mut g = c.benchmark_group("ctssl-io");
    g.throughput(Throughput::Elements(1));
    g.bench_function("read_image 512x512 int16 -> HU f32", |b| b.iter(|| read_image(&path).expect("read")));
    g.bench_function("read_image_with for_training 512x512", |b| {
        b.iter(|| read_image_with(&path, &ReadOptions::for_training()).expect("read"))
    });
    g.bench_function("read_header (stops before pixel data)", |b| b.iter(|| read_header(&path).expect("header")));
    let image = read_image(&path).expect("read");
    g.throughput(Throughput::Elements(image.values.len() as u64));
    g.bench_function("HuWindow::apply_in_place 512x512", |b| {
        let mut v = image.values.clone();
        b.iter(|| {
            v.copy_from_slice(&image.values);
            HuWindow::LUNG.apply_in_place(&mut v);
        })
    });
    g.finish();
}

criterion_group!(benches, io);
criterion_main!(benches);
