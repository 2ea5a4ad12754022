//! Patients: the model (anatomy, scanner, lesions) drawn from a plan, and the rendered series.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::PhantomConfig;
use crate::error::{PhantomError, Result};
use crate::head::build_head;
use crate::lesion::{place_head_lesions, place_lung_lesions};
use crate::noise::{derive_seed, Noise};
use crate::scanner::{blur, correlated_noise, Scanner};
use crate::scene::{Grid, LesionKind, Scene};
use crate::task::Sample;
use crate::tissue::{Tissue, TissueTable};
use crate::torso::build_torso;

// Re-exported: these paths (`patient::Slice` …) are part of the public API.
pub use crate::plan::{PatientPlan, Protocol, Role, Split};
pub use crate::slice::{Region, Slice};

/// A lesion drawn in a patient, as reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LesionSummary {
    /// Kind.
    pub kind: LesionKind,
    /// Mean HU.
    pub hu: f32,
}

/// The drawn patient: anatomy, lesions, scanner and slice heights; renders slices on demand.
#[derive(Debug, Clone)]
pub struct PatientModel {
    /// The plan.
    pub plan: PatientPlan,
    /// Scanner settings.
    pub scanner: Scanner,
    /// Mean HU per tissue.
    pub tissues: TissueTable,
    /// Anatomy and lesions.
    pub scene: Scene,
    /// Slice centre heights, top to bottom, mm.
    pub slice_z: Vec<f32>,
    /// Region of each slice.
    pub regions: Vec<Region>,
    /// Whether breast tissue is drawn (torso only).
    pub female: Option<bool>,
    image_size: usize,
    noise: bool,
    noise_correlation_px: f32,
    psf_sigma_mm: f32,
}

/// A rendered patient: the model's summary, every slice, and the task samples.
#[derive(Debug, Clone)]
pub struct Patient {
    /// The plan.
    pub plan: PatientPlan,
    /// Scanner settings.
    pub scanner: Scanner,
    /// Whether breast tissue is drawn (torso only).
    pub female: Option<bool>,
    /// Lesions drawn (kind and HU).
    pub lesions: Vec<LesionSummary>,
    /// The slices, top to bottom.
    pub slices: Vec<Slice>,
    /// Labeled samples of this patient (empty for the pre-training pool).
    pub samples: Vec<Sample>,
}

const PURPOSE_ANATOMY: u64 = 1;
const PURPOSE_SHAPE_NOISE: u64 = 2;
const PURPOSE_TEXTURE: u64 = 3;
const PURPOSE_SCANNER_NOISE: u64 = 4;

impl PatientModel {
    /// Draw a patient from its plan.
    pub fn draw(plan: &PatientPlan, config: &PhantomConfig) -> PatientModel {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(plan.seed, &[PURPOSE_ANATOMY]));
        let head = plan.protocol == Protocol::Head;
        let scanner = Scanner::draw(&config.scanner, head, config.image_size, &mut rng);
        let tissues = TissueTable::draw(|| rand::Rng::random::<f32>(&mut rng));
        // Lesions are drawn for labeled patients and, unless switched off, for the pre-training pool too
        // (labels discarded): a real unlabeled pool such as LIDC-IDRI is full of the findings the tasks ask about.
        let labeled = plan.role == Role::Labeled || config.pretrain_lesions;
        let (objects, lesions, slice_z, regions, female) = if head {
            let h = build_head(&mut rng);
            let z = heights(h.z_top, h.z_bottom, config.head_slices);
            let lesions = if labeled {
                let brain_hu = 0.5 * (tissues.hu(Tissue::GreyMatter) + tissues.hu(Tissue::WhiteMatter));
                place_head_lesions(&mut rng, &config.head, &h, &z, brain_hu)
            } else {
                Vec::new()
            };
            let regions = vec![Region::Head; z.len()];
            (h.objects, lesions, z, regions, None)
        } else {
            let t = build_torso(&mut rng);
            let lm = t.landmarks.clone();
            let z = heights(lm.z_top, lm.z_bottom, config.torso_slices);
            let lesions = if labeled {
                place_lung_lesions(&mut rng, &config.lung, &t, &z, tissues.hu(Tissue::Lung))
            } else {
                Vec::new()
            };
            let regions = z
                .iter()
                .map(|&z| {
                    if z > lm.z_dome_right.max(lm.z_dome_left) - 30.0 {
                        Region::Chest
                    } else if z > lm.z_iliac {
                        Region::Abdomen
                    } else {
                        Region::Pelvis
                    }
                })
                .collect();
            (t.objects, lesions, z, regions, Some(t.female))
        };
        let scene = Scene {
            objects,
            lesions,
            shape_noise: Noise::new(derive_seed(plan.seed, &[PURPOSE_SHAPE_NOISE])),
            texture_noise: Noise::new(derive_seed(plan.seed, &[PURPOSE_TEXTURE])),
        };
        PatientModel {
            plan: plan.clone(),
            scanner,
            tissues,
            scene,
            slice_z,
            regions,
            female,
            image_size: config.image_size,
            noise: config.scanner_noise,
            noise_correlation_px: config.scanner.noise_correlation_px,
            psf_sigma_mm: config.scanner.psf_sigma_mm,
        }
    }

    /// The pixel grid of every slice.
    pub fn grid(&self) -> Grid {
        Grid::centered(self.image_size, self.scanner.pixel_spacing)
    }

    /// Render slice `k` (0 = top): partial volume over the slice thickness (4 sub-samples, each also
    /// shifted in-plane for anti-aliasing), organ texture, lesions, point-spread blur and scanner noise.
    pub fn render_slice(&self, k: usize) -> Result<Slice> {
        let grid = self.grid();
        let n = grid.size;
        let z = *self.slice_z.get(k).ok_or_else(|| {
            PhantomError::InvalidArgument(format!(
                "slice {k} of {} (the series has {})",
                self.plan.id,
                self.slice_z.len()
            ))
        })?;
        let thickness = self.scanner.slice_thickness;
        // Texture field at the pixel centres (shared by the sub-samples; it is smooth).
        let mut texture = vec![0.0f32; n * n];
        let inv = 1.0 / 7.0;
        for r in 0..n {
            let y = grid.y0 + r as f32 * grid.spacing;
            for c in 0..n {
                let x = grid.x0 + c as f32 * grid.spacing;
                texture[r * n + c] = self.scene.texture_noise.fbm([x * inv, y * inv, z * inv], 3);
            }
        }
        const SUB: [([f32; 2], f32); 4] =
            [([-0.25, -0.25], -0.375), ([0.25, 0.25], 0.125), ([0.25, -0.25], -0.125), ([-0.25, 0.25], 0.375)];
        let samples: Vec<([f32; 2], f32)> = SUB.iter().map(|&(offset, dz)| (offset, z + dz * thickness)).collect();
        let mut tissue = vec![vec![0u8; n * n]; SUB.len()];
        let mut organ = vec![vec![0u8; n * n]; SUB.len()];
        self.scene.paint(&grid, z, &samples, &mut tissue, &mut organ);
        let mut values = vec![0.0f32; n * n];
        let mut lesion = vec![0.0f32; n * n];
        let mut hu = vec![0.0f32; n * n];
        let mut weight = vec![0.0f32; n * n];
        let share = 1.0 / SUB.len() as f32;
        for (s, &(offset, zs)) in samples.iter().enumerate() {
            for i in 0..n * n {
                let t = Tissue::from_index(tissue[s][i]);
                let mut v = self.tissues.hu(t) + t.texture_amplitude() * texture[i];
                if t == Tissue::Lung {
                    // Dependent (posterior) lung is denser in a supine patient.
                    let y = grid.y0 + ((i / n) as f32 + offset[1]) * grid.spacing;
                    v += 0.3 * y.clamp(-120.0, 120.0);
                }
                hu[i] = v;
            }
            weight.fill(0.0);
            self.blend_lesions(&grid, zs, offset, &tissue[s], &mut hu, &mut weight);
            for i in 0..n * n {
                values[i] += share * hu[i];
                lesion[i] += share * weight[i];
            }
        }
        let tissue_map = std::mem::take(&mut tissue[0]);
        let organ_map = std::mem::take(&mut organ[0]);
        blur(&mut values, n, self.psf_sigma_mm / grid.spacing);
        if self.noise {
            let seed = derive_seed(self.plan.seed, &[PURPOSE_SCANNER_NOISE, k as u64]);
            let noise = correlated_noise(n, self.scanner.noise_std, self.noise_correlation_px, seed);
            values.iter_mut().zip(noise).for_each(|(v, e)| *v += e);
        }
        Ok(Slice {
            values,
            size: n,
            pixel_spacing: grid.spacing,
            slice_thickness: thickness,
            position: [grid.x0 as f64, grid.y0 as f64, z as f64],
            instance_number: k as i32 + 1,
            region: self.regions.get(k).copied().unwrap_or(Region::Head),
            tissue_map,
            organ_map,
            lesion_map: lesion.iter().map(|&w| u8::from(w >= 0.5)).collect(),
            lesion_trace: lesion.iter().filter(|&&w| w > 0.01).count(),
        })
    }

    fn blend_lesions(&self, grid: &Grid, z: f32, offset: [f32; 2], tissue: &[u8], hu: &mut [f32], weight: &mut [f32]) {
        let n = grid.size;
        for lesion in &self.scene.lesions {
            let b = lesion.bounds();
            if z < b.min[2] || z > b.max[2] {
                continue;
            }
            let col = |x: f32| ((x - grid.x0) / grid.spacing - offset[0]).clamp(0.0, n as f32);
            let row = |y: f32| ((y - grid.y0) / grid.spacing - offset[1]).clamp(0.0, n as f32);
            let (c0, c1) = (col(b.min[0]).floor() as usize, (col(b.max[0]).ceil() as usize + 1).min(n));
            let (r0, r1) = (row(b.min[1]).floor() as usize, (row(b.max[1]).ceil() as usize + 1).min(n));
            let inv = 1.0 / lesion.edge_scale.max(0.5);
            for r in r0..r1 {
                let y = grid.y0 + (r as f32 + offset[1]) * grid.spacing;
                for c in c0..c1 {
                    let i = r * n + c;
                    if !lesion.over.contains(Tissue::from_index(tissue[i])) {
                        continue;
                    }
                    let x = grid.x0 + (c as f32 + offset[0]) * grid.spacing;
                    let w = lesion.weight([x, y, z], &self.scene.shape_noise);
                    if w <= 0.0 {
                        continue;
                    }
                    let tex = self.scene.texture_noise.at([x * inv + 3.1, y * inv - 8.2, z * inv + 1.7]);
                    let target = lesion.hu + lesion.texture * tex;
                    hu[i] += w * (target - hu[i]);
                    if lesion.kind.counts() {
                        weight[i] = weight[i].max(w);
                    }
                }
            }
        }
    }

    /// Summary of the lesions drawn.
    pub fn lesion_summary(&self) -> Vec<LesionSummary> {
        self.scene.lesions.iter().map(|l| LesionSummary { kind: l.kind, hu: l.hu }).collect()
    }
}

/// `count` heights evenly from `top` down to `bottom`.
fn heights(top: f32, bottom: f32, count: usize) -> Vec<f32> {
    if count <= 1 {
        return vec![0.5 * (top + bottom)];
    }
    (0..count).map(|k| top + (bottom - top) * k as f32 / (count - 1) as f32).collect()
}
