//! Syscall drivers: the capsules behind driver numbers, what they answer
//! to a command, and the board's table of them.

use crate::process::ProcessId;
use crate::syscall::{ReturnRegisters, SyscallReturn};
use crate::ErrorCode;

/// What a command returns: any [`SyscallReturn`] variant except the allow
/// and subscribe ones.
///
/// ```
/// use kernel::syscall_driver::CommandReturn;
/// use kernel::ErrorCode;
/// assert_eq!(CommandReturn::success_u32(7).encode().as_slice(), [129, 7]);
/// assert_eq!(CommandReturn::failure(ErrorCode::BUSY).encode().as_slice(), [0, 2]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandReturn(SyscallReturn);

impl CommandReturn {
    /// Success without a value (128).
    pub const fn success() -> Self {
        CommandReturn(SyscallReturn::Success)
    }
    /// Success with one value (129).
    pub const fn success_u32(v: u32) -> Self {
        CommandReturn(SyscallReturn::SuccessU32(v))
    }
    /// Success with two values (130).
    pub const fn success_u32_u32(a: u32, b: u32) -> Self {
        CommandReturn(SyscallReturn::SuccessU32U32(a, b))
    }
    /// Success with three values (132).
    pub const fn success_u32_u32_u32(a: u32, b: u32, c: u32) -> Self {
        CommandReturn(SyscallReturn::SuccessU32U32U32(a, b, c))
    }
    /// Success with a 64-bit value (131).
    pub const fn success_u64(v: u64) -> Self {
        CommandReturn(SyscallReturn::SuccessU64(v))
    }
    /// Success with a value and a 64-bit value (133).
    pub const fn success_u32_u64(a: u32, v: u64) -> Self {
        CommandReturn(SyscallReturn::SuccessU32U64(a, v))
    }
    /// Failure (0).
    pub const fn failure(e: ErrorCode) -> Self {
        CommandReturn(SyscallReturn::Failure(e))
    }
    /// Failure with one value (1).
    pub const fn failure_u32(e: ErrorCode, v: u32) -> Self {
        CommandReturn(SyscallReturn::FailureU32(e, v))
    }
    /// Failure with two values (2).
    pub const fn failure_u32_u32(e: ErrorCode, a: u32, b: u32) -> Self {
        CommandReturn(SyscallReturn::FailureU32U32(e, a, b))
    }
    /// Failure with a 64-bit value (3).
    pub const fn failure_u64(e: ErrorCode, v: u64) -> Self {
        CommandReturn(SyscallReturn::FailureU64(e, v))
    }
    /// The return as a [`SyscallReturn`].
    pub const fn into_inner(self) -> SyscallReturn {
        self.0
    }
    /// The registers the return writes, `r0` first.
    pub fn encode(&self) -> ReturnRegisters {
        self.0.encode()
    }
}

impl From<Result<(), ErrorCode>> for CommandReturn {
    fn from(r: Result<(), ErrorCode>) -> Self {
        CommandReturn(r.into())
    }
}

/// A syscall driver: the capsule behind one driver number.
///
/// Subscribe and allow are handled by the kernel (the upcalls and buffers
/// live in the driver's [`Grant`](crate::grant::Grant)); a driver only
/// answers commands. Command 0 must answer success: it is how userspace
/// asks whether the driver exists.
pub trait SyscallDriver {
    /// Runs command `command` for `process`. Unknown commands answer
    /// `CommandReturn::failure(ErrorCode::NOSUPPORT)`.
    fn command(&self, command: u32, arg0: u32, arg1: u32, process: ProcessId) -> CommandReturn;
}

/// The board's driver table.
pub trait SyscallDriverLookup {
    /// The driver with number `driver`, if the board has one.
    fn driver(&self, driver: u32) -> Option<&dyn SyscallDriver>;
}
