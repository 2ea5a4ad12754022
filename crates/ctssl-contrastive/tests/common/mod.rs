//! Shared test helpers: fixture loading and finite-difference gradient checks.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor, Var};
use serde_json::Value;

/// The fixture document written by `scripts/make_fixtures.py`.
pub fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/losses.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A `{shape, data}` entry as a tensor of `dtype`.
pub fn tensor(v: &Value, dtype: DType) -> Tensor {
    let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
    let data: Vec<f64> = v["data"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
}

/// Row-major values of a tensor as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// Largest absolute difference.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Checks the analytic gradient of `loss(inputs)` with respect to every input in `wrt` against central
/// finite differences in f64 (step 1e-6), to `tol` absolute + relative.
pub fn gradcheck(inputs: &[Tensor], wrt: &[usize], loss: impl Fn(&[Tensor]) -> Tensor, tol: f64) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(&t.to_dtype(DType::F64).unwrap()).unwrap()).collect();
    let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = loss(&tensors).backward().unwrap();
    let h = 1e-6;
    for &w in wrt {
        let analytic = grads.get(&vars[w]).map(values).unwrap_or_else(|| vec![0.0; inputs[w].elem_count()]);
        let base = values(&tensors[w]);
        let shape = tensors[w].dims().to_vec();
        for i in 0..base.len() {
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let mut xs: Vec<Tensor> = tensors.iter().map(|t| t.detach()).collect();
                xs[w] = Tensor::from_vec(v, shape.clone(), &Device::Cpu).unwrap();
                loss(&xs).to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
            };
            let numeric = (eval(h) - eval(-h)) / (2.0 * h);
            let err = (numeric - analytic[i]).abs();
            assert!(
                err <= tol * (1.0 + numeric.abs()),
                "input {w} element {i}: analytic {} vs numeric {numeric}",
                analytic[i]
            );
        }
    }
}
