//! The truly sparse execution path of the encoder: the same network as the dense-masked path, computed
//! on compact rows (visible positions only) from the input to the last stage.
//!
//! Input → gather of the visible pixels → per convolution a [`sparse_conv2d`] through the neighbour
//! table of its kernel, stride and padding → [`SparseBatchNorm`] (fused with the ReLU that follows) →
//! [`sparse_max_pool2d`] after the ImageNet stem → residual sums on rows. Nothing is computed at a
//! masked position, and nothing needs masking afterwards: a masked position is simply not a row.

use std::sync::Arc;

use candle_core::{DType, Tensor};
use ctssl_backbones::{BatchNorm2d, Block, Conv2d, Stem};

use crate::encoder::SparseEncoder;
use crate::error::{Result, SparseError};
use crate::sparse_bn::SparseBatchNorm;
use crate::sparse_conv::sparse_conv2d;
use crate::sparse_layout::{ActiveLevel, SparseLayout};
use crate::sparse_pool::sparse_max_pool2d;
use crate::sparse_scatter::{gather_visible, scatter_visible};

/// A feature map of the sparse path: rows `[A, C]` at the visible positions of one resolution.
#[derive(Debug, Clone)]
pub struct SparseMap {
    /// `[A, C]`, one row per visible position (raster order).
    pub rows: Tensor,
    /// The resolution and its visible positions.
    pub level: Arc<ActiveLevel>,
}

impl SparseMap {
    /// The dense `[N, C, H, W]` map, zero at masked positions (differentiable).
    pub fn to_dense(&self) -> Result<Tensor> {
        scatter_visible(&self.rows, &self.level)
    }
}

impl SparseEncoder {
    /// The four stage maps of `x: [N, C, H, W]` on the sparse path, as compact rows; `layout` must be
    /// the layout of a mask made for `x` (see [`SparseEncoder::forward_check`]).
    pub fn forward_compact(&self, x: &Tensor, layout: &SparseLayout, train: bool) -> Result<[SparseMap; 4]> {
        let bb = self.backbone();
        let level = Arc::clone(layout.at_stride(1)?);
        let rows = gather_visible(x, &level)?;
        let mut y = SparseMap { rows, level };
        y = self.conv(bb.conv1(), &y, layout)?;
        y = self.sparse_bn(bb.bn1(), "bn1", y, true, train)?;
        if bb.config().stem == Stem::ImageNet {
            let (table, to) = layout.table(&y.level, 3, 2, 1)?;
            y = SparseMap { rows: sparse_max_pool2d(&y.rows, &table)?, level: to };
        }
        let mut maps = Vec::with_capacity(4);
        for s in 0..4 {
            for (i, block) in bb.stage(s).iter().enumerate() {
                y = self.sparse_block(block, &format!("layer{}.{i}", s + 1), &y, layout, train)?;
            }
            maps.push(y.clone());
        }
        maps.try_into().map_err(|_| SparseError::InvalidConfig("a ResNet has exactly four stages".into()))
    }

    fn conv(&self, conv: &Conv2d, x: &SparseMap, layout: &SparseLayout) -> Result<SparseMap> {
        let w = conv.weight().as_tensor();
        let k = w.dims4()?.2;
        let (table, to) = layout.table(&x.level, k, conv.stride(), conv.padding())?;
        Ok(SparseMap { rows: sparse_conv2d(&x.rows, w, &table)?, level: to })
    }

    fn sparse_block(
        &self,
        block: &Block,
        prefix: &str,
        x: &SparseMap,
        layout: &SparseLayout,
        train: bool,
    ) -> Result<SparseMap> {
        let residual = match block {
            Block::Basic { conv1, bn1, conv2, bn2, .. } => {
                let y = self.conv(conv1, x, layout)?;
                let y = self.sparse_bn(bn1, &format!("{prefix}.bn1"), y, true, train)?;
                let y = self.conv(conv2, &y, layout)?;
                self.sparse_bn(bn2, &format!("{prefix}.bn2"), y, false, train)?
            }
            Block::Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, .. } => {
                let y = self.conv(conv1, x, layout)?;
                let y = self.sparse_bn(bn1, &format!("{prefix}.bn1"), y, true, train)?;
                let y = self.conv(conv2, &y, layout)?;
                let y = self.sparse_bn(bn2, &format!("{prefix}.bn2"), y, true, train)?;
                let y = self.conv(conv3, &y, layout)?;
                self.sparse_bn(bn3, &format!("{prefix}.bn3"), y, false, train)?
            }
        };
        let shortcut = match block.downsample_layer() {
            Some(d) => {
                let y = self.conv(&d.conv, x, layout)?;
                self.sparse_bn(&d.bn, &format!("{prefix}.downsample.1"), y, false, train)?
            }
            None => x.clone(),
        };
        if !Arc::ptr_eq(&residual.level, &shortcut.level) {
            return Err(SparseError::InvalidInput(format!("{prefix}: residual and shortcut resolutions differ")));
        }
        // candle's ReLU (gradient passes at 0), as the dense-masked path.
        let rows = (residual.rows + shortcut.rows)?.relu()?;
        Ok(SparseMap { rows, level: residual.level })
    }

    fn sparse_bn(&self, bn: &BatchNorm2d, name: &str, x: SparseMap, relu: bool, train: bool) -> Result<SparseMap> {
        let cfg = self.backbone().config();
        let layer = SparseBatchNorm {
            weight: bn.weight().as_tensor(),
            bias: bn.bias().as_tensor(),
            running_mean: bn.running_mean(),
            running_var: bn.running_var(),
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let rows = layer.forward(&x.rows, relu, train)?;
        if train {
            let counter_name = format!("{name}.num_batches_tracked");
            if let Some(counter) = self.backbone().params().get(&counter_name) {
                let one = Tensor::ones((), DType::I64, counter.var.device())?;
                counter.var.set(&(counter.var.as_tensor() + one)?)?;
            }
        }
        Ok(SparseMap { rows, level: x.level })
    }
}
