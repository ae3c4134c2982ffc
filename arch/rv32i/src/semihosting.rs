//! Semihosting exit (RISC-V targets only): ends the simulation with an
//! exit code (QEMU with `-semihosting-config enable=on,target=native`).
//! The call is the semihosting sequence `slli x0, x0, 0x1f; ebreak; srai
//! x0, x0, 7` (uncompressed, in one page) with the operation in `a0` and
//! its argument in `a1`, executed in machine mode. Without semihosting the
//! `ebreak` is a breakpoint exception: use it only in test builds.

/// `SYS_EXIT_EXTENDED`: exit with a status.
const SYS_EXIT_EXTENDED: u32 = 0x20;
/// `ADP_Stopped_ApplicationExit`.
const APPLICATION_EXIT: u32 = 0x2_0026;

/// Ends the simulation with status `code`.
pub fn exit(code: u32) -> ! {
    let block = [APPLICATION_EXIT, code];
    // SAFETY: the semihosting call reads the two-word block and ends the
    // simulation; it writes no memory and changes no register but a0.
    unsafe {
        core::arch::asm!(
            ".option push",
            ".option norvc",
            ".p2align 4",
            "slli x0, x0, 0x1f",
            "ebreak",
            "srai x0, x0, 7",
            ".option pop",
            inout("a0") SYS_EXIT_EXTENDED => _,
            in("a1") block.as_ptr(),
            options(nostack, readonly)
        );
    }
    loop {
        core::hint::spin_loop();
    }
}
