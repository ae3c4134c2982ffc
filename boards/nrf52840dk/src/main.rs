//! The kernel for the Nordic nRF52840-DK (PCA10056).
//!
//! The memory map (kernel in flash at `0x0`, its RAM at `0x2000_0000`,
//! the app area at `0x4_0000`, process RAM from `0x2001_0000`: the layout
//! libtock-rs's `nrf52840` apps are linked for and tockloader's `nrf52dk`
//! preset installs into) and the store's size are written once, in
//! `board.toml`; `build.rs` turns them into this crate's constants and
//! linker script.
//!
//! Drivers: alarm (0, RTC1), console (1, UARTE0 at 115200 through the
//! J-Link's serial port), LEDs (2: LED1-LED4 on P0.13-P0.16, lit low),
//! buttons (3: BUTTON1-BUTTON4 on P0.11, P0.12, P0.24, P0.25, pressed
//! low, pulled up), low-level debug (8), IPC (0x10000) and key-value
//! (0x50003) on a TicKV store on the MX25R6435F SPI NOR flash (SPIM0),
//! or with the `nvmc-store` feature on 32 pages of internal flash.
//! Storage permissions and identities, the fault policy (restart up to
//! three times, then stop) and the boot counter are the other boards'.

#![no_std]
#![no_main]

mod io;

use core::fmt::Write;

use capsules_core::button::{self, ButtonDriver};
use capsules_core::led::{self, LedDriver};
use capsules_extra::kv_driver;
use capsules_extra::tickv::Config as StoreConfig;
use components::kv_stack::{driver_value_len, KVBuffer, KVStackBuffers};
use components::standard::{self, Hardware, StandardMemory};
use cortexm::{CortexM, Mpu, SysTick};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::gpio::ActivationMode;
use kernel::hil::uart::{Configure, Parameters};
use kernel::platform::Platform;
use kernel::policy::{RestartWithThreshold, TbfPermissionsFilter};
use kernel::process::Process;
use kernel::syscall_driver::{SyscallDriver, SyscallDriverLookup};
use kernel::Kernel;
use nrf52840::clock::{Clock, CLOCK};
use nrf52840::dma::Ram;
use nrf52840::gpio::{Pin, Port, Pull, GPIOTE, P0};
use nrf52840::rtc::{Rtc, RTC1};
use nrf52840::uarte::{self, Uarte, UARTE0};
use nrf52840::Nrf52840;
use static_cell::{ConstStaticCell, StaticCell};

/// The board's memory map and store size, generated from `board.toml`
/// (the store size is not used by the internal store).
#[cfg_attr(feature = "nvmc-store", allow(dead_code))]
mod board {
    include!(concat!(env!("OUT_DIR"), "/board.rs"));
}
use board::{APP_FLASH, APP_FLASH_LEN, APP_RAM, APP_RAM_LEN};

/// The board's name, at the start of the kernel's lines.
const NAME: &str = "nrf52840dk";
/// The core clock (SysTick counts it).
const CPU_HZ: u32 = 64_000_000;
/// Process slots.
const NUM_PROCS: usize = 8;
/// Timeslice in microseconds.
const TIMESLICE_US: u32 = 10_000;
/// The largest value an app may store (the upstream limit).
const VALUE_MAX: usize = kv_driver::UPSTREAM_VALUE_MAX;
/// RAM index entries of the store (12 bytes each).
const INDEX_ENTRIES: usize = 256;
/// Bytes of the console's ring for the kernel's own output.
const KERNEL_OUT: usize = 2048;
/// Deferred call slots: the flash driver's and the console's, plus the
/// key-value stack's.
const DEFERRED_CALL_SLOTS: usize =
    1 + components::console::DEFERRED_CALLS + components::kv_stack::DEFERRED_CALLS;

/// The LEDs' pins (LED1-LED4), lit when low.
const LED_PINS: [u8; 4] = [13, 14, 15, 16];
/// The buttons' pins (BUTTON1-BUTTON4), low when pressed.
const BUTTON_PINS: [u8; 4] = [11, 12, 24, 25];

/// The store's flash, chosen by the `nvmc-store` feature.
#[cfg(not(feature = "nvmc-store"))]
mod store {
    use nrf52840::dma::Ram;
    use nrf52840::gpio::{Pin, Port};
    use nrf52840::spim::{self, Spim, BUFFER, SPIM0};
    use spi_nor::SpiNor;
    use static_cell::StaticCell;

    /// The MX25R6435F's chip select, write protect and hold pins.
    const CS: u8 = 17;
    const WP: u8 = 22;
    const HOLD: u8 = 23;
    /// Release from deep power-down (the part may have been left there).
    const RELEASE_POWER_DOWN: u8 = 0xAB;
    /// Spins after the release: over 100 us at 64 MHz.
    const RELEASE_SPINS: u32 = 8_000;

    type Transport = Spim<Ram, Pin<'static>>;
    /// The flash driver.
    pub type Driver = SpiNor<'static, &'static Transport>;

    static SPIM_TX: StaticCell<[u8; BUFFER]> = StaticCell::new();
    static SPIM_RX: StaticCell<[u8; BUFFER]> = StaticCell::new();
    static TRANSPORT: StaticCell<Transport> = StaticCell::new();
    static NOR: StaticCell<Driver> = StaticCell::new();

    /// SPIM0 and the SPI NOR driver on the store's first `regions`
    /// sectors; `Err` with the JEDEC id read if the part does not answer.
    pub fn build(
        port: &'static Port<'static>,
        deferred: kernel::deferred_call::DeferredCall,
        regions: u32,
    ) -> (&'static Driver, Result<(), [u8; 3]>) {
        // Write protect and hold inactive (high).
        for pin in [WP, HOLD] {
            port.pin(pin).make_output(true);
        }
        let cs = port.pin(CS);
        cs.make_output(true);
        let transport: &'static Transport = TRANSPORT.init(Spim::new(
            SPIM0,
            Ram,
            cs,
            SPIM_TX.init([0; BUFFER]),
            SPIM_RX.init([0; BUFFER]),
        ));
        transport.initialize(spim::Pins::DK_FLASH);
        let _ = spi_nor::SpiTransport::transfer(transport, &[RELEASE_POWER_DOWN], &mut []);
        // The part answers again after t_RES1 (35 us at most): wait well
        // over that (a spin is a cycle or more at 64 MHz).
        for _ in 0..RELEASE_SPINS {
            core::hint::spin_loop();
        }
        let nor: &'static Driver = NOR.init(SpiNor::new(
            transport,
            deferred,
            spi_nor::MX25R6435F_ID,
            regions,
        ));
        nor.register_deferred_call();
        let ready = nor.init();
        (nor, ready)
    }
}

/// The store's flash, chosen by the `nvmc-store` feature.
#[cfg(feature = "nvmc-store")]
mod store {
    use nrf52840::gpio::Port;
    use nrf52840::nvmc::{MmioFlash, Nvmc, NVMC};
    use static_cell::StaticCell;

    /// Where the internal store starts: the top 128 KiB of the flash,
    /// taken from the app area.
    pub const BASE: u32 = 0xE_0000;
    /// Its size: 32 pages.
    pub const SIZE: u32 = 0x2_0000;
    /// Milliseconds of each partial erase (an 85 ms page erase in 9
    /// slices, so the CPU never stalls for long).
    const ERASE_SLICE_MS: u32 = 10;

    /// The flash driver.
    pub type Driver = Nvmc<'static, MmioFlash>;

    static NVMC_STORE: StaticCell<Driver> = StaticCell::new();

    /// The NVMC driver on the top 32 pages.
    pub fn build(
        _port: &'static Port<'static>,
        deferred: kernel::deferred_call::DeferredCall,
        _regions: u32,
    ) -> (&'static Driver, Result<(), [u8; 3]>) {
        // SAFETY: `BASE .. BASE + SIZE` is internal flash above the
        // kernel, and the board hands the app loader only the app area
        // below `BASE` (see `main`), so nothing else uses these pages.
        let array = unsafe { MmioFlash::new(BASE, SIZE) };
        let nvmc: &'static Driver = NVMC_STORE.init(Nvmc::new(NVMC, array, deferred));
        nvmc.register_deferred_call();
        nvmc.set_partial_erase(Some(ERASE_SLICE_MS));
        (nvmc, Ok(()))
    }
}

/// The app area the loader walks: all of it, or with the internal store
/// what lies below the store.
#[cfg(not(feature = "nvmc-store"))]
const APP_AREA_LEN: usize = APP_FLASH_LEN;
#[cfg(feature = "nvmc-store")]
const APP_AREA_LEN: usize = (store::BASE - APP_FLASH) as usize;
#[cfg(feature = "nvmc-store")]
const _: () = assert!(
    store::BASE + store::SIZE == APP_FLASH + APP_FLASH_LEN as u32,
    "the internal store is the top of the app area"
);

/// The store's regions: board.toml's on the SPI NOR; every page of the
/// internal store.
#[cfg(not(feature = "nvmc-store"))]
const STORE_REGIONS: u32 = board::STORE_REGIONS;
#[cfg(feature = "nvmc-store")]
const STORE_REGIONS: u32 = store::SIZE / nrf52840::nvmc::PAGE;

type Led = LedDriver<'static, Pin<'static>>;
type Buttons = ButtonDriver<'static, Pin<'static>>;

/// The components' memory.
type Memory = StandardMemory<Rtc<'static>, KERNEL_OUT, VALUE_MAX>;

/// The board's syscall drivers: the standard set, LEDs and buttons.
struct Drivers {
    standard: &'static standard::Drivers<Rtc<'static>, VALUE_MAX>,
    led: &'static Led,
    button: &'static Buttons,
}

impl SyscallDriverLookup for Drivers {
    fn driver(&self, driver: u32) -> Option<&dyn SyscallDriver> {
        match driver {
            led::DRIVER_NUM => Some(self.led),
            button::DRIVER_NUM => Some(self.button),
            _ => self.standard.driver(driver),
        }
    }
}

static DEFERRED: StaticCell<DeferredCalls<DEFERRED_CALL_SLOTS>> = StaticCell::new();
static UART: StaticCell<Uarte<'static, Ram>> = StaticCell::new();
static RTC: StaticCell<Rtc<'static>> = StaticCell::new();
static PORT: StaticCell<Port<'static>> = StaticCell::new();
static SYSTICK: StaticCell<SysTick> = StaticCell::new();
static CHIP: StaticCell<Nrf52840<'static>> = StaticCell::new();
static MPU: StaticCell<Mpu> = StaticCell::new();
static PROCESSES: ConstStaticCell<[Process; NUM_PROCS]> =
    ConstStaticCell::new([const { Process::new() }; NUM_PROCS]);
static KERNEL: StaticCell<Kernel> = StaticCell::new();
static LED_TABLE: StaticCell<[(Pin<'static>, ActivationMode); 4]> = StaticCell::new();
static BUTTON_TABLE: StaticCell<[(Pin<'static>, ActivationMode); 4]> = StaticCell::new();
static LEDS: StaticCell<Option<Led>> = StaticCell::new();
static BUTTONS: StaticCell<Option<Buttons>> = StaticCell::new();
static MEMORY: StaticCell<Memory> = StaticCell::new();
static KV_SCRATCH: ConstStaticCell<KVBuffer<512>> = ConstStaticCell::new(KVBuffer::new());
static KV_INDEX: ConstStaticCell<[tickv::IndexEntry; INDEX_ENTRIES]> =
    ConstStaticCell::new([tickv::IndexEntry::EMPTY; INDEX_ENTRIES]);
static KV_VALUE: ConstStaticCell<KVBuffer<{ driver_value_len(VALUE_MAX) }>> =
    ConstStaticCell::new(KVBuffer::new());
static DRIVERS: StaticCell<Drivers> = StaticCell::new();

/// Reset continues here from `_cm_reset` (cortexm).
#[no_mangle]
pub extern "C" fn main() -> ! {
    // Newer nRF52840s close the debug port at every reset unless the
    // firmware keeps it open: without this, tockloader could not reach
    // the board again.
    nrf52840::approtect::keep_debug_port_open(
        nrf52840::approtect::FICR,
        nrf52840::approtect::APPROTECT,
    );
    let calls: &'static DeferredCalls<DEFERRED_CALL_SLOTS> = DEFERRED.init(DeferredCalls::new());

    // Clocks: the 64 MHz crystal for exact baud rates, the 32.768 kHz
    // one (or the RC oscillator) for RTC1.
    let clock = Clock::new(CLOCK, Ram);
    let hfxo = clock.start_hfxo();
    let lfclk = clock.start_lfclk_or_rc();

    // Console.
    let uart0: &'static Uarte<'static, Ram> = UART.init(Uarte::new(UARTE0, Ram));
    uart0.initialize(uarte::Pins::DK);
    let _ = uart0.configure(Parameters::default());
    let mut early = uart0.blocking_writer();
    if hfxo.is_err() {
        let _ = writeln!(early, "{NAME}: the 64 MHz crystal did not start");
    }
    if lfclk.is_err() {
        let _ = writeln!(
            early,
            "{NAME}: no low-frequency clock: alarms will not fire"
        );
    }

    let rtc: &'static Rtc<'static> = RTC.init(Rtc::new(RTC1));
    rtc.start();
    let port: &'static Port<'static> = PORT.init(Port::new(P0, GPIOTE));
    let systick: &'static SysTick = SYSTICK.init(SysTick::new(CPU_HZ));
    let chip: &'static Nrf52840<'static> = CHIP.init(Nrf52840::new(uart0, rtc, port));

    // The store's flash.
    let deferred = calls.allocate().expect("deferred call for the flash");
    let (flash, ready) = store::build(port, deferred, STORE_REGIONS);
    if let Err(id) = ready {
        let _ = writeln!(
            early,
            "{NAME}: the SPI NOR flash does not answer (JEDEC id {id:02x?}); no storage"
        );
    }

    // LEDs and buttons.
    let leds = LED_TABLE.init(LED_PINS.map(|n| (port.pin(n), ActivationMode::ActiveLow)));
    leds.iter().for_each(|(pin, _)| pin.make_output(true));
    let buttons = BUTTON_TABLE.init(BUTTON_PINS.map(|n| (port.pin(n), ActivationMode::ActiveLow)));
    buttons.iter().for_each(|(pin, _)| pin.make_input(Pull::Up));

    // The kernel, then every component that has a grant (all of them
    // before the processes are loaded).
    let processes: &'static [Process] = PROCESSES.take();
    let kernel: &'static Kernel = KERNEL.init(Kernel::new(processes));
    io::set_kernel(kernel);
    let mpu: &'static Mpu = MPU.init(Mpu::new());
    // Console, alarm, low-level debug, IPC, the key-value stack and the
    // kernel's boot counter: the drivers every board offers.
    let board = standard::build(
        NAME,
        MEMORY.init(StandardMemory::new()),
        kernel,
        calls,
        Hardware {
            uart: uart0,
            alarm: rtc,
            flash,
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
    let (console, kv, counter) = (board.console, &board.kv, board.counter);
    let led = components::gpio::leds(LEDS.init(None), leds);
    let button = components::gpio::buttons(BUTTONS.init(None), buttons, kernel).expect("buttons");
    let drivers: &'static Drivers = DRIVERS.init(Drivers {
        standard: board.drivers,
        led,
        button,
    });

    chip.initialize();
    let _ = kv.mount();
    counter.start();

    // Processes.
    let _ = writeln!(console.kernel_writer(), "{NAME}: kernel started");
    // SAFETY: the app area is internal flash outside the kernel image
    // (the linker script asserts the kernel ends below it) and outside
    // the internal store (`APP_AREA_LEN` ends below it); tockloader writes
    // the apps there and nothing writes it while the kernel runs. Process
    // RAM is outside the kernel's RAM (board.toml, checked by the build
    // script) and taken only here.
    let memory =
        unsafe { cortexm::switch::take_app_memory(APP_FLASH, APP_AREA_LEN, APP_RAM, APP_RAM_LEN) };
    components::loading::load_with_development_policy(NAME, kernel, console, memory, &CortexM, mpu);

    let platform = Platform {
        drivers,
        filter: &TbfPermissionsFilter,
        fault_policy: &RestartWithThreshold { threshold: 3 },
        boundary: &CortexM,
        protection: mpu,
        chip,
        timer: systick,
        deferred: calls,
        timeslice_us: TIMESLICE_US,
        debug: Some(console),
    };
    kernel.run_forever(&platform)
}
