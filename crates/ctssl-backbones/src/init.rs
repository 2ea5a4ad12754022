//! Weight initialisation as torchvision's ResNet, from an explicit seed.
//!
//! Each tensor draws from its own ChaCha8 stream, selected by a hash of its name, so a tensor's values depend
//! only on the seed, its name and its shape — not on the order of construction, the other layers, or the
//! number of threads.

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::{BackboneError, Result};

/// FNV-1a 64-bit hash of a name (stable across platforms and Rust versions, unlike `DefaultHasher`).
pub fn name_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The random stream of one named tensor under `seed`.
pub fn rng_for(seed: u64, name: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(name_hash(name));
    rng
}

fn to_tensor(values: Vec<f32>, shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?)
}

/// Kaiming normal with `mode="fan_out"`, `nonlinearity="relu"` for a conv weight `[out, in, kh, kw]`:
/// N(0, 2 / (out · kh · kw)).
pub fn kaiming_normal_fan_out(seed: u64, name: &str, shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
    let fan_out: usize = shape.iter().enumerate().filter(|&(i, _)| i != 1).map(|(_, &d)| d).product();
    let std = (2.0 / fan_out.max(1) as f64).sqrt() as f32;
    let normal = Normal::new(0.0f32, std).map_err(|e| BackboneError::InvalidConfig(format!("{name}: {e}")))?;
    let mut rng = rng_for(seed, name);
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
    to_tensor(values, shape, dtype, device)
}

/// U(-bound, bound) with `bound = 1 / sqrt(fan_in)`: PyTorch's default for `nn.Linear` weight and bias
/// (kaiming uniform with a = √5 gives the same bound for the weight).
pub fn linear_uniform(
    seed: u64,
    name: &str,
    shape: &[usize],
    fan_in: usize,
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let bound = (1.0 / (fan_in.max(1) as f64).sqrt()) as f32;
    let uniform =
        Uniform::new_inclusive(-bound, bound).map_err(|e| BackboneError::InvalidConfig(format!("{name}: {e}")))?;
    let mut rng = rng_for(seed, name);
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| uniform.sample(&mut rng)).collect();
    to_tensor(values, shape, dtype, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_hash_matches_reference_values() {
        // Reference values of FNV-1a 64 (from the algorithm's published test vectors).
        assert_eq!(name_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(name_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn kaiming_std_is_close_to_the_formula() {
        let shape = [64, 16, 3, 3];
        let t = kaiming_normal_fan_out(7, "w", &shape, DType::F32, &Device::Cpu).unwrap();
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let expected = 2.0 / (64.0 * 9.0);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var / expected - 1.0).abs() < 0.05, "var {var} expected {expected}");
    }

    #[test]
    fn linear_uniform_stays_in_bounds() {
        let t = linear_uniform(1, "fc.weight", &[10, 100], 100, DType::F32, &Device::Cpu).unwrap();
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v.iter().all(|x| x.abs() <= 0.1 + 1e-7));
        assert!(v.iter().any(|x| x.abs() > 0.09));
    }

    #[test]
    fn streams_differ_by_name_and_repeat_by_seed() {
        let a = kaiming_normal_fan_out(3, "a", &[4, 4, 3, 3], DType::F32, &Device::Cpu).unwrap();
        let a2 = kaiming_normal_fan_out(3, "a", &[4, 4, 3, 3], DType::F32, &Device::Cpu).unwrap();
        let b = kaiming_normal_fan_out(3, "b", &[4, 4, 3, 3], DType::F32, &Device::Cpu).unwrap();
        let va: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let va2: Vec<f32> = a2.flatten_all().unwrap().to_vec1().unwrap();
        let vb: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(va, va2);
        assert_ne!(va, vb);
    }
}
