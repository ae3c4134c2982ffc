//! ARMv7-M (Cortex-M4): `svc <class>` with the class as the instruction's
//! immediate, arguments and answers in `r0`-`r3`. The kernel keeps the
//! other registers; a yield may run an upcall, a C call returning through
//! `lr` to the instruction after the `svc`.

use core::arch::{asm, global_asm};

use super::Changed;

/// `asm!` with `svc <class>` between the `pre` and `post` instructions:
/// the class is the instruction's immediate, so each class is its own
/// instruction (a class above 7 becomes `svc 255`, which the kernel
/// refuses like any class above 7).
macro_rules! svc_asm {
    ($class:expr, [$($pre:literal),*], [$($post:literal),*], $($operands:tt)*) => {
        match $class {
            0 => asm!($($pre,)* "svc 0", $($post,)* $($operands)*),
            1 => asm!($($pre,)* "svc 1", $($post,)* $($operands)*),
            2 => asm!($($pre,)* "svc 2", $($post,)* $($operands)*),
            3 => asm!($($pre,)* "svc 3", $($post,)* $($operands)*),
            4 => asm!($($pre,)* "svc 4", $($post,)* $($operands)*),
            5 => asm!($($pre,)* "svc 5", $($post,)* $($operands)*),
            6 => asm!($($pre,)* "svc 6", $($post,)* $($operands)*),
            7 => asm!($($pre,)* "svc 7", $($post,)* $($operands)*),
            _ => asm!($($pre,)* "svc 255", $($post,)* $($operands)*),
        }
    };
}

/// Four-argument system call; answers `r0`-`r3`. Contract: `syscall4` in
/// [`crate::syscall`].
#[inline(always)]
pub unsafe fn syscall4(class: u32, args: [u32; 4]) -> [u32; 4] {
    let [mut r0, mut r1, mut r2, mut r3] = args;
    // SAFETY: the kernel changes r0-r3 only (declared), keeps every other
    // register, and does not use our stack. Memory effects are the
    // caller's contract.
    unsafe {
        svc_asm!(class, [], [],
            inlateout("r0") r0,
            inlateout("r1") r1,
            inlateout("r2") r2,
            inlateout("r3") r3,
            options(nostack),
        );
    }
    [r0, r1, r2, r3]
}

/// Two-register system call (memop, exit): answers `r0`-`r1`, every other
/// register kept. Contract: `syscall2` in [`crate::syscall`].
#[inline(always)]
pub unsafe fn syscall2(class: u32, args: [u32; 2]) -> [u32; 2] {
    let [mut r0, mut r1] = args;
    // SAFETY: the kernel answers in r0-r1 only and keeps every other
    // register; it does not use our stack.
    unsafe {
        svc_asm!(class, [], [],
            inlateout("r0") r0,
            inlateout("r1") r1,
            options(nostack),
        );
    }
    [r0, r1]
}

/// Yield (wait or no-wait: `which`) that may run one upcall, as a C call
/// on our stack returning after the `svc`.
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
            "svc 0",
            in("r0") which,
            in("r1") flag,
            clobber_abi("C"),
        );
    }
}

/// Yield wait-for: the kernel writes the upcall's arguments into `r0`-`r2`.
pub fn yield_wait_for(driver: u32, subscribe: u32) -> (u32, u32, u32) {
    let (r0, r1, r2);
    // SAFETY: no upcall runs in a wait-for: the kernel writes r0-r2 and
    // keeps every other register (r3 included), and does not use our
    // stack.
    unsafe {
        asm!(
            "svc 0",
            inlateout("r0") 2u32 => r0,
            inlateout("r1") driver => r1,
            inlateout("r2") subscribe => r2,
            options(nostack),
        );
    }
    (r0, r1, r2)
}

/// The word load instruction of [`super::load_word`].
macro_rules! load_word_asm {
    () => {
        "ldr {value}, [{addr}]"
    };
}

/// The word store instruction of [`super::store_word`].
macro_rules! store_word_asm {
    () => {
        "str {value}, [{addr}]"
    };
}

pub(super) use {load_word_asm, store_word_asm};

/// No clock is readable from unprivileged Cortex-M code (SysTick and the
/// chip's timers are not mapped for processes).
pub fn clock() -> Option<u32> {
    None
}

/// No instruction counter is readable from unprivileged code.
pub fn instructions() -> Option<u32> {
    None
}

/// Patterns loaded into the registers before a probed call.
const PATTERN: u32 = crate::probe::PATTERN;

/// One system call with `args` in r0-r3 and known patterns in r4, r5, r8,
/// r10 and r12; checks that they, r11 (which holds the address of
/// `special`), lr and sp survive. Returns r0-r3 after the call and the
/// first other register that changed. (r6, r7 and r9 are the compiler's
/// to keep: it cannot lend them.)
///
/// # Safety
///
/// As for `syscall4`, and a yield may run upcalls registered through
/// `share`.
pub unsafe fn registers_after(class: u32, args: [u32; 4]) -> ([u32; 4], Option<Changed>) {
    const NAMES: [&str; 8] = ["r4", "r5", "r8", "r10", "r12", "r11", "lr", "sp"];
    let mut want = [0u32; 5];
    for (i, w) in want.iter_mut().enumerate() {
        *w = PATTERN | (i as u32) << 8 | 0x11;
    }
    let mut got = want;
    let [mut r0, mut r1, mut r2, mut r3] = args;
    // lr and sp before (index 0) and after (index 1) the svc.
    let mut special = [[0u32; 2]; 2];
    let special_addr = special.as_mut_ptr() as usize as u32;
    let mut r11 = special_addr;
    // SAFETY: the caller's contract covers what the call shares. Every
    // register the kernel (or an upcall run by a yield) might change is an
    // in/out operand or saved and restored by the template (lr), so the
    // compiler sees any change; the stores go to `special`, a live local
    // array whose address r11 holds (checked first). No `nostack`: an
    // upcall run by a yield uses the stack below sp.
    unsafe {
        svc_asm!(
            class,
            [
                "str lr, [r11, #0]",
                "str sp, [r11, #8]",
                "movw lr, #0x00AA",
                "movt lr, #0x5A00"
            ],
            [
                "str lr, [r11, #4]",
                "str sp, [r11, #12]",
                "ldr lr, [r11, #0]"
            ],
            inlateout("r0") r0,
            inlateout("r1") r1,
            inlateout("r2") r2,
            inlateout("r3") r3,
            inout("r4") got[0],
            inout("r5") got[1],
            inout("r8") got[2],
            inout("r10") got[3],
            inout("r12") got[4],
            inout("r11") r11,
        );
    }
    let lr_want = PATTERN | 0xAA;
    let checks = want.iter().zip(got.iter()).map(|(w, g)| (*g, *w)).chain([
        (r11, special_addr),
        (special[0][1], lr_want),
        (special[1][1], special[1][0]),
    ]);
    let changed = super::first_changed(&NAMES, checks);
    ([r0, r1, r2, r3], changed)
}

// The entry point: r0 the binary start (the runtime header), r1 the RAM
// start, r2 the RAM length, r3 the initial break. r4 and r5 keep r0 and r1
// across the brk, which answers in r0-r1; r2 and r3 stay where the kernel
// put them (a memop writes r0-r1 only and keeps every other register, and
// this start-up relies on it, as libtock-rs's does). Until the brk only
// the 32 bytes the kernel opened at the RAM start are accessible; the
// code uses no stack before it sets sp.
global_asm!(
    ".syntax unified",
    ".section .start, \"ax\"",
    ".globl _start",
    ".type _start, %function",
    ".thumb_func",
    "_start:",
    // Run only where linked: the header records _start's address.
    "    adr r12, _start",
    "    ldr r4, [r0]",
    "    bic r4, r4, #1",
    "    bic r12, r12, #1",
    "    cmp r4, r12",
    "    bne 90f",
    "    mov r4, r0",
    "    mov r5, r1",
    // brk(initial break): opens the stack, .data and .bss.
    "    movs r0, #0",
    "    ldr r1, [r4, #4]",
    "    svc 5",
    "    cmp r0, #128",
    "    bne 91f",
    "    ldr r6, [r4, #8]",
    "    mov sp, r6",
    // Copy .data from flash, a word at a time.
    "    ldr r6, [r4, #12]",
    "    ldr r7, [r4, #16]",
    "    ldr r12, [r4, #20]",
    "1:  cbz r6, 2f",
    "    ldr lr, [r7], #4",
    "    str lr, [r12], #4",
    "    subs r6, r6, #4",
    "    b 1b",
    // Zero .bss, a word at a time.
    "2:  ldr r6, [r4, #24]",
    "    ldr r7, [r4, #28]",
    "    mov lr, #0",
    "3:  cbz r6, 4f",
    "    str lr, [r7], #4",
    "    subs r6, r6, #4",
    "    b 3b",
    "4:  mov r0, r4",
    "    mov r1, r5",
    "    bl {rust_start}",
    // Loaded at the wrong address: alert (low-level debug 8, command 1,
    // code 2) and exit 1, as libtock-rs does.
    "90: movs r0, #8",
    "    movs r1, #1",
    "    movs r2, #2",
    "    svc 2",
    "    movs r0, #0",
    "    movs r1, #1",
    "    svc 6",
    "    b 90b",
    // The kernel refused the initial break.
    "91: movs r0, #0",
    "    ldr r1, ={no_memory}",
    "    svc 6",
    "    b 91b",
    ".size _start, . - _start",
    rust_start = sym crate::runtime::rust_start,
    no_memory = const crate::runtime::EXIT_NO_MEMORY,
);
