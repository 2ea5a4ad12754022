//! Settings of a synthetic dataset: how many patients, image size, scanner ranges, task difficulty.

use crate::error::{PhantomError, Result};

/// Ranges the scanner settings of each patient are drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannerRanges {
    /// Pixel spacing (mm) of a 512 × 512 reconstruction of the body; the field of view is 512 × this.
    pub body_spacing_512: (f32, f32),
    /// Pixel spacing (mm) of a 512 × 512 reconstruction of the head (head CT uses a smaller field of view).
    pub head_spacing_512: (f32, f32),
    /// Slice thickness, mm.
    pub slice_thickness: (f32, f32),
    /// Tube current-time product (mAs), drawn log-uniformly; sets the noise.
    pub mas: (f32, f32),
    /// Noise standard deviation (HU) at 200 mAs; it scales as `sqrt(200 / mAs)` and is clamped to `noise_clamp`.
    pub noise_at_200mas: f32,
    /// Bounds of the noise standard deviation, HU.
    pub noise_clamp: (f32, f32),
    /// Noise of head series relative to body series (head CT is scanned at a higher dose with a smooth kernel).
    pub head_noise_scale: f32,
    /// Correlation of the noise: Gaussian σ (pixels) of the blur applied to white noise (noise-power texture).
    pub noise_correlation_px: f32,
    /// In-plane blur (Gaussian σ of the point-spread function), mm.
    pub psf_sigma_mm: f32,
}

impl Default for ScannerRanges {
    fn default() -> Self {
        ScannerRanges {
            body_spacing_512: (0.6, 0.9),
            head_spacing_512: (0.43, 0.55),
            slice_thickness: (1.0, 5.0),
            mas: (90.0, 800.0),
            noise_at_200mas: 20.0,
            noise_clamp: (10.0, 30.0),
            head_noise_scale: 0.3,
            noise_correlation_px: 0.8,
            psf_sigma_mm: 0.7,
        }
    }
}

/// Difficulty of the lung task (ground-glass opacity or consolidation present / absent).
#[derive(Debug, Clone, PartialEq)]
pub struct LungTask {
    /// Probability that a chest slice gets lesions centred on it.
    pub positive_fraction: f32,
    /// Lesion radius range, mm.
    pub lesion_radius_mm: (f32, f32),
    /// Most lesions centred on one positive slice (at least 1).
    pub max_lesions: u32,
    /// Share of lesions that are consolidation rather than ground glass.
    pub consolidation_fraction: f32,
    /// HU range of ground-glass opacity.
    pub ground_glass_hu: (f32, f32),
    /// HU range of consolidation.
    pub consolidation_hu: (f32, f32),
    /// Contrast: the lesion's HU is `lung + contrast × (drawn HU − lung)`; 1 keeps the drawn HU.
    pub contrast: f32,
    /// Location spread in `[0, 1]`: 0 puts every lesion in the periphery of the lower lobes, 1 anywhere in the lung.
    pub location_spread: f32,
    /// Fewest lesion pixels for a slice to be positive (slices with fewer but some are left out).
    pub min_lesion_pixels: u32,
    /// Smallest lung area (fraction of the image) for a slice to be a chest slice of the task.
    pub min_lung_fraction: f32,
}

impl Default for LungTask {
    fn default() -> Self {
        LungTask {
            positive_fraction: 0.5,
            lesion_radius_mm: (15.0, 35.0),
            max_lesions: 3,
            consolidation_fraction: 0.4,
            ground_glass_hu: (-700.0, -500.0),
            consolidation_hu: (-100.0, 40.0),
            contrast: 1.0,
            location_spread: 0.6,
            min_lesion_pixels: 4,
            min_lung_fraction: 0.05,
        }
    }
}

/// Difficulty of the head task (intracranial hyperdense haemorrhage present / absent).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadTask {
    /// Probability that a brain slice gets a haemorrhage centred on it.
    pub positive_fraction: f32,
    /// Radius range of intraparenchymal haemorrhage, mm.
    pub blob_radius_mm: (f32, f32),
    /// Thickness range of subdural haemorrhage, mm.
    pub subdural_thickness_mm: (f32, f32),
    /// Share of haemorrhages that are subdural.
    pub subdural_fraction: f32,
    /// HU range of the blood.
    pub blood_hu: (f32, f32),
    /// Contrast: the lesion's HU is `brain + contrast × (drawn HU − brain)`.
    pub contrast: f32,
    /// Location spread in `[0, 1]`: 0 puts every blob in the basal ganglia, 1 anywhere in the cerebrum.
    pub location_spread: f32,
    /// Fewest lesion pixels for a slice to be positive.
    pub min_lesion_pixels: u32,
    /// Smallest brain area (fraction of the image) for a slice to be a slice of the task.
    pub min_brain_fraction: f32,
}

impl Default for HeadTask {
    fn default() -> Self {
        HeadTask {
            positive_fraction: 0.6,
            blob_radius_mm: (4.0, 12.0),
            subdural_thickness_mm: (3.0, 7.0),
            subdural_fraction: 0.4,
            blood_hu: (50.0, 90.0),
            contrast: 1.0,
            location_spread: 0.7,
            min_lesion_pixels: 4,
            min_brain_fraction: 0.08,
        }
    }
}

/// Settings of the organ task (11-class organ-centred crops).
#[derive(Debug, Clone, PartialEq)]
pub struct OrganTask {
    /// Side of a crop in pixels (crops are resampled to this size).
    pub crop_size: usize,
    /// Side of a crop in mm.
    pub crop_mm: f32,
    /// Largest shift (mm, each axis) of the crop centre from the organ's centroid.
    pub jitter_mm: f32,
    /// Crops per organ and patient (on different slices when possible).
    pub crops_per_organ: usize,
    /// Smallest organ area on a slice (mm²) for the slice to be used.
    pub min_area_mm2: f32,
}

impl Default for OrganTask {
    fn default() -> Self {
        OrganTask { crop_size: 64, crop_mm: 48.0, jitter_mm: 20.0, crops_per_organ: 1, min_area_mm2: 300.0 }
    }
}

/// Everything that defines a synthetic dataset; the same config gives the same bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomConfig {
    /// Master seed.
    pub seed: u64,
    /// Image side in pixels (128 for fast runs, 512 like a scanner).
    pub image_size: usize,
    /// Labeled chest-abdomen-pelvis patients (lung and organ tasks).
    pub torso_patients: usize,
    /// Labeled head patients (head task).
    pub head_patients: usize,
    /// Unlabeled chest-abdomen-pelvis patients of the pre-training pool.
    pub pretrain_torso_patients: usize,
    /// Unlabeled head patients of the pre-training pool.
    pub pretrain_head_patients: usize,
    /// Slices per chest-abdomen-pelvis series.
    pub torso_slices: usize,
    /// Slices per head series.
    pub head_slices: usize,
    /// Fractions of labeled patients in train / validation / test (normalised).
    pub split: [f32; 3],
    /// Draw lesions in the pre-training pool's patients too (their labels are never used): an unlabeled
    /// pool like LIDC-IDRI holds the findings the downstream tasks ask about.
    pub pretrain_lesions: bool,
    /// Scanner ranges.
    pub scanner: ScannerRanges,
    /// Add scanner noise (off only for tests of the noise-free HU).
    pub scanner_noise: bool,
    /// Lung task.
    pub lung: LungTask,
    /// Head task.
    pub head: HeadTask,
    /// Organ task.
    pub organ: OrganTask,
}

impl Default for PhantomConfig {
    /// The default dataset: 400 patients (100 + 100 labeled, 200 pre-training), 128-pixel images.
    fn default() -> Self {
        PhantomConfig {
            seed: 0,
            image_size: 128,
            torso_patients: 100,
            head_patients: 100,
            pretrain_torso_patients: 100,
            pretrain_head_patients: 100,
            torso_slices: 24,
            head_slices: 12,
            split: [0.7, 0.15, 0.15],
            pretrain_lesions: true,
            scanner: ScannerRanges::default(),
            scanner_noise: true,
            lung: LungTask::default(),
            head: HeadTask::default(),
            organ: OrganTask::default(),
        }
    }
}

impl PhantomConfig {
    /// A small dataset for tests: 64-pixel images, few patients and slices.
    pub fn tiny(seed: u64) -> PhantomConfig {
        PhantomConfig {
            seed,
            image_size: 64,
            torso_patients: 3,
            head_patients: 3,
            pretrain_torso_patients: 2,
            pretrain_head_patients: 2,
            torso_slices: 16,
            head_slices: 8,
            ..PhantomConfig::default()
        }
    }

    /// Total number of patients.
    pub fn patient_count(&self) -> usize {
        self.torso_patients + self.head_patients + self.pretrain_torso_patients + self.pretrain_head_patients
    }

    /// Check every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(PhantomError::InvalidConfig(what.to_string()));
        let range_ok = |r: (f32, f32)| r.0.is_finite() && r.1.is_finite() && r.0 <= r.1;
        let unit = |x: f32| (0.0..=1.0).contains(&x);
        let nonneg = |x: f32| x.is_finite() && x >= 0.0;
        if !(16..=1024).contains(&self.image_size) {
            return bad("image_size must be 16..=1024");
        }
        if self.torso_slices < 4 || self.head_slices < 2 || self.torso_slices > 2000 || self.head_slices > 2000 {
            return bad("torso_slices must be ≥ 4 and head_slices ≥ 2 (and each ≤ 2000)");
        }
        if !self.split.iter().all(|x| x.is_finite() && *x >= 0.0) || self.split.iter().sum::<f32>() <= 0.0 {
            return bad("split fractions must be non-negative with a positive sum");
        }
        let s = &self.scanner;
        for (name, r) in [
            ("scanner.body_spacing_512", s.body_spacing_512),
            ("scanner.head_spacing_512", s.head_spacing_512),
            ("scanner.slice_thickness", s.slice_thickness),
            ("scanner.mas", s.mas),
            ("scanner.noise_clamp", s.noise_clamp),
        ] {
            if !range_ok(r) || r.0 < 0.0 || (name != "scanner.noise_clamp" && r.0 <= 0.0) {
                return bad(&format!("{name} must be an ordered range of positive numbers"));
            }
        }
        if ![s.noise_at_200mas, s.head_noise_scale, s.noise_correlation_px, s.psf_sigma_mm].into_iter().all(nonneg) {
            return bad("scanner noise and blur settings must be finite and non-negative");
        }
        let l = &self.lung;
        if !unit(l.positive_fraction) || !unit(l.consolidation_fraction) || !unit(l.location_spread) {
            return bad("lung fractions and location_spread must lie in [0, 1]");
        }
        if !range_ok(l.lesion_radius_mm) || l.lesion_radius_mm.0 <= 0.0 || l.max_lesions == 0 {
            return bad("lung.lesion_radius_mm must be a positive range and max_lesions ≥ 1");
        }
        if !(range_ok(l.ground_glass_hu) && range_ok(l.consolidation_hu) && nonneg(l.contrast)) {
            return bad("lung HU ranges must be ordered and contrast non-negative");
        }
        if !unit(l.min_lung_fraction) {
            return bad("lung.min_lung_fraction must lie in [0, 1]");
        }
        let h = &self.head;
        if !unit(h.positive_fraction)
            || !unit(h.subdural_fraction)
            || !unit(h.location_spread)
            || !unit(h.min_brain_fraction)
        {
            return bad("head fractions and location_spread must lie in [0, 1]");
        }
        if !range_ok(h.blob_radius_mm)
            || h.blob_radius_mm.0 <= 0.0
            || !range_ok(h.subdural_thickness_mm)
            || h.subdural_thickness_mm.0 <= 0.0
        {
            return bad("head lesion sizes must be positive ranges");
        }
        if !(range_ok(h.blood_hu) && nonneg(h.contrast)) {
            return bad("head.blood_hu must be ordered and contrast non-negative");
        }
        let o = &self.organ;
        if !((4..=1024).contains(&o.crop_size) && o.crop_mm.is_finite() && o.crop_mm > 0.0) {
            return bad("organ.crop_size must be 4..=1024 and crop_mm positive");
        }
        if !(nonneg(o.jitter_mm) && nonneg(o.min_area_mm2)) {
            return bad("organ.jitter_mm and min_area_mm2 must be non-negative");
        }
        Ok(())
    }
}
