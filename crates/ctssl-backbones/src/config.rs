//! ResNet configurations: torchvision's ResNet-18/34/50 and small presets for CPU training, named by
//! [`ResNetArch`]; the stems, named by [`Stem`].

use std::fmt;
use std::str::FromStr;

use crate::error::{BackboneError, Result};

/// The residual block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Two 3x3 convolutions (ResNet-18/34); expansion 1.
    Basic,
    /// 1x1 → 3x3 → 1x1 convolutions with the stride on the 3x3 (torchvision's "ResNet v1.5"); expansion 4.
    Bottleneck,
}

impl BlockKind {
    /// Ratio of a block's output channels to its width (1 for `Basic`, 4 for `Bottleneck`).
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// The layers before `layer1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stem {
    /// torchvision's stem: 7x7 stride-2 convolution, BN, ReLU, 3x3 stride-2 max pool (output at 1/4 resolution).
    ImageNet,
    /// A stem for small images (e.g. 64 px): 3x3 stride-1 convolution, BN, ReLU, no max pool.
    Small,
    /// A stem for small images that halves the resolution: 3x3 stride-2 convolution, BN, ReLU, no max
    /// pool (output at 1/2 resolution). At 64 px about a third of [`Stem::Small`]'s work per image: the
    /// full-resolution `layer1` is what costs, while a 3x3 stride-2 convolution still sees every pixel.
    Strided,
}

impl Stem {
    /// Every stem, under the names [`Stem::name`] gives.
    pub const ALL: [Stem; 3] = [Stem::Small, Stem::Strided, Stem::ImageNet];

    /// `small`, `strided` or `imagenet` (what configurations write).
    pub fn name(self) -> &'static str {
        match self {
            Stem::ImageNet => "imagenet",
            Stem::Small => "small",
            Stem::Strided => "strided",
        }
    }
}

impl fmt::Display for Stem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stem {
    type Err = BackboneError;

    /// A name of [`Stem::ALL`]; an error lists them.
    fn from_str(s: &str) -> Result<Self> {
        Stem::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| unknown("stem", s, Stem::ALL.map(Stem::name)))
    }
}

/// The named architectures ([`ResNetConfig::from_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResNetArch {
    /// [`ResNetConfig::resnet18`].
    ResNet18,
    /// [`ResNetConfig::resnet34`].
    ResNet34,
    /// [`ResNetConfig::resnet50`].
    ResNet50,
    /// [`ResNetConfig::resnet_tiny`].
    ResNetTiny,
    /// [`ResNetConfig::resnet_tiny2`].
    ResNetTiny2,
}

impl ResNetArch {
    /// Every named architecture.
    pub const ALL: [ResNetArch; 5] = [
        ResNetArch::ResNet18,
        ResNetArch::ResNet34,
        ResNetArch::ResNet50,
        ResNetArch::ResNetTiny,
        ResNetArch::ResNetTiny2,
    ];

    /// `resnet18`, `resnet34`, `resnet50`, `resnet_tiny` or `resnet_tiny2`.
    pub fn name(self) -> &'static str {
        match self {
            ResNetArch::ResNet18 => "resnet18",
            ResNetArch::ResNet34 => "resnet34",
            ResNetArch::ResNet50 => "resnet50",
            ResNetArch::ResNetTiny => "resnet_tiny",
            ResNetArch::ResNetTiny2 => "resnet_tiny2",
        }
    }

    /// The architecture's configuration (1 input channel, no `fc`, its own stem and width).
    pub fn config(self) -> ResNetConfig {
        match self {
            ResNetArch::ResNet18 => ResNetConfig::resnet18(),
            ResNetArch::ResNet34 => ResNetConfig::resnet34(),
            ResNetArch::ResNet50 => ResNetConfig::resnet50(),
            ResNetArch::ResNetTiny => ResNetConfig::resnet_tiny(),
            ResNetArch::ResNetTiny2 => ResNetConfig::resnet_tiny2(),
        }
    }
}

impl fmt::Display for ResNetArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ResNetArch {
    type Err = BackboneError;

    /// A name of [`ResNetArch::ALL`]; an error lists them.
    fn from_str(s: &str) -> Result<Self> {
        ResNetArch::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| unknown("architecture", s, ResNetArch::ALL.map(ResNetArch::name)))
    }
}

fn unknown<const N: usize>(what: &str, name: &str, known: [&str; N]) -> BackboneError {
    BackboneError::InvalidConfig(format!("unknown {what} `{name}` (known: {})", known.join(", ")))
}

/// Everything that defines a ResNet's architecture and initialisation.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    /// Block type.
    pub block: BlockKind,
    /// Number of blocks in each of the four stages.
    pub layers: [usize; 4],
    /// Input channels of `conv1` (1 for CT slices; 3 for torchvision's ImageNet models).
    pub in_channels: usize,
    /// Width of the stem and of `layer1` (64 in torchvision); stages 2–4 use 2×, 4×, 8× this.
    pub base_width: usize,
    /// Stem layout.
    pub stem: Stem,
    /// Output classes of `fc`; `None` builds a feature extractor without `fc`.
    pub num_classes: Option<usize>,
    /// Initialise the last BN scale (gamma) of every residual block to zero, as torchvision's `zero_init_residual`.
    pub zero_init_residual: bool,
    /// Batch-norm momentum for the running statistics (PyTorch convention: `new = (1 - m) * old + m * batch`).
    pub bn_momentum: f64,
    /// Batch-norm epsilon.
    pub bn_eps: f64,
}

impl ResNetConfig {
    fn torchvision(block: BlockKind, layers: [usize; 4]) -> Self {
        ResNetConfig {
            block,
            layers,
            in_channels: 1,
            base_width: 64,
            stem: Stem::ImageNet,
            num_classes: None,
            zero_init_residual: false,
            bn_momentum: 0.1,
            bn_eps: 1e-5,
        }
    }

    /// ResNet-18: BasicBlock [2, 2, 2, 2], 1 input channel, no `fc`.
    pub fn resnet18() -> Self {
        Self::torchvision(BlockKind::Basic, [2, 2, 2, 2])
    }

    /// ResNet-34: BasicBlock [3, 4, 6, 3], 1 input channel, no `fc`.
    pub fn resnet34() -> Self {
        Self::torchvision(BlockKind::Basic, [3, 4, 6, 3])
    }

    /// ResNet-50: Bottleneck [3, 4, 6, 3], 1 input channel, no `fc`.
    pub fn resnet50() -> Self {
        Self::torchvision(BlockKind::Bottleneck, [3, 4, 6, 3])
    }

    /// Small CPU preset: widths 32-64-128-256, BasicBlock [1, 1, 1, 1], small stem (about 1.2 M parameters).
    pub fn resnet_tiny() -> Self {
        ResNetConfig { base_width: 32, stem: Stem::Small, ..Self::torchvision(BlockKind::Basic, [1, 1, 1, 1]) }
    }

    /// Small CPU preset: widths 32-64-128-256, BasicBlock [2, 2, 2, 2], small stem (about 2.8 M parameters).
    pub fn resnet_tiny2() -> Self {
        ResNetConfig { layers: [2, 2, 2, 2], ..Self::resnet_tiny() }
    }

    /// The configuration for a name of [`ResNetArch`]: `resnet18`, `resnet34`, `resnet50`, `resnet_tiny`,
    /// `resnet_tiny2`.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(name.parse::<ResNetArch>()?.config())
    }

    /// Sets the number of input channels.
    pub fn with_in_channels(mut self, in_channels: usize) -> Self {
        self.in_channels = in_channels;
        self
    }

    /// Sets the number of classes (`None` or `Some(0)`: no `fc`).
    pub fn with_num_classes(mut self, num_classes: Option<usize>) -> Self {
        self.num_classes = num_classes.filter(|&n| n > 0);
        self
    }

    /// Sets the stem.
    pub fn with_stem(mut self, stem: Stem) -> Self {
        self.stem = stem;
        self
    }

    /// Sets the stem/`layer1` width directly.
    pub fn with_base_width(mut self, base_width: usize) -> Self {
        self.base_width = base_width;
        self
    }

    /// Scales torchvision's base width 64 by `multiplier` (rounded, at least 1): 0.5 gives 32-64-128-256.
    pub fn with_width_multiplier(mut self, multiplier: f64) -> Self {
        let width = (64.0 * multiplier).round();
        self.base_width = if width.is_finite() && width >= 1.0 { width as usize } else { 0 };
        self
    }

    /// Turns `zero_init_residual` on or off.
    pub fn with_zero_init_residual(mut self, on: bool) -> Self {
        self.zero_init_residual = on;
        self
    }

    /// Widths of the four stages' blocks (before the expansion): base, 2×base, 4×base, 8×base.
    pub fn stage_widths(&self) -> [usize; 4] {
        let b = self.base_width;
        [b, 2 * b, 4 * b, 8 * b]
    }

    /// Output channels of the four stage feature maps (stage width × block expansion).
    pub fn stage_channels(&self) -> [usize; 4] {
        self.stage_widths().map(|w| w * self.block.expansion())
    }

    /// Channels of the pooled feature (the last stage's output channels).
    pub fn feature_dim(&self) -> usize {
        self.stage_channels()[3]
    }

    /// Spatial downsampling of each stage output relative to the input (4, 8, 16, 32 with the ImageNet stem).
    pub fn stage_strides(&self) -> [usize; 4] {
        match self.stem {
            Stem::ImageNet => [4, 8, 16, 32],
            Stem::Small => [1, 2, 4, 8],
            Stem::Strided => [2, 4, 8, 16],
        }
    }

    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(BackboneError::InvalidConfig(m));
        if self.in_channels == 0 {
            return bad("in_channels must be at least 1".into());
        }
        if self.base_width == 0 {
            return bad("base_width must be at least 1".into());
        }
        if self.layers.contains(&0) {
            return bad(format!("every stage needs at least one block, got {:?}", self.layers));
        }
        if !(self.bn_momentum.is_finite() && (0.0..=1.0).contains(&self.bn_momentum)) {
            return bad(format!("bn_momentum must be in [0, 1], got {}", self.bn_momentum));
        }
        if !(self.bn_eps.is_finite() && self.bn_eps > 0.0) {
            return bad(format!("bn_eps must be positive, got {}", self.bn_eps));
        }
        Ok(())
    }
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self::resnet18()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_known() {
        for a in ResNetArch::ALL {
            assert_eq!(a.to_string().parse::<ResNetArch>().unwrap(), a);
            assert_eq!(ResNetConfig::from_name(a.name()).unwrap(), a.config());
        }
        for s in Stem::ALL {
            assert_eq!(s.to_string().parse::<Stem>().unwrap(), s);
        }
        let e = "resnet_tin".parse::<ResNetArch>().unwrap_err().to_string();
        assert!(
            e.contains("`resnet_tin`") && e.contains("resnet18, resnet34, resnet50, resnet_tiny, resnet_tiny2"),
            "{e}"
        );
        let e = "stridded".parse::<Stem>().unwrap_err().to_string();
        assert!(e.contains("`stridded`") && e.contains("small, strided, imagenet"), "{e}");
    }
}
