//! Blood vessels outside the lung trees: small peripheral lung vessels, the aorta and iliac arteries,
//! the venae cavae, and the pulmonary arteries to the hila.

use super::frame::Frame;
use super::thorax::Heart;
use crate::builder::Builder;
use crate::organ::Organ;
use crate::scene::Object;
use crate::shape::{Shape, V3};
use crate::tissue::Tissue;

/// A segment of a great vessel.
fn blood(shape: Shape) -> Object {
    Object::new(shape, Tissue::Blood).edge(0.4, 8.0).over(&[Tissue::Fat, Tissue::Lung, Tissue::Muscle])
}

/// Small peripheral vessels of the lungs (right then left): tubes along crossings of two noise ridges.
pub(super) fn peripheral_lung_vessels(b: &mut Builder, lungs: &[Shape; 2]) {
    for (lung, organ) in lungs.iter().zip([Organ::LungRight, Organ::LungLeft]) {
        b.push(
            Object::new(lung.clone(), Tissue::Blood)
                .organ(organ)
                .over(&[Tissue::Lung])
                .edge(0.0, 1.0)
                .tubes(14.0, 0.045),
        );
    }
}

/// The aorta from the heart over the arch and down in front of the spine, then the common iliac
/// arteries into the pelvis.
pub(super) fn aorta_and_iliac_arteries(b: &mut Builder, f: &Frame, heart: &Heart) {
    let s = f.s;
    let [hx, hy, z_heart] = heart.center;
    let arch_z = f.zl(-50.0);
    let desc_x = 24.0;
    b.tube(
        &[
            [hx - 20.0 * s, hy - 5.0, z_heart + 35.0 * s],
            [f.px(5.0), f.py(-30.0), arch_z - 25.0],
            [f.px(0.0), f.py(-15.0), arch_z],
            [f.px(desc_x), f.spine_y(-60.0) - 20.0 * s, arch_z - 15.0],
            [f.px(desc_x), f.spine_y(-200.0) - 16.0 * s, f.zs(-200.0)],
            [f.px(12.0), f.spine_y(-350.0) - 16.0 * s, f.zs(-350.0)],
            [f.px(5.0), f.spine_y(-460.0) - 18.0 * s, f.zs(-460.0)],
        ],
        14.0 * s,
        10.0 * s,
        blood,
    );
    for side in [-1.0f32, 1.0] {
        b.tube(
            &[
                [f.px(5.0), f.spine_y(-460.0) - 18.0 * s, f.zs(-460.0)],
                [f.px(side * 45.0), f.py(0.0), f.zs(-540.0)],
                [f.px(side * 80.0), f.py(-20.0), f.zs(-600.0)],
            ],
            7.0 * s,
            6.0 * s,
            blood,
        );
    }
}

/// The inferior vena cava up to the heart, and the superior vena cava down to it.
pub(super) fn venae_cavae(b: &mut Builder, f: &Frame, heart: &Heart) {
    let s = f.s;
    let [hx, hy, z_heart] = heart.center;
    b.tube(
        &[
            [f.px(-22.0), f.spine_y(-460.0) - 15.0 * s, f.zs(-460.0)],
            [f.px(-25.0), f.spine_y(-330.0) - 20.0 * s, f.zs(-330.0)],
            [f.px(-30.0), f.py(5.0), f.z_dome_right - 10.0],
            [hx - 35.0 * s, hy + 10.0, z_heart - 20.0 * s],
        ],
        11.0 * s,
        12.0 * s,
        blood,
    );
    b.tube(
        &[[f.px(-28.0), f.py(-25.0), f.zl(10.0)], [f.px(-25.0), f.py(-20.0), z_heart + 30.0 * s]],
        9.0 * s,
        10.0 * s,
        blood,
    );
}

/// The pulmonary trunk and arteries from the heart to the hila; returns the hila, right then left.
pub(super) fn pulmonary_arteries(b: &mut Builder, f: &Frame, heart: &Heart) -> [V3; 2] {
    let s = f.s;
    let [hx, hy, z_heart] = heart.center;
    let hilum_z = f.zl(-95.0);
    let hila = [[f.px(-55.0), f.py(-5.0), hilum_z], [f.px(55.0), f.py(-5.0), hilum_z + 8.0]];
    for h in hila {
        b.tube(
            &[[hx - 5.0, hy - 30.0 * s, z_heart + 35.0 * s], [f.px(0.0), f.py(-25.0), hilum_z + 10.0], h],
            11.0 * s,
            8.0 * s,
            blood,
        );
    }
    hila
}
