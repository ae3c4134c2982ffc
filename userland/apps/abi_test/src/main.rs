//! ABI conformance test: checks, from userspace, every rule of the system
//! call ABI (`doc/abi.md`, "The classes") that userspace can observe,
//! against the exact values our kernel answers (`doc/kernel.md`, "System
//! calls: the exact behaviour").
//!
//! Prints one line per check, `ok <name>` or `FAIL <name>: got ..., want
//! ...`, then `abi: <n> checks of <declared>, <k> failed`, and exits with
//! code k (a count other than the declared [`checks::CHECKS`] is a
//! failure).
//!
//! It relies on three drivers with upstream Tock's numbers and counts
//! (see [`board`]): console 1, alarm 0 (for upcalls on demand) and
//! low-level debug 8. Checks that involve upcalls wait for alarms of a few
//! milliseconds; everything else runs without blocking. A check that
//! needs several system calls makes all of them before printing anything,
//! since printing yields and could run upcalls the check is counting.

#![no_std]
#![no_main]

mod checks;
mod report;

use tockrt::println;

tockrt::main!(main);

/// What the board offers, with upstream Tock's numbering and the allow and
/// upcall counts of upstream's capsules (which our board follows).
pub mod board {
    /// Alarm driver: upcall 0; no allows.
    pub const ALARM: u32 = 0;
    /// Console driver: upcalls 1 and 2 (of 3 declared: 0-2), read-only
    /// allow 1 and read-write allow 1 (of 2 declared each: 0-1), no
    /// userspace-readable allows.
    pub const CONSOLE: u32 = 1;
    /// Low-level debug driver: commands only.
    pub const LOW_LEVEL_DEBUG: u32 = 8;
    /// A driver number no board uses.
    pub const NO_DRIVER: u32 = 0x00DE_AD00;
    /// Upcalls the console declares.
    pub const CONSOLE_UPCALLS: u32 = 3;
    /// Read-only allows the console declares.
    pub const CONSOLE_READ_ONLY: u32 = 2;
    /// Read-write allows the console declares.
    pub const CONSOLE_READ_WRITE: u32 = 2;
    /// Upcalls the alarm declares.
    pub const ALARM_UPCALLS: u32 = 1;
    /// Bytes from the TBF start to the binary (layout.toml).
    pub const PROTECTED_SIZE: u32 = 0x80;
    /// Bytes of the kernel's upcall queue at the top of process RAM (10
    /// entries of 28 bytes).
    pub const UPCALL_QUEUE_BYTES: u32 = 280;
    /// Upcalls the kernel queues per process.
    pub const UPCALL_QUEUE_DEPTH: u32 = 10;
    /// Alarm frequency, from the board description (the virt machine's
    /// CLINT counts at 10 MHz, the AST1030's timer at 1 MHz).
    pub const ALARM_HZ: u32 = tockrt::board_u32!("TOCK_ALARM_HZ");
    /// Bytes the kernel opens at the RAM start before the first
    /// instruction (the initial break's offset): none on RISC-V, the
    /// initial exception frame on Cortex-M.
    pub const ENTRY_FRAME: u32 = if cfg!(target_arch = "arm") { 32 } else { 0 };
}

fn main() -> u32 {
    println!("abi: start");
    let mut r = report::Report::new();
    checks::run(&mut r);
    // A check that silently stopped running (or ran twice) changes the
    // count: that is a failure too.
    let mut failed = r.failed();
    if r.checks() != checks::CHECKS {
        failed += 1;
        println!(
            "FAIL check_count: ran {} checks, the app declares {}",
            r.checks(),
            checks::CHECKS
        );
    }
    println!(
        "abi: {} checks of {}, {failed} failed",
        r.checks(),
        checks::CHECKS
    );
    failed
}
