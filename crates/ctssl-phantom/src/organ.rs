//! The 11 organ classes of the organ task, in the label order of OrganSMNIST (MedMNIST).

/// An organ of the organ-classification task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Organ {
    /// Urinary bladder.
    Bladder = 0,
    /// Left femur (head, neck and proximal shaft).
    FemurLeft,
    /// Right femur.
    FemurRight,
    /// Heart.
    Heart,
    /// Left kidney.
    KidneyLeft,
    /// Right kidney.
    KidneyRight,
    /// Liver.
    Liver,
    /// Left lung.
    LungLeft,
    /// Right lung.
    LungRight,
    /// Pancreas.
    Pancreas,
    /// Spleen.
    Spleen,
}

/// Number of organ classes.
pub const ORGAN_COUNT: usize = 11;

/// All organs in label order.
pub const ALL_ORGANS: [Organ; ORGAN_COUNT] = [
    Organ::Bladder,
    Organ::FemurLeft,
    Organ::FemurRight,
    Organ::Heart,
    Organ::KidneyLeft,
    Organ::KidneyRight,
    Organ::Liver,
    Organ::LungLeft,
    Organ::LungRight,
    Organ::Pancreas,
    Organ::Spleen,
];

impl Organ {
    /// The class label (0..=10).
    pub fn label(self) -> u32 {
        self as u32
    }

    /// The organ of a class label.
    pub fn from_label(label: u32) -> Option<Organ> {
        ALL_ORGANS.get(label as usize).copied()
    }

    /// The name used by OrganSMNIST.
    pub fn name(self) -> &'static str {
        match self {
            Organ::Bladder => "bladder",
            Organ::FemurLeft => "femur-left",
            Organ::FemurRight => "femur-right",
            Organ::Heart => "heart",
            Organ::KidneyLeft => "kidney-left",
            Organ::KidneyRight => "kidney-right",
            Organ::Liver => "liver",
            Organ::LungLeft => "lung-left",
            Organ::LungRight => "lung-right",
            Organ::Pancreas => "pancreas",
            Organ::Spleen => "spleen",
        }
    }

    /// The value of the organ in a slice's organ map (0 means no organ).
    pub fn map_value(self) -> u8 {
        self as u8 + 1
    }

    /// The organ of an organ-map value.
    pub fn from_map_value(v: u8) -> Option<Organ> {
        v.checked_sub(1).and_then(|l| Organ::from_label(l as u32))
    }
}
