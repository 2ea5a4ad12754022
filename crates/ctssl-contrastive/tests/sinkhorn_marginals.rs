//! Sinkhorn-Knopp's output has SwAV's marginals.

use candle_core::{DType, Device, Tensor};
use ctssl_contrastive::sinkhorn_knopp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn scores(b: usize, k: usize, seed: u64) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..b * k).map(|_| rng.random_range(-0.5..0.5)).collect();
    Tensor::from_vec(v, (b, k), &Device::Cpu).unwrap()
}

#[test]
fn each_sample_code_sums_to_one_and_prototypes_share_the_batch() {
    let (b, k) = (12, 4);
    for dtype in [DType::F64, DType::F32] {
        let s = scores(b, k, 11).to_dtype(dtype).unwrap();
        let q = sinkhorn_knopp(&s, 0.05, 3).unwrap().to_dtype(DType::F64).unwrap();
        assert_eq!(q.dtype(), DType::F64);
        // Last step of each iteration: every column of Qᵀ (a sample) sums to 1/B; after ×B, to 1.
        for row in q.to_vec2::<f64>().unwrap() {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{row:?}");
            assert!(row.iter().all(|v| *v >= 0.0));
        }
    }
    // With enough iterations the prototype marginal converges to 1/K of the mass: columns sum to B/K.
    let q = sinkhorn_knopp(&scores(b, k, 12), 0.05, 200).unwrap();
    let per_proto = q.sum(0).unwrap().to_vec1::<f64>().unwrap();
    for m in per_proto {
        assert!((m - b as f64 / k as f64).abs() < 1e-6, "prototype mass {m}");
    }
    // After 3 iterations it is already close and much closer than the raw softmax assignment.
    let q3 = sinkhorn_knopp(&scores(b, k, 12), 0.05, 3).unwrap().sum(0).unwrap().to_vec1::<f64>().unwrap();
    let q0 = sinkhorn_knopp(&scores(b, k, 12), 0.05, 0).unwrap().sum(0).unwrap().to_vec1::<f64>().unwrap();
    let dev = |v: &[f64]| v.iter().map(|m| (m - b as f64 / k as f64).abs()).fold(0.0, f64::max);
    assert!(dev(&q3) < dev(&q0), "3 iterations {} vs none {}", dev(&q3), dev(&q0));
}

#[test]
fn codes_carry_no_gradient_and_reject_bad_input() {
    let s = candle_core::Var::from_tensor(&scores(4, 3, 1)).unwrap();
    let q = sinkhorn_knopp(&s, 0.05, 3).unwrap();
    assert!(!q.is_variable() && !q.track_op());
    assert!(sinkhorn_knopp(&s, 0.0, 3).is_err());
    assert!(sinkhorn_knopp(&Tensor::zeros(5, DType::F64, &Device::Cpu).unwrap(), 0.05, 3).is_err());
}
