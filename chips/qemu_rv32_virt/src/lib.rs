//! Drivers for QEMU's `qemu-system-riscv32 -M virt` machine.
//!
//! | module | device | address | kernel interface |
//! |---|---|---|---|
//! | [`uart`] | NS16550A UART0, PLIC source 10 | `0x1000_0000` | `hil::uart` (`Configure`, `Transmit`, `Receive`), blocking writes |
//! | [`clint`] | CLINT `mtime` / hart 0 `mtimecmp`, 10 MHz | `0x0200_BFF8` / `0x0200_4000` | `hil::time::{Time, Alarm}` (`Ticks64`, `Freq10MHz`), `platform::SchedulerTimer` |
//! | [`plic`] | PLIC, context 0 (hart 0, M-mode) | `0x0c00_0000` | enable / claim / complete |
//! | [`test_exit`] | `sifive_test` | `0x0010_0000` | exit QEMU with a status |
//! | [`pflash`] | CFI pflash (Intel command set), unit 1 | `0x2200_0000` | `hil::flash::Flash` |
//! | [`chip`] | all of the above | | `platform::chip::Chip` |
//!
//! The UART driver is the shared [`ns16550`] crate, the PLIC and the
//! machine timer drivers are the arch crate's (`rv32i::plic`,
//! `rv32i::mtimer`); the machine-mode CSR
//! accesses (`mie`, `wfi`) and the interrupt contract are `rv32i::csr`;
//! register blocks are reached through `static_ref`'s [`StaticRef`].
//!
//! The crate builds and its tests run on the host: register blocks are
//! reached through [`StaticRef`]s, which tests point
//! at ordinary memory, and the pflash driver works over the
//! [`PflashBus`](pflash::PflashBus) trait, which tests implement with an
//! emulated chip pair. Everything that names a real address or executes a
//! CSR instruction exists only on RISC-V targets (`target_arch =
//! "riscv32"`, `target_os = "none"`). The only `unsafe` code creates
//! register references from addresses, does volatile pflash accesses, and
//! executes CSR instructions.
//!
//! # Instantiating the drivers on a board
//!
//! ```text
//! use kernel::deferred_call::DeferredCalls;
//! use kernel::hil::flash::Flash;
//! use kernel::hil::uart::{Configure, Parameters};
//! use qemu_rv32_virt_chip::{chip, clint, pflash, plic, uart};
//!
//! // One deferred-call slot each for the UART (aborts) and the pflash
//! // driver (all its work), plus whatever the capsules need.
//! let calls = CALLS.init(DeferredCalls::new()); // static CALLS: StaticCell<DeferredCalls<8>>
//!
//! // static UART0: StaticCell<uart::Uart16550<'static>>
//! let uart0 = UART0.init(uart::Uart16550::new(
//!     uart::UART0, uart::UART0_CLOCK_HZ, calls.allocate().unwrap()));
//! uart0.register_deferred_call();
//! uart0.configure(Parameters::default()).unwrap();
//!
//! let clint0 = CLINT0.init(clint::Clint::new(clint::MTIME, clint::MTIMECMP0)); // static CLINT0: StaticCell<clint::Clint<'static>>
//! let plic0 = PLIC0.init(plic::Plic::new(plic::PLIC, plic::NUM_SOURCES)); // static PLIC0: StaticCell<plic::Plic>
//!
//! // static FLASH: StaticCell<pflash::Pflash<'static, pflash::MmioPflashBus>>
//! let flash = FLASH.init(pflash::Pflash::new(
//!     pflash::MmioPflashBus::virt_unit1(), calls.allocate().unwrap(), None));
//! flash.register_deferred_call();
//! flash.init();
//! flash.set_client(storage_capsule);
//!
//! let chip = CHIP.init(chip::QemuVirt::new(plic0, clint0, uart0)); // static CHIP: StaticCell<chip::QemuVirt<'static>>
//! chip.initialize(); // PLIC: UART0 enabled; mtimecmp = never; mie.MEIE | mie.MTIE
//!
//! // Platform { chip, timer: clint0, deferred: calls, debug: Some(uart0), .. }
//! // Alarms: clint0 implements hil::time::Alarm (set its client, or put a
//! // virtual alarm mux on top). It is also the SchedulerTimer: both share
//! // mtimecmp, the driver keeps the earlier deadline programmed.
//! // Panic handler: uart::BlockingWriter::new(uart::UART0), then
//! // test_exit::exit_failure(code).
//! ```
//!
//! Things a board writer must know:
//!
//! * Boot the kernel from RAM (`-bios none -kernel kernel.elf`) and keep
//!   storage on pflash unit 1: the kernel must never execute from a pflash
//!   unit while it is programmed (instruction fetches would read status
//!   words). The unit 1 image must be exactly 32 MiB
//!   (`-drive if=pflash,unit=1,format=raw,file=F`), created 0xFF-filled.
//! * To give the storage stack only part of unit 1, pass
//!   `Some(erase_units)` to [`Pflash::new`](pflash::Pflash::new) (the first
//!   units), or build the bus with
//!   [`MmioPflashBus::new`](pflash::MmioPflashBus::new) at a block-aligned
//!   base inside the unit.
//! * The chip's [`QemuVirt::initialize`](chip::QemuVirt::initialize) must
//!   run before the kernel loop; see [`chip`] for the interrupt contract
//!   with the arch crate.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod chip;
pub mod clint;
pub mod pflash;
pub mod plic;
pub mod test_exit;
pub mod uart;

pub use chip::QemuVirt;
pub use static_ref::StaticRef;
