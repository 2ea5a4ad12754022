//! The chest: lungs, diaphragm domes, mediastinum and heart, esophagus.

use rand_chacha::ChaCha8Rng;

use super::frame::{key, Frame};
use crate::builder::Builder;
use crate::organ::Organ;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::{Shape, V3};
use crate::tissue::Tissue;

/// The lungs, right then left: lofts from the apex down to below the diaphragm dome of their side,
/// their heights scaled by the breathing state.
pub(super) fn lungs(b: &mut Builder, f: &Frame) -> [Shape; 2] {
    [(-1.0f32, Organ::LungRight), (1.0, Organ::LungLeft)].map(|(side, organ)| lung(b, f, side, organ))
}

fn lung(b: &mut Builder, f: &Frame, side: f32, organ: Organ) -> Shape {
    let (s, width) = (f.s, f.width);
    let dome = if side < 0.0 { f.z_dome_right } else { f.z_dome_left };
    let base = (dome - f.z_apex) / (s * f.breath); // template height of the dome
    let keys = vec![
        key(f.zl(12.0), f.px(side * 42.0), f.py(10.0), 14.0 * s, 14.0 * s),
        key(f.zl(-20.0), f.px(side * 52.0), f.py(8.0), 38.0 * s, 42.0 * s),
        key(f.zl(-80.0), f.px(side * 62.0), f.py(2.0), 58.0 * s * width, 72.0 * s),
        key(f.zl(-160.0), f.px(side * 66.0), f.py(0.0), 66.0 * s * width, 82.0 * s),
        key(f.zl(base), f.px(side * 68.0), f.py(8.0), 68.0 * s * width, 80.0 * s),
        key(f.zl(base - 45.0), f.px(side * 70.0), f.py(40.0), 58.0 * s * width, 42.0 * s),
    ];
    let lung = Shape::loft(keys, 2.0, 0.0);
    b.push(Object::new(lung.clone(), Tissue::Lung).organ(organ).edge(3.0, 25.0).over(&[Tissue::Fat]));
    lung
}

/// Diaphragm domes: a muscle shell, then abdominal fat under it, cutting the lung bases.
pub(super) fn diaphragm(b: &mut Builder, f: &Frame) {
    let s = f.s;
    for (side, dome) in [(-1.0f32, f.z_dome_right), (1.0, f.z_dome_left)] {
        let c = [f.px(side * 55.0), f.py(-15.0), dome - 95.0 * s];
        let r = [100.0 * s * f.width, 115.0 * s, 95.0 * s];
        b.push(
            Object::new(Shape::ellipsoid(c, [r[0] + 4.0, r[1] + 4.0, r[2] + 4.0], 0.0), Tissue::Muscle)
                .over(&[Tissue::Lung]),
        );
        b.push(
            Object::new(Shape::ellipsoid(c, r, 0.0), Tissue::Fat).over(&[Tissue::Lung, Tissue::Muscle]).edge(1.5, 30.0),
        );
    }
}

/// The mediastinum and the heart in it (the great vessels and lesions are placed relative to them).
#[derive(Debug, Clone)]
pub(super) struct Heart {
    /// The mediastinal fat between the lungs.
    pub mediastinum: Shape,
    /// The heart's outer surface.
    pub shape: Shape,
    /// The heart's centre.
    pub center: V3,
}

/// The mediastinal fat, then the heart of a drawn size and axis in its pericardial fat, with blood
/// in its chambers.
pub(super) fn mediastinum_and_heart(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) -> Heart {
    let s = f.s;
    let z_heart = f.z_dome_left + 55.0 * s;
    let mediastinum = Shape::loft(
        vec![
            key(f.zl(30.0), f.px(0.0), f.py(-10.0), 20.0 * s, 60.0 * s),
            key(f.zl(-80.0), f.px(0.0), f.py(-20.0), 24.0 * s, 80.0 * s),
            key(z_heart + 40.0 * s, f.px(8.0), f.py(-25.0), 40.0 * s, 75.0 * s),
            key(f.z_dome_left, f.px(10.0), f.py(-30.0), 30.0 * s, 60.0 * s),
        ],
        2.0,
        0.0,
    );
    b.push(Object::new(mediastinum.clone(), Tissue::Fat).over(&[Tissue::Lung]).edge(2.0, 20.0));
    let center = [f.px(22.0), f.py(-22.0), z_heart];
    let r = [uniform(rng, 52.0, 62.0) * s, 45.0 * s, 58.0 * s];
    let angle = uniform(rng, 0.35, 0.7);
    let heart = Shape::ellipsoid(center, r, angle);
    b.push(
        Object::new(Shape::ellipsoid(center, [r[0] + 6.0, r[1] + 6.0, r[2] + 4.0], angle), Tissue::Fat)
            .over(&[Tissue::Lung, Tissue::Fat]),
    );
    b.push(Object::new(heart.clone(), Tissue::Muscle).organ(Organ::Heart).edge(1.5, 20.0));
    b.push(
        Object::new(Shape::ellipsoid(center, [r[0] - 9.0, r[1] - 9.0, r[2] - 9.0], angle), Tissue::Blood)
            .organ(Organ::Heart)
            .over(&[Tissue::Muscle])
            .edge(3.0, 15.0),
    );
    Heart { mediastinum, shape: heart, center }
}

/// The esophagus behind the trachea, down to the stomach.
pub(super) fn esophagus(b: &mut Builder, f: &Frame) {
    b.tube(
        &[
            [f.px(3.0), f.py(-10.0), f.zl(50.0)],
            [f.px(8.0), f.spine_y(-150.0) - 12.0, f.zs(-150.0)],
            [f.px(25.0), f.py(-10.0), f.z_dome_left - 20.0],
        ],
        8.0,
        8.0,
        |shape| Object::new(shape, Tissue::Muscle).edge(0.8, 6.0).over(&[Tissue::Fat, Tissue::Lung]),
    );
}
