//! Drivers for lowRISC IP blocks, the building blocks of OpenTitan chips
//! (Earl Grey: `chips/earlgrey`).
//!
//! | module | block | kernel interface |
//! |---|---|---|
//! | [`flash_ctrl`] | embedded flash controller | `hil::flash::Flash` (2 KiB pages, 8-byte program unit, each word programmed once) |
//! | [`uart`] | UART | `hil::uart` (`Configure`, `Transmit`, `Receive`), blocking writes |
//! | [`rv_timer`] | RISC-V timer | `hil::time::{Time, Alarm}` and `SchedulerTimer` through `rv32i::mtimer` |
//!
//! The crate builds and its tests run on the host: register blocks are
//! reached through [`StaticRef`]s, which tests point at ordinary memory,
//! and the flash controller driver works over the
//! [`FlashCtrlBus`](flash_ctrl::FlashCtrlBus) trait, which the tests
//! implement with a register model of the controller. Everything that
//! names a real address exists only on RISC-V targets (`target_arch =
//! "riscv32"`, `target_os = "none"`).

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod flash_ctrl;
pub mod rv_timer;
pub mod uart;

pub use static_ref::StaticRef;
