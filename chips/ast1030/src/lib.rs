//! Drivers for QEMU's `qemu-system-arm -M ast1030-evb` (a Cortex-M4):
//! only what the `qemu_ast1030` board needs.
//!
//! | module | device | address | kernel interface |
//! |---|---|---|---|
//! | [`uart`] | UART5 (16550, registers 4 bytes apart), NVIC 8 | `0x7E78_4000` | `hil::uart` (the shared [`ns16550`] driver) |
//! | [`fmc`] | FMC, CE0 in user (command) mode; the CS0 window | `0x7E62_0000`, `0x8000_0000` | [`spi_nor::SpiTransport`] for the `w25q80bl` |
//! | [`timer`] | timer 1, free-running at 1 MHz | `0x7E78_2000` | `hil::time::{Time, Alarm}` |
//! | [`chip`] | NVIC, SysTick wake-ups, sleep | | `platform::chip::{Chip, SchedulerTimer}` |
//!
//! SysTick (in `cortexm`) ends timeslices and wakes the core for alarms:
//! the alarm itself is a compare in software against timer 1, checked by
//! the kernel's main loop (see [`chip`]). The crate builds and its tests
//! run on the host; the addresses exist only on ARM targets.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod chip;
pub mod fmc;
pub mod timer;
pub mod uart;

pub use chip::Ast1030;
pub use static_ref::StaticRef;
