//! Views per second per recipe at 64, 128 and 224 px, one thread, from a 512 × 512 HU slice; and the
//! loader's throughput (batches of 64, all cores, prefetching) for the study recipe at 64 px.
//!
//! ```text
//! cargo bench -p ctssl-augment --bench views
//! ```
//! Criterion's `thrpt` is in views per second (elements = views per sample).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ctssl_augment::{Image, InMemorySlices, Loader, LoaderConfig, Recipe};

/// Recipes measured (the pre-training ones).
const RECIPES: &[&str] = &["simclr", "moco_v2", "byol", "swav", "dino", "spark", "study", "study_multi_crop"];

/// A 512 × 512 chest-like slice in HU: air, body, two lungs, a vertebra, with a deterministic texture.
fn phantom(n: usize, seed: u64) -> Image {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let c = n as f32 / 2.0;
    let data = (0..n * n)
        .map(|i| {
            let (y, x) = ((i / n) as f32 - c, (i % n) as f32 - c);
            let body = (y / (0.42 * n as f32)).powi(2) + (x / (0.46 * n as f32)).powi(2) < 1.0;
            let lung =
                |o: f32| ((x - o * n as f32) / (0.15 * n as f32)).powi(2) + (y / (0.28 * n as f32)).powi(2) < 1.0;
            let bone = (x * x + (y - 0.3 * n as f32).powi(2)).sqrt() < 0.05 * n as f32;
            let base = if !body {
                -1000.0
            } else if bone {
                700.0
            } else if lung(-0.2) || lung(0.2) {
                -850.0
            } else {
                40.0
            };
            base + if body { 30.0 * next() - 15.0 } else { 0.0 }
        })
        .collect();
    Image::from_vec(n, n, data).expect("phantom shape")
}

fn recipes(c: &mut Criterion) {
    let slice = phantom(512, 1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut group = c.benchmark_group("views_1_thread");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for size in [64usize, 128, 224] {
        for name in RECIPES {
            let recipe = Recipe::by_name(name, size).expect("recipe");
            group.throughput(Throughput::Elements(recipe.num_views() as u64));
            let mut position = 0u64;
            group.bench_function(BenchmarkId::new(*name, size), |b| {
                b.iter(|| {
                    position += 1;
                    pool.install(|| recipe.make_views(&slice, 0, 0, position).expect("views"))
                })
            });
        }
    }
    group.finish();
}

fn loader(c: &mut Criterion) {
    let mut slices = InMemorySlices::new();
    for i in 0..256 {
        slices.push(phantom(512, i), format!("p{i}")).expect("push");
    }
    let config = LoaderConfig { batch_size: 64, prefetch: 4, drop_last: true, ..LoaderConfig::default() };
    let loader = Loader::new(slices, Recipe::study(64), config).expect("loader");
    let mut group = c.benchmark_group("loader_all_threads");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(4));
    // One epoch = 4 batches of 64 samples × 2 views.
    group.throughput(Throughput::Elements(4 * 64 * 2));
    let mut epoch = 0u64;
    group.bench_function(BenchmarkId::new("study_epoch_256", 64), |b| {
        b.iter(|| {
            epoch += 1;
            loader.epoch(epoch).map(|r| r.expect("batch").views.len()).sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, recipes, loader);
criterion_main!(benches);
