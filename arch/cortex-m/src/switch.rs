//! The vector table, reset, exception entry and the switch to
//! unprivileged thread mode (ARM targets only). The only assembly of the
//! port; core peripherals are reached through the `cortex-m` crate.
//!
//! # The switch
//!
//! The kernel runs in privileged thread mode on the main stack (MSP) with
//! interrupts enabled. `_cm_switch_to_user(state, frame_sp)` saves the
//! kernel's callee-saved registers and the state pointer on the main
//! stack, sets the process stack pointer (PSP) to the hardware frame the
//! Rust side wrote into process memory, loads the process's r4-r11 and
//! executes `svc 0xff`. The SVC handler sees that it came from the main
//! stack, makes thread mode unprivileged (`CONTROL.nPRIV`) and returns
//! with `EXC_RETURN` = thread mode on PSP: the hardware pops the frame and
//! the process runs.
//!
//! Any exception taken from the process (an `svc`, a fault, SysTick or an
//! external interrupt) records in `CM_TRAP` why (reason, svc immediate,
//! exception number, and for precise data faults the faulting
//! instruction), makes thread mode privileged again and returns with
//! `EXC_RETURN` = thread mode on MSP. That pops the frame the kernel's own
//! `svc 0xff` stacked, so execution continues right after it, with the
//! process's r4-r11 still in the registers (the handlers touch only the
//! caller-saved r0-r3 and r12): the switch stores them into `state` and
//! returns the PSP, where the process's hardware frame now is.
//!
//! Interrupts taken while the kernel runs only mask their source: an
//! external interrupt is disabled in the NVIC and left pending (the chip
//! services it from the main loop and re-enables it); SysTick raises a
//! flag and keeps counting (the kernel stops it). A fault taken in the kernel panics with the
//! decoded fault status.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU32, Ordering};

use kernel::platform::arch::{ProcessMemory, StoredState};

use crate::context::{EXCEPTION, INSTR, REASON, SVC};
use crate::fault::FaultStatus;

/// Written by the exception entry code when a process traps: reason
/// ([`crate::context::Reason`]), svc immediate, exception number, faulting
/// instruction.
#[no_mangle]
static CM_TRAP: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// Set by the SysTick handler when the timer fired.
#[no_mangle]
pub(crate) static CM_SYSTICK_FIRED: AtomicU32 = AtomicU32::new(0);

global_asm!(
    r#"
    .syntax unified
    .thumb

    .section .vectors, "a"
    .globl _cm_vectors
    .p2align 10
_cm_vectors:
    .word _estack
    .word _cm_reset
    .word _cm_kernel_fault_entry
    .word _cm_fault_handler
    .word _cm_fault_handler
    .word _cm_fault_handler
    .word _cm_fault_handler
    .word 0
    .word 0
    .word 0
    .word 0
    .word _cm_svc_handler
    .word _cm_kernel_fault_entry
    .word 0
    .word _cm_kernel_fault_entry
    .word _cm_systick_handler
    .rept 240
    .word _cm_irq_handler
    .endr

    .section .text._cm_reset, "ax"
    .globl _cm_reset
    .type _cm_reset, %function
    .thumb_func
_cm_reset:
    // .data from its load address (flash on a chip that runs from flash;
    // the same address where the image is loaded into RAM, a no-op).
    ldr r0, =_sdata
    ldr r1, =_edata
    ldr r2, =_sidata
4:
    cmp r0, r1
    bhs 5f
    ldr r3, [r2], #4
    str r3, [r0], #4
    b 4b
5:
    ldr r0, =_szero
    ldr r1, =_ezero
    movs r2, #0
1:
    cmp r0, r1
    bhs 2f
    str r2, [r0], #4
    b 1b
2:
    // The vector table, then MemManage, BusFault and UsageFault enabled
    // (SHCSR bits 16-18) so they are not escalated to HardFault.
    ldr r0, =0xE000ED08
    ldr r1, =_cm_vectors
    str r1, [r0]
    ldr r0, =0xE000ED24
    ldr r1, [r0]
    orr r1, r1, #0x70000
    str r1, [r0]
    dsb
    isb
    bl main
3:
    wfi
    b 3b

    .section .text._cm_switch_to_user, "ax"
    .globl _cm_switch_to_user
    .type _cm_switch_to_user, %function
    .thumb_func
_cm_switch_to_user:
    push {{r4-r11, lr}}
    push {{r0}}
    msr psp, r1
    add r2, r0, #16
    ldmia r2, {{r4-r11}}
    svc 0xff
    pop {{r0}}
    add r2, r0, #16
    stmia r2, {{r4-r11}}
    mrs r0, psp
    pop {{r4-r11, pc}}

    .section .text._cm_svc_handler, "ax"
    .type _cm_svc_handler, %function
    .thumb_func
_cm_svc_handler:
    tst lr, #4
    bne 1f
    // From the kernel's switch: enter the process, unprivileged, on PSP.
    movs r0, #1
    msr CONTROL, r0
    isb
    mvn lr, #2
    bx lr
1:
    ldr r1, =CM_TRAP
    movs r0, #1
    str r0, [r1]
    // The svc immediate: low byte of the instruction before the stacked pc.
    mrs r0, psp
    ldr r0, [r0, #24]
    ldrb r0, [r0, #-2]
    str r0, [r1, #4]
    b _cm_return_to_kernel

    .section .text._cm_fault_handler, "ax"
    .type _cm_fault_handler, %function
    .thumb_func
_cm_fault_handler:
    tst lr, #4
    beq _cm_kernel_fault_entry
    ldr r1, =CM_TRAP
    movs r0, #2
    str r0, [r1]
    movs r0, #0
    str r0, [r1, #12]
    // Precise data fault (DACCVIOL, PRECISERR) with a valid frame (no
    // MSTKERR, STKERR): save the instruction at the stacked pc, so the
    // kernel can tell a load from a store.
    ldr r2, =0xE000ED28
    ldr r2, [r2]
    ldr r3, =0x1010
    tst r2, r3
    bne 2f
    ldr r3, =0x0202
    tst r2, r3
    beq 2f
    mrs r0, psp
    ldr r0, [r0, #24]
    ldrh r3, [r0]
    lsrs r2, r3, #11
    cmp r2, #0x1d
    blo 1f
    ldrh r2, [r0, #2]
    orr r3, r3, r2, lsl #16
1:
    str r3, [r1, #12]
2:
    b _cm_return_to_kernel

    .section .text._cm_systick_handler, "ax"
    .type _cm_systick_handler, %function
    .thumb_func
_cm_systick_handler:
    // Flag it. The timer keeps running (periodic): if it fired while the
    // kernel was still on its way to a process, it fires again one period
    // into the process, which so cannot keep the CPU.
    ldr r0, =CM_SYSTICK_FIRED
    movs r1, #1
    str r1, [r0]
    b _cm_interrupt_common

    .section .text._cm_irq_handler, "ax"
    .type _cm_irq_handler, %function
    .thumb_func
_cm_irq_handler:
    // Disable the source in the NVIC and leave it pending: the chip
    // services it from the kernel's main loop and enables it again.
    mrs r0, ipsr
    subs r0, r0, #16
    lsrs r2, r0, #5
    and r3, r0, #31
    movs r1, #1
    lsls r1, r1, r3
    ldr r3, =0xE000E180
    str r1, [r3, r2, lsl #2]
    ldr r3, =0xE000E200
    str r1, [r3, r2, lsl #2]
    dsb
    isb
_cm_interrupt_common:
    tst lr, #4
    it eq
    bxeq lr
    ldr r1, =CM_TRAP
    movs r0, #3
    str r0, [r1]
    b _cm_return_to_kernel

    .section .text._cm_return_to_kernel, "ax"
    .type _cm_return_to_kernel, %function
    .thumb_func
_cm_return_to_kernel:
    // r1 = CM_TRAP. Back to privileged thread mode on MSP: right after the
    // switch's svc.
    mrs r0, ipsr
    str r0, [r1, #8]
    movs r0, #0
    msr CONTROL, r0
    isb
    mvn lr, #6
    bx lr

    .section .text._cm_kernel_fault_entry, "ax"
    .type _cm_kernel_fault_entry, %function
    .thumb_func
_cm_kernel_fault_entry:
    mrs r0, ipsr
    mrs r1, msp
    ldr r1, [r1, #24]
    b _cm_kernel_fault
"#
);

extern "C" {
    fn _cm_switch_to_user(state: *mut u32, frame_sp: u32, ram: *mut u8) -> u32;
}

/// Reads and clears the fault status registers.
pub fn take_fault_status(exception: u32) -> FaultStatus {
    // SAFETY: the SCB is a core peripheral; reading its fault registers
    // and writing back CFSR/HFSR (write-one-to-clear) has no other effect.
    let scb = unsafe { &*cortex_m::peripheral::SCB::PTR };
    let status = FaultStatus {
        exception,
        cfsr: scb.cfsr.read(),
        hfsr: scb.hfsr.read(),
        mmfar: scb.mmfar.read(),
        bfar: scb.bfar.read(),
    };
    // SAFETY: as above: clears the sticky status bits just read.
    unsafe {
        scb.cfsr.write(status.cfsr);
        scb.hfsr.write(status.hfsr);
    }
    status
}

/// Runs the process until it traps. `frame_sp` is where its hardware
/// frame was written; returns the process stack pointer at the trap (its
/// new frame) and the fault status if it faulted. Fills the trap words of
/// `state` (reason, svc, exception, instruction) and r4-r11.
pub fn run_process(
    state: &mut StoredState,
    frame_sp: u32,
    memory: &mut ProcessMemory<'_>,
) -> (u32, FaultStatus) {
    // SAFETY: the switch saves and restores every callee-saved register
    // and returns like a normal call; it writes only words 4-11 of
    // `state` (36 words). The process can write its RAM, whose slice is
    // borrowed mutably here so the compiler assumes it changed; the MPU,
    // configured before this call, keeps the process out of everything
    // else.
    let psp =
        unsafe { _cm_switch_to_user(state.words.as_mut_ptr(), frame_sp, memory.ram.as_mut_ptr()) };
    let w = &mut state.words;
    w[REASON] = CM_TRAP[0].load(Ordering::Relaxed);
    w[SVC] = CM_TRAP[1].load(Ordering::Relaxed);
    w[EXCEPTION] = CM_TRAP[2].load(Ordering::Relaxed);
    w[INSTR] = CM_TRAP[3].load(Ordering::Relaxed);
    let status = if w[REASON] == crate::context::Reason::Fault as u32 {
        take_fault_status(w[EXCEPTION])
    } else {
        FaultStatus::default()
    };
    (psp, status)
}

/// Writes the eight MPU regions and enables the MPU with the default map
/// as the privileged background.
pub fn write_mpu(regions: &[(u32, u32); crate::mpu::REGIONS]) {
    // SAFETY: the MPU is a core peripheral; regions only restrict
    // unprivileged code (PRIVDEFENA keeps the kernel's view), and the
    // process does not run while they change.
    unsafe {
        let mpu = &*cortex_m::peripheral::MPU::PTR;
        for (rbar, rasr) in regions {
            mpu.rbar.write(*rbar);
            mpu.rasr.write(*rasr);
        }
        // ENABLE | PRIVDEFENA.
        mpu.ctrl.write(0b101);
    }
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// The app area and process RAM as the kernel's [`kernel::AppMemory`],
/// with the MPU's process regions off ([`init_mpu`]): what a board hands
/// the process loader, once, at boot.
///
/// # Safety
///
/// `flash_start .. flash_start + flash_len` must be readable memory that
/// holds the apps, outside the kernel image, and that nothing writes
/// while the kernel runs. `ram_start .. ram_start + ram_len` must be RAM
/// outside the kernel's that nothing else uses; the caller hands it out
/// only this once (the kernel then reaches it only through the slice, and
/// processes only through the MPU).
pub unsafe fn take_app_memory(
    flash_start: u32,
    flash_len: usize,
    ram_start: u32,
    ram_len: usize,
) -> kernel::AppMemory {
    // SAFETY: the caller's contract for the app area.
    let flash: &'static [u8] =
        unsafe { core::slice::from_raw_parts(flash_start as *const u8, flash_len) };
    // SAFETY: the caller's contract for process RAM: valid, unaliased, and
    // taken once.
    let ram: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(ram_start as *mut u8, ram_len) };
    init_mpu();
    kernel::AppMemory {
        flash,
        flash_start,
        ram,
        ram_start,
    }
}

/// Turns regions 4-7 off (call once at boot, before the first process).
pub fn init_mpu() {
    // SAFETY: see `write_mpu`.
    unsafe {
        let mpu = &*cortex_m::peripheral::MPU::PTR;
        for n in 4..8u32 {
            mpu.rnr.write(n);
            mpu.rasr.write(0);
        }
    }
}

/// A fault taken while the kernel itself ran: a kernel bug.
#[no_mangle]
extern "C" fn _cm_kernel_fault(exception: u32, pc: u32) -> ! {
    let status = take_fault_status(exception & 0x1FF);
    panic!("kernel fault at pc {pc:#010x}\n{status}");
}
