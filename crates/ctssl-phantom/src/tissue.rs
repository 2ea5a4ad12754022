//! Tissues, their Hounsfield-unit ranges from the literature, and their texture.
//!
//! Each patient draws the mean HU of every tissue uniformly inside the tissue's range (non-contrast
//! CT); the texture adds smooth noise of the tissue's amplitude on top. The sources of the ranges are
//! listed in `docs/phantom.md`.

/// A tissue (or material) of the phantom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Tissue {
    /// Air outside the body and gas in airways and bowel.
    Air = 0,
    /// Lung parenchyma (aerated).
    Lung,
    /// Fat (subcutaneous, visceral, marrow-free).
    Fat,
    /// Breast tissue: fat mixed with fibroglandular strands.
    Breast,
    /// Water-like fluid: cerebrospinal fluid, urine, bile, bowel fluid.
    Fluid,
    /// Brain grey matter.
    GreyMatter,
    /// Brain white matter.
    WhiteMatter,
    /// Unenhanced blood: heart chambers and great vessels, lung vessels.
    Blood,
    /// Skeletal muscle (also the walls of airways and bowel, the diaphragm, the myocardium).
    Muscle,
    /// Liver.
    Liver,
    /// Spleen.
    Spleen,
    /// Kidney.
    Kidney,
    /// Pancreas.
    Pancreas,
    /// Intervertebral disc and costal cartilage.
    Cartilage,
    /// Cancellous (trabecular) bone.
    CancellousBone,
    /// Cortical bone.
    CorticalBone,
    /// Bowel content (mixed faeces and fluid).
    BowelContent,
}

/// Number of tissues.
pub const TISSUE_COUNT: usize = 17;

/// All tissues in order of their discriminant.
pub const ALL_TISSUES: [Tissue; TISSUE_COUNT] = [
    Tissue::Air,
    Tissue::Lung,
    Tissue::Fat,
    Tissue::Breast,
    Tissue::Fluid,
    Tissue::GreyMatter,
    Tissue::WhiteMatter,
    Tissue::Blood,
    Tissue::Muscle,
    Tissue::Liver,
    Tissue::Spleen,
    Tissue::Kidney,
    Tissue::Pancreas,
    Tissue::Cartilage,
    Tissue::CancellousBone,
    Tissue::CorticalBone,
    Tissue::BowelContent,
];

impl Tissue {
    /// The tissue of a discriminant (`Air` for unknown values).
    pub fn from_index(i: u8) -> Tissue {
        ALL_TISSUES.get(i as usize).copied().unwrap_or(Tissue::Air)
    }

    /// Range of the tissue's mean HU on non-contrast CT (from the literature, see `docs/phantom.md`).
    pub fn hu_range(self) -> (f32, f32) {
        match self {
            Tissue::Air => (-1000.0, -1000.0),
            Tissue::Lung => (-850.0, -700.0),
            Tissue::Fat => (-100.0, -80.0),
            Tissue::Breast => (-60.0, -30.0),
            Tissue::Fluid => (0.0, 15.0),
            Tissue::GreyMatter => (35.0, 45.0),
            Tissue::WhiteMatter => (20.0, 30.0),
            Tissue::Blood => (40.0, 50.0),
            Tissue::Muscle => (40.0, 50.0),
            Tissue::Liver => (55.0, 65.0),
            Tissue::Spleen => (45.0, 50.0),
            Tissue::Kidney => (30.0, 40.0),
            Tissue::Pancreas => (40.0, 50.0),
            Tissue::Cartilage => (70.0, 110.0),
            Tissue::CancellousBone => (200.0, 400.0),
            Tissue::CorticalBone => (700.0, 1500.0),
            Tissue::BowelContent => (-20.0, 30.0),
        }
    }

    /// Amplitude (HU) of the smooth texture inside the tissue; the texture field lies in about `[-1, 1]`.
    pub fn texture_amplitude(self) -> f32 {
        match self {
            Tissue::Air => 0.0,
            Tissue::Lung => 45.0,
            Tissue::Fat => 6.0,
            Tissue::Breast => 45.0,
            Tissue::Fluid => 2.0,
            Tissue::GreyMatter => 3.0,
            Tissue::WhiteMatter => 3.0,
            Tissue::Blood => 2.0,
            Tissue::Muscle => 5.0,
            Tissue::Liver => 5.0,
            Tissue::Spleen => 3.0,
            Tissue::Kidney => 4.0,
            Tissue::Pancreas => 12.0,
            Tissue::Cartilage => 12.0,
            Tissue::CancellousBone => 90.0,
            Tissue::CorticalBone => 150.0,
            Tissue::BowelContent => 45.0,
        }
    }

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Tissue::Air => "air",
            Tissue::Lung => "lung",
            Tissue::Fat => "fat",
            Tissue::Breast => "breast",
            Tissue::Fluid => "fluid",
            Tissue::GreyMatter => "grey-matter",
            Tissue::WhiteMatter => "white-matter",
            Tissue::Blood => "blood",
            Tissue::Muscle => "muscle",
            Tissue::Liver => "liver",
            Tissue::Spleen => "spleen",
            Tissue::Kidney => "kidney",
            Tissue::Pancreas => "pancreas",
            Tissue::Cartilage => "cartilage",
            Tissue::CancellousBone => "cancellous-bone",
            Tissue::CorticalBone => "cortical-bone",
            Tissue::BowelContent => "bowel-content",
        }
    }

    /// A bit for tissue sets ([`TissueSet`]).
    pub const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of tissues as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TissueSet(pub u32);

impl TissueSet {
    /// Every tissue.
    pub const ALL: TissueSet = TissueSet(u32::MAX);

    /// The set of the given tissues.
    pub const fn of(tissues: &[Tissue]) -> TissueSet {
        let mut bits = 0;
        let mut i = 0;
        while i < tissues.len() {
            bits |= tissues[i].bit();
            i += 1;
        }
        TissueSet(bits)
    }

    /// Whether the set holds a tissue.
    #[inline]
    pub fn contains(self, t: Tissue) -> bool {
        self.0 & t.bit() != 0
    }
}

/// The mean HU of every tissue for one patient.
#[derive(Debug, Clone, PartialEq)]
pub struct TissueTable {
    /// Mean HU, indexed by `Tissue as usize`.
    pub mean: [f32; TISSUE_COUNT],
}

impl TissueTable {
    /// Draw each tissue's mean uniformly inside its literature range (`u` gives numbers in `[0, 1)`).
    pub fn draw(mut u: impl FnMut() -> f32) -> TissueTable {
        let mut mean = [0.0; TISSUE_COUNT];
        for t in ALL_TISSUES {
            let (lo, hi) = t.hu_range();
            mean[t as usize] = lo + (hi - lo) * u();
        }
        TissueTable { mean }
    }

    /// The mean HU of a tissue.
    #[inline]
    pub fn hu(&self, t: Tissue) -> f32 {
        self.mean[t as usize]
    }
}
