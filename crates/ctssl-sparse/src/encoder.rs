//! The sparse encoder: a `ctssl-backbones` ResNet run with SparK's masking semantics, on one of two
//! execution paths ([`ExecutionPath`]).
//!
//! Dense-masked (the reference): the input is zeroed outside the visible cells; every convolution is
//! followed by a batch norm over the visible positions whose output is multiplied by the mask of its
//! resolution, and the max pool's output is masked too, so masked positions are exactly zero after every
//! layer (SparK's submanifold semantics). The convolutions themselves are dense: this path saves no
//! compute. Sparse ([`crate::sparse_encoder`]): the same function computed on the visible positions only.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::{BatchNorm2d, Block, ResNet, Stem};
use ctssl_kernels::ops::{self as k, Conv2dParams, MaxPool2dParams};

use crate::batch_norm::MaskedBatchNorm;
use crate::error::{Result, SparseError};
use crate::mask::{Mask, MaskPyramid};
use crate::sparse_layout::SparseLayout;

/// How the encoder computes its (identical) result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecutionPath {
    /// Dense convolutions on zero-filled maps, outputs multiplied by the mask (SparK's reference code).
    DenseMasked,
    /// Convolutions, batch norm and pooling at visible positions only, on compact rows (CPU tensors; on
    /// another device the encoder falls back to the dense-masked path).
    #[default]
    Sparse,
}

impl ExecutionPath {
    /// `dense` / `sparse` (also `dense-masked`, `dense_masked`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "dense" | "dense-masked" | "dense_masked" => Ok(ExecutionPath::DenseMasked),
            "sparse" => Ok(ExecutionPath::Sparse),
            other => Err(SparseError::InvalidConfig(format!("execution path must be dense or sparse, got `{other}`"))),
        }
    }
}

/// The masked encoder over a backbone; it shares the backbone's variables (same names, same storage).
#[derive(Debug, Clone)]
pub struct SparseEncoder {
    backbone: ResNet,
    path: ExecutionPath,
}

impl SparseEncoder {
    /// Wraps `backbone` (cloning a `ResNet` shares its variables), on the default (sparse) path.
    pub fn new(backbone: ResNet) -> Self {
        SparseEncoder { backbone, path: ExecutionPath::default() }
    }

    /// The same encoder on another execution path (sharing the variables).
    pub fn with_path(mut self, path: ExecutionPath) -> Self {
        self.path = path;
        self
    }

    /// The execution path used by [`forward`](Self::forward).
    pub fn path(&self) -> ExecutionPath {
        self.path
    }

    /// Whether [`forward`](Self::forward) runs the sparse path for an input on `device`.
    pub fn uses_sparse(&self, device: &Device) -> bool {
        self.path == ExecutionPath::Sparse && device.is_cpu()
    }

    /// The backbone whose parameters the encoder uses.
    pub fn backbone(&self) -> &ResNet {
        &self.backbone
    }

    /// The mask patch: the backbone's total stride (32 with the ImageNet stem, 8 with the small stem).
    pub fn patch_size(&self) -> usize {
        self.backbone.config().stage_strides()[3]
    }

    /// Channels of the four stage maps.
    pub fn stage_channels(&self) -> [usize; 4] {
        self.backbone.config().stage_channels()
    }

    /// Strides of the four stage maps relative to the input.
    pub fn stage_strides(&self) -> [usize; 4] {
        self.backbone.config().stage_strides()
    }

    /// The trainable variables (the backbone's, without `fc`).
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.backbone.backbone_vars()
    }

    fn float_dtype(&self) -> DType {
        self.backbone.params().float_dtype()
    }

    /// The four stage feature maps of `x: [N, C, H, W]` under `mask` (made for `H × W`), masked positions
    /// exactly zero; `train` selects batch statistics over visible positions (and running-statistics
    /// updates) or the running statistics.
    pub fn forward(&self, x: &Tensor, mask: &Mask, train: bool) -> Result<[Tensor; 4]> {
        self.forward_check(x, mask)?;
        if self.uses_sparse(x.device()) {
            let layout = SparseLayout::new(mask)?;
            let maps = self.forward_compact(x, &layout, train)?;
            let dense: Vec<Tensor> = maps.iter().map(|m| m.to_dense()).collect::<Result<_>>()?;
            return dense.try_into().map_err(|_| SparseError::InvalidConfig("four stages".into()));
        }
        let pyramid = mask.pyramid(self.float_dtype(), x.device())?;
        self.forward_with(x, &pyramid, train)
    }

    /// Checks that `mask` fits the input `x` and this encoder's patch size.
    pub fn forward_check(&self, x: &Tensor, mask: &Mask) -> Result<()> {
        let dims = x.dims();
        if dims.len() != 4 {
            return Err(SparseError::InvalidInput(format!("expected [N, C, H, W], got {dims:?}")));
        }
        if mask.patch() != self.patch_size() || mask.image_size() != (dims[2], dims[3]) || mask.batch() != dims[0] {
            return Err(SparseError::InvalidInput(format!(
                "mask for {} images of {:?} with patch {} does not fit input {dims:?} (patch {})",
                mask.batch(),
                mask.image_size(),
                mask.patch(),
                self.patch_size()
            )));
        }
        Ok(())
    }

    /// The dense-masked path with a prepared mask pyramid (whatever [`path`](Self::path) says).
    pub fn forward_with(&self, x: &Tensor, masks: &MaskPyramid, train: bool) -> Result<[Tensor; 4]> {
        let x = x.broadcast_mul(masks.at_stride(1)?)?;
        let bb = &self.backbone;
        let conv1 = bb.conv1();
        let y = conv(&x, conv1.weight(), conv1.stride(), conv1.padding())?;
        let y = self.bn(bb.bn1(), "bn1", &y, masks, train)?.relu()?;
        let mut y = match bb.config().stem {
            Stem::ImageNet => {
                let p = k::max_pool2d(&y, MaxPool2dParams { kernel: 3, stride: 2, padding: 1 })?;
                let m = masks.for_size(p.dims()[2], p.dims()[3])?;
                p.broadcast_mul(m)?
            }
            Stem::Small | Stem::Strided => y,
        };
        let mut maps = Vec::with_capacity(4);
        for s in 0..4 {
            for (i, block) in bb.stage(s).iter().enumerate() {
                y = self.block(block, &format!("layer{}.{i}", s + 1), &y, masks, train)?;
            }
            maps.push(y.clone());
        }
        maps.try_into().map_err(|_| SparseError::InvalidConfig("a ResNet has exactly four stages".into()))
    }

    fn block(&self, block: &Block, prefix: &str, x: &Tensor, masks: &MaskPyramid, train: bool) -> Result<Tensor> {
        let residual = match block {
            Block::Basic { conv1, bn1, conv2, bn2, .. } => {
                let y = conv(x, conv1.weight(), conv1.stride(), conv1.padding())?;
                let y = self.bn(bn1, &format!("{prefix}.bn1"), &y, masks, train)?.relu()?;
                let y = conv(&y, conv2.weight(), conv2.stride(), conv2.padding())?;
                self.bn(bn2, &format!("{prefix}.bn2"), &y, masks, train)?
            }
            Block::Bottleneck { conv1, bn1, conv2, bn2, conv3, bn3, .. } => {
                let y = conv(x, conv1.weight(), conv1.stride(), conv1.padding())?;
                let y = self.bn(bn1, &format!("{prefix}.bn1"), &y, masks, train)?.relu()?;
                let y = conv(&y, conv2.weight(), conv2.stride(), conv2.padding())?;
                let y = self.bn(bn2, &format!("{prefix}.bn2"), &y, masks, train)?.relu()?;
                let y = conv(&y, conv3.weight(), conv3.stride(), conv3.padding())?;
                self.bn(bn3, &format!("{prefix}.bn3"), &y, masks, train)?
            }
        };
        let shortcut = match block.downsample_layer() {
            Some(d) => {
                let y = conv(x, d.conv.weight(), d.conv.stride(), d.conv.padding())?;
                self.bn(&d.bn, &format!("{prefix}.downsample.1"), &y, masks, train)?
            }
            None => x.clone(),
        };
        // Both terms are zero at masked positions, so the sum and its ReLU are too.
        Ok((residual + shortcut)?.relu()?)
    }

    /// Masked batch norm with the backbone layer's parameters; counts the batch in `num_batches_tracked`.
    fn bn(&self, bn: &BatchNorm2d, name: &str, x: &Tensor, masks: &MaskPyramid, train: bool) -> Result<Tensor> {
        let mask = masks.for_size(x.dims()[2], x.dims()[3])?;
        let cfg = self.backbone.config();
        let layer = MaskedBatchNorm {
            weight: bn.weight().as_tensor(),
            bias: bn.bias().as_tensor(),
            running_mean: bn.running_mean(),
            running_var: bn.running_var(),
            momentum: cfg.bn_momentum,
            eps: cfg.bn_eps,
        };
        let y = layer.forward(x, mask, train)?;
        if train {
            let counter_name = format!("{name}.num_batches_tracked");
            if let Some(counter) = self.backbone.params().get(&counter_name) {
                let one = Tensor::ones((), DType::I64, counter.var.device())?;
                counter.var.set(&(counter.var.as_tensor() + one)?)?;
            }
        }
        Ok(y)
    }
}

fn conv(x: &Tensor, w: &Var, stride: usize, padding: usize) -> Result<Tensor> {
    Ok(k::conv2d(x, w.as_tensor(), Conv2dParams { stride, padding, dilation: 1 })?)
}

/// The device of the encoder's parameters.
pub fn encoder_device(encoder: &SparseEncoder) -> Device {
    encoder.backbone().conv1().weight().device().clone()
}
