//! # ctssl-phantom
//!
//! Synthetic CT patients with labeled tasks: the embedded default dataset of ctssl. Procedural 3-D
//! anatomy (head; chest, abdomen and pelvis) differs per patient; tissues take literature Hounsfield
//! units with texture, partial-volume blur and correlated scanner noise; scanner settings vary per
//! patient. Three labeled tasks mirror the study's downstream tasks — lung lesions (binary), 11-class
//! organ crops (like OrganSMNIST), intracranial haemorrhage (binary) — with patient IDs and a split by
//! patient, plus an unlabeled pre-training pool of other patients. Everything is deterministic by
//! seed, independent of the number of threads. Datasets live in memory or are written as one DICOM
//! series per patient (through `ctssl-io`) with CSV labels.
//!
//! ```
//! use ctssl_phantom::{Dataset, PhantomConfig, Task};
//!
//! let dataset = Dataset::generate(PhantomConfig { torso_patients: 1, head_patients: 1, ..PhantomConfig::tiny(7) })?;
//! let lung = dataset.samples(Task::Lung);
//! let (image, side) = dataset.image(&lung[0])?;
//! assert_eq!(image.len(), side * side);
//! # Ok::<(), ctssl_phantom::PhantomError>(())
//! ```

#![forbid(unsafe_code)]

pub mod builder;
pub mod config;
pub mod dataset;
pub mod error;
pub mod head;
pub mod lesion;
pub mod noise;
pub mod organ;
pub mod patient;
pub mod plan;
pub mod probe;
pub mod scanner;
pub mod scene;
pub mod shape;
pub mod slice;
pub mod task;
pub mod tissue;
pub mod torso;
pub mod write;

pub use config::{HeadTask, LungTask, OrganTask, PhantomConfig, ScannerRanges};
pub use dataset::{Dataset, Phantom};
pub use error::{PhantomError, Result};
pub use organ::{Organ, ALL_ORGANS, ORGAN_COUNT};
pub use patient::{Patient, PatientModel};
pub use plan::{PatientPlan, Protocol, Role, Split};
pub use scanner::Scanner;
pub use slice::{Region, Slice};
pub use task::{crop_slice, Crop, Sample, Task, ALL_TASKS};
pub use tissue::{Tissue, ALL_TISSUES};
pub use write::{write_dataset, write_patient, write_phantom, WriteSummary};
