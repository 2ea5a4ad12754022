//! The labeled tasks: which slices (or organ-centred crops) of a rendered patient are samples, and their labels.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::PhantomConfig;
use crate::noise::derive_seed;
use crate::organ::{Organ, ALL_ORGANS};
use crate::plan::{PatientPlan, Protocol, Role};
use crate::scanner::uniform;
use crate::slice::{Region, Slice};
use crate::tissue::Tissue;

/// A downstream task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    /// Ground-glass opacity or consolidation present (1) / absent (0) in a chest slice.
    Lung,
    /// 11-class organ-centred crops (labels: [`Organ::label`]).
    Organ,
    /// Intracranial hyperdense haemorrhage present (1) / absent (0) in a head slice.
    Head,
}

/// All tasks.
pub const ALL_TASKS: [Task; 3] = [Task::Lung, Task::Organ, Task::Head];

impl Task {
    /// The name used in the labels file.
    pub fn name(self) -> &'static str {
        match self {
            Task::Lung => "lung",
            Task::Organ => "organ",
            Task::Head => "head",
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Task::Organ => crate::organ::ORGAN_COUNT,
            _ => 2,
        }
    }
}

/// A square region of a slice, resampled to `size × size` pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    /// Centre (row, column) in slice pixels.
    pub center: [f32; 2],
    /// Side in slice pixels.
    pub extent: f32,
    /// Side of the resampled crop in pixels.
    pub size: usize,
}

/// One labeled image: a whole slice or a crop of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Index of the patient in the dataset.
    pub patient: usize,
    /// Index of the slice in the patient's series.
    pub slice: usize,
    /// Task.
    pub task: Task,
    /// Label (0/1, or the organ class).
    pub label: u32,
    /// The crop, for the organ task.
    pub crop: Option<Crop>,
}

/// The samples of a rendered patient (none for the pre-training pool).
pub fn samples_of(plan: &PatientPlan, slices: &[Slice], config: &PhantomConfig) -> Vec<Sample> {
    if plan.role != Role::Labeled {
        return Vec::new();
    }
    let mut out = Vec::new();
    let n2 = (config.image_size * config.image_size) as f32;
    match plan.protocol {
        Protocol::Head => {
            for (k, s) in slices.iter().enumerate() {
                let brain = s.tissue_pixels(&[Tissue::GreyMatter, Tissue::WhiteMatter]) as f32;
                if brain < config.head.min_brain_fraction * n2 {
                    continue;
                }
                if let Some(label) = binary_label(s, config.head.min_lesion_pixels) {
                    out.push(Sample { patient: plan.index, slice: k, task: Task::Head, label, crop: None });
                }
            }
        }
        Protocol::Torso => {
            let lung_values = [Organ::LungLeft.map_value(), Organ::LungRight.map_value()];
            for (k, s) in slices.iter().enumerate() {
                if s.region != Region::Chest {
                    continue;
                }
                let lung = s.organ_map.iter().filter(|v| lung_values.contains(v)).count() as f32;
                if lung < config.lung.min_lung_fraction * n2 {
                    continue;
                }
                if let Some(label) = binary_label(s, config.lung.min_lesion_pixels) {
                    out.push(Sample { patient: plan.index, slice: k, task: Task::Lung, label, crop: None });
                }
            }
            out.extend(organ_samples(plan, slices, config));
        }
    }
    out
}

/// 1 with at least `min` lesion pixels, 0 without any trace of a lesion, `None` (left out) for a faint sliver.
fn binary_label(slice: &Slice, min: u32) -> Option<u32> {
    let pixels = slice.lesion_pixels();
    if slice.lesion_trace == 0 {
        Some(0)
    } else if pixels >= min.max(1) as usize {
        Some(1)
    } else {
        None
    }
}

fn organ_samples(plan: &PatientPlan, slices: &[Slice], config: &PhantomConfig) -> Vec<Sample> {
    let task = &config.organ;
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(plan.seed, &[0x0A6A]));
    let mut out = Vec::new();
    for organ in ALL_ORGANS {
        let v = organ.map_value();
        let areas: Vec<(usize, usize)> =
            slices.iter().enumerate().map(|(k, s)| (k, s.organ_map.iter().filter(|&&o| o == v).count())).collect();
        let Some(&(_, best)) = areas.iter().max_by_key(|a| a.1) else { continue };
        let mut eligible: Vec<usize> = areas
            .iter()
            .filter(|&&(k, a)| {
                let mm2 = a as f32 * slices[k].pixel_spacing * slices[k].pixel_spacing;
                a > 0 && mm2 >= task.min_area_mm2 && a * 2 >= best
            })
            .map(|a| a.0)
            .collect();
        eligible.shuffle(&mut rng);
        for &k in eligible.iter().take(task.crops_per_organ) {
            let s = &slices[k];
            let (mut sr, mut sc, mut m) = (0.0f64, 0.0f64, 0.0f64);
            for (i, &o) in s.organ_map.iter().enumerate() {
                if o == v {
                    sr += (i / s.size) as f64;
                    sc += (i % s.size) as f64;
                    m += 1.0;
                }
            }
            let jitter = task.jitter_mm / s.pixel_spacing;
            let center = [
                (sr / m) as f32 + uniform(&mut rng, -jitter, jitter),
                (sc / m) as f32 + uniform(&mut rng, -jitter, jitter),
            ];
            let crop = Crop { center, extent: task.crop_mm / s.pixel_spacing, size: task.crop_size };
            out.push(Sample {
                patient: plan.index,
                slice: k,
                task: Task::Organ,
                label: organ.label(),
                crop: Some(crop),
            });
        }
    }
    out
}

/// Resample a crop of a slice (bilinear; outside the slice reads as air, −1000 HU).
pub fn crop_slice(slice: &Slice, crop: &Crop) -> Vec<f32> {
    let n = slice.size as isize;
    let at = |r: isize, c: isize| -> f32 {
        if r < 0 || c < 0 || r >= n || c >= n {
            -1000.0
        } else {
            slice.values[(r * n + c) as usize]
        }
    };
    let step = crop.extent / crop.size as f32;
    let r0 = crop.center[0] - 0.5 * crop.extent + 0.5 * step;
    let c0 = crop.center[1] - 0.5 * crop.extent + 0.5 * step;
    let mut out = Vec::with_capacity(crop.size * crop.size);
    for i in 0..crop.size {
        let r = r0 + i as f32 * step;
        for j in 0..crop.size {
            let c = c0 + j as f32 * step;
            let (rf, cf) = (r.floor(), c.floor());
            let (tr, tc) = (r - rf, c - cf);
            let (ri, ci) = (rf as isize, cf as isize);
            let v = at(ri, ci) * (1.0 - tr) * (1.0 - tc)
                + at(ri, ci + 1) * (1.0 - tr) * tc
                + at(ri + 1, ci) * tr * (1.0 - tc)
                + at(ri + 1, ci + 1) * tr * tc;
            out.push(v);
        }
    }
    out
}
