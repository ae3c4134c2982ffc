//! The return-register convention, one probe per variant userspace can
//! reach (see `doc/abi.md`, "Traps and registers").

use super::*;

/// Records a register probe: the answer must be `want` and every register
/// the answer's variant does not use must be as it was.
fn keeps(r: &mut Report, name: &str, got: Result<SyscallReturn, Clobbered>, want: SyscallReturn) {
    match got {
        Ok(ret) => r.eq(name, ret, want),
        Err(c) => r.that(
            name,
            false,
            Clobber(c),
            "only a0 and the registers of the variant written",
        ),
    }
}

/// One probe per return variant userspace can reach (the upstream return
/// convention that libtock-rs relies on): a4-a7, t*, s2-s11, ra, sp, gp,
/// tp, and the argument registers the variant does not use, keep their
/// values. Unused argument registers hold distinctive values.
pub(super) fn registers(r: &mut Report, cx: &Context) {
    use probe::{UNUSED_A2 as A2, UNUSED_A3 as A3};
    // Command: Failure (a0-a1), Success (a0), Success + u32 (a0-a1).
    let cmd = probe::command_keeps_registers;
    keeps(
        r,
        "regs_command_nodevice",
        cmd(NO_DRIVER, 7, A2, A3),
        Failure(NoDevice),
    );
    keeps(
        r,
        "regs_command_nosupport",
        cmd(CONSOLE, 99, A2, A3),
        Failure(NoSupport),
    );
    keeps(r, "regs_command_success", cmd(CONSOLE, 0, A2, A3), Success);
    keeps(
        r,
        "regs_command_success_u32",
        cmd(ALARM, alarm::COMMAND_FREQUENCY, A2, A3),
        SuccessU32(ALARM_HZ),
    );
    keeps(
        r,
        "regs_command_failure_already",
        cmd(ALARM, alarm::COMMAND_STOP, A2, A3),
        Failure(Already),
    );
    // Memop: Success + u32, Success, Failure.
    let mem = probe::memop_keeps_registers;
    keeps(
        r,
        "regs_memop_ram_start",
        mem(2, 0x5A00_00A1),
        SuccessU32(cx.ram),
    );
    keeps(r, "regs_memop_flash_start", mem(4, 0), SuccessU32(cx.tbf));
    keeps(
        r,
        "regs_memop_debug_stack",
        mem(10, tockrt::startup().header.stack_top),
        Success,
    );
    keeps(r, "regs_memop_debug_heap", mem(11, cx.brk), Success);
    keeps(r, "regs_memop_absent_region", mem(8, 0), Failure(Fail));
    keeps(r, "regs_memop_unknown", mem(12, 0), Failure(NoSupport));
    let brk_now = memop::current_break().unwrap_or(0);
    // SAFETY: brk to the current break moves nothing.
    keeps(
        r,
        "regs_brk_success",
        unsafe { probe::brk_keeps_registers(brk_now) },
        Success,
    );
    // SAFETY: below the RAM start the kernel must refuse (and if it did
    // not, the process faults: a failure this test exists to find).
    let below = unsafe { probe::brk_keeps_registers(cx.ram - 4) };
    keeps(r, "regs_brk_nomem", below, Failure(NoMem));
    // Exit with an unknown number: Failure.
    keeps(
        r,
        "regs_exit_other",
        probe::exit_keeps_registers(2, 0),
        Failure(NoSupport),
    );
    // Subscribe: Success + 2 u32 (a0-a2: a3, the app data, is kept) and
    // Failure + 2 u32 (a0-a3).
    keeps(
        r,
        "regs_subscribe_success",
        probe::subscribe_keeps_registers(ALARM, 0, A3),
        SuccessU32U32(0, 0),
    );
    keeps(
        r,
        "regs_subscribe_failure",
        probe::subscribe_keeps_registers(NO_DRIVER, 0, A3),
        FailureU32U32(NoDevice, 0, A3),
    );
    // Allows: Success + 2 u32 (a3, the size passed, is kept) and failure.
    let (pa, la) = ptr_len(MSG_A);
    keeps(
        r,
        "regs_allow_ro_success",
        probe::allow_ro_keeps_registers(CONSOLE, 1, pa, la),
        SuccessU32U32(0, 0),
    );
    keeps(
        r,
        "regs_allow_ro_failure",
        probe::allow_ro_keeps_registers(CONSOLE, 1, KERNEL_RAM, 4),
        FailureU32U32(Inval, KERNEL_RAM, 4),
    );
    let scratch = [0u8; 8];
    let sp = scratch.as_ptr() as usize as u32;
    // SAFETY: console read-write allow 1 is written only by a console
    // read, which this app never starts; the allow is handed back at once.
    let rw_ok = unsafe { probe::allow_rw_keeps_registers(CONSOLE, 1, sp, 8) };
    keeps(r, "regs_allow_rw_success", rw_ok, SuccessU32U32(0, 0));
    // SAFETY: refused (the kernel's memory), so nothing is shared.
    let rw_bad = unsafe { probe::allow_rw_keeps_registers(CONSOLE, 1, KERNEL_RAM, 4) };
    keeps(
        r,
        "regs_allow_rw_failure",
        rw_bad,
        FailureU32U32(Inval, KERNEL_RAM, 4),
    );
    // No driver of this board declares a userspace-readable allow, so only
    // its failure is reachable (its success encodes as the other allows').
    // SAFETY: refused (not declared), so nothing is shared.
    let ur = unsafe { probe::allow_userspace_readable_keeps_registers(CONSOLE, 0, sp, 8) };
    keeps(
        r,
        "regs_allow_ur_failure",
        ur,
        FailureU32U32(NoSupport, sp, 8),
    );
    // Yield no-wait with nothing pending writes no register at all.
    match probe::yield_no_wait_keeps_registers() {
        Ok(flag) => r.eq("regs_yield_no_wait_idle", Hex(flag.into()), Hex(0)),
        Err(c) => r.that(
            "regs_yield_no_wait_idle",
            false,
            Clobber(c),
            "no register written",
        ),
    }
}

/// A clobbered register, for the report.
pub(super) struct Clobber(pub(super) Clobbered);

impl core::fmt::Display for Clobber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} changed from {:#x} to {:#x}",
            self.0.register, self.0.want, self.0.got
        )
    }
}
