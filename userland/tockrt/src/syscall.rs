//! The system call layer: system call wrappers and return values.
//!
//! The Tock ABI, named here with RISC-V registers (Cortex-M: `r0`-`r3`
//! for `a0`-`a3`, the class as the `svc` immediate; see [`crate::arch`]):
//! the class number goes in `a4`, the arguments in
//! `a0`-`a3`, and the kernel answers in `a0` (the return variant) and the
//! registers after it that the variant uses: `Success` writes `a0` alone,
//! `Success with u32` and `Failure` `a0`-`a1`, `Success with 2 u32`,
//! `Success with u64` and `Failure with u32` `a0`-`a2`, the rest
//! `a0`-`a3`. Every other register survives a system call, the unused ones
//! among `a0`-`a3` included, except that a yield may run an upcall: an
//! ordinary C function called on our stack, which returns into the code
//! after the `ecall`, so a yield clobbers what a function call clobbers.
//!
//! The wrappers declare exactly that, as libtock-rs does, and no more:
//! command, allow and subscribe may answer with any variant (`a0`-`a3`);
//! memop and exit answer at most `Success with u32` or `Failure`
//! (`a0`-`a1`, [`syscall2`]); yield-wait-for writes `a0`-`a2`. So our apps
//! break, as libtock-rs apps would, on a kernel that writes more.

use core::fmt;

/// The system call classes (the value in `a4`).
pub mod class {
    /// Yield: give up the CPU, maybe running or awaiting an upcall.
    pub const YIELD: u32 = 0;
    /// Subscribe: register an upcall.
    pub const SUBSCRIBE: u32 = 1;
    /// Command: ask a driver to do something.
    pub const COMMAND: u32 = 2;
    /// Read-write allow: share a buffer the kernel may write.
    pub const READ_WRITE_ALLOW: u32 = 3;
    /// Read-only allow: share a buffer the kernel only reads.
    pub const READ_ONLY_ALLOW: u32 = 4;
    /// Memop: break and memory layout.
    pub const MEMOP: u32 = 5;
    /// Exit: terminate or restart the process.
    pub const EXIT: u32 = 6;
    /// Userspace-readable allow: a buffer the kernel writes and the app
    /// may read at any time.
    pub const USERSPACE_READABLE_ALLOW: u32 = 7;
}

/// The return variants (the value in `a0`).
pub mod variant {
    /// Failure: error in a1.
    pub const FAILURE: u32 = 0;
    /// Failure with one value.
    pub const FAILURE_U32: u32 = 1;
    /// Failure with two values.
    pub const FAILURE_2_U32: u32 = 2;
    /// Failure with a 64-bit value.
    pub const FAILURE_U64: u32 = 3;
    /// Success.
    pub const SUCCESS: u32 = 128;
    /// Success with one value.
    pub const SUCCESS_U32: u32 = 129;
    /// Success with two values.
    pub const SUCCESS_2_U32: u32 = 130;
    /// Success with a 64-bit value.
    pub const SUCCESS_U64: u32 = 131;
    /// Success with three values.
    pub const SUCCESS_3_U32: u32 = 132;
    /// Success with a 32-bit and a 64-bit value.
    pub const SUCCESS_U32_U64: u32 = 133;
}

/// A TRD104 error code, as found in `a1` of a failure and in upcall
/// statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 1: generic failure.
    Fail,
    /// 2: busy, try later.
    Busy,
    /// 3: already in that state.
    Already,
    /// 4: powered down.
    Off,
    /// 5: reservation required.
    Reserve,
    /// 6: invalid argument.
    Inval,
    /// 7: wrong size.
    Size,
    /// 8: cancelled.
    Cancel,
    /// 9: out of memory.
    NoMem,
    /// 10: not supported.
    NoSupport,
    /// 11: no such device (driver).
    NoDevice,
    /// 12: not installed.
    Uninstalled,
    /// 13: not acknowledged.
    NoAck,
    /// A number outside 1-13 (a kernel bug, or a status of 0 read as an
    /// error).
    Unknown(u32),
}

impl ErrorCode {
    /// The error with ABI number `n`.
    pub const fn from_number(n: u32) -> ErrorCode {
        match n {
            1 => ErrorCode::Fail,
            2 => ErrorCode::Busy,
            3 => ErrorCode::Already,
            4 => ErrorCode::Off,
            5 => ErrorCode::Reserve,
            6 => ErrorCode::Inval,
            7 => ErrorCode::Size,
            8 => ErrorCode::Cancel,
            9 => ErrorCode::NoMem,
            10 => ErrorCode::NoSupport,
            11 => ErrorCode::NoDevice,
            12 => ErrorCode::Uninstalled,
            13 => ErrorCode::NoAck,
            n => ErrorCode::Unknown(n),
        }
    }

    /// The ABI number.
    pub const fn number(self) -> u32 {
        match self {
            ErrorCode::Fail => 1,
            ErrorCode::Busy => 2,
            ErrorCode::Already => 3,
            ErrorCode::Off => 4,
            ErrorCode::Reserve => 5,
            ErrorCode::Inval => 6,
            ErrorCode::Size => 7,
            ErrorCode::Cancel => 8,
            ErrorCode::NoMem => 9,
            ErrorCode::NoSupport => 10,
            ErrorCode::NoDevice => 11,
            ErrorCode::Uninstalled => 12,
            ErrorCode::NoAck => 13,
            ErrorCode::Unknown(n) => n,
        }
    }

    /// The upcall status convention: 0 is success, anything else the
    /// error with that number.
    pub const fn from_status(status: u32) -> Result<(), ErrorCode> {
        match status {
            0 => Ok(()),
            n => Err(ErrorCode::from_number(n)),
        }
    }
}

impl From<ErrorCode> for u32 {
    fn from(e: ErrorCode) -> u32 {
        e.number()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ErrorCode::Fail => "FAIL",
            ErrorCode::Busy => "BUSY",
            ErrorCode::Already => "ALREADY",
            ErrorCode::Off => "OFF",
            ErrorCode::Reserve => "RESERVE",
            ErrorCode::Inval => "INVAL",
            ErrorCode::Size => "SIZE",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::NoMem => "NOMEM",
            ErrorCode::NoSupport => "NOSUPPORT",
            ErrorCode::NoDevice => "NODEVICE",
            ErrorCode::Uninstalled => "UNINSTALLED",
            ErrorCode::NoAck => "NOACK",
            ErrorCode::Unknown(n) => return write!(f, "error {n}"),
        };
        f.write_str(name)
    }
}

/// A decoded system call return: one variant per TRD104 return type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallReturn {
    /// 0: failure.
    Failure(ErrorCode),
    /// 1: failure with a value.
    FailureU32(ErrorCode, u32),
    /// 2: failure with two values (failed allow and subscribe: the values
    /// passed in).
    FailureU32U32(ErrorCode, u32, u32),
    /// 3: failure with a 64-bit value.
    FailureU64(ErrorCode, u64),
    /// 128: success.
    Success,
    /// 129: success with a value.
    SuccessU32(u32),
    /// 130: success with two values (allow and subscribe: the previous
    /// buffer or upcall).
    SuccessU32U32(u32, u32),
    /// 131: success with a 64-bit value.
    SuccessU64(u64),
    /// 132: success with three values.
    SuccessU32U32U32(u32, u32, u32),
    /// 133: success with a 32-bit and a 64-bit value.
    SuccessU32U64(u32, u64),
    /// A variant number the ABI does not define; all four registers.
    Unknown([u32; 4]),
}

fn u64_of(low: u32, high: u32) -> u64 {
    u64::from(low) | u64::from(high) << 32
}

impl SyscallReturn {
    /// Decodes the four return registers `a0`-`a3`.
    pub fn decode(r: [u32; 4]) -> SyscallReturn {
        let e = ErrorCode::from_number(r[1]);
        match r[0] {
            variant::FAILURE => SyscallReturn::Failure(e),
            variant::FAILURE_U32 => SyscallReturn::FailureU32(e, r[2]),
            variant::FAILURE_2_U32 => SyscallReturn::FailureU32U32(e, r[2], r[3]),
            variant::FAILURE_U64 => SyscallReturn::FailureU64(e, u64_of(r[2], r[3])),
            variant::SUCCESS => SyscallReturn::Success,
            variant::SUCCESS_U32 => SyscallReturn::SuccessU32(r[1]),
            variant::SUCCESS_2_U32 => SyscallReturn::SuccessU32U32(r[1], r[2]),
            variant::SUCCESS_U64 => SyscallReturn::SuccessU64(u64_of(r[1], r[2])),
            variant::SUCCESS_3_U32 => SyscallReturn::SuccessU32U32U32(r[1], r[2], r[3]),
            variant::SUCCESS_U32_U64 => SyscallReturn::SuccessU32U64(r[1], u64_of(r[2], r[3])),
            _ => SyscallReturn::Unknown(r),
        }
    }

    /// The variant number (`a0`), `None` for [`SyscallReturn::Unknown`].
    pub fn variant(&self) -> Option<u32> {
        Some(match self {
            SyscallReturn::Failure(_) => variant::FAILURE,
            SyscallReturn::FailureU32(..) => variant::FAILURE_U32,
            SyscallReturn::FailureU32U32(..) => variant::FAILURE_2_U32,
            SyscallReturn::FailureU64(..) => variant::FAILURE_U64,
            SyscallReturn::Success => variant::SUCCESS,
            SyscallReturn::SuccessU32(_) => variant::SUCCESS_U32,
            SyscallReturn::SuccessU32U32(..) => variant::SUCCESS_2_U32,
            SyscallReturn::SuccessU64(_) => variant::SUCCESS_U64,
            SyscallReturn::SuccessU32U32U32(..) => variant::SUCCESS_3_U32,
            SyscallReturn::SuccessU32U64(..) => variant::SUCCESS_U32_U64,
            SyscallReturn::Unknown(_) => return None,
        })
    }

    /// Whether this is one of the success variants.
    pub fn is_success(&self) -> bool {
        self.variant().is_some_and(|v| v >= variant::SUCCESS)
    }

    /// The error of a failure variant.
    pub fn error(&self) -> Option<ErrorCode> {
        match *self {
            SyscallReturn::Failure(e)
            | SyscallReturn::FailureU32(e, _)
            | SyscallReturn::FailureU32U32(e, ..)
            | SyscallReturn::FailureU64(e, _) => Some(e),
            _ => None,
        }
    }

    /// `Ok` for any success variant, else the error (FAIL for an unknown
    /// variant).
    pub fn to_result(self) -> Result<SyscallReturn, ErrorCode> {
        match self.error() {
            Some(e) => Err(e),
            None if self.is_success() => Ok(self),
            None => Err(ErrorCode::Fail),
        }
    }

    /// `Ok` for plain Success; another success variant counts as FAIL
    /// (the driver answered something it should not).
    pub fn into_success(self) -> Result<(), ErrorCode> {
        // The same answer as through `to_result`, without moving the whole
        // return value into a `Result` (a `memcpy` call on every command).
        match self {
            SyscallReturn::Success => Ok(()),
            other => Err(other.error().unwrap_or(ErrorCode::Fail)),
        }
    }

    /// The value of Success-with-u32; another success variant is FAIL.
    pub fn into_u32(self) -> Result<u32, ErrorCode> {
        match self.to_result()? {
            SyscallReturn::SuccessU32(v) => Ok(v),
            _ => Err(ErrorCode::Fail),
        }
    }

    /// The values of Success-with-2-u32; another success variant is FAIL.
    pub fn into_u32_pair(self) -> Result<(u32, u32), ErrorCode> {
        match self.to_result()? {
            SyscallReturn::SuccessU32U32(a, b) => Ok((a, b)),
            _ => Err(ErrorCode::Fail),
        }
    }
}

/// `Failure(INVAL)`, `SuccessU32U32(0x80300000, 0x10)`: variant names,
/// error names and values in hex.
impl fmt::Display for SyscallReturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SyscallReturn::Failure(e) => write!(f, "Failure({e})"),
            SyscallReturn::FailureU32(e, a) => write!(f, "FailureU32({e}, {a:#x})"),
            SyscallReturn::FailureU32U32(e, a, b) => {
                write!(f, "FailureU32U32({e}, {a:#x}, {b:#x})")
            }
            SyscallReturn::FailureU64(e, a) => write!(f, "FailureU64({e}, {a:#x})"),
            SyscallReturn::Success => f.write_str("Success"),
            SyscallReturn::SuccessU32(a) => write!(f, "SuccessU32({a:#x})"),
            SyscallReturn::SuccessU32U32(a, b) => write!(f, "SuccessU32U32({a:#x}, {b:#x})"),
            SyscallReturn::SuccessU64(a) => write!(f, "SuccessU64({a:#x})"),
            SyscallReturn::SuccessU32U32U32(a, b, c) => {
                write!(f, "SuccessU32U32U32({a:#x}, {b:#x}, {c:#x})")
            }
            SyscallReturn::SuccessU32U64(a, b) => write!(f, "SuccessU32U64({a:#x}, {b:#x})"),
            SyscallReturn::Unknown(r) => write!(
                f,
                "Unknown([{:#x}, {:#x}, {:#x}, {:#x}])",
                r[0], r[1], r[2], r[3]
            ),
        }
    }
}

/// A non-yield system call with four arguments: the raw return registers.
///
/// # Safety
///
/// `class` must not be [`class::YIELD`] (use the yield functions: a yield
/// may run upcalls, which clobber registers this wrapper assumes the
/// kernel keeps). Beyond that the caller answers for what the call lets the
/// kernel do: an allow lets it read (read-only) or write (read-write,
/// userspace-readable) the buffer until it is replaced, so that memory must
/// stay valid and unaliased as Rust requires for that long; a subscribe
/// makes the kernel call the function with the app data as its fourth
/// argument at every later yield, so it must be an
/// `extern "C" fn(u32, u32, u32, usize)` for which that is sound until it
/// is replaced; memop 0/1 must not take away memory that is in use.
#[inline(always)]
pub unsafe fn syscall4(class: u32, args: [u32; 4]) -> [u32; 4] {
    // SAFETY: the caller's contract, passed on.
    unsafe { crate::arch::syscall4(class, args) }
}

/// Command (class 2): asks `driver` to do `command` with two arguments.
///
/// Safe: a command can only make the kernel use buffers and upcalls that
/// were shared with it, and [`crate::share`] keeps those valid.
pub fn command(driver: u32, command: u32, arg0: u32, arg1: u32) -> SyscallReturn {
    // SAFETY: a command shares nothing new with the kernel.
    let r = unsafe { syscall4(class::COMMAND, [driver, command, arg0, arg1]) };
    SyscallReturn::decode(r)
}

/// A system call whose answer uses at most `a0`-`a1` (memop, exit): the
/// raw `a0` and `a1`. The kernel must keep every other register, `a2` and
/// `a3` included; the compiler is told so, and keeps live values there.
///
/// # Safety
///
/// `class` must be [`class::MEMOP`] or [`class::EXIT`], and the call must
/// be sound as [`syscall4`] describes (memop 0/1 must not take away memory
/// in use).
#[inline(always)]
pub unsafe fn syscall2(class: u32, args: [u32; 2]) -> [u32; 2] {
    // SAFETY: the caller's contract, passed on.
    unsafe { crate::arch::syscall2(class, args) }
}

/// Decodes the answer of a memop or exit from `a0`-`a1`. A variant that
/// would need more registers is not a valid answer for those classes (the
/// kernel cannot have written them): it decodes as
/// [`SyscallReturn::Unknown`].
fn decode_two([r0, r1]: [u32; 2]) -> SyscallReturn {
    match r0 {
        variant::FAILURE | variant::SUCCESS | variant::SUCCESS_U32 => {
            SyscallReturn::decode([r0, r1, 0, 0])
        }
        _ => SyscallReturn::Unknown([r0, r1, 0, 0]),
    }
}

/// Memop (class 5) with any operation and argument.
///
/// # Safety
///
/// Operations 0 (brk) and 1 (sbrk) can take memory away from the process
/// (stack, statics) or, after taking it away, give it back zero-filled.
/// The caller must make sure the break stays above everything in use. The
/// other operations only read the process's layout or record debug
/// information and are always safe: see [`crate::memop`].
pub unsafe fn memop(op: u32, arg: u32) -> SyscallReturn {
    // SAFETY: the caller upholds the break contract; no memory is shared.
    decode_two(unsafe { syscall2(class::MEMOP, [op, arg]) })
}

/// Yield wait (1): blocks until one upcall has run (null upcalls do not
/// count), and returns after it.
pub fn yield_wait() {
    // SAFETY: the kernel may run one upcall on our stack below sp, as a C
    // function call returning to the instruction after the system call:
    // every caller-saved register is clobbered, sp and callee-saved
    // registers survive. The upcalls that can run were registered through
    // `share`, which keeps them sound to call. No flag.
    unsafe { crate::arch::yield_upcall(1, core::ptr::null_mut()) }
}

/// Yield no-wait (0): runs one pending upcall if there is one. Returns
/// whether an upcall ran (the flag byte the kernel writes).
pub fn yield_no_wait() -> bool {
    yield_no_wait_flag_byte() == 1
}

/// Yield no-wait (0), returning the flag byte exactly as the kernel left
/// it: 1 if an upcall ran, 0 if not, 0xFF if the kernel did not write it.
pub fn yield_no_wait_flag_byte() -> u8 {
    let mut flag: u8 = 0xFF;
    // SAFETY: `flag` is a live local, so the kernel writing one byte into
    // it is fine.
    unsafe { yield_no_wait_flag(&mut flag) };
    flag
}

/// Yield no-wait (0) with the flag pointer given explicitly (0 for none).
///
/// # Safety
///
/// The kernel writes one byte (0 or 1) at `flag` if it lies in the
/// process's memory below the break: `flag` must then be valid for that
/// write. Upcalls as in [`yield_wait`].
pub unsafe fn yield_no_wait_flag(flag: *mut u8) {
    // SAFETY: as for `yield_wait`; the flag write is the caller's
    // contract.
    unsafe { crate::arch::yield_upcall(0, flag) }
}

/// Yield wait-for (2): blocks until the upcall `(driver, subscribe)` is
/// pending, takes it off the queue without calling its function (null or
/// not), and returns its three arguments.
pub fn yield_wait_for(driver: u32, subscribe: u32) -> (u32, u32, u32) {
    crate::arch::yield_wait_for(driver, subscribe)
}

/// Exit-terminate: ends the process with `code`.
pub fn exit_terminate(code: u32) -> ! {
    exit_loop(0, code)
}

/// Exit-restart: ends the process with `code` and starts it again from
/// scratch.
pub fn exit_restart(code: u32) -> ! {
    exit_loop(1, code)
}

fn exit_loop(which: u32, code: u32) -> ! {
    loop {
        // An exit that returns would be a kernel bug: ask again.
        exit(which, code);
    }
}

/// Exit (class 6) with any exit number. Terminate (0) and restart (1) do
/// not return; other numbers answer Failure(NOSUPPORT) on a conforming
/// kernel.
pub fn exit(which: u32, code: u32) -> SyscallReturn {
    // SAFETY: exit shares nothing; if the kernel returns, it wrote a0-a1.
    decode_two(unsafe { syscall2(class::EXIT, [which, code]) })
}
