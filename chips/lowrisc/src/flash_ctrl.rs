//! The embedded flash controller (`flash_ctrl`) as a
//! [`kernel::hil::flash::Flash`] over one partition of the data flash.
//!
//! # The part
//!
//! Earl Grey's embedded flash is two banks of 256 pages of 2 KiB (1 MiB,
//! readable by the CPU at `0x2000_0000`). The array stores 64-bit flash
//! words, each with its own ECC: **with ECC on, a flash word may be
//! programmed once between erases** (a second program corrupts the ECC).
//! The controller is driven through registers:
//!
//! * an operation is described by `ADDR` (byte address in the flash) and
//!   `CONTROL` (operation, number of 32-bit bus words minus one, partition,
//!   start);
//! * a program takes its data from the program FIFO (`PROG_FIFO`, 16 bus
//!   words); a program may not cross a 64-byte *program window* (16 bus
//!   words, 8 flash words): the controller refuses it with
//!   `ERR_CODE.PROG_WIN_ERR`;
//! * a read delivers its data into the read FIFO (`RD_FIFO`, 16 bus words),
//!   which software drains while the operation runs;
//! * a page erase takes the address of any byte in the page;
//! * completion shows in `OP_STATUS` (`DONE`, `ERR`; software clears it)
//!   and in the `OP_DONE` interrupt; `ERR_CODE` says why an operation
//!   failed (write 1 to clear);
//! * eight memory-protection regions (`MP_REGION` base and size in pages,
//!   `MP_REGION_CFG` enable, read, program, erase, scramble, ECC and
//!   high-endurance, each a 4-bit multi-bit boolean) decide what the
//!   controller may do where; pages in no enabled region follow
//!   `DEFAULT_REGION`. A denied operation fails with `ERR_CODE.MP_ERR`.
//!
//! # The driver
//!
//! [`FlashCtrl`] exposes `pages` pages from `first_page` on (a
//! [`Partition`]) with erase unit 2 KiB, program unit 8 bytes (one flash
//! word) and erase value `0xFF`. [`FlashCtrl::init`] configures one
//! memory-protection region over exactly that partition (read, program,
//! erase, ECC on; scrambling and high endurance off), so the controller
//! itself refuses anything outside it.
//!
//! Every request runs as a sequence of controller operations, one at a
//! time, advanced from the driver's deferred call (never inside `read`,
//! `program` or `erase`), with the FIFOs polled:
//!
//! * **read**: controller reads of up to 16 bus words covering the range
//!   (rounded out to bus words), copied into the buffer. Reads go through
//!   the controller, not the memory window, so an ECC error becomes
//!   [`Error::ReadFailed`] instead of a bus fault in the kernel.
//! * **program**: first the range is read and must be erased (all `0xFF`),
//!   else the request fails with [`Error::VerifyFailed`] and nothing is
//!   programmed (a flash word is never programmed twice, whatever the
//!   data); then it is programmed window by window (each operation inside
//!   one 64-byte window, its words pushed into the program FIFO); then it
//!   is read back ([`Error::VerifyFailed`] if it differs). Every word of
//!   the request is programmed, `0xFF` words included, exactly once.
//! * **erase**: a page erase, then a read of the page, which must be all
//!   `0xFF` ([`Error::EraseFailed`] if not).
//!
//! A controller error (`OP_STATUS.ERR`) fails the request with the error
//! of its kind ([`Error::ReadFailed`], [`Error::ProgramFailed`],
//! [`Error::EraseFailed`]); the `ERR_CODE` bits are kept for
//! [`FlashCtrl::last_error_code`]. An operation that shows no progress
//! for [`DEFAULT_POLL_LIMIT`] polls (see [`FlashCtrl::set_poll_limit`])
//! fails with [`Error::Timeout`]; the FIFOs are reset before the next
//! request. Every accepted request ends in exactly one callback, with the
//! driver idle again.
//!
//! A controller that does not answer like one (its `STATUS` does not show
//! both FIFOs empty at [`FlashCtrl::init`], as in QEMU's `-M opentitan`,
//! where flash_ctrl is a stub reading 0) leaves the driver off: every
//! request is refused with `OFF` at once rather than waiting forever.
//!
//! The driver works over the [`FlashCtrlBus`] trait (register reads and
//! writes by name), so its logic is host-tested against a register model
//! of the controller (`tests/flash_ctrl.rs`); [`Mmio`] is the real
//! register block.

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::flash::{accept_request, check_erase, Error, Flash, FlashClient, Geometry};
use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_cells::{OptionalCell, TakeCell};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

/// Bytes in a page, the erase unit.
pub const PAGE_SIZE: u32 = 2048;
/// Pages in the data partition of both banks (Earl Grey: 1 MiB, read by
/// the CPU at `0x2000_0000`).
pub const PAGES: u32 = 512;
/// Bytes in a flash word, the program unit (each has its own ECC).
pub const FLASH_WORD: u32 = 8;
/// Bytes in a bus word, the unit of the FIFOs and of `CONTROL.NUM`.
pub const BUS_WORD: u32 = 4;
/// Bytes in a program window: a program may not cross one.
pub const PROGRAM_WINDOW: u32 = 64;
/// Bus words in each of the program and read FIFOs.
pub const FIFO_WORDS: u32 = 16;
/// Memory-protection regions of the data partition.
pub const MP_REGIONS: usize = 8;
/// Loop steps (FIFO moves or status polls) a deferred call runs at most.
pub const STEPS_PER_CALL: u32 = 64;
/// Polls without progress before a request fails with
/// [`Error::Timeout`].
pub const DEFAULT_POLL_LIMIT: u32 = 1_000_000;

/// The 4-bit multi-bit booleans of the memory-protection registers.
pub mod mubi4 {
    /// True.
    pub const TRUE: u32 = 0x6;
    /// False.
    pub const FALSE: u32 = 0x9;
}

register_structs! {
    /// The controller registers the driver uses.
    pub FlashCtrlRegisters {
        (0x000 => intr_state: ReadWrite<u32, INTR::Register>),
        (0x004 => intr_enable: ReadWrite<u32, INTR::Register>),
        (0x008 => _reserved0),
        (0x018 => init: ReadWrite<u32>),
        (0x01c => _reserved1),
        (0x020 => control: ReadWrite<u32, CONTROL::Register>),
        (0x024 => addr: ReadWrite<u32>),
        (0x028 => prog_type_en: ReadWrite<u32>),
        (0x02c => _reserved2),
        (0x050 => mp_region_cfg: [ReadWrite<u32, MP_REGION_CFG::Register>; MP_REGIONS]),
        (0x070 => mp_region: [ReadWrite<u32, MP_REGION::Register>; MP_REGIONS]),
        (0x090 => default_region: ReadWrite<u32>),
        (0x094 => _reserved3),
        (0x170 => op_status: ReadWrite<u32, OP_STATUS::Register>),
        (0x174 => status: ReadOnly<u32, STATUS::Register>),
        (0x178 => _reserved4),
        (0x17c => err_code: ReadWrite<u32, ERR_CODE::Register>),
        (0x180 => _reserved5),
        (0x188 => err_addr: ReadOnly<u32>),
        (0x18c => _reserved6),
        (0x1a8 => fifo_rst: ReadWrite<u32>),
        (0x1ac => _reserved7),
        (0x1b0 => prog_fifo: WriteOnly<u32>),
        (0x1b4 => rd_fifo: ReadOnly<u32>),
        (0x1b8 => @END),
    }
}

register_bitfields![u32,
    /// Interrupt state and enable bits.
    INTR [
        /// The program FIFO is empty.
        PROG_EMPTY OFFSET(0) NUMBITS(1) [],
        /// The read FIFO is full.
        RD_FULL OFFSET(2) NUMBITS(1) [],
        /// An operation finished.
        OP_DONE OFFSET(4) NUMBITS(1) [],
        /// A correctable ECC error was seen.
        CORR_ERR OFFSET(5) NUMBITS(1) [],
    ],
    /// The operation to run.
    CONTROL [
        /// Starts the operation.
        START OFFSET(0) NUMBITS(1) [],
        /// What to do.
        OP OFFSET(4) NUMBITS(2) [
            /// Read into the read FIFO.
            READ = 0,
            /// Program from the program FIFO.
            PROG = 1,
            /// Erase.
            ERASE = 2,
        ],
        /// Normal program or repair program.
        PROG_SEL OFFSET(6) NUMBITS(1) [],
        /// Page erase (0) or bank erase (1).
        ERASE_SEL OFFSET(7) NUMBITS(1) [],
        /// Data (0) or info (1) partition.
        PARTITION_SEL OFFSET(8) NUMBITS(1) [],
        /// Which info partition.
        INFO_SEL OFFSET(9) NUMBITS(2) [],
        /// Bus words to read or program, minus one.
        NUM OFFSET(16) NUMBITS(12) [],
    ],
    /// A memory-protection region's properties (multi-bit booleans).
    MP_REGION_CFG [
        /// The region is enabled.
        EN OFFSET(0) NUMBITS(4) [],
        /// Reads allowed.
        RD_EN OFFSET(4) NUMBITS(4) [],
        /// Programs allowed.
        PROG_EN OFFSET(8) NUMBITS(4) [],
        /// Erases allowed.
        ERASE_EN OFFSET(12) NUMBITS(4) [],
        /// Scrambling on.
        SCRAMBLE_EN OFFSET(16) NUMBITS(4) [],
        /// ECC on.
        ECC_EN OFFSET(20) NUMBITS(4) [],
        /// High-endurance mode.
        HE_EN OFFSET(24) NUMBITS(4) [],
    ],
    /// A memory-protection region's pages.
    MP_REGION [
        /// First page (over both banks).
        BASE OFFSET(0) NUMBITS(9) [],
        /// Number of pages.
        SIZE OFFSET(9) NUMBITS(10) [],
    ],
    /// Operation status (software clears it).
    OP_STATUS [
        /// The operation finished.
        DONE OFFSET(0) NUMBITS(1) [],
        /// The operation failed (see `ERR_CODE`).
        ERR OFFSET(1) NUMBITS(1) [],
    ],
    /// Controller status.
    STATUS [
        /// The read FIFO is full.
        RD_FULL OFFSET(0) NUMBITS(1) [],
        /// The read FIFO is empty.
        RD_EMPTY OFFSET(1) NUMBITS(1) [],
        /// The program FIFO is full.
        PROG_FULL OFFSET(2) NUMBITS(1) [],
        /// The program FIFO is empty.
        PROG_EMPTY OFFSET(3) NUMBITS(1) [],
        /// Initialisation is running.
        INIT_WIP OFFSET(4) NUMBITS(1) [],
        /// The controller is initialised.
        INITIALIZED OFFSET(5) NUMBITS(1) [],
    ],
    /// Why the last operation failed (write 1 to clear).
    ERR_CODE [
        /// Undefined operation.
        OP_ERR OFFSET(0) NUMBITS(1) [],
        /// Denied by memory protection.
        MP_ERR OFFSET(1) NUMBITS(1) [],
        /// Read error (uncorrectable ECC, integrity).
        RD_ERR OFFSET(2) NUMBITS(1) [],
        /// Program error (including a second program of an ECC word).
        PROG_ERR OFFSET(3) NUMBITS(1) [],
        /// The program crosses a program window.
        PROG_WIN_ERR OFFSET(4) NUMBITS(1) [],
        /// The program type is not enabled.
        PROG_TYPE_ERR OFFSET(5) NUMBITS(1) [],
        /// A shadow register update failed.
        UPDATE_ERR OFFSET(6) NUMBITS(1) [],
        /// The flash macro reported an error.
        MACRO_ERR OFFSET(7) NUMBITS(1) [],
    ],
];

/// The registers the driver reads and writes, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// `INTR_STATE` (write 1 to clear).
    IntrState,
    /// `INTR_ENABLE`.
    IntrEnable,
    /// `INIT`: write 1 to initialise the controller.
    Init,
    /// `CONTROL`.
    Control,
    /// `ADDR`: byte address of the operation.
    Addr,
    /// `PROG_TYPE_EN`: bit 0 enables normal programs.
    ProgTypeEn,
    /// `MP_REGION_CFG_n`.
    MpRegionCfg(usize),
    /// `MP_REGION_n`.
    MpRegion(usize),
    /// `DEFAULT_REGION`.
    DefaultRegion,
    /// `OP_STATUS`.
    OpStatus,
    /// `STATUS`.
    Status,
    /// `ERR_CODE` (write 1 to clear).
    ErrCode,
    /// `ERR_ADDR`.
    ErrAddr,
    /// `FIFO_RST`: 1 holds both FIFOs in reset.
    FifoRst,
    /// `PROG_FIFO` (write only).
    ProgFifo,
    /// `RD_FIFO` (read only; a read pops a word).
    RdFifo,
}

impl Reg {
    /// The register's offset from the controller's base address.
    pub const fn offset(self) -> usize {
        match self {
            Reg::IntrState => 0x000,
            Reg::IntrEnable => 0x004,
            Reg::Init => 0x018,
            Reg::Control => 0x020,
            Reg::Addr => 0x024,
            Reg::ProgTypeEn => 0x028,
            Reg::MpRegionCfg(n) => 0x050 + 4 * n,
            Reg::MpRegion(n) => 0x070 + 4 * n,
            Reg::DefaultRegion => 0x090,
            Reg::OpStatus => 0x170,
            Reg::Status => 0x174,
            Reg::ErrCode => 0x17c,
            Reg::ErrAddr => 0x188,
            Reg::FifoRst => 0x1a8,
            Reg::ProgFifo => 0x1b0,
            Reg::RdFifo => 0x1b4,
        }
    }
}

/// Register access to a flash controller.
pub trait FlashCtrlBus {
    /// Reads `reg` (reading [`Reg::RdFifo`] pops a word).
    fn read(&self, reg: Reg) -> u32;
    /// Writes `value` to `reg`.
    fn write(&self, reg: Reg, value: u32);
}

/// The memory-mapped controller.
#[derive(Clone, Copy, Debug)]
pub struct Mmio(StaticRef<FlashCtrlRegisters>);

impl Mmio {
    /// The controller whose registers are at `regs`.
    pub const fn new(regs: StaticRef<FlashCtrlRegisters>) -> Self {
        Mmio(regs)
    }
}

impl FlashCtrlBus for Mmio {
    fn read(&self, reg: Reg) -> u32 {
        let r = &self.0;
        match reg {
            Reg::IntrState => r.intr_state.get(),
            Reg::IntrEnable => r.intr_enable.get(),
            Reg::Init => r.init.get(),
            Reg::Control => r.control.get(),
            Reg::Addr => r.addr.get(),
            Reg::ProgTypeEn => r.prog_type_en.get(),
            Reg::MpRegionCfg(n) => r.mp_region_cfg.get(n).map_or(0, Readable::get),
            Reg::MpRegion(n) => r.mp_region.get(n).map_or(0, Readable::get),
            Reg::DefaultRegion => r.default_region.get(),
            Reg::OpStatus => r.op_status.get(),
            Reg::Status => r.status.get(),
            Reg::ErrCode => r.err_code.get(),
            Reg::ErrAddr => r.err_addr.get(),
            Reg::FifoRst => r.fifo_rst.get(),
            Reg::ProgFifo => 0,
            Reg::RdFifo => r.rd_fifo.get(),
        }
    }

    fn write(&self, reg: Reg, value: u32) {
        let r = &self.0;
        match reg {
            Reg::IntrState => r.intr_state.set(value),
            Reg::IntrEnable => r.intr_enable.set(value),
            Reg::Init => r.init.set(value),
            Reg::Control => r.control.set(value),
            Reg::Addr => r.addr.set(value),
            Reg::ProgTypeEn => r.prog_type_en.set(value),
            Reg::MpRegionCfg(n) => {
                if let Some(cfg) = r.mp_region_cfg.get(n) {
                    cfg.set(value)
                }
            }
            Reg::MpRegion(n) => {
                if let Some(region) = r.mp_region.get(n) {
                    region.set(value)
                }
            }
            Reg::DefaultRegion => r.default_region.set(value),
            Reg::OpStatus => r.op_status.set(value),
            Reg::ErrCode => r.err_code.set(value),
            Reg::FifoRst => r.fifo_rst.set(value),
            Reg::ProgFifo => r.prog_fifo.set(value),
            Reg::Status | Reg::ErrAddr | Reg::RdFifo => {}
        }
    }
}

/// The pages the driver exposes and the memory-protection region that
/// guards them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// First page (0-511 over both banks).
    pub first_page: u32,
    /// Number of pages.
    pub pages: u32,
    /// The memory-protection region (0-7) configured for it.
    pub region: usize,
}

impl Partition {
    /// Whether the partition lies inside the flash and names a region.
    pub const fn is_valid(&self) -> bool {
        self.pages > 0
            && self.first_page < PAGES
            && self.pages <= PAGES - self.first_page
            && self.region < MP_REGIONS
    }

    /// The `MP_REGION` value covering the partition.
    pub fn mp_region(&self) -> u32 {
        (MP_REGION::BASE.val(self.first_page) + MP_REGION::SIZE.val(self.pages)).value
    }

    /// The `MP_REGION_CFG` value: enabled, read, program, erase and ECC
    /// on; scrambling and high endurance off.
    pub fn mp_region_cfg(&self) -> u32 {
        (MP_REGION_CFG::EN.val(mubi4::TRUE)
            + MP_REGION_CFG::RD_EN.val(mubi4::TRUE)
            + MP_REGION_CFG::PROG_EN.val(mubi4::TRUE)
            + MP_REGION_CFG::ERASE_EN.val(mubi4::TRUE)
            + MP_REGION_CFG::SCRAMBLE_EN.val(mubi4::FALSE)
            + MP_REGION_CFG::ECC_EN.val(mubi4::TRUE)
            + MP_REGION_CFG::HE_EN.val(mubi4::FALSE))
        .value
    }
}

/// What a request is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for an operation a timed-out request left running.
    Drain,
    /// Reading the range into the client's buffer.
    Copy,
    /// Reading the range, which must be erased.
    BlankCheck,
    /// Programming the range from the client's buffer.
    Program,
    /// Reading the range back, which must equal the client's buffer.
    Verify,
    /// Erasing the page.
    Erase,
}

/// The kind of request, which decides its phases and its callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Program,
    Erase,
}

/// The request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Job {
    kind: Kind,
    /// What the client asked for (for an erase: the unit's range).
    offset: u32,
    len: u32,
    /// The range the phases walk: `offset .. offset + len` rounded out to
    /// bus words (partition-relative).
    start: u32,
    end: u32,
    phase: Phase,
    /// Bytes of the phase done, from `start`.
    pos: u32,
    /// A word of a check phase did not hold what it must.
    mismatch: bool,
}

/// A controller operation in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cmd {
    /// Bus words the operation moves (0 for an erase).
    words: u32,
    /// Bus words read out of the read FIFO so far.
    moved: u32,
    /// Polls in a row that saw no progress.
    polls: u32,
}

/// The flash_ctrl driver; see the [module docs](self).
pub struct FlashCtrl<'a, B: FlashCtrlBus> {
    bus: B,
    partition: Partition,
    geometry: Geometry,
    deferred: DeferredCall,
    client: OptionalCell<&'a dyn FlashClient>,
    buffer: TakeCell<'static, [u8]>,
    job: Cell<Option<Job>>,
    cmd: Cell<Option<Cmd>>,
    /// `init` found a working controller and configured the region.
    ready: Cell<bool>,
    poll_limit: Cell<u32>,
    /// A request timed out: reset the FIFOs before the next one.
    needs_reset: Cell<bool>,
    last_error: Cell<u32>,
}

impl<'a, B: FlashCtrlBus> FlashCtrl<'a, B> {
    /// A driver for `partition` of the controller behind `bus`, doing its
    /// work from `deferred`. An invalid partition exposes nothing (every
    /// request is refused). Bind the deferred call with
    /// [`register_deferred_call`](Self::register_deferred_call) and call
    /// [`init`](Self::init) before the first request.
    pub fn new(bus: B, partition: Partition, deferred: DeferredCall) -> Self {
        let pages = if partition.is_valid() {
            partition.pages
        } else {
            0
        };
        FlashCtrl {
            bus,
            partition,
            geometry: Geometry {
                erase_unit: PAGE_SIZE,
                erase_units: pages,
                program_unit: FLASH_WORD,
                erase_value: 0xFF,
            },
            deferred,
            client: OptionalCell::empty(),
            buffer: TakeCell::empty(),
            job: Cell::new(None),
            cmd: Cell::new(None),
            ready: Cell::new(false),
            poll_limit: Cell::new(DEFAULT_POLL_LIMIT),
            needs_reset: Cell::new(false),
            last_error: Cell::new(0),
        }
    }

    /// Makes this driver the client of its deferred call.
    pub fn register_deferred_call(&'static self) {
        self.deferred.set_client(self);
    }

    /// Checks that the controller answers, starts its initialisation if
    /// nobody did, and configures the partition's memory-protection
    /// region. `NODEVICE` if `STATUS` does not show both FIFOs empty (no
    /// working controller: the driver stays off), `FAIL` if the region's
    /// registers do not take the configuration (locked), `INVAL` for an
    /// invalid partition.
    pub fn init(&self) -> Result<(), ErrorCode> {
        self.ready.set(false);
        if !self.partition.is_valid() {
            return Err(ErrorCode::INVAL);
        }
        let status = self.bus.read(Reg::Status);
        let idle = (STATUS::RD_EMPTY::SET + STATUS::PROG_EMPTY::SET).value;
        if status & idle != idle {
            return Err(ErrorCode::NODEVICE);
        }
        if status & (STATUS::INITIALIZED::SET + STATUS::INIT_WIP::SET).value == 0 {
            self.bus.write(Reg::Init, 1);
        }
        let region = self.partition.region;
        self.bus
            .write(Reg::MpRegion(region), self.partition.mp_region());
        self.bus
            .write(Reg::MpRegionCfg(region), self.partition.mp_region_cfg());
        if self.bus.read(Reg::MpRegion(region)) != self.partition.mp_region()
            || self.bus.read(Reg::MpRegionCfg(region)) != self.partition.mp_region_cfg()
        {
            return Err(ErrorCode::FAIL);
        }
        self.bus.write(Reg::ProgTypeEn, 1);
        // Polled: no controller interrupt is needed.
        self.bus.write(Reg::IntrEnable, 0);
        self.clear_status();
        self.ready.set(true);
        Ok(())
    }

    /// Sets how many polls without progress a request waits before it
    /// fails with [`Error::Timeout`] (at least 1).
    pub fn set_poll_limit(&self, polls: u32) {
        self.poll_limit.set(polls.max(1));
    }

    /// The `ERR_CODE` bits of the last failed operation (0 if none
    /// failed).
    pub fn last_error_code(&self) -> u32 {
        self.last_error.get()
    }

    /// The partition.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The bus.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// Whether a request is in flight.
    pub fn is_busy(&self) -> bool {
        self.job.get().is_some()
    }

    /// Clears `OP_STATUS`, `ERR_CODE` and the `OP_DONE` interrupt.
    fn clear_status(&self) {
        self.bus.write(Reg::OpStatus, 0);
        self.bus.write(Reg::ErrCode, u32::MAX);
        self.bus.write(
            Reg::IntrState,
            INTR::OP_DONE::SET.value | INTR::CORR_ERR::SET.value,
        );
    }

    /// Byte address in the flash of partition offset `offset`.
    fn flash_address(&self, offset: u32) -> u32 {
        self.partition.first_page * PAGE_SIZE + offset
    }

    /// Refuses a request when busy or off.
    fn admit(&self) -> Result<(), ErrorCode> {
        if self.is_busy() {
            return Err(ErrorCode::BUSY);
        }
        if !self.ready.get() {
            return Err(ErrorCode::OFF);
        }
        Ok(())
    }

    /// A read or program request the driver can take: [`admit`] and the
    /// shared range check (`accept_request`), the buffer back otherwise.
    ///
    /// [`admit`]: Self::admit
    fn accept(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
        aligned: bool,
    ) -> Result<&'static mut [u8], (ErrorCode, &'static mut [u8])> {
        if let Err(code) = self.admit() {
            return Err((code, buf));
        }
        accept_request(false, &self.geometry, offset, buf, len, aligned)
    }

    /// Starts `job` (after a timeout: first waits for the operation left
    /// running), then lets the deferred call run it.
    fn launch(&self, mut job: Job) {
        if self.needs_reset.get() {
            job.phase = Phase::Drain;
        }
        self.cmd.set(None);
        self.job.set(Some(job));
        self.deferred.set();
    }

    /// Ends the request in flight with `result` (one callback).
    fn finish(&self, job: Job, result: Result<(), Error>) {
        self.job.set(None);
        self.cmd.set(None);
        if result == Err(Error::Timeout) {
            self.needs_reset.set(true);
        }
        match job.kind {
            Kind::Erase => {
                let unit = job.offset / PAGE_SIZE;
                self.client.map(|client| client.erase_done(unit, result));
            }
            Kind::Read | Kind::Program => {
                if let Some(buf) = self.buffer.take() {
                    let len = job.len as usize;
                    self.client.map(|client| match job.kind {
                        Kind::Read => client.read_done(buf, len, result),
                        _ => client.program_done(buf, len, result),
                    });
                }
            }
        }
    }

    /// The error a failed controller operation gives the request.
    fn failure(kind: Kind) -> Error {
        match kind {
            Kind::Read => Error::ReadFailed,
            Kind::Program => Error::ProgramFailed,
            Kind::Erase => Error::EraseFailed,
        }
    }

    /// The phase after `phase` in a request of `kind`, if any.
    fn next_phase(kind: Kind, phase: Phase) -> Option<Phase> {
        match (kind, phase) {
            (Kind::Read, Phase::Drain) => Some(Phase::Copy),
            (Kind::Program, Phase::Drain) => Some(Phase::BlankCheck),
            (Kind::Erase, Phase::Drain) => Some(Phase::Erase),
            (Kind::Program, Phase::BlankCheck) => Some(Phase::Program),
            (Kind::Program, Phase::Program) => Some(Phase::Verify),
            (Kind::Erase, Phase::Erase) => Some(Phase::BlankCheck),
            _ => None,
        }
    }

    /// The client's byte at partition offset `at` (`0xFF` if none).
    fn client_byte(&self, job: &Job, at: u32) -> u8 {
        let i = at.wrapping_sub(job.offset) as usize;
        self.buffer
            .map(|buf| buf.get(i).copied())
            .flatten()
            .unwrap_or(0xFF)
    }

    /// The client's bus word at partition offset `at` (a program request
    /// is bus-word aligned).
    fn client_word(&self, job: &Job, at: u32) -> u32 {
        u32::from_le_bytes(core::array::from_fn(|i| {
            self.client_byte(job, at + i as u32)
        }))
    }

    /// Starts the controller operation for the phase of `job` at its
    /// position.
    fn start_cmd(&self, job: &Job) -> Cmd {
        let at = job.start + job.pos;
        let address = self.flash_address(at);
        let op = match job.phase {
            Phase::Drain => {
                // A read stalled on a full FIFO finishes once the FIFO is
                // held in reset.
                self.bus.write(Reg::FifoRst, 1);
                return Cmd {
                    words: 0,
                    moved: 0,
                    polls: 0,
                };
            }
            Phase::Erase => {
                self.bus.write(Reg::Addr, address);
                self.bus.write(
                    Reg::Control,
                    (CONTROL::OP::ERASE + CONTROL::ERASE_SEL::CLEAR + CONTROL::START::SET).value,
                );
                return Cmd {
                    words: 0,
                    moved: 0,
                    polls: 0,
                };
            }
            Phase::Program => CONTROL::OP::PROG,
            Phase::Copy | Phase::BlankCheck | Phase::Verify => CONTROL::OP::READ,
        };
        // Reads: up to one FIFO's worth; programs: up to the end of the
        // program window.
        let limit = match job.phase {
            Phase::Program => PROGRAM_WINDOW - address % PROGRAM_WINDOW,
            _ => FIFO_WORDS * BUS_WORD,
        };
        let bytes = limit.min(job.end - at);
        let words = bytes / BUS_WORD;
        self.bus.write(Reg::Addr, address);
        self.bus.write(
            Reg::Control,
            (op + CONTROL::NUM.val(words - 1) + CONTROL::START::SET).value,
        );
        // A program the controller refused at once (window, protection,
        // program type) gets no data: words left in the FIFO would be
        // programmed by the next program.
        let refused = self.bus.read(Reg::OpStatus) & OP_STATUS::ERR::SET.value != 0;
        if job.phase == Phase::Program && !refused {
            for w in 0..words {
                self.bus
                    .write(Reg::ProgFifo, self.client_word(job, at + w * BUS_WORD));
            }
        }
        Cmd {
            words,
            moved: 0,
            polls: 0,
        }
    }

    /// Takes the bus word at partition offset `at` out of the read FIFO.
    fn take_word(&self, job: &mut Job, at: u32, word: u32) {
        match job.phase {
            Phase::Copy => {
                let bytes = word.to_le_bytes();
                let from = job.offset;
                let to = job.offset + job.len;
                self.buffer.map(|buf| {
                    for (i, byte) in bytes.iter().enumerate() {
                        let a = at + i as u32;
                        if (from..to).contains(&a) {
                            if let Some(slot) = buf.get_mut((a - from) as usize) {
                                *slot = *byte;
                            }
                        }
                    }
                });
            }
            Phase::BlankCheck => job.mismatch |= word != u32::MAX,
            Phase::Verify => job.mismatch |= word != self.client_word(job, at),
            Phase::Drain | Phase::Program | Phase::Erase => {}
        }
    }

    /// Advances the request in flight for at most [`STEPS_PER_CALL`] steps;
    /// sets the deferred call again if it is not finished.
    fn run(&self) {
        for _ in 0..STEPS_PER_CALL {
            let Some(mut job) = self.job.get() else {
                return;
            };
            let Some(mut cmd) = self.cmd.get() else {
                if job.pos >= job.end - job.start {
                    if job.mismatch {
                        let error = match (job.kind, job.phase) {
                            (Kind::Erase, _) => Error::EraseFailed,
                            _ => Error::VerifyFailed,
                        };
                        return self.finish(job, Err(error));
                    }
                    match Self::next_phase(job.kind, job.phase) {
                        Some(phase) => {
                            job.phase = phase;
                            job.pos = 0;
                            self.job.set(Some(job));
                            continue;
                        }
                        None => return self.finish(job, Ok(())),
                    }
                }
                let cmd = self.start_cmd(&job);
                self.cmd.set(Some(cmd));
                continue;
            };
            let mut progress = false;
            while cmd.moved < cmd.words
                && self.bus.read(Reg::Status) & STATUS::RD_EMPTY::SET.value == 0
            {
                let word = self.bus.read(Reg::RdFifo);
                let at = job.start + job.pos + cmd.moved * BUS_WORD;
                self.take_word(&mut job, at, word);
                cmd.moved += 1;
                progress = true;
            }
            let is_read = matches!(job.phase, Phase::Copy | Phase::BlankCheck | Phase::Verify);
            let status = self.bus.read(Reg::OpStatus);
            if job.phase == Phase::Drain && status != 0 {
                // The old operation ended, however it ended: forget it and
                // whatever it left in the FIFOs.
                self.clear_status();
                self.bus.write(Reg::FifoRst, 1);
                self.bus.write(Reg::FifoRst, 0);
                self.needs_reset.set(false);
                job.pos = job.end - job.start;
                self.job.set(Some(job));
                self.cmd.set(None);
                continue;
            }
            if status & OP_STATUS::ERR::SET.value != 0 {
                let code = self.bus.read(Reg::ErrCode);
                self.last_error.set(code);
                self.clear_status();
                // Words a failed operation left in a FIFO must not reach
                // the next one.
                self.bus.write(Reg::FifoRst, 1);
                self.bus.write(Reg::FifoRst, 0);
                return self.finish(job, Err(Self::failure(job.kind)));
            }
            if status & OP_STATUS::DONE::SET.value != 0 && (!is_read || cmd.moved == cmd.words) {
                self.clear_status();
                job.pos = match job.phase {
                    Phase::Drain | Phase::Erase => job.end - job.start,
                    _ => job.pos + cmd.words * BUS_WORD,
                };
                self.job.set(Some(job));
                self.cmd.set(None);
                continue;
            }
            if progress {
                cmd.polls = 0;
            } else {
                cmd.polls += 1;
                if cmd.polls >= self.poll_limit.get() {
                    return self.finish(job, Err(Error::Timeout));
                }
            }
            self.job.set(Some(job));
            self.cmd.set(Some(cmd));
        }
        self.deferred.set();
    }
}

impl<'a, B: FlashCtrlBus> Flash<'a> for FlashCtrl<'a, B> {
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
        let buf = self.accept(offset, buf, len, false)?;
        // `check_request` keeps the range inside the partition (< 1 MiB).
        let len = len as u32;
        let start = offset & !(BUS_WORD - 1);
        let end = (offset + len).next_multiple_of(BUS_WORD);
        self.buffer.replace(buf);
        self.launch(Job {
            kind: Kind::Read,
            offset,
            len,
            start,
            end,
            phase: Phase::Copy,
            pos: 0,
            mismatch: false,
        });
        Ok(())
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        let buf = self.accept(offset, buf, len, true)?;
        let len = len as u32;
        self.buffer.replace(buf);
        self.launch(Job {
            kind: Kind::Program,
            offset,
            len,
            start: offset,
            end: offset + len,
            phase: Phase::BlankCheck,
            pos: 0,
            mismatch: false,
        });
        Ok(())
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        self.admit()?;
        check_erase(&self.geometry, unit)?;
        let offset = unit * PAGE_SIZE;
        self.launch(Job {
            kind: Kind::Erase,
            offset,
            len: PAGE_SIZE,
            start: offset,
            end: offset + PAGE_SIZE,
            phase: Phase::Erase,
            pos: 0,
            mismatch: false,
        });
        Ok(())
    }
}

impl<B: FlashCtrlBus> DeferredCallClient for FlashCtrl<'_, B> {
    /// Advances the request in flight and completes it when done.
    fn handle_deferred_call(&self) {
        self.run();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use static_ref::fake;

    #[test]
    fn register_offsets_match_the_block() {
        let (regs, mem) = fake::registers::<FlashCtrlRegisters, u32>();
        let mmio = Mmio::new(regs);
        let all = [
            Reg::IntrState,
            Reg::IntrEnable,
            Reg::Init,
            Reg::Control,
            Reg::Addr,
            Reg::ProgTypeEn,
            Reg::MpRegionCfg(0),
            Reg::MpRegionCfg(7),
            Reg::MpRegion(0),
            Reg::MpRegion(7),
            Reg::DefaultRegion,
            Reg::OpStatus,
            Reg::ErrCode,
            Reg::FifoRst,
            Reg::ProgFifo,
        ];
        for (i, reg) in all.iter().enumerate() {
            let value = 0x100 + i as u32;
            mmio.write(*reg, value);
            let cell: &Cell<u32> = &mem[reg.offset() / 4];
            assert_eq!(cell.get(), value, "{reg:?}");
        }
        mem[Reg::Status.offset() / 4].set(0x2a);
        mem[Reg::RdFifo.offset() / 4].set(0x1234);
        mem[Reg::ErrAddr.offset() / 4].set(0x88);
        assert_eq!(mmio.read(Reg::Status), 0x2a);
        assert_eq!(mmio.read(Reg::RdFifo), 0x1234);
        assert_eq!(mmio.read(Reg::ErrAddr), 0x88);
        // Regions past the eighth do not exist.
        mmio.write(Reg::MpRegion(8), 1);
        assert_eq!(mmio.read(Reg::MpRegion(8)), 0);
    }

    #[test]
    fn region_values() {
        let p = Partition {
            first_page: 256,
            pages: 32,
            region: 0,
        };
        assert!(p.is_valid());
        assert_eq!(p.mp_region(), 256 | 32 << 9);
        assert_eq!(p.mp_region_cfg(), 0x0969_6666);
        for bad in [
            Partition { pages: 0, ..p },
            Partition {
                first_page: 500,
                pages: 13,
                region: 0,
            },
            Partition { region: 8, ..p },
        ] {
            assert!(!bad.is_valid(), "{bad:?}");
        }
    }
}
