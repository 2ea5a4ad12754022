//! A convolution followed by training-mode batch norm (and a ReLU) as one custom op.
//!
//! Apart, the two ops hand the convolution's output to candle's autograd, which gives its gradient a
//! zero-filled accumulator and adds batch norm's input gradient into it: two passes over an
//! activation-sized buffer, on one thread, for every convolution of a ResNet. Fused, batch norm's input
//! gradient goes straight into the convolution's backward pass. The arithmetic is that of
//! [`super::conv`] and [`super::batch_norm`], so results equal the two ops applied in turn.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::batch_norm::{running_update, BatchNormTrain};
use super::conv::{backward_input, backward_weight, both_if_needed, forward};
use super::{dispatch, input_slice, tensor_from, with_slice, Real};
use crate::error::KernelError;
use crate::params::{BatchNormParams, ConvGeometry};
use crate::profile::{self, Kind};

/// The fused op; the convolution's output is kept for the backward pass.
struct ConvBnTrain {
    g: ConvGeometry,
    bn: BatchNormTrain,
    conv_out: Mutex<Option<Tensor>>,
}

impl ConvBnTrain {
    fn forward<T: Real>(&self, x: &[T], w: &[T], wb: &[T]) -> Result<Vec<T>> {
        let c = self.g.c_out;
        let z = forward(&self.g, x, w)?;
        let y = profile::timed(Kind::BatchNormForward, || self.bn.forward(&z, &wb[..c], &wb[c..]));
        if let Ok(mut slot) = self.conv_out.lock() {
            *slot = Some(tensor_from(z, &[self.g.n, c, self.g.oh, self.g.ow])?);
        }
        Ok(y)
    }
}

impl CustomOp3 for ConvBnTrain {
    fn name(&self) -> &'static str {
        "ctssl-conv2d-batch-norm2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = dispatch!(name, super::storage_dtype(s1), T => {
            let x = input_slice::<T>(name, s1, l1)?;
            let w = input_slice::<T>(name, s2, l2)?;
            let wb = input_slice::<T>(name, s3, l3)?;
            Ok(T::storage(self.forward(x, w, wb)?))
        })?;
        Ok((out, Shape::from((self.g.n, self.g.c_out, self.g.oh, self.g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        wb: &Tensor,
        res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let name = self.name();
        let (g, c) = (&self.g, self.g.c_out);
        let kept = self.conv_out.lock().ok().and_then(|s| s.clone());
        let stats = self.bn.stats.lock().ok().and_then(|s| s.clone());
        let (Some(z), Some(stats)) = (kept, stats) else {
            return Err(KernelError::shape(name, "backward pass without a forward pass"));
        };
        dispatch!(name, x.dtype(), T => {
            with_slice::<T, _>(name, wb, |wbs| {
                let (dz, dgamma, dbeta) = with_slice::<T, _>(name, &z, |zs| {
                    with_slice::<T, _>(name, dy, |dys| {
                        with_slice::<T, _>(name, res, |ys| {
                            let relu_out = if self.bn.relu { Some(ys) } else { None };
                            Ok(profile::timed(Kind::BatchNormBackward, || {
                                self.bn.backward(zs, &wbs[..c], dys, relu_out, &stats)
                            }))
                        })
                    })
                })?;
                let dwb = tensor_from([dgamma, dbeta].concat(), &[2, c])?;
                with_slice::<T, _>(name, x, |xs| {
                    with_slice::<T, _>(name, w, |ws| {
                        let (dx, dw) = both_if_needed(
                            (x.track_op(), || backward_input(g, &dz, ws)),
                            (w.track_op(), || backward_weight(g, xs, &dz)),
                        );
                        Ok((
                            dx.map(|d| tensor_from(d?, x.dims())).transpose()?,
                            dw.map(|d| tensor_from(d?, w.dims())).transpose()?,
                            wb.track_op().then_some(dwb),
                        ))
                    })
                })
            })
        })
    }
}

/// Convolution then training-mode batch norm (then a ReLU when `relu`) on the CPU: the output and the
/// new running statistics. `gamma_beta` is `[2, c_out]` (batch norm's weight, then its bias).
pub fn conv2d_batch_norm2d(
    x: &Tensor,
    w: &Tensor,
    gamma_beta: &Tensor,
    running: (&Tensor, &Tensor),
    g: ConvGeometry,
    p: BatchNormParams,
    relu: bool,
) -> Result<(Tensor, (Tensor, Tensor))> {
    const OP: &str = "conv2d_batch_norm2d";
    let m = g.n * g.oh * g.ow;
    if m < 2 {
        return Err(KernelError::shape(OP, "training needs more than one value per channel"));
    }
    let stats = Arc::new(Mutex::new(None));
    let bn = BatchNormTrain { n: g.n, c: g.c_out, hw: g.oh * g.ow, eps: p.eps, relu, stats: stats.clone() };
    let op = ConvBnTrain { g, bn, conv_out: Mutex::new(None) };
    let y = x.contiguous()?.apply_op3(&w.contiguous()?, &gamma_beta.contiguous()?, op)?;
    let new_running = running_update(OP, &stats, running.0, running.1, m, p)?;
    Ok((y, new_running))
}
