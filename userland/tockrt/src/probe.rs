//! Probes for ABI conformance tests.
//!
//! A normal app never hands the kernel a pointer into kernel memory, a
//! wrapped range or a function in the middle of its TBF header; a
//! conformance test must, and must see the raw answers. The share probes
//! here make one system call with whatever values they are given and then
//! hand back what the kernel held before, so the kernel's state (and the
//! soundness of any enclosing scope) is as it was. The register probes run
//! a system call with every register set to a known pattern and report
//! any register the kernel did not keep: everything but a0 and the
//! registers after it that the answer's variant uses.

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
    crate::arch::load_word(addr)
}

/// Stores `value` at `addr` with a plain `sw`.
///
/// # Safety
///
/// `addr` must be word-aligned memory of the process that no Rust object
/// occupies (for instance between the initial break and the current one).
pub unsafe fn store_word(addr: u32, value: u32) {
    // SAFETY: the caller's contract, passed on.
    unsafe { crate::arch::store_word(addr, value) }
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
pub(crate) const PATTERN: u32 = 0x5A00_0000;

/// Distinctive values probes pass in argument registers a call does not
/// use (`a2`, `a3`), so that a kernel writing them is seen.
pub const UNUSED_A2: u32 = PATTERN | 0xA2A2;
/// See [`UNUSED_A2`].
pub const UNUSED_A3: u32 = PATTERN | 0xA3A3;

/// How many of `a0`-`a3` a return of this variant writes (the upstream
/// convention): `Success` 1; `Success with u32`, `Failure` 2;
/// `Success with 2 u32`, `Success with u64`, `Failure with u32` 3; the
/// others 4. An unknown variant counts as 4 (nothing to compare).
pub fn registers_written(ret: &SyscallReturn) -> usize {
    match ret {
        SyscallReturn::Success => 1,
        SyscallReturn::SuccessU32(_) | SyscallReturn::Failure(_) => 2,
        SyscallReturn::SuccessU32U32(..)
        | SyscallReturn::SuccessU64(_)
        | SyscallReturn::FailureU32(..) => 3,
        _ => 4,
    }
}

const ARG_NAMES: [&str; 4] = ["a0", "a1", "a2", "a3"];

/// `Err` for the first of `a[from..4]` that differs from what was passed.
fn kept_from(from: usize, passed: [u32; 4], after: [u32; 4]) -> Result<(), Clobbered> {
    for i in from..4 {
        if after[i] != passed[i] {
            return Err(Clobbered {
                register: ARG_NAMES[i],
                got: after[i],
                want: passed[i],
            });
        }
    }
    Ok(())
}

/// A probed call with a result variant: the answer, and whether a4 and up
/// and the argument registers the variant does not use were kept.
fn variant_call(class: u32, args: [u32; 4]) -> (SyscallReturn, Result<(), Clobbered>) {
    let (after, kept) = registers_after(class, args);
    let ret = SyscallReturn::decode(after);
    let kept = kept.and_then(|()| kept_from(registers_written(&ret), args, after));
    (ret, kept)
}

/// A probed call's answer, or the first register it changed.
fn checked(class: u32, args: [u32; 4]) -> Result<SyscallReturn, Clobbered> {
    let (ret, kept) = variant_call(class, args);
    kept.map(|()| ret)
}

/// Runs Command(`driver`, `command`, `arg0`, `arg1`) with a4-a7, t0-t6,
/// s2-s11, ra, sp, gp and tp holding known values, and checks that all of
/// them survive, and so do the registers among a1-a3 that the answer's
/// variant does not use (pass distinctive `arg0`/`arg1`, such as
/// [`UNUSED_A2`], to see a kernel that writes them). Returns the command's
/// answer, or the first register that changed.
pub fn command_keeps_registers(
    driver: u32,
    command: u32,
    arg0: u32,
    arg1: u32,
) -> Result<SyscallReturn, Clobbered> {
    checked(class::COMMAND, [driver, command, arg0, arg1])
}

/// As [`command_keeps_registers`], for memop `op` with argument `arg`
/// (`a2`, `a3` hold [`UNUSED_A2`], [`UNUSED_A3`]). Operations 0 (brk) and 1
/// (sbrk) are not probed here (see [`brk_keeps_registers`]): they are
/// answered `Unknown` without a call.
pub fn memop_keeps_registers(op: u32, arg: u32) -> Result<SyscallReturn, Clobbered> {
    if op < 2 {
        return Ok(SyscallReturn::Unknown([op, arg, 0, 0]));
    }
    checked(class::MEMOP, [op, arg, UNUSED_A2, UNUSED_A3])
}

/// As [`memop_keeps_registers`] for brk(`addr`).
///
/// # Safety
///
/// As for [`crate::syscall::memop`] brk: if the kernel accepts `addr`, the
/// break moves there, so it must not take away memory in use.
pub unsafe fn brk_keeps_registers(addr: u32) -> Result<SyscallReturn, Clobbered> {
    checked(class::MEMOP, [0, addr, UNUSED_A2, UNUSED_A3])
}

/// As [`command_keeps_registers`] for Exit with an exit number other than
/// terminate (0) and restart (1), which the kernel answers with a failure.
/// Numbers 0 and 1 are not probed (they would not return): answered
/// `Unknown` without a call.
pub fn exit_keeps_registers(which: u32, code: u32) -> Result<SyscallReturn, Clobbered> {
    if which < 2 {
        return Ok(SyscallReturn::Unknown([which, code, 0, 0]));
    }
    checked(class::EXIT, [which, code, UNUSED_A2, UNUSED_A3])
}

/// Subscribe to `(driver, num)` with the null upcall and app data
/// `appdata` while checking the registers, then hand back the previous
/// subscription. For a driver that does not exist this changes nothing.
pub fn subscribe_keeps_registers(
    driver: u32,
    num: u32,
    appdata: u32,
) -> Result<SyscallReturn, Clobbered> {
    let (ret, kept) = variant_call(class::SUBSCRIBE, [driver, num, 0, appdata]);
    // Handed back even when a register was clobbered: the probe leaves the
    // kernel as it found it either way.
    if let SyscallReturn::SuccessU32U32(f, d) = ret {
        // SAFETY: (f, d) is what the kernel held before; no yield ran.
        unsafe { crate::share::raw::hand_back(class::SUBSCRIBE, driver, num, (f, d)) };
    }
    kept.map(|()| ret)
}

/// Subscribe to a driver that does not exist with the null upcall while
/// checking the registers (a failure: the kernel writes a0-a3).
pub fn failing_subscribe_keeps_registers(
    driver: u32,
    num: u32,
) -> Result<SyscallReturn, Clobbered> {
    subscribe_keeps_registers(driver, num, 0)
}

/// A read-only allow of `[addr, addr + len)` while checking the
/// registers, then the previous buffer is handed back. (Safe: the kernel
/// only reads.)
pub fn allow_ro_keeps_registers(
    driver: u32,
    num: u32,
    addr: u32,
    len: u32,
) -> Result<SyscallReturn, Clobbered> {
    // SAFETY: read-only allows let the kernel read, never write.
    unsafe { allow_keeps_registers(class::READ_ONLY_ALLOW, driver, num, addr, len) }
}

/// As [`allow_ro_keeps_registers`] for a read-write allow.
///
/// # Safety
///
/// As for [`allow_rw`].
pub unsafe fn allow_rw_keeps_registers(
    driver: u32,
    num: u32,
    addr: u32,
    len: u32,
) -> Result<SyscallReturn, Clobbered> {
    // SAFETY: the caller's contract.
    unsafe { allow_keeps_registers(class::READ_WRITE_ALLOW, driver, num, addr, len) }
}

/// As [`allow_ro_keeps_registers`] for a userspace-readable allow.
///
/// # Safety
///
/// As for [`allow_rw`].
pub unsafe fn allow_userspace_readable_keeps_registers(
    driver: u32,
    num: u32,
    addr: u32,
    len: u32,
) -> Result<SyscallReturn, Clobbered> {
    // SAFETY: the caller's contract.
    unsafe { allow_keeps_registers(class::USERSPACE_READABLE_ALLOW, driver, num, addr, len) }
}

/// # Safety
///
/// For a writable class: as for [`allow_rw`].
unsafe fn allow_keeps_registers(
    class: u32,
    driver: u32,
    num: u32,
    addr: u32,
    len: u32,
) -> Result<SyscallReturn, Clobbered> {
    let (ret, kept) = variant_call(class, [driver, num, addr, len]);
    if let SyscallReturn::SuccessU32U32(p, l) = ret {
        // SAFETY: (p, l) is what the kernel held before; no yield ran.
        unsafe { crate::share::raw::hand_back(class, driver, num, (p, l)) };
    }
    kept.map(|()| ret)
}

/// Yield no-wait while checking every register: with no upcall pending
/// the kernel writes nothing, so a0-a3 come back as passed as well. The
/// flag byte's value is returned (1 if an upcall ran, 0 if not).
///
/// If an upcall is pending it runs (which changes registers, and is
/// reported as a clobber); upcalls registered through [`crate::share`]
/// are sound to run at any yield.
pub fn yield_no_wait_keeps_registers() -> Result<u8, Clobbered> {
    let mut flag: u8 = 0xFF;
    let args = [0, (&raw mut flag) as usize as u32, UNUSED_A2, UNUSED_A3];
    let (after, kept) = registers_after(class::YIELD, args);
    kept?;
    kept_from(0, args, after)?;
    Ok(flag)
}

/// Yield wait-for `(driver, num)` while checking every register: the
/// kernel writes the upcall's three arguments into a0-a2 and must keep
/// a3 and the rest. Returns the three arguments. Blocks until the event
/// is pending.
pub fn yield_wait_for_keeps_registers(driver: u32, num: u32) -> Result<[u32; 3], Clobbered> {
    let args = [2, driver, num, UNUSED_A3];
    let (after, kept) = registers_after(class::YIELD, args);
    kept?;
    kept_from(3, args, after)?;
    Ok([after[0], after[1], after[2]])
}

/// Makes one system call with `args` in a0-a3 and known patterns in every
/// other register the architecture lets us lend (`crate::arch`), and
/// checks that they survive. Returns a0-a3 after the call, and the first
/// of the others that changed, if any.
fn registers_after(class: u32, args: [u32; 4]) -> ([u32; 4], Result<(), Clobbered>) {
    // SAFETY: the callers pass calls that share nothing with the kernel
    // beyond what their own contracts cover (commands, memop queries or a
    // brk the caller vouches for, a null-upcall subscribe, allows the
    // caller vouches for, yields that run only upcalls registered through
    // `share`).
    let (after, changed) = unsafe { crate::arch::registers_after(class, args) };
    let kept = match changed {
        None => Ok(()),
        Some((register, got, want)) => Err(Clobbered {
            register,
            got,
            want,
        }),
    };
    (after, kept)
}

/// A clock independent of the kernel's drivers, if the architecture has
/// one readable by processes (RISC-V: the `time` CSR; Cortex-M: none).
pub fn clock() -> Option<u32> {
    crate::arch::clock()
}

/// Instructions retired so far, if processes can read the counter
/// (RISC-V: `instret`, exact under QEMU's `-icount`; Cortex-M: none).
pub fn instructions() -> Option<u32> {
    crate::arch::instructions()
}
