//! Weighted k-nearest-neighbour classifier on features (InstDisc / DINO): cosine similarity, the `k` most
//! similar training samples vote for their class with weight `exp(similarity / T)`.

use candle_core::{DType, Tensor};
use ctssl_kernels::ops::l2_normalize;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Settings of [`knn_predict`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KnnConfig {
    /// Neighbours that vote (DINO: 20).
    pub k: usize,
    /// Temperature T of the vote weights `exp(sim / T)` (DINO: 0.07).
    pub temperature: f64,
}

impl Default for KnnConfig {
    fn default() -> Self {
        Self { k: 20, temperature: 0.07 }
    }
}

/// Class scores `[N_query, K]` row-major (votes normalised to sum 1) of `query: [N, C]` from
/// `train: [M, C]` with labels `train_labels` (< `num_classes`). Ties in similarity keep the lower
/// training index. Deterministic.
pub fn knn_predict(
    train: &Tensor,
    train_labels: &[u32],
    query: &Tensor,
    num_classes: usize,
    cfg: &KnnConfig,
) -> Result<Vec<f64>> {
    let (m, c) = train.dims2()?;
    let (_, cq) = query.dims2()?;
    if m != train_labels.len() || c != cq || m == 0 || num_classes == 0 {
        return Err(TrainError::InvalidArgument(format!(
            "kNN: train {:?} with {} labels, query {:?}, {num_classes} classes",
            train.dims(),
            train_labels.len(),
            query.dims()
        )));
    }
    if cfg.k == 0 || !(cfg.temperature.is_finite() && cfg.temperature > 0.0) {
        return Err(TrainError::InvalidArgument(format!("kNN: k {} temperature {}", cfg.k, cfg.temperature)));
    }
    if let Some(&bad) = train_labels.iter().find(|&&l| l as usize >= num_classes) {
        return Err(TrainError::InvalidArgument(format!("label {bad} out of range for {num_classes} classes")));
    }
    let unit = |x: &Tensor| l2_normalize(&x.to_dtype(DType::F64)?);
    let sim = unit(query)?.matmul(&unit(train)?.t()?)?.to_vec2::<f64>()?;
    let k = cfg.k.min(m);
    let mut out = Vec::with_capacity(sim.len() * num_classes);
    let mut order: Vec<usize> = (0..m).collect();
    for row in &sim {
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        let mut votes = vec![0.0f64; num_classes];
        // Weights relative to the best neighbour (exp(s/T - s_max/T)) avoid overflow; the normalised
        // votes are the same.
        let top = row[order[0]];
        for &j in &order[..k] {
            votes[train_labels[j] as usize] += ((row[j] - top) / cfg.temperature).exp();
        }
        let total: f64 = votes.iter().sum();
        out.extend(votes.iter().map(|v| v / total));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn hand_computed_votes() {
        let d = Device::Cpu;
        // Training directions at 0°, 10°, 90°, 100°; classes 0 0 1 1.
        let ang = [0f64, 10.0, 90.0, 100.0];
        let tr: Vec<f64> = ang.iter().flat_map(|a| [a.to_radians().cos(), a.to_radians().sin()]).collect();
        let train = Tensor::from_vec(tr, (4, 2), &d).unwrap();
        // Query at 45° scaled (cosine ignores the norm): k = 3 takes 10°, 90°, then 0° (tie at 45° from 0 and 90;
        // 10° is 35° away, 90° is 45°, 0° is 45°, 100° is 55°).
        let q =
            Tensor::from_vec(vec![3.0 * 45f64.to_radians().cos(), 3.0 * 45f64.to_radians().sin()], (1, 2), &d).unwrap();
        let cfg = KnnConfig { k: 3, temperature: 0.1 };
        let p = knn_predict(&train, &[0, 0, 1, 1], &q, 2, &cfg).unwrap();
        let w = |deg: f64| (deg.to_radians().cos() / 0.1).exp();
        let (v0, v1) = (w(35.0) + w(45.0), w(45.0));
        assert!((p[0] - v0 / (v0 + v1)).abs() < 1e-12 && (p[1] - v1 / (v0 + v1)).abs() < 1e-12, "{p:?}");
        // k = 1: all weight on the nearest.
        let p1 = knn_predict(&train, &[0, 0, 1, 1], &q, 2, &KnnConfig { k: 1, temperature: 0.1 }).unwrap();
        assert_eq!(p1, vec![1.0, 0.0]);
        assert!(knn_predict(&train, &[0, 0, 1], &q, 2, &cfg).is_err());
        assert!(knn_predict(&train, &[0, 0, 1, 1], &q, 2, &KnnConfig { k: 0, temperature: 0.1 }).is_err());
    }
}
