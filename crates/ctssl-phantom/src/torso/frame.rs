//! The coordinate frame of one torso: the per-patient size, width, fat, table position and breathing
//! state that map template coordinates (mm, of an average adult) to the patient's, and the landmark
//! heights drawn with them.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::TorsoLandmarks;
use crate::scanner::uniform;
use crate::shape::{LoftKey, V3};

/// The body outline of the template without fat: (height, half-width, half-depth), mm, top to bottom.
pub(super) const PROFILE: [(f32, f32, f32); 9] = [
    (45.0, 120.0, 80.0),
    (0.0, 150.0, 95.0),
    (-100.0, 155.0, 105.0),
    (-250.0, 148.0, 105.0),
    (-380.0, 138.0, 98.0),
    (-470.0, 145.0, 98.0),
    (-560.0, 158.0, 98.0),
    (-640.0, 165.0, 95.0),
    (-720.0, 165.0, 92.0),
];

/// A section of a loft: height, centre and half-axes, mm.
pub(super) fn key(z: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> LoftKey {
    LoftKey { z, center: [cx, cy], radii: [rx, ry] }
}

/// The per-patient values every step of a torso is built from.
///
/// Template coordinates: x towards the patient's left, y posterior, z up, with the lung apex at
/// z = 0 and the centre of the body at x = y = 0. Lengths are scaled by the body size `s` (widths
/// also by `width`); lung heights also by the breathing state.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frame {
    /// Body size (scales every template length).
    pub s: f32,
    /// Extra width factor (scales template widths).
    pub width: f32,
    /// Subcutaneous fat, mm.
    pub fat: f32,
    /// Visceral fat share in `[0, 1]` (thickens the abdominal fat).
    pub visceral: f32,
    /// Position on the table: x offset, mm.
    pub ox: f32,
    /// Position on the table: y offset, mm.
    pub oy: f32,
    /// Breathing state: lung heights scale with it.
    pub breath: f32,
    /// Whether breast tissue is drawn.
    pub female: bool,
    /// Height of the lung apex, mm.
    pub z_apex: f32,
    /// Top of the right diaphragm dome, mm.
    pub z_dome_right: f32,
    /// Top of the left diaphragm dome (below the right one), mm.
    pub z_dome_left: f32,
    /// Iliac crest, mm.
    pub z_iliac: f32,
    /// Centre of the femoral heads, mm.
    pub z_femur: f32,
}

impl Frame {
    /// Draw the frame: the first values of a torso's random stream.
    pub fn draw(rng: &mut ChaCha8Rng) -> Frame {
        let s = uniform(rng, 0.9, 1.1);
        let width = uniform(rng, 0.92, 1.08);
        let fat = uniform(rng, 4.0, 35.0);
        let visceral = uniform(rng, 0.0, 1.0);
        let ox = uniform(rng, -12.0, 12.0);
        let oy = uniform(rng, -8.0, 15.0);
        let breath = uniform(rng, 0.88, 1.1);
        let female = rng.random_bool(0.5);
        let z_apex = uniform(rng, -8.0, 8.0);
        let mut f = Frame {
            s,
            width,
            fat,
            visceral,
            ox,
            oy,
            breath,
            female,
            z_apex,
            z_dome_right: 0.0,
            z_dome_left: 0.0,
            z_iliac: 0.0,
            z_femur: 0.0,
        };
        f.z_dome_right = f.zl(-225.0);
        f.z_dome_left = f.z_dome_right - uniform(rng, 10.0, 25.0);
        f.z_iliac = f.zs(-470.0);
        f.z_femur = f.zs(-605.0);
        f
    }

    /// Patient height of a template height.
    pub fn zs(&self, z: f32) -> f32 {
        self.z_apex + z * self.s
    }

    /// Patient height of a template height in the lungs (scaled by the breathing state too).
    pub fn zl(&self, z: f32) -> f32 {
        self.z_apex + z * self.s * self.breath
    }

    /// Template height of a patient height (the inverse of [`Frame::zs`]).
    pub fn template_z(&self, z: f32) -> f32 {
        (z - self.z_apex) / self.s
    }

    /// Patient x of a template x.
    pub fn px(&self, x: f32) -> f32 {
        self.ox + x * self.s * self.width
    }

    /// Patient y of a template y.
    pub fn py(&self, y: f32) -> f32 {
        self.oy + y * self.s
    }

    /// Patient point of a template point.
    pub fn p(&self, x: f32, y: f32, z: f32) -> V3 {
        [self.px(x), self.py(y), self.zs(z)]
    }

    /// Half-depth (mm) of the visceral cavity at template height `z`.
    pub fn cavity_ry(&self, z: f32) -> f32 {
        let mut prev = PROFILE[0];
        for &q in &PROFILE[1..] {
            if z >= q.0 {
                let t = (z - q.0) / (prev.0 - q.0);
                return (q.2 + (prev.2 - q.2) * t) * self.s - 14.0;
            }
            prev = q;
        }
        PROFILE[8].2 * self.s - 14.0
    }

    /// y of the front of the vertebral bodies at template height `z`.
    pub fn spine_y(&self, z: f32) -> f32 {
        self.py(0.0) + self.cavity_ry(z) - 58.0 * self.s
    }

    /// y of the back of the sternum at template height `z`.
    pub fn sternum_y(&self, z: f32) -> f32 {
        self.py(-4.0) - self.cavity_ry(z) - 8.0
    }

    /// The landmarks, with the scanned range from above the apex to below the femoral heads.
    pub fn landmarks(&self) -> TorsoLandmarks {
        TorsoLandmarks {
            z_top: self.zs(25.0),
            z_bottom: self.z_femur - 55.0 * self.s,
            z_apex: self.z_apex,
            z_dome_right: self.z_dome_right,
            z_dome_left: self.z_dome_left,
            z_iliac: self.z_iliac,
            z_femur: self.z_femur,
        }
    }
}
