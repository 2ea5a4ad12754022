//! MoCo's queue of negative keys (also SwAV's feature queue): a fixed-size ring of L2-normalised,
//! detached rows; enqueuing a batch overwrites the oldest rows.

use candle_core::{DType, Device, Tensor};
use ctssl_kernels::ops::l2_normalize;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{ContrastiveError, Result};
use crate::tensor_ops::dims2;

/// A ring buffer of `size` keys of `dim` features.
#[derive(Debug, Clone)]
pub struct KeyQueue {
    keys: Tensor,
    pointer: usize,
    filled: usize,
}

impl KeyQueue {
    /// MoCo's start: `size` random unit keys from `seed` (the queue counts as full).
    pub fn new_random(size: usize, dim: usize, seed: u64, dtype: DType, device: &Device) -> Result<Self> {
        check_sizes(size, dim)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f64> = (0..size * dim).map(|_| StandardNormal.sample(&mut rng)).collect();
        let keys = l2_normalize(&Tensor::from_vec(v, (size, dim), device)?)?.to_dtype(dtype)?;
        Ok(Self { keys, pointer: 0, filled: size })
    }

    /// SwAV's start: an empty queue (zeros), filled by [`Self::enqueue`].
    pub fn new_empty(size: usize, dim: usize, dtype: DType, device: &Device) -> Result<Self> {
        check_sizes(size, dim)?;
        Ok(Self { keys: Tensor::zeros((size, dim), dtype, device)?, pointer: 0, filled: 0 })
    }

    /// Capacity.
    pub fn size(&self) -> usize {
        self.keys.dims()[0]
    }

    /// Key dimension.
    pub fn dim(&self) -> usize {
        self.keys.dims()[1]
    }

    /// Whether every slot holds a key.
    pub fn is_full(&self) -> bool {
        self.filled == self.size()
    }

    /// Number of slots holding a key.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// Whether no key was stored yet.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// The slot the next key goes to.
    pub fn pointer(&self) -> usize {
        self.pointer
    }

    /// All `[size, dim]` slots (detached; unfilled slots are zero).
    pub fn keys(&self) -> &Tensor {
        &self.keys
    }

    /// The filled slots only `[len, dim]` (for a queue that is not full yet).
    pub fn filled_keys(&self) -> Result<Tensor> {
        Ok(self.keys.narrow(0, 0, self.filled)?)
    }

    /// Normalises and stores `batch` `[n, dim]` (detached) at the pointer, wrapping around and overwriting
    /// the oldest keys (enqueue + dequeue); `n` must not exceed the size.
    pub fn enqueue(&mut self, batch: &Tensor) -> Result<()> {
        const OP: &str = "KeyQueue::enqueue";
        let (n, d) = dims2(OP, "batch", batch)?;
        if d != self.dim() || n > self.size() {
            return Err(ContrastiveError::shape(
                OP,
                format!("batch {:?} does not fit queue {:?}", batch.dims(), self.keys.dims()),
            ));
        }
        let rows = l2_normalize(&batch.detach())?.to_dtype(self.keys.dtype())?;
        let first = n.min(self.size() - self.pointer);
        let mut keys =
            self.keys.slice_assign(&[self.pointer..self.pointer + first, 0..d], &rows.narrow(0, 0, first)?)?;
        if first < n {
            keys = keys.slice_assign(&[0..n - first, 0..d], &rows.narrow(0, first, n - first)?)?;
        }
        self.keys = keys;
        self.pointer = (self.pointer + n) % self.size();
        self.filled = (self.filled + n).min(self.size());
        Ok(())
    }

    /// The state for a checkpoint: the keys `[size, dim]` and `[pointer, filled]` as an `i64` tensor.
    pub fn state(&self) -> Result<(Tensor, Tensor)> {
        let meta = Tensor::new(&[self.pointer as i64, self.filled as i64], self.keys.device())?;
        Ok((self.keys.clone(), meta))
    }

    /// Rebuilds a queue from [`Self::state`].
    pub fn from_state(keys: &Tensor, meta: &Tensor) -> Result<Self> {
        const OP: &str = "KeyQueue::from_state";
        let (size, _) = dims2(OP, "keys", keys)?;
        let meta = meta.to_dtype(DType::I64)?.to_vec1::<i64>()?;
        let [pointer, filled] = meta[..] else {
            return Err(ContrastiveError::shape(OP, "meta must hold [pointer, filled]"));
        };
        if pointer < 0 || filled < 0 || pointer as usize >= size || filled as usize > size {
            return Err(ContrastiveError::param(OP, format!("pointer {pointer} / filled {filled} out of range")));
        }
        Ok(Self { keys: keys.detach(), pointer: pointer as usize, filled: filled as usize })
    }
}

fn check_sizes(size: usize, dim: usize) -> Result<()> {
    if size == 0 || dim == 0 {
        return Err(ContrastiveError::param("KeyQueue", "size and dim must be positive"));
    }
    Ok(())
}
