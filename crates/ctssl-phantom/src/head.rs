//! Procedural head of one patient: scalp, skull (tables and diploe), CSF, cortex with sulci, white
//! matter, deep grey nuclei, ventricles, the interhemispheric fissure and falx.
//!
//! The cranial vault is centred at z = 0; the series covers the cerebrum from z ≈ −20 mm to near the vertex.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::builder::Builder;
use crate::scanner::uniform;
use crate::scene::Object;
use crate::shape::{LoftKey, Shape, V3};
use crate::tissue::Tissue;

/// The anatomy of one head.
#[derive(Debug, Clone)]
pub struct Head {
    /// Objects in painting order.
    pub objects: Vec<Object>,
    /// Top of the scanned range, mm.
    pub z_top: f32,
    /// Bottom of the scanned range, mm.
    pub z_bottom: f32,
    /// The intracranial space (inside the inner table).
    pub intracranial: Shape,
    /// The brain surface (for placing lesions).
    pub brain: Shape,
    /// Centres of the left and right basal ganglia.
    pub basal_ganglia: [V3; 2],
}

/// Build a head from a random stream.
pub fn build_head(rng: &mut ChaCha8Rng) -> Head {
    let s = uniform(rng, 0.92, 1.08);
    let ox = uniform(rng, -8.0, 8.0);
    let oy = uniform(rng, -8.0, 8.0);
    let tilt = uniform(rng, -0.08, 0.08); // turn about z
    let atrophy = uniform(rng, 0.0, 1.0); // wider sulci and ventricles with age
    let c = [ox, oy, 0.0];
    let outer = [uniform(rng, 70.0, 78.0) * s, uniform(rng, 88.0, 98.0) * s, 88.0 * s];
    let thick = uniform(rng, 5.0, 8.0);
    let csf = 1.5 + 2.0 * atrophy;
    let grow = |r: [f32; 3], d: f32| [r[0] + d, r[1] + d, r[2] + d];
    let rot = |x: f32, y: f32| -> (f32, f32) {
        let (sn, cs) = tilt.sin_cos();
        (ox + cs * x - sn * y, oy + sn * x + cs * y)
    };
    let at = |x: f32, y: f32, z: f32| -> V3 {
        let (a, b) = rot(x * s, y * s);
        [a, b, z * s]
    };
    let mut b = Builder::default();
    b.push(Object::new(Shape::ellipsoid(c, grow(outer, 6.0), tilt), Tissue::Muscle).edge(1.0, 20.0));
    b.push(Object::new(Shape::ellipsoid(c, grow(outer, 4.0), tilt), Tissue::Fat).shell(2.5).edge(0.8, 15.0));
    b.push(Object::new(Shape::ellipsoid(c, outer, tilt), Tissue::CorticalBone).edge(0.8, 25.0));
    b.push(Object::new(Shape::ellipsoid(c, grow(outer, -1.8), tilt), Tissue::CancellousBone).edge(0.8, 20.0));
    b.push(Object::new(Shape::ellipsoid(c, grow(outer, 1.8 - thick), tilt), Tissue::CorticalBone).edge(0.6, 20.0));
    let intracranial = Shape::ellipsoid(c, grow(outer, -thick), tilt);
    b.push(Object::new(intracranial.clone(), Tissue::Fluid).edge(0.4, 20.0));
    let brain = Shape::ellipsoid(c, grow(outer, -thick - csf), tilt);
    b.push(Object::new(brain.clone(), Tissue::GreyMatter).edge(1.5, 7.0).over(&[Tissue::Fluid]));
    // Sulci: CSF along noise ridges within the outer 14 mm of the brain.
    b.push(
        Object::new(brain.clone(), Tissue::Fluid)
            .shell(14.0)
            .edge(1.0, 7.0)
            .over(&[Tissue::GreyMatter])
            .pattern(8.0, 0.02 + 0.03 * atrophy),
    );
    // White matter of each hemisphere: an irregular core with finger-like boundary.
    for side in [-1.0f32, 1.0] {
        let wc = at(side * 30.0, 4.0, 12.0);
        b.push(
            Object::new(Shape::ellipsoid(wc, [31.0 * s, 64.0 * s, 50.0 * s], tilt), Tissue::WhiteMatter)
                .over(&[Tissue::GreyMatter])
                .edge(9.0, 13.0),
        );
    }
    b.push(
        Object::new(Shape::ellipsoid(at(0.0, 4.0, 22.0), [22.0 * s, 42.0 * s, 7.0 * s], tilt), Tissue::WhiteMatter)
            .edge(1.0, 8.0),
    );
    // Interhemispheric fissure (CSF) with the falx inside: complete above the corpus callosum.
    let slab = |z0: f32, z1: f32, y: f32, ry: f32, rx: f32| {
        let (x, yy) = rot(0.0, y * s);
        Shape::loft(
            vec![
                LoftKey { z: z0 * s, center: [x, yy], radii: [rx, ry * s] },
                LoftKey { z: z1 * s, center: [x, yy], radii: [rx, ry * s] },
            ],
            6.0,
            tilt,
        )
    };
    let fissure_w = 1.2 + 1.2 * atrophy;
    for (z0, z1, y, ry) in [(30.0, 100.0, 0.0, 110.0), (-40.0, 30.0, -62.0, 35.0), (-40.0, 30.0, 68.0, 32.0)] {
        b.push(
            Object::new(slab(z0, z1, y, ry, fissure_w), Tissue::Fluid)
                .over(&[Tissue::GreyMatter, Tissue::WhiteMatter])
                .edge(0.5, 10.0),
        );
        b.push(Object::new(slab(z0, z1, y, ry, 0.5), Tissue::Muscle).over(&[Tissue::Fluid]).edge(0.2, 10.0));
    }
    // Deep grey nuclei.
    let mut basal_ganglia = [[0.0; 3]; 2];
    for (i, side) in [1.0f32, -1.0].into_iter().enumerate() {
        let bg = at(side * 22.0, -4.0, 4.0);
        basal_ganglia[i] = bg;
        b.push(
            Object::new(Shape::ellipsoid(bg, [8.0 * s, 17.0 * s, 10.0 * s], tilt + side * 0.25), Tissue::GreyMatter)
                .over(&[Tissue::WhiteMatter])
                .edge(1.5, 6.0),
        );
        b.push(
            Object::new(
                Shape::ellipsoid(at(side * 11.0, 16.0, 4.0), [9.0 * s, 13.0 * s, 10.0 * s], tilt),
                Tissue::GreyMatter,
            )
            .over(&[Tissue::WhiteMatter])
            .edge(1.5, 6.0),
        );
    }
    // Ventricles.
    let v = 0.8 + 0.8 * atrophy + uniform(rng, -0.1, 0.1);
    for side in [-1.0f32, 1.0] {
        let body = [
            at(side * 9.0, -22.0, 12.0),
            at(side * 11.0, 0.0, 20.0),
            at(side * 14.0, 25.0, 18.0),
            at(side * 20.0, 48.0, 8.0),
        ];
        let radii = [5.5 * v, 4.5 * v, 4.5 * v, 3.0 * v];
        for k in 0..3 {
            b.push(
                Object::new(Shape::capsule(body[k], body[k + 1], radii[k], radii[k + 1]), Tissue::Fluid)
                    .over(&[Tissue::WhiteMatter, Tissue::GreyMatter])
                    .edge(0.8, 6.0),
            );
        }
    }
    b.push(
        Object::new(Shape::ellipsoid(at(0.0, 8.0, 0.0), [1.5 * v, 14.0 * s, 9.0 * s], tilt), Tissue::Fluid)
            .over(&[Tissue::WhiteMatter, Tissue::GreyMatter])
            .edge(0.4, 6.0),
    );
    // Occasional calcified pineal gland and choroid plexus.
    if rng.random_bool(0.5) {
        b.push(Object::new(Shape::sphere(at(0.0, 26.0, 2.0), 2.5), Tissue::CorticalBone).edge(0.3, 3.0));
    }

    Head { objects: b.objects, z_top: 72.0 * s, z_bottom: -20.0 * s, intracranial, brain, basal_ganglia }
}
