//! Reproducibility and the batch loader.

mod common;

use std::collections::BTreeMap;

use common::{conformance, phantom, phantom_slices};
use ctssl_augment::*;
use rayon::prelude::*;

/// Views of `n` phantom slices for every named recipe, made in a pool of `threads` threads.
fn all_views(threads: usize, n: usize) -> Vec<Vec<Image>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let slices: Vec<Image> = (0..n).map(|i| phantom(80, 72, i as u64)).collect();
    pool.install(|| {
        BuiltinRecipe::ALL
            .par_iter()
            .flat_map(|id| {
                let recipe = id.recipe(32);
                slices
                    .par_iter()
                    .enumerate()
                    .map(move |(i, s)| recipe.make_views(s, 11, 3, i as u64).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    })
}

#[test]
fn same_seed_gives_the_same_views_on_1_and_2_threads() {
    let one = all_views(1, 6);
    let two = all_views(2, 6);
    assert_eq!(one, two);
    // And the views are not all the same (the seed matters).
    let recipe = Recipe::study(32);
    let img = phantom(80, 72, 0);
    assert_ne!(recipe.make_views(&img, 1, 0, 0).unwrap(), recipe.make_views(&img, 2, 0, 0).unwrap());
    assert_ne!(recipe.make_views(&img, 1, 0, 0).unwrap(), recipe.make_views(&img, 1, 1, 0).unwrap());
}

fn to_vec(t: &candle_core::Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn loader_batches_do_not_depend_on_the_thread_count() {
    let make = |threads| {
        let config =
            LoaderConfig { batch_size: 5, seed: 42, threads: Some(threads), prefetch: 2, ..LoaderConfig::default() };
        let loader = Loader::new(phantom_slices(12, 48), Recipe::swav(32), config).unwrap();
        loader.epoch(1).map(|b| b.unwrap()).collect::<Vec<_>>()
    };
    let (a, b) = (make(1), make(2));
    assert_eq!(a.len(), 2); // 12 / 5 with drop_last
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.indices, y.indices);
        assert_eq!(x.views.len(), 8);
        for (vx, vy) in x.views.iter().zip(&y.views) {
            assert_eq!(to_vec(vx), to_vec(vy));
        }
    }
}

#[test]
fn every_index_exactly_once_per_epoch_with_shapes_and_determinism() {
    let n = 23;
    let config = LoaderConfig { batch_size: 4, drop_last: false, seed: 5, prefetch: 3, ..LoaderConfig::default() };
    let loader = Loader::new(phantom_slices(n, 40), Recipe::dino(32), config).unwrap();
    assert_eq!(loader.num_batches(), 6);
    let mut orders = Vec::new();
    for epoch in 0..2 {
        let mut seen = vec![0usize; n];
        let mut order = Vec::new();
        for (b, batch) in loader.epoch(epoch).enumerate() {
            let batch = batch.unwrap();
            let bsz = if b == 5 { 3 } else { 4 };
            assert_eq!(batch.indices.len(), bsz);
            assert_eq!(batch.views.len(), 10);
            for (k, v) in batch.views.iter().enumerate() {
                let side = if k < 2 { 32 } else { local_size(32) };
                assert_eq!(v.dims(), &[bsz, 1, side, side]);
                assert_eq!(v.dtype(), candle_core::DType::F32);
            }
            assert!(batch.labels.is_none());
            for &i in &batch.indices {
                seen[i] += 1;
            }
            order.extend(batch.indices);
        }
        assert!(seen.iter().all(|&c| c == 1), "epoch {epoch}: {seen:?}");
        orders.push(order);
    }
    assert_ne!(orders[0], orders[1], "each epoch has its own shuffle");
    assert_eq!(orders[0], loader.epoch_order(0));
    // Re-running an epoch gives identical tensors; the direct batch() agrees with the prefetched one.
    let first: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
    let again = loader.batch(0, 2).unwrap();
    assert_eq!(first[2].indices, again.indices);
    for (x, y) in first[2].views.iter().zip(&again.views) {
        assert_eq!(to_vec(x), to_vec(y));
    }
}

#[test]
fn drop_last_and_sequential_order() {
    let config =
        LoaderConfig { batch_size: 4, drop_last: true, sampling: Sampling::Sequential, ..LoaderConfig::default() };
    let loader = Loader::new(phantom_slices(10, 32), Recipe::spark(16), config).unwrap();
    let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].indices, vec![0, 1, 2, 3]);
    assert_eq!(batches[1].indices, vec![4, 5, 6, 7]);
    assert_eq!(batches[1].views[0].dims(), &[4, 1, 16, 16]);
}

#[test]
fn labeled_and_class_balanced_batches() {
    let n = 40;
    // 36 of class 0, 4 of class 1.
    let labels: Vec<u32> = (0..n).map(|i| u32::from(i % 10 == 0)).collect();
    let config =
        LoaderConfig { batch_size: 8, drop_last: false, sampling: Sampling::Shuffle, ..LoaderConfig::default() };
    let loader = Loader::labeled(phantom_slices(n, 32), labels.clone(), Recipe::finetune(16), config).unwrap();
    for batch in loader.epoch(0) {
        let batch = batch.unwrap();
        let got = batch.labels.unwrap().to_vec1::<u32>().unwrap();
        let want: Vec<u32> = batch.indices.iter().map(|&i| labels[i]).collect();
        assert_eq!(got, want);
    }
    let balanced = Loader::labeled(
        phantom_slices(n, 32),
        labels.clone(),
        Recipe::finetune(16),
        LoaderConfig { sampling: Sampling::ClassBalanced, ..config },
    )
    .unwrap();
    let mut counts = BTreeMap::new();
    for epoch in 0..25 {
        for i in balanced.epoch_order(epoch) {
            *counts.entry(labels[i]).or_insert(0usize) += 1;
        }
    }
    // 1000 draws, each class with probability 1/2: 500 ± 3 sd (≈ 47).
    let minority = counts[&1];
    assert!((450..=550).contains(&minority), "{counts:?}");
    assert_eq!(balanced.epoch_order(3), balanced.epoch_order(3));
    // Class-balanced sampling without labels is refused; wrong label count too.
    assert!(Loader::new(
        phantom_slices(3, 16),
        Recipe::eval(8),
        LoaderConfig { sampling: Sampling::ClassBalanced, ..config }
    )
    .is_err());
    assert!(Loader::labeled(phantom_slices(3, 16), vec![0, 1], Recipe::eval(8), config).is_err());
}

#[test]
fn dropping_an_epoch_early_stops_the_prefetch_thread() {
    let config = LoaderConfig { batch_size: 2, prefetch: 1, ..LoaderConfig::default() };
    let loader = Loader::new(phantom_slices(40, 32), Recipe::simclr(16), config).unwrap();
    let mut it = loader.epoch(0);
    assert!(it.next().unwrap().is_ok());
    drop(it); // must not hang
    assert_eq!(loader.epoch(1).count(), 20);
}

#[test]
fn slice_cache_source_feeds_the_loader() {
    let files = [conformance("CT_small.dcm"), conformance("693_J2KI.dcm")];
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for f in &files {
        std::fs::copy(f, data.join(f.file_name().unwrap())).unwrap();
    }
    let (cache, _) =
        ctssl_io::SliceCache::build_from_files(&[&data], tmp.path().join("cache"), &ctssl_io::CacheOptions::default())
            .unwrap();
    assert!(cache.len() >= 2, "{} slices", cache.len());
    let n = cache.len();
    let first = SliceSource::get(&cache, 0).unwrap();
    assert!(first.image.height > 0 && first.image.channels == 1);
    let config = LoaderConfig { batch_size: 2, drop_last: false, seed: 1, ..LoaderConfig::default() };
    let loader = Loader::new(cache, Recipe::study(32), config).unwrap();
    let mut seen = 0;
    for batch in loader.epoch(0) {
        let batch = batch.unwrap();
        let v = to_vec(&batch.views[0]);
        assert!(v.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x)));
        seen += batch.indices.len();
    }
    assert_eq!(seen, n);
    assert!(SliceSource::get(loader.source(), n).is_err());
    let sub = Subset::new(std::sync::Arc::new(phantom_slices(5, 16)), vec![4, 0]).unwrap();
    assert_eq!(sub.len(), 2);
    assert!(Subset::new(phantom_slices(2, 16), vec![2]).is_err());
}
