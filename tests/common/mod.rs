//! What the facade's integration tests share.

use ctssl::pipeline::StudyConfig;

/// The default study shrunk to run in seconds in a debug build: 4 / 2 / 3 patients per body part, a pool
/// of 3 patients, 32 px, width 4; SparK and SimCLR for one epoch; the head task at 100 % and 50 % with
/// 2 seeds and every protocol.
pub fn tiny() -> StudyConfig {
    let mut cfg = StudyConfig::preset("cpu-quick").unwrap();
    cfg.data.train_patients = Some(4);
    cfg.data.val_patients = Some(2);
    cfg.data.test_patients = Some(3);
    cfg.data.pretrain_torso_patients = Some(2);
    cfg.data.pretrain_head_patients = Some(1);
    cfg.data.torso_slices = Some(6);
    cfg.data.head_slices = Some(4);
    cfg.data.phantom_image_size = Some(32);
    cfg.model.image_size = 32;
    cfg.model.base_width = 4;
    cfg.pretrain.methods = vec!["spark".parse().unwrap(), "simclr".parse().unwrap()];
    cfg.pretrain.epochs = 1;
    cfg.pretrain.batch_size = 8;
    cfg.finetune.steps = 4;
    cfg.finetune.eval_every = 2;
    cfg.finetune.probe_l2 = vec![1.0, 0.01];
    cfg.finetune.knn_k = 5;
    cfg.protocol.tasks = vec!["head".into()];
    cfg.protocol.fractions = vec![1.0, 0.5];
    cfg.protocol.finetune_fractions = None;
    cfg.protocol.seeds = vec![0, 1];
    cfg.protocol.finetune_seeds = None;
    cfg
}
