//! OpenTitan Earl Grey: the chip around the lowRISC IP blocks
//! (`chips/lowrisc`).
//!
//! | module | what |
//! |---|---|
//! | [`map`] | base addresses, PLIC sources, flash and RAM |
//! | [`chip`] | [`EarlGrey`]: the kernel's `Chip` (PLIC, `rv_timer`, UART0) |
//! | [`epmp`] | the kernel's locked ePMP regions and `mseccfg` (Smepmp) |
//!
//! The same addresses hold in QEMU's `-M opentitan`, which models UART0,
//! `rv_timer` (at a fixed 10 kHz), the SPI hosts and the PLIC; flash_ctrl
//! is a stub there (reads 0), so the flash driver finds no controller and
//! stays off (`lowrisc::flash_ctrl`).
//!
//! Everything that names a real address or executes a CSR instruction
//! exists only on RISC-V targets; the rest is host-tested.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod chip;
pub mod epmp;
pub mod map;

pub use chip::EarlGrey;
