//! RISC-V (rv32): `ecall` with the class in `a4`, arguments and answers
//! in `a0`-`a3`.

use core::arch::{asm, global_asm};

use super::Changed;

/// Four-argument system call; answers `a0`-`a3`. Contract: `syscall4` in
/// [`crate::syscall`].
#[inline(always)]
pub unsafe fn syscall4(class: u32, args: [u32; 4]) -> [u32; 4] {
    let [mut r0, mut r1, mut r2, mut r3] = args;
    // SAFETY: the kernel changes a0-a3 only (declared), keeps every other
    // register, and does not use our stack. Memory effects are the
    // caller's contract.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") r0,
            inlateout("a1") r1,
            inlateout("a2") r2,
            inlateout("a3") r3,
            in("a4") class,
            options(nostack),
        );
    }
    [r0, r1, r2, r3]
}

/// Two-register system call (memop, exit): answers `a0`-`a1`, every other
/// register kept. Contract: `syscall2` in [`crate::syscall`].
#[inline(always)]
pub unsafe fn syscall2(class: u32, args: [u32; 2]) -> [u32; 2] {
    let [mut r0, mut r1] = args;
    // SAFETY: the kernel answers in a0-a1 only and keeps every other
    // register; it does not use our stack.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") r0,
            inlateout("a1") r1,
            in("a4") class,
            options(nostack),
        );
    }
    [r0, r1]
}

/// Yield (wait or no-wait: `which`) that may run one upcall, as a C call
/// on our stack returning after the `ecall`.
///
/// # Safety
///
/// `flag` as in `yield_no_wait_flag`; the upcalls that can run must be
/// sound to call (registered through `share`).
pub unsafe fn yield_upcall(which: u32, flag: *mut u8) {
    // SAFETY: every caller-saved register is clobbered (clobber_abi), sp
    // and callee-saved registers survive; the rest is the caller's
    // contract.
    unsafe {
        asm!(
            "ecall",
            in("a0") which,
            in("a1") flag,
            in("a4") crate::syscall::class::YIELD,
            clobber_abi("C"),
        );
    }
}

/// Yield wait-for: the kernel writes the upcall's arguments into `a0`-`a2`.
pub fn yield_wait_for(driver: u32, subscribe: u32) -> (u32, u32, u32) {
    let (r0, r1, r2);
    // SAFETY: no upcall runs in a wait-for: the kernel writes a0-a2 and
    // keeps every other register (a3 included), and does not use our
    // stack.
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") 2u32 => r0,
            inlateout("a1") driver => r1,
            inlateout("a2") subscribe => r2,
            in("a4") crate::syscall::class::YIELD,
            options(nostack),
        );
    }
    (r0, r1, r2)
}

/// The word load instruction of [`super::load_word`].
macro_rules! load_word_asm {
    () => {
        "lw {value}, 0({addr})"
    };
}

/// The word store instruction of [`super::store_word`].
macro_rules! store_word_asm {
    () => {
        "sw {value}, 0({addr})"
    };
}

pub(super) use {load_word_asm, store_word_asm};

/// The `time` CSR's low word: a clock independent of the kernel's
/// drivers (the board lets user mode read it).
pub fn clock() -> Option<u32> {
    let t: u32;
    // SAFETY: reads a user-readable counter CSR; no memory access.
    unsafe { asm!("rdtime {0}", out(reg) t, options(nomem, nostack)) };
    Some(t)
}

/// The instructions retired (`instret`), if user mode may read it.
pub fn instructions() -> Option<u32> {
    let n: u32;
    // SAFETY: reads a user-readable counter CSR; no memory access.
    unsafe { asm!("rdinstret {0}", out(reg) n, options(nomem, nostack)) };
    Some(n)
}

/// Patterns loaded into the registers before a probed call.
const PATTERN: u32 = crate::probe::PATTERN;

/// One system call with `args` in a0-a3 and known patterns in every other
/// register; checks that a4-a7, t0-t6, s2-s11, ra, sp, gp and tp survive.
/// Returns a0-a3 after the call and the first other register that
/// changed. (s0 and s1 are the compiler's to keep: it cannot lend them.)
///
/// # Safety
///
/// As for `syscall4`, and a yield may run upcalls registered through
/// `share`.
pub unsafe fn registers_after(class: u32, args: [u32; 4]) -> ([u32; 4], Option<Changed>) {
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
    // SAFETY: the caller's contract covers what the call shares. Every
    // register the kernel (or an upcall run by a yield) might change is an
    // in/out operand, so the compiler sees any change. ra is saved before
    // and restored after the call by the template itself; the stores go
    // to `special`, a live local array whose address s11 holds (if the
    // kernel changed s11, the stores would go astray: s11 is checked
    // first, and a wild store faults or lands in memory this test reports
    // as wrong anyway). No `nostack`: an upcall run by a yield uses the
    // stack below sp.
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
    let changed = super::first_changed(&NAMES, checks);
    ([r0, r1, r2, r3], changed)
}

// The entry point. s2 and s3 keep a0 and a1 (the binary start and the RAM
// start) across the brk ecall, which answers in a0-a1. a2 and a3 (RAM
// length and initial break) stay where the kernel put them: a memop writes
// a0-a1 only and keeps every other register, and this start-up relies on
// it, as libtock-rs's does (a kernel that clobbers a2/a3 shows up in
// abi_test's entry checks).
global_asm!(
    ".section .start, \"ax\"",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    // Run only where linked: the header records _start's address, and
    // this auipc is _start's first instruction.
    "    auipc t0, 0",
    "    mv s2, a0",
    "    mv s3, a1",
    "    lw t1, 0(s2)",
    "    bne t0, t1, 90f",
    // brk(initial break): opens the stack, .data and .bss.
    "    li a0, 0",
    "    lw a1, 4(s2)",
    "    li a4, 5",
    "    ecall",
    "    li t0, 128",
    "    bne a0, t0, 91f",
    "    lw sp, 8(s2)",
    // Copy .data from flash, a word at a time.
    "    lw t0, 12(s2)",
    "    lw t1, 16(s2)",
    "    lw t2, 20(s2)",
    "1:  beqz t0, 2f",
    "    lw t3, 0(t1)",
    "    sw t3, 0(t2)",
    "    addi t1, t1, 4",
    "    addi t2, t2, 4",
    "    addi t0, t0, -4",
    "    j 1b",
    // Zero .bss, a word at a time.
    "2:  lw t0, 24(s2)",
    "    lw t1, 28(s2)",
    "3:  beqz t0, 4f",
    "    sw zero, 0(t1)",
    "    addi t1, t1, 4",
    "    addi t0, t0, -4",
    "    j 3b",
    "4:  mv a0, s2",
    "    mv a1, s3",
    "    call {rust_start}",
    // Loaded at the wrong address: alert (low-level debug 8, command 1,
    // code 2) and exit 1, as libtock-rs does.
    "90: li a0, 8",
    "    li a1, 1",
    "    li a2, 2",
    "    li a4, 2",
    "    ecall",
    "    li a0, 0",
    "    li a1, 1",
    "    li a4, 6",
    "    ecall",
    "    j 90b",
    // The kernel refused the initial break.
    "91: li a0, 0",
    "    li a1, {no_memory}",
    "    li a4, 6",
    "    ecall",
    "    j 91b",
    ".size _start, . - _start",
    rust_start = sym crate::runtime::rust_start,
    no_memory = const crate::runtime::EXIT_NO_MEMORY,
);
