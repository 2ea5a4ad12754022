//! Views per second per recipe at 64, 128 and 224 px, one thread, from a 512 × 512 HU slice; and the
//! loader's throughput (batches of 64, all cores, prefetching) for the study recipe at 64 px.
//!
//! ```text
//! cargo bench -p ctssl-augment --bench views
//! ```
//! Criterion's `thrpt` is in views per second (elements = views per sample).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ctssl_augment::{chest_phantom, phantom_slices, BuiltinRecipe, Loader, LoaderConfig, Recipe};

fn recipes(c: &mut Criterion) {
    let slice = chest_phantom(512, 512, 1).expect("phantom");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut group = c.benchmark_group("views_1_thread");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    for size in [64usize, 128, 224] {
        for id in BuiltinRecipe::pretraining() {
            let recipe = id.recipe(size);
            group.throughput(Throughput::Elements(recipe.num_views() as u64));
            let mut position = 0u64;
            group.bench_function(BenchmarkId::new(id.name(), size), |b| {
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
    let slices = phantom_slices(256, 512).expect("slices");
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
