//! Procedural chest, abdomen and pelvis of one patient.
//!
//! A template adult (sizes in mm from anatomy atlases) is varied per patient: body size, fat
//! thickness, position on the table, breathing state (lung length and diaphragm height), organ sizes
//! and positions, sex (breast tissue). Heights: the lung apex is at z ≈ 0, the femoral heads at
//! z ≈ −600 mm (times the body size).

mod abdomen;
mod airways;
mod body;
mod frame;
mod thorax;
mod vessels;

use rand_chacha::ChaCha8Rng;

use crate::builder::Builder;
use crate::organ::Organ;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::{Shape, V3};
use crate::tissue::Tissue;
use frame::{key, Frame};

/// Heights (mm) of landmarks of a torso.
#[derive(Debug, Clone, PartialEq)]
pub struct TorsoLandmarks {
    /// Top of the scanned range.
    pub z_top: f32,
    /// Bottom of the scanned range.
    pub z_bottom: f32,
    /// Lung apex.
    pub z_apex: f32,
    /// Top of the right diaphragm dome.
    pub z_dome_right: f32,
    /// Top of the left diaphragm dome.
    pub z_dome_left: f32,
    /// Iliac crest (abdomen / pelvis boundary).
    pub z_iliac: f32,
    /// Centre of the femoral heads.
    pub z_femur: f32,
}

/// The anatomy of one torso.
#[derive(Debug, Clone)]
pub struct Torso {
    /// Objects in painting order.
    pub objects: Vec<Object>,
    /// Landmarks.
    pub landmarks: TorsoLandmarks,
    /// The lung shapes, left then right (for placing lesions).
    pub lungs: [Shape; 2],
    /// The mediastinum and heart (lesions stay out of them).
    pub mediastinum: Vec<Shape>,
    /// Whether the patient has breast tissue drawn.
    pub female: bool,
}

/// Build a torso from a random stream.
pub fn build_torso(rng: &mut ChaCha8Rng) -> Torso {
    let f = Frame::draw(rng);
    let (s, width, breath, female) = (f.s, f.width, f.breath, f.female);
    let (z_iliac, z_femur) = (f.z_iliac, f.z_femur);
    let zs = |z: f32| f.zs(z);
    let px = |x: f32| f.px(x);
    let py = |y: f32| f.py(y);
    let p = |x: f32, y: f32, z: f32| f.p(x, y, z);
    let cavity_ry = |z: f32| f.cavity_ry(z);
    let spine_y = |z: f32| f.spine_y(z);
    let mut b = Builder::default();

    body::outline(&mut b, &f);
    if female {
        body::breasts(&mut b, &f, rng);
    }
    body::paraspinal_muscles(&mut b, &f);

    let lungs = thorax::lungs(&mut b, &f);
    thorax::diaphragm(&mut b, &f);
    let heart = thorax::mediastinum_and_heart(&mut b, &f, rng);
    vessels::peripheral_lung_vessels(&mut b, &lungs);
    vessels::aorta_and_iliac_arteries(&mut b, &f, &heart);
    vessels::venae_cavae(&mut b, &f, &heart);
    let hila = vessels::pulmonary_arteries(&mut b, &f, &heart);
    let carina = airways::trachea(&mut b, &f);
    thorax::esophagus(&mut b, &f);
    for (i, side) in [-1.0f32, 1.0].into_iter().enumerate() {
        airways::lung_trees(&mut b, &f, rng, side, &lungs[i], &heart.mediastinum, carina, hila[i]);
    }

    abdomen::liver(&mut b, &f, rng);
    abdomen::spleen(&mut b, &f, rng);
    abdomen::stomach(&mut b, &f, rng);
    let kidney_z = abdomen::kidneys(&mut b, &f, rng);
    abdomen::pancreas(&mut b, &f, rng, kidney_z[1]);
    abdomen::psoas_muscles(&mut b, &f);
    abdomen::bowel(&mut b, &f, rng);

    // Bladder.
    let fill = uniform(rng, 0.6, 1.25);
    let bl_c = [px(0.0), py(-40.0), z_femur + 20.0 * s + 10.0 * fill];
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

    // Gluteal and thigh muscles.
    for side in [-1.0f32, 1.0] {
        b.push(
            Object::new(
                Shape::ellipsoid(p(side * 85.0, 70.0, -580.0), [60.0 * s, 35.0 * s, 85.0 * s], side * 0.3),
                Tissue::Muscle,
            )
            .over(&[Tissue::Fat])
            .edge(3.0, 25.0),
        );
        b.push(
            Object::new(
                Shape::ellipsoid(p(side * 105.0, -5.0, -740.0), [55.0 * s, 55.0 * s, 120.0 * s], 0.0),
                Tissue::Muscle,
            )
            .over(&[Tissue::Fat])
            .edge(3.0, 25.0),
        );
    }

    // Spine: vertebrae with discs, posterior arches, spinal canal; ribs; sternum; clavicles; scapulae.
    let mut z = zs(40.0);
    let mut level = 0;
    let mut rib_levels = Vec::new();
    while z > z_iliac - 20.0 {
        let lumbar = level >= 13;
        let h = if lumbar {
            33.0
        } else if level >= 1 {
            24.0
        } else {
            18.0
        } * s;
        let zt = (z - zs(40.0)) / s; // template height
        let sy = spine_y(zt);
        let rb = (14.0 + 0.025 * (-zt).max(0.0)) * s; // body radius grows downwards
        let disc = if lumbar { 9.0 } else { 5.0 } * s;
        let body_keys = vec![key(z - h + disc, px(0.0), sy + rb, rb * 1.1, rb), key(z, px(0.0), sy + rb, rb * 1.1, rb)];
        b.push(
            Object::new(
                Shape::loft(
                    vec![
                        key(z - h, px(0.0), sy + rb, rb * 1.05, rb * 0.95),
                        key(z - h + disc, px(0.0), sy + rb, rb * 1.05, rb * 0.95),
                    ],
                    2.0,
                    0.0,
                ),
                Tissue::Cartilage,
            )
            .edge(0.5, 6.0),
        );
        b.bone(Shape::loft(body_keys, 2.0, 0.0), 1.5 * s, None);
        let back = sy + 2.0 * rb;
        let zc = z - h * 0.45;
        for sd in [-1.0f32, 1.0] {
            b.bone(
                Shape::capsule(
                    [px(sd * rb * 0.7), back - 3.0, zc],
                    [px(sd * 9.0), back + 16.0 * s, zc],
                    4.0 * s,
                    4.0 * s,
                ),
                1.2,
                None,
            );
            let tlen = if lumbar { 38.0 } else { 30.0 } * s;
            b.bone(
                Shape::capsule(
                    [px(sd * 10.0), back + 10.0 * s, zc],
                    [px(sd * tlen), back + 12.0 * s, zc + 4.0],
                    4.5 * s,
                    4.0 * s,
                ),
                1.2,
                None,
            );
        }
        b.bone(
            Shape::capsule([px(0.0), back + 18.0 * s, zc], [px(0.0), back + 34.0 * s, zc - 12.0 * s], 5.0 * s, 4.0 * s),
            1.2,
            None,
        );
        b.push(
            Object::new(
                Shape::capsule([px(0.0), back + 9.0 * s, z], [px(0.0), back + 9.0 * s, z - h], 8.0 * s, 8.0 * s),
                Tissue::Fluid,
            )
            .edge(0.5, 5.0),
        );
        if z > zs(-300.0) {
            b.push(
                Object::new(
                    Shape::capsule([px(0.0), back + 9.0 * s, z], [px(0.0), back + 9.0 * s, z - h], 4.5 * s, 4.5 * s),
                    Tissue::WhiteMatter,
                )
                .over(&[Tissue::Fluid])
                .edge(0.3, 5.0),
            );
        }
        if (1..=12).contains(&level) {
            rib_levels.push((level, zc, back, rb));
        }
        z -= h;
        level += 1;
    }
    // Ribs.
    let zt_of = |z: f32| f.template_z(z);
    for (level, zc, back, _) in rib_levels {
        let reach: f32 = match level {
            1..=7 => 2.75,
            8..=10 => 2.35,
            _ => 1.5,
        };
        let drop = uniform(rng, 55.0, 85.0) * s * breath.sqrt();
        for side in [-1.0f32, 1.0] {
            let rx = 150.0 * s * width - 18.0;
            let ry = cavity_ry(zt_of(zc)) + 6.0;
            let cy = py(-4.0);
            let mut pts = vec![[px(side * 14.0), back - 6.0, zc]];
            let n = 8;
            for k in 0..=n {
                let th = 0.35 + (reach - 0.35) * k as f32 / n as f32;
                pts.push([px(side * rx * th.sin()), cy + ry * th.cos(), zc - drop * (1.0 - (0.5 * th).cos()) * 1.6]);
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
                    [px(side * 14.0), py(-(cavity_ry(zt_of(zc)) + 8.0)), pts[cut][2] + 5.0],
                ];
                b.tube(&cart, r * 0.85, r * 0.8, |shape| Object::new(shape, Tissue::Cartilage).edge(0.4, 6.0));
            }
        }
    }
    // Sternum.
    let sternum_y = |zt: f32| f.sternum_y(zt);
    let st_keys = vec![
        key(zs(-20.0), px(0.0), sternum_y(-20.0), 24.0 * s, 8.0),
        key(zs(-60.0), px(0.0), sternum_y(-60.0), 16.0 * s, 7.0),
        key(zs(-190.0), px(0.0), sternum_y(-190.0), 13.0 * s, 7.0),
    ];
    b.bone(Shape::loft(st_keys, 2.0, 0.0), 1.5, None);
    // Clavicles and scapulae.
    for side in [-1.0f32, 1.0] {
        let a = [px(side * 25.0), sternum_y(-10.0) + 5.0, zs(-5.0)];
        b.tube(
            &[a, [px(side * 80.0), sternum_y(-10.0), zs(10.0)], [px(side * 135.0), py(-20.0), zs(20.0)]],
            7.0 * s,
            8.0 * s,
            |shape| Object::new(shape, Tissue::CorticalBone).edge(0.4, 6.0),
        );
        let sc = [px(side * 95.0), py(0.0) + cavity_ry(-90.0) - 2.0 * s, zs(-90.0)];
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
    // Pelvis: iliac wings, sacrum, acetabula, pubic and ischial rami; femurs.
    let sacrum_y = spine_y(-520.0) + 25.0 * s;
    b.bone(Shape::ellipsoid([px(0.0), sacrum_y, zs(-530.0)], [45.0 * s, 20.0 * s, 60.0 * s], 0.0), 2.0, None);
    for (side, organ) in [(-1.0f32, Organ::FemurRight), (1.0, Organ::FemurLeft)] {
        b.bone(Shape::ellipsoid(p(side * 92.0, 35.0, -500.0), [9.0 * s, 62.0 * s, 60.0 * s], side * 0.6), 2.0, None);
        let fh = [px(side * 92.0), py(-5.0), z_femur];
        let fr = uniform(rng, 21.0, 25.0) * s;
        b.bone(Shape::sphere(fh, fr + 5.0), 2.5, None);
        b.bone(
            Shape::capsule(
                [px(side * 80.0), py(-15.0), z_femur - 5.0],
                [px(side * 15.0), py(-70.0), z_femur - 20.0 * s],
                9.0 * s,
                8.0 * s,
            ),
            2.0,
            None,
        );
        b.bone(
            Shape::capsule(
                [px(side * 85.0), py(25.0), z_femur - 10.0],
                [px(side * 65.0), py(35.0), z_femur - 70.0 * s],
                12.0 * s,
                10.0 * s,
            ),
            2.0,
            None,
        );
        // The femur paints over the acetabulum.
        b.bone(Shape::sphere(fh, fr), 2.0, Some(organ));
        b.bone(
            Shape::capsule(fh, [px(side * 125.0), py(8.0), z_femur - 35.0 * s], 14.0 * s, 15.0 * s),
            2.5,
            Some(organ),
        );
        b.bone(
            Shape::ellipsoid([px(side * 130.0), py(12.0), z_femur - 40.0 * s], [17.0 * s, 22.0 * s, 25.0 * s], 0.0),
            2.0,
            Some(organ),
        );
        b.bone(
            Shape::capsule(
                [px(side * 122.0), py(8.0), z_femur - 50.0 * s],
                [px(side * 112.0), py(2.0), z_femur - 260.0 * s],
                14.0 * s,
                13.0 * s,
            ),
            4.0,
            Some(organ),
        );
    }

    Torso {
        objects: b.objects,
        landmarks: f.landmarks(),
        lungs: [lungs[1].clone(), lungs[0].clone()],
        mediastinum: vec![heart.mediastinum, heart.shape],
        female,
    }
}
