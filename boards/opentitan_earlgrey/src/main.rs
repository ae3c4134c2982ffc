//! The kernel for OpenTitan Earl Grey (the CW310 FPGA board; also
//! `qemu-system-riscv32 -M opentitan`).
//!
//! The memory map (the libtock-rs `opentitan` layout, so its apps run
//! unmodified: the kernel in flash at `0x2000_0000`, the app flash area
//! at `0x2003_0000`, process RAM from `0x1000_6000`) and the store are
//! written once, in `board.toml`; `build.rs` turns them into this crate's
//! constants and linker script. The whole map is in `README.md`.
//!
//! Drivers: alarm (0, `rv_timer` at 10 kHz), console (1, UART0),
//! low-level debug (8), IPC (0x10000) and key-value (0x50003) on a TicKV
//! store in flash bank 1 (`0x2008_0000`, 64 pages of 2 KiB) through
//! flash_ctrl, with the identities, storage permissions, fault policy
//! and boot counter of the other boards (`components::standard`).
//! The kernel's regions are locked in the ePMP under machine-mode
//! lockdown; a process's PMP entries are on only while it runs
//! (`earlgrey::epmp`).
//! Where no flash controller answers
//! (QEMU), the store is off and the key-value driver answers `NODEVICE`.
//! With the `test-exit` feature the kernel ends the run through
//! semihosting once no process is alive; the exit status is the number
//! of processes that did not end cleanly.

#![no_std]
#![no_main]

mod io;

use core::fmt::Write;

use capsules_extra::kv_driver;
use capsules_extra::tickv::Config as StoreConfig;
use components::kv_stack::{driver_value_len, KVBuffer, KVStackBuffers};
use components::standard::{Hardware, StandardMemory};
use earlgrey::chip::EarlGrey;
use earlgrey::map;
use kernel::deferred_call::DeferredCalls;
use kernel::hil::uart::{Configure, Parameters};
use kernel::platform::Platform;
use kernel::policy::{RestartWithThreshold, TbfPermissionsFilter};
use kernel::process::Process;
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::{AppMemory, Kernel, LoadPolicy};
use lowrisc::flash_ctrl::{FlashCtrl, Mmio, Partition, PAGE_SIZE};
use lowrisc::rv_timer::{self, Freq10KHz, RvTimer};
use lowrisc::uart::Uart;
use rv32i::plic::Plic;
use rv32i::{Pmp, Rv32i};
use static_cell::{ConstStaticCell, StaticCell};

/// The board's memory map and store, generated from `board.toml`.
mod board {
    include!(concat!(env!("OUT_DIR"), "/board.rs"));
}
use board::{APP_FLASH, APP_FLASH_LEN, APP_RAM, APP_RAM_LEN, STORE_OFFSET, STORE_REGIONS};

/// The board's name, the prefix of the kernel's console lines.
const NAME: &str = "opentitan_earlgrey";
/// The peripheral clock of the CW310 bitstream (UART and timer clock). A
/// board parameter: QEMU ignores it (its timer counts at 10 kHz, its UART
/// only needs a non-zero rate).
const PERIPHERAL_HZ: u32 = 6_000_000;
/// The timer's tick, [`Freq10KHz`] (`board.toml`'s `alarm_hz`).
const TICK_HZ: u32 = 10_000;
/// Process slots.
const NUM_PROCS: usize = 4;
/// Timeslice in microseconds.
const TIMESLICE_US: u32 = 10_000;
/// The largest value an app may store (the upstream limit).
const VALUE_MAX: usize = kv_driver::UPSTREAM_VALUE_MAX;
/// RAM index entries of the store (12 bytes each).
const INDEX_ENTRIES: usize = 32;
/// Bytes of the console's ring for the kernel's own output.
const KERNEL_OUT: usize = 1024;
/// Deferred call slots: the UART's, the flash driver's, the console's and
/// the key-value stack's.
const DEFERRED_CALL_SLOTS: usize =
    2 + components::console::DEFERRED_CALLS + components::kv_stack::DEFERRED_CALLS;
/// The store's partition of the flash and the memory-protection region
/// that guards it.
const STORE: Partition = Partition {
    first_page: (STORE_OFFSET / PAGE_SIZE as u64) as u32,
    pages: STORE_REGIONS,
    region: 0,
};

type Timer = RvTimer<'static, Freq10KHz>;
type Mtimer = rv32i::mtimer::Mtimer<'static, Freq10KHz>;
type Memory = StandardMemory<Mtimer, KERNEL_OUT, VALUE_MAX>;

static DEFERRED: StaticCell<DeferredCalls<DEFERRED_CALL_SLOTS>> = StaticCell::new();
static UART: StaticCell<Uart<'static>> = StaticCell::new();
static TIMER: StaticCell<Timer> = StaticCell::new();
static PLIC: StaticCell<Plic> = StaticCell::new();
static CHIP: StaticCell<EarlGrey<'static, Freq10KHz>> = StaticCell::new();
static FLASH: StaticCell<FlashCtrl<'static, Mmio>> = StaticCell::new();
static PMP: StaticCell<Pmp> = StaticCell::new();
static PROCESSES: ConstStaticCell<[Process; NUM_PROCS]> =
    ConstStaticCell::new([const { Process::new() }; NUM_PROCS]);
static KERNEL: StaticCell<Kernel> = StaticCell::new();
static MEMORY: StaticCell<Memory> = StaticCell::new();
static KV_SCRATCH: ConstStaticCell<KVBuffer<256>> = ConstStaticCell::new(KVBuffer::new());
static KV_INDEX: ConstStaticCell<[tickv::IndexEntry; INDEX_ENTRIES]> =
    ConstStaticCell::new([tickv::IndexEntry::EMPTY; INDEX_ENTRIES]);
static KV_VALUE: ConstStaticCell<KVBuffer<{ driver_value_len(VALUE_MAX) }>> =
    ConstStaticCell::new(KVBuffer::new());

/// Reset continues here from `_start` (rv32i).
#[no_mangle]
pub extern "C" fn main() -> ! {
    // The kernel's own memory, locked for machine mode only, before
    // anything else runs (Smepmp: earlgrey::epmp).
    earlgrey::epmp::lock_kernel_regions();
    let calls: &'static DeferredCalls<DEFERRED_CALL_SLOTS> = DEFERRED.init(DeferredCalls::new());

    // Chip drivers.
    let uart0: &'static Uart<'static> = UART.init(Uart::new(
        map::UART0,
        PERIPHERAL_HZ,
        calls.allocate().expect("deferred call for the UART"),
    ));
    uart0.register_deferred_call();
    let _ = uart0.configure(Parameters::default());
    // QEMU models an older rv_timer register map than the chip's.
    let layout = rv_timer::Layout::detect(&map::RV_TIMER);
    let timer: &'static Timer = TIMER.init(RvTimer::new(map::RV_TIMER, layout));
    let plic: &'static Plic = PLIC.init(Plic::new(map::PLIC, map::PLIC_SOURCES));
    let chip: &'static EarlGrey<'static, Freq10KHz> = CHIP.init(EarlGrey::new(plic, timer, uart0));
    let flash: &'static FlashCtrl<'static, Mmio> = FLASH.init(FlashCtrl::new(
        Mmio::new(map::FLASH_CTRL),
        STORE,
        calls.allocate().expect("deferred call for the flash"),
    ));
    flash.register_deferred_call();
    let flash_ready = flash.init();

    // The kernel and every component with a grant, before the processes.
    let processes: &'static [Process] = PROCESSES.take();
    let kernel: &'static Kernel = KERNEL.init(Kernel::new(processes));
    io::set_kernel(kernel);
    let pmp: &'static Pmp = PMP.init(Pmp::new());
    let board = components::standard::build(
        NAME,
        MEMORY.init(StandardMemory::new()),
        kernel,
        calls,
        Hardware {
            uart: uart0,
            alarm: timer.mtimer(),
            flash,
            protection: pmp,
            processes: NUM_PROCS as u8,
        },
        KVStackBuffers {
            scratch: KV_SCRATCH.take().bytes(),
            index: KV_INDEX.take(),
            driver_value: KV_VALUE.take().bytes(),
        },
        StoreConfig {
            region_count: None,
            format_if_blank: true,
        },
    )
    .expect("board components");
    let console = board.console;

    let prescale = rv_timer::prescale_for(PERIPHERAL_HZ, TICK_HZ).unwrap_or(0);
    chip.initialize(prescale);
    let _ = writeln!(console.kernel_writer(), "{NAME}: kernel started");
    match flash_ready {
        Ok(()) => {
            let _ = board.kv.mount();
            board.counter.start();
        }
        Err(e) => {
            let _ = writeln!(
                console.kernel_writer(),
                "{NAME}: flash_ctrl does not answer ({e:?}): key-value store off"
            );
        }
    }

    // Processes.
    // SAFETY: the app flash area is outside the kernel image (the linker
    // script asserts the kernel ends below it) and nothing writes it while
    // the kernel runs.
    let app_flash: &'static [u8] =
        unsafe { core::slice::from_raw_parts(APP_FLASH as *const u8, APP_FLASH_LEN) };
    // SAFETY: process RAM is outside the kernel's RAM (board.toml's
    // description is checked for that) and is handed out exactly once,
    // here; from now on the kernel reaches it only through this slice, and
    // processes only through the PMP.
    let app_ram: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(APP_RAM as *mut u8, APP_RAM_LEN) };
    let policy = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
    let memory = AppMemory {
        flash: app_flash,
        flash_start: APP_FLASH,
        ram: app_ram,
        ram_start: APP_RAM,
    };
    components::loading::load_processes(NAME, kernel, console, memory, &policy, &Rv32i, pmp);

    let platform = Platform {
        drivers: board.drivers,
        filter: &TbfPermissionsFilter,
        fault_policy: &RestartWithThreshold { threshold: 3 },
        boundary: &Rv32i,
        protection: pmp,
        chip,
        timer: timer.mtimer(),
        deferred: calls,
        timeslice_us: TIMESLICE_US,
        debug: Some(console),
    };

    // The load report goes out before any app writes: the UART is slow
    // next to the CPU, and app output would otherwise land between the
    // kernel's chunks.
    components::test_exit::settle(console, timer.mtimer(), &platform, &|| false, 1000);

    #[cfg(not(feature = "test-exit"))]
    let _ = board.counter_user;
    loop {
        kernel.run_once(&platform);
        #[cfg(feature = "test-exit")]
        if kernel.process_ids().next().is_none() {
            let kv = &board.kv;
            let user = board.counter_user;
            components::test_exit::finish(
                NAME,
                kernel,
                console,
                timer.mtimer(),
                &platform,
                &|| user.is_busy() || kv.permissions.is_busy() || kv.tickv.busy(),
                io::exit,
            );
        }
    }
}
