//! The public ops: each takes candle tensors (NCHW for images) and returns tensors that carry gradients.
//!
//! On the CPU, for `f32` and `f64`, every op runs this crate's custom kernels (see [`crate::cpu`]); on any
//! other device or dtype, and whenever [`set_cpu_kernels_enabled`]`(false)` was called, it runs the
//! reference implementation of [`reference`](mod@reference), built from candle's own differentiable primitives.

pub mod activation;
pub mod batch_norm;
pub mod conv;
pub mod conv_bn;
pub mod layer_norm;
pub mod normalize;
pub mod pool;
pub mod reference;
pub mod softmax;
pub mod upsample;

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Tensor};

pub use activation::{add_relu, relu};
pub use batch_norm::{batch_norm2d, batch_norm2d_relu};
pub use conv::{conv2d, conv_transpose2d};
pub use conv_bn::conv2d_batch_norm2d;
pub use layer_norm::layer_norm;
pub use normalize::l2_normalize;
pub use pool::{global_avg_pool, max_pool2d};
pub use softmax::{log_softmax, softmax_last_dim};
pub use upsample::{upsample_bilinear2d, upsample_nearest2d};

/// The ops' parameter types, defined in [`crate::params`].
pub use crate::params::{BatchNormParams, Conv2dParams, ConvTranspose2dParams, MaxPool2dParams};

static CPU_KERNELS: AtomicBool = AtomicBool::new(true);

/// Turns this crate's CPU kernels on (the default) or off for the whole process; off, every op runs
/// its [`reference`](mod@reference) implementation (candle's primitives), which is useful to compare the two.
pub fn set_cpu_kernels_enabled(enabled: bool) {
    CPU_KERNELS.store(enabled, Ordering::SeqCst);
}

/// Whether this crate's CPU kernels are on (see [`set_cpu_kernels_enabled`]).
pub fn cpu_kernels_enabled() -> bool {
    CPU_KERNELS.load(Ordering::SeqCst)
}

/// Whether the custom CPU kernels apply to all of `tensors`: kernels on, every tensor on the CPU, same
/// dtype, and that dtype f32 or f64.
pub(crate) fn use_cpu_kernels(tensors: &[&Tensor]) -> bool {
    if !cpu_kernels_enabled() {
        return false;
    }
    let Some(first) = tensors.first() else { return false };
    let dtype = first.dtype();
    matches!(dtype, DType::F32 | DType::F64) && tensors.iter().all(|t| t.device().is_cpu() && t.dtype() == dtype)
}
