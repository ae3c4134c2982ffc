//! The kernel for `qemu-system-arm -M ast1030-evb` (Cortex-M4).
//!
//! The memory map (kernel in SRAM at `0x0`, the app area at `0x4_0000`,
//! process RAM from `0x8_0000`: the layout libtock-rs's `qemu_ast1030`
//! apps are linked for) and the store's size are written once, in
//! `board.toml`; `build.rs` turns them into this crate's constants and
//! linker script, and the tools read the same file.
//!
//! Drivers: alarm (0), console (1), low-level debug (8), IPC (0x10000,
//! client buffers shared through the MPU) and key-value
//! (0x50003) on a TicKV store on the whole 1 MiB SPI NOR flash behind the
//! FMC's chip select 0 (`-drive if=mtd`). Storage permissions and
//! identities, the fault policy (restart up to three times, then stop)
//! and the boot counter are the `qemu_rv32_virt` board's. With the
//! `test-exit` feature the kernel leaves QEMU through semihosting once no
//! process is alive; the exit status is the number of processes that did
//! not end cleanly.

#![no_std]
#![no_main]

mod io;

use core::fmt::Write;

use ast1030_chip::chip::{Ast1030, Timeslice};
use ast1030_chip::fmc::{Fmc, MmioWindow, FMC};
use ast1030_chip::timer::{AspeedTimer, TIMER};
use ast1030_chip::uart::{self, Uart};
use capsules_extra::kv_driver;
use capsules_extra::tickv::Config as StoreConfig;
use components::kv_stack::{driver_value_len, KVBuffer, KVStackBuffers};
use components::standard::{Hardware, StandardMemory};
use cortexm::{CortexM, Mpu, SysTick};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::uart::{Configure, Parameters};
use kernel::platform::Platform;
use kernel::policy::{RestartWithThreshold, TbfPermissionsFilter};
use kernel::process::Process;
use kernel::Kernel;
use spi_nor::SpiNor;
use static_cell::{ConstStaticCell, StaticCell};

/// The board's memory map and store size, generated from `board.toml`.
mod board {
    include!(concat!(env!("OUT_DIR"), "/board.rs"));
}
use board::{APP_FLASH, APP_FLASH_LEN, APP_RAM, APP_RAM_LEN, STORE_REGIONS};

/// The board's name, at the start of the kernel's lines.
const NAME: &str = "qemu_ast1030";
/// The core clock (SysTick counts it).
const CPU_HZ: u32 = 200_000_000;
/// Process slots.
const NUM_PROCS: usize = 8;
/// Timeslice in microseconds.
const TIMESLICE_US: u32 = 10_000;
/// The largest value an app may store (the upstream limit).
const VALUE_MAX: usize = kv_driver::UPSTREAM_VALUE_MAX;
/// RAM index entries of the store (12 bytes each).
const INDEX_ENTRIES: usize = 256;
/// Bytes of the console's ring for the kernel's own output.
const KERNEL_OUT: usize = 4096;
/// Deferred call slots: one each for the UART, the flash driver and the
/// console, plus the key-value stack's.
const DEFERRED_CALL_SLOTS: usize =
    2 + components::console::DEFERRED_CALLS + components::kv_stack::DEFERRED_CALLS;

/// The flash driver's type.
type Nor = SpiNor<'static, &'static Fmc<MmioWindow>>;

/// The components every board has (`components::standard`).
type Memory = StandardMemory<AspeedTimer<'static>, KERNEL_OUT, VALUE_MAX>;

static DEFERRED: StaticCell<DeferredCalls<DEFERRED_CALL_SLOTS>> = StaticCell::new();
static UART: StaticCell<Uart<'static>> = StaticCell::new();
static TIMER1: StaticCell<AspeedTimer<'static>> = StaticCell::new();
static SYSTICK: StaticCell<SysTick> = StaticCell::new();
static TIMESLICE: StaticCell<Timeslice<'static>> = StaticCell::new();
static CHIP: StaticCell<Ast1030<'static>> = StaticCell::new();
static FMC0: StaticCell<Fmc<MmioWindow>> = StaticCell::new();
static NOR: StaticCell<Nor> = StaticCell::new();
static MPU: StaticCell<Mpu> = StaticCell::new();
static PROCESSES: ConstStaticCell<[Process; NUM_PROCS]> =
    ConstStaticCell::new([const { Process::new() }; NUM_PROCS]);
static KERNEL: StaticCell<Kernel> = StaticCell::new();
static MEMORY: StaticCell<Memory> = StaticCell::new();
static KV_SCRATCH: ConstStaticCell<KVBuffer<512>> = ConstStaticCell::new(KVBuffer::new());
static KV_INDEX: ConstStaticCell<[tickv::IndexEntry; INDEX_ENTRIES]> =
    ConstStaticCell::new([tickv::IndexEntry::EMPTY; INDEX_ENTRIES]);
static KV_VALUE: ConstStaticCell<KVBuffer<{ driver_value_len(VALUE_MAX) }>> =
    ConstStaticCell::new(KVBuffer::new());

/// Reset continues here from `_cm_reset` (cortexm).
#[no_mangle]
pub extern "C" fn main() -> ! {
    let calls: &'static DeferredCalls<DEFERRED_CALL_SLOTS> = DEFERRED.init(DeferredCalls::new());

    // Chip drivers.
    let uart0: &'static Uart<'static> = UART.init(Uart::new(
        uart::UART5,
        uart::UART_CLOCK_HZ,
        calls.allocate().expect("deferred call for the UART"),
    ));
    uart0.register_deferred_call();
    let _ = uart0.configure(Parameters::default());
    let timer: &'static AspeedTimer<'static> = TIMER1.init(AspeedTimer::new(TIMER));
    let systick: &'static SysTick = SYSTICK.init(SysTick::new(CPU_HZ));
    let timeslice: &'static Timeslice<'static> = TIMESLICE.init(Timeslice::new(timer, systick));
    let chip: &'static Ast1030<'static> = CHIP.init(Ast1030::new(uart0, timer, systick));
    let fmc: &'static Fmc<MmioWindow> = FMC0.init(Fmc::new(FMC, MmioWindow::cs0()));
    fmc.init();
    let nor: &'static Nor = NOR.init(SpiNor::new(
        fmc,
        calls.allocate().expect("deferred call for the flash"),
        spi_nor::W25Q80_ID,
        STORE_REGIONS,
    ));
    nor.register_deferred_call();
    if let Err(id) = nor.init() {
        uart0.write_blocking(b"qemu_ast1030: the SPI NOR flash does not answer (JEDEC id ");
        let _ = writeln!(uart0.blocking_writer(), "{id:02x?}); no storage");
    }

    // The kernel, then every component that has a grant (all of them
    // before the processes are loaded).
    let processes: &'static [Process] = PROCESSES.take();
    let kernel: &'static Kernel = KERNEL.init(Kernel::new(processes));
    io::set_kernel(kernel);
    let mpu: &'static Mpu = MPU.init(Mpu::new());
    // Console, alarm, low-level debug, IPC, the key-value stack and the
    // kernel's boot counter.
    let board = components::standard::build(
        NAME,
        MEMORY.init(StandardMemory::new()),
        kernel,
        calls,
        Hardware {
            uart: uart0,
            alarm: timer,
            flash: nor,
            protection: mpu,
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
    let (console, kv, counter, counter_user) =
        (board.console, &board.kv, board.counter, board.counter_user);

    chip.initialize();
    let _ = kv.mount();
    counter.start();

    // Processes.
    let _ = writeln!(console.kernel_writer(), "{NAME}: kernel started");
    // SAFETY: the app area is outside the kernel image (the linker script
    // asserts the kernel ends below it), QEMU loads the apps there before
    // reset, and nothing writes it while the kernel runs. Process RAM is
    // outside the kernel image and taken only here.
    let memory =
        unsafe { cortexm::switch::take_app_memory(APP_FLASH, APP_FLASH_LEN, APP_RAM, APP_RAM_LEN) };
    // Identities: upstream's development policy (header TLVs taken as
    // they are; no credentials checked).
    components::loading::load_with_development_policy(NAME, kernel, console, memory, &CortexM, mpu);

    let platform = Platform {
        drivers: board.drivers,
        filter: &TbfPermissionsFilter,
        fault_policy: &RestartWithThreshold { threshold: 3 },
        boundary: &CortexM,
        protection: mpu,
        chip,
        timer: timeslice,
        deferred: calls,
        timeslice_us: TIMESLICE_US,
        debug: Some(console),
    };

    // Only the test mode waits for the counter's store user.
    #[cfg(not(feature = "test-exit"))]
    let _ = counter_user;
    loop {
        kernel.run_once(&platform);
        #[cfg(feature = "test-exit")]
        if kernel.process_ids().next().is_none() {
            components::test_exit::finish(
                NAME,
                kernel,
                console,
                timer,
                &platform,
                &|| counter_user.is_busy() || kv.permissions.is_busy() || kv.tickv.busy(),
                io::exit,
            );
        }
    }
}
