//! The `virt` machine's PLIC: the RISC-V PLIC driver of the arch crate
//! ([`rv32i::plic`]) at `0x0c00_0000` with 96 sources.

pub use rv32i::plic::{Plic, PlicRegisters};
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
use static_ref::StaticRef;

/// Address of the PLIC on the `virt` machine.
pub const PLIC_BASE: usize = 0x0c00_0000;
/// Number of interrupt sources of the `virt` machine's PLIC, including the
/// reserved source 0.
pub const NUM_SOURCES: usize = 96;

/// The PLIC register block (only on RISC-V targets).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const PLIC: StaticRef<PlicRegisters> =
    // SAFETY: the `virt` machine maps its PLIC at `PLIC_BASE`; the driver
    // touches only the registers of its `NUM_SOURCES` sources there.
    unsafe { StaticRef::new(PLIC_BASE as *const PlicRegisters) };
