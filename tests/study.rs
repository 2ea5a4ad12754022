//! The study end to end on a tiny synthetic set: every evaluation lands in `results.csv`, the report and
//! plots are written, a second call resumes without redoing anything, and a changed configuration is
//! refused in the same folder.

mod common;

use common::tiny;
use ctssl::pipeline::run_study;
use ctssl::study::{Protocol, ResultsTable};

#[test]
fn tiny_study_writes_results_report_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = tiny();
    let first = run_study(&cfg, &out, &candle_core::Device::Cpu).unwrap();
    let table = ResultsTable::load(&first.results).unwrap();
    // 4 initialisations (random, its negative control random_b, spark, simclr) × 2 seeds × (up to) 2
    // fractions × 3 protocols.
    let inits: std::collections::BTreeSet<&str> = table.rows.iter().map(|r| r.init.as_str()).collect();
    assert_eq!(inits, ["random", "random_b", "simclr", "spark"].into_iter().collect());
    for p in [Protocol::Finetune, Protocol::LinearProbe, Protocol::Knn] {
        assert!(table.rows.iter().any(|r| r.protocol == p), "{p:?}");
    }
    assert_eq!(first.evaluated, table.rows.len());
    assert!(table.rows.len() >= 24, "{} rows", table.rows.len());
    // the same fine-tuning budget for every initialisation: the kept check is one of the same steps
    assert!(table.rows.iter().filter(|r| r.protocol == Protocol::Finetune).all(|r| [2, 4].contains(&r.best_epoch)));
    for r in &table.rows {
        assert!(r.accuracy.is_finite() && (0.0..=1.0).contains(&r.accuracy));
        assert!(r.train_patients >= 1);
    }
    let report = std::fs::read_to_string(&first.report).unwrap();
    assert!(report.contains("## head") && report.contains("## Controls"), "{report}");
    assert!(report.contains("## Pre-training against random initialisation (paired)"), "{report}");
    let comparisons = std::fs::read_to_string(out.join("comparisons.csv")).unwrap();
    assert!(comparisons.starts_with("task,protocol,fraction,method,baseline,n,mean_diff,ci_low,ci_high,p,p_holm\n"));
    // spark, simclr and random_b against random, per protocol and fraction
    assert!(comparisons.lines().count() > 3 * 3);
    let checks = std::fs::read_to_string(out.join("checks.csv")).unwrap();
    assert!(checks.starts_with("check,task,method,value,threshold,passed\n"));
    for check in
        ["learnability,head", "precision,head", "pretraining_effect,all,spark", "negative_control,all", "shortcut,head"]
    {
        assert!(checks.contains(check), "{check} missing from\n{checks}");
    }
    assert!(out.join("plots/pretraining_loss.png").exists());
    assert!(out.join("plots/head_finetune_accuracy.png").exists());
    assert!(out.join("plots/head_linear_probe_accuracy.svg").exists());
    assert!(out.join("pretrain/spark/encoder.safetensors").exists());
    assert!(out.join("config.toml").exists());

    let again = run_study(&cfg, &out, &candle_core::Device::Cpu).unwrap();
    assert_eq!(again.evaluated, 0, "a finished study redoes nothing");
    let reloaded = ResultsTable::load(&again.results).unwrap();
    assert_eq!(reloaded.done(), table.done());
    assert_eq!(reloaded.rows.len(), table.rows.len());

    let mut other = cfg.clone();
    other.finetune.lr *= 2.0;
    let err = run_study(&other, &out, &candle_core::Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("another configuration"), "{err}");
}

#[test]
fn dicom_folders_and_a_labels_csv_make_tasks_and_bad_files_are_skipped_with_their_reason() {
    use ctssl::phantom::{write_phantom, Phantom, PhantomConfig};
    let dir = tempfile::tempdir().unwrap();
    let phantom = Phantom::new(PhantomConfig::tiny(5)).unwrap();
    write_phantom(&phantom, dir.path(), |_| {}).unwrap();
    std::fs::write(dir.path().join("broken.dcm"), b"DICM but not really").unwrap();
    // The phantom's labels.csv has extra columns (split, crop); only file, label, task, patient_id count.
    let labels = std::fs::read_to_string(dir.path().join("labels.csv")).unwrap();
    let kept: String = labels.lines().filter(|l| !l.contains(",organ,")).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.path().join("lesions.csv"), kept).unwrap();

    let mut cfg = tiny().data;
    cfg.use_dicom(Some(dir.path().to_path_buf()), Some(dir.path().join("lesions.csv")));
    cfg.val_fraction = Some(0.2);
    cfg.test_fraction = Some(0.2);
    let data = ctssl::pipeline::data::dicom_data(&cfg, 0).unwrap();
    let names: Vec<&str> = data.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["head", "lung"]);
    assert!(data.skipped.iter().any(|s| s.contains("broken.dcm")), "{:?}", data.skipped);
    assert!(!data.pool.slices.is_empty());
    // The pool folder holds the labeled files too: their patients are taken out of the pool and counted.
    let labeled: std::collections::BTreeSet<&str> = data
        .tasks
        .iter()
        .flat_map(|t| [&t.train, &t.val, &t.test])
        .flat_map(|s| s.slices.slices.iter().map(|x| x.patient_id.as_str()))
        .collect();
    assert!(!labeled.is_empty());
    assert!(data.pool.slices.iter().all(|s| !labeled.contains(s.patient_id.as_str())), "a labeled patient in the pool");
    let removed =
        format!("{} patient(s) of the labeled tasks found in the pre-training pool and removed", labeled.len());
    assert!(data.description.contains(&removed), "{}", data.description);
    for t in &data.tasks {
        assert_eq!(t.classes, ["0", "1"]);
        let train: std::collections::BTreeSet<&str> =
            t.train.slices.slices.iter().map(|s| s.patient_id.as_str()).collect();
        assert!(t.test.slices.slices.iter().all(|s| !train.contains(s.patient_id.as_str())), "split by patient");
    }
}
