//! Helpers shared by the integration tests: seeded random tensors, finite-difference gradient checks,
//! comparisons of two implementations (values and gradients).
#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A seeded generator.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A normal random f64 tensor of `dims` scaled by `scale`.
pub fn randn(rng: &mut ChaCha8Rng, dims: &[usize], scale: f64) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.sample::<f64, _>(StandardNormal) * scale).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// Largest |a − b| / (1 + |b|) over all entries.
pub fn max_rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let a: Vec<f64> = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f64> = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    a.iter().zip(&b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0.0, f64::max)
}

/// `Σ f(inputs) · probe` and its gradients with respect to every input.
pub fn loss_and_grads<F>(f: &F, inputs: &[Tensor], probe: &Tensor) -> (f64, Vec<Tensor>)
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts).unwrap();
    let loss = (y * probe.to_dtype(ts[0].dtype()).unwrap()).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let value = loss.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
    let gs = vars.iter().map(|v| grads.get(v).cloned().unwrap_or_else(|| panic!("no gradient for an input"))).collect();
    (value, gs)
}

/// Checks the gradients of `f` (f64 inputs) against central finite differences at up to `samples`
/// entries of each input; returns the largest relative error seen.
pub fn check_finite_differences<F>(f: F, inputs: &[Tensor], samples: usize, seed: u64) -> f64
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
{
    let mut r = rng(seed);
    let out = f(inputs).unwrap();
    let probe = randn(&mut r, out.dims(), 1.0);
    let (_, grads) = loss_and_grads(&f, inputs, &probe);
    let eval =
        |ins: &[Tensor]| -> f64 { (f(ins).unwrap() * &probe).unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap() };
    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for (k, input) in inputs.iter().enumerate() {
        let base: Vec<f64> = input.flatten_all().unwrap().to_vec1().unwrap();
        let analytic: Vec<f64> = grads[k].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(analytic.len(), base.len());
        let picks: Vec<usize> = if base.len() <= samples {
            (0..base.len()).collect()
        } else {
            (0..samples).map(|_| r.random_range(0..base.len())).collect()
        };
        for i in picks {
            let mut plus = base.clone();
            plus[i] += h;
            let mut minus = base.clone();
            minus[i] -= h;
            let mut ins_p = inputs.to_vec();
            ins_p[k] = Tensor::from_vec(plus, input.dims(), &Device::Cpu).unwrap();
            let mut ins_m = inputs.to_vec();
            ins_m[k] = Tensor::from_vec(minus, input.dims(), &Device::Cpu).unwrap();
            let numeric = (eval(&ins_p) - eval(&ins_m)) / (2.0 * h);
            let err = (numeric - analytic[i]).abs() / (1e-3 + numeric.abs().max(analytic[i].abs()));
            assert!(err < 1e-4, "input {k} entry {i}: numeric {numeric} analytic {}", analytic[i]);
            worst = worst.max(err);
        }
    }
    worst
}

/// Compares two implementations on the same inputs: outputs and gradients must agree within `tol`
/// (relative to 1 + |reference|).
pub fn compare<F, G>(ours: F, reference: G, inputs: &[Tensor], tol: f64, seed: u64)
where
    F: Fn(&[Tensor]) -> Result<Tensor>,
    G: Fn(&[Tensor]) -> Result<Tensor>,
{
    let mut r = rng(seed);
    let y_ref = reference(inputs).unwrap();
    let y_ours = ours(inputs).unwrap();
    let d = max_rel_diff(&y_ours, &y_ref);
    assert!(d < tol, "forward differs by {d}");
    let probe = randn(&mut r, y_ref.dims(), 1.0);
    let (_, g_ours) = loss_and_grads(&ours, inputs, &probe);
    let (_, g_ref) = loss_and_grads(&reference, inputs, &probe);
    for (k, (a, b)) in g_ours.iter().zip(&g_ref).enumerate() {
        let d = max_rel_diff(a, b);
        assert!(d < tol, "gradient of input {k} differs by {d}");
    }
}

/// `t` as f32.
pub fn f32(t: &Tensor) -> Tensor {
    t.to_dtype(DType::F32).unwrap()
}
