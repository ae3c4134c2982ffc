//! The ARMv7-M (Cortex-M4) port of the kernel: privileged thread-mode
//! kernel on the main stack, unprivileged processes on the process stack.
//!
//! * [`context`]: [`CortexM`], the `UserspaceBoundary` of the kernel core:
//!   the saved registers of a process (with the hardware-stacked frame
//!   kept in the stored state between runs), entry registers, syscall
//!   return values (only the variant's registers), upcall frames, and the
//!   decoding of traps into `SwitchReason`s. Pure Rust, host-tested.
//! * [`fault`]: CFSR / HFSR / MMFAR / BFAR decoding into the kernel's
//!   `Fault`, and a readable dump. Pure Rust, host-tested.
//! * [`mpu`]: [`Mpu`], the `MemoryProtection` of the kernel core on the
//!   PMSAv7 MPU (power-of-two regions with subregions; the rounding is
//!   documented there). The region arithmetic is host-tested.
//! * [`systick`]: SysTick as the scheduler timer.
//! * [`nvic`]: interrupt enables and the contract with chip crates.
//! * [`semihosting`]: exit with a status (test builds).
//! * `switch` (ARM targets only): the vector table, reset, the exception
//!   entry code and the switch to thread mode. The only assembly of the
//!   port.
//!
//! Board linker scripts must place `.vectors` at the vector table address
//! (0 on the AST1030 and the nRF52840), define `_estack`, bound `.data`
//! with `_sdata` / `_edata` and give its load address as `_sidata`, and
//! bound `.bss` with `_szero` / `_ezero`; reset copies `.data` (a kernel
//! running from flash has it there), zeroes `.bss` and calls the board's
//! `main`. The kernel
//! is built soft-float (`thumbv7em-none-eabi`) and the FPU stays off, so
//! every exception frame is the basic eight-word one; a process using a
//! floating-point instruction takes a UsageFault (NOCP).

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod context;
pub mod fault;
pub mod mpu;
pub mod nvic;
pub mod semihosting;
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub mod switch;
pub mod systick;

pub use context::CortexM;
pub use mpu::Mpu;
pub use systick::SysTick;
