//! Procedural chest, abdomen and pelvis of one patient.
//!
//! A template adult (sizes in mm from anatomy atlases) is varied per patient: body size, fat
//! thickness, position on the table, breathing state (lung length and diaphragm height), organ sizes
//! and positions, sex (breast tissue). Heights: the lung apex is at z ≈ 0, the femoral heads at
//! z ≈ −600 mm (times the body size).
//!
//! [`build_torso`] draws the patient's frame (`frame`: size, width, fat, table position, breathing
//! state and landmark heights, with the template-to-patient mapping), then paints the anatomy in
//! named steps, each a function of the frame: the body wall (`body`), the chest (`thorax`,
//! `vessels`, `airways`), the abdomen (`abdomen`), the pelvis (`pelvis`) and the skeleton
//! (`skeleton`). Later objects paint over earlier ones, and the steps draw from the patient's random
//! stream in turn, so their order is part of the data.

mod abdomen;
mod airways;
mod body;
mod frame;
mod pelvis;
mod skeleton;
mod thorax;
mod vessels;

use rand_chacha::ChaCha8Rng;

use crate::builder::Builder;
use crate::scene::Object;
use crate::shape::Shape;
use frame::Frame;

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
///
/// The steps run in painting order and draw from `rng` in turn: reordering the steps, or the draws
/// within one, changes the data (`tests/golden.rs` guards it).
pub fn build_torso(rng: &mut ChaCha8Rng) -> Torso {
    let f = Frame::draw(rng);
    let mut b = Builder::default();

    body::outline(&mut b, &f);
    if f.female {
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
    airways::lung_trees(&mut b, &f, rng, &lungs, &heart.mediastinum, carina, hila);

    abdomen::liver(&mut b, &f, rng);
    abdomen::spleen(&mut b, &f, rng);
    abdomen::stomach(&mut b, &f, rng);
    let kidney_z = abdomen::kidneys(&mut b, &f, rng);
    abdomen::pancreas(&mut b, &f, rng, kidney_z[1]);
    abdomen::psoas_muscles(&mut b, &f);
    abdomen::bowel(&mut b, &f, rng);

    pelvis::bladder(&mut b, &f, rng);
    pelvis::hip_muscles(&mut b, &f);

    let rib_levels = skeleton::spine(&mut b, &f);
    skeleton::ribs(&mut b, &f, rng, &rib_levels);
    skeleton::sternum(&mut b, &f);
    skeleton::shoulder_girdle(&mut b, &f);
    pelvis::bones(&mut b, &f, rng);

    let [right_lung, left_lung] = lungs;
    Torso {
        objects: b.objects,
        landmarks: f.landmarks(),
        lungs: [left_lung, right_lung],
        mediastinum: vec![heart.mediastinum, heart.shape],
        female: f.female,
    }
}
