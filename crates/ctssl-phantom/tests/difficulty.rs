//! The difficulty band of the default tasks (slow: run with `cargo test --release -p ctssl-phantom -- --ignored`).

use ctssl_phantom::probe::probe_task;
use ctssl_phantom::{Dataset, PhantomConfig, Task};

#[test]
#[ignore = "generates 200 patients; about a minute in release"]
fn default_tasks_are_neither_trivial_nor_impossible_for_the_probe() {
    let config = PhantomConfig { pretrain_torso_patients: 0, pretrain_head_patients: 0, ..PhantomConfig::default() };
    let dataset = Dataset::generate(config).unwrap();
    for task in [Task::Lung, Task::Head] {
        let r = probe_task(&dataset, task).unwrap();
        assert!(r.auc > 0.6 && r.auc < 0.95, "{}: ROC-AUC {:.3}", task.name(), r.auc);
    }
    let organ = probe_task(&dataset, Task::Organ).unwrap();
    assert!(organ.accuracy > 0.5 && organ.accuracy < 0.95, "organ accuracy {:.3}", organ.accuracy);
}
