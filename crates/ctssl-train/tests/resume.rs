//! A toy run (linear regression on random mini-batches, AdamW with warm-up + cosine learning rate and
//! cosine weight decay, an EMA target, gradient clipping) stopped half-way, checkpointed, and resumed in
//! fresh objects ends with the same weights, bit for bit, as the uninterrupted run.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_train::checkpoint::{latest, Checkpoint, RngState};
use ctssl_train::ema::Ema;
use ctssl_train::optim::{clip_grad_norm, split_decay, AdamW, AdamWConfig, Optimizer};
use ctssl_train::schedule::Schedule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOTAL: u64 = 30;

struct Run {
    w: Var,
    b: Var,
    opt: AdamW,
    ema: Ema,
    rng: ChaCha8Rng,
    step: u64,
}

fn new_run(seed: u64) -> Run {
    let dev = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let init: Vec<f32> = (0..12).map(|_| rng.random_range(-1.0..1.0)).collect();
    let w = Var::from_slice(&init, (4, 3), &dev).unwrap();
    let b = Var::zeros(3, DType::F32, &dev).unwrap();
    let params = vec![("w".to_string(), w.clone()), ("b".to_string(), b.clone())];
    let opt = AdamW::new(split_decay(params.clone()), AdamWConfig { lr: 0.05, ..Default::default() }).unwrap();
    let ema = Ema::from_online(&params, &[]).unwrap();
    Run { w, b, opt, ema, rng, step: 0 }
}

fn train(run: &mut Run, until: u64) {
    let dev = Device::Cpu;
    let lr = Schedule::warmup_cosine(0.05, 0.0, 5, TOTAL).unwrap();
    let wd = Schedule::cosine(0.04, 0.2, TOTAL).unwrap();
    let mom = Schedule::ema_momentum(0.9, TOTAL).unwrap();
    while run.step < until {
        let x: Vec<f32> = (0..32).map(|_| run.rng.random_range(-1.0..1.0)).collect();
        let x = Tensor::from_slice(&x, (8, 4), &dev).unwrap();
        let y = x.sum_keepdim(1).unwrap().broadcast_as((8, 3)).unwrap();
        let pred = x.matmul(run.w.as_tensor()).unwrap().broadcast_add(run.b.as_tensor()).unwrap();
        let loss = (pred - y).unwrap().sqr().unwrap().mean_all().unwrap();
        ctssl_train::checkpoint::check_finite(loss.to_scalar::<f32>().unwrap() as f64, run.step).unwrap();
        let mut grads = loss.backward().unwrap();
        clip_grad_norm(&mut grads, &[run.w.clone(), run.b.clone()], 1.0).unwrap();
        run.opt.set_learning_rate(lr.at(run.step));
        run.opt.set_weight_decay(wd.at(run.step));
        run.opt.step(&grads).unwrap();
        run.ema.update(mom.at(run.step)).unwrap();
        run.step += 1;
    }
}

fn model_tensors(run: &Run) -> std::collections::HashMap<String, Tensor> {
    let mut m = std::collections::HashMap::new();
    m.insert("w".to_string(), run.w.as_tensor().copy().unwrap());
    m.insert("b".to_string(), run.b.as_tensor().copy().unwrap());
    for (n, v) in run.ema.target_vars() {
        m.insert(format!("ema.{n}"), v.as_tensor().copy().unwrap());
    }
    m
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn resumed_run_matches_uninterrupted_run_bit_for_bit() {
    let mut full = new_run(11);
    train(&mut full, TOTAL);

    let dir = tempfile::tempdir().unwrap();
    let mut first = new_run(11);
    train(&mut first, 13);
    let ckpt = Checkpoint {
        model: model_tensors(&first),
        optimizer: first.opt.state_tensors().unwrap(),
        step: first.step,
        epoch: 0,
        rng: RngState::from_rng(&first.rng),
        config: r#"{"toy":true}"#.into(),
    };
    ckpt.save(dir.path()).unwrap();
    drop(first);

    // Fresh process: different seed for the initial weights, everything comes from the checkpoint.
    let mut resumed = new_run(999);
    let c = Checkpoint::load(&latest(dir.path()).unwrap().unwrap(), &Device::Cpu).unwrap();
    let mut vars = vec![("w".to_string(), resumed.w.clone()), ("b".to_string(), resumed.b.clone())];
    for (n, v) in resumed.ema.target_vars() {
        vars.push((format!("ema.{n}"), v));
    }
    c.restore_vars(&vars).unwrap();
    resumed.opt.load_state_tensors(&c.optimizer).unwrap();
    resumed.rng = c.rng.to_rng();
    resumed.step = c.step;
    train(&mut resumed, TOTAL);

    let (a, b) = (model_tensors(&full), model_tensors(&resumed));
    assert_eq!(a.len(), 4);
    for (k, t) in &a {
        assert_eq!(bits(t), bits(&b[k]), "{k}");
    }
}
