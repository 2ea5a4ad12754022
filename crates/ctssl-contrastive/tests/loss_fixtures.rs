//! Each loss against the PyTorch reference values of `tests/fixtures/losses.json`
//! (made by `scripts/make_fixtures.py`): loss to 1e-5 and input gradients, in f64 and f32.

mod common;

use candle_core::{DType, Tensor, Var};
use common::{fixtures, max_abs_diff, tensor, values};
use ctssl_contrastive::*;
use serde_json::Value;

/// Runs `loss` on the case's inputs (as `Var`s, in `dtype`), compares the loss and each listed gradient.
fn check(name: &str, dtype: DType, input_names: &[&str], loss: impl Fn(&[Tensor]) -> Tensor) {
    let doc = fixtures();
    let case = &doc["cases"][name];
    let vars: Vec<Var> =
        input_names.iter().map(|n| Var::from_tensor(&tensor(&case["inputs"][*n], dtype)).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let l = loss(&tensors);
    assert_eq!(l.dtype(), dtype);
    let got = values(&l)[0];
    let want = case["loss"].as_f64().unwrap();
    let (loss_tol, grad_tol) = if dtype == DType::F64 { (1e-9, 1e-9) } else { (1e-5 * want.abs().max(1.0), 2e-4) };
    assert!((got - want).abs() <= loss_tol, "{name} {dtype:?}: loss {got} vs reference {want}");
    let grads = l.backward().unwrap();
    let grad_refs = case["grads"].as_object().unwrap();
    for (i, n) in input_names.iter().enumerate() {
        let Some(reference) = grad_refs.get(*n) else { continue };
        let want = values(&tensor(reference, DType::F64));
        let got = grads.get(&vars[i]).map(values).unwrap_or_else(|| vec![0.0; want.len()]);
        let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
        let d = max_abs_diff(&got, &want);
        assert!(d <= grad_tol * scale, "{name} {dtype:?}: gradient of {n} differs by {d}");
    }
}

fn param(name: &str, key: &str) -> f64 {
    fixtures()["cases"][name]["params"][key].as_f64().unwrap()
}

fn both(f: impl Fn(DType)) {
    f(DType::F64);
    f(DType::F32);
}

#[test]
fn nt_xent_matches_pytorch() {
    let t = param("nt_xent", "temperature");
    both(|dt| check("nt_xent", dt, &["z_a", "z_b"], |x| nt_xent(&x[0], &x[1], t).unwrap()));
}

#[test]
fn info_nce_matches_pytorch_and_key_gets_no_gradient() {
    let t = param("info_nce", "temperature");
    both(|dt| check("info_nce", dt, &["q", "k", "queue"], |x| info_nce(&x[0], &x[1], &x[2], t).unwrap()));
    let case = &fixtures()["cases"]["info_nce"];
    assert!(values(&tensor(&case["grads"]["k"], DType::F64)).iter().all(|v| *v == 0.0));
}

#[test]
fn byol_matches_pytorch() {
    both(|dt| {
        check("byol", dt, &["p1", "p2", "z1", "z2"], |x| byol_loss_symmetric(&x[0], &x[1], &x[2], &x[3]).unwrap())
    });
}

fn swav_config(name: &str) -> SwavLossConfig {
    let p = &fixtures()["cases"][name]["params"];
    SwavLossConfig {
        temperature: p["temperature"].as_f64().unwrap(),
        epsilon: p["epsilon"].as_f64().unwrap(),
        sinkhorn_iterations: p["iterations"].as_u64().unwrap() as usize,
        crops_for_assign: p["crops_for_assign"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect(),
    }
}

#[test]
fn swav_matches_pytorch() {
    let cfg = swav_config("swav");
    both(|dt| check("swav", dt, &["s0", "s1", "s2", "s3"], |x| swav_loss(x, &cfg, None).unwrap()));
}

#[test]
fn swav_with_queue_matches_pytorch() {
    let cfg = swav_config("swav_queue");
    both(|dt| {
        check("swav_queue", dt, &["s0", "s1", "s2", "s3", "queue0", "queue1"], |x| {
            swav_loss(&x[..4], &cfg, Some(&x[4..])).unwrap()
        })
    });
}

#[test]
fn sinkhorn_matches_pytorch() {
    let case: Value = fixtures()["cases"]["sinkhorn"].clone();
    let scores = tensor(&case["inputs"]["scores"], DType::F64);
    let got = values(&sinkhorn_knopp(&scores, 0.05, 3).unwrap());
    let want = values(&tensor(&case["output"], DType::F64));
    assert!(max_abs_diff(&got, &want) < 1e-10);
}

#[test]
fn barlow_twins_matches_pytorch() {
    let l = param("barlow_twins", "lambda");
    both(|dt| check("barlow_twins", dt, &["z1", "z2"], |x| barlow_twins_loss(&x[0], &x[1], l).unwrap()));
}

#[test]
fn vicreg_matches_pytorch() {
    let w = VicregWeights {
        invariance: param("vicreg", "sim_coeff"),
        variance: param("vicreg", "std_coeff"),
        covariance: param("vicreg", "cov_coeff"),
    };
    both(|dt| check("vicreg", dt, &["x", "y"], |x| vicreg_loss(&x[0], &x[1], w).unwrap()));
}

#[test]
fn dino_matches_pytorch_and_center_update() {
    let cfg = DinoLossConfig {
        student_temperature: param("dino", "student_temp"),
        teacher_temperature: param("dino", "teacher_temp"),
        center_momentum: param("dino", "center_momentum"),
    };
    let names = ["student0", "student1", "student2", "student3", "teacher0", "teacher1", "center"];
    both(|dt| check("dino", dt, &names, |x| dino_loss(&x[..4], &x[4..6], &x[6], &cfg).unwrap()));
    let case = &fixtures()["cases"]["dino"];
    let teacher = [tensor(&case["inputs"]["teacher0"], DType::F64), tensor(&case["inputs"]["teacher1"], DType::F64)];
    let center = tensor(&case["inputs"]["center"], DType::F64);
    let got = values(&dino_center_update(&center, &teacher, cfg.center_momentum).unwrap());
    assert!(max_abs_diff(&got, &values(&tensor(&case["new_center"], DType::F64))) < 1e-12);
}
