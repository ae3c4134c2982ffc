//! The NVMC (non-volatile memory controller): the nRF52840's internal
//! 1 MiB flash (or part of it) as a [`kernel::hil::flash::Flash`].
//!
//! # The hardware's rules
//!
//! * The flash is read like memory. Writing needs `CONFIG = WEN` and is
//!   done one aligned 32-bit word at a time (a byte or half-word write
//!   faults); a write can only clear bits, and a word may be written at
//!   most twice between erases (more breaks the specification's
//!   guarantees; a 512-byte block also has a total write budget).
//! * A 4 KiB page is erased by writing its address to `ERASEPAGE` with
//!   `CONFIG = EEN` (about 85 ms, the CPU stalls when it runs from
//!   flash), or in slices by `ERASEPAGEPARTIAL`, each lasting
//!   `ERASEPAGEPARTIALCFG` milliseconds, until they add up to a whole
//!   erase.
//! * `READY` is 0 while a write or erase is in progress; `CONFIG` may
//!   only be changed while it is 1.
//!
//! # The driver
//!
//! [`Nvmc`] works on a [`FlashArray`] (word reads and writes at byte
//! offsets of the part of flash the store uses; [`MmioFlash`] is the real
//! one) and the NVMC's registers. Geometry: 4 KiB erase units, program
//! unit 4, erase value `0xFF`.
//!
//! * **read**: copied out of the memory-mapped flash at once; the
//!   callback follows from the deferred call.
//! * **program**: if any word would need a bit set back to 1 nothing is
//!   written and the request fails with [`Error::VerifyFailed`]. Words
//!   already holding their value are skipped (no second write); the
//!   others are written with `CONFIG = WEN`, each after `READY`. When all
//!   are written, `CONFIG` returns to read-only and the range is read
//!   back ([`Error::VerifyFailed`] if it differs).
//! * **erase**: `ERASEPAGE` (or, with [`Nvmc::set_partial_erase`],
//!   enough `ERASEPAGEPARTIAL` slices for a whole erase, so the CPU is
//!   never stalled for one long piece), then the page is checked to read
//!   all `0xFF` ([`Error::EraseFailed`] if not).
//!
//! The work is done in deferred calls: up to [`WORDS_PER_CALL`] words
//! or one erase slice, and up to [`SPIN_POLLS`] reads of `READY`, per
//! call. After the poll limit of calls that found the NVMC busy
//! ([`DEFAULT_POLL_LIMIT`], [`Nvmc::set_poll_limit`]) a request fails
//! with [`Error::Timeout`]; the driver then returns `CONFIG` to read-only
//! as soon as the NVMC is ready again (before its next request). Every
//! accepted request ends in exactly one callback, from the deferred
//! call, with the driver idle.

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::flash::{
    accept_read_now, accept_request, check_erase, copy_from_words, needs_erase, program_word,
    Error, Flash, FlashClient, Geometry,
};
use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_cells::{OptionalCell, TakeCell};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

/// Address of the NVMC registers.
pub const NVMC_BASE: usize = 0x4001_E000;
/// Bytes in a flash page (the erase unit).
pub const PAGE: u32 = 4096;
/// Bytes of internal flash.
pub const FLASH_SIZE: u32 = 1 << 20;
/// Milliseconds a whole page erase takes (the specification's maximum
/// `t_ERASEPAGE`); partial erases add up to this.
pub const PAGE_ERASE_MS: u32 = 85;
/// Words a deferred call writes at most.
pub const WORDS_PER_CALL: usize = 64;
/// Words of an erased page a deferred call checks at most.
pub const VERIFY_WORDS_PER_CALL: u32 = 1024;
/// Reads of `READY` per deferred call before giving the kernel back.
pub const SPIN_POLLS: u32 = 32;
/// Deferred calls that may find the NVMC busy before a request times
/// out.
pub const DEFAULT_POLL_LIMIT: u32 = 100_000;

register_structs! {
    /// The NVMC registers.
    pub NvmcRegisters {
        (0x000 => _reserved0),
        /// 1 when no write or erase is in progress.
        (0x400 => ready: ReadOnly<u32>),
        (0x404 => _reserved1),
        /// What writes to the flash do.
        (0x504 => config: ReadWrite<u32, CONFIG::Register>),
        /// Erase the page at the address written.
        (0x508 => erasepage: ReadWrite<u32>),
        (0x50C => _reserved2),
        /// Erase the page at the address written for `erasepagepartialcfg`
        /// milliseconds.
        (0x518 => erasepagepartial: ReadWrite<u32>),
        /// Milliseconds of a partial erase.
        (0x51C => erasepagepartialcfg: ReadWrite<u32>),
        (0x520 => @END),
    }
}

register_bitfields![u32,
    /// Write / erase enable.
    CONFIG [
        /// Read only, write enabled, erase enabled.
        WEN OFFSET(0) NUMBITS(2) [Ren = 0, Wen = 1, Een = 2]
    ]
];

/// The NVMC registers (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const NVMC: StaticRef<NvmcRegisters> =
    // SAFETY: the nRF52840 maps the NVMC at `NVMC_BASE`.
    unsafe { StaticRef::new(NVMC_BASE as *const NvmcRegisters) };

/// Word access to the part of the flash a driver owns. Offsets are bytes
/// from [`base`](Self::base).
pub trait FlashArray {
    /// Address of the first byte (page aligned).
    fn base(&self) -> u32;
    /// Bytes owned (a multiple of [`PAGE`]).
    fn size(&self) -> u32;
    /// Reads the word at `offset` (a multiple of 4).
    fn read32(&self, offset: u32) -> u32;
    /// Writes the word at `offset` (a multiple of 4).
    fn write32(&self, offset: u32, value: u32);
}

impl<F: FlashArray + ?Sized> FlashArray for &F {
    fn base(&self) -> u32 {
        (**self).base()
    }
    fn size(&self) -> u32 {
        (**self).size()
    }
    fn read32(&self, offset: u32) -> u32 {
        (**self).read32(offset)
    }
    fn write32(&self, offset: u32, value: u32) {
        (**self).write32(offset, value)
    }
}

/// Pages of the memory-mapped internal flash. Accesses outside or not
/// aligned are dropped (reads give `0xFFFF_FFFF`).
#[derive(Clone, Copy, Debug)]
pub struct MmioFlash {
    base: u32,
    size: u32,
}

impl MmioFlash {
    /// `size` bytes of flash from `base`.
    ///
    /// # Safety
    ///
    /// `base .. base + size` must be internal flash, page aligned, that
    /// neither the kernel image nor any app uses, and that nothing else
    /// writes.
    pub const unsafe fn new(base: u32, size: u32) -> Self {
        MmioFlash { base, size }
    }

    fn address(&self, offset: u32) -> Option<usize> {
        let valid =
            offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.size);
        valid.then(|| (self.base + offset) as usize)
    }
}

impl FlashArray for MmioFlash {
    fn base(&self) -> u32 {
        self.base
    }

    fn size(&self) -> u32 {
        self.size
    }

    fn read32(&self, offset: u32) -> u32 {
        match self.address(offset) {
            // SAFETY: `new`'s contract: the range is flash, readable as
            // memory; `address` checked the word is inside and aligned.
            Some(a) => unsafe { core::ptr::read_volatile(a as *const u32) },
            None => u32::MAX,
        }
    }

    fn write32(&self, offset: u32, value: u32) {
        if let Some(a) = self.address(offset) {
            // SAFETY: as for `read32`; an aligned word write is what the
            // NVMC programs (with CONFIG = WEN, which the driver set), and
            // nothing else uses these pages.
            unsafe { core::ptr::write_volatile(a as *mut u32, value) }
        }
    }
}

/// Where an erase is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EraseStep {
    /// Waiting for `READY` to issue the next (partial) erase; `slices`
    /// partial erases left (1 for a whole erase).
    Issue { slices: u32 },
    /// An erase (slice) is in progress.
    Busy { slices: u32 },
    /// Checking the page from word `word`.
    Verify { word: u32 },
}

/// The request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Idle,
    Read {
        len: usize,
    },
    Program {
        offset: u32,
        len: usize,
        pos: usize,
    },
    Erase {
        unit: u32,
        step: EraseStep,
    },
    /// Decided when accepted; only the callback is left.
    ProgramDone {
        len: usize,
        result: Result<(), Error>,
    },
}

/// The NVMC driver; see the [module docs](self).
pub struct Nvmc<'a, F: FlashArray> {
    regs: StaticRef<NvmcRegisters>,
    array: F,
    geometry: Geometry,
    deferred: DeferredCall,
    client: OptionalCell<&'a dyn FlashClient>,
    buffer: TakeCell<'static, [u8]>,
    op: Cell<Op>,
    /// Deferred calls of this request that found the NVMC busy.
    busy_calls: Cell<u32>,
    poll_limit: Cell<u32>,
    /// Milliseconds of a partial erase, if erases are sliced.
    partial_ms: Cell<Option<u32>>,
    /// A request timed out with `CONFIG` possibly not read-only.
    needs_reset: Cell<bool>,
}

impl<'a, F: FlashArray> Nvmc<'a, F> {
    /// A driver for `array`, doing its work from `deferred`. Bind the
    /// deferred call with
    /// [`register_deferred_call`](Self::register_deferred_call).
    pub fn new(regs: StaticRef<NvmcRegisters>, array: F, deferred: DeferredCall) -> Self {
        Nvmc {
            regs,
            geometry: Geometry {
                erase_unit: PAGE,
                erase_units: array.size() / PAGE,
                program_unit: 4,
                erase_value: 0xFF,
            },
            array,
            deferred,
            client: OptionalCell::empty(),
            buffer: TakeCell::empty(),
            op: Cell::new(Op::Idle),
            busy_calls: Cell::new(0),
            poll_limit: Cell::new(DEFAULT_POLL_LIMIT),
            partial_ms: Cell::new(None),
            needs_reset: Cell::new(false),
        }
    }

    /// Makes this driver the client of its deferred call.
    pub fn register_deferred_call(&'static self) {
        self.deferred.set_client(self);
    }

    /// Erases in slices of `ms` milliseconds (1 to 85) through
    /// `ERASEPAGEPARTIAL`, or whole pages (`None`, the default).
    pub fn set_partial_erase(&self, ms: Option<u32>) {
        self.partial_ms.set(ms.map(|ms| ms.clamp(1, PAGE_ERASE_MS)));
    }

    /// Sets how many deferred calls may find the NVMC busy before a
    /// request fails with [`Error::Timeout`] (at least 1).
    pub fn set_poll_limit(&self, calls: u32) {
        self.poll_limit.set(calls.max(1));
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        self.op.get() != Op::Idle
    }

    /// The flash array.
    pub fn array(&self) -> &F {
        &self.array
    }

    /// Up to [`SPIN_POLLS`] reads of `READY`.
    fn ready(&self) -> bool {
        (0..SPIN_POLLS).any(|_| self.regs.ready.get() & 1 != 0)
    }

    /// Counts a call that found the NVMC busy; false once the request
    /// has timed out.
    fn still_waiting(&self) -> bool {
        let calls = self.busy_calls.get() + 1;
        self.busy_calls.set(calls);
        calls < self.poll_limit.get()
    }

    /// Returns `CONFIG` to read-only after a timeout, once ready.
    fn recover(&self) -> bool {
        if self.needs_reset.get() {
            if !self.ready() {
                return false;
            }
            self.regs.config.write(CONFIG::WEN::Ren);
            self.needs_reset.set(false);
        }
        true
    }

    /// The data word at byte `pos` of the buffer in flight (`u32::MAX`,
    /// which writes nothing, if there is none).
    fn data_word(&self, pos: usize) -> u32 {
        self.buffer
            .map(|buf| program_word(buf, pos))
            .unwrap_or(u32::MAX)
    }

    fn finish_program(&self, len: usize, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        if let Some(buf) = self.buffer.take() {
            self.client.map(|c| c.program_done(buf, len, result));
        }
    }

    fn finish_erase(&self, unit: u32, result: Result<(), Error>) {
        self.op.set(Op::Idle);
        self.client.map(|c| c.erase_done(unit, result));
    }

    /// Times a request out: `CONFIG` goes back to read-only once the
    /// NVMC is ready.
    fn time_out(&self) {
        self.needs_reset.set(true);
        self.recover();
    }

    fn step_program(&self, offset: u32, len: usize, mut pos: usize) {
        if !self.recover() || !self.ready() {
            if !self.still_waiting() {
                self.time_out();
                self.finish_program(len, Err(Error::Timeout));
            } else {
                self.op.set(Op::Program { offset, len, pos });
                self.deferred.set();
            }
            return;
        }
        let mut written = 0;
        while pos < len && written < WORDS_PER_CALL {
            let at = offset + pos as u32;
            let word = self.data_word(pos);
            if self.array.read32(at) != word {
                if !self.ready() {
                    // Still busy with the last word: CONFIG stays WEN.
                    self.op.set(Op::Program { offset, len, pos });
                    self.deferred.set();
                    return;
                }
                self.regs.config.write(CONFIG::WEN::Wen);
                self.array.write32(at, word);
                written += 1;
            }
            pos += 4;
        }
        if pos < len || !self.ready() {
            self.op.set(Op::Program { offset, len, pos });
            self.deferred.set();
            return;
        }
        self.regs.config.write(CONFIG::WEN::Ren);
        let verified = (0..len)
            .step_by(4)
            .all(|p| self.array.read32(offset + p as u32) == self.data_word(p));
        let result = if verified {
            Ok(())
        } else {
            Err(Error::VerifyFailed)
        };
        self.finish_program(len, result);
    }

    fn step_erase(&self, unit: u32, step: EraseStep) {
        let next = match step {
            EraseStep::Issue { slices } | EraseStep::Busy { slices } => {
                if !self.recover() || !self.ready() {
                    if !self.still_waiting() {
                        self.time_out();
                        self.finish_erase(unit, Err(Error::Timeout));
                        return;
                    }
                    step
                } else if let EraseStep::Issue { slices } = step {
                    let address = self.array.base() + unit * PAGE;
                    self.regs.config.write(CONFIG::WEN::Een);
                    match self.partial_ms.get() {
                        Some(ms) => {
                            self.regs.erasepagepartialcfg.set(ms);
                            self.regs.erasepagepartial.set(address);
                        }
                        None => self.regs.erasepage.set(address),
                    }
                    // READY is checked from the next call on.
                    EraseStep::Busy { slices }
                } else if slices > 1 {
                    EraseStep::Issue { slices: slices - 1 }
                } else {
                    self.regs.config.write(CONFIG::WEN::Ren);
                    EraseStep::Verify { word: 0 }
                }
            }
            EraseStep::Verify { word } => {
                let end = (word + VERIFY_WORDS_PER_CALL).min(PAGE / 4);
                let base = unit * PAGE;
                if !(word..end).all(|w| self.array.read32(base + 4 * w) == u32::MAX) {
                    self.finish_erase(unit, Err(Error::EraseFailed));
                    return;
                }
                if end == PAGE / 4 {
                    self.finish_erase(unit, Ok(()));
                    return;
                }
                EraseStep::Verify { word: end }
            }
        };
        self.op.set(Op::Erase { unit, step: next });
        self.deferred.set();
    }
}

impl<'a, F: FlashArray> Flash<'a> for Nvmc<'a, F> {
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
        copy_from_words(offset, &mut buf[..len], |a| self.array.read32(a));
        self.buffer.replace(buf);
        self.op.set(Op::Read { len });
        self.deferred.set();
        Ok(())
    }

    fn read_now(&self, offset: u32, buf: &mut [u8]) -> Result<(), ErrorCode> {
        accept_read_now(self.is_busy(), &self.geometry, offset, buf.len())?;
        copy_from_words(offset, buf, |a| self.array.read32(a));
        Ok(())
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let buf = accept_request(self.is_busy(), &self.geometry, offset, buf, len, true)?;
        let sets_a_bit = needs_erase(&buf[..len], |o| self.array.read32(offset + o));
        self.buffer.replace(buf);
        self.busy_calls.set(0);
        self.op.set(if sets_a_bit {
            Op::ProgramDone {
                len,
                result: Err(Error::VerifyFailed),
            }
        } else {
            Op::Program {
                offset,
                len,
                pos: 0,
            }
        });
        self.deferred.set();
        Ok(())
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        if self.is_busy() {
            return Err(ErrorCode::BUSY);
        }
        check_erase(&self.geometry, unit)?;
        self.busy_calls.set(0);
        let slices = self
            .partial_ms
            .get()
            .map_or(1, |ms| PAGE_ERASE_MS.div_ceil(ms));
        self.op.set(Op::Erase {
            unit,
            step: EraseStep::Issue { slices },
        });
        self.deferred.set();
        Ok(())
    }
}

impl<F: FlashArray> DeferredCallClient for Nvmc<'_, F> {
    fn handle_deferred_call(&self) {
        match self.op.get() {
            Op::Idle => {}
            Op::Read { len } => {
                self.op.set(Op::Idle);
                if let Some(buf) = self.buffer.take() {
                    self.client.map(|c| c.read_done(buf, len, Ok(())));
                }
            }
            Op::ProgramDone { len, result } => self.finish_program(len, result),
            Op::Program { offset, len, pos } => self.step_program(offset, len, pos),
            Op::Erase { unit, step } => self.step_erase(unit, step),
        }
    }
}
