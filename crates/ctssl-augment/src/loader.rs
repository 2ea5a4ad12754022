//! The batch loader: epoch order (sequential, shuffled or class-balanced, seeded per epoch), views made in
//! parallel with rayon, collated into candle tensors, prefetched on a background thread through a
//! bounded channel.
//!
//! Sample `p` of epoch `e` (its position in the epoch's order) draws every random number from
//! `(seed, e, p, view)`, so a batch is the same whatever the number of threads.

use std::sync::Arc;
use std::thread::JoinHandle;

use candle_core::{Device, Tensor};
use crossbeam_channel::{bounded, Receiver};
use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::collate::collate_views;
use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::recipe::Recipe;
use crate::rng::epoch_rng;
use crate::source::SliceSource;

/// The order in which an epoch visits the slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sampling {
    /// 0, 1, 2, … every epoch.
    Sequential,
    /// A permutation drawn from `(seed, epoch)`: every slice exactly once.
    Shuffle,
    /// `len` draws with replacement, each class equally likely, then a slice uniformly within the class
    /// (PyTorch's `WeightedRandomSampler` with weights `1 / class count`). Needs labels.
    ClassBalanced,
}

/// How batches are made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Epoch order.
    pub sampling: Sampling,
    /// Drop the last batch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Seed of the order and of every view.
    pub seed: u64,
    /// Batches made ahead of the consumer (bounded channel capacity, at least 1).
    pub prefetch: usize,
    /// Worker threads for view generation (`None`: rayon's global pool).
    pub threads: Option<usize>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            sampling: Sampling::Shuffle,
            drop_last: true,
            seed: 0,
            prefetch: 4,
            threads: None,
        }
    }
}

/// One batch: the views of `indices`, and their labels when the loader has labels.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Epoch this batch belongs to.
    pub epoch: u64,
    /// Batch number within the epoch.
    pub batch: usize,
    /// Slice indices (into the source) of the samples, in batch order.
    pub indices: Vec<usize>,
    /// `views[k]`: view `k` of every sample, `[B, C, H, W]` `f32`.
    pub views: Vec<Tensor>,
    /// Labels, `[B]` `u32` (fine-tuning batches).
    pub labels: Option<Tensor>,
}

/// Makes batches of views from a [`SliceSource`] with a [`Recipe`].
pub struct Loader<S: SliceSource + 'static> {
    /// The slices.
    source: Arc<S>,
    /// The views.
    recipe: Arc<Recipe>,
    /// One label per slice, when set.
    labels: Option<Arc<Vec<u32>>>,
    /// Settings.
    config: LoaderConfig,
    /// Dedicated pool when `config.threads` is set.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Where tensors are created.
    device: Device,
}

impl<S: SliceSource + 'static> Loader<S> {
    /// A loader producing tensors on the CPU; checks the recipe and the config.
    pub fn new(source: S, recipe: Recipe, config: LoaderConfig) -> Result<Self> {
        recipe.validate()?;
        if config.batch_size == 0 {
            return Err(AugmentError::InvalidConfig("batch size 0".into()));
        }
        if config.sampling == Sampling::ClassBalanced {
            return Err(AugmentError::InvalidConfig(
                "class-balanced sampling needs labels: use Loader::labeled".into(),
            ));
        }
        let pool = match config.threads {
            Some(n) => Some(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .thread_name(|i| format!("ctssl-augment-{i}"))
                    .build()?,
            )),
            None => None,
        };
        Ok(Loader {
            source: Arc::new(source),
            recipe: Arc::new(recipe),
            labels: None,
            config,
            pool,
            device: Device::Cpu,
        })
    }

    /// A loader of labeled batches (fine-tuning): one label per slice; allows [`Sampling::ClassBalanced`].
    pub fn labeled(source: S, labels: Vec<u32>, recipe: Recipe, config: LoaderConfig) -> Result<Self> {
        if labels.len() != source.len() {
            return Err(AugmentError::InvalidConfig(format!("{} labels for {} slices", labels.len(), source.len())));
        }
        let sampling = config.sampling;
        let mut loader = Loader::new(source, recipe, LoaderConfig { sampling: Sampling::Shuffle, ..config })?;
        loader.config.sampling = sampling;
        loader.labels = Some(Arc::new(labels));
        Ok(loader)
    }

    /// Create tensors on `device` instead of the CPU.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The recipe.
    pub fn recipe(&self) -> &Recipe {
        &self.recipe
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Number of samples in an epoch (the source's length).
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// Number of batches in an epoch.
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The order of epoch `epoch`: slice indices, one per position.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        epoch_order(
            self.len(),
            self.labels.as_deref().map(|v| v.as_slice()),
            self.config.sampling,
            self.config.seed,
            epoch,
        )
    }

    /// Make batch `batch` of `epoch` now, on the calling thread (views in parallel).
    pub fn batch(&self, epoch: u64, batch: usize) -> Result<Batch> {
        let order = self.epoch_order(epoch);
        self.batch_from_order(&order, epoch, batch)
    }

    /// Make a batch from a precomputed order.
    fn batch_from_order(&self, order: &[usize], epoch: u64, batch: usize) -> Result<Batch> {
        let job = BatchJob {
            source: &*self.source,
            recipe: &self.recipe,
            labels: self.labels.as_deref().map(|v| v.as_slice()),
            config: &self.config,
            device: &self.device,
        };
        match &self.pool {
            Some(pool) => pool.install(|| job.run(order, epoch, batch)),
            None => job.run(order, epoch, batch),
        }
    }

    /// Iterate over the batches of `epoch`, made on a background thread up to `prefetch` batches ahead.
    pub fn epoch(&self, epoch: u64) -> EpochIter {
        let (tx, rx) = bounded(self.config.prefetch.max(1));
        let shared = Loader {
            source: Arc::clone(&self.source),
            recipe: Arc::clone(&self.recipe),
            labels: self.labels.clone(),
            config: self.config,
            pool: self.pool.clone(),
            device: self.device.clone(),
        };
        let n = self.num_batches();
        let handle = std::thread::Builder::new().name("ctssl-augment-prefetch".into()).spawn(move || {
            let order = shared.epoch_order(epoch);
            for b in 0..n {
                let result = shared.batch_from_order(&order, epoch, b);
                let failed = result.is_err();
                if tx.send(result).is_err() || failed {
                    break; // the consumer is gone, or this epoch cannot go on
                }
            }
        });
        match handle {
            Ok(h) => EpochIter { rx: Some(rx), handle: Some(h), spawn_error: None },
            Err(e) => EpochIter { rx: None, handle: None, spawn_error: Some(e.to_string()) },
        }
    }
}

/// The order of an epoch (see [`Sampling`]); `labels` is needed for [`Sampling::ClassBalanced`] (without
/// labels it falls back to a shuffle).
pub fn epoch_order(len: usize, labels: Option<&[u32]>, sampling: Sampling, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = epoch_rng(seed, epoch);
    match (sampling, labels) {
        (Sampling::Sequential, _) => (0..len).collect(),
        (Sampling::ClassBalanced, Some(labels)) if !labels.is_empty() => {
            let mut classes: Vec<u32> = labels.to_vec();
            classes.sort_unstable();
            classes.dedup();
            let members: Vec<Vec<usize>> = classes
                .iter()
                .map(|c| labels.iter().enumerate().filter(|(_, l)| *l == c).map(|(i, _)| i).collect())
                .collect();
            (0..len)
                .map(|_| {
                    let class = &members[rng.random_range(0..members.len())];
                    class[rng.random_range(0..class.len())]
                })
                .collect()
        }
        _ => {
            let mut order: Vec<usize> = (0..len).collect();
            // Fisher–Yates.
            for i in (1..len).rev() {
                let j = rng.random_range(0..=i);
                order.swap(i, j);
            }
            order
        }
    }
}

/// What one batch needs, borrowed.
struct BatchJob<'a, S: ?Sized> {
    /// The slices.
    source: &'a S,
    /// The views.
    recipe: &'a Recipe,
    /// Labels, if any.
    labels: Option<&'a [u32]>,
    /// Settings.
    config: &'a LoaderConfig,
    /// Tensor device.
    device: &'a Device,
}

impl<S: SliceSource + ?Sized> BatchJob<'_, S> {
    /// Make batch `batch` of the epoch whose order is `order` (in the current rayon pool).
    fn run(&self, order: &[usize], epoch: u64, batch: usize) -> Result<Batch> {
        let bs = self.config.batch_size;
        let start = batch * bs;
        let end = (start + bs).min(order.len());
        if start >= end {
            return Err(AugmentError::InvalidConfig(format!("batch {batch} is past the end of the epoch")));
        }
        let seed = self.config.seed;
        let samples: Vec<Vec<Image>> = (start..end)
            .into_par_iter()
            .map(|position| {
                let slice = self.source.get(order[position])?;
                self.recipe.make_views(&slice.image, seed, epoch, position as u64)
            })
            .collect::<Result<_>>()?;
        let views = collate_views(&samples, self.device)?;
        let indices = order[start..end].to_vec();
        let labels = match self.labels {
            Some(l) => {
                let v: Vec<u32> = indices
                    .iter()
                    .map(|&i| l.get(i).copied().ok_or(AugmentError::OutOfRange { index: i, len: l.len() }))
                    .collect::<Result<_>>()?;
                let n = v.len();
                Some(Tensor::from_vec(v, n, self.device)?)
            }
            None => None,
        };
        Ok(Batch { epoch, batch, indices, views, labels })
    }
}

/// The batches of one epoch, arriving from the prefetch thread. Dropping it stops the thread.
pub struct EpochIter {
    /// Receiving end of the bounded channel.
    rx: Option<Receiver<Result<Batch>>>,
    /// The producer.
    handle: Option<JoinHandle<()>>,
    /// Set when the thread could not be started.
    spawn_error: Option<String>,
}

impl Iterator for EpochIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if let Some(e) = self.spawn_error.take() {
            return Some(Err(AugmentError::Loader(e)));
        }
        match self.rx.as_ref()?.recv() {
            Ok(batch) => Some(batch),
            Err(_) => {
                // Channel closed: the producer finished (or panicked).
                self.rx = None;
                match self.handle.take().map(|h| h.join()) {
                    Some(Err(_)) => Some(Err(AugmentError::Loader("the prefetch thread panicked".into()))),
                    _ => None,
                }
            }
        }
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        // Close the channel first so that a producer blocked on `send` returns, then wait for it.
        self.rx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
