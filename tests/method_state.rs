//! What every pre-training method hands the trainer and writes stays as recorded: the optimizer's
//! variables (names, shapes, and their order, which fixes the order of sums such as the gradient norm),
//! and the tensors of a checkpoint and of the exported encoder (names, dtypes, shapes). A change to how
//! methods list their parts must leave all three alone, or old checkpoints stop resuming and runs stop
//! repeating bit for bit.
//!
//! Each method runs 4 steps of the tiny study configuration (a checkpoint every 2) and the listing is
//! compared by digest with the one recorded; on a mismatch the new listing is printed. The values are
//! left out: they depend on the CPU's instruction set (the matrix kernels pick theirs at run time).

use std::collections::BTreeMap;
use std::path::Path;

mod common;

use candle_core::{Device, Tensor};
use ctssl::augment::InMemorySlices;
use ctssl::pipeline::data::phantom_data;
use ctssl::pipeline::methods::{method_run, Method, RunShape};
use ctssl::pipeline::pretrain::{pretrain, PretrainRequest, ENCODER_FILE};
use ctssl::train::trainer::RunLength;

/// Digest of each method's listing (FNV-1a, 64 bits), recorded before the methods listed their parts
/// through one trait.
const RECORDED: [(&str, u64); 8] = [
    ("spark", 0x98ae_aecf_3528_33fa),
    ("simclr", 0xcebc_26b6_1458_1327),
    ("moco_v2", 0xe506_42c3_1964_4199),
    ("byol", 0xc343_a96c_b34c_814d),
    ("swav", 0x2a99_6454_7f0b_3734),
    ("barlow_twins", 0xca75_4ee8_65dd_2efa),
    ("vicreg", 0xca75_4ee8_65dd_2efa),
    ("dino", 0xa417_f694_5a16_5578),
];

fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `name dtype [dims]` of every tensor of a safetensors file, sorted by name.
fn tensors(path: &Path) -> String {
    let map: BTreeMap<String, Tensor> =
        candle_core::safetensors::load(path, &Device::Cpu).unwrap().into_iter().collect();
    map.iter().map(|(n, t)| format!("{n} {:?} {:?}\n", t.dtype(), t.dims())).collect()
}

fn run_shape(cfg: &ctssl::pipeline::StudyConfig, steps_per_epoch: u64) -> RunShape {
    RunShape {
        image_size: cfg.model.image_size,
        length: RunLength { epochs: 1, steps_per_epoch, batch_size: 4 },
        lr_scale: 1.0,
        seed: 5,
        decoder_width: None,
        spark_norm_pix: true,
    }
}

/// The optimizer's variables in order, then the last checkpoint's and the encoder's tensors.
fn listing(method: Method, pool: &InMemorySlices, dir: &Path) -> String {
    let cfg = common::tiny();
    let device = Device::Cpu;
    let steps = (pool.slices.len() / 4) as u64;
    let run = method_run(method, cfg.backbone().unwrap(), run_shape(&cfg, steps), cfg.pretrain.views, &device).unwrap();
    let mut text = String::from("optimizer\n");
    for (n, v) in run.method.trainable_vars() {
        text.push_str(&format!("{n} {:?}\n", v.dims()));
    }
    let req = PretrainRequest {
        method,
        backbone: cfg.backbone().unwrap(),
        shape: run_shape(&cfg, 0),
        views: cfg.pretrain.views,
        input: cfg.input().unwrap(),
        checkpoint_every: 2,
        stop_after: None,
    };
    let out = pretrain(&req, pool, dir, &device).unwrap();
    let summary = out.summary.unwrap();
    assert_eq!(summary.steps_done, 4, "{method}");
    text.push_str("checkpoint\n");
    text.push_str(&tensors(&summary.last_checkpoint.unwrap()));
    text.push_str("encoder\n");
    text.push_str(&tensors(&dir.join(ENCODER_FILE)));
    text
}

#[test]
fn optimizer_variables_checkpoints_and_encoders_keep_their_names() {
    let cfg = common::tiny();
    let data = phantom_data(&cfg.data, &[]).unwrap();
    assert_eq!(data.pool.slices.len() / 4, 4, "the tiny pool makes 4 batches of 4");
    let tmp = tempfile::tempdir().unwrap();
    let mut changed = Vec::new();
    for (method, (name, recorded)) in Method::ALL.into_iter().zip(RECORDED) {
        assert_eq!(method.name(), name);
        let text = listing(method, &data.pool, &tmp.path().join(name));
        let digest = fnv1a64(&text);
        if digest != recorded {
            changed.push(format!("{name}: recorded {recorded:#018x}, now {digest:#018x}\n{text}"));
        }
    }
    assert!(changed.is_empty(), "{}", changed.join("\n"));
}
