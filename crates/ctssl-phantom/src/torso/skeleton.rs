//! The skeleton of the chest and abdomen: vertebrae with discs, posterior arches and the spinal
//! canal; ribs with their cartilages; sternum; clavicles and scapulae.

use rand_chacha::ChaCha8Rng;

use super::frame::{key, Frame};
use crate::builder::Builder;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::{Shape, V3};
use crate::tissue::Tissue;

/// A thoracic vertebra (levels 1 to 12) and where its pair of ribs starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct RibLevel {
    /// Vertebra number from the top (0 is the lowest cervical vertebra).
    pub level: u32,
    /// Height of the rib heads, mm.
    pub zc: f32,
    /// y of the back of the vertebral body, mm.
    pub back: f32,
}

/// The spine from above the apex down to the iliac crest: one cervical, twelve thoracic, then
/// lumbar vertebrae; returns the thoracic levels for the ribs.
pub(super) fn spine(b: &mut Builder, f: &Frame) -> Vec<RibLevel> {
    let s = f.s;
    let mut z = f.zs(40.0);
    let mut level = 0;
    let mut rib_levels = Vec::new();
    while z > f.z_iliac - 20.0 {
        let lumbar = level >= 13;
        let h = if lumbar {
            33.0
        } else if level >= 1 {
            24.0
        } else {
            18.0
        } * s;
        let (zc, back) = vertebra(b, f, z, h, lumbar);
        if (1..=12).contains(&level) {
            rib_levels.push(RibLevel { level, zc, back });
        }
        z -= h;
        level += 1;
    }
    rib_levels
}

/// One vertebra from height `z` down by `h` (its disc at the bottom); returns the height of its
/// arch and the y of the back of its body.
fn vertebra(b: &mut Builder, f: &Frame, z: f32, h: f32, lumbar: bool) -> (f32, f32) {
    let s = f.s;
    // Template height below the top of the spine (the spine's template heights start 40 mm above
    // the apex, not at it).
    let zt = (z - f.zs(40.0)) / s;
    let sy = f.spine_y(zt);
    let rb = (14.0 + 0.025 * (-zt).max(0.0)) * s; // body radius grows downwards
    let disc = if lumbar { 9.0 } else { 5.0 } * s;
    vertebral_body(b, f, z, h, disc, sy + rb, rb);
    let back = sy + 2.0 * rb;
    let zc = z - h * 0.45;
    posterior_arch(b, f, zc, back, rb, lumbar);
    spinal_canal(b, f, z, h, back);
    (zc, back)
}

/// The disc (cartilage, `disc` mm at the bottom) and the bony body above it, centred at y `cy`.
fn vertebral_body(b: &mut Builder, f: &Frame, z: f32, h: f32, disc: f32, cy: f32, rb: f32) {
    let x = f.px(0.0);
    let body_keys = vec![key(z - h + disc, x, cy, rb * 1.1, rb), key(z, x, cy, rb * 1.1, rb)];
    b.push(
        Object::new(
            Shape::loft(
                vec![key(z - h, x, cy, rb * 1.05, rb * 0.95), key(z - h + disc, x, cy, rb * 1.05, rb * 0.95)],
                2.0,
                0.0,
            ),
            Tissue::Cartilage,
        )
        .edge(0.5, 6.0),
    );
    b.bone(Shape::loft(body_keys, 2.0, 0.0), 1.5 * f.s, None);
}

/// Pedicles with laminae and transverse processes on each side, then the spinous process.
fn posterior_arch(b: &mut Builder, f: &Frame, zc: f32, back: f32, rb: f32, lumbar: bool) {
    let s = f.s;
    for sd in [-1.0f32, 1.0] {
        b.bone(
            Shape::capsule(
                [f.px(sd * rb * 0.7), back - 3.0, zc],
                [f.px(sd * 9.0), back + 16.0 * s, zc],
                4.0 * s,
                4.0 * s,
            ),
            1.2,
            None,
        );
        let tlen = if lumbar { 38.0 } else { 30.0 } * s;
        b.bone(
            Shape::capsule(
                [f.px(sd * 10.0), back + 10.0 * s, zc],
                [f.px(sd * tlen), back + 12.0 * s, zc + 4.0],
                4.5 * s,
                4.0 * s,
            ),
            1.2,
            None,
        );
    }
    b.bone(
        Shape::capsule([f.px(0.0), back + 18.0 * s, zc], [f.px(0.0), back + 34.0 * s, zc - 12.0 * s], 5.0 * s, 4.0 * s),
        1.2,
        None,
    );
}

/// The spinal canal (fluid) behind the body, with the cord in it down to the upper lumbar spine.
fn spinal_canal(b: &mut Builder, f: &Frame, z: f32, h: f32, back: f32) {
    let s = f.s;
    let (top, bottom) = ([f.px(0.0), back + 9.0 * s, z], [f.px(0.0), back + 9.0 * s, z - h]);
    b.push(Object::new(Shape::capsule(top, bottom, 8.0 * s, 8.0 * s), Tissue::Fluid).edge(0.5, 5.0));
    if z > f.zs(-300.0) {
        b.push(
            Object::new(Shape::capsule(top, bottom, 4.5 * s, 4.5 * s), Tissue::WhiteMatter)
                .over(&[Tissue::Fluid])
                .edge(0.3, 5.0),
        );
    }
}

/// A pair of ribs for each thoracic level, each dropping by a drawn amount (more with deeper breath)
/// as it curves round the cavity.
pub(super) fn ribs(b: &mut Builder, f: &Frame, rng: &mut ChaCha8Rng, levels: &[RibLevel]) {
    for l in levels {
        let reach: f32 = match l.level {
            1..=7 => 2.75,
            8..=10 => 2.35,
            _ => 1.5,
        };
        let drop = uniform(rng, 55.0, 85.0) * f.s * f.breath.sqrt();
        for side in [-1.0f32, 1.0] {
            rib(b, f, l, side, reach, drop);
        }
    }
}

/// One rib from the spine round the cavity (to angle `reach`, radians from the back), bone then
/// cortex; the upper seven (true ribs) end in a cartilage to the sternum.
fn rib(b: &mut Builder, f: &Frame, l: &RibLevel, side: f32, reach: f32, drop: f32) {
    let s = f.s;
    let (level, zc, back) = (l.level, l.zc, l.back);
    let rx = 150.0 * s * f.width - 18.0;
    let ry = f.cavity_ry(f.template_z(zc)) + 6.0;
    let cy = f.py(-4.0);
    let mut pts = vec![[f.px(side * 14.0), back - 6.0, zc]];
    let n = 8;
    for k in 0..=n {
        let th = 0.35 + (reach - 0.35) * k as f32 / n as f32;
        pts.push([f.px(side * rx * th.sin()), cy + ry * th.cos(), zc - drop * (1.0 - (0.5 * th).cos()) * 1.6]);
    }
    let cut = if level <= 7 { pts.len() - 2 } else { pts.len() };
    let r = if level == 1 { 6.0 } else { 5.0 } * s;
    let bone_pts: Vec<V3> = pts[..cut].to_vec();
    b.tube(&bone_pts, r, r * 0.85, |shape| Object::new(shape, Tissue::CancellousBone).edge(0.4, 6.0));
    b.tube(&bone_pts, r, r * 0.85, |shape| Object::new(shape, Tissue::CorticalBone).edge(0.4, 6.0).shell(1.5));
    if level <= 7 {
        let cart: Vec<V3> = vec![
            pts[cut - 1],
            pts[cut],
            [f.px(side * 14.0), f.py(-(f.cavity_ry(f.template_z(zc)) + 8.0)), pts[cut][2] + 5.0],
        ];
        b.tube(&cart, r * 0.85, r * 0.8, |shape| Object::new(shape, Tissue::Cartilage).edge(0.4, 6.0));
    }
}

/// The sternum in front of the cavity: manubrium and body.
pub(super) fn sternum(b: &mut Builder, f: &Frame) {
    let s = f.s;
    let st_keys = vec![
        key(f.zs(-20.0), f.px(0.0), f.sternum_y(-20.0), 24.0 * s, 8.0),
        key(f.zs(-60.0), f.px(0.0), f.sternum_y(-60.0), 16.0 * s, 7.0),
        key(f.zs(-190.0), f.px(0.0), f.sternum_y(-190.0), 13.0 * s, 7.0),
    ];
    b.bone(Shape::loft(st_keys, 2.0, 0.0), 1.5, None);
}

/// The clavicles from the sternum outwards, and the scapulae (muscle with a thin bony blade) on the
/// back of the chest.
pub(super) fn shoulder_girdle(b: &mut Builder, f: &Frame) {
    let s = f.s;
    for side in [-1.0f32, 1.0] {
        let a = [f.px(side * 25.0), f.sternum_y(-10.0) + 5.0, f.zs(-5.0)];
        b.tube(
            &[a, [f.px(side * 80.0), f.sternum_y(-10.0), f.zs(10.0)], [f.px(side * 135.0), f.py(-20.0), f.zs(20.0)]],
            7.0 * s,
            8.0 * s,
            |shape| Object::new(shape, Tissue::CorticalBone).edge(0.4, 6.0),
        );
        let sc = [f.px(side * 95.0), f.py(0.0) + f.cavity_ry(-90.0) - 2.0 * s, f.zs(-90.0)];
        b.push(
            Object::new(Shape::ellipsoid(sc, [50.0 * s, 16.0 * s, 75.0 * s], side * -0.45), Tissue::Muscle)
                .over(&[Tissue::Fat])
                .edge(3.0, 20.0),
        );
        let blade =
            Object::new(Shape::ellipsoid(sc, [42.0 * s, 3.5 * s, 68.0 * s], side * -0.45), Tissue::CorticalBone)
                .over(&[Tissue::Muscle, Tissue::Fat])
                .edge(0.5, 8.0);
        b.push(blade);
    }
}
