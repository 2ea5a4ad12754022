//! Who a patient is before anything is drawn: protocol, role, split, seed. Cheap to list; the
//! patient model, the rendered slices and the task samples all refer to it.

/// What a series covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Non-contrast head CT (cerebrum).
    Head,
    /// Non-contrast chest-abdomen-pelvis CT.
    Torso,
}

impl Protocol {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Head => "head",
            Protocol::Torso => "torso",
        }
    }
}

/// Whether a patient belongs to the labeled tasks or to the unlabeled pre-training pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Labeled patient of the downstream tasks.
    Labeled,
    /// Unlabeled patient of the pre-training pool.
    Pretrain,
}

impl Role {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Labeled => "labeled",
            Role::Pretrain => "pretrain",
        }
    }
}

/// The split a labeled patient belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Validation,
    /// Test.
    Test,
}

impl Split {
    /// A short name (`train`, `val`, `test`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "val",
            Split::Test => "test",
        }
    }
}

/// Identity of a patient before anything is drawn: cheap to list.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientPlan {
    /// Index in the dataset.
    pub index: usize,
    /// Patient ID (`T0001` labeled torso, `H0001` labeled head, `PT0001` / `PH0001` pre-training pool).
    pub id: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Role.
    pub role: Role,
    /// Split (labeled patients only).
    pub split: Option<Split>,
    /// The patient's own seed (derived from the dataset seed, the role, the protocol and the number).
    pub seed: u64,
}
