//! Stable, dependency-free hashes: FNV-1a (64 and 128 bit) with a SplitMix64 finaliser.
//!
//! `std`'s `DefaultHasher` may change between Rust releases; these never do, so values computed
//! today (split assignments, manifest hashes) stay valid in later runs and on other machines.

/// FNV-1a, 64-bit, over `bytes`, continuing from `state` (start with [`FNV64_OFFSET`]).
pub(crate) fn fnv1a64(mut state: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        state ^= b as u64;
        state = state.wrapping_mul(0x0000_0100_0000_01B3);
    }
    state
}

/// Offset basis of 64-bit FNV-1a.
pub(crate) const FNV64_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// SplitMix64 finaliser: spreads every input bit over the whole output (FNV alone mixes high bits poorly).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// 128-bit FNV-1a hasher, for content hashes where 64 bits would be too few.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv128(u128);

impl Fnv128 {
    /// A fresh hasher.
    pub(crate) fn new() -> Self {
        Fnv128(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d)
    }

    /// Feed bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u128;
            self.0 = self.0.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B);
        }
    }

    /// The hash as a number.
    pub(crate) fn value(&self) -> u128 {
        self.0
    }

    /// The hash as 32 lowercase hex digits.
    pub(crate) fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

impl std::io::Write for Fnv128 {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_values() {
        // Published test vectors of FNV-1a.
        assert_eq!(fnv1a64(FNV64_OFFSET, b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(FNV64_OFFSET, b"a"), 0xaf63dc4c8601ec8c);
        let mut h = Fnv128::new();
        h.update(b"a");
        assert_eq!(h.hex(), "d228cb696f1a8caf78912b704e4a8964");
    }
}
