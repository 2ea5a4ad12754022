//! HU windows → `[0, 1]`: a fixed window, the slice's own min–max, several windows stacked as channels,
//! and the random window jitter that plays the part of colour jitter for CT.

use ctssl_io::HuWindow;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{AugmentError, Result};
use crate::image::Image;
use crate::rng::{chance, uniform};

/// A wide window, −1000 to 1000 HU (air to dense bone): the default base window of the recipes.
pub const WIDE_WINDOW: HuWindow = HuWindow { center: 0.0, width: 2000.0 };

/// How HU become intensities in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WindowStep {
    /// One fixed window.
    Fixed(HuWindow),
    /// The slice's own minimum and maximum (before any crop), as the study did ("min-max scaled per slice").
    MinMax,
    /// Several windows, one output channel each (e.g. lung, soft tissue, bone).
    Multi(Vec<HuWindow>),
    /// No windowing: the input is already an intensity image (e.g. in `[0, 1]`).
    Identity,
}

impl Default for WindowStep {
    fn default() -> Self {
        WindowStep::Fixed(WIDE_WINDOW)
    }
}

impl WindowStep {
    /// Number of output channels for an input of `in_channels`.
    pub fn channels(&self, in_channels: usize) -> usize {
        match self {
            WindowStep::Multi(w) => w.len(),
            WindowStep::Identity => in_channels,
            _ => 1,
        }
    }

    /// Check the windows (positive, finite widths; at least one window).
    pub fn validate(&self) -> Result<()> {
        let bad = |w: &HuWindow| !(w.width > 0.0 && w.width.is_finite() && w.center.is_finite());
        let ok = match self {
            WindowStep::Fixed(w) => !bad(w),
            WindowStep::Multi(ws) => !ws.is_empty() && !ws.iter().any(bad),
            WindowStep::MinMax | WindowStep::Identity => true,
        };
        if !ok {
            return Err(AugmentError::InvalidConfig(format!("window step {self:?}")));
        }
        Ok(())
    }

    /// The windows to apply to a slice whose HU range is `slice_range` (`None` for [`WindowStep::Identity`]).
    pub fn windows(&self, slice_range: (f32, f32)) -> Option<Vec<HuWindow>> {
        match self {
            WindowStep::Fixed(w) => Some(vec![*w]),
            WindowStep::MinMax => {
                let (lo, hi) = slice_range;
                Some(vec![HuWindow::new((lo + hi) / 2.0, hi - lo)])
            }
            WindowStep::Multi(ws) => Some(ws.clone()),
            WindowStep::Identity => None,
        }
    }
}

/// Map one HU value through a window; a window of zero width (a constant slice under min–max) gives 0.
#[inline]
fn window_value(w: &HuWindow, lower: f32, inv_width: f32, hu: f32) -> f32 {
    if w.width > 0.0 {
        ((hu - lower) * inv_width).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Apply `windows` to the single-channel HU image `hu`, one output channel per window.
pub fn apply_windows(hu: &Image, windows: &[HuWindow]) -> Result<Image> {
    hu.check()?;
    if hu.channels != 1 || windows.is_empty() {
        return Err(AugmentError::InvalidImage(format!(
            "windowing needs 1 HU channel and at least one window (got {} channels, {} windows)",
            hu.channels,
            windows.len()
        )));
    }
    let n = hu.plane_len();
    let mut data = Vec::with_capacity(n * windows.len());
    for w in windows {
        let (lower, inv_width) = (w.lower(), if w.width > 0.0 { 1.0 / w.width } else { 0.0 });
        data.extend(hu.data.iter().map(|&v| window_value(w, lower, inv_width, v)));
    }
    Image::with_channels(windows.len(), hu.height, hu.width, data)
}

/// CT's colour jitter, applied with probability `p`: the window's centre and width (in place of hue and
/// saturation) and the brightness and contrast of the windowed image, in a random order as torchvision's
/// `ColorJitter` does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IntensityJitter {
    /// Probability of jittering at all (SimCLR, MoCo v2, BYOL, DINO: 0.8).
    pub p: f32,
    /// Largest shift of the window centre, as a fraction of the window width (plays the part of hue).
    pub window_center: f32,
    /// The window width is multiplied by a factor in `[1 - w, 1 + w]` (floored at 0.05; plays saturation).
    pub window_width: f32,
    /// Brightness factor in `[1 - b, 1 + b]` (floored at 0): `x · f`, clipped to `[0, 1]`.
    pub brightness: f32,
    /// Contrast factor in `[1 - c, 1 + c]` (floored at 0): `f · x + (1 - f) · mean`, clipped to `[0, 1]`.
    pub contrast: f32,
}

/// One draw of [`IntensityJitter`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterDraw {
    /// Window centre shift as a fraction of the width.
    pub center_shift: f32,
    /// Window width factor.
    pub width_factor: f32,
    /// Brightness factor.
    pub brightness: f32,
    /// Contrast factor.
    pub contrast: f32,
    /// Brightness before contrast (`true`) or after.
    pub brightness_first: bool,
}

impl JitterDraw {
    /// Apply the window part of the draw to one window.
    pub fn window(&self, w: &HuWindow) -> HuWindow {
        HuWindow::new(w.center + self.center_shift * w.width, w.width * self.width_factor)
    }

    /// Apply the brightness / contrast part to a windowed image, in the drawn order.
    pub fn adjust(&self, image: &mut Image) {
        if self.brightness_first {
            adjust_brightness(image, self.brightness);
            adjust_contrast(image, self.contrast);
        } else {
            adjust_contrast(image, self.contrast);
            adjust_brightness(image, self.brightness);
        }
    }
}

impl IntensityJitter {
    /// Jitter of strength `s` mapped from torchvision's `ColorJitter(brightness, contrast, saturation, hue)`.
    pub fn from_color_jitter(p: f32, brightness: f32, contrast: f32, saturation: f32, hue: f32) -> Self {
        IntensityJitter { p, window_center: hue, window_width: saturation, brightness, contrast }
    }

    /// Check the ranges.
    pub fn validate(&self) -> Result<()> {
        let ok = (0.0..=1.0).contains(&self.p)
            && [self.window_center, self.window_width, self.brightness, self.contrast]
                .iter()
                .all(|v| *v >= 0.0 && v.is_finite());
        if !ok {
            return Err(AugmentError::InvalidConfig(format!("intensity jitter {self:?}")));
        }
        Ok(())
    }

    /// Draw the jitter (`None`: not applied this time). Always consumes the same amount of randomness.
    pub fn sample(&self, rng: &mut impl Rng) -> Option<JitterDraw> {
        let apply = chance(rng, self.p);
        let draw = JitterDraw {
            center_shift: uniform(rng, -self.window_center, self.window_center),
            width_factor: uniform(rng, (1.0 - self.window_width).max(0.05), 1.0 + self.window_width),
            brightness: uniform(rng, (1.0 - self.brightness).max(0.0), 1.0 + self.brightness),
            contrast: uniform(rng, (1.0 - self.contrast).max(0.0), 1.0 + self.contrast),
            brightness_first: chance(rng, 0.5),
        };
        apply.then_some(draw)
    }
}

/// torchvision's `adjust_brightness` on `[0, 1]` images: `clip(x · factor, 0, 1)`.
pub fn adjust_brightness(image: &mut Image, factor: f32) {
    for v in &mut image.data {
        *v = (*v * factor).clamp(0.0, 1.0);
    }
}

/// torchvision's `adjust_contrast` on `[0, 1]` images, each channel blended with its own mean:
/// `clip(factor · x + (1 - factor) · mean, 0, 1)`.
pub fn adjust_contrast(image: &mut Image, factor: f32) {
    if !image.is_valid() {
        return;
    }
    for plane in image.planes_mut() {
        let mean = mean_of(plane);
        let offset = (1.0 - factor) * mean;
        for v in plane {
            *v = (factor * *v + offset).clamp(0.0, 1.0);
        }
    }
}

/// Mean of a plane, summed in eight `f64` lanes (vectorises; exact enough for any image size).
fn mean_of(values: &[f32]) -> f32 {
    let mut lanes = [0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
    for c in chunks {
        for i in 0..8 {
            lanes[i] += c[i] as f64;
        }
    }
    ((lanes.iter().sum::<f64>() + rest) / values.len().max(1) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_window_spans_the_slice() {
        let w = WindowStep::MinMax.windows((-1024.0, 976.0)).unwrap();
        assert_eq!(w[0].lower(), -1024.0);
        assert_eq!(w[0].upper(), 976.0);
        let img = Image::from_vec(1, 2, vec![5.0, 5.0]).unwrap();
        let out = apply_windows(&img, &WindowStep::MinMax.windows((5.0, 5.0)).unwrap()).unwrap();
        assert_eq!(out.data, vec![0.0, 0.0]);
    }

    #[test]
    fn contrast_zero_gives_the_mean_and_brightness_clips() {
        let mut img = Image::from_vec(1, 4, vec![0.0, 0.2, 0.6, 1.0]).unwrap();
        adjust_contrast(&mut img, 0.0);
        assert!(img.data.iter().all(|&v| (v - 0.45).abs() < 1e-6));
        adjust_brightness(&mut img, 3.0);
        assert!(img.data.iter().all(|&v| v == 1.0));
    }
}
