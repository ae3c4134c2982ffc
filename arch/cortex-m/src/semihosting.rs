//! Semihosting exit: ends the simulation with an exit code (QEMU with
//! `-semihosting-config enable=on,target=native`). Without a debugger or
//! semihosting the `bkpt` is a debug event: the core halts or takes a
//! HardFault, so use it only for test builds.

/// `SYS_EXIT_EXTENDED`: exit with a status.
const SYS_EXIT_EXTENDED: u32 = 0x20;
/// `ADP_Stopped_ApplicationExit`.
const APPLICATION_EXIT: u32 = 0x2_0026;

/// Ends the simulation with status `code`.
pub fn exit(code: u32) -> ! {
    let block = [APPLICATION_EXIT, code];
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    // SAFETY: the semihosting call reads the two-word block and ends the
    // simulation; it writes no memory.
    unsafe {
        core::arch::asm!(
            "bkpt 0xab",
            in("r0") SYS_EXIT_EXTENDED,
            in("r1") block.as_ptr(),
            options(nostack, readonly)
        );
    }
    let _ = (block, SYS_EXIT_EXTENDED);
    loop {
        core::hint::spin_loop();
    }
}
