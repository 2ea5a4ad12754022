//! Tests of the optimizers against scalar f64 references of the PyTorch / paper formulas.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

use super::*;

fn var(vals: &[f64]) -> Var {
    Var::from_slice(vals, vals.len(), &Device::Cpu).unwrap()
}

fn grads_for(v: &Var, g: &[f64]) -> GradStore {
    let mut gs = GradStore::default();
    gs.insert(v.as_tensor(), Tensor::from_slice(g, g.len(), &Device::Cpu).unwrap());
    gs
}

fn vals(v: &Var) -> Vec<f64> {
    v.as_tensor().to_vec1::<f64>().unwrap()
}

fn assert_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

const W0: [f64; 3] = [0.5, -1.0, 2.0];
const GS: [[f64; 3]; 3] = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.2, 0.2]];

fn run(opt: &mut dyn Optimizer, v: &Var) -> Vec<f64> {
    for g in GS {
        opt.step(&grads_for(v, &g)).unwrap();
    }
    vals(v)
}

#[test]
fn sgd_hand_computed_steps() {
    let v = var(&[1.0]);
    let cfg = SgdConfig { lr: 0.1, momentum: 0.9, dampening: 0.0, nesterov: false, weight_decay: 0.01 };
    let mut opt = Sgd::new(vec![ParamGroup::new(vec![("w".into(), v.clone())])], cfg).unwrap();
    opt.step(&grads_for(&v, &[0.5])).unwrap();
    assert_close(&vals(&v), &[0.949], 1e-15);
    opt.step(&grads_for(&v, &[0.5])).unwrap();
    assert_close(&vals(&v), &[0.852151], 1e-15);

    let v = var(&[1.0]);
    let cfg = SgdConfig { nesterov: true, ..cfg };
    let mut opt = Sgd::new(vec![ParamGroup::new(vec![("w".into(), v.clone())])], cfg).unwrap();
    opt.step(&grads_for(&v, &[0.5])).unwrap();
    assert_close(&vals(&v), &[0.9031], 1e-15);
}

#[test]
fn sgd_matches_reference() {
    for nesterov in [false, true] {
        let (lr, mu, tau, wd) = (0.05, 0.9, 0.1, 0.02);
        let v = var(&W0);
        let cfg = SgdConfig { lr, momentum: mu, dampening: tau, nesterov, weight_decay: wd };
        let mut opt = Sgd::new(vec![ParamGroup::new(vec![("w".into(), v.clone())])], cfg).unwrap();
        let got = run(&mut opt, &v);
        let mut w = W0.to_vec();
        let mut b = [0.0; 3];
        for (t, g) in GS.iter().enumerate() {
            for i in 0..3 {
                let d = g[i] + wd * w[i];
                b[i] = if t == 0 { d } else { mu * b[i] + (1.0 - tau) * d };
                let d = if nesterov { d + mu * b[i] } else { b[i] };
                w[i] -= lr * d;
            }
        }
        assert_close(&got, &w, 1e-14);
    }
}

#[test]
fn adamw_hand_computed_step() {
    let v = var(&[1.0]);
    let cfg = AdamWConfig { lr: 0.1, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.01, decoupled_weight_decay: true };
    let mut opt = AdamW::new(vec![ParamGroup::new(vec![("w".into(), v.clone())])], cfg).unwrap();
    opt.step(&grads_for(&v, &[0.5])).unwrap();
    // p = 1·(1 − 0.001) − 0.1 · 0.5 / (0.5 + 1e-8)
    assert_close(&vals(&v), &[0.999 - 0.1 * 0.5 / (0.5 + 1e-8)], 1e-15);
}

#[test]
fn adam_with_l2_weight_decay_matches_reference() {
    // torch.optim.Adam(weight_decay=wd): g ← g + wd·p, then the Adam update; no decoupled shrink.
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 5e-4);
    let v = var(&W0);
    let cfg = AdamWConfig { lr, betas: (b1, b2), eps, weight_decay: wd, decoupled_weight_decay: false };
    let mut opt = AdamW::new(vec![ParamGroup::new(vec![("w".into(), v.clone())])], cfg).unwrap();
    let got = run(&mut opt, &v);
    let mut w = W0.to_vec();
    let (mut m, mut s) = ([0.0; 3], [0.0; 3]);
    for (k, g) in GS.iter().enumerate() {
        let t = (k + 1) as i32;
        for i in 0..3 {
            let g = g[i] + wd * w[i];
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            s[i] = b2 * s[i] + (1.0 - b2) * g * g;
            let mh = m[i] / (1.0 - b1.powi(t));
            let sh = s[i] / (1.0 - b2.powi(t));
            w[i] -= lr * mh / (sh.sqrt() + eps);
        }
    }
    assert_close(&got, &w, 1e-14);
}

#[test]
fn adamw_matches_reference() {
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.95, 1e-8, 0.05);
    let v = var(&W0);
    let cfg = AdamWConfig { lr, betas: (b1, b2), eps, weight_decay: wd, decoupled_weight_decay: true };
    let mut opt = AdamW::new(vec![ParamGroup::new(vec![("w".into(), v.clone())])], cfg).unwrap();
    let got = run(&mut opt, &v);
    let mut w = W0.to_vec();
    let (mut m, mut s) = ([0.0; 3], [0.0; 3]);
    for (k, g) in GS.iter().enumerate() {
        let t = (k + 1) as i32;
        for i in 0..3 {
            w[i] *= 1.0 - lr * wd;
            m[i] = b1 * m[i] + (1.0 - b1) * g[i];
            s[i] = b2 * s[i] + (1.0 - b2) * g[i] * g[i];
            let mh = m[i] / (1.0 - b1.powi(t));
            let sh = s[i] / (1.0 - b2.powi(t));
            w[i] -= lr * mh / (sh.sqrt() + eps);
        }
    }
    assert_close(&got, &w, 1e-14);
}

#[test]
fn lars_matches_reference() {
    for adapt in [true, false] {
        let (lr, mu, wd, eta) = (0.5, 0.9, 0.01, 0.02);
        let v = var(&W0);
        let mut group = ParamGroup::new(vec![("w".into(), v.clone())]);
        group.adapt = adapt;
        let cfg = LarsConfig { lr, momentum: mu, weight_decay: wd, eta };
        let mut opt = Lars::new(vec![group], cfg).unwrap();
        let got = run(&mut opt, &v);
        let mut w = W0.to_vec();
        let mut b = [0.0; 3];
        for g in GS {
            let q = if adapt { eta * norm(&w) / (norm(&g) + wd * norm(&w)) } else { 1.0 };
            for i in 0..3 {
                b[i] = mu * b[i] + q * (g[i] + wd * w[i]);
            }
            for i in 0..3 {
                w[i] -= lr * b[i];
            }
        }
        assert_close(&got, &w, 1e-14);
    }
}

#[test]
fn lamb_matches_reference() {
    for adapt in [true, false] {
        let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.95, 1e-6, 0.05);
        let v = var(&W0);
        let mut group = ParamGroup::new(vec![("w".into(), v.clone())]);
        group.adapt = adapt;
        let cfg = LambConfig { lr, betas: (b1, b2), eps, weight_decay: wd };
        let mut opt = Lamb::new(vec![group], cfg).unwrap();
        let got = run(&mut opt, &v);
        let mut w = W0.to_vec();
        let (mut m, mut s) = ([0.0; 3], [0.0; 3]);
        for (k, g) in GS.iter().enumerate() {
            let t = (k + 1) as i32;
            let mut u = [0.0; 3];
            for i in 0..3 {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                s[i] = b2 * s[i] + (1.0 - b2) * g[i] * g[i];
                let mh = m[i] / (1.0 - b1.powi(t));
                let sh = s[i] / (1.0 - b2.powi(t));
                u[i] = mh / (sh.sqrt() + eps) + wd * w[i];
            }
            let q = if adapt { norm(&w) / norm(&u) } else { 1.0 };
            for i in 0..3 {
                w[i] -= lr * q * u[i];
            }
        }
        assert_close(&got, &w, 1e-14);
    }
}

#[test]
fn no_decay_group_is_not_decayed() {
    let dev = Device::Cpu;
    let weight = Var::from_slice(&[1.0f64, 2.0, 3.0, 4.0], (2, 2), &dev).unwrap();
    let bias = var(&[1.0, -2.0]);
    let groups = split_decay(vec![("b".into(), bias.clone()), ("w".into(), weight.clone())]);
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].params[0].0, "w");
    assert_eq!((groups[1].params[0].0.as_str(), groups[1].wd_scale, groups[1].adapt), ("b", 0.0, false));
    let cfg = AdamWConfig { lr: 0.1, weight_decay: 0.5, ..Default::default() };
    let mut opt = AdamW::new(groups, cfg).unwrap();
    let mut gs = GradStore::default();
    gs.insert(weight.as_tensor(), weight.as_tensor().zeros_like().unwrap());
    gs.insert(bias.as_tensor(), bias.as_tensor().zeros_like().unwrap());
    opt.step(&gs).unwrap();
    // zero gradient: only decoupled decay acts, on the weight alone.
    assert_eq!(vals(&bias), vec![1.0, -2.0]);
    let w = weight.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    assert_close(&w, &[0.95, 1.9, 2.85, 3.8], 1e-15);
}

#[test]
fn duplicate_names_rejected() {
    let a = var(&[1.0]);
    let b = var(&[1.0]);
    let groups = vec![ParamGroup::new(vec![("x".into(), a.clone())]), ParamGroup::new(vec![("x".into(), b)])];
    assert!(Sgd::new(groups, SgdConfig::default()).is_err());
    let groups = vec![ParamGroup::new(vec![("x".into(), a.clone()), ("y".into(), a)])];
    assert!(Sgd::new(groups, SgdConfig::default()).is_err());
}

/// Minimises ‖w − c‖² with the real backward pass and a linearly decaying learning rate.
fn converges(make: &dyn Fn(Vec<ParamGroup>) -> Box<dyn Optimizer>, lr0: f64) {
    let dev = Device::Cpu;
    let w = var(&[2.0, -1.5, 0.7, 3.0]);
    let c = Tensor::from_slice(&[0.5f64, 0.25, -0.75, 1.0], 4, &dev).unwrap();
    let mut opt = make(vec![ParamGroup::new(vec![("w".into(), w.clone())])]);
    let steps = 2000;
    for k in 0..steps {
        opt.set_learning_rate(lr0 * (1.0 - k as f64 / steps as f64));
        let loss = (w.as_tensor() - &c).unwrap().sqr().unwrap().sum_all().unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    let err = (w.as_tensor() - &c).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert!(err < 1e-2, "error {err}");
}

#[test]
fn quadratic_converges() {
    converges(&|g| Box::new(Sgd::new(g, SgdConfig { weight_decay: 0.0, ..Default::default() }).unwrap()), 0.05);
    converges(&|g| Box::new(AdamW::new(g, AdamWConfig { weight_decay: 0.0, ..Default::default() }).unwrap()), 0.05);
    let lars = LarsConfig { weight_decay: 0.0, eta: 0.02, ..Default::default() };
    converges(&|g| Box::new(Lars::new(g, lars).unwrap()), 1.0);
    converges(&|g| Box::new(Lamb::new(g, LambConfig { weight_decay: 0.0, ..Default::default() }).unwrap()), 0.02);
}

#[test]
fn state_round_trip_gives_identical_next_steps() {
    type Make = fn(Vec<ParamGroup>) -> Box<dyn Optimizer>;
    let makers: [Make; 4] = [
        |g| Box::new(Sgd::new(g, SgdConfig { nesterov: true, weight_decay: 1e-3, ..Default::default() }).unwrap()),
        |g| Box::new(AdamW::new(g, AdamWConfig::default()).unwrap()),
        |g| Box::new(Lars::new(g, LarsConfig::default()).unwrap()),
        |g| Box::new(Lamb::new(g, LambConfig::default()).unwrap()),
    ];
    for make in makers {
        let a = var(&W0);
        let mut opt_a = make(vec![ParamGroup::new(vec![("w".into(), a.clone())])]);
        opt_a.step(&grads_for(&a, &GS[0])).unwrap();
        opt_a.step(&grads_for(&a, &GS[1])).unwrap();
        let state: HashMap<String, Tensor> = opt_a.state_tensors().unwrap();
        let b = Var::from_tensor(&a.as_tensor().copy().unwrap()).unwrap();
        let mut opt_b = make(vec![ParamGroup::new(vec![("w".into(), b.clone())])]);
        opt_b.load_state_tensors(&state).unwrap();
        opt_a.step(&grads_for(&a, &GS[2])).unwrap();
        opt_b.step(&grads_for(&b, &GS[2])).unwrap();
        let (va, vb) = (vals(&a), vals(&b));
        assert!(va.iter().zip(&vb).all(|(x, y)| x.to_bits() == y.to_bits()), "{va:?} vs {vb:?}");
    }
}

#[test]
fn state_load_validates() {
    let a = var(&W0);
    let mut opt = AdamW::new(vec![ParamGroup::new(vec![("w".into(), a.clone())])], AdamWConfig::default()).unwrap();
    opt.step(&grads_for(&a, &GS[0])).unwrap();
    let good = opt.state_tensors().unwrap();
    assert!(good.contains_key("w/step") && good.contains_key("w/exp_avg") && good.contains_key("w/exp_avg_sq"));

    let mut bad = good.clone();
    bad.insert("w/exp_avg".into(), Tensor::zeros(2, candle_core::DType::F64, &Device::Cpu).unwrap());
    assert!(matches!(opt.load_state_tensors(&bad), Err(crate::TrainError::ShapeMismatch { .. })));
    let mut bad = good.clone();
    bad.remove("w/exp_avg_sq");
    assert!(matches!(opt.load_state_tensors(&bad), Err(crate::TrainError::MissingTensor(_))));
    let mut bad = good.clone();
    bad.insert("v/step".into(), Tensor::new(1i64, &Device::Cpu).unwrap());
    assert!(matches!(opt.load_state_tensors(&bad), Err(crate::TrainError::UnexpectedTensor(_))));
    opt.load_state_tensors(&good).unwrap();
}

#[test]
fn clip_scales_to_max_norm_and_returns_norm() {
    let v = var(&[3.0, 4.0]);
    let mut gs = grads_for(&v, &[3.0, 4.0]);
    let n = clip_grad_norm(&mut gs, std::slice::from_ref(&v), 1.0).unwrap();
    assert_eq!(n, 5.0);
    let g = gs.get(v.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
    let coef = 1.0 / (5.0 + 1e-6);
    assert_close(&g, &[3.0 * coef, 4.0 * coef], 1e-15);
    // below the limit: untouched
    let mut gs = grads_for(&v, &[0.3, 0.4]);
    assert!((clip_grad_norm(&mut gs, std::slice::from_ref(&v), 1.0).unwrap() - 0.5).abs() < 1e-15);
    assert_eq!(gs.get(v.as_tensor()).unwrap().to_vec1::<f64>().unwrap(), vec![0.3, 0.4]);
    assert!(clip_grad_norm(&mut gs, &[v], 0.0).is_err());
}

#[test]
fn accumulation_equals_full_batch() {
    let dev = Device::Cpu;
    let w = var(&[0.3, -0.7]);
    let x = Tensor::from_slice(&[1.0f64, 2.0, -1.0, 0.5, 3.0, 1.0, 0.0, -2.0], (4, 2), &dev).unwrap();
    let loss_of =
        |x: &Tensor| x.broadcast_mul(w.as_tensor()).unwrap().sum(1).unwrap().sqr().unwrap().mean_all().unwrap();
    let full = loss_of(&x).backward().unwrap();
    let full = full.get(w.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
    let mut acc = GradAccumulator::new(vec![w.clone()]);
    for i in 0..2 {
        acc.add(&loss_of(&x.narrow(0, 2 * i, 2).unwrap()).backward().unwrap()).unwrap();
    }
    assert_eq!(acc.micro_batches(), 2);
    let gs = acc.finish(0.5).unwrap();
    let got = gs.get(w.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
    assert_close(&got, &full, 1e-14);
    assert_eq!(acc.micro_batches(), 0);
}

/// The fused in-place CPU update and the tensor-op update give the same parameters and moments, bit for
/// bit, in f32 and f64, with decoupled and with L2 weight decay, on a parameter larger than one rayon
/// chunk and on a small one, over several steps with changing gradients.
#[test]
fn fused_adam_equals_tensor_ops() {
    use candle_core::DType;
    for dtype in [DType::F32, DType::F64] {
        for decoupled in [true, false] {
            for n in [70_001usize, 5] {
                let init: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 500.0 - 1.0).collect();
                let make = || {
                    let t = Tensor::from_vec(init.clone(), n, &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
                    Var::from_tensor(&t).unwrap()
                };
                let (a, b) = (make(), make());
                let cfg = AdamWConfig { decoupled_weight_decay: decoupled, weight_decay: 0.1, ..Default::default() };
                let group = |v: &Var| vec![ParamGroup::new(vec![("w".to_string(), v.clone())])];
                let mut fused = AdamW::new(group(&a), cfg).unwrap();
                let mut plain = AdamW::new(group(&b), cfg).unwrap().with_fused(false);
                for step in 0..4 {
                    // Gradient g_i = w_i³ − (i mod 7)·0.1·step: new values every step.
                    let grad = |v: &Var| -> GradStore {
                        let w = v.as_tensor().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
                        let g: Vec<f64> =
                            w.iter().enumerate().map(|(i, x)| x * x * x - (i % 7) as f64 * 0.1 * step as f64).collect();
                        let mut gs = GradStore::default();
                        let gt = Tensor::from_vec(g, n, &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
                        gs.insert(v.as_tensor(), gt);
                        gs
                    };
                    fused.step(&grad(&a)).unwrap();
                    plain.step(&grad(&b)).unwrap();
                }
                let as_f64 = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
                let what = format!("{dtype:?}, decoupled {decoupled}, n {n}");
                assert_eq!(as_f64(a.as_tensor()), as_f64(b.as_tensor()), "parameters differ ({what})");
                let (sa, sb) = (fused.state_tensors().unwrap(), plain.state_tensors().unwrap());
                for key in ["w/exp_avg", "w/exp_avg_sq"] {
                    assert_eq!(as_f64(&sa[key]), as_f64(&sb[key]), "{key} differs ({what})");
                }
                assert_ne!(as_f64(a.as_tensor()), init, "the parameters moved ({what})");
            }
        }
    }
}
