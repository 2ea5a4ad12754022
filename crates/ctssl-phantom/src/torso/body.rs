//! The body wall: skin outline with subcutaneous fat, the muscle wall, the visceral cavity, breasts
//! and the paraspinal muscles.

use rand_chacha::ChaCha8Rng;

use super::frame::{key, Frame, PROFILE};
use crate::builder::Builder;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::{LoftKey, Shape};
use crate::tissue::Tissue;

/// Body outline (the template profile plus fat, thicker over the abdomen with visceral fat), the
/// muscle wall inside it and the fat-filled visceral cavity inside that.
pub(super) fn outline(b: &mut Builder, f: &Frame) {
    let (s, width, fat) = (f.s, f.width, f.fat);
    let abdominal_fat = |z: f32| if z < -250.0 { 1.0 + 0.5 * f.visceral } else { 1.0 };
    let body_keys: Vec<LoftKey> = PROFILE
        .iter()
        .map(|&(z, rx, ry)| {
            let pad = fat * abdominal_fat(z);
            key(f.zs(z), f.px(0.0), f.py(0.0), rx * s * width + pad, ry * s + pad)
        })
        .collect();
    let wall_keys: Vec<LoftKey> =
        PROFILE.iter().map(|&(z, rx, ry)| key(f.zs(z), f.px(0.0), f.py(0.0), rx * s * width, ry * s)).collect();
    let cavity_keys: Vec<LoftKey> = PROFILE
        .iter()
        .map(|&(z, rx, ry)| key(f.zs(z), f.px(0.0), f.py(-4.0), rx * s * width - 14.0, ry * s - 14.0))
        .collect();
    b.push(Object::new(Shape::loft(body_keys, 2.0, 0.0), Tissue::Fat).edge(2.5, 40.0));
    b.push(Object::new(Shape::loft(wall_keys, 2.0, 0.0), Tissue::Muscle).edge(2.0, 25.0));
    b.push(Object::new(Shape::loft(cavity_keys, 2.0, 0.0), Tissue::Fat).edge(2.0, 25.0));
}

/// Breast tissue over the front of the chest wall, of a drawn size (female patients).
pub(super) fn breasts(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let fat = f.fat;
    let size = uniform(rng, 0.5, 1.0);
    for side in [-1.0f32, 1.0] {
        let c = [f.px(side * 68.0), f.py(-100.0) - fat * 0.9, f.zs(-150.0)];
        b.push(
            Object::new(
                Shape::ellipsoid(c, [52.0 * size + 0.3 * fat, 24.0 * size + 0.3 * fat, 45.0 * size], side * 0.3),
                Tissue::Breast,
            )
            .over(&[Tissue::Fat, Tissue::Air])
            .edge(4.0, 25.0),
        );
    }
}

/// Paraspinal muscles behind the spine, from the apex to the sacrum (painted before the lungs: the
/// lungs are inside the cavity anyway).
pub(super) fn paraspinal_muscles(b: &mut Builder, f: &Frame) {
    let s = f.s;
    for side in [-1.0f32, 1.0] {
        let keys: Vec<LoftKey> = [30.0f32, -150.0, -300.0, -450.0, -560.0]
            .iter()
            .map(|&z| key(f.zs(z), f.px(side * 32.0), f.spine_y(z) + 68.0 * s, 24.0 * s, 20.0 * s))
            .collect();
        b.push(Object::new(Shape::loft(keys, 2.0, 0.0), Tissue::Muscle).edge(2.0, 15.0).over(&[Tissue::Fat]));
    }
}
