//! The RV32I port of the kernel (machine mode kernel, user-mode processes).
//!
//! * [`context`]: [`Rv32i`], the `UserspaceBoundary` of the kernel core:
//!   the saved register file of a process, entry registers, syscall
//!   return values, upcall frames, and the decoding of traps into
//!   `SwitchReason`s. Pure Rust, tested on the host.
//! * [`csr`]: the `mie` interrupt enables and `wfi`, and the interrupt
//!   contract between this port and a chip.
//! * [`pmp`]: [`Pmp`], the `MemoryProtection` of the kernel core on the
//!   Physical Memory Protection unit (TOR entries, 4-byte granularity).
//! * [`irq`]: the main loop's interrupt routing for a chip with a PLIC and
//!   a machine timer.
//! * [`plic`]: the RISC-V PLIC (context 0), shared by the chips that have
//!   one (QEMU `virt`, lowRISC's `rv_plic`).
//! * [`mtimer`]: the RISC-V machine timer (`mtime`/`mtimecmp`) as the
//!   kernel's alarm and scheduler timer, at the chip's frequency.
//! * `semihosting` (RISC-V targets only): the exit call test kernels end
//!   a QEMU run with where the machine has no test device.
//! * `trap` (RISC-V targets only): the trap vector, the switch to user
//!   mode and back, and the reset entry `_start`. The only `unsafe` and
//!   assembly in the port.
//!
//! The kernel runs in machine mode with `mstatus.MIE` clear: it is never
//! interrupted. Interrupts are taken only while a process runs (in user
//! mode machine interrupts are always enabled); the trap returns to the
//! kernel, whose main loop then services the devices. `wfi` still wakes on
//! an enabled pending interrupt with `MIE` clear.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod context;
pub mod csr;
pub mod irq;
pub mod mtimer;
pub mod plic;
pub mod pmp;
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub mod semihosting;
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub mod trap;

pub use context::Rv32i;
pub use pmp::Pmp;
