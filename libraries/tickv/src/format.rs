//! The version-2 on-flash format: geometry, region headers and record headers.
//! `doc/tickv-format.md` describes the same layout byte by byte.

use crate::crc::Crc32;
use crate::Error;

/// Format version written in byte 0 of every region header. Upstream TicKV
/// writes 1 in byte 0 of every object, so the two can never be confused.
pub const VERSION: u8 = 2;
/// Size of a record header: meta (2), inverted meta (2), key (8), CRC (4).
pub const REC_HDR: u32 = 16;
/// Size of the meaningful part of a region header.
pub const REGION_HDR: u32 = 12;
/// Sequence numbers and erase counts are 24-bit on flash.
const U24: u32 = 0x00FF_FFFF;

/// The sequence number after `s` (24 bits, wrapping).
pub(crate) fn seq_next(s: u32) -> u32 {
    s.wrapping_add(1) & U24
}

/// Whether sequence number `a` is newer than `b`: serial-number arithmetic
/// over 24 bits, so numbers may wrap as long as the live ones span less than
/// half the range (they span about one lap of the ring).
pub(crate) fn seq_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b) & U24;
    d != 0 && d < 0x0080_0000
}
/// Largest value length the 13-bit length field can hold.
pub const MAX_LEN_FIELD: u32 = 0x1FFF;
/// Smallest caller scratch buffer the engine accepts.
pub const MIN_SCRATCH: usize = 64;

/// What a record says about its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The key holds the record's value.
    Value,
    /// The key was deleted.
    Tombstone,
}

/// The flash geometry a store is laid out for. Runtime configuration: the
/// same engine code serves every size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes per region; a region is one erase unit. A power of two, at least
    /// 256 bytes and at most 16 MiB.
    pub region_size: usize,
    /// Number of regions, 2 to 65536.
    pub region_count: usize,
    /// Program unit in bytes (1, 2, 4, 8, 16 or 32): every program starts and
    /// ends on this alignment and no unit is programmed twice between erases.
    pub program_unit: usize,
}

/// A checked geometry with derived sizes, in the integer width the engine
/// works in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub region: u32,
    pub count: u32,
    pub unit: u32,
    /// Bytes the region header occupies (12 rounded up to the program
    /// unit): where records start.
    pub span: u32,
    /// Size of the first program of every record: its 16-byte header
    /// rounded up to the program unit.
    pub first: u32,
    /// Bytes in a region available to records.
    pub usable: u32,
    /// Largest value length accepted.
    pub max_value: u32,
    /// log2 of the region size and of the program unit, as stored.
    pub region_log2: u8,
    pub unit_log2: u8,
}

impl Layout {
    pub fn new(g: &Geometry) -> Result<Layout, Error> {
        let unit_ok = matches!(g.program_unit, 1 | 2 | 4 | 8 | 16 | 32);
        let region_ok =
            g.region_size.is_power_of_two() && (256..=(1 << 24)).contains(&g.region_size);
        let count_ok = (2..=65536).contains(&g.region_count);
        // The whole store must be addressable with u32 (checked in usize:
        // no 64-bit arithmetic on 32-bit targets).
        let total_ok = g
            .region_size
            .checked_mul(g.region_count)
            .is_some_and(|t| t <= u32::MAX as usize);
        if !unit_ok || !region_ok || !count_ok || !total_ok {
            return Err(Error::InvalidGeometry);
        }
        let region = g.region_size as u32;
        let unit = g.program_unit as u32;
        let span = align_up(REGION_HDR, unit);
        let first = align_up(REC_HDR, unit);
        let usable = region - span;
        Ok(Layout {
            region,
            count: g.region_count as u32,
            unit,
            span,
            first,
            usable,
            max_value: MAX_LEN_FIELD.min(usable - REC_HDR),
            region_log2: region.trailing_zeros() as u8,
            unit_log2: unit.trailing_zeros() as u8,
        })
    }

    /// Flash address of an offset inside a region.
    pub fn addr(&self, region: u32, off: u32) -> u32 {
        region * self.region + off
    }

    /// Bytes a record with a value of `len` bytes occupies.
    pub fn extent(&self, len: u32) -> u32 {
        align_up(REC_HDR + len, self.unit)
    }

    pub fn next(&self, region: u32) -> u32 {
        if region + 1 == self.count {
            0
        } else {
            region + 1
        }
    }

    pub fn prev(&self, region: u32) -> u32 {
        if region == 0 {
            self.count - 1
        } else {
            region - 1
        }
    }

    /// Number of steps from `from` forward to `to` around the ring.
    pub fn dist(&self, from: u32, to: u32) -> u32 {
        if to >= from {
            to - from
        } else {
            to + self.count - from
        }
    }
}

/// Rounds `v` up to a multiple of the power of two `a`.
pub fn align_up(v: u32, a: u32) -> u32 {
    (v + a - 1) & !(a - 1)
}

/// Whether every byte is in the erased state.
pub fn blank(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0xFF)
}

/// A decoded region header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionHeader {
    /// How many times this region has been erased (24 bits on flash,
    /// saturating).
    pub erase_count: u32,
    /// Position of the region in the store's history (24 bits on flash,
    /// wrapping; compared with serial-number arithmetic).
    pub seq: u32,
}

/// What the first bytes of a region say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderState {
    /// A valid version-2 header for this geometry.
    Valid(RegionHeader),
    /// All bytes erased: never headed, or erased and not yet headed.
    Blank,
    /// A valid version-2 header written for another geometry.
    OtherGeometry,
    /// Looks like an upstream TicKV version-1 object.
    V1,
    /// Anything else: torn, corrupt or foreign.
    Invalid,
}

impl RegionHeader {
    /// The geometry byte: log2 of the program unit in bits 0..2, log2 of
    /// the region size minus 8 in bits 3..7.
    fn geometry_byte(g: &Layout) -> u8 {
        g.unit_log2 | ((g.region_log2 - 8) << 3)
    }

    /// Writes the header and its 0xFF padding to `out[..g.span]`.
    pub(crate) fn encode(&self, g: &Layout, out: &mut [u8]) {
        let count = self.erase_count.min(U24).to_le_bytes();
        let seq = (self.seq & U24).to_le_bytes();
        // Built in a fixed array (the span is at most 32 bytes) and copied
        // out once: no per-byte fill loop.
        let mut h = [0xFFu8; 32];
        h[0] = VERSION;
        h[1] = Self::geometry_byte(g);
        h[2..5].copy_from_slice(&count[..3]);
        h[5..8].copy_from_slice(&seq[..3]);
        let crc = Crc32::of(&h[0..8]);
        h[8..12].copy_from_slice(&crc.to_le_bytes());
        let n = g.span as usize;
        if let (Some(dst), Some(src)) = (out.get_mut(..n), h.get(..n)) {
            dst.copy_from_slice(src);
        }
    }

    pub(crate) fn decode(g: &Layout, b: &[u8]) -> HeaderState {
        let b = &b[..REGION_HDR as usize];
        if blank(b) {
            return HeaderState::Blank;
        }
        let crc = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if b[0] == VERSION && Crc32::of(&b[0..8]) == crc {
            if b[1] != Self::geometry_byte(g) {
                return HeaderState::OtherGeometry;
            }
            return HeaderState::Valid(RegionHeader {
                erase_count: u32::from_le_bytes([b[2], b[3], b[4], 0]),
                seq: u32::from_le_bytes([b[5], b[6], b[7], 0]),
            });
        }
        if b[0] == 1 {
            return HeaderState::V1;
        }
        HeaderState::Invalid
    }
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// 4-byte alignment despite the u64 key: state holding a header then moves
// with word copies on 32-bit targets (no 8-byte memcpy/memclr variants).
#[repr(Rust, packed(4))]
pub(crate) struct StoredHeader {
    pub kind: Kind,
    pub len: u32,
    pub key: u64,
    pub crc: u32,
}

const KIND_VALUE: u16 = 1;
const KIND_TOMBSTONE: u16 = 2;

impl StoredHeader {
    fn meta(&self) -> u16 {
        let k = match self.kind {
            Kind::Value => KIND_VALUE,
            Kind::Tombstone => KIND_TOMBSTONE,
        };
        (k << 13) | self.len as u16
    }

    /// The first 12 header bytes, which the CRC covers. The meta word is
    /// stored big-endian so that byte 0 holds the kind bits and is never
    /// 0xFF: a program torn after its first byte never looks erased.
    pub fn prefix(&self) -> [u8; 12] {
        let m = self.meta();
        let mut p = [0u8; 12];
        p[0..2].copy_from_slice(&m.to_be_bytes());
        p[2..4].copy_from_slice(&(!m).to_be_bytes());
        p[4..12].copy_from_slice(&self.key.to_le_bytes());
        p
    }

    /// CRC state after the header prefix; the value bytes follow. Out of
    /// line: inlined into its callers it costs about 150 bytes of ROM.
    #[inline(never)]
    pub fn crc_start(&self) -> Crc32 {
        let mut c = Crc32::new();
        c.update(&self.prefix());
        c
    }

    pub fn encode(&self) -> [u8; 16] {
        let mut h = [0u8; 16];
        h[..12].copy_from_slice(&self.prefix());
        h[12..16].copy_from_slice(&self.crc.to_le_bytes());
        h
    }

    /// Decodes a header; `None` when the meta word fails its check, the kind
    /// is unknown, or a tombstone claims a value.
    pub fn decode(b: &[u8]) -> Option<StoredHeader> {
        let m = u16::from_be_bytes([b[0], b[1]]);
        let n = u16::from_be_bytes([b[2], b[3]]);
        if m != !n {
            return None;
        }
        let len = (m & 0x1FFF) as u32;
        let kind = match m >> 13 {
            KIND_VALUE => Kind::Value,
            KIND_TOMBSTONE if len == 0 => Kind::Tombstone,
            _ => return None,
        };
        let mut k = [0u8; 8];
        k.copy_from_slice(&b[4..12]);
        Some(StoredHeader {
            kind,
            len,
            key: u64::from_le_bytes(k),
            crc: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(unit: usize) -> Layout {
        Layout::new(&Geometry {
            region_size: 4096,
            region_count: 4,
            program_unit: unit,
        })
        .unwrap()
    }

    #[test]
    fn geometry_validation() {
        let bad = [
            (4096, 1, 4),
            (4000, 4, 4),
            (4096, 4, 3),
            (4096, 4, 64),
            (128, 4, 4),
        ];
        for (r, c, u) in bad {
            let g = Geometry {
                region_size: r,
                region_count: c,
                program_unit: u,
            };
            assert_eq!(Layout::new(&g).err(), Some(Error::InvalidGeometry), "{g:?}");
        }
        let g = geo(32);
        assert_eq!(g.span, 32);
        assert_eq!(g.usable, 4064);
        assert_eq!(g.extent(32), 64);
        let g = geo(4);
        assert_eq!(g.span, 12);
        assert_eq!(g.first, 16);
        assert_eq!(g.extent(32), 48);
        assert_eq!(g.extent(0), 16);
        assert_eq!(g.max_value, 4068);
    }

    #[test]
    fn region_header_round_trip_and_damage() {
        let g = geo(8);
        let mut b = [0u8; 32];
        let h = RegionHeader {
            erase_count: 7,
            seq: 0x12_3456,
        };
        h.encode(&g, &mut b);
        assert_eq!(RegionHeader::decode(&g, &b), HeaderState::Valid(h));
        assert_eq!(
            RegionHeader::decode(&geo(4), &b),
            HeaderState::OtherGeometry
        );
        for i in 0..12 {
            let mut c = b;
            c[i] ^= 0x10;
            assert_ne!(RegionHeader::decode(&g, &c), HeaderState::Valid(h));
        }
        assert_eq!(RegionHeader::decode(&g, &[0xFF; 16]), HeaderState::Blank);
        let mut v1 = [0xFFu8; 16];
        v1[0] = 1;
        assert_eq!(RegionHeader::decode(&g, &v1), HeaderState::V1);
    }

    #[test]
    fn sequence_numbers_compare_across_the_wrap() {
        assert!(seq_newer(1, 0));
        assert!(!seq_newer(0, 1));
        assert!(!seq_newer(5, 5));
        assert_eq!(seq_next(0xFF_FFFF), 0);
        assert!(seq_newer(0, 0xFF_FFFF));
        assert!(seq_newer(3, 0xFF_FFF0));
        let mut b = [0u8; 16];
        let g = geo(4);
        RegionHeader {
            erase_count: u32::MAX,
            seq: 0x1FF_FFFF,
        }
        .encode(&g, &mut b);
        assert_eq!(
            RegionHeader::decode(&g, &b),
            HeaderState::Valid(RegionHeader {
                erase_count: 0xFF_FFFF,
                seq: 0xFF_FFFF
            })
        );
    }

    #[test]
    fn record_header_round_trip_and_rejections() {
        let h = StoredHeader {
            kind: Kind::Value,
            len: 4064,
            key: u64::MAX,
            crc: 5,
        };
        assert_eq!(StoredHeader::decode(&h.encode()), Some(h));
        let t = StoredHeader {
            kind: Kind::Tombstone,
            len: 0,
            key: 0,
            crc: 9,
        };
        assert_eq!(StoredHeader::decode(&t.encode()), Some(t));
        assert_eq!(StoredHeader::decode(&[0xFF; 16]), None);
        assert_eq!(StoredHeader::decode(&[0x00; 16]), None);
        // Byte 0 carries the kind: a header torn after one byte is never blank.
        assert!(h.encode()[0] != 0xFF && t.encode()[0] != 0xFF);
        // A torn meta word (second half still erased) never decodes.
        let mut torn = h.encode();
        torn[2] = 0xFF;
        torn[3] = 0xFF;
        assert_eq!(StoredHeader::decode(&torn), None);
        // Any single bit flip in the meta words is caught.
        for bit in 0..32 {
            let mut c = h.encode();
            c[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(StoredHeader::decode(&c), None, "bit {bit}");
        }
    }
}
