//! A convolution followed by batch norm (and a ReLU): the pairs of a ResNet, fused on the CPU in training.

use candle_core::{Result, Tensor};

use super::batch_norm::{batch_norm2d, batch_norm2d_relu, check_params};
use super::conv::conv2d;
use crate::params::{BatchNormParams, Conv2dParams, ConvGeometry};

/// `batch_norm2d(conv2d(x, w, conv), weight, bias, running_mean, running_var, bn)`, then `max(·, 0)`
/// when `relu`; same results as the two (or three) ops in turn.
///
/// In training on the CPU this is one op: batch norm's input gradient goes straight into the
/// convolution's backward pass instead of through an accumulator of candle's autograd (two passes over
/// the convolution's output, on one thread). Elsewhere it composes [`conv2d`] and [`batch_norm2d`] /
/// [`batch_norm2d_relu`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d_batch_norm2d(
    x: &Tensor,
    w: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    running_mean: &Tensor,
    running_var: &Tensor,
    conv: Conv2dParams,
    bn: BatchNormParams,
    relu: bool,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    const OP: &str = "conv2d_batch_norm2d";
    if bn.training && super::use_cpu_kernels(&[x, w, weight, bias, running_mean, running_var]) {
        let g = ConvGeometry::new(x.dims(), w.dims(), conv)?;
        check_params(OP, g.c_out, weight, bias, running_mean, running_var, bn)?;
        let gamma_beta = Tensor::stack(&[weight, bias], 0)?;
        let (y, running) =
            crate::cpu::conv_bn::conv2d_batch_norm2d(x, w, &gamma_beta, (running_mean, running_var), g, bn, relu)?;
        return Ok((y, Some(running)));
    }
    let z = conv2d(x, w, conv)?;
    let f = if relu { batch_norm2d_relu } else { batch_norm2d };
    f(&z, weight, bias, running_mean, running_var, bn)
}
