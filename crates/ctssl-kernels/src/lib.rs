//! Fast CPU training ops for the ResNets of ctssl, as candle custom ops with a backward pass.
//!
//! [`ops`] holds the public functions — [`ops::conv2d`], [`ops::conv_transpose2d`], [`ops::batch_norm2d`], [`ops::batch_norm2d_relu`],
//! [`ops::max_pool2d`], [`ops::global_avg_pool`], [`ops::softmax_last_dim`], [`ops::log_softmax`],
//! [`ops::layer_norm`](fn@ops::layer_norm), [`ops::l2_normalize`], [`ops::relu`], [`ops::add_relu`], [`ops::upsample_nearest2d`], [`ops::upsample_bilinear2d`] — over candle tensors
//! (`f32` or `f64`, NCHW for images). Each is differentiable through candle's autograd (`Var`,
//! `Tensor::backward`). On the CPU they run the kernels of [`cpu`]; on any other device they fall back to
//! [`ops::reference`], built from candle's own primitives.
//! Their parameter and shape types ([`params::Conv2dParams`], [`params::ConvGeometry`], ...) live in
//! [`params`], on which both [`ops`] and [`cpu`] build.
//!
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use ctssl_kernels::ops::{self, Conv2dParams};
//!
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 9, 9), &dev)?)?;
//! let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (4, 3, 3, 3), &dev)?)?;
//! let y = ops::conv2d(&x, &w, Conv2dParams { stride: 2, padding: 1, dilation: 1 })?;
//! assert_eq!(y.dims(), &[2, 4, 5, 5]);
//! let grads = y.sqr()?.sum_all()?.backward()?;
//! assert_eq!(grads.get(&w).map(|g| g.dims().to_vec()), Some(vec![4, 3, 3, 3]));
//! # Ok(())
//! # }
//! ```
//!
//! # Allocator
//!
//! Every op returns a freshly allocated tensor, and a training step allocates and frees hundreds of
//! buffers of megabytes. With the system allocator (glibc) such large blocks are `mmap`ed and returned
//! to the kernel on `free`, so each new one page-faults on first touch; a caching allocator such as
//! mimalloc keeps them. Benches and examples should therefore declare
//! `#[global_allocator] static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;` (see `benches/ops.rs`
//! and the README for the measured difference). Setting mimalloc's purge delay to −1 at the start of
//! `main` keeps freed pages mapped, so steady-state training steps take no page faults; and
//! [`runtime::configure_candle_threads`], called before candle starts, sizes candle's own elementwise
//! pool (the gradient sums of `Tensor::backward`) as rayon's and stops its workers from spinning between
//! ops, where they would compete with rayon's threads on a small machine.
//!
//! [`runtime::init_thread_pool`] puts the calling thread into rayon's global pool, which spares every
//! kernel call a hand-over to the pool's threads.
//!
//! [`profile`] times the kernels by kind of work when switched on (`CTSSL_KERNEL_PROFILE=1`).

pub mod cpu;
pub mod error;
pub mod ops;
pub mod params;
pub mod profile;
pub mod runtime;

pub use error::KernelError;
