//! CRC-32 as used by POSIX `cksum` (without the length suffix): polynomial
//! 0x04C11DB7, initial value 0, no reflection, final XOR 0xFFFFFFFF. The same
//! checksum as upstream TicKV version 1, so one routine serves both formats.

const POLY: u32 = 0x04C1_1DB7;

/// The CRC of every 4-bit value, shifted through the register: a 64-byte
/// table keeps the engine small while still processing a nibble per step.
const NIBBLE: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut r = (i as u32) << 28;
        let mut b = 0;
        while b < 4 {
            r = if r & 0x8000_0000 != 0 {
                (r << 1) ^ POLY
            } else {
                r << 1
            };
            b += 1;
        }
        t[i] = r;
        i += 1;
    }
    t
};

/// The CRC of every byte value, shifted through the register: with the
/// `crc-table` feature, 1 KiB of ROM buys about three times the speed of
/// the nibble table (one lookup per byte instead of two, and no nibble
/// splitting).
#[cfg(feature = "crc-table")]
const BYTE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        // Two nibble steps from the nibble table.
        let r = (i as u32) << 24;
        let r = (r << 4) ^ NIBBLE[(r >> 28) as usize];
        t[i] = (r << 4) ^ NIBBLE[(r >> 28) as usize];
        i += 1;
    }
    t
};

/// An incremental CRC-32/POSIX computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A computation over no bytes yet.
    pub const fn new() -> Self {
        Crc32(0)
    }

    /// Feeds `data` into the computation.
    pub fn update(&mut self, data: &[u8]) {
        let mut s = self.0;
        #[cfg(feature = "crc-table")]
        {
            let step = |s: u32, b: u8| (s << 8) ^ BYTE[((s >> 24) as u8 ^ b) as usize];
            // Four bytes per loop turn: the loop's own count and branch
            // cost a quarter of what they would per byte.
            let mut words = data.chunks_exact(4);
            for w in &mut words {
                if let &[a, b, c, d] = w {
                    s = step(step(step(step(s, a), b), c), d);
                }
            }
            for &b in words.remainder() {
                s = step(s, b);
            }
        }
        #[cfg(not(feature = "crc-table"))]
        for &b in data {
            s = (s << 4) ^ NIBBLE[(((s >> 28) as u8) ^ (b >> 4)) as usize & 0xF];
            s = (s << 4) ^ NIBBLE[(((s >> 28) as u8) ^ (b & 0xF)) as usize & 0xF];
        }
        self.0 = s;
    }

    /// The checksum of everything fed so far.
    pub fn finish(&self) -> u32 {
        !self.0
    }

    /// The checksum of one byte slice.
    pub fn of(data: &[u8]) -> u32 {
        let mut c = Crc32::new();
        c.update(data);
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_v1_test_vectors() {
        // Object for "mykey" = "hello" with the Tock owner header (doc/tickv-v1.md).
        let obj: [u8; 25] = [
            0x01, 0x80, 0x1d, 0x21, 0x9e, 0x0c, 0x95, 0x28, 0xeb, 0x43, 0x92, 0x00, 0x05, 0x00,
            0x00, 0x00, 0x34, 0x12, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
        ];
        assert_eq!(Crc32::of(&obj), 0xf6a9_5191);
        // The main-key object.
        let main = [
            0x01, 0x80, 0x0f, 0x7b, 0xc9, 0xf7, 0xff, 0x4f, 0x76, 0xf2, 0x44,
        ];
        assert_eq!(Crc32::of(&main), 0x1d74_32bb);
    }

    /// The table in use (byte or nibble) against the CRC computed a bit at
    /// a time, over every byte value after assorted register states.
    #[test]
    fn table_matches_bitwise_crc() {
        fn bitwise(data: &[u8]) -> u32 {
            let mut r = 0u32;
            for &b in data {
                r ^= u32::from(b) << 24;
                for _ in 0..8 {
                    r = if r & 0x8000_0000 != 0 {
                        (r << 1) ^ POLY
                    } else {
                        r << 1
                    };
                }
            }
            !r
        }
        // Every length up to 40, fed whole and in two parts at every
        // split (the byte table takes four bytes per step).
        for len in 0..=40u32 {
            let mut buf = [0u8; 40];
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (i as u32 * 37 + len) as u8;
            }
            let data = &buf[..len as usize];
            assert_eq!(Crc32::of(data), bitwise(data), "{len}");
            for cut in 0..=data.len() {
                let mut c = Crc32::new();
                c.update(&data[..cut]);
                c.update(&data[cut..]);
                assert_eq!(c.finish(), bitwise(data), "{len} cut at {cut}");
            }
        }
        for prefix in [&b""[..], b"\x01", b"\xff\x80", b"tickv"] {
            for b in 0..=255u8 {
                let data = [prefix, &[b]].concat();
                assert_eq!(Crc32::of(&data), bitwise(&data), "{data:?}");
            }
        }
    }

    #[test]
    fn posix_check_value_and_incremental_equivalence() {
        // CRC-32/CKSUM without length: "123456789" -> 0x765E7680.
        assert_eq!(Crc32::of(b"123456789"), 0x765E_7680);
        let mut c = Crc32::new();
        c.update(b"1234");
        c.update(b"");
        c.update(b"56789");
        assert_eq!(c.finish(), 0x765E_7680);
        assert_eq!(Crc32::of(b""), 0xFFFF_FFFF);
    }
}
