//! Placement of the task lesions: ground-glass opacity and consolidation in the lungs, intracranial
//! haemorrhage (intraparenchymal blob or subdural crescent) in the head.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::config::{HeadTask, LungTask};
use crate::head::Head;
use crate::scanner::uniform;
use crate::scene::{Lesion, LesionKind};
use crate::shape::Shape;
use crate::tissue::{Tissue, TissueSet};
use crate::torso::Torso;

/// Lung lesions centred on some of the chest slices at heights `slice_z`.
pub fn place_lung_lesions(
    rng: &mut ChaCha8Rng,
    task: &LungTask,
    torso: &Torso,
    slice_z: &[f32],
    lung_hu: f32,
) -> Vec<Lesion> {
    let lm = &torso.landmarks;
    let half_gap = 0.5 * spacing_of(slice_z);
    let mut out = Vec::new();
    for &z in slice_z {
        if z > lm.z_apex - 15.0 || z < lm.z_dome_left.min(lm.z_dome_right) - 20.0 {
            continue;
        }
        if !rng.random_bool(task.positive_fraction as f64) {
            continue;
        }
        let count = rng.random_range(1..=task.max_lesions.max(1));
        for _ in 0..count {
            let r = uniform(rng, task.lesion_radius_mm.0, task.lesion_radius_mm.1);
            let peripheral = !rng.random_bool(task.location_spread as f64);
            let lung = &torso.lungs[rng.random_range(0..2)];
            let bounds = lung.bounds();
            let mut centre = None;
            for _ in 0..400 {
                let q = [
                    uniform(rng, bounds.min[0], bounds.max[0]),
                    uniform(rng, bounds.min[1], bounds.max[1]),
                    z + uniform(rng, -0.1, 0.1) * half_gap,
                ];
                let d = lung.distance(q);
                if d > -0.4 * r || torso.mediastinum.iter().any(|m| m.distance(q) < r * 0.5) {
                    continue;
                }
                // Peripheral: within 25 mm of the pleura, in the posterior (dependent) half.
                if peripheral && (d < -25.0 || q[1] < bounds.center()[1] - 10.0) {
                    continue;
                }
                centre = Some(q);
                break;
            }
            let Some(c) = centre else { continue };
            // The z extent stays within the gap to the next slices, so a lesion shows on one slice only.
            let rz = (r * uniform(rng, 0.7, 1.1)).min(0.7 * half_gap);
            let radii = [r * uniform(rng, 0.8, 1.25), r * uniform(rng, 0.8, 1.25), rz];
            let shape = Shape::ellipsoid(c, radii, uniform(rng, 0.0, std::f32::consts::PI));
            let consolidation = rng.random_bool(task.consolidation_fraction as f64);
            let (kind, range, margin, texture, over) = if consolidation {
                (
                    LesionKind::Consolidation,
                    task.consolidation_hu,
                    0.15 * r,
                    20.0,
                    TissueSet::of(&[Tissue::Lung, Tissue::Blood]),
                )
            } else {
                (LesionKind::GroundGlass, task.ground_glass_hu, 0.35 * r, 45.0, TissueSet::of(&[Tissue::Lung]))
            };
            // Ground glass stays at least 100 HU above the patient's aerated lung (else it is no opacity).
            let drawn = uniform(rng, range.0.max(lung_hu + 100.0).min(range.1), range.1);
            out.push(Lesion {
                kind,
                shape,
                hu: lung_hu + task.contrast * (drawn - lung_hu),
                texture,
                over,
                margin,
                edge_noise: 0.3 * r,
                edge_scale: r.max(2.0),
            });
        }
    }
    out
}

/// Haemorrhages centred on some of the brain slices at heights `slice_z`, with oedema around blobs.
pub fn place_head_lesions(
    rng: &mut ChaCha8Rng,
    task: &HeadTask,
    head: &Head,
    slice_z: &[f32],
    brain_hu: f32,
) -> Vec<Lesion> {
    let mut out = Vec::new();
    let bb = head.brain.bounds();
    let half_gap = 0.5 * spacing_of(slice_z);
    for &z in slice_z {
        // Only where the slice crosses a good part of the brain.
        let span = (bb.max[2] - bb.min[2]) * 0.5;
        if (z - bb.center()[2]).abs() > 0.85 * span || z < head.z_bottom {
            continue;
        }
        if !rng.random_bool(task.positive_fraction as f64) {
            continue;
        }
        let drawn = uniform(rng, task.blood_hu.0, task.blood_hu.1);
        let hu = brain_hu + task.contrast * (drawn - brain_hu);
        if rng.random_bool(task.subdural_fraction as f64) {
            // Crescent between the inner table and the brain, over a cap of the convexity.
            let t = uniform(rng, task.subdural_thickness_mm.0, task.subdural_thickness_mm.1);
            let phi = uniform(rng, 0.0, std::f32::consts::TAU);
            let Shape::Ellipsoid { center, radii, angle, .. } = head.intracranial.clone() else { continue };
            let zr = ((z - center[2]) / radii[2]).clamp(-0.95, 0.95);
            let ring = (1.0 - zr * zr).sqrt();
            let dir = [phi.cos(), phi.sin()];
            let (sn, cs) = angle.sin_cos();
            let local = [radii[0] * ring * dir[0], radii[1] * ring * dir[1]];
            let point = [center[0] + cs * local[0] - sn * local[1], center[1] + sn * local[0] + cs * local[1], z];
            let shift = [-(cs * dir[0] - sn * dir[1]) * t, -(sn * dir[0] + cs * dir[1]) * t];
            let inner = Shape::ellipsoid([center[0] + shift[0], center[1] + shift[1], center[2]], radii, angle);
            let reach = uniform(rng, 35.0, 60.0);
            let cap = Shape::ellipsoid(point, [reach, reach, half_gap + 1.0], 0.0);
            out.push(Lesion {
                kind: LesionKind::Subdural,
                shape: head.intracranial.clone().minus(inner).and(cap),
                hu,
                texture: 5.0,
                over: TissueSet::of(&[Tissue::Fluid, Tissue::GreyMatter, Tissue::WhiteMatter]),
                margin: 0.6,
                edge_noise: 0.8,
                edge_scale: 6.0,
            });
        } else {
            let r = uniform(rng, task.blob_radius_mm.0, task.blob_radius_mm.1);
            let deep = !rng.random_bool(task.location_spread as f64);
            let mut centre = None;
            for _ in 0..400 {
                let q = if deep {
                    let g = head.basal_ganglia[rng.random_range(0..2)];
                    [g[0] + uniform(rng, -8.0, 8.0), g[1] + uniform(rng, -12.0, 12.0), z]
                } else {
                    [uniform(rng, bb.min[0], bb.max[0]), uniform(rng, bb.min[1], bb.max[1]), z]
                };
                if head.brain.distance([q[0], q[1], q[2]]) < -(1.3 * r + 4.0) {
                    centre = Some(q);
                    break;
                }
            }
            let Some(c) = centre else { continue };
            let rz = (r * uniform(rng, 0.7, 1.1)).min((half_gap - 0.25 * r).max(2.0));
            let radii = [r * uniform(rng, 0.75, 1.3), r * uniform(rng, 0.75, 1.3), rz];
            let angle = uniform(rng, 0.0, std::f32::consts::PI);
            let brain = TissueSet::of(&[Tissue::GreyMatter, Tissue::WhiteMatter]);
            let oedema = 1.4 + uniform(rng, 0.0, 0.5);
            out.push(Lesion {
                kind: LesionKind::Oedema,
                shape: Shape::ellipsoid(c, [radii[0] * oedema, radii[1] * oedema, radii[2] * oedema], angle),
                hu: brain_hu - uniform(rng, 6.0, 14.0),
                texture: 3.0,
                over: brain,
                margin: 0.3 * r,
                edge_noise: 0.3 * r,
                edge_scale: r.max(2.0),
            });
            out.push(Lesion {
                kind: LesionKind::Intraparenchymal,
                shape: Shape::ellipsoid(c, radii, angle),
                hu,
                texture: 6.0,
                over: brain,
                margin: 0.8,
                edge_noise: 0.25 * r,
                edge_scale: (0.8 * r).max(2.0),
            });
        }
    }
    out
}

/// The smallest gap between consecutive slice heights (mm; 10 mm for a single slice).
fn spacing_of(slice_z: &[f32]) -> f32 {
    let gap = slice_z.windows(2).map(|w| (w[0] - w[1]).abs()).fold(f32::INFINITY, f32::min);
    if gap.is_finite() {
        gap.max(1.0)
    } else {
        10.0
    }
}
