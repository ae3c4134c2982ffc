//! NOR flash: ranged reads and programs, erases of whole units.
//!
//! The interface is shaped for a storage engine that writes each flash word
//! at most once between erases and reads only what it needs, rather than
//! for page-at-a-time access: reads and programs take a byte offset and a
//! length, and erases take the number of an erase unit.
//!
//! The flash is described by its [`Geometry`]. Offsets are bytes from the
//! start of the flash the driver exposes (which may be a partition of the
//! device); erase unit `n` covers `n * erase_unit .. (n + 1) * erase_unit`.
//!
//! # Contract
//!
//! The split-phase contract of the [HILs](super) applies: a request that
//! returns `Ok` gets exactly one callback on the [`FlashClient`]; a request
//! that returns `Err` gets none and hands its buffer straight back. One
//! request is in flight at a time. Synchronous errors:
//!
//! | code | meaning |
//! |---|---|
//! | `BUSY` | another request (of any kind) is in flight |
//! | `INVAL` | `len` is 0, the range leaves the flash, a program is not aligned to `program_unit`, the erase unit does not exist |
//! | `SIZE` | `len` is larger than the buffer |
//! | `OFF` | the device is powered down or not initialised |
//!
//! Drivers validate arguments with [`check_request`] and [`check_erase`], so
//! every driver answers the same way, in the order of the table's last
//! three rows: `INVAL` for `len == 0`, then `SIZE`, then the other `INVAL`
//! cases.
//!
//! A failure after the request was accepted arrives in the callback as an
//! [`Error`]. After a failed program or erase the content of the affected
//! range is unspecified (it may be partly written, or read back unstably);
//! power-safe clients treat it like a torn write.
//!
//! # NOR semantics
//!
//! Erasing sets every byte of the unit to [`Geometry::erase_value`]
//! (`0xFF` for NOR). Programming can only change bits from the erased state
//! (1 for NOR) to the other; it cannot bring a bit back. Clients program each
//! program unit at most once between erases: ECC flash does not allow a
//! second program of a word, and others differ in what it does. A driver
//! that notices a program that would need to set a cleared bit again, or
//! whose data does not read back, reports [`Error::VerifyFailed`].

use core::fmt;

use crate::ErrorCode;

/// The shape of a flash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Bytes in an erase unit (page, sector); a power of two.
    pub erase_unit: u32,
    /// Number of erase units.
    pub erase_units: u32,
    /// Bytes in a program unit, the granularity of programs: a power of two
    /// from 1 to 32, at most `erase_unit`.
    pub program_unit: u32,
    /// Value of every byte after an erase (`0xFF` for NOR flash).
    pub erase_value: u8,
}

impl Geometry {
    /// Largest supported program unit, in bytes.
    pub const MAX_PROGRAM_UNIT: u32 = 32;

    /// Total size in bytes (a `u64`, as a full 4 GiB does not fit a `u32`).
    pub const fn size(&self) -> u64 {
        self.erase_unit as u64 * self.erase_units as u64
    }

    /// Whether the geometry follows the rules documented on its fields, has
    /// at least one erase unit, and addresses at most 4 GiB.
    pub const fn is_valid(&self) -> bool {
        self.erase_unit.is_power_of_two()
            && self.program_unit.is_power_of_two()
            && self.program_unit <= Self::MAX_PROGRAM_UNIT
            && self.program_unit <= self.erase_unit
            && self.erase_units > 0
            && self.size() <= 1 << 32
    }

    /// Byte offset of the start of erase unit `unit`, or `None` if there is
    /// no such unit.
    pub const fn unit_offset(&self, unit: u32) -> Option<u32> {
        if unit < self.erase_units {
            unit.checked_mul(self.erase_unit)
        } else {
            None
        }
    }
}

/// Checks the arguments of a [`Flash::read`] (`aligned == false`) or
/// [`Flash::program`] (`aligned == true`) of `len` bytes at `offset` from a
/// buffer of `buf_len` bytes.
///
/// `INVAL` if `len` is 0; `SIZE` if `len > buf_len`; `INVAL` if the range
/// leaves the flash or, when `aligned`, if `offset` or `len` is not a
/// multiple of the program unit.
pub fn check_request(
    geometry: &Geometry,
    offset: u32,
    len: usize,
    buf_len: usize,
    aligned: bool,
) -> Result<(), ErrorCode> {
    if len == 0 {
        return Err(ErrorCode::INVAL);
    }
    if len > buf_len {
        return Err(ErrorCode::SIZE);
    }
    let (offset, len) = (u64::from(offset), len as u64);
    if offset.saturating_add(len) > geometry.size() {
        return Err(ErrorCode::INVAL);
    }
    let unit = u64::from(geometry.program_unit);
    if aligned && (unit == 0 || offset % unit != 0 || len % unit != 0) {
        return Err(ErrorCode::INVAL);
    }
    Ok(())
}

/// Checks the argument of a [`Flash::erase`]: `INVAL` if `unit` does not
/// exist.
pub fn check_erase(geometry: &Geometry, unit: u32) -> Result<(), ErrorCode> {
    if unit < geometry.erase_units {
        Ok(())
    } else {
        Err(ErrorCode::INVAL)
    }
}

/// Why an accepted flash operation failed. Each failure has its own variant
/// so the storage layers can tell them apart; [`ErrorCode::from`] gives the
/// code to report further up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The device reported a read error (for example an uncorrectable ECC
    /// error).
    ReadFailed,
    /// The device reported that programming failed.
    ProgramFailed,
    /// The data did not read back as programmed, or the program would have
    /// had to set a cleared bit.
    VerifyFailed,
    /// The device reported that the erase failed.
    EraseFailed,
    /// The device did not finish in time.
    Timeout,
}

impl From<Error> for ErrorCode {
    /// Every flash failure is a device failure: `FAIL`.
    fn from(error: Error) -> ErrorCode {
        match error {
            Error::ReadFailed
            | Error::ProgramFailed
            | Error::VerifyFailed
            | Error::EraseFailed
            | Error::Timeout => ErrorCode::FAIL,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::ReadFailed => "flash read failed",
            Error::ProgramFailed => "flash program failed",
            Error::VerifyFailed => "flash program did not verify",
            Error::EraseFailed => "flash erase failed",
            Error::Timeout => "flash operation timed out",
        })
    }
}

/// A flash device (or a partition of one, or a virtualized share).
///
/// See the [module docs](self) for the contract.
pub trait Flash<'a> {
    /// Sets the client that receives the completion callbacks.
    fn set_client(&self, client: &'a dyn FlashClient);

    /// The shape of this flash.
    fn geometry(&self) -> Geometry;

    /// Reads `len` bytes at byte `offset` into `buf[..len]`; the rest of
    /// `buf` is left alone. No alignment is required. Completes with
    /// [`FlashClient::read_done`].
    fn read(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])>;

    /// Reads `buf.len()` bytes at byte `offset` into `buf` at once, with no
    /// callback, for flash the CPU reads directly (a memory-mapped array):
    /// a client then needs no round trip through a deferred call per read.
    /// Checked as [`read`](Self::read) is. `BUSY` while another request is
    /// in flight and `NOSUPPORT` (the default) for flash read only
    /// split-phase: the client then uses `read`.
    fn read_now(&self, offset: u32, buf: &mut [u8]) -> Result<(), ErrorCode> {
        let _ = (offset, buf);
        Err(ErrorCode::NOSUPPORT)
    }

    /// Programs `buf[..len]` at byte `offset`; both must be multiples of
    /// the program unit. Completes with [`FlashClient::program_done`].
    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])>;

    /// Erases erase unit `unit`. Completes with [`FlashClient::erase_done`].
    fn erase(&self, unit: u32) -> Result<(), ErrorCode>;
}

/// Receives the completions of [`Flash`] requests.
pub trait FlashClient {
    /// A read finished; on success `buf[..len]` holds the data. `len` is the
    /// requested length.
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>);

    /// A program of `buf[..len]` finished.
    fn program_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>);

    /// The erase of `unit` finished.
    fn erase_done(&self, unit: u32, result: Result<(), Error>);
}

/// Copies `dst.len()` bytes from byte `offset` of a flash that is read a
/// 32-bit little-endian word at a time: `read32` is called with the
/// aligned offsets of the words the range touches, in order. For drivers
/// of word-wide flash (memory-mapped arrays, parallel NOR).
pub fn copy_from_words(offset: u32, dst: &mut [u8], mut read32: impl FnMut(u32) -> u32) {
    // The bytes up to a word boundary, then whole words, then the tail:
    // whole words are copied as words, not byte by byte.
    // The partial words go a byte at a time from the word read (a copy of
    // a variable length of at most three bytes was a `memcpy` call).
    let skip = offset & 3;
    let head = ((4 - skip as usize) & 3).min(dst.len());
    let (first, rest) = dst.split_at_mut(head);
    if !first.is_empty() {
        store_low_bytes(first, read32(offset & !3) >> (8 * skip));
    }
    let mut address = offset.wrapping_add(head as u32);
    let mut words = rest.chunks_exact_mut(4);
    for chunk in &mut words {
        chunk.copy_from_slice(&read32(address).to_le_bytes());
        address = address.wrapping_add(4);
    }
    let tail = words.into_remainder();
    if !tail.is_empty() {
        store_low_bytes(tail, read32(address));
    }
}

/// Stores the low `dst.len()` (at most 4) bytes of `word` into `dst`,
/// least significant first.
fn store_low_bytes(dst: &mut [u8], mut word: u32) {
    for b in dst {
        *b = word as u8;
        word >>= 8;
    }
}

/// The checks before a read (`aligned` false) or a program (`aligned`
/// true) is accepted: `BUSY` if `busy`, then [`check_request`]. The
/// buffer comes back, with the error if refused.
pub fn accept_request(
    busy: bool,
    geometry: &Geometry,
    offset: u32,
    buf: &'static mut [u8],
    len: usize,
    aligned: bool,
) -> Result<&'static mut [u8], (ErrorCode, &'static mut [u8])> {
    if busy {
        return Err((ErrorCode::BUSY, buf));
    }
    match check_request(geometry, offset, len, buf.len(), aligned) {
        Ok(()) => Ok(buf),
        Err(e) => Err((e, buf)),
    }
}

/// The checks before a [`Flash::read_now`] of `len` bytes: `BUSY` if
/// `busy`, then [`check_request`].
pub fn accept_read_now(
    busy: bool,
    geometry: &Geometry,
    offset: u32,
    len: usize,
) -> Result<(), ErrorCode> {
    if busy {
        return Err(ErrorCode::BUSY);
    }
    check_request(geometry, offset, len, len, false)
}

/// Whether programming the 32-bit words of `data` over the words that
/// `read32` gives (at `data`'s byte offsets 0, 4, ...) would need a bit
/// to go from 0 back to 1, which only an erase does.
pub fn needs_erase(data: &[u8], mut read32: impl FnMut(u32) -> u32) -> bool {
    (0..data.len())
        .step_by(4)
        .any(|pos| program_word(data, pos) & !read32(pos as u32) != 0)
}

/// The little-endian word at byte `pos` of a program request's `buf`, or
/// `u32::MAX` (all bits erased: programs nothing) past its end.
pub fn program_word(buf: &[u8], pos: usize) -> u32 {
    match buf.get(pos..).and_then(<[u8]>::first_chunk::<4>) {
        Some(bytes) => u32::from_le_bytes(*bytes),
        None => u32::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorCode::{INVAL, SIZE};

    /// 8 units of 4 KiB, programmed 8 bytes at a time.
    const G: Geometry = Geometry {
        erase_unit: 4096,
        erase_units: 8,
        program_unit: 8,
        erase_value: 0xFF,
    };

    #[test]
    fn copies_from_words_at_every_offset_and_length() {
        let flash: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5A);
        let read = |a: u32| {
            assert_eq!(a % 4, 0, "aligned reads only");
            let a = a as usize;
            u32::from_le_bytes([flash[a], flash[a + 1], flash[a + 2], flash[a + 3]])
        };
        for offset in 0..12 {
            for len in 0..=16 {
                let mut dst = [0u8; 16];
                copy_from_words(offset, &mut dst[..len], read);
                let o = offset as usize;
                assert_eq!(
                    dst[..len],
                    flash[o..o + len],
                    "offset {offset}, length {len}"
                );
                assert!(dst[len..].iter().all(|&b| b == 0));
            }
        }
    }

    #[test]
    fn word_helpers() {
        let words = [0x4433_2211u32, 0x8877_6655, 0xCCBB_AA99];
        let read = |a: u32| words[(a / 4) as usize];
        let mut dst = [0u8; 7];
        copy_from_words(3, &mut dst, read);
        assert_eq!(dst, [0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA]);
        let mut none = [0u8; 0];
        copy_from_words(5, &mut none, |_| panic!("nothing to read"));
        assert_eq!(program_word(&[1, 2, 3, 4, 5], 0), 0x0403_0201);
        assert_eq!(program_word(&[1, 2, 3, 4, 5], 2), u32::MAX);
        assert_eq!(program_word(&[], usize::MAX), u32::MAX);
        let flash = [0x0000_FFFFu32, u32::MAX];
        let read = |o: u32| flash[(o / 4) as usize];
        assert!(!needs_erase(&[0xFF, 0x0F, 0, 0, 1, 2, 3, 4], read));
        assert!(needs_erase(&[0, 0, 1, 0], read));
    }

    #[test]
    fn geometry() {
        assert_eq!(G.size(), 32768);
        assert!(G.is_valid());
        assert_eq!(G.unit_offset(0), Some(0));
        assert_eq!(G.unit_offset(7), Some(7 * 4096));
        assert_eq!(G.unit_offset(8), None);

        let full = Geometry {
            erase_unit: 1 << 31,
            erase_units: 2,
            program_unit: 32,
            erase_value: 0,
        };
        assert_eq!(full.size(), 1 << 32);
        assert!(full.is_valid());
        assert_eq!(full.unit_offset(1), Some(1 << 31));

        // (erase_unit, erase_units, program_unit)
        let invalid = [
            (3000, 8, 8),
            (4096, 0, 8),
            (4096, 8, 0),
            (4096, 8, 12),
            (4096, 8, 64),
            (16, 8, 32),
            (1 << 31, 3, 32),
        ];
        for (erase_unit, erase_units, program_unit) in invalid {
            let g = Geometry {
                erase_unit,
                erase_units,
                program_unit,
                erase_value: 0xFF,
            };
            assert!(!g.is_valid(), "{g:?}");
        }
    }

    #[test]
    fn reads_need_no_alignment() {
        assert_eq!(check_request(&G, 0, 1, 1, false), Ok(()));
        assert_eq!(check_request(&G, 3, 5, 16, false), Ok(()));
        assert_eq!(check_request(&G, 32767, 1, 1, false), Ok(()));
        assert_eq!(check_request(&G, 0, 32768, 32768, false), Ok(()));
        assert_eq!(check_request(&G, 4095, 2, 2, false), Ok(())); // spans units
    }

    #[test]
    fn programs_need_program_unit_alignment() {
        assert_eq!(check_request(&G, 8, 16, 16, true), Ok(()));
        assert_eq!(check_request(&G, 32760, 8, 8, true), Ok(()));
        assert_eq!(check_request(&G, 4, 8, 8, true), Err(INVAL));
        assert_eq!(check_request(&G, 8, 12, 16, true), Err(INVAL));
        let bytes = Geometry {
            program_unit: 1,
            ..G
        };
        assert_eq!(check_request(&bytes, 3, 5, 5, true), Ok(()));
        let broken = Geometry {
            program_unit: 0,
            ..G
        };
        assert_eq!(check_request(&broken, 0, 8, 8, true), Err(INVAL));
    }

    #[test]
    fn bad_lengths_and_ranges() {
        for aligned in [false, true] {
            assert_eq!(check_request(&G, 0, 0, 8, aligned), Err(INVAL));
            assert_eq!(check_request(&G, 0, 16, 8, aligned), Err(SIZE));
            assert_eq!(check_request(&G, 32768, 8, 8, aligned), Err(INVAL));
            assert_eq!(check_request(&G, 32760, 16, 16, aligned), Err(INVAL));
            assert_eq!(check_request(&G, u32::MAX, 8, 8, aligned), Err(INVAL));
            assert_eq!(
                check_request(&G, 8, usize::MAX, usize::MAX, aligned),
                Err(INVAL)
            );
        }
        // Order: zero length, then buffer size, then range and alignment.
        assert_eq!(check_request(&G, u32::MAX, 0, 0, true), Err(INVAL));
        assert_eq!(check_request(&G, u32::MAX, 3, 2, true), Err(SIZE));
        let empty = Geometry {
            erase_units: 0,
            ..G
        };
        assert_eq!(check_request(&empty, 0, 1, 1, false), Err(INVAL));
    }

    #[test]
    fn erase_units() {
        assert_eq!(check_erase(&G, 0), Ok(()));
        assert_eq!(check_erase(&G, 7), Ok(()));
        assert_eq!(check_erase(&G, 8), Err(INVAL));
        assert_eq!(check_erase(&G, u32::MAX), Err(INVAL));
    }

    #[test]
    fn errors_map_to_fail() {
        for e in [
            Error::ReadFailed,
            Error::ProgramFailed,
            Error::VerifyFailed,
            Error::EraseFailed,
            Error::Timeout,
        ] {
            assert_eq!(ErrorCode::from(e), ErrorCode::FAIL);
        }
    }
}
