//! The CLINT machine timer of the `virt` machine: `mtime` and hart 0's
//! `mtimecmp` at 10 MHz, driven by the arch crate's machine timer
//! ([`rv32i::mtimer`]).

use kernel::hil::time::Freq10MHz;
pub use rv32i::mtimer::{MtimeRegisters, MtimecmpRegisters};
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
use static_ref::StaticRef;

/// The CLINT timer: `hil::time::{Time, Alarm}` with `Ticks64` at 10 MHz,
/// and the kernel's `SchedulerTimer`.
pub type Clint<'a> = rv32i::mtimer::Mtimer<'a, Freq10MHz>;

/// Address of `mtime` on the `virt` machine.
pub const MTIME_BASE: usize = 0x0200_BFF8;
/// Address of hart 0's `mtimecmp` on the `virt` machine.
pub const MTIMECMP0_BASE: usize = 0x0200_4000;

/// The `mtime` register (only on RISC-V targets).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const MTIME: StaticRef<MtimeRegisters> =
    // SAFETY: the CLINT of the `virt` machine maps `mtime` (two 32-bit
    // halves, little endian) at `MTIME_BASE`.
    unsafe { StaticRef::new(MTIME_BASE as *const MtimeRegisters) };

/// Hart 0's `mtimecmp` register (only on RISC-V targets).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const MTIMECMP0: StaticRef<MtimecmpRegisters> =
    // SAFETY: the CLINT of the `virt` machine maps hart 0's `mtimecmp`
    // (two 32-bit halves, little endian) at `MTIMECMP0_BASE`.
    unsafe { StaticRef::new(MTIMECMP0_BASE as *const MtimecmpRegisters) };
