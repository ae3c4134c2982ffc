//! The system call ABI (TRD104): decoding calls, encoding returns.
//!
//! A process traps with a class number (RISC-V: `a4`; Cortex-M: the `svc`
//! immediate) and four argument registers (`a0`-`a3` / `r0`-`r3`). The
//! architecture code collects those into `(class, [r0, r1, r2, r3])` and
//! calls [`Syscall::decode`]. After the kernel has handled the call, the
//! answer is a [`SyscallReturn`], and [`SyscallReturn::encode`] gives the
//! [`ReturnRegisters`]: the values of `r0` and of the registers after it
//! that the return variant uses, and nothing for the others.
//!
//! **The return convention.** A return writes only the registers its
//! variant uses (`Success` writes `r0` alone; `Success with u32` and
//! `Failure` `r0`-`r1`; `Success with 2 u32`, `Success with u64` and
//! `Failure with u32` `r0`-`r2`; the others `r0`-`r3`). Every other
//! register, the unused ones among `r0`-`r3` included, keeps the value the
//! process passed in. Upstream Tock behaves this way and libtock-rs relies
//! on it: its memop and exit wrappers declare only `r0`-`r1` clobbered, and
//! its start-up code keeps a pointer in `r2` across a memop. Every
//! architecture port writes exactly [`ReturnRegisters::as_slice`] and
//! nothing else.
//!
//! Both directions are pure functions of their inputs; no check against the
//! process's memory happens here. Whether a pointer is acceptable, whether
//! a driver exists, and so on, is decided by the dispatcher that acts on the
//! decoded [`Syscall`].

use crate::errorcode::ErrorCode;

/// The eight system call classes and their trap numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SyscallClass {
    /// 0: give up the CPU, possibly waiting for an upcall.
    Yield = 0,
    /// 1: register an upcall for a driver's event.
    Subscribe = 1,
    /// 2: ask a driver to do something.
    Command = 2,
    /// 3: share a read-write buffer with a driver.
    ReadWriteAllow = 3,
    /// 4: share a read-only buffer with a driver.
    ReadOnlyAllow = 4,
    /// 5: memory operations (break, layout queries).
    Memop = 5,
    /// 6: terminate or restart the process.
    Exit = 6,
    /// 7: share a buffer the kernel writes and userspace may read at any
    /// time.
    UserspaceReadableAllow = 7,
}

impl TryFrom<u8> for SyscallClass {
    /// The class number that is not one of the eight classes.
    type Error = u8;

    fn try_from(number: u8) -> Result<SyscallClass, u8> {
        Ok(match number {
            0 => SyscallClass::Yield,
            1 => SyscallClass::Subscribe,
            2 => SyscallClass::Command,
            3 => SyscallClass::ReadWriteAllow,
            4 => SyscallClass::ReadOnlyAllow,
            5 => SyscallClass::Memop,
            6 => SyscallClass::Exit,
            7 => SyscallClass::UserspaceReadableAllow,
            other => return Err(other),
        })
    }
}

/// Which kind of yield a process asked for (`r0` of a Yield call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum YieldCall {
    /// 0: run at most one pending upcall and return immediately. `param` of
    /// [`Syscall::Yield`] is the address of a `u8` that receives 1 if an
    /// upcall ran and 0 if not (0 = no such byte).
    NoWait,
    /// 1: block until one upcall has run.
    Wait,
    /// 2: block until the given event is pending; the upcall function is not
    /// called, its arguments are returned in registers instead.
    WaitFor {
        /// Driver number of the awaited event (`r1`).
        driver: u32,
        /// Subscribe number of the awaited event (`r2`).
        subscribe: u32,
    },
}

/// What an Exit call asks for (`r0` of an Exit call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitCall {
    /// 0: stop the process for good.
    Terminate,
    /// 1: restart the process (new process id, memory reset, init again).
    Restart,
    /// Any other number. This decodes successfully on purpose: TRD104 treats
    /// it as an unsupported operation rather than a fault, so the syscall
    /// dispatcher (not the decoder) answers `Failure(NOSUPPORT)` and the
    /// process continues.
    Other(u32),
}

/// One decoded system call, with the raw register values it carries.
///
/// Field names follow TRD104. All values are exactly the registers the
/// process passed; nothing has been validated against the process yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// Class 0.
    Yield {
        /// The kind of yield, from `r0` (and `r1`/`r2` for wait-for).
        which: YieldCall,
        /// `r1` as passed: for [`YieldCall::NoWait`] the address of the
        /// flag byte (0 = none); for wait-for it repeats the driver number;
        /// for wait it has no meaning.
        param: u32,
    },
    /// Class 1.
    Subscribe {
        /// Driver number (`r0`).
        driver: u32,
        /// Subscribe number within the driver (`r1`).
        subdriver: u32,
        /// Address of the upcall function, 0 for the null upcall (`r2`).
        upcall_ptr: u32,
        /// Value handed back to the upcall as its fourth argument (`r3`).
        appdata: u32,
    },
    /// Class 2.
    Command {
        /// Driver number (`r0`).
        driver: u32,
        /// Command number within the driver (`r1`).
        command: u32,
        /// First argument (`r2`).
        arg0: u32,
        /// Second argument (`r3`).
        arg1: u32,
    },
    /// Class 3.
    ReadWriteAllow {
        /// Driver number (`r0`).
        driver: u32,
        /// Allow number within the driver (`r1`).
        allow: u32,
        /// Buffer address (`r2`).
        ptr: u32,
        /// Buffer length in bytes (`r3`); 0 revokes.
        size: u32,
    },
    /// Class 4.
    ReadOnlyAllow {
        /// Driver number (`r0`).
        driver: u32,
        /// Allow number within the driver (`r1`).
        allow: u32,
        /// Buffer address (`r2`).
        ptr: u32,
        /// Buffer length in bytes (`r3`); 0 revokes.
        size: u32,
    },
    /// Class 5.
    Memop {
        /// Memory operation number (`r0`); unknown numbers are answered
        /// with NOSUPPORT by the dispatcher.
        operand: u32,
        /// Its argument (`r1`).
        arg0: u32,
    },
    /// Class 6.
    Exit {
        /// Terminate, restart or an unsupported number (`r0`).
        which: ExitCall,
        /// Completion code reported by the process (`r1`).
        completion_code: u32,
    },
    /// Class 7.
    UserspaceReadableAllow {
        /// Driver number (`r0`).
        driver: u32,
        /// Allow number within the driver (`r1`).
        allow: u32,
        /// Buffer address (`r2`).
        ptr: u32,
        /// Buffer length in bytes (`r3`); 0 revokes.
        size: u32,
    },
}

/// A trap that is not a valid system call. The kernel faults the process
/// (upstream Tock behaviour that userspace relies on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The class number is 8 or above.
    UnknownClass(u8),
    /// A Yield whose `r0` is not 0, 1 or 2.
    InvalidYield(u32),
}

impl Syscall {
    /// Decodes a trap from its class number and argument registers
    /// `[r0, r1, r2, r3]`.
    ///
    /// Fails only for an unknown class or an invalid yield number; both are
    /// process faults. Every other register combination decodes, and the
    /// dispatcher decides what it means (see [`ExitCall::Other`]).
    ///
    /// ```
    /// use kernel::syscall::{DecodeError, Syscall, SyscallReturn};
    /// use kernel::ErrorCode;
    ///
    /// // command(1, 2, 5, 0) from a process
    /// let call = Syscall::decode(2, [1, 2, 5, 0]);
    /// assert_eq!(call, Ok(Syscall::Command { driver: 1, command: 2, arg0: 5, arg1: 0 }));
    /// assert_eq!(Syscall::decode(9, [0; 4]), Err(DecodeError::UnknownClass(9)));
    ///
    /// // The answer: Failure writes r0 and r1 only.
    /// let ret = SyscallReturn::Failure(ErrorCode::NOSUPPORT);
    /// assert_eq!(ret.encode().as_slice(), [0, 10]);
    /// ```
    pub fn decode(class: u8, r: [u32; 4]) -> Result<Syscall, DecodeError> {
        let [r0, r1, r2, r3] = r;
        let class = SyscallClass::try_from(class).map_err(DecodeError::UnknownClass)?;
        Ok(match class {
            SyscallClass::Yield => {
                let which = match r0 {
                    0 => YieldCall::NoWait,
                    1 => YieldCall::Wait,
                    2 => YieldCall::WaitFor {
                        driver: r1,
                        subscribe: r2,
                    },
                    other => return Err(DecodeError::InvalidYield(other)),
                };
                Syscall::Yield { which, param: r1 }
            }
            SyscallClass::Subscribe => Syscall::Subscribe {
                driver: r0,
                subdriver: r1,
                upcall_ptr: r2,
                appdata: r3,
            },
            SyscallClass::Command => Syscall::Command {
                driver: r0,
                command: r1,
                arg0: r2,
                arg1: r3,
            },
            SyscallClass::ReadWriteAllow => Syscall::ReadWriteAllow {
                driver: r0,
                allow: r1,
                ptr: r2,
                size: r3,
            },
            SyscallClass::ReadOnlyAllow => Syscall::ReadOnlyAllow {
                driver: r0,
                allow: r1,
                ptr: r2,
                size: r3,
            },
            SyscallClass::Memop => Syscall::Memop {
                operand: r0,
                arg0: r1,
            },
            SyscallClass::Exit => Syscall::Exit {
                which: match r0 {
                    0 => ExitCall::Terminate,
                    1 => ExitCall::Restart,
                    other => ExitCall::Other(other),
                },
                completion_code: r1,
            },
            SyscallClass::UserspaceReadableAllow => Syscall::UserspaceReadableAllow {
                driver: r0,
                allow: r1,
                ptr: r2,
                size: r3,
            },
        })
    }

    /// The driver number of a call that names a driver (subscribe,
    /// command and the allows).
    pub fn driver(&self) -> Option<u32> {
        match *self {
            Syscall::Subscribe { driver, .. }
            | Syscall::Command { driver, .. }
            | Syscall::ReadWriteAllow { driver, .. }
            | Syscall::ReadOnlyAllow { driver, .. }
            | Syscall::UserspaceReadableAllow { driver, .. } => Some(driver),
            Syscall::Yield { .. } | Syscall::Memop { .. } | Syscall::Exit { .. } => None,
        }
    }

    /// The class this call belongs to.
    pub fn class(&self) -> SyscallClass {
        match self {
            Syscall::Yield { .. } => SyscallClass::Yield,
            Syscall::Subscribe { .. } => SyscallClass::Subscribe,
            Syscall::Command { .. } => SyscallClass::Command,
            Syscall::ReadWriteAllow { .. } => SyscallClass::ReadWriteAllow,
            Syscall::ReadOnlyAllow { .. } => SyscallClass::ReadOnlyAllow,
            Syscall::Memop { .. } => SyscallClass::Memop,
            Syscall::Exit { .. } => SyscallClass::Exit,
            Syscall::UserspaceReadableAllow { .. } => SyscallClass::UserspaceReadableAllow,
        }
    }
}

/// Variant numbers placed in `r0` of a return (TRD104).
pub mod variant {
    /// Failure with an error code.
    pub const FAILURE: u32 = 0;
    /// Failure with an error code and one `u32`.
    pub const FAILURE_U32: u32 = 1;
    /// Failure with an error code and two `u32`s.
    pub const FAILURE_U32_U32: u32 = 2;
    /// Failure with an error code and one `u64`.
    pub const FAILURE_U64: u32 = 3;
    /// Success without a value.
    pub const SUCCESS: u32 = 128;
    /// Success with one `u32`.
    pub const SUCCESS_U32: u32 = 129;
    /// Success with two `u32`s.
    pub const SUCCESS_U32_U32: u32 = 130;
    /// Success with one `u64`.
    pub const SUCCESS_U64: u32 = 131;
    /// Success with three `u32`s.
    pub const SUCCESS_U32_U32_U32: u32 = 132;
    /// Success with a `u32` and a `u64`.
    pub const SUCCESS_U32_U64: u32 = 133;
}

/// The answer to a system call, as it is returned in registers.
///
/// The generic variants are what drivers answer to Command (and what Memop
/// and the yield-wait-for return use). Allow and Subscribe have dedicated
/// variants, built only with [`SyscallReturn::allow_success`],
/// [`SyscallReturn::allow_failure`], [`SyscallReturn::subscribe_success`]
/// and [`SyscallReturn::subscribe_failure`]: they encode as variant 130
/// (success with the previous pair) or 2 (failure with the pair that was
/// passed in) and nothing else, which is what userspace expects from those
/// classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyscallReturn {
    /// 0: `r1` = error.
    Failure(ErrorCode),
    /// 1: `r1` = error, `r2` = value.
    FailureU32(ErrorCode, u32),
    /// 2: `r1` = error, `r2`, `r3` = values.
    FailureU32U32(ErrorCode, u32, u32),
    /// 3: `r1` = error, `r2` = low half, `r3` = high half.
    FailureU64(ErrorCode, u64),
    /// 128: no value.
    Success,
    /// 129: `r1` = value.
    SuccessU32(u32),
    /// 130: `r1`, `r2` = values.
    SuccessU32U32(u32, u32),
    /// 131: `r1` = low half, `r2` = high half.
    SuccessU64(u64),
    /// 132: `r1`, `r2`, `r3` = values.
    SuccessU32U32U32(u32, u32, u32),
    /// 133: `r1` = value, `r2` = low half, `r3` = high half.
    SuccessU32U64(u32, u64),
    /// Any allow class succeeded; carries the previously allowed buffer
    /// (`(0, 0)` the first time). Encodes as 130.
    AllowSuccess {
        /// Address of the buffer that was allowed before.
        ptr: u32,
        /// Its length.
        size: u32,
    },
    /// Any allow class failed; carries the buffer that was passed in, which
    /// stays owned by the process. Encodes as 2.
    AllowFailure {
        /// Why the allow was refused.
        error: ErrorCode,
        /// Address passed in the call.
        ptr: u32,
        /// Length passed in the call.
        size: u32,
    },
    /// Subscribe succeeded; carries the previous upcall (`(0, 0)` the first
    /// time). Encodes as 130.
    SubscribeSuccess {
        /// Previous upcall function address.
        upcall_ptr: u32,
        /// Previous application data.
        appdata: u32,
    },
    /// Subscribe failed; carries the upcall that was passed in. Encodes as 2.
    SubscribeFailure {
        /// Why the subscribe was refused.
        error: ErrorCode,
        /// Upcall function address passed in the call.
        upcall_ptr: u32,
        /// Application data passed in the call.
        appdata: u32,
    },
}

impl SyscallReturn {
    /// An allow (class 3, 4 or 7) succeeded; `ptr`/`size` describe the buffer
    /// that was allowed before this call.
    pub const fn allow_success(ptr: u32, size: u32) -> SyscallReturn {
        SyscallReturn::AllowSuccess { ptr, size }
    }

    /// An allow (class 3, 4 or 7) failed; `ptr`/`size` are the values the
    /// process passed.
    pub const fn allow_failure(error: ErrorCode, ptr: u32, size: u32) -> SyscallReturn {
        SyscallReturn::AllowFailure { error, ptr, size }
    }

    /// A subscribe succeeded; the arguments are the previous upcall.
    pub const fn subscribe_success(upcall_ptr: u32, appdata: u32) -> SyscallReturn {
        SyscallReturn::SubscribeSuccess {
            upcall_ptr,
            appdata,
        }
    }

    /// A subscribe failed; the arguments are the values the process passed.
    pub const fn subscribe_failure(
        error: ErrorCode,
        upcall_ptr: u32,
        appdata: u32,
    ) -> SyscallReturn {
        SyscallReturn::SubscribeFailure {
            error,
            upcall_ptr,
            appdata,
        }
    }

    /// Whether userspace will read this as a success (variant >= 128).
    pub fn is_success(&self) -> bool {
        self.encode().values[0] >= variant::SUCCESS
    }

    /// The registers this return writes: `r0` is the variant number, then
    /// the values the variant carries (a `u64` low half first). Registers
    /// beyond them are not written (see the module's return convention).
    pub fn encode(&self) -> ReturnRegisters {
        use variant::*;
        let e = |code: &ErrorCode| *code as u32;
        let lo = |v: &u64| *v as u32;
        let hi = |v: &u64| (*v >> 32) as u32;
        let r = ReturnRegisters::new;
        match self {
            SyscallReturn::Failure(err) => r([FAILURE, e(err), 0, 0], 2),
            SyscallReturn::FailureU32(err, a) => r([FAILURE_U32, e(err), *a, 0], 3),
            SyscallReturn::FailureU32U32(err, a, b) => r([FAILURE_U32_U32, e(err), *a, *b], 4),
            SyscallReturn::FailureU64(err, v) => r([FAILURE_U64, e(err), lo(v), hi(v)], 4),
            SyscallReturn::Success => r([SUCCESS, 0, 0, 0], 1),
            SyscallReturn::SuccessU32(a) => r([SUCCESS_U32, *a, 0, 0], 2),
            SyscallReturn::SuccessU32U32(a, b) => r([SUCCESS_U32_U32, *a, *b, 0], 3),
            SyscallReturn::SuccessU64(v) => r([SUCCESS_U64, lo(v), hi(v), 0], 3),
            SyscallReturn::SuccessU32U32U32(a, b, c) => r([SUCCESS_U32_U32_U32, *a, *b, *c], 4),
            SyscallReturn::SuccessU32U64(a, v) => r([SUCCESS_U32_U64, *a, lo(v), hi(v)], 4),
            SyscallReturn::AllowSuccess { ptr, size } => r([SUCCESS_U32_U32, *ptr, *size, 0], 3),
            SyscallReturn::AllowFailure { error, ptr, size } => {
                r([FAILURE_U32_U32, e(error), *ptr, *size], 4)
            }
            SyscallReturn::SubscribeSuccess {
                upcall_ptr,
                appdata,
            } => r([SUCCESS_U32_U32, *upcall_ptr, *appdata, 0], 3),
            SyscallReturn::SubscribeFailure {
                error,
                upcall_ptr,
                appdata,
            } => r([FAILURE_U32_U32, e(error), *upcall_ptr, *appdata], 4),
        }
    }
}

/// The registers a system call return writes: `r0` (`a0`) and the ones
/// after it that carry values, at most four. The architecture writes
/// exactly these into the process's saved state; every other register
/// keeps its value (see the module's return convention).
///
/// ```
/// use kernel::syscall::{ReturnRegisters, SyscallReturn};
///
/// let ret = SyscallReturn::SuccessU32(7).encode();
/// assert_eq!(ret.as_slice(), [129, 7]);
/// // What the process sees after calling with [2, 1, 0xA2, 0xA3]:
/// let mut regs = [2, 1, 0xA2, 0xA3];
/// ret.apply_to(&mut regs);
/// assert_eq!(regs, [129, 7, 0xA2, 0xA3]);
/// assert_eq!(ReturnRegisters::yield_wait_for([1, 2, 3]).as_slice(), [1, 2, 3]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReturnRegisters {
    /// The values; only the first `count` are written.
    values: [u32; 4],
    /// How many registers, from `r0` on, are written (1 to 4).
    count: u8,
}

impl ReturnRegisters {
    /// `count` registers of `values`, from `r0` on.
    const fn new(values: [u32; 4], count: u8) -> ReturnRegisters {
        ReturnRegisters { values, count }
    }

    /// The answer to a yield-wait-for: the awaited upcall's three
    /// arguments in `r0`-`r2`; `r3` is not written.
    pub const fn yield_wait_for(args: [u32; 3]) -> ReturnRegisters {
        let [a, b, c] = args;
        ReturnRegisters::new([a, b, c, 0], 3)
    }

    /// The values to write, `r0` first: one to four of them.
    pub fn as_slice(&self) -> &[u32] {
        let n = usize::from(self.count).min(self.values.len());
        &self.values[..n]
    }

    /// Writes the return into `registers` (`r0`-`r3` as the process left
    /// them), leaving the ones this return does not use as they are.
    pub fn apply_to(&self, registers: &mut [u32; 4]) {
        // Constant indices and no slice copy: this runs on every system
        // call.
        let n = self.count;
        registers[0] = self.values[0];
        if n > 1 {
            registers[1] = self.values[1];
        }
        if n > 2 {
            registers[2] = self.values[2];
        }
        if n > 3 {
            registers[3] = self.values[3];
        }
    }
}

impl From<Result<(), ErrorCode>> for SyscallReturn {
    /// `Ok(())` is [`SyscallReturn::Success`], `Err(e)` is
    /// [`SyscallReturn::Failure`]: the usual answer of a command.
    fn from(result: Result<(), ErrorCode>) -> SyscallReturn {
        match result {
            Ok(()) => SyscallReturn::Success,
            Err(e) => SyscallReturn::Failure(e),
        }
    }
}
