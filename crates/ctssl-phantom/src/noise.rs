//! Seeded hashing and smooth 3-D gradient noise (Perlin-style) for shapes and textures.
//!
//! Every value is a pure function of a seed and a position, so the result never depends on the
//! order in which pixels are computed or on the number of threads.

/// The SplitMix64 finaliser: a well-mixed 64-bit hash of a 64-bit value.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed derived from a parent seed and a list of indices (patient, slice, purpose …).
pub fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix64(seed), |h, &p| mix64(h ^ mix64(p.wrapping_add(0x632B_E59B_D9B4_E019))))
}

/// Seeded 3-D gradient noise with values in about `[-1, 1]` and unit feature size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Noise {
    seed: u64,
}

impl Noise {
    /// Noise from a seed.
    pub fn new(seed: u64) -> Noise {
        Noise { seed: mix64(seed) }
    }

    #[inline(always)]
    fn corner(&self, x: i32, y: i32, z: i32, dx: f32, dy: f32, dz: f32) -> f32 {
        let mut h = self.seed
            ^ (x as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u32 as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ (z as u32 as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
        h = (h ^ (h >> 31)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        // One of Perlin's 12 cube-edge gradients (16 entries, four repeated), from the top bits.
        match h >> 60 {
            0 | 12 => dx + dy,
            1 | 13 => -dx + dy,
            2 => dx - dy,
            3 => -dx - dy,
            4 => dx + dz,
            5 => -dx + dz,
            6 => dx - dz,
            7 => -dx - dz,
            8 => dy + dz,
            9 | 14 => -dy + dz,
            10 => dy - dz,
            _ => -dy - dz,
        }
    }

    /// Gradient noise at a point (lattice spacing 1).
    #[inline]
    pub fn at(&self, p: [f32; 3]) -> f32 {
        #[inline(always)]
        fn floor(v: f32) -> f32 {
            let t = v as i32 as f32;
            if t > v {
                t - 1.0
            } else {
                t
            }
        }
        let (fx, fy, fz) = (floor(p[0]), floor(p[1]), floor(p[2]));
        let (x, y, z) = (fx as i32, fy as i32, fz as i32);
        let (dx, dy, dz) = (p[0] - fx, p[1] - fy, p[2] - fz);
        let fade = |t: f32| t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
        let (u, v, w) = (fade(dx), fade(dy), fade(dz));
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let c000 = self.corner(x, y, z, dx, dy, dz);
        let c100 = self.corner(x + 1, y, z, dx - 1.0, dy, dz);
        let c010 = self.corner(x, y + 1, z, dx, dy - 1.0, dz);
        let c110 = self.corner(x + 1, y + 1, z, dx - 1.0, dy - 1.0, dz);
        let c001 = self.corner(x, y, z + 1, dx, dy, dz - 1.0);
        let c101 = self.corner(x + 1, y, z + 1, dx - 1.0, dy, dz - 1.0);
        let c011 = self.corner(x, y + 1, z + 1, dx, dy - 1.0, dz - 1.0);
        let c111 = self.corner(x + 1, y + 1, z + 1, dx - 1.0, dy - 1.0, dz - 1.0);
        let x00 = lerp(c000, c100, u);
        let x10 = lerp(c010, c110, u);
        let x01 = lerp(c001, c101, u);
        let x11 = lerp(c011, c111, u);
        lerp(lerp(x00, x10, v), lerp(x01, x11, v), w)
    }

    /// Fractal sum of `octaves` octaves (frequency ×2, amplitude ×0.5 each), normalised to about `[-1, 1]`.
    pub fn fbm(&self, p: [f32; 3], octaves: u32) -> f32 {
        let (mut sum, mut amplitude, mut norm, mut f) = (0.0, 1.0, 0.0, 1.0);
        for o in 0..octaves.max(1) {
            // Offset each octave so their lattices do not line up.
            let off = o as f32 * 17.31;
            sum += amplitude * self.at([p[0] * f + off, p[1] * f - off, p[2] * f + 0.5 * off]);
            norm += amplitude;
            amplitude *= 0.5;
            f *= 2.0;
        }
        sum / norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_smooth_and_bounded() {
        let n = Noise::new(3);
        let m = Noise::new(4);
        let mut differ = 0;
        let mut sum = 0.0f64;
        let mut sum2 = 0.0f64;
        for i in 0..2000 {
            let p = [i as f32 * 0.173, (i % 37) as f32 * 0.61, (i % 11) as f32 * 1.3];
            let v = n.at(p);
            assert_eq!(v, Noise::new(3).at(p));
            assert!(v.abs() <= 1.5, "{v}");
            let q = [p[0] + 1e-3, p[1], p[2]];
            assert!((n.at(q) - v).abs() < 0.02, "not smooth");
            if (m.at(p) - v).abs() > 1e-3 {
                differ += 1;
            }
            sum += v as f64;
            sum2 += (v * v) as f64;
        }
        assert!(differ > 1500);
        let mean = sum / 2000.0;
        let std = (sum2 / 2000.0 - mean * mean).sqrt();
        assert!(mean.abs() < 0.1 && std > 0.1, "mean {mean} std {std}");
    }

    #[test]
    fn derived_seeds_differ() {
        assert_ne!(derive_seed(1, &[0, 1]), derive_seed(1, &[1, 0]));
        assert_ne!(derive_seed(1, &[0]), derive_seed(2, &[0]));
        assert_eq!(derive_seed(9, &[4, 5]), derive_seed(9, &[4, 5]));
    }
}
