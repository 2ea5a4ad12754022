//! Collapse monitors on collapsed vs spread embeddings, and the Jacobi eigen solver.

use candle_core::{DType, Device, Tensor};
use ctssl_contrastive::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(seed: u64, n: usize, d: usize) -> Tensor {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f64> = (0..n * d).map(|_| StandardNormal.sample(&mut r)).collect();
    Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
}

#[test]
fn jacobi_finds_known_eigenvalues() {
    // [[2,1,0],[1,2,0],[0,0,5]] has eigenvalues 5, 3, 1.
    let e = symmetric_eigenvalues(&[2.0, 1.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 5.0], 3);
    for (got, want) in e.iter().zip([5.0, 3.0, 1.0]) {
        assert!((got - want).abs() < 1e-12, "{e:?}");
    }
    // A random Gram matrix: trace and Frobenius norm are preserved, eigenvalues are non-negative.
    let z = gaussian(1, 20, 6).to_vec2::<f64>().unwrap();
    let mut g = vec![0f64; 36];
    for r in &z {
        for i in 0..6 {
            for j in 0..6 {
                g[i * 6 + j] += r[i] * r[j];
            }
        }
    }
    let e = symmetric_eigenvalues(&g, 6);
    let trace: f64 = (0..6).map(|i| g[i * 7]).sum();
    let frob: f64 = g.iter().map(|v| v * v).sum();
    assert!((e.iter().sum::<f64>() - trace).abs() < 1e-9 * trace);
    assert!((e.iter().map(|v| v * v).sum::<f64>() - frob).abs() < 1e-9 * frob);
    assert!(e.iter().all(|v| *v > 0.0) && e.windows(2).all(|w| w[0] >= w[1]));
}

#[test]
fn monitors_separate_collapsed_from_spread_embeddings() {
    let (n, d) = (64, 8);
    let spread = gaussian(2, n, d);
    let spread2 = (&spread + (gaussian(3, n, d) * 0.1).unwrap()).unwrap();
    // Complete collapse: every embedding is the same vector (up to scale).
    let point = gaussian(4, 1, d).broadcast_as((n, d)).unwrap().contiguous().unwrap();
    let scales = gaussian(5, n, 1).abs().unwrap().affine(1.0, 0.5).unwrap();
    let collapsed = point.broadcast_mul(&scales).unwrap();
    // Dimensional collapse: spread, but only in a 2-d subspace.
    let low_rank = gaussian(6, n, 2).matmul(&gaussian(7, 2, d)).unwrap();

    let s = CollapseReport::new(&spread, &spread2).unwrap();
    let c = CollapseReport::new(&collapsed, &collapsed).unwrap();
    assert!(c.mean_std < 1e-9 && s.mean_std > 0.25 / (d as f64).sqrt(), "{s} / {c}");
    assert!((c.effective_rank - 1.0).abs() < 1e-6, "{c}");
    assert!(s.effective_rank > 0.8 * d as f64, "{s}");
    let r2 = effective_rank(&low_rank).unwrap();
    assert!(r2 > 1.0 && r2 <= 2.0 + 1e-6, "low rank {r2}");
    assert!(c.uniformity.abs() < 1e-12 && s.uniformity < -2.0, "{s} / {c}");
    assert!(c.alignment < 1e-12 && s.alignment > 0.0 && s.alignment < 0.1, "{s}");
    // Unrelated views are badly aligned (E‖a − b‖² = 2 for independent directions).
    assert!(alignment(&spread, &gaussian(8, n, d)).unwrap() > 1.5);
    assert_eq!(per_dimension_std(&spread.to_dtype(DType::F32).unwrap()).unwrap().len(), d);
    assert!(uniformity(&spread.narrow(0, 0, 1).unwrap()).is_err());
}

#[test]
fn effective_rank_uses_either_gram_matrix() {
    // Z and Zᵀ share their singular values: the N×N and D×D paths must agree.
    let v: Vec<f64> = (0..5 * 9).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0 + (i as f64 * 0.1).sin()).collect();
    let z = Tensor::from_vec(v, (5, 9), &Device::Cpu).unwrap();
    let a = effective_rank(&z).unwrap();
    let b = effective_rank(&z.t().unwrap().contiguous().unwrap()).unwrap();
    assert!((a - b).abs() < 1e-9 && a > 1.0 && a <= 5.0, "{a} vs {b}");
}
