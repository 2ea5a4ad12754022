//! Seeding: every sample's random numbers come from `(seed, epoch, position, view)`, never from a shared
//! generator, so the views do not depend on the number of threads or on the order work is scheduled.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The generator used for every random choice.
pub type AugmentRng = ChaCha8Rng;

/// SplitMix64 finaliser: a bijective mix of 64 bits.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combine the parts of a seed into one well-mixed `u64` (order matters).
pub fn derive_seed(parts: &[u64]) -> u64 {
    let mut h = 0x6a09_e667_f3bc_c909u64;
    for &p in parts {
        h = mix(h ^ mix(p.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    }
    h
}

/// The generator of one view of one sample: a function of `(seed, epoch, position in the epoch, view index)`.
pub fn view_rng(seed: u64, epoch: u64, position: u64, view: u64) -> AugmentRng {
    AugmentRng::seed_from_u64(derive_seed(&[seed, epoch, position, view]))
}

/// The generator of an epoch's order (shuffle or class-balanced draw).
pub fn epoch_rng(seed: u64, epoch: u64) -> AugmentRng {
    AugmentRng::seed_from_u64(derive_seed(&[seed, epoch, u64::MAX]))
}

/// A uniform draw in `[lo, hi]` (returns `lo` when the range is empty or reversed).
#[inline]
pub fn uniform(rng: &mut impl Rng, lo: f32, hi: f32) -> f32 {
    if hi > lo {
        lo + (hi - lo) * rng.random::<f32>()
    } else {
        lo
    }
}

/// `true` with probability `p` (always draws one number, so the stream does not depend on `p`).
#[inline]
pub fn chance(rng: &mut impl Rng, p: f32) -> bool {
    rng.random::<f32>() < p
}

/// A standard normal draw.
#[inline]
pub fn standard_normal(rng: &mut impl Rng) -> f32 {
    rng.sample(StandardNormal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_each_part() {
        let base = derive_seed(&[1, 2, 3, 4]);
        assert_ne!(base, derive_seed(&[1, 2, 3, 5]));
        assert_ne!(base, derive_seed(&[1, 2, 4, 4]));
        assert_ne!(base, derive_seed(&[2, 1, 3, 4]));
        assert_eq!(base, derive_seed(&[1, 2, 3, 4]));
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = view_rng(0, 0, 0, 0);
        for _ in 0..1000 {
            let v = uniform(&mut rng, -2.0, 3.0);
            assert!((-2.0..=3.0).contains(&v));
        }
        assert_eq!(uniform(&mut rng, 1.0, 1.0), 1.0);
    }
}
