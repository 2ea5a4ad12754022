//! 128-bit FNV-1a, for content hashes where 64 bits would be too few (the manifest hash, seeded UIDs).
//! Stable across Rust releases and machines, like the 64-bit hash of `hash`.

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
    fn fnv_known_value() {
        // Published test vector of FNV-1a 128.
        let mut h = Fnv128::new();
        h.update(b"a");
        assert_eq!(h.hex(), "d228cb696f1a8caf78912b704e4a8964");
    }
}
