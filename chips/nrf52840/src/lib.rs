//! Drivers for the Nordic nRF52840 (Cortex-M4F, 1 MiB flash, 256 KiB
//! RAM): what the nRF52840-DK board needs.
//!
//! | module | peripheral | address | kernel interface |
//! |---|---|---|---|
//! | [`clock`] | CLOCK: HFXO, LFCLK | `0x4000_0000` | start-up |
//! | [`uarte`] | UARTE0 (EasyDMA), NVIC 2 | `0x4000_2000` | `hil::uart` |
//! | [`spim`] | SPIM0 (EasyDMA) | `0x4000_3000` | [`spi_nor::SpiTransport`] |
//! | [`gpio`] | P0, GPIOTE `PORT` (NVIC 6) | `0x5000_0000`, `0x4000_6000` | `hil::gpio` |
//! | [`rtc`] | RTC1, NVIC 17 | `0x4001_1000` | `hil::time::{Time, Alarm}` |
//! | [`nvmc`] | NVMC, internal flash | `0x4001_E000` | `hil::flash` |
//! | [`chip`] | NVIC, sleep | | `platform::chip::Chip` |
//! | [`approtect`] | FICR variant, `APPROTECT.DISABLE` | `0x1000_0104`, `0x4000_0558` | keeps the debug port open |
//! | [`dma`] | EasyDMA's reach (Data RAM only, 16-bit counts) | | |
//!
//! Registers are described with `tock-registers` and reached through
//! [`StaticRef`]; the addresses exist only on ARM targets, so the crate
//! builds and its tests run on the host, where `tests/` drives each
//! driver against a model of its peripheral that enforces the product
//! specification's rules. Everything here is the nRF52 family's design
//! (the nRF52832 and nRF52833 have the same blocks at the same
//! addresses); what is particular to the nRF52840 is named so: 16-bit
//! EasyDMA counts, 256 KiB of RAM, 1 MiB of flash.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod approtect;
pub mod chip;
pub mod clock;
pub mod dma;
pub mod gpio;
pub mod nvmc;
pub mod rtc;
pub mod spim;
pub mod uarte;

pub use chip::Nrf52840;
pub use static_ref::StaticRef;
