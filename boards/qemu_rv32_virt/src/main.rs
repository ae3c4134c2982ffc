//! The kernel for `qemu-system-riscv32 -M virt`.
//!
//! The memory map (the libtock-rs `qemu_rv32_virt` layout, so its apps run
//! unmodified: the kernel at `0x8000_0000`, the app flash area at
//! `0x8010_0000`, process RAM from `0x8030_0000`) and the store's size
//! are written once, in `board.toml`; `build.rs` turns them into this
//! crate's constants and linker script, and the tools read the same file.
//!
//! Drivers: alarm (0), console (1), low-level debug (8), IPC (0x10000,
//! client buffers shared through the PMP) and key-value
//! (0x50003) on a TicKV store in pflash unit 1 (`0x2200_0000`): its first
//! `STORE_REGIONS` 256 KiB erase blocks. Apps get storage permissions from
//! their TBF storage TLV, else self-only under their ShortId (TBF ShortId,
//! else crc32 of the package name). The kernel counts boots in a
//! kernel-owned item (`components::boot_counter`). Processes that fault are restarted
//! up to three times, then stopped. With the
//! `test-exit` feature the kernel exits QEMU once no process is alive; the
//! exit status is the number of processes that did not end cleanly (a
//! fault, or an exit with a non-zero completion code).

#![no_std]
#![no_main]

mod io;

use core::fmt::Write;

use capsules_extra::kv_driver;
use capsules_extra::tickv::Config as StoreConfig;
use components::kv_stack::{driver_value_len, KVBuffer, KVStackBuffers};
use components::standard::{Hardware, StandardMemory};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::uart::{Configure, Parameters};
use kernel::platform::Platform;
use kernel::policy::{RestartWithThreshold, TbfPermissionsFilter};
use kernel::process::Process;
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::{AppMemory, Kernel, LoadPolicy};
use qemu_rv32_virt_chip::chip::QemuVirt;
use qemu_rv32_virt_chip::clint::{self, Clint};
use qemu_rv32_virt_chip::pflash::{MmioPflashBus, Pflash};
use qemu_rv32_virt_chip::plic::{self, Plic};
use qemu_rv32_virt_chip::uart::{self, Uart16550};
use rv32i::{Pmp, Rv32i};
use static_cell::{ConstStaticCell, StaticCell};

/// The board's memory map and store size, generated from `board.toml`.
mod board {
    include!(concat!(env!("OUT_DIR"), "/board.rs"));
}
use board::{APP_FLASH, APP_FLASH_LEN, APP_RAM, APP_RAM_LEN, STORE_REGIONS};

/// Process slots.
const NUM_PROCS: usize = 8;
/// Timeslice in microseconds.
const TIMESLICE_US: u32 = 10_000;
/// The largest value an app may store (the upstream limit).
const VALUE_MAX: usize = kv_driver::UPSTREAM_VALUE_MAX;
/// RAM index entries of the store (12 bytes each): one-read gets for up to
/// this many keys.
const INDEX_ENTRIES: usize = 256;
/// Bytes of the console's ring for the kernel's own output.
const KERNEL_OUT: usize = 4096;
/// Deferred call slots: one each for the UART, the pflash driver and the
/// console, plus the key-value stack's.
const DEFERRED_CALL_SLOTS: usize =
    2 + components::console::DEFERRED_CALLS + components::kv_stack::DEFERRED_CALLS;

/// The components every board has (`components::standard`).
type Memory = StandardMemory<Clint<'static>, KERNEL_OUT, VALUE_MAX>;

static DEFERRED: StaticCell<DeferredCalls<DEFERRED_CALL_SLOTS>> = StaticCell::new();
static UART: StaticCell<Uart16550<'static>> = StaticCell::new();
static CLINT: StaticCell<Clint<'static>> = StaticCell::new();
static PLIC: StaticCell<Plic> = StaticCell::new();
static CHIP: StaticCell<QemuVirt<'static>> = StaticCell::new();
static PFLASH: StaticCell<Pflash<'static, MmioPflashBus>> = StaticCell::new();
static PMP: StaticCell<Pmp> = StaticCell::new();
static PROCESSES: ConstStaticCell<[Process; NUM_PROCS]> =
    ConstStaticCell::new([const { Process::new() }; NUM_PROCS]);
static KERNEL: StaticCell<Kernel> = StaticCell::new();
static MEMORY: StaticCell<Memory> = StaticCell::new();
static KV_SCRATCH: ConstStaticCell<KVBuffer<512>> = ConstStaticCell::new(KVBuffer::new());
static KV_INDEX: ConstStaticCell<[tickv::IndexEntry; INDEX_ENTRIES]> =
    ConstStaticCell::new([tickv::IndexEntry::EMPTY; INDEX_ENTRIES]);
static KV_VALUE: ConstStaticCell<KVBuffer<{ driver_value_len(VALUE_MAX) }>> =
    ConstStaticCell::new(KVBuffer::new());

/// Reset continues here from `_start` (rv32i).
#[no_mangle]
pub extern "C" fn main() -> ! {
    let calls: &'static DeferredCalls<DEFERRED_CALL_SLOTS> = DEFERRED.init(DeferredCalls::new());

    // Chip drivers.
    let uart0: &'static Uart16550<'static> = UART.init(Uart16550::new(
        uart::UART0,
        uart::UART0_CLOCK_HZ,
        calls.allocate().expect("deferred call for the UART"),
    ));
    uart0.register_deferred_call();
    let _ = uart0.configure(Parameters::default());
    let clint0: &'static Clint<'static> = CLINT.init(Clint::new(clint::MTIME, clint::MTIMECMP0));
    let plic0: &'static Plic = PLIC.init(Plic::new(plic::PLIC, plic::NUM_SOURCES));
    let chip: &'static QemuVirt<'static> = CHIP.init(QemuVirt::new(plic0, clint0, uart0));
    let pflash: &'static Pflash<'static, MmioPflashBus> = PFLASH.init(Pflash::new(
        MmioPflashBus::virt_unit1(),
        calls.allocate().expect("deferred call for the pflash"),
        Some(STORE_REGIONS),
    ));
    pflash.register_deferred_call();
    pflash.init();

    // The kernel, then every component that has a grant (all of them
    // before the processes are loaded).
    let processes: &'static [Process] = PROCESSES.take();
    let kernel: &'static Kernel = KERNEL.init(Kernel::new(processes));
    io::set_kernel(kernel);
    let pmp: &'static Pmp = PMP.init(Pmp::new());
    // Console, alarm, low-level debug, IPC, the key-value stack and the
    // kernel's boot counter.
    let board = components::standard::build(
        "qemu_rv32_virt",
        MEMORY.init(StandardMemory::new()),
        kernel,
        calls,
        Hardware {
            uart: uart0,
            alarm: clint0,
            flash: pflash,
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
    let (console, kv, counter, counter_user) =
        (board.console, &board.kv, board.counter, board.counter_user);

    chip.initialize();
    // Apps may read cycle/time/instret (the bench app measures with them).
    rv32i::trap::allow_user_counters();
    let _ = kv.mount();
    counter.start();

    // Processes.
    let _ = writeln!(console.kernel_writer(), "qemu_rv32_virt: kernel started");
    // SAFETY: the app flash area is outside the kernel image (the linker
    // script asserts the kernel ends below it), QEMU loads the apps there
    // before reset, and nothing writes it while the kernel runs.
    let app_flash: &'static [u8] =
        unsafe { core::slice::from_raw_parts(APP_FLASH as *const u8, APP_FLASH_LEN) };
    // SAFETY: process RAM is outside the kernel image and is handed out
    // exactly once, here; from now on the kernel reaches it only through
    // this slice, and processes only through the PMP.
    let app_ram: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(APP_RAM as *mut u8, APP_RAM_LEN) };
    // Identities: by default upstream's development policy (header TLVs
    // taken as they are); with `secure-apps`, only apps signed by a key in
    // board.toml get theirs.
    #[cfg(not(feature = "secure-apps"))]
    let policy = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
    #[cfg(feature = "secure-apps")]
    let checker = app_credentials::TrustedKeys::new(&board::TRUSTED_KEYS);
    #[cfg(feature = "secure-apps")]
    let policy = LoadPolicy {
        credentials: &checker,
        unsigned: kernel::credentials::UnsignedApps::NoIdentity,
        short_id: &TlvElseCrc,
        storage: &TlvElseSelfOnlyPolicy,
    };
    let memory = AppMemory {
        flash: app_flash,
        flash_start: APP_FLASH,
        ram: app_ram,
        ram_start: APP_RAM,
    };
    components::loading::load_processes(
        "qemu_rv32_virt",
        kernel,
        console,
        memory,
        &policy,
        &Rv32i,
        pmp,
    );

    let platform = Platform {
        drivers: board.drivers,
        filter: &TbfPermissionsFilter,
        fault_policy: &RestartWithThreshold { threshold: 3 },
        boundary: &Rv32i,
        protection: pmp,
        chip,
        timer: clint0,
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
                "qemu_rv32_virt",
                kernel,
                console,
                clint0,
                &platform,
                &|| counter_user.is_busy() || kv.permissions.is_busy() || kv.tickv.busy(),
                qemu_rv32_virt_chip::test_exit::exit,
            );
        }
    }
}
