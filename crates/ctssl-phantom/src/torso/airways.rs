//! Airways and the trees in the lungs: trachea, main bronchi, bronchial trees (air inside a thin
//! wall) and the pulmonary arteries and veins branching from the hila.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::frame::Frame;
use crate::builder::{grow_tree, Branch, Builder, TreeSettings};
use crate::organ::Organ;
use crate::scene::Object;
use crate::shape::{Shape, V3};
use crate::tissue::Tissue;

/// The wall of the trachea and main bronchi.
fn wall(shape: Shape) -> Object {
    Object::new(shape, Tissue::Muscle).edge(0.3, 5.0).over(&[Tissue::Fat, Tissue::Lung, Tissue::Muscle])
}

/// The air inside the trachea and main bronchi.
fn lumen(shape: Shape) -> Object {
    Object::new(shape, Tissue::Air).edge(0.3, 5.0).over(&[Tissue::Muscle, Tissue::Lung, Tissue::Fat])
}

/// The wall of a segment of a bronchial tree.
fn tree_wall(shape: Shape) -> Object {
    Object::new(shape, Tissue::Muscle).over(&[Tissue::Lung]).edge(0.0, 1.0)
}

/// The air inside a segment of a bronchial tree (the segment's capsule, thinner).
fn tree_lumen(shape: Shape) -> Object {
    if let Shape::Capsule { a, b, ra, rb } = shape {
        Object::new(Shape::capsule(a, b, ra * 0.65, rb * 0.65), Tissue::Air)
            .over(&[Tissue::Lung, Tissue::Muscle])
            .edge(0.0, 1.0)
    } else {
        Object::new(shape, Tissue::Air)
    }
}

/// The trachea (wall, then air) down to the carina; returns the carina.
pub(super) fn trachea(b: &mut Builder, f: &Frame) -> V3 {
    let s = f.s;
    let carina = [f.px(0.0), f.py(-8.0), f.zl(-70.0)];
    let trachea = [[f.px(0.0), f.py(-40.0), f.zl(60.0)], [f.px(0.0), f.py(-25.0), f.zl(0.0)], carina];
    b.tube(&trachea, 10.0 * s, 9.0 * s, wall);
    b.tube(&trachea, 8.0 * s, 7.5 * s, lumen);
    carina
}

/// The trees of each lung (right, then left): the main bronchus from the carina towards the hilum,
/// the bronchial tree from its end, then the pulmonary vessel trees from the hilum. Branches stay
/// inside the lung and out of the mediastinum.
pub(super) fn lung_trees(
    b: &mut Builder,
    f: &Frame,
    rng: &mut ChaCha8Rng,
    lungs: &[Shape; 2],
    mediastinum: &Shape,
    carina: V3,
    hila: [V3; 2],
) {
    let s = f.s;
    for (i, side) in [-1.0f32, 1.0].into_iter().enumerate() {
        let inside = |q: V3| lungs[i].distance(q) < -2.0 && mediastinum.distance(q) > 0.0;
        let bronchus_end = [hila[i][0], hila[i][1] + 8.0, hila[i][2] - 5.0];
        b.tube(&[carina, bronchus_end], 7.0 * s, 6.0 * s, wall);
        b.tube(&[carina, bronchus_end], 5.5 * s, 4.5 * s, lumen);
        bronchial_tree(b, f, rng, side, &inside, bronchus_end);
        pulmonary_vessels(b, f, rng, side, &inside, hila[i]);
    }
}

/// A bronchial tree from the end of a main bronchus: walls first (the whole tree), then the air of
/// the same tree (grown again from the same seed, drawn from the stream).
fn bronchial_tree(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng, side: f32, inside: &dyn Fn(V3) -> bool, start: V3) {
    let seed: u64 = rng.random();
    for make in [&tree_wall as &dyn Fn(Shape) -> Object, &tree_lumen] {
        let settings = TreeSettings { depth: 4, min_radius: 1.2, inside, make, bias: [side, 0.0, -0.3] };
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        grow_tree(
            b,
            &mut r,
            &settings,
            Branch { start, dir: [side, 0.2, -0.5], length: 28.0 * f.s, radius: 4.5 * f.s },
        );
    }
}

/// Pulmonary arteries and veins: seven trees from around the hilum, spreading through the lung.
fn pulmonary_vessels(
    b: &mut Builder,
    f: &Frame,
    rng: &mut ChaCha8Rng,
    side: f32,
    inside: &dyn Fn(V3) -> bool,
    hilum: V3,
) {
    let organ = if side < 0.0 { Organ::LungRight } else { Organ::LungLeft };
    let vessel = |shape: Shape| Object::new(shape, Tissue::Blood).organ(organ).over(&[Tissue::Lung]).edge(0.0, 1.0);
    let trunks = [
        [side, 0.3, -0.6],
        [side, -0.5, 0.4],
        [side, 0.6, 0.5],
        [side * 0.7, 0.2, -1.0],
        [side * 0.8, -0.6, -0.6],
        [side * 0.6, 0.8, -0.2],
        [side * 0.5, 0.1, 1.0],
    ];
    for (k, dir) in trunks.into_iter().enumerate() {
        let settings = TreeSettings { depth: 7, min_radius: 0.6, inside, make: &vessel, bias: [side * 0.4, 0.0, 0.0] };
        let start = [hilum[0] + side * 4.0, hilum[1] + (k as f32 - 3.0) * 5.0, hilum[2] + (k as f32 - 3.0) * 6.0];
        grow_tree(b, rng, &settings, Branch { start, dir, length: 30.0 * f.s, radius: 4.5 * f.s });
    }
}
