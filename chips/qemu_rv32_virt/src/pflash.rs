//! The CFI parallel flash of the `virt` machine (Intel command set), as a
//! [`kernel::hil::flash::Flash`].
//!
//! # The device
//!
//! Each pflash unit is 32 MiB made of two x16 chips side by side on a
//! 32-bit bus: every 32-bit word holds 16 bits of each chip. Commands are
//! therefore written replicated into both halves (`0x0040_0040`), and the
//! status register reads back once per chip (`0x0080_0080` when both are
//! ready). Erase blocks are 256 KiB of bus address space (128 KiB per
//! chip). Commands used:
//!
//! | command | meaning |
//! |---|---|
//! | `0x40`, then the data word at its address | program one 32-bit word |
//! | `0x20`, then `0xD0` at the block address | erase one block |
//! | `0x50` | clear the status register |
//! | `0xFF` | back to read-array mode |
//!
//! After a program or erase command the chips answer every read with their
//! status until they are put back into read-array mode. Status bit 7 is
//! "ready"; bits 5 (erase failure), 4 (program failure), 3 (program/erase
//! voltage too low) and 1 (block locked) report errors.
//!
//! **The kernel must not execute from the pflash unit it programs**: while
//! a chip is in command or status mode, instruction fetches from it read
//! status words. Our kernel runs from RAM and keeps storage on unit 1.
//!
//! QEMU *overwrites* a word on program where silicon can only clear bits;
//! the driver refuses a program that would need to set a bit back to 1
//! (see below), so code tested under QEMU behaves the same on real NOR.
//!
//! # The driver
//!
//! [`Pflash`] works over a [`PflashBus`] (32-bit reads and writes at byte
//! offsets), so its logic is tested on the host with an emulated chip pair;
//! [`MmioPflashBus`] is the real bus. Geometry: erase unit 256 KiB,
//! `size / 256 KiB` erase units (or fewer, if the board says so), program
//! unit 4 bytes, erase value `0xFF`.
//!
//! * **read**: copies the bytes out of the array (read-array mode) at once;
//!   any alignment.
//! * **program**: checks the whole request first: if any word would need a
//!   bit to go from 0 to 1 (`new & !old != 0`) nothing is programmed and
//!   the request fails with [`Error::VerifyFailed`]. Then, word by word,
//!   words that already hold their new value are skipped, the others get
//!   `0x40` and the data word; the status is polled until both chips are
//!   ready, error bits fail the request with [`Error::ProgramFailed`], the
//!   status is cleared, the chips go back to read-array mode, and the word
//!   is read back ([`Error::VerifyFailed`] if it differs).
//! * **erase**: `0x20`, `0xD0` at the block address, poll, error bits give
//!   [`Error::EraseFailed`], clear status, read-array, then the block is
//!   checked to read all `0xFF` ([`Error::EraseFailed`] if not).
//!
//! Work happens in deferred calls so the kernel is never blocked for long:
//! each deferred call handles up to [`WORDS_PER_CALL`] words of a program
//! (or [`VERIFY_WORDS_PER_CALL`] words of an erase check) and reads the
//! status at most [`SPIN_POLLS`] times before setting the deferred call
//! again. After [`DEFAULT_POLL_LIMIT`] deferred calls (see
//! [`Pflash::set_poll_limit`]) that found the chips busy the request fails
//! with [`Error::Timeout`]; the chips are then told to clear their status
//! and return to read-array mode, which a chip still busy may ignore, so
//! the driver tells them again before its next request. Until a chip that
//! timed out has really finished, what it reads back is unspecified.
//!
//! Every accepted request ends in exactly one callback, always from the
//! deferred call (never inside `read`/`program`/`erase`), with the driver
//! idle again so the client may start its next request from the callback.
//! Another request while one is in flight gets `BUSY`; arguments are
//! checked with [`accept_request`] and [`check_erase`]. Every operation that
//! completes leaves the chips in read-array mode.

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::flash::{
    accept_read_now, accept_request, check_erase, copy_from_words, program_word, Error, Flash,
    FlashClient, Geometry,
};
use kernel::ErrorCode;
use tock_cells::{OptionalCell, TakeCell};

/// Address of pflash unit 0 (the boot flash with `-bios none`).
pub const PFLASH0_BASE: usize = 0x2000_0000;
/// Address of pflash unit 1 (storage).
pub const PFLASH1_BASE: usize = 0x2200_0000;
/// Size of each pflash unit.
pub const PFLASH_SIZE: u32 = 32 << 20;
/// Bytes in an erase block (bus address space, both chips).
pub const ERASE_UNIT: u32 = 256 << 10;
/// Bytes in a program unit: one bus word.
pub const PROGRAM_UNIT: u32 = 4;

/// Words read and then programmed between two returns to read-array mode.
const BATCH_WORDS: usize = 32;
/// Program words a deferred call handles at most.
pub const WORDS_PER_CALL: usize = 256;
/// Words of an erased block a deferred call checks at most.
pub const VERIFY_WORDS_PER_CALL: u32 = 8192;
/// Status reads per deferred call before giving the kernel back.
pub const SPIN_POLLS: u32 = 32;
/// Deferred calls that may find the chips busy before a request times out.
pub const DEFAULT_POLL_LIMIT: u32 = 1_000_000;

/// Commands, replicated into both chips' halves of the bus.
pub mod command {
    /// Program one word (followed by the data word at its address).
    pub const PROGRAM: u32 = 0x0040_0040;
    /// Set up a block erase (followed by [`ERASE_CONFIRM`]).
    pub const ERASE_SETUP: u32 = 0x0020_0020;
    /// Confirm a block erase, written at the block address.
    pub const ERASE_CONFIRM: u32 = 0x00D0_00D0;
    /// Clear the status register's error bits.
    pub const CLEAR_STATUS: u32 = 0x0050_0050;
    /// Read the status register.
    pub const READ_STATUS: u32 = 0x0070_0070;
    /// Back to read-array mode.
    pub const READ_ARRAY: u32 = 0x00FF_00FF;
}

/// Status register bits, in both chips' halves.
pub mod status {
    /// The chip is ready (not programming or erasing).
    pub const READY: u32 = 0x0080_0080;
    /// Erase failed (or, with [`PROGRAM_ERROR`], a bad command sequence).
    pub const ERASE_ERROR: u32 = 0x0020_0020;
    /// Program failed.
    pub const PROGRAM_ERROR: u32 = 0x0010_0010;
    /// Program/erase voltage too low.
    pub const VPP_LOW: u32 = 0x0008_0008;
    /// The block is locked.
    pub const LOCKED: u32 = 0x0002_0002;
    /// Every error bit.
    pub const ERRORS: u32 = ERASE_ERROR | PROGRAM_ERROR | VPP_LOW | LOCKED;
}

/// 32-bit access to a pflash unit. Offsets are bytes from the start of the
/// unit (or of the part of it the bus exposes) and multiples of 4.
pub trait PflashBus {
    /// Reads the word at `offset`.
    fn read32(&self, offset: u32) -> u32;
    /// Writes `value` (a command or a data word) at `offset`.
    fn write32(&self, offset: u32, value: u32);
    /// Bytes addressable through this bus.
    fn size(&self) -> u32;
    /// Fills `dst` with the bytes from `offset` on (any alignment), read
    /// as words with [`read32`](Self::read32). A bus may do it faster, with
    /// the same result.
    fn read_bytes(&self, offset: u32, dst: &mut [u8]) {
        copy_from_words(offset, dst, |a| self.read32(a));
    }
}

impl<B: PflashBus + ?Sized> PflashBus for &B {
    fn read32(&self, offset: u32) -> u32 {
        (**self).read32(offset)
    }

    fn read_bytes(&self, offset: u32, dst: &mut [u8]) {
        (**self).read_bytes(offset, dst)
    }

    fn write32(&self, offset: u32, value: u32) {
        (**self).write32(offset, value)
    }

    fn size(&self) -> u32 {
        (**self).size()
    }
}

/// The memory-mapped pflash bus: volatile 32-bit accesses at `base +
/// offset`. Accesses outside `0..size` or not 4-byte aligned are dropped
/// (reads return `0xFFFF_FFFF`).
#[derive(Clone, Copy, Debug)]
pub struct MmioPflashBus {
    base: usize,
    size: u32,
}

impl MmioPflashBus {
    /// The bus over `size` bytes of pflash at `base`.
    ///
    /// `base` may point into a unit (at an erase block boundary) to expose
    /// only part of it: the driver then numbers erase units from there.
    ///
    /// # Safety
    ///
    /// `base .. base + size` must be CFI pflash (or memory) that is valid
    /// for volatile 32-bit reads and writes for the rest of the program and
    /// that nothing else accesses, and `base` must be 4-byte aligned.
    pub const unsafe fn new(base: usize, size: u32) -> Self {
        MmioPflashBus { base, size }
    }

    /// All of pflash unit 1 of the `virt` machine (RISC-V targets only).
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    pub const fn virt_unit1() -> Self {
        // SAFETY: on the `virt` machine pflash unit 1 is mapped at
        // `PFLASH1_BASE` with `PFLASH_SIZE` bytes (QEMU requires the image
        // to be exactly that size), and only this driver touches it.
        unsafe { Self::new(PFLASH1_BASE, PFLASH_SIZE) }
    }

    fn address(&self, offset: u32) -> Option<usize> {
        let valid =
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.size);
        valid.then(|| self.base + offset as usize)
    }
}

impl PflashBus for MmioPflashBus {
    fn read32(&self, offset: u32) -> u32 {
        match self.address(offset) {
            // SAFETY: `new`'s contract makes `base .. base + size` valid
            // for volatile 32-bit reads; `address` checked that the word
            // lies inside and is aligned.
            Some(address) => unsafe { core::ptr::read_volatile(address as *const u32) },
            None => u32::MAX,
        }
    }

    fn write32(&self, offset: u32, value: u32) {
        if let Some(address) = self.address(offset) {
            // SAFETY: as for `read32`, for writes.
            unsafe { core::ptr::write_volatile(address as *mut u32, value) }
        }
    }

    fn size(&self) -> u32 {
        self.size
    }

    /// One bounds check for the whole read, then plain word loads: a check
    /// per word was about half of a KV get's flash read.
    fn read_bytes(&self, offset: u32, dst: &mut [u8]) {
        let first = offset & !3;
        let inside = u32::try_from(dst.len())
            .ok()
            .and_then(|len| offset.checked_add(len))
            .and_then(|end| end.checked_add(3))
            .is_some_and(|end| end & !3 <= self.size);
        if !inside {
            // Some words are outside: each is checked (and reads as erased).
            copy_from_words(offset, dst, |a| self.read32(a));
            return;
        }
        let base = self.base;
        copy_from_words(offset, dst, |a| {
            debug_assert!(a >= first && a % 4 == 0);
            // SAFETY: `new`'s contract makes `base .. base + size` valid for
            // volatile 32-bit reads; `copy_from_words` reads only aligned
            // words overlapping `offset .. offset + dst.len()`, which were
            // checked above to end within `size`.
            unsafe { core::ptr::read_volatile((base + a as usize) as *const u32) }
        });
    }
}

/// Where a program request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProgramStep {
    /// Start the batch of up to 32 words at byte `pos` of the request: read
    /// them (read-array mode) and note which need programming.
    Next { pos: usize },
    /// Word `i` of the batch at byte `batch`; `mask` has a bit for every
    /// word of the batch that needs programming.
    Word { batch: usize, mask: u32, i: usize },
    /// Every word is programmed and the chips are in read-array mode:
    /// verify.
    Verify,
    /// The chips are programming word `i` of the batch at byte `batch`;
    /// `polls` deferred calls found them busy so far.
    Busy {
        batch: usize,
        mask: u32,
        i: usize,
        polls: u32,
    },
    /// Decided at the request (a refused 0 -> 1 program).
    Done(Result<(), Error>),
}

/// Where an erase request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EraseStep {
    /// The chips are erasing; `polls` deferred calls found them busy so far.
    Busy { polls: u32 },
    /// Checking that the block reads erased, from word `word` on.
    Verify { word: u32 },
}

/// The request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Idle,
    /// The data is already in the buffer; only the callback is left.
    Read {
        len: usize,
    },
    Program {
        offset: u32,
        len: usize,
        step: ProgramStep,
    },
    Erase {
        unit: u32,
        step: EraseStep,
    },
}

/// The CFI pflash driver; see the [module docs](self).
pub struct Pflash<'a, B: PflashBus> {
    bus: B,
    geometry: Geometry,
    deferred: DeferredCall,
    client: OptionalCell<&'a dyn FlashClient>,
    buffer: TakeCell<'static, [u8]>,
    op: Cell<Op>,
    poll_limit: Cell<u32>,
    /// A request timed out: the chips may still be in status mode.
    needs_reset: Cell<bool>,
}

impl<'a, B: PflashBus> Pflash<'a, B> {
    /// A driver for the flash behind `bus`, doing its work from `deferred`.
    /// It exposes `bus.size() / 256 KiB` erase units, or `erase_units` if
    /// that is smaller. Bind the deferred call with
    /// [`register_deferred_call`](Self::register_deferred_call) and call
    /// [`init`](Self::init) before the first request.
    pub fn new(bus: B, deferred: DeferredCall, erase_units: Option<u32>) -> Self {
        let available = bus.size() / ERASE_UNIT;
        let units = erase_units.map_or(available, |n| n.min(available));
        Pflash {
            bus,
            geometry: Geometry {
                erase_unit: ERASE_UNIT,
                erase_units: units,
                program_unit: PROGRAM_UNIT,
                erase_value: 0xFF,
            },
            deferred,
            client: OptionalCell::empty(),
            buffer: TakeCell::empty(),
            op: Cell::new(Op::Idle),
            poll_limit: Cell::new(DEFAULT_POLL_LIMIT),
            needs_reset: Cell::new(false),
        }
    }

    /// Makes this driver the client of its deferred call.
    pub fn register_deferred_call(&'static self) {
        self.deferred.set_client(self);
    }

    /// Clears the status registers and puts the chips into read-array mode
    /// (they may have been left in another mode by an earlier program).
    pub fn init(&self) {
        self.bus.write32(0, command::CLEAR_STATUS);
        self.bus.write32(0, command::READ_ARRAY);
    }

    /// After a timeout, puts the chips back into read-array mode before
    /// the next request (they may have finished in the meantime).
    fn recover(&self) {
        if self.needs_reset.replace(false) {
            self.init();
        }
    }

    /// Sets how many deferred calls may find the chips busy before a
    /// request fails with [`Error::Timeout`] (at least 1).
    pub fn set_poll_limit(&self, deferred_calls: u32) {
        self.poll_limit.set(deferred_calls.max(1));
    }

    /// The bus.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        self.op.get() != Op::Idle
    }

    /// Copies `dst.len()` bytes from byte `offset` of the array (a word at
    /// a time, see [`copy_from_words`]: this is most of a KV get's flash
    /// work).
    fn copy_out(&self, offset: u32, dst: &mut [u8]) {
        self.bus.read_bytes(offset, dst);
    }

    /// Reads the status up to [`SPIN_POLLS`] times; `Some(status)` once
    /// both chips are ready.
    fn poll(&self, address: u32) -> Option<u32> {
        (0..SPIN_POLLS)
            .map(|_| self.bus.read32(address))
            .find(|s| s & status::READY == status::READY)
    }

    /// Clears the status and returns to read-array mode.
    fn end_command(&self, address: u32) {
        self.bus.write32(address, command::CLEAR_STATUS);
        self.bus.write32(address, command::READ_ARRAY);
    }

    fn complete_program(&self, len: usize, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        self.needs_reset.set(result == Err(Error::Timeout));
        if let Some(buf) = self.buffer.take() {
            self.client
                .map(|client| client.program_done(buf, len, result));
        }
    }

    fn complete_erase(&self, unit: u32, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        self.needs_reset.set(result == Err(Error::Timeout));
        self.client.map(|client| client.erase_done(unit, result));
    }

    /// Runs a program request for one deferred call: completes it, or
    /// saves where it stopped and sets the deferred call again.
    fn run_program(&self, offset: u32, len: usize, step: ProgramStep) {
        // The buffer is taken once for the whole call (not once per data
        // word): this loop is most of a KV set's flash work.
        let Some(buf) = self.buffer.take() else {
            // Cannot happen: a program request always holds its buffer.
            self.op.set(Op::Idle);
            return;
        };
        let step = self.program_steps(buf, offset, len, step);
        self.buffer.replace(buf);
        match step {
            ProgramStep::Done(result) => self.complete_program(len, result),
            step => {
                self.op.set(Op::Program { offset, len, step });
                self.deferred.set();
            }
        }
    }

    /// Advances a program of `buf[..len]` at `offset` from `step` until it
    /// is over ([`ProgramStep::Done`]) or this deferred call's budget (of
    /// words, or of status polls) is spent; returns where it stopped.
    fn program_steps(
        &self,
        buf: &[u8],
        offset: u32,
        len: usize,
        mut step: ProgramStep,
    ) -> ProgramStep {
        let mut budget = WORDS_PER_CALL;
        loop {
            step = match step {
                ProgramStep::Done(_) => return step,
                ProgramStep::Next { pos } if pos >= len => ProgramStep::Verify,
                ProgramStep::Next { pos } => {
                    // Words equal to what the flash holds (erased words
                    // included) are not programmed again.
                    let n = BATCH_WORDS.min((len - pos) / 4);
                    let mut mask = 0u32;
                    for i in 0..n {
                        let at = pos + 4 * i;
                        if self.bus.read32(offset + at as u32) != program_word(buf, at) {
                            mask |= 1 << i;
                        }
                    }
                    ProgramStep::Word {
                        batch: pos,
                        mask,
                        i: 0,
                    }
                }
                ProgramStep::Word { batch, mask, mut i } => {
                    let n = BATCH_WORDS.min((len - batch) / 4);
                    // The words of the batch that need programming, one
                    // after the other while the chips answer at once.
                    loop {
                        let Some(next) = (i..n).find(|&i| mask & 1 << i != 0) else {
                            // The chips stay in command/status mode through
                            // a batch: switching QEMU's pflash back to
                            // read-array mode remaps it, which costs far
                            // more than a program.
                            if mask != 0 {
                                self.end_command(offset + batch as u32);
                            }
                            break ProgramStep::Next { pos: batch + 4 * n };
                        };
                        if budget == 0 {
                            return ProgramStep::Word {
                                batch,
                                mask,
                                i: next,
                            };
                        }
                        budget -= 1;
                        let pos = batch + 4 * next;
                        let address = offset + pos as u32;
                        self.bus.write32(address, command::PROGRAM);
                        self.bus.write32(address, program_word(buf, pos));
                        match self.poll(address) {
                            Some(status) if status & status::ERRORS != 0 => {
                                self.end_command(address);
                                return ProgramStep::Done(Err(Error::ProgramFailed));
                            }
                            Some(_) => i = next + 1,
                            // Still busy: as the Busy step would, time out
                            // or poll again from the next deferred call.
                            None if self.poll_limit.get() <= 1 => {
                                self.end_command(address);
                                return ProgramStep::Done(Err(Error::Timeout));
                            }
                            None => {
                                return ProgramStep::Busy {
                                    batch,
                                    mask,
                                    i: next,
                                    polls: 1,
                                }
                            }
                        }
                    }
                }
                ProgramStep::Busy {
                    batch,
                    mask,
                    i,
                    polls,
                } => {
                    let address = offset + (batch + 4 * i) as u32;
                    let Some(status) = self.poll(address) else {
                        if polls + 1 >= self.poll_limit.get() {
                            self.end_command(address);
                            return ProgramStep::Done(Err(Error::Timeout));
                        }
                        return ProgramStep::Busy {
                            batch,
                            mask,
                            i,
                            polls: polls + 1,
                        };
                    };
                    if status & status::ERRORS != 0 {
                        self.end_command(address);
                        return ProgramStep::Done(Err(Error::ProgramFailed));
                    }
                    ProgramStep::Word {
                        batch,
                        mask,
                        i: i + 1,
                    }
                }
                ProgramStep::Verify => {
                    let ok = (0..len)
                        .step_by(4)
                        .all(|pos| self.bus.read32(offset + pos as u32) == program_word(buf, pos));
                    return ProgramStep::Done(if ok { Ok(()) } else { Err(Error::VerifyFailed) });
                }
            };
        }
    }

    /// Runs an erase request for one deferred call.
    fn run_erase(&self, unit: u32, mut step: EraseStep) {
        let base = unit * ERASE_UNIT;
        loop {
            match step {
                EraseStep::Busy { polls } => {
                    let Some(status) = self.poll(base) else {
                        if polls + 1 >= self.poll_limit.get() {
                            self.end_command(base);
                            return self.complete_erase(unit, Err(Error::Timeout));
                        }
                        let step = EraseStep::Busy { polls: polls + 1 };
                        self.op.set(Op::Erase { unit, step });
                        self.deferred.set();
                        return;
                    };
                    self.end_command(base);
                    if status & status::ERRORS != 0 {
                        return self.complete_erase(unit, Err(Error::EraseFailed));
                    }
                    step = EraseStep::Verify { word: 0 };
                }
                EraseStep::Verify { word } => {
                    let words = ERASE_UNIT / 4;
                    let end = words.min(word + VERIFY_WORDS_PER_CALL);
                    if (word..end).any(|w| self.bus.read32(base + 4 * w) != u32::MAX) {
                        return self.complete_erase(unit, Err(Error::EraseFailed));
                    }
                    if end == words {
                        return self.complete_erase(unit, Ok(()));
                    }
                    let step = EraseStep::Verify { word: end };
                    self.op.set(Op::Erase { unit, step });
                    self.deferred.set();
                    return;
                }
            }
        }
    }
}

impl<'a, B: PflashBus> Flash<'a> for Pflash<'a, B> {
    fn set_client(&self, client: &'a dyn FlashClient) {
        self.client.set(client);
    }

    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let buf = accept_request(self.is_busy(), &self.geometry, offset, buf, len, false)?;
        self.recover();
        self.copy_out(offset, &mut buf[..len]);
        self.buffer.replace(buf);
        self.op.set(Op::Read { len });
        self.deferred.set();
        Ok(())
    }

    fn read_now(&self, offset: u32, buf: &mut [u8]) -> Result<(), ErrorCode> {
        accept_read_now(self.is_busy(), &self.geometry, offset, buf.len())?;
        self.recover();
        self.copy_out(offset, buf);
        Ok(())
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let buf = accept_request(self.is_busy(), &self.geometry, offset, buf, len, true)?;
        self.recover();
        // Refuse the whole request, before anything is programmed, if some
        // word would need a cleared bit set again. The same pass notes the
        // words of the first batch that differ from the flash (a request of
        // up to a batch, such as every record of the store, reads each
        // word once before it is programmed, not twice).
        let mut first = 0u32;
        let mut sets_a_bit = false;
        for (i, pos) in (0..len).step_by(4).enumerate() {
            let (old, new) = (self.bus.read32(offset + pos as u32), program_word(buf, pos));
            sets_a_bit |= new & !old != 0;
            if i < BATCH_WORDS && old != new {
                first |= 1 << i;
            }
        }
        let step = if sets_a_bit {
            ProgramStep::Done(Err(Error::VerifyFailed))
        } else {
            ProgramStep::Word {
                batch: 0,
                mask: first,
                i: 0,
            }
        };
        self.buffer.replace(buf);
        self.op.set(Op::Program { offset, len, step });
        self.deferred.set();
        Ok(())
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        if self.is_busy() {
            return Err(ErrorCode::BUSY);
        }
        check_erase(&self.geometry, unit)?;
        self.recover();
        let base = unit * ERASE_UNIT;
        self.bus.write32(base, command::ERASE_SETUP);
        self.bus.write32(base, command::ERASE_CONFIRM);
        self.op.set(Op::Erase {
            unit,
            step: EraseStep::Busy { polls: 0 },
        });
        self.deferred.set();
        Ok(())
    }
}

impl<B: PflashBus> DeferredCallClient for Pflash<'_, B> {
    /// Advances the request in flight and completes it when done.
    fn handle_deferred_call(&self) {
        match self.op.get() {
            Op::Idle => {}
            Op::Read { len } => {
                self.op.set(Op::Idle);
                if let Some(buf) = self.buffer.take() {
                    self.client.map(|client| client.read_done(buf, len, Ok(())));
                }
            }
            Op::Program { offset, len, step } => self.run_program(offset, len, step),
            Op::Erase { unit, step } => self.run_erase(unit, step),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// The memory-mapped bus's bulk read over ordinary memory: the same
    /// bytes as word-by-word checked reads, for every offset and length,
    /// including reads that run past the end (erased bytes there).
    #[test]
    fn bulk_reads_match_checked_word_reads() {
        let words: Vec<u32> = (0..16u32)
            .map(|i| 0x0403_0201u32.wrapping_mul(i + 1))
            .collect();
        let size = (words.len() * 4) as u32;
        // SAFETY: `words` outlives the bus, is 4-byte aligned, and is only
        // read through it.
        let bus = unsafe { MmioPflashBus::new(words.as_ptr() as usize, size) };
        let image: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        for offset in 0..size + 6 {
            for len in 0..24usize {
                let mut fast = [0u8; 24];
                bus.read_bytes(offset, &mut fast[..len]);
                let mut slow = [0u8; 24];
                copy_from_words(offset, &mut slow[..len], |a| bus.read32(a));
                let want: Vec<u8> = (0..len)
                    .map(|i| image.get(offset as usize + i).copied().unwrap_or(0xFF))
                    .collect();
                assert_eq!(&fast[..len], &want[..], "offset {offset} len {len}");
                assert_eq!(&slow[..len], &want[..], "offset {offset} len {len}");
            }
        }
        // An offset so high that the end overflows: the checked path (the
        // driver never asks this: requests are checked against the size).
        let mut fast = [0u8; 8];
        bus.read_bytes(u32::MAX - 2, &mut fast);
        let mut slow = [0u8; 8];
        copy_from_words(u32::MAX - 2, &mut slow, |a| bus.read32(a));
        assert_eq!(fast, slow);
    }
}
