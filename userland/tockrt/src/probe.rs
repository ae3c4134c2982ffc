//! Probes for ABI conformance tests.
//!
//! A normal app never hands the kernel a pointer into kernel memory, a
//! wrapped range or a function in the middle of its TBF header; a
//! conformance test must, and must see the raw answers. The share probes
//! here make one system call with whatever values they are given and then
//! hand back what the kernel held before, so the kernel's state (and the
//! soundness of any enclosing scope) is as it was. The register probes run
//! a system call with every register set to a known pattern and report
//! any register the kernel did not keep.

use core::arch::asm;

use crate::share::raw;
use crate::syscall::{class, SyscallReturn};

/// Subscribe with any function address and app data, then restore the
/// previous subscription. The kernel's answer to the probed subscribe.
pub fn subscribe(driver: u32, num: u32, fn_addr: u32, appdata: u32) -> SyscallReturn {
    raw::subscribe_then_restore(driver, num, fn_addr, appdata)
}

/// Read-only allow of any range, then restore the previous buffer. The
/// kernel's answer to the probed allow. (Safe: the kernel only reads.)
pub fn allow_ro(driver: u32, num: u32, addr: u32, len: u32) -> SyscallReturn {
    // SAFETY: read-only allows let the kernel read, never write.
    unsafe { raw::allow_then_restore(class::READ_ONLY_ALLOW, driver, num, addr, len) }
}

/// Read-write allow of any range, then restore the previous buffer. The
/// kernel's answer to the probed allow.
///
/// # Safety
///
/// No operation of `driver` that writes allow `num` may be in progress
/// (the kernel could write the range between the two calls), unless the
/// range is memory the program does not use.
pub unsafe fn allow_rw(driver: u32, num: u32, addr: u32, len: u32) -> SyscallReturn {
    // SAFETY: the caller's contract.
    unsafe { raw::allow_then_restore(class::READ_WRITE_ALLOW, driver, num, addr, len) }
}

/// Userspace-readable allow of any range, then restore the previous
/// buffer. The kernel's answer to the probed allow.
///
/// # Safety
///
/// As for [`allow_rw`].
pub unsafe fn allow_userspace_readable(
    driver: u32,
    num: u32,
    addr: u32,
    len: u32,
) -> SyscallReturn {
    // SAFETY: the caller's contract.
    unsafe { raw::allow_then_restore(class::USERSPACE_READABLE_ALLOW, driver, num, addr, len) }
}

/// Loads the word at `addr` with a plain `lw`. An address the process may
/// not read faults it (which is what the fault tests want).
pub fn load_word(addr: u32) -> u32 {
    let value: u32;
    // SAFETY: a load changes nothing; the asm block is opaque to Rust, so
    // reading memory that is not a Rust object is not undefined behaviour,
    // and a fault ends the process.
    unsafe {
        asm!(
            "lw {value}, 0({addr})",
            addr = in(reg) addr,
            value = lateout(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// Stores `value` at `addr` with a plain `sw`.
///
/// # Safety
///
/// `addr` must be word-aligned memory of the process that no Rust object
/// occupies (for instance between the initial break and the current one).
pub unsafe fn store_word(addr: u32, value: u32) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!(
            "sw {value}, 0({addr})",
            addr = in(reg) addr,
            value = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

/// A register the kernel changed during a system call that must keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clobbered {
    /// ABI name of the register.
    pub register: &'static str,
    /// Its value after the call.
    pub got: u32,
    /// Its value before the call.
    pub want: u32,
}

/// Patterns loaded into the registers before a probed call; each differs
/// from the others and from any value the kernel returns.
const PATTERN: u32 = 0x5A00_0000;

/// Runs Command(`driver`, `command`, `arg0`, `arg1`) with a4-a7, t0-t6,
/// s2-s11, ra, sp, gp and tp holding known values, and checks that all of
/// them survive (only a0-a3 may change). Returns the command's answer, or
/// the first register that changed.
pub fn command_keeps_registers(
    driver: u32,
    command: u32,
    arg0: u32,
    arg1: u32,
) -> Result<SyscallReturn, Clobbered> {
    keeps_registers(class::COMMAND, [driver, command, arg0, arg1])
}

/// As [`command_keeps_registers`], for memop `op` (2-11: queries and debug
/// records, which change nothing).
pub fn memop_keeps_registers(op: u32) -> Result<SyscallReturn, Clobbered> {
    let op = if (2..=11).contains(&op) { op } else { 2 };
    keeps_registers(class::MEMOP, [op, 0, 0, 0])
}

/// Subscribe to `(driver, num)` with the null upcall while checking the
/// registers; for a driver that does not exist this changes nothing.
pub fn failing_subscribe_keeps_registers(
    driver: u32,
    num: u32,
) -> Result<SyscallReturn, Clobbered> {
    keeps_registers(class::SUBSCRIBE, [driver, num, 0, 0])
}

fn keeps_registers(class: u32, args: [u32; 4]) -> Result<SyscallReturn, Clobbered> {
    // Values before and after for: a4 a5 a6 a7 t0 t1 t2 t3 t4 t5 t6
    // s2 s3 s4 s5 s6 s7 s8 s9 s10, then s11 (which holds the address of
    // `special`) and ra sp gp tp (saved through it).
    const NAMES: [&str; 25] = [
        "a4", "a5", "a6", "a7", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "s2", "s3", "s4", "s5",
        "s6", "s7", "s8", "s9", "s10", "s11", "ra", "sp", "gp", "tp",
    ];
    let mut want = [0u32; 20];
    for (i, w) in want.iter_mut().enumerate() {
        *w = PATTERN | (i as u32) << 8 | 0x11;
    }
    want[0] = class;
    let mut got = want;
    let [mut r0, mut r1, mut r2, mut r3] = args;
    // ra, sp, gp, tp before (index 0) and after (index 1) the ecall.
    let mut special = [[0u32; 2]; 4];
    let special_addr = special.as_mut_ptr() as usize as u32;
    let mut s11 = special_addr;
    // SAFETY: the classes used here (command, memop queries, subscribe of
    // the null upcall) share no memory or function with the kernel. Every
    // register the kernel might change is an in/out operand, so the
    // compiler sees any change. ra is saved before and restored after the
    // call by the template itself; the stores go to `special`, a live
    // local array whose address s11 holds (if the kernel changed s11, the
    // stores would go astray: s11 is checked first, and a wild store faults
    // or lands in memory this test reports as wrong anyway).
    unsafe {
        asm!(
            "sw ra, 0(s11)",
            "sw sp, 8(s11)",
            "sw gp, 16(s11)",
            "sw tp, 24(s11)",
            "li ra, {ra_pattern}",
            "ecall",
            "sw ra, 4(s11)",
            "sw sp, 12(s11)",
            "sw gp, 20(s11)",
            "sw tp, 28(s11)",
            "lw ra, 0(s11)",
            ra_pattern = const PATTERN | 0xAA,
            inlateout("a0") r0,
            inlateout("a1") r1,
            inlateout("a2") r2,
            inlateout("a3") r3,
            inout("a4") got[0],
            inout("a5") got[1],
            inout("a6") got[2],
            inout("a7") got[3],
            inout("t0") got[4],
            inout("t1") got[5],
            inout("t2") got[6],
            inout("t3") got[7],
            inout("t4") got[8],
            inout("t5") got[9],
            inout("t6") got[10],
            inout("s2") got[11],
            inout("s3") got[12],
            inout("s4") got[13],
            inout("s5") got[14],
            inout("s6") got[15],
            inout("s7") got[16],
            inout("s8") got[17],
            inout("s9") got[18],
            inout("s10") got[19],
            inout("s11") s11,
            options(nostack),
        );
    }
    let ra_want = PATTERN | 0xAA;
    let checks = want.iter().zip(got.iter()).map(|(w, g)| (*g, *w)).chain([
        (s11, special_addr),
        (special[0][1], ra_want),
        (special[1][1], special[1][0]),
        (special[2][1], special[2][0]),
        (special[3][1], special[3][0]),
    ]);
    for (i, (got, want)) in checks.enumerate() {
        if got != want {
            return Err(Clobbered {
                register: NAMES[i],
                got,
                want,
            });
        }
    }
    Ok(SyscallReturn::decode([r0, r1, r2, r3]))
}
