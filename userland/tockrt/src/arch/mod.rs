//! The architecture-specific instructions of the runtime: the system call
//! instruction and its registers, the start-up code, and the probes that
//! need exact registers. One module per architecture, with the same
//! functions:
//!
//! | | RISC-V (rv32) | ARMv7-M (Cortex-M4) |
//! |---|---|---|
//! | call | `ecall`, class in `a4` | `svc <class>` |
//! | arguments / answer | `a0`-`a3` | `r0`-`r3` |
//! | upcall return | `ra` | `lr` |

#[cfg(target_arch = "arm")]
mod arm;
#[cfg(target_arch = "riscv32")]
mod riscv;

#[cfg(target_arch = "arm")]
pub use arm::{
    clock, instructions, registers_after, syscall2, syscall4, yield_upcall, yield_wait_for,
};
#[cfg(target_arch = "arm")]
use arm::{load_word_asm, store_word_asm};
#[cfg(target_arch = "riscv32")]
pub use riscv::{
    clock, instructions, registers_after, syscall2, syscall4, yield_upcall, yield_wait_for,
};
#[cfg(target_arch = "riscv32")]
use riscv::{load_word_asm, store_word_asm};

/// A register a probed call changed: name, value after, value before.
pub type Changed = (&'static str, u32, u32);

/// Loads the word at `addr` with the architecture's plain load.
pub fn load_word(addr: u32) -> u32 {
    let value: u32;
    // SAFETY: a load changes nothing; the asm block is opaque to Rust, so
    // reading memory that is not a Rust object is not undefined behaviour,
    // and a fault ends the process.
    unsafe {
        core::arch::asm!(
            load_word_asm!(),
            addr = in(reg) addr,
            value = lateout(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// Stores `value` at `addr` with the architecture's plain store.
/// Contract: `probe::store_word`.
pub unsafe fn store_word(addr: u32, value: u32) {
    // SAFETY: the caller's contract.
    unsafe {
        core::arch::asm!(
            store_word_asm!(),
            addr = in(reg) addr,
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

/// The first `(got, want)` pair that differs, named by its position in
/// `names`.
fn first_changed(
    names: &[&'static str],
    checks: impl Iterator<Item = (u32, u32)>,
) -> Option<Changed> {
    checks
        .zip(names)
        .find(|((got, want), _)| got != want)
        .map(|((got, want), name)| (*name, got, want))
}
