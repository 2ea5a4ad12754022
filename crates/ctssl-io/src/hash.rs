//! Stable, dependency-free hashes: 64-bit FNV-1a with a SplitMix64 finaliser (the 128-bit hasher of
//! manifests and UIDs is `fnv128`).
//!
//! `std`'s `DefaultHasher` may change between Rust releases; these never do, so values computed
//! today (split assignments) stay valid in later runs and on other machines.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_values() {
        // Published test vectors of FNV-1a.
        assert_eq!(fnv1a64(FNV64_OFFSET, b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(FNV64_OFFSET, b"a"), 0xaf63dc4c8601ec8c);
    }
}
