//! Training core of ctssl: what every pre-training method and every evaluation run goes through.
//!
//! - [`optim`]: SGD (momentum, Nesterov), AdamW, LARS and LAMB over candle `Var`s, with parameter groups
//!   (no weight decay and no trust ratio on batch-norm parameters and biases by default), state saved and
//!   restored as named tensors, gradient clipping by global norm and gradient accumulation;
//! - [`schedule`]: warm-up + cosine (learning rate, weight decay), BYOL's cosine EMA momentum, multi-step;
//! - [`ema`]: the momentum (target) encoder update;
//! - [`checkpoint`]: atomic single-file safetensors checkpoints (model, optimizer, step, epoch, RNG,
//!   config), keep-last-N, latest-for-resume, and the non-finite loss guard;
//! - [`metrics`] and [`stats`]: accuracy, balanced accuracy, ROC-AUC, F1, confusion matrix, and the mean
//!   with a Student-t 95% interval over seeds;
//! - [`progress`]: progress bar or log lines, JSON-lines metrics log; [`csv_log`]: `metrics.csv`;
//! - [`method`]: the [`method::PretrainMethod`] trait every pre-training method implements;
//! - [`trainer`]: the one loop that runs any method, with checkpoints, exact resume and the NaN guard;
//! - [`eval`]: fine-tuning with the study's schedule, linear probe and kNN on features, split by patient.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use ctssl_train::optim::{split_decay, Optimizer, Sgd, SgdConfig};
//! use ctssl_train::schedule::Schedule;
//!
//! # fn main() -> ctssl_train::Result<()> {
//! let w = Var::from_slice(&[1.0f64, -2.0, 0.5, 3.0], (2, 2), &Device::Cpu)?;
//! let b = Var::from_slice(&[0.0f64, 0.0], 2, &Device::Cpu)?;
//! let groups = split_decay(vec![("w".into(), w.clone()), ("b".into(), b.clone())]);
//! let mut opt = Sgd::new(groups, SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 1e-4, ..Default::default() })?;
//! let lr = Schedule::warmup_cosine(0.1, 0.0, 2, 10)?;
//! let x = Tensor::from_slice(&[1.0f64, 2.0], (1, 2), &Device::Cpu)?;
//! for step in 0..10 {
//!     let loss = x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?.sqr()?.sum_all()?;
//!     ctssl_train::checkpoint::check_finite(loss.to_scalar::<f64>()?, step)?;
//!     opt.set_learning_rate(lr.at(step));
//!     opt.step(&loss.backward()?)?;
//! }
//! let auc = ctssl_train::metrics::roc_auc_binary(&[0.9, 0.2, 0.6], &[true, false, false])?;
//! assert_eq!(auc, Some(1.0));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod csv_log;
pub mod ema;
pub mod error;
pub mod eval;
pub mod hold;
pub mod method;
pub mod metrics;
pub mod optim;
pub mod progress;
pub mod run_lock;
pub mod schedule;
pub mod stats;
pub mod trainer;

pub use error::{Result, TrainError};
