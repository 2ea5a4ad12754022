//! The study on the seed study's datasets as distributed (small synthetic files in the real layouts):
//! COVID-CT and MedMNIST tasks with their official splits, an image-slice pool with two bad files,
//! de-duplication, the report's notes on mappings and patients; and the errors of bad task specs.

use std::path::PathBuf;

use ctssl::pipeline::{run_study, StudyConfig};
use ctssl::study::ResultsTable;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/ctssl-io/tests/data/paper-formats")
}

fn tiny() -> StudyConfig {
    let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
    cfg.model.image_size = 32;
    cfg.model.base_width = 4;
    cfg.pretrain.methods = vec!["spark".parse().unwrap(), "moco_v2".parse().unwrap()];
    cfg.pretrain.epochs = 1;
    cfg.pretrain.batch_size = 4;
    cfg.finetune.steps = 4;
    cfg.finetune.eval_every = 2;
    cfg.finetune.probe_l2 = vec![1.0, 0.01];
    cfg.finetune.knn_k = 5;
    cfg.protocol.fractions = vec![1.0, 0.5];
    cfg.protocol.seeds = vec![0];
    cfg.protocol.finetune_fractions = None;
    cfg.protocol.finetune_seeds = None;
    let f = fixtures();
    cfg.sources.tasks = vec![
        format!("covid-ct:{}", f.join("covid-ct").display()),
        format!("medmnist:{}", f.join("medmnist/organsmnist.npz").display()),
    ];
    cfg.sources.pretrain_data = vec![f.join("pool")];
    cfg.sources.dedup = true;
    cfg
}

#[test]
fn study_on_covid_ct_medmnist_and_an_image_pool() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = tiny();
    let o = run_study(&cfg, &out, &candle_core::Device::Cpu).unwrap();
    let table = ResultsTable::load(&o.results).unwrap();
    let tasks: std::collections::BTreeSet<&str> = table.rows.iter().map(|r| r.task.as_str()).collect();
    assert_eq!(tasks, ["covid-ct", "organsmnist"].into_iter().collect());
    let inits: std::collections::BTreeSet<&str> = table.rows.iter().map(|r| r.init.as_str()).collect();
    for init in ["moco_v2", "random", "spark"] {
        assert!(inits.contains(init), "{inits:?}");
    }
    // The official test splits: 10 COVID-CT images, 33 organsmnist images.
    assert!(table.rows.iter().filter(|r| r.task == "covid-ct").all(|r| r.test_slices == 10));
    assert!(table.rows.iter().filter(|r| r.task == "organsmnist").all(|r| r.test_slices == 33));
    let data = std::fs::read_to_string(out.join("data.txt")).unwrap();
    assert!(data.contains("truncated.png") && data.contains("notes.txt"), "{data}");
    assert!(data.contains("de-duplicated"), "{data}");
    let report = std::fs::read_to_string(&o.report).unwrap();
    assert!(report.contains("each image is its own patient"), "{report}");
    assert!(report.contains("bladder") && report.contains("spleen"), "{report}");
    assert!(report.contains("per-image min–max"), "{report}");
}

#[test]
fn bad_task_specs_and_windows_on_images_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny();
    cfg.sources.tasks = vec!["kaggle:/nowhere".into()];
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("kaggle") && e.contains("covid-ct"), "{e}");
    let mut cfg = tiny();
    cfg.sources.image_mapping = "windows".into();
    let e = run_study(&cfg, &dir.path().join("w"), &candle_core::Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("no Hounsfield units"), "{e}");
    let mut cfg = tiny();
    cfg.sources.tasks = vec![format!("medmnist:{}", fixtures().join("medmnist/missing_test_labels.npz").display())];
    let e = run_study(&cfg, &dir.path().join("m"), &candle_core::Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("test_labels"), "{e}");
}
