//! CRC-32 as computed by POSIX `cksum`, without the length suffix.
//!
//! Parameters (CRC-32/CKSUM in the CRC catalogue): polynomial `0x04C11DB7`,
//! initial value 0, bits processed most significant first (neither input nor
//! output reflected), result inverted. Tock derives a ShortId from a package
//! name with it, and TicKV protects its records with it, so the kernel uses
//! the storage engine's implementation (`tickv::crc`) rather than a second
//! copy.

/// CRC-32/CKSUM of `bytes`: polynomial `0x04C11DB7`, init 0, MSB first,
/// final NOT, and no length suffix.
///
/// ```
/// use kernel::utilities::crc32_posix;
/// assert_eq!(crc32_posix(b"kv"), 2626414913);
/// ```
pub fn crc32_posix(bytes: &[u8]) -> u32 {
    tickv::crc::Crc32::of(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        assert_eq!(crc32_posix(b"kv_unit_tests"), 1153320202);
        assert_eq!(crc32_posix(b"kv"), 2626414913);
        // CRC catalogue check value of CRC-32/CKSUM.
        assert_eq!(crc32_posix(b"123456789"), 0x765E_7680);
        assert_eq!(crc32_posix(b""), 0xFFFF_FFFF);
    }
}
