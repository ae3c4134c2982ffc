//! Reset entry, trap vector and the switch to user mode (RISC-V targets
//! only). The only assembly and `unsafe` of the port.
//!
//! # The switch
//!
//! `_rv32i_switch_to_user(state, ram)` saves the kernel's callee-saved
//! registers on the kernel stack, stores the stack pointer in `mscratch`
//! (non-zero `mscratch` means "a process is running"), loads the process's
//! registers from `state` and `mret`s to user mode. The process runs until
//! it traps (ecall, fault, or any machine interrupt, which user mode cannot
//! mask). The trap vector swaps `sp` with `mscratch`: a non-zero value is
//! the kernel frame, so it saves every process register into `state`
//! together with `mepc`, `mcause` and `mtval`, clears `mscratch`, restores
//! the kernel registers and returns from the switch function as if it had
//! been an ordinary call.
//!
//! A trap with `mscratch == 0` comes from the kernel itself. The kernel
//! runs with `mstatus.MIE` clear, so that is always an exception (a kernel
//! bug): it is handed to [`kernel_trap`], which panics with the cause.
//!
//! `state` layout (bytes): `x<n>` at `4 * n`, pc at 128, mcause at 132,
//! mtval at 136 (see [`crate::context`]). Kernel frame (80 bytes): ra 0,
//! gp 4, tp 8, s0-s11 12..56, state pointer 60, scratch 64.

use core::arch::{asm, global_asm};

use kernel::platform::arch::{ProcessMemory, StoredState};

use crate::pmp::{PmpBase, PmpShared};

/// The process's PMP configuration (`pmpcfg0`, `pmpcfg1`, `pmpcfg2`)
/// while it runs, with the `epmp-mml` feature: the switch writes it just
/// before `mret` and the trap entry clears the three registers again, so
/// that in machine mode no user-only entry (Smepmp machine-mode lockdown)
/// hides the process's memory from the kernel.
#[cfg(feature = "epmp-mml")]
#[no_mangle]
static RV32I_PMP_USER_CFG: [core::sync::atomic::AtomicU32; 3] =
    [const { core::sync::atomic::AtomicU32::new(0) }; 3];

/// Turns the process's PMP entries on (the switch, before `mret`; t0 and
/// t1 are free there).
#[cfg(feature = "epmp-mml")]
macro_rules! pmp_user_on {
    () => {
        r#"
    la t0, RV32I_PMP_USER_CFG
    lw t1, 0(t0)
    csrw pmpcfg0, t1
    lw t1, 4(t0)
    csrw pmpcfg1, t1
    lw t1, 8(t0)
    csrw pmpcfg2, t1
"#
    };
}

/// Turns the process's PMP entries off (the trap entry from user mode,
/// before any memory access; needs no register).
#[cfg(feature = "epmp-mml")]
macro_rules! pmp_user_off {
    () => {
        r#"
    csrw pmpcfg0, zero
    csrw pmpcfg1, zero
    csrw pmpcfg2, zero
"#
    };
}

#[cfg(not(feature = "epmp-mml"))]
macro_rules! pmp_user_on {
    () => {
        ""
    };
}

#[cfg(not(feature = "epmp-mml"))]
macro_rules! pmp_user_off {
    () => {
        ""
    };
}

global_asm!(concat!(
    r#"
    .section .text._rv32i_switch_to_user, "ax"
    .globl _rv32i_switch_to_user
    .p2align 2
_rv32i_switch_to_user:
    addi sp, sp, -80
    sw ra, 0(sp)
    sw gp, 4(sp)
    sw tp, 8(sp)
    sw s0, 12(sp)
    sw s1, 16(sp)
    sw s2, 20(sp)
    sw s3, 24(sp)
    sw s4, 28(sp)
    sw s5, 32(sp)
    sw s6, 36(sp)
    sw s7, 40(sp)
    sw s8, 44(sp)
    sw s9, 48(sp)
    sw s10, 52(sp)
    sw s11, 56(sp)
    sw a0, 60(sp)
    csrw mscratch, sp
    lw t0, 128(a0)
    csrw mepc, t0
    // Return to user mode (MPP = 0) with interrupts on (MPIE = 1).
    li t0, 0x1800
    csrc mstatus, t0
    li t0, 0x80
    csrs mstatus, t0
"#,
    pmp_user_on!(),
    r#"
    lw x1, 4(a0)
    lw x2, 8(a0)
    lw x3, 12(a0)
    lw x4, 16(a0)
    lw x5, 20(a0)
    lw x6, 24(a0)
    lw x7, 28(a0)
    lw x8, 32(a0)
    lw x9, 36(a0)
    lw x11, 44(a0)
    lw x12, 48(a0)
    lw x13, 52(a0)
    lw x14, 56(a0)
    lw x15, 60(a0)
    lw x16, 64(a0)
    lw x17, 68(a0)
    lw x18, 72(a0)
    lw x19, 76(a0)
    lw x20, 80(a0)
    lw x21, 84(a0)
    lw x22, 88(a0)
    lw x23, 92(a0)
    lw x24, 96(a0)
    lw x25, 100(a0)
    lw x26, 104(a0)
    lw x27, 108(a0)
    lw x28, 112(a0)
    lw x29, 116(a0)
    lw x30, 120(a0)
    lw x31, 124(a0)
    lw x10, 40(a0)
    mret

    .section .text._rv32i_trap_vector, "ax"
    .globl _rv32i_trap_vector
    .p2align 2
_rv32i_trap_vector:
    csrrw sp, mscratch, sp
    beqz sp, 1f
"#,
    pmp_user_off!(),
    r#"
    // From user mode: sp is the kernel frame.
    sw t0, 64(sp)
    lw t0, 60(sp)
    sw x1, 4(t0)
    sw x3, 12(t0)
    sw x4, 16(t0)
    sw x6, 24(t0)
    sw x7, 28(t0)
    sw x8, 32(t0)
    sw x9, 36(t0)
    sw x10, 40(t0)
    sw x11, 44(t0)
    sw x12, 48(t0)
    sw x13, 52(t0)
    sw x14, 56(t0)
    sw x15, 60(t0)
    sw x16, 64(t0)
    sw x17, 68(t0)
    sw x18, 72(t0)
    sw x19, 76(t0)
    sw x20, 80(t0)
    sw x21, 84(t0)
    sw x22, 88(t0)
    sw x23, 92(t0)
    sw x24, 96(t0)
    sw x25, 100(t0)
    sw x26, 104(t0)
    sw x27, 108(t0)
    sw x28, 112(t0)
    sw x29, 116(t0)
    sw x30, 120(t0)
    sw x31, 124(t0)
    lw t1, 64(sp)
    sw t1, 20(t0)
    csrr t1, mscratch
    sw t1, 8(t0)
    csrr t1, mepc
    sw t1, 128(t0)
    csrr t1, mcause
    sw t1, 132(t0)
    csrr t1, mtval
    sw t1, 136(t0)
    csrw mscratch, zero
    lw ra, 0(sp)
    lw gp, 4(sp)
    lw tp, 8(sp)
    lw s0, 12(sp)
    lw s1, 16(sp)
    lw s2, 20(sp)
    lw s3, 24(sp)
    lw s4, 28(sp)
    lw s5, 32(sp)
    lw s6, 36(sp)
    lw s7, 40(sp)
    lw s8, 44(sp)
    lw s9, 48(sp)
    lw s10, 52(sp)
    lw s11, 56(sp)
    addi sp, sp, 80
    ret
1:
    // From the kernel: restore sp (mscratch becomes 0 again) and report.
    csrrw sp, mscratch, sp
    csrr a0, mcause
    csrr a1, mtval
    csrr a2, mepc
    j _rv32i_kernel_trap

    .section .text._start, "ax"
    .globl _start
    .p2align 2
_start:
    csrw mie, zero
    csrci mstatus, 8
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, _estack
    // Initialised data: from its load address (in flash, for a kernel
    // that runs from flash) to RAM; the linker script gives the three
    // symbols (equal load and run addresses make this a copy in place).
    la t0, _sdata
    la t1, _edata
    la t2, _sidata
5:
    bgeu t0, t1, 6f
    lw t3, 0(t2)
    sw t3, 0(t0)
    addi t0, t0, 4
    addi t2, t2, 4
    j 5b
6:
    la t0, _szero
    la t1, _ezero
2:
    bgeu t0, t1, 3f
    sw zero, 0(t0)
    addi t0, t0, 4
    j 2b
3:
    la t0, _rv32i_mtvec
    csrw mtvec, t0
    csrw mscratch, zero
    call main
4:
    wfi
    j 4b
"#
));

// `mtvec`: direct mode, every trap at `_rv32i_trap_vector`.
#[cfg(not(feature = "vectored-traps"))]
global_asm!(
    r#"
    .globl _rv32i_mtvec
    .set _rv32i_mtvec, _rv32i_trap_vector
"#
);

// `mtvec`: vectored mode (cores that implement only that, like Ibex):
// exceptions enter at the table's base, interrupt `n` at `base + 4n`;
// every slot jumps to the one trap entry, which reads `mcause` anyway.
// The table is 256-byte aligned and its jumps are 4 bytes (no compressed
// instructions), 32 of them.
#[cfg(feature = "vectored-traps")]
global_asm!(
    r#"
    .section .text._rv32i_vector_table, "ax"
    .globl _rv32i_vector_table
    .p2align 8
    .option push
    .option norvc
_rv32i_vector_table:
    .rept 32
    j _rv32i_trap_vector
    .endr
    .option pop
    .globl _rv32i_mtvec
    .set _rv32i_mtvec, _rv32i_vector_table + 1
"#
);

extern "C" {
    fn _rv32i_switch_to_user(state: *mut u32, ram: *mut u8);
}

/// Runs the process whose registers are in `state` until it traps; on
/// return `state` holds its registers and the trap's pc, cause and value.
pub fn run_user(state: &mut StoredState, memory: &mut ProcessMemory<'_>) {
    // SAFETY: the switch saves and restores every register the calling
    // convention requires, returns like a normal call, and writes only
    // `state` (36 words, all offsets the assembly uses are inside it). The
    // process can write its RAM, whose pointer is passed so the compiler
    // treats it as modified by the call; the PMP, configured by the kernel
    // before this call, keeps it out of everything else.
    unsafe { _rv32i_switch_to_user(state.words.as_mut_ptr(), memory.ram.as_mut_ptr()) }
}

/// Writes the PMP entries 0-3 (the process's flash and RAM).
pub fn write_pmp_base(config: &PmpBase) {
    // SAFETY: writing PMP CSRs changes only what user mode may access;
    // entries are unlocked, so machine mode (this kernel) is unaffected.
    // The group's configuration is cleared before its addresses change, so
    // no half-written entry is ever active.
    unsafe {
        asm!(
            "csrw pmpcfg0, zero",
            "csrw pmpaddr0, {a0}",
            "csrw pmpaddr1, {a1}",
            "csrw pmpaddr2, {a2}",
            "csrw pmpaddr3, {a3}",
            a0 = in(reg) config.addr[0],
            a1 = in(reg) config.addr[1],
            a2 = in(reg) config.addr[2],
            a3 = in(reg) config.addr[3],
            options(nostack),
        );
    }
    user_cfg(0, config.cfg0);
}

/// Enables the process entries of configuration register `pmpcfg<n>`
/// (`n` < 3): at once, or, with `epmp-mml`, from the next switch to user
/// mode on.
fn user_cfg(n: usize, cfg: u32) {
    #[cfg(feature = "epmp-mml")]
    RV32I_PMP_USER_CFG[n].store(cfg, core::sync::atomic::Ordering::Relaxed);
    #[cfg(not(feature = "epmp-mml"))]
    // SAFETY: writing a PMP configuration register changes only what
    // user mode may access (the entries are unlocked); the register's
    // addresses were written before.
    unsafe {
        match n {
            0 => asm!("csrw pmpcfg0, {0}", in(reg) cfg, options(nostack)),
            1 => asm!("csrw pmpcfg1, {0}", in(reg) cfg, options(nostack)),
            _ => asm!("csrw pmpcfg2, {0}", in(reg) cfg, options(nostack)),
        }
    }
}

/// Writes the PMP entries 4-11 (the shared buffers).
pub fn write_pmp_shared(config: &PmpShared) {
    // SAFETY: as for `write_pmp_base`, for entries 4-11.
    unsafe {
        asm!(
            "csrw pmpcfg1, zero",
            "csrw pmpcfg2, zero",
            "csrw pmpaddr4, {a4}",
            "csrw pmpaddr5, {a5}",
            "csrw pmpaddr6, {a6}",
            "csrw pmpaddr7, {a7}",
            "csrw pmpaddr8, {a8}",
            "csrw pmpaddr9, {a9}",
            "csrw pmpaddr10, {a10}",
            "csrw pmpaddr11, {a11}",
            a4 = in(reg) config.addr[0],
            a5 = in(reg) config.addr[1],
            a6 = in(reg) config.addr[2],
            a7 = in(reg) config.addr[3],
            a8 = in(reg) config.addr[4],
            a9 = in(reg) config.addr[5],
            a10 = in(reg) config.addr[6],
            a11 = in(reg) config.addr[7],
            options(nostack),
        );
    }
    user_cfg(1, config.cfg[0]);
    user_cfg(2, config.cfg[1]);
}

/// Writes PMP entries 12-15 (`pmpcfg3`, `pmpaddr12..15`), the kernel's
/// own regions on a core with Smepmp (see [`crate::pmp::KernelRegions`]).
/// Entries written with the lock bit cannot change again before reset.
pub fn write_pmp_kernel(cfg3: u32, addr: &[u32; 4]) {
    // SAFETY: entries 12-15 are never used for processes (they take 0-11);
    // the caller's entries cover what the kernel executes and accesses,
    // so locking them (which applies them to machine mode) keeps the
    // kernel running. The addresses are written before the configuration
    // enables the entries.
    unsafe {
        asm!(
            "csrw pmpaddr12, {a12}",
            "csrw pmpaddr13, {a13}",
            "csrw pmpaddr14, {a14}",
            "csrw pmpaddr15, {a15}",
            "csrw pmpcfg3, {cfg}",
            a12 = in(reg) addr[0],
            a13 = in(reg) addr[1],
            a14 = in(reg) addr[2],
            a15 = in(reg) addr[3],
            cfg = in(reg) cfg3,
            options(nostack),
        );
    }
}

/// Sets bits in `mseccfg` (CSR `0x747`, Smepmp). Only on a core that has
/// Smepmp: elsewhere the CSR does not exist and this traps.
pub fn set_mseccfg(bits: u32) {
    // SAFETY: with the kernel's regions locked first (`write_pmp_kernel`),
    // machine-mode whitelisting (MMWP) only denies the kernel what it
    // never touches; the bits are sticky until reset by design.
    unsafe { asm!("csrs 0x747, {0}", in(reg) bits, options(nostack)) }
}

/// A trap taken while the kernel itself ran: a kernel bug.
#[no_mangle]
extern "C" fn _rv32i_kernel_trap(mcause: u32, mtval: u32, mepc: u32) -> ! {
    panic!("kernel trap: mcause {mcause:#x}, mtval {mtval:#010x}, mepc {mepc:#010x}");
}

/// Lets user mode read the `cycle`, `time` and `instret` counters
/// (`mcounteren`, and `scounteren` too: on a hart with supervisor mode, user
/// access needs both), so apps can measure themselves; on QEMU with
/// `-icount` `instret` counts instructions exactly.
pub fn allow_user_counters() {
    // SAFETY: only makes three read-only counters readable from user mode.
    unsafe {
        asm!(
            "csrw mcounteren, {0}",
            "csrw scounteren, {0}",
            in(reg) 0b111u32,
            options(nomem, nostack)
        )
    }
}
