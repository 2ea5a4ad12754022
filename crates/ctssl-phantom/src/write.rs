//! The written form: one DICOM series per patient (a folder per patient, through `ctssl-io`), a labels
//! CSV, the pre-training pool CSV and a patients CSV.
//!
//! Layout of `dir`:
//! ```text
//! labels.csv     patient_id,file,task,label,split,center_row,center_col,extent_px,crop_size
//! pretrain.csv   patient_id,file
//! patients.csv   patient_id,protocol,role,split,slices,image_size,pixel_spacing_mm,fov_mm,slice_thickness_mm,kvp,mas,noise_std_hu,female,lesions
//! T0001/IM00001.dcm …   one folder per patient
//! ```
//! `file` is relative to `dir`. The crop columns are empty except for the organ task, whose image is
//! the square of side `extent_px` slice pixels centred at (`center_row`, `center_col`), resampled to
//! `crop_size` pixels.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use atomic_write_file::AtomicWriteFile;
use rayon::prelude::*;

use crate::dataset::{Dataset, Phantom};
use crate::error::{PhantomError, Result};
use crate::patient::Patient;
use crate::plan::{Protocol, Role};

/// Header of `labels.csv`.
pub const LABELS_HEADER: &str = "patient_id,file,task,label,split,center_row,center_col,extent_px,crop_size";
/// Header of `pretrain.csv`.
pub const PRETRAIN_HEADER: &str = "patient_id,file";
/// Header of `patients.csv`.
pub const PATIENTS_HEADER: &str = "patient_id,protocol,role,split,slices,image_size,pixel_spacing_mm,fov_mm,slice_thickness_mm,kvp,mas,noise_std_hu,female,lesions";

/// What [`write_phantom`] or [`write_dataset`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSummary {
    /// Patients written.
    pub patients: usize,
    /// DICOM files written.
    pub files: usize,
    /// Rows of `labels.csv`.
    pub label_rows: usize,
    /// Rows of `pretrain.csv`.
    pub pretrain_rows: usize,
    /// Bytes of DICOM written.
    pub bytes: u64,
}

/// The DICOM identity of a patient's series.
pub fn series_info(patient: &Patient, dataset_seed: u64) -> ctssl_io::SeriesInfo {
    let plan = &patient.plan;
    let mut info = ctssl_io::SeriesInfo::from_seed(&format!("ctssl-phantom/{dataset_seed}/{}", plan.id), plan.seed);
    info.patient_id = plan.id.clone();
    info.patient_name = format!("Phantom^{}", plan.id);
    info.patient_sex = patient.female.map(|f| if f { "F".to_string() } else { "M".to_string() });
    info.kvp = Some(patient.scanner.kvp as f64);
    info.study_description = Some("ctssl synthetic CT".into());
    info.series_description = Some(match plan.protocol {
        Protocol::Head => "HEAD NON-CONTRAST".into(),
        Protocol::Torso => "CHEST ABDOMEN PELVIS NON-CONTRAST".into(),
    });
    info.body_part = Some(match plan.protocol {
        Protocol::Head => "HEAD".into(),
        Protocol::Torso => "CHEST".into(),
    });
    if plan.protocol == Protocol::Head {
        info.windows = vec![
            ctssl_io::WindowPreset { center: 40.0, width: 80.0, explanation: Some("BRAIN".into()) },
            ctssl_io::WindowPreset { center: 75.0, width: 215.0, explanation: Some("SUBDURAL".into()) },
        ];
    }
    info
}

/// Write one patient's series into `dir/<patient_id>/`; returns the files, top slice first.
pub fn write_patient(dir: &Path, patient: &Patient, dataset_seed: u64) -> Result<Vec<PathBuf>> {
    let slices: Vec<_> = patient.slices.iter().map(|s| s.to_ct_slice()).collect();
    Ok(ctssl_io::write_ct_series(dir.join(&patient.plan.id), &series_info(patient, dataset_seed), &slices)?)
}

#[derive(Default)]
struct Rows {
    labels: String,
    pretrain: String,
    patients: String,
    label_rows: usize,
    pretrain_rows: usize,
    files: usize,
    bytes: u64,
}

fn rows_of(dir: &Path, patient: &Patient, dataset_seed: u64) -> Result<Rows> {
    let files = write_patient(dir, patient, dataset_seed)?;
    let mut rows = Rows { files: files.len(), ..Rows::default() };
    rows.bytes = files.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum();
    let id = &patient.plan.id;
    let rel = |k: usize| format!("{id}/IM{:05}.dcm", k + 1);
    let split = patient.plan.split.map_or("", |s| s.name());
    for s in &patient.samples {
        let crop = s
            .crop
            .map_or(",,,".to_string(), |c| format!("{:.2},{:.2},{:.2},{}", c.center[0], c.center[1], c.extent, c.size));
        let _ = writeln!(rows.labels, "{id},{},{},{},{split},{crop}", rel(s.slice), s.task.name(), s.label);
        rows.label_rows += 1;
    }
    if patient.plan.role == Role::Pretrain {
        for k in 0..patient.slices.len() {
            let _ = writeln!(rows.pretrain, "{id},{}", rel(k));
            rows.pretrain_rows += 1;
        }
    }
    let sc = &patient.scanner;
    let lesions: Vec<&str> = patient.lesions.iter().filter(|l| l.kind.counts()).map(|l| l.kind.name()).collect();
    let _ = writeln!(
        rows.patients,
        "{id},{},{},{split},{},{},{:.4},{:.1},{:.2},{},{:.0},{:.2},{},{}",
        patient.plan.protocol.name(),
        patient.plan.role.name(),
        patient.slices.len(),
        patient.slices.first().map_or(0, |s| s.size),
        sc.pixel_spacing,
        sc.fov_mm,
        sc.slice_thickness,
        sc.kvp,
        sc.mas,
        sc.noise_std,
        patient.female.map_or("", |f| if f { "1" } else { "0" }),
        lesions.len(),
    );
    Ok(rows)
}

fn finish(dir: &Path, parts: Vec<Rows>, patients: usize) -> Result<WriteSummary> {
    let mut labels = format!("{LABELS_HEADER}\n");
    let mut pretrain = format!("{PRETRAIN_HEADER}\n");
    let mut table = format!("{PATIENTS_HEADER}\n");
    let mut summary = WriteSummary { patients, ..WriteSummary::default() };
    for r in parts {
        labels.push_str(&r.labels);
        pretrain.push_str(&r.pretrain);
        table.push_str(&r.patients);
        summary.label_rows += r.label_rows;
        summary.pretrain_rows += r.pretrain_rows;
        summary.files += r.files;
        summary.bytes += r.bytes;
    }
    write_text(&dir.join("labels.csv"), &labels)?;
    write_text(&dir.join("pretrain.csv"), &pretrain)?;
    write_text(&dir.join("patients.csv"), &table)?;
    Ok(summary)
}

/// Write an in-memory dataset to `dir`.
pub fn write_dataset(dataset: &Dataset, dir: &Path) -> Result<WriteSummary> {
    create_dir(dir)?;
    let parts =
        dataset.patients.par_iter().map(|p| rows_of(dir, p, dataset.config.seed)).collect::<Result<Vec<_>>>()?;
    finish(dir, parts, dataset.patients.len())
}

/// Render and write every patient of a generator to `dir`, a few at a time (memory stays small);
/// `progress` is called with the number of patients done.
pub fn write_phantom(phantom: &Phantom, dir: &Path, progress: impl Fn(usize) + Sync) -> Result<WriteSummary> {
    create_dir(dir)?;
    let seed = phantom.config().seed;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let parts = (0..phantom.plans().len())
        .into_par_iter()
        .map(|i| {
            let patient = phantom.patient(i)?;
            let rows = rows_of(dir, &patient, seed)?;
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
            Ok(rows)
        })
        .collect::<Result<Vec<_>>>()?;
    finish(dir, parts, phantom.plans().len())
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| PhantomError::Write { path: dir.to_path_buf(), source })
}

/// Write a text file atomically (`atomic-write-file`: temporary file, synced, renamed).
fn write_text(path: &Path, text: &str) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = AtomicWriteFile::open(path)?;
        f.write_all(text.as_bytes())?;
        f.commit()
    };
    write().map_err(|source| PhantomError::Write { path: path.to_path_buf(), source })
}
