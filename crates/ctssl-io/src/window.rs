//! Intensity windows: HU → [0, 1].

use serde::{Deserialize, Serialize};

/// A display window on Hounsfield units: `centre ± width / 2` maps linearly to `[0, 1]`, clipped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HuWindow {
    /// Window centre (level), HU.
    pub center: f32,
    /// Window width, HU (> 0).
    pub width: f32,
}

impl HuWindow {
    /// Lung window (centre −600, width 1500).
    pub const LUNG: HuWindow = HuWindow { center: -600.0, width: 1500.0 };
    /// Mediastinum / soft-tissue window (40, 400).
    pub const SOFT_TISSUE: HuWindow = HuWindow { center: 40.0, width: 400.0 };
    /// Brain window (40, 80).
    pub const BRAIN: HuWindow = HuWindow { center: 40.0, width: 80.0 };
    /// Bone window (400, 1800).
    pub const BONE: HuWindow = HuWindow { center: 400.0, width: 1800.0 };
    /// Abdomen window (60, 400).
    pub const ABDOMEN: HuWindow = HuWindow { center: 60.0, width: 400.0 };

    /// A window from centre and width.
    pub fn new(center: f32, width: f32) -> Self {
        HuWindow { center, width }
    }

    /// Lowest HU of the window (maps to 0).
    pub fn lower(&self) -> f32 {
        self.center - self.width / 2.0
    }

    /// Highest HU of the window (maps to 1).
    pub fn upper(&self) -> f32 {
        self.center + self.width / 2.0
    }

    /// Map one HU value to `[0, 1]`; a non-positive width acts as a threshold at the centre.
    #[inline]
    pub fn apply(&self, hu: f32) -> f32 {
        if self.width <= 0.0 {
            return if hu >= self.center { 1.0 } else { 0.0 };
        }
        ((hu - self.lower()) / self.width).clamp(0.0, 1.0)
    }

    /// Map a slice in place.
    pub fn apply_in_place(&self, values: &mut [f32]) {
        for v in values {
            *v = self.apply(*v);
        }
    }
}

/// MONAI's `ScaleIntensityRange`: `[a_min, a_max]` maps linearly to `[b_min, b_max]`, optionally clipped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScaleIntensityRange {
    /// Input value mapped to `b_min`.
    pub a_min: f32,
    /// Input value mapped to `b_max`.
    pub a_max: f32,
    /// Output at `a_min`.
    pub b_min: f32,
    /// Output at `a_max`.
    pub b_max: f32,
    /// Clip the output to `[b_min, b_max]`.
    pub clip: bool,
}

impl ScaleIntensityRange {
    /// Map one value. With `a_max == a_min` every value maps to `b_min` (MONAI's behaviour is a warning and a shift).
    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        let span = self.a_max - self.a_min;
        let y = if span == 0.0 { self.b_min } else { (x - self.a_min) / span * (self.b_max - self.b_min) + self.b_min };
        if self.clip {
            let (lo, hi) = if self.b_min <= self.b_max { (self.b_min, self.b_max) } else { (self.b_max, self.b_min) };
            y.clamp(lo, hi)
        } else {
            y
        }
    }
}

impl From<HuWindow> for ScaleIntensityRange {
    fn from(w: HuWindow) -> Self {
        ScaleIntensityRange { a_min: w.lower(), a_max: w.upper(), b_min: 0.0, b_max: 1.0, clip: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_maps_edges_centre_and_clips() {
        let w = HuWindow::new(40.0, 400.0);
        assert_eq!(w.apply(-160.0), 0.0);
        assert_eq!(w.apply(240.0), 1.0);
        assert!((w.apply(40.0) - 0.5).abs() < 1e-7);
        assert_eq!(w.apply(-1000.0), 0.0);
        assert_eq!(w.apply(3000.0), 1.0);
        assert!((HuWindow::LUNG.apply(-600.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn scale_intensity_range_matches_monai_formula() {
        let s = ScaleIntensityRange { a_min: -1000.0, a_max: 1000.0, b_min: 0.0, b_max: 1.0, clip: false };
        assert_eq!(s.apply(0.0), 0.5);
        assert_eq!(s.apply(2000.0), 1.5);
        let c = ScaleIntensityRange { clip: true, ..s };
        assert_eq!(c.apply(2000.0), 1.0);
        assert_eq!(c.apply(-3000.0), 0.0);
        let from_window: ScaleIntensityRange = HuWindow::new(0.0, 2000.0).into();
        assert_eq!(from_window.apply(500.0), 0.75);
    }
}
