//! `flashsim`: an exact, fast simulator of NOR flash for host-side tests.
//!
//! The simulated part is a row of equally sized erase *regions*. Reads may
//! have any alignment. Programs must be aligned to the *program unit* (the
//! smallest programmable word) and can only move bits away from the erased
//! state; erases return a whole region to the erased state.
//!
//! On top of the plain device model the simulator offers what a test of a
//! power-safe storage engine needs:
//!
//! * **Strict checking** ([`SimFlash::set_strict`]): a program that touches
//!   a word already programmed since its last erase, or that would need a bit
//!   to go back to the erased state, is rejected and changes nothing. In
//!   non-strict mode such programs proceed (with the device's AND-like
//!   semantics) and are counted in [`Counters::word_rewrites`].
//! * **Power cuts** ([`SimFlash::cut_power_after`]): after a given number of
//!   program/erase operations the next one is torn (not performed, or only a
//!   prefix of it is), and every later operation fails with
//!   [`SimError::PowerLoss`] until [`SimFlash::power_on`].
//! * **Fault injection** ([`SimFlash::fail_nth_read`] and friends) and direct
//!   corruption ([`SimFlash::flip_bit`], [`SimFlash::image_mut`]).
//! * **Accounting**: operation [`Counters`], per-region erase counts and the
//!   number of budget-consuming mutations.
//! * **File backing** ([`SimFlash::open_file`]): the flash is a window of a
//!   file (for example a QEMU pflash image), and every change is written
//!   through at once.
//!
//! The simulator is deterministic (the damage of a [`Tear::Weak`] or
//! [`Tear::Random`] erase is drawn from the tear's seed) and does not
//! allocate per operation: reads and programs cost `O(len)`, erases
//! `O(region_size)`.
//!
//! # Order of checks
//!
//! Every operation evaluates its failure conditions in this order, and the
//! first one that applies decides the result:
//!
//! 1. power is off → [`SimError::PowerLoss`] (nothing else happens; armed
//!    faults are not advanced);
//! 2. the range is outside the flash → [`SimError::OutOfRange`];
//! 3. (programs) address or length not a multiple of the program unit →
//!    [`SimError::Misaligned`];
//! 4. (programs, strict mode) [`SimError::Rewrite`], then
//!    [`SimError::BitRaise`];
//! 5. an armed injected fault fires → [`SimError::Injected`];
//! 6. (programs and erases) the power budget: the operation consumes one unit
//!    of budget (see [`SimFlash::mutations`]); if the budget was already
//!    exhausted the operation is torn and returns [`SimError::PowerLoss`].
//!
//! Operations rejected at steps 2–5 change nothing, are not counted in
//! [`Counters`] or [`SimFlash::mutations`], and do not consume power budget.
//! Armed injected faults count only operations that reach step 5.
//!
//! # Example
//!
//! ```
//! use flashsim::{Geometry, SimError, SimFlash, Tear};
//!
//! let geometry = Geometry { region_size: 256, region_count: 4, program_unit: 4, erase_value: 0xFF };
//! let mut flash = SimFlash::new(geometry);
//! flash.program(0, &[0x0F, 0xF0, 0x00, 0xAA]).unwrap();
//!
//! // A second program of the same word is a bug in strict mode (the default).
//! assert_eq!(flash.program(0, &[0; 4]), Err(SimError::Rewrite));
//!
//! // Cut the power in the middle of the second program from now.
//! flash.cut_power_after(1, Tear::Partial(2));
//! flash.program(4, &[1, 2, 3, 4]).unwrap();
//! assert_eq!(flash.program(8, &[5, 6, 7, 8]), Err(SimError::PowerLoss));
//! let mut buf = [0; 4];
//! assert_eq!(flash.read(8, &mut buf), Err(SimError::PowerLoss));
//! flash.power_on();
//! flash.read(8, &mut buf).unwrap();
//! assert_eq!(buf, [5, 6, 0xFF, 0xFF]);
//! ```

mod bitset;
mod rng;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use bitset::BitSet;
pub use rng::Rng;

/// Shape of the simulated flash part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Size of one erase region in bytes.
    pub region_size: usize,
    /// Number of erase regions.
    pub region_count: usize,
    /// Size in bytes of the smallest programmable word. Programs must be
    /// aligned to it in address and length.
    pub program_unit: usize,
    /// Value of every byte after an erase (`0xFF` for typical NOR flash).
    pub erase_value: u8,
}

impl Geometry {
    /// Total size of the flash in bytes (`region_size * region_count`).
    ///
    /// Panics on overflow; [`Geometry::validate`] rejects such geometries.
    pub fn size(&self) -> usize {
        self.region_size
            .checked_mul(self.region_count)
            .expect("flash geometry size overflows usize")
    }

    /// Checks that the geometry describes a usable part: `region_size > 0`,
    /// `region_count > 0`, `program_unit` is a power of two in `1..=32` that
    /// divides `region_size`, and the total size fits in `usize`.
    ///
    /// The error message says which rule was broken.
    pub fn validate(&self) -> Result<(), String> {
        if self.region_size == 0 {
            return Err("region_size must be greater than 0".into());
        }
        if self.region_count == 0 {
            return Err("region_count must be greater than 0".into());
        }
        if !self.program_unit.is_power_of_two() || self.program_unit > 32 {
            return Err(format!(
                "program_unit must be a power of two in 1..=32, got {}",
                self.program_unit
            ));
        }
        if !self.region_size.is_multiple_of(self.program_unit) {
            return Err(format!(
                "program_unit {} does not divide region_size {}",
                self.program_unit, self.region_size
            ));
        }
        if self.region_size.checked_mul(self.region_count).is_none() {
            return Err(format!(
                "total size {} * {} overflows usize",
                self.region_size, self.region_count
            ));
        }
        Ok(())
    }
}

/// Why a simulated flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimError {
    /// `addr + len` lies beyond the end of the flash, or a region index is
    /// not below `region_count`.
    OutOfRange,
    /// A program whose address or length is not a multiple of the program
    /// unit. Checked in strict and non-strict mode alike.
    Misaligned,
    /// Strict mode: the program touches a program-unit word that was already
    /// programmed since its last erase.
    Rewrite,
    /// Strict mode: the program would need a bit to return to the erased
    /// state (for `erase_value` 0xFF: a 0 bit to become 1).
    BitRaise,
    /// Power is off: the power-cut budget ran out. The operation that ran
    /// out of budget was torn; every later operation fails with this error
    /// without effect until [`SimFlash::power_on`].
    PowerLoss,
    /// A fault armed with [`SimFlash::fail_nth_read`],
    /// [`SimFlash::fail_nth_program`] or [`SimFlash::fail_nth_erase`] fired.
    Injected,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            SimError::OutOfRange => "access beyond the end of the flash",
            SimError::Misaligned => "program not aligned to the program unit",
            SimError::Rewrite => "program of a word already programmed since its last erase",
            SimError::BitRaise => "program would return a bit to the erased state",
            SimError::PowerLoss => "power lost",
            SimError::Injected => "injected fault",
        };
        f.write_str(text)
    }
}

impl std::error::Error for SimError {}

/// Operation statistics. See [`SimFlash::counters`] for exactly what is
/// counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Successful reads.
    pub reads: u64,
    /// Bytes returned by successful reads.
    pub read_bytes: u64,
    /// Programs performed, including torn ones (but not programs torn with
    /// [`Tear::Before`], which never started).
    pub programs: u64,
    /// Bytes actually written by the counted programs (for a torn program,
    /// the length of the prefix it wrote).
    pub program_bytes: u64,
    /// Erases performed, including torn ones (but not erases torn with
    /// [`Tear::Before`]).
    pub erases: u64,
    /// Non-strict mode: program-unit words that a program rewrote (the word
    /// was already programmed since its last erase) or tried to raise a bit
    /// in. Each offending word counts once per program.
    pub word_rewrites: u64,
}

impl Counters {
    /// Field-wise difference `self - earlier`, for measuring a stretch of
    /// work between two snapshots of the counters. Saturates at 0 if a field
    /// of `earlier` is larger (e.g. after [`SimFlash::reset_counters`]).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            reads: self.reads.saturating_sub(earlier.reads),
            read_bytes: self.read_bytes.saturating_sub(earlier.read_bytes),
            programs: self.programs.saturating_sub(earlier.programs),
            program_bytes: self.program_bytes.saturating_sub(earlier.program_bytes),
            erases: self.erases.saturating_sub(earlier.erases),
            word_rewrites: self.word_rewrites.saturating_sub(earlier.word_rewrites),
        }
    }
}

/// How the operation that exhausts the power budget ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tear {
    /// The operation is not performed at all (and not counted in
    /// [`Counters`] or [`SimFlash::erase_counts`]).
    Before,
    /// The operation is cut short: a program writes only its first `n`
    /// bytes (`n` clamped to the program length); an erase sets only the
    /// first `n` bytes of the region to `erase_value` (`n` clamped to
    /// `region_size`). The operation is counted as performed.
    Partial(usize),
    /// An erase cut so that the region is left *weakly* erased, as real NOR
    /// flash can be: every programmed bit outside the first `keep` bytes
    /// independently reads back as 1 with probability `ones` / 256 (bits
    /// that were 1 stay 1), and the first `keep` bytes (a region header,
    /// say) are left as they were. Which bits flip is drawn from `seed`, so
    /// a tear replays exactly. No word becomes unprogrammed: the region
    /// must be erased again before any program. The erase is counted as
    /// performed. A program torn this way is not performed (as
    /// [`Tear::Before`]).
    Weak {
        /// Seed of the bits that flip.
        seed: u64,
        /// Bytes at the start of the region left untouched.
        keep: usize,
        /// Chance, in 256ths, that a programmed bit reads back as 1.
        ones: u16,
    },
    /// An erase cut so that the region reads back as random bytes drawn
    /// from the seed; every word of it counts as programmed. The erase is
    /// counted as performed. A program torn this way is not performed (as
    /// [`Tear::Before`]).
    Random(u64),
}

/// A copy of the flash contents and wear state, taken with
/// [`SimFlash::snapshot`] and put back with [`SimFlash::restore`].
///
/// It holds the image, the per-word programmed flags and the per-region erase
/// counts; it does not hold counters, power state or armed faults.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot {
    geometry: Geometry,
    image: Vec<u8>,
    programmed: BitSet,
    erase_counts: Vec<u32>,
}

impl Snapshot {
    /// Geometry of the flash the snapshot was taken from.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The flash contents at the time of the snapshot.
    pub fn image(&self) -> &[u8] {
        &self.image
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("geometry", &self.geometry)
            .field("programmed_words", &self.programmed.count_ones())
            .finish_non_exhaustive()
    }
}

/// The backing file of a file-backed simulator.
struct Backing {
    file: File,
    offset: u64,
    path: PathBuf,
}

impl Backing {
    /// Writes `bytes` (the flash contents starting at flash address `addr`)
    /// to the file. Panics on I/O failure: [`SimError`] has no way to report
    /// it, and a test must not go on with a file that disagrees with the sim.
    fn write_through(&self, addr: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let pos = self.offset + addr as u64;
        if let Err(e) = write_all_at(&self.file, bytes, pos) {
            panic!(
                "flashsim: write-through of {} bytes at offset {pos} of {} failed: {e}",
                bytes.len(),
                self.path.display()
            );
        }
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(buf, pos)
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, pos)
}

#[cfg(not(unix))]
fn write_all_at(file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    f.seek(SeekFrom::Start(pos))?;
    f.write_all(buf)
}

#[cfg(not(unix))]
fn read_exact_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = file;
    f.seek(SeekFrom::Start(pos))?;
    f.read_exact(buf)
}

/// Fills a freshly created file with `len` bytes of `value`.
fn fill_file(file: &File, len: u64, value: u8) -> io::Result<()> {
    if value == 0 {
        // Extending a file reads back as zeros.
        return file.set_len(len);
    }
    let chunk = vec![value; 64 * 1024];
    let mut pos = 0u64;
    while pos < len {
        let n = (len - pos).min(chunk.len() as u64) as usize;
        write_all_at(file, &chunk[..n], pos)?;
        pos += n as u64;
    }
    Ok(())
}

/// A power cut armed with [`SimFlash::cut_power_after`].
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// Mutations that still succeed before the torn one.
    remaining: u64,
    tear: Tear,
}

/// Result of consuming one unit of power budget.
enum Power {
    /// Perform the whole operation.
    Full,
    /// Power fails during this operation; perform it as `Tear` says.
    Torn(Tear),
}

/// Counts an armed fault down; returns true if it fires now (and disarms it).
#[inline]
fn fault_fires(slot: &mut Option<u64>) -> bool {
    match slot {
        Some(0) => {
            *slot = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

/// Whether programming `new` over `old` would need some bit to go back to
/// the erased state `e`: a bit that is programmed in `old` (differs from `e`)
/// but not in `new`.
#[inline]
fn raises_bits(old: &[u8], new: &[u8], e: u8) -> bool {
    old.iter()
        .zip(new)
        .fold(0u8, |acc, (&o, &n)| acc | ((o ^ e) & !(n ^ e)))
        != 0
}

/// A simulated NOR flash part. See the [crate documentation](crate) for the
/// model and the order in which failures are checked.
pub struct SimFlash {
    geometry: Geometry,
    data: Vec<u8>,
    /// One flag per program-unit word: programmed since its last erase.
    programmed: BitSet,
    strict: bool,
    counters: Counters,
    erase_counts: Vec<u32>,
    mutations: u64,
    /// The mutation number and region of every erase that consumed power
    /// budget.
    erase_log: Vec<(u64, usize)>,
    powered: bool,
    cut: Option<Cut>,
    read_fault: Option<u64>,
    program_fault: Option<u64>,
    erase_fault: Option<u64>,
    backing: Option<Backing>,
}

impl fmt::Debug for SimFlash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFlash")
            .field("geometry", &self.geometry)
            .field("strict", &self.strict)
            .field("powered", &self.powered)
            .field("cut", &self.cut)
            .field("counters", &self.counters)
            .field("mutations", &self.mutations)
            .field("programmed_words", &self.programmed.count_ones())
            .field("file", &self.backing.as_ref().map(|b| (&b.path, b.offset)))
            .finish_non_exhaustive()
    }
}

impl SimFlash {
    /// A fully erased flash: every byte is `erase_value` and no word counts
    /// as programmed. Strict mode is on, power is on, nothing is armed.
    ///
    /// # Panics
    ///
    /// Panics if [`Geometry::validate`] rejects `geometry`. This is the only
    /// reason it panics.
    pub fn new(geometry: Geometry) -> SimFlash {
        if let Err(e) = geometry.validate() {
            panic!("flashsim: invalid geometry {geometry:?}: {e}");
        }
        let image = vec![geometry.erase_value; geometry.size()];
        Self::build(geometry, image, None)
    }

    /// A flash holding `image`. Every program-unit word that is not entirely
    /// `erase_value` counts as programmed; all-erased words count as
    /// unprogrammed.
    ///
    /// Fails if the geometry is invalid or `image.len() != geometry.size()`.
    pub fn from_image(geometry: Geometry, image: Vec<u8>) -> Result<SimFlash, String> {
        geometry.validate()?;
        if image.len() != geometry.size() {
            return Err(format!(
                "image is {} bytes but the geometry needs {}",
                image.len(),
                geometry.size()
            ));
        }
        Ok(Self::build(geometry, image, None))
    }

    /// A file-backed flash: the flash is the byte window
    /// `[offset, offset + geometry.size())` of the file at `path`, which is
    /// opened for reading and writing. Words of the window that are not
    /// entirely `erase_value` count as programmed (as in
    /// [`SimFlash::from_image`]).
    ///
    /// If `create` is true and the file does not exist, it is created and
    /// filled with `erase_value` to exactly `offset + size` bytes. An
    /// existing file is never resized: one shorter than `offset + size` is
    /// rejected with an [`io::ErrorKind::InvalidInput`] error; bytes outside
    /// the window are never touched.
    ///
    /// Every program and erase (torn ones included), [`SimFlash::flip_bit`]
    /// and [`SimFlash::restore`] write the changed bytes through to the file
    /// immediately with a positioned write, so the file always matches what
    /// the simulator reported, even if the process dies right after. (Data
    /// reaches the OS, not necessarily the disk; see
    /// [`SimFlash::sync_file`].) Changes made through
    /// [`SimFlash::image_mut`] are not written through until
    /// [`SimFlash::write_back`].
    ///
    /// An invalid geometry is reported as [`io::ErrorKind::InvalidInput`].
    /// A failure of a later write-through panics, since [`SimError`] cannot
    /// carry it.
    pub fn open_file(
        path: &Path,
        offset: u64,
        geometry: Geometry,
        create: bool,
    ) -> io::Result<SimFlash> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        geometry
            .validate()
            .map_err(|e| invalid(format!("invalid flash geometry {geometry:?}: {e}")))?;
        let size = geometry.size();
        let end = u64::try_from(size)
            .ok()
            .and_then(|s| offset.checked_add(s))
            .ok_or_else(|| invalid(format!("flash window end {offset} + {size} overflows")))?;

        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let file = if create {
            match options.clone().create_new(true).open(path) {
                Ok(file) => {
                    if let Err(e) = fill_file(&file, end, geometry.erase_value) {
                        drop(file);
                        // Best effort: do not leave a half-filled image behind.
                        let _ = std::fs::remove_file(path);
                        return Err(e);
                    }
                    file
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => options.open(path)?,
                Err(e) => return Err(e),
            }
        } else {
            options.open(path)?
        };

        let len = file.metadata()?.len();
        if len < end {
            return Err(invalid(format!(
                "{}: file is {len} bytes, but the flash window [{offset}, {end}) needs at least {end} bytes",
                path.display()
            )));
        }
        let mut image = vec![0u8; size];
        read_exact_at(&file, &mut image, offset)?;
        let backing = Backing {
            file,
            offset,
            path: path.to_path_buf(),
        };
        Ok(Self::build(geometry, image, Some(backing)))
    }

    /// Common constructor; `geometry` is valid and `image` has its size.
    fn build(geometry: Geometry, image: Vec<u8>, backing: Option<Backing>) -> SimFlash {
        let unit = geometry.program_unit;
        let mut programmed = BitSet::new(image.len() / unit);
        for (i, word) in image.chunks_exact(unit).enumerate() {
            if word.iter().any(|&b| b != geometry.erase_value) {
                programmed.set(i);
            }
        }
        SimFlash {
            geometry,
            data: image,
            programmed,
            strict: true,
            counters: Counters::default(),
            erase_counts: vec![0; geometry.region_count],
            mutations: 0,
            erase_log: Vec::new(),
            powered: true,
            cut: None,
            read_fault: None,
            program_fault: None,
            erase_fault: None,
            backing,
        }
    }

    /// The geometry the flash was created with.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Turns strict checking on or off (default: on).
    ///
    /// Strict: a program touching a word already programmed since its last
    /// erase fails with [`SimError::Rewrite`]; one that would raise a bit back
    /// to the erased state fails with [`SimError::BitRaise`]; either way the
    /// flash is unchanged. Non-strict: such programs proceed with the device
    /// semantics (bits only move away from the erased state) and each
    /// offending word is counted in [`Counters::word_rewrites`].
    pub fn set_strict(&mut self, strict: bool) {
        self.strict = strict;
    }

    /// Whether strict checking is on.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Checks that `[addr, addr + len)` lies inside the flash; returns the end.
    #[inline]
    fn check_range(&self, addr: usize, len: usize) -> Result<usize, SimError> {
        match addr.checked_add(len) {
            Some(end) if end <= self.data.len() => Ok(end),
            _ => Err(SimError::OutOfRange),
        }
    }

    /// Consumes one unit of power budget for a program or erase.
    #[inline]
    fn consume_power(&mut self) -> Power {
        self.mutations += 1;
        match &mut self.cut {
            None => Power::Full,
            Some(cut) if cut.remaining > 0 => {
                cut.remaining -= 1;
                Power::Full
            }
            Some(cut) => {
                let tear = cut.tear;
                self.cut = None;
                self.powered = false;
                Power::Torn(tear)
            }
        }
    }

    /// Reads `buf.len()` bytes starting at `addr` (any alignment).
    ///
    /// Fails with [`SimError::PowerLoss`] while power is off,
    /// [`SimError::OutOfRange`] if the range leaves the flash, and
    /// [`SimError::Injected`] when an armed read fault fires; on failure `buf`
    /// is untouched. Only successful reads are counted.
    pub fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLoss);
        }
        let end = self.check_range(addr, buf.len())?;
        if fault_fires(&mut self.read_fault) {
            return Err(SimError::Injected);
        }
        buf.copy_from_slice(&self.data[addr..end]);
        self.counters.reads += 1;
        self.counters.read_bytes += buf.len() as u64;
        Ok(())
    }

    /// Programs `data` at `addr`. Both must be multiples of the program unit.
    ///
    /// Bits only move away from the erased state: for `erase_value` 0xFF the
    /// result is `old & data`, for 0x00 it is `old | data`, and in general a
    /// bit ends in the erased state only if it was erased before and `data`
    /// leaves it erased. Every word touched is marked programmed, even when
    /// `data` is all `erase_value`.
    ///
    /// Failures, in order: [`SimError::PowerLoss`] (power off),
    /// [`SimError::OutOfRange`], [`SimError::Misaligned`], in strict mode
    /// [`SimError::Rewrite`] then [`SimError::BitRaise`] (see
    /// [`SimFlash::set_strict`]), [`SimError::Injected`]; none of these change
    /// anything. Finally, if the power budget runs out with this program it
    /// is torn per [`Tear`] and returns [`SimError::PowerLoss`]; a torn
    /// program marks every word it wrote at least one byte of as programmed.
    ///
    /// A zero-length program is a valid operation: it touches no word but is
    /// counted and consumes power budget like any other.
    pub fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLoss);
        }
        let end = self.check_range(addr, data.len())?;
        let unit = self.geometry.program_unit;
        if !addr.is_multiple_of(unit) || !data.len().is_multiple_of(unit) {
            return Err(SimError::Misaligned);
        }
        if self.strict {
            if self.programmed.any_in_range(addr / unit, end / unit) {
                return Err(SimError::Rewrite);
            }
            if raises_bits(&self.data[addr..end], data, self.geometry.erase_value) {
                return Err(SimError::BitRaise);
            }
        }
        if fault_fires(&mut self.program_fault) {
            return Err(SimError::Injected);
        }
        match self.consume_power() {
            Power::Full => {
                self.apply_program(addr, data);
                Ok(())
            }
            Power::Torn(Tear::Partial(n)) => {
                self.apply_program(addr, &data[..n.min(data.len())]);
                Err(SimError::PowerLoss)
            }
            Power::Torn(_) => Err(SimError::PowerLoss),
        }
    }

    /// Performs a validated program of `bytes` at the aligned `addr` (bytes
    /// may end mid-word for a torn program), updating counters and the file.
    fn apply_program(&mut self, addr: usize, bytes: &[u8]) {
        let e = self.geometry.erase_value;
        let unit = self.geometry.program_unit;
        let end = addr + bytes.len();
        let (w0, w1) = (addr / unit, end.div_ceil(unit));

        if !self.strict {
            let mut offending = 0u64;
            for w in w0..w1 {
                let s = w * unit;
                let t = (s + unit).min(end);
                if self.programmed.get(w)
                    || raises_bits(&self.data[s..t], &bytes[s - addr..t - addr], e)
                {
                    offending += 1;
                }
            }
            self.counters.word_rewrites += offending;
        }

        for (old, &new) in self.data[addr..end].iter_mut().zip(bytes) {
            *old = e ^ ((*old ^ e) | (new ^ e));
        }
        self.programmed.set_range(w0, w1);
        self.counters.programs += 1;
        self.counters.program_bytes += bytes.len() as u64;
        if let Some(backing) = &self.backing {
            backing.write_through(addr, &self.data[addr..end]);
        }
    }

    /// Erases region `region`: all its bytes become `erase_value` and all its
    /// words unprogrammed.
    ///
    /// Failures, in order: [`SimError::PowerLoss`] (power off),
    /// [`SimError::OutOfRange`] (`region >= region_count`),
    /// [`SimError::Injected`]; none change anything. If the power budget runs
    /// out with this erase it is torn per [`Tear`] and returns
    /// [`SimError::PowerLoss`]: a partial erase sets only a prefix of the
    /// region to `erase_value`, and clears the programmed flag only of words
    /// lying entirely inside that prefix (a word straddling its end stays
    /// programmed). Every performed erase, torn or not, increments the
    /// region's [erase count](SimFlash::erase_counts).
    pub fn erase(&mut self, region: usize) -> Result<(), SimError> {
        if !self.powered {
            return Err(SimError::PowerLoss);
        }
        if region >= self.geometry.region_count {
            return Err(SimError::OutOfRange);
        }
        if fault_fires(&mut self.erase_fault) {
            return Err(SimError::Injected);
        }
        let size = self.geometry.region_size;
        self.erase_log.push((self.mutations, region));
        match self.consume_power() {
            Power::Full => {
                self.apply_erase(region, size);
                Ok(())
            }
            Power::Torn(Tear::Before) => Err(SimError::PowerLoss),
            Power::Torn(Tear::Partial(n)) => {
                self.apply_erase(region, n.min(size));
                Err(SimError::PowerLoss)
            }
            Power::Torn(Tear::Weak { seed, keep, ones }) => {
                let mut rng = Rng::new(seed);
                let start = region * size + keep.min(size);
                for b in &mut self.data[start..(region + 1) * size] {
                    for bit in 0..8 {
                        if rng.below(256) < ones as u64 {
                            *b |= 1 << bit;
                        }
                    }
                }
                self.damaged_erase(region);
                Err(SimError::PowerLoss)
            }
            Power::Torn(Tear::Random(seed)) => {
                let mut rng = Rng::new(seed);
                let (start, end) = (region * size, (region + 1) * size);
                self.data[start..end].fill_with(|| rng.next() as u8);
                let unit = self.geometry.program_unit;
                self.programmed.set_range(start / unit, end / unit);
                self.damaged_erase(region);
                Err(SimError::PowerLoss)
            }
        }
    }

    /// Accounts an erase torn by [`Tear::Weak`] or [`Tear::Random`] (its
    /// bytes already changed) and writes the region through to the file.
    fn damaged_erase(&mut self, region: usize) {
        let size = self.geometry.region_size;
        self.erase_counts[region] = self.erase_counts[region].saturating_add(1);
        self.counters.erases += 1;
        if let Some(backing) = &self.backing {
            backing.write_through(region * size, &self.data[region * size..][..size]);
        }
    }

    /// Erases the first `len` bytes of `region`, updating counters and file.
    fn apply_erase(&mut self, region: usize, len: usize) {
        let unit = self.geometry.program_unit;
        let start = region * self.geometry.region_size;
        let end = start + len;
        self.data[start..end].fill(self.geometry.erase_value);
        // Only words wholly inside the erased prefix become unprogrammed.
        self.programmed.clear_range(start / unit, end / unit);
        self.erase_counts[region] = self.erase_counts[region].saturating_add(1);
        self.counters.erases += 1;
        if let Some(backing) = &self.backing {
            backing.write_through(start, &self.data[start..end]);
        }
    }

    /// Operation counters since creation or the last
    /// [`SimFlash::reset_counters`].
    ///
    /// Counted: successful reads; performed programs and erases, including
    /// torn ones (a torn program with the bytes it actually wrote), except
    /// those torn with [`Tear::Before`], which never started. Not counted:
    /// operations that failed with [`SimError::OutOfRange`],
    /// [`SimError::Misaligned`], [`SimError::Rewrite`],
    /// [`SimError::BitRaise`], [`SimError::Injected`], or because power was
    /// already off.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Sets all [`Counters`] to zero. Does not touch
    /// [`SimFlash::erase_counts`] or [`SimFlash::mutations`].
    pub fn reset_counters(&mut self) {
        self.counters = Counters::default();
    }

    /// Per-region erase counts since creation (wear). Every performed erase
    /// increments its region's count, torn ones included (but not erases
    /// torn with [`Tear::Before`]). Saturates at `u32::MAX`.
    pub fn erase_counts(&self) -> &[u32] {
        &self.erase_counts
    }

    /// Number of program and erase operations since creation that consumed
    /// power budget: those that passed every check up to and including fault
    /// injection, whether they then succeeded or were torn (with any
    /// [`Tear`]). A power-cut sweep runs a workload once, reads this, and
    /// then replays it with `cut_power_after(k, ..)` for each `k` below it.
    pub fn mutations(&self) -> u64 {
        self.mutations
    }

    /// Which of the [mutations](SimFlash::mutations) were erases: the
    /// mutation number (counting from 0) and the region of every erase
    /// since creation that consumed power budget, in order. A power-cut
    /// sweep uses it to tear erases in the ways only an erase can be torn
    /// ([`Tear::Weak`], [`Tear::Random`]).
    pub fn erase_mutations(&self) -> &[(u64, usize)] {
        &self.erase_log
    }

    /// Arms a power cut: the next `ops` programs/erases that consume budget
    /// succeed, and the one after that is torn per `tear` and returns
    /// [`SimError::PowerLoss`]. From then on every read, program and erase
    /// returns [`SimError::PowerLoss`] without effect until
    /// [`SimFlash::power_on`]. Replaces any previously armed cut.
    ///
    /// `cut_power_after(0, ..)` tears the very next program or erase. If
    /// power is already off it stays off, and [`SimFlash::power_on`] will
    /// discard the new cut.
    pub fn cut_power_after(&mut self, ops: u64, tear: Tear) {
        self.cut = Some(Cut {
            remaining: ops,
            tear,
        });
    }

    /// How many more programs/erases will succeed before the armed power cut
    /// tears one, or `None` if no cut is armed.
    pub fn power_budget(&self) -> Option<u64> {
        self.cut.map(|c| c.remaining)
    }

    /// Restores power and disarms any pending cut. The flash contents,
    /// programmed flags, counters and armed faults stay as they were. Also
    /// useful while powered, to disarm a cut.
    pub fn power_on(&mut self) {
        self.powered = true;
        self.cut = None;
    }

    /// Whether power is on (false after a cut, until [`SimFlash::power_on`]).
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Arms a read fault: the `n`-th read from now (0 = the next one) fails
    /// with [`SimError::Injected`] and leaves its buffer untouched. Fires
    /// once. Only reads that reach the fault check count (powered and in
    /// range). Replaces a previously armed read fault.
    pub fn fail_nth_read(&mut self, n: u64) {
        self.read_fault = Some(n);
    }

    /// Arms a program fault: the `n`-th program from now (0 = the next one)
    /// fails with [`SimError::Injected`] and leaves the flash unchanged; it
    /// consumes no power budget. Fires once. Only programs that reach the
    /// fault check count (powered, in range, aligned and, in strict mode,
    /// passing the rewrite checks). Replaces a previously armed program
    /// fault.
    pub fn fail_nth_program(&mut self, n: u64) {
        self.program_fault = Some(n);
    }

    /// Arms an erase fault: the `n`-th erase from now (0 = the next one)
    /// fails with [`SimError::Injected`] and leaves the flash unchanged; it
    /// consumes no power budget. Fires once. Only erases that reach the
    /// fault check count (powered and a valid region). Replaces a previously
    /// armed erase fault.
    pub fn fail_nth_erase(&mut self, n: u64) {
        self.erase_fault = Some(n);
    }

    /// Disarms all injected faults (not the power cut; see
    /// [`SimFlash::power_on`]).
    pub fn clear_faults(&mut self) {
        self.read_fault = None;
        self.program_fault = None;
        self.erase_fault = None;
    }

    /// Inverts bit `bit` (0 = least significant) of the byte at `addr`:
    /// direct corruption, as by a disturbed or decayed cell. Works with power
    /// off, counts nothing and leaves the programmed flags alone. In file
    /// mode the byte is written through.
    ///
    /// # Panics
    ///
    /// Panics if `addr` is outside the flash or `bit > 7`.
    pub fn flip_bit(&mut self, addr: usize, bit: u8) {
        assert!(bit < 8, "flashsim: bit index {bit} is not in 0..8");
        assert!(
            addr < self.data.len(),
            "flashsim: flip_bit address {addr} beyond flash size {}",
            self.data.len()
        );
        self.data[addr] ^= 1 << bit;
        if let Some(backing) = &self.backing {
            backing.write_through(addr, &self.data[addr..=addr]);
        }
    }

    /// The whole flash contents.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// Mutable access to the whole flash contents, for tests that corrupt or
    /// craft data directly. Bypasses every check, counter, power state and
    /// the programmed flags (which keep their values), and is not written
    /// through to a backing file (call [`SimFlash::write_back`] for that).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Consumes the simulator and returns its contents.
    pub fn into_image(self) -> Vec<u8> {
        self.data
    }

    /// Whether the program-unit word containing `addr` was programmed since
    /// its last erase (or counted as programmed when the flash was loaded).
    ///
    /// # Panics
    ///
    /// Panics if `addr` is outside the flash.
    pub fn is_programmed(&self, addr: usize) -> bool {
        assert!(
            addr < self.data.len(),
            "flashsim: address {addr} beyond flash size {}",
            self.data.len()
        );
        self.programmed.get(addr / self.geometry.program_unit)
    }

    /// Number of program-unit words currently marked programmed.
    pub fn programmed_words(&self) -> usize {
        self.programmed.count_ones()
    }

    /// Copies the flash contents, programmed flags and erase counts.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            geometry: self.geometry,
            image: self.data.clone(),
            programmed: self.programmed.clone(),
            erase_counts: self.erase_counts.clone(),
        }
    }

    /// Puts back the contents, programmed flags and erase counts saved by
    /// [`SimFlash::snapshot`], without allocating. Counters, mutations,
    /// power state, the armed cut and armed faults are left as they are. In
    /// file mode the whole window is written through.
    ///
    /// # Panics
    ///
    /// Panics if the snapshot was taken from a flash of another geometry.
    pub fn restore(&mut self, snapshot: &Snapshot) {
        assert_eq!(
            self.geometry, snapshot.geometry,
            "flashsim: snapshot geometry differs from this flash"
        );
        self.data.copy_from_slice(&snapshot.image);
        self.programmed.copy_from(&snapshot.programmed);
        self.erase_counts.copy_from_slice(&snapshot.erase_counts);
        if let Some(backing) = &self.backing {
            backing.write_through(0, &self.data);
        }
    }

    /// Whether the flash is backed by a file ([`SimFlash::open_file`]).
    pub fn is_file_backed(&self) -> bool {
        self.backing.is_some()
    }

    /// Writes the whole image to the backing file (needed after changes made
    /// through [`SimFlash::image_mut`]). Does nothing for an in-memory flash.
    pub fn write_back(&mut self) -> io::Result<()> {
        match &self.backing {
            Some(b) => write_all_at(&b.file, &self.data, b.offset),
            None => Ok(()),
        }
    }

    /// Asks the OS to flush the backing file's data to the disk
    /// (`File::sync_data`). Write-through already makes every change visible
    /// to other readers of the file and robust against the process dying;
    /// this adds robustness against the machine dying. Does nothing for an
    /// in-memory flash.
    pub fn sync_file(&mut self) -> io::Result<()> {
        match &self.backing {
            Some(b) => b.file.sync_data(),
            None => Ok(()),
        }
    }
}
