//! The abdomen: liver with gallbladder and hepatic vessels, spleen, stomach, kidneys, pancreas,
//! psoas muscles, colon and small bowel.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::frame::{key, Frame};
use crate::builder::Builder;
use crate::organ::Organ;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::{LoftKey, Shape, V3};
use crate::tissue::Tissue;

/// The liver (a main lobe of drawn width and a left lobe of drawn size) under the right dome, its
/// hepatic vessels, and usually a gallbladder.
pub(super) fn liver(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let s = f.s;
    let liver_c = [f.px(-62.0), f.py(-2.0), f.z_dome_right - 78.0 * s];
    let liver_r = [uniform(rng, 82.0, 95.0) * s * f.width, 88.0 * s, 78.0 * s];
    let liver_main = Shape::ellipsoid(liver_c, liver_r, 0.25);
    let liver_left = Shape::ellipsoid(
        [f.px(15.0), f.py(-45.0), f.z_dome_right - 45.0 * s],
        [uniform(rng, 40.0, 65.0) * s, 36.0 * s, 36.0 * s],
        -0.2,
    );
    for shape in [liver_main, liver_left] {
        b.push(Object::new(shape, Tissue::Liver).organ(Organ::Liver).over(&[Tissue::Fat]).edge(3.0, 30.0));
    }
    for k in 0..6 {
        let a = [f.px(-30.0), f.py(5.0), liver_c[2] + 10.0];
        let t = k as f32 / 6.0 * std::f32::consts::PI + 0.3;
        let e = [a[0] - 60.0 * t.sin() * s, a[1] - 50.0 * t.cos() * s, a[2] + uniform(rng, -30.0, 30.0)];
        b.push(
            Object::new(Shape::capsule(a, e, 5.0 * s, 1.5), Tissue::Blood)
                .organ(Organ::Liver)
                .over(&[Tissue::Liver])
                .edge(0.5, 6.0),
        );
    }
    if rng.random_bool(0.8) {
        b.push(
            Object::new(
                Shape::ellipsoid([f.px(-38.0), f.py(-55.0), liver_c[2] - 35.0 * s], [14.0, 28.0, 18.0], 0.6),
                Tissue::Fluid,
            )
            .over(&[Tissue::Liver, Tissue::Fat])
            .edge(1.0, 10.0),
        );
    }
}

/// The spleen, of a drawn size, under the left dome.
pub(super) fn spleen(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let s = f.s;
    let size = uniform(rng, 0.85, 1.2);
    b.push(
        Object::new(
            Shape::ellipsoid(
                [f.px(92.0), f.py(40.0), f.z_dome_left - 62.0 * s],
                [26.0 * s * size, 55.0 * s * size, 48.0 * s * size],
                -0.55,
            ),
            Tissue::Spleen,
        )
        .organ(Organ::Spleen)
        .over(&[Tissue::Fat])
        .edge(2.0, 20.0),
    );
}

/// The stomach: a muscle wall around fluid or food, with gas anteriorly (supine patient) above a
/// drawn level.
pub(super) fn stomach(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let s = f.s;
    let st_c = [f.px(45.0), f.py(-38.0), f.z_dome_left - 55.0 * s];
    let st_r = [48.0 * s, 38.0 * s, 52.0 * s];
    b.push(Object::new(Shape::ellipsoid(st_c, st_r, 0.5), Tissue::Muscle).over(&[Tissue::Fat]).edge(2.5, 20.0));
    let st_in = Shape::ellipsoid(st_c, [st_r[0] - 4.0, st_r[1] - 4.0, st_r[2] - 4.0], 0.5);
    let content = if rng.random_bool(0.5) { Tissue::Fluid } else { Tissue::BowelContent };
    b.push(Object::new(st_in.clone(), content).over(&[Tissue::Muscle]).edge(2.0, 15.0));
    let level = st_c[1] - st_r[1] * uniform(rng, -0.2, 0.7);
    let anterior = Shape::loft(
        vec![key(-2000.0, st_c[0], level - 500.0, 500.0, 500.0), key(2000.0, st_c[0], level - 500.0, 500.0, 500.0)],
        8.0,
        0.0,
    );
    b.push(Object::new(st_in.and(anterior), Tissue::Air).over(&[content]).edge(0.0, 1.0));
}

/// The kidneys (right then left) in perirenal fat, with sinus fat, at drawn heights and sizes;
/// returns their heights.
pub(super) fn kidneys(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) -> [f32; 2] {
    let s = f.s;
    let zk = f.zs(-350.0);
    let mut kidney_z = [0.0; 2];
    for (i, (side, organ)) in [(-1.0f32, Organ::KidneyRight), (1.0, Organ::KidneyLeft)].into_iter().enumerate() {
        let z = zk + if side > 0.0 { 12.0 } else { -8.0 } * s + uniform(rng, -10.0, 10.0);
        kidney_z[i] = z;
        let c = [f.px(side * 72.0), f.spine_y(-350.0) + 30.0 * s, z];
        let r = [uniform(rng, 24.0, 30.0) * s, 30.0 * s, uniform(rng, 50.0, 60.0) * s];
        let angle = side * 0.45;
        b.push(
            Object::new(Shape::ellipsoid(c, [r[0] + 10.0, r[1] + 10.0, r[2] + 8.0], angle), Tissue::Fat)
                .over(&[Tissue::Fat, Tissue::Muscle]),
        );
        b.push(
            Object::new(Shape::ellipsoid(c, r, angle), Tissue::Kidney)
                .organ(organ)
                .over(&[Tissue::Fat])
                .edge(1.5, 15.0),
        );
        let sinus = [c[0] - side * r[0] * 0.45, c[1] - 6.0, c[2]];
        b.push(
            Object::new(Shape::ellipsoid(sinus, [r[0] * 0.35, r[1] * 0.35, r[2] * 0.45], angle), Tissue::Fat)
                .organ(organ)
                .over(&[Tissue::Kidney])
                .edge(2.0, 8.0),
        );
    }
    kidney_z
}

/// The pancreas: a lobulated tube of drawn thickness from the splenic hilum across the aorta to the
/// duodenum, above the left kidney (at height `z_left_kidney`).
pub(super) fn pancreas(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng, z_left_kidney: f32) {
    let s = f.s;
    let zp = z_left_kidney + 30.0 * s;
    b.tube(
        &[
            [f.px(75.0), f.py(25.0), zp + 12.0],
            [f.px(40.0), f.py(0.0), zp + 5.0],
            [f.px(0.0), f.spine_y(-330.0) - 40.0 * s, zp],
            [f.px(-35.0), f.py(-8.0), zp - 10.0],
            [f.px(-48.0), f.py(0.0), zp - 25.0],
        ],
        uniform(rng, 10.0, 13.0) * s,
        uniform(rng, 14.0, 17.0) * s,
        |shape| Object::new(shape, Tissue::Pancreas).organ(Organ::Pancreas).over(&[Tissue::Fat]).edge(2.5, 7.0),
    );
}

/// The psoas muscles beside the lumbar spine, widening towards the pelvis.
pub(super) fn psoas_muscles(b: &mut Builder, f: &Frame) {
    let s = f.s;
    for side in [-1.0f32, 1.0] {
        let keys: Vec<LoftKey> = [(-330.0f32, 10.0f32), (-420.0, 18.0), (-520.0, 26.0), (-600.0, 24.0)]
            .iter()
            .map(|&(z, r)| key(f.zs(z), f.px(side * (35.0 + r * 0.8)), f.spine_y(z) + 8.0 * s, r * s, r * s * 0.9))
            .collect();
        b.push(Object::new(Shape::loft(keys, 2.0, 0.0), Tissue::Muscle).over(&[Tissue::Fat]).edge(1.5, 15.0));
    }
}

/// The bowel: the colon frame, then drawn small-bowel loops; each a muscle wall around its content
/// with gas pockets.
pub(super) fn bowel(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let mut paths: Vec<Vec<V3>> = vec![colon_path(f)];
    let loops = rng.random_range(4..8);
    for _ in 0..loops {
        paths.push(small_bowel_loop(f, rng));
    }
    for (k, path) in paths.iter().enumerate() {
        bowel_segment(b, f, rng, path, k == 0);
    }
}

/// The centre line of the colon: rectum, sigmoid, ascending, transverse and descending colon.
fn colon_path(f: &Frame) -> Vec<V3> {
    vec![
        [f.px(-5.0), f.py(-10.0), f.zs(-650.0)],
        [f.px(-20.0), f.spine_y(-560.0) - 20.0, f.zs(-560.0)],
        [f.px(70.0), f.py(0.0), f.zs(-520.0)],
        [f.px(92.0), f.py(10.0), f.zs(-420.0)],
        [f.px(85.0), f.py(-50.0), f.zs(-350.0)],
        [f.px(0.0), f.py(-75.0), f.zs(-380.0)],
        [f.px(-85.0), f.py(-50.0), f.zs(-360.0)],
        [f.px(-92.0), f.py(5.0), f.zs(-420.0)],
        [f.px(-85.0), f.py(-10.0), f.zs(-520.0)],
    ]
}

/// The centre line of a small-bowel loop: a random walk of five points in the lower abdomen.
fn small_bowel_loop(f: &Frame, rng: &mut ChaCha8Rng) -> Vec<V3> {
    let mut pts = Vec::new();
    let mut q = [f.px(uniform(rng, -60.0, 60.0)), f.py(uniform(rng, -70.0, 20.0)), f.zs(uniform(rng, -520.0, -400.0))];
    for _ in 0..5 {
        pts.push(q);
        // The last step is drawn too (and not used): the stream keeps its order.
        q = [
            (q[0] + uniform(rng, -40.0, 40.0)).clamp(f.px(-80.0), f.px(80.0)),
            (q[1] + uniform(rng, -30.0, 30.0)).clamp(f.py(-80.0), f.py(30.0)),
            (q[2] + uniform(rng, -35.0, 35.0)).clamp(f.zs(-560.0), f.zs(-380.0)),
        ];
    }
    pts
}

/// One bowel segment along `path`: wall, content (faeces in the colon, fluid or faeces in a small-bowel
/// loop) and one to four gas pockets.
fn bowel_segment(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng, path: &[V3], colon: bool) {
    let s = f.s;
    let r = if colon { 20.0 * s } else { uniform(rng, 10.0, 14.0) * s };
    let content = if colon || rng.random_bool(0.4) { Tissue::BowelContent } else { Tissue::Fluid };
    b.tube(path, r, r, |shape| Object::new(shape, Tissue::Muscle).over(&[Tissue::Fat]).edge(1.5, 12.0));
    b.tube(path, r - 2.5, r - 2.5, |shape| Object::new(shape, content).over(&[Tissue::Muscle]).edge(1.5, 12.0));
    for _ in 0..rng.random_range(1..5) {
        let q = path[rng.random_range(0..path.len())];
        let g = uniform(rng, 0.4, 1.0) * r;
        b.push(
            Object::new(Shape::ellipsoid([q[0], q[1] - r * 0.4, q[2]], [g, g, g * 1.5], 0.0), Tissue::Air)
                .over(&[content])
                .edge(1.0, 6.0),
        );
    }
}
