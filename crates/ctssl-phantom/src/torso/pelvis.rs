//! The pelvis: bladder, gluteal and thigh muscles, the pelvic bones and the femurs.

use rand_chacha::ChaCha8Rng;

use super::frame::Frame;
use crate::builder::Builder;
use crate::organ::Organ;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::Shape;
use crate::tissue::Tissue;

/// The bladder: a muscle wall around urine, its size and height set by a drawn filling.
pub(super) fn bladder(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let s = f.s;
    let fill = uniform(rng, 0.6, 1.25);
    let bl_c = [f.px(0.0), f.py(-40.0), f.z_femur + 20.0 * s + 10.0 * fill];
    let bl_r = [45.0 * s * fill, 38.0 * s * fill, 35.0 * s * fill];
    b.push(
        Object::new(Shape::ellipsoid(bl_c, bl_r, 0.0), Tissue::Muscle)
            .organ(Organ::Bladder)
            .over(&[Tissue::Fat, Tissue::Muscle, Tissue::BowelContent, Tissue::Fluid])
            .edge(2.0, 20.0),
    );
    b.push(
        Object::new(Shape::ellipsoid(bl_c, [bl_r[0] - 3.0, bl_r[1] - 3.0, bl_r[2] - 3.0], 0.0), Tissue::Fluid)
            .organ(Organ::Bladder)
            .over(&[Tissue::Muscle])
            .edge(2.0, 20.0),
    );
}

/// Gluteal and thigh muscles on each side.
pub(super) fn hip_muscles(b: &mut Builder, f: &Frame) {
    let s = f.s;
    for side in [-1.0f32, 1.0] {
        b.push(
            Object::new(
                Shape::ellipsoid(f.p(side * 85.0, 70.0, -580.0), [60.0 * s, 35.0 * s, 85.0 * s], side * 0.3),
                Tissue::Muscle,
            )
            .over(&[Tissue::Fat])
            .edge(3.0, 25.0),
        );
        b.push(
            Object::new(
                Shape::ellipsoid(f.p(side * 105.0, -5.0, -740.0), [55.0 * s, 55.0 * s, 120.0 * s], 0.0),
                Tissue::Muscle,
            )
            .over(&[Tissue::Fat])
            .edge(3.0, 25.0),
        );
    }
}

/// The sacrum, then on each side the hip bone and the femur, whose head has a drawn radius.
pub(super) fn bones(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng) {
    let s = f.s;
    let sacrum_y = f.spine_y(-520.0) + 25.0 * s;
    b.bone(Shape::ellipsoid([f.px(0.0), sacrum_y, f.zs(-530.0)], [45.0 * s, 20.0 * s, 60.0 * s], 0.0), 2.0, None);
    for (side, organ) in [(-1.0f32, Organ::FemurRight), (1.0, Organ::FemurLeft)] {
        let head_radius = uniform(rng, 21.0, 25.0) * s;
        hip_bone(b, f, side, head_radius);
        // The femur paints over the acetabulum.
        femur(b, f, side, organ, head_radius);
    }
}

/// One hip bone: the iliac wing, the acetabulum around the femoral head, the pubic and ischial rami.
fn hip_bone(b: &mut Builder, f: &Frame, side: f32, head_radius: f32) {
    let (s, z_femur) = (f.s, f.z_femur);
    b.bone(Shape::ellipsoid(f.p(side * 92.0, 35.0, -500.0), [9.0 * s, 62.0 * s, 60.0 * s], side * 0.6), 2.0, None);
    let fh = [f.px(side * 92.0), f.py(-5.0), z_femur];
    b.bone(Shape::sphere(fh, head_radius + 5.0), 2.5, None);
    b.bone(
        Shape::capsule(
            [f.px(side * 80.0), f.py(-15.0), z_femur - 5.0],
            [f.px(side * 15.0), f.py(-70.0), z_femur - 20.0 * s],
            9.0 * s,
            8.0 * s,
        ),
        2.0,
        None,
    );
    b.bone(
        Shape::capsule(
            [f.px(side * 85.0), f.py(25.0), z_femur - 10.0],
            [f.px(side * 65.0), f.py(35.0), z_femur - 70.0 * s],
            12.0 * s,
            10.0 * s,
        ),
        2.0,
        None,
    );
}

/// One femur (of the organ task): head, neck, greater trochanter and proximal shaft.
fn femur(b: &mut Builder, f: &Frame, side: f32, organ: Organ, head_radius: f32) {
    let (s, z_femur) = (f.s, f.z_femur);
    let fh = [f.px(side * 92.0), f.py(-5.0), z_femur];
    b.bone(Shape::sphere(fh, head_radius), 2.0, Some(organ));
    b.bone(
        Shape::capsule(fh, [f.px(side * 125.0), f.py(8.0), z_femur - 35.0 * s], 14.0 * s, 15.0 * s),
        2.5,
        Some(organ),
    );
    b.bone(
        Shape::ellipsoid([f.px(side * 130.0), f.py(12.0), z_femur - 40.0 * s], [17.0 * s, 22.0 * s, 25.0 * s], 0.0),
        2.0,
        Some(organ),
    );
    b.bone(
        Shape::capsule(
            [f.px(side * 122.0), f.py(8.0), z_femur - 50.0 * s],
            [f.px(side * 112.0), f.py(2.0), z_femur - 260.0 * s],
            14.0 * s,
            13.0 * s,
        ),
        4.0,
        Some(organ),
    );
}
