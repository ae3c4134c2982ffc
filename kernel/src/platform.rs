//! The boundary between the kernel core and a board, a chip and a CPU.
//!
//! The kernel core never touches hardware. A port provides:
//!
//! * [`UserspaceBoundary`]: the CPU side of running a process (set up its
//!   registers, switch to it, report why it came back, push an upcall frame,
//!   write syscall return values);
//! * [`MemoryProtection`]: where process memory may be placed and which
//!   ranges the MPU (Cortex-M) or PMP (RISC-V) opens to the process;
//! * [`Chip`]: interrupts and sleep; [`SchedulerTimer`]: the timeslice;
//! * [`SyscallDriverLookup`]: the board's table of syscall drivers;
//! * policies: [`ProcessFaultPolicy`] and [`SyscallFilter`].
//!
//! [`Platform`] bundles them for [`Kernel::run_once`](crate::Kernel::run_once).

use core::fmt;

use crate::process::{Process, ProcessId};
use crate::syscall::{ReturnRegisters, Syscall, SyscallReturn};
use crate::ErrorCode;

/// What a command returns: any [`SyscallReturn`] variant except the allow
/// and subscribe ones.
///
/// ```
/// use kernel::platform::CommandReturn;
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

/// A board-chosen check run before every system call that names a driver.
pub trait SyscallFilter {
    /// `Ok(())` lets the call proceed; `Err(e)` answers it with `e`.
    fn filter(&self, process: &Process, syscall: &Syscall) -> Result<(), ErrorCode>;
}

/// Lets every system call through.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllowAll;

impl SyscallFilter for AllowAll {
    fn filter(&self, _: &Process, _: &Syscall) -> Result<(), ErrorCode> {
        Ok(())
    }
}

/// Filters commands by the TBF permissions TLV (type 6).
///
/// An app without the TLV may call every command. An app with it may call
/// exactly the commands it lists; any other command is answered NODEVICE,
/// as if the driver did not exist. Subscribe and allow are not filtered:
/// without commands they cannot start anything.
#[derive(Clone, Copy, Debug, Default)]
pub struct TbfPermissionsFilter;

impl SyscallFilter for TbfPermissionsFilter {
    fn filter(&self, process: &Process, syscall: &Syscall) -> Result<(), ErrorCode> {
        if let Syscall::Command {
            driver, command, ..
        } = *syscall
        {
            let header = process.header().ok_or(ErrorCode::NODEVICE)?;
            match header.command_permitted(driver, command) {
                None | Some(true) => Ok(()),
                Some(false) => Err(ErrorCode::NODEVICE),
            }
        } else {
            Ok(())
        }
    }
}

/// What the kernel does with a process that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Print the kernel and process state, then panic (debugging boards).
    Panic,
    /// Keep the process stopped in the faulted state (its state can still
    /// be printed); it never runs again.
    Stop,
    /// Restart it: new process id, memory reset, started from its entry
    /// point.
    Restart,
}

/// A board's policy for faulting processes.
pub trait ProcessFaultPolicy {
    /// Decides what to do with `process`, which just faulted.
    fn action(&self, process: &Process) -> FaultAction;
}

/// Panics the kernel on any process fault.
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicFaultPolicy;

impl ProcessFaultPolicy for PanicFaultPolicy {
    fn action(&self, _: &Process) -> FaultAction {
        FaultAction::Panic
    }
}

/// Stops a faulting process.
#[derive(Clone, Copy, Debug, Default)]
pub struct StopFaultPolicy;

impl ProcessFaultPolicy for StopFaultPolicy {
    fn action(&self, _: &Process) -> FaultAction {
        FaultAction::Stop
    }
}

/// Restarts a faulting process until it has been restarted `threshold`
/// times, then stops it.
#[derive(Clone, Copy, Debug)]
pub struct RestartWithThreshold {
    /// How many restarts a process gets.
    pub threshold: u32,
}

impl ProcessFaultPolicy for RestartWithThreshold {
    fn action(&self, process: &Process) -> FaultAction {
        if process.restart_count() < self.threshold {
            FaultAction::Restart
        } else {
            FaultAction::Stop
        }
    }
}

/// Number of words of CPU state the kernel keeps for every process.
pub const STORED_STATE_WORDS: usize = 36;

/// The saved CPU state of a process. Its layout belongs to the
/// [`UserspaceBoundary`] implementation; the kernel core only stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredState {
    /// Architecture-defined contents.
    pub words: [u32; STORED_STATE_WORDS],
}

impl StoredState {
    /// All zero.
    pub const ZERO: StoredState = StoredState {
        words: [0; STORED_STATE_WORDS],
    };
}

/// The registers a process starts with (spec: TBF "Entry").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRegisters {
    /// Entry point: TBF start + header size + init_fn_offset.
    pub pc: u32,
    /// First argument: the app binary start (TBF start + header size +
    /// protected trailer size).
    pub binary_start: u32,
    /// Second argument: start of the process's RAM.
    pub mem_start: u32,
    /// Third argument: length of the whole RAM allocation.
    pub mem_len: u32,
    /// Fourth argument: the initial break.
    pub app_break: u32,
}

/// An upcall to push onto a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpcallFrame {
    /// Address of the upcall function.
    pub fn_ptr: u32,
    /// The three arguments.
    pub args: [u32; 3],
    /// The application data given at subscribe.
    pub appdata: u32,
}

/// A fault a process caused, as the CPU reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Instruction fetch from a forbidden or unmapped address.
    InstructionAccess,
    /// Load from a forbidden address.
    LoadAccess,
    /// Store to a forbidden address.
    StoreAccess,
    /// Illegal or undefined instruction.
    IllegalInstruction,
    /// Misaligned access the CPU does not support.
    Misaligned,
    /// A trap that is not a valid system call (unknown class, invalid
    /// yield number).
    BadSyscall,
    /// The kernel could not set up an upcall or the initial frame (e.g. the
    /// stack pointer is outside the process's memory on Cortex-M).
    BadFrame,
    /// Anything else the port reports.
    Other,
}

/// A process fault: kind plus the faulting pc and address (0 if unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong.
    pub kind: FaultKind,
    /// Program counter of the faulting instruction.
    pub pc: u32,
    /// The address involved (mtval / MMFAR), if any.
    pub address: u32,
}

/// Why control came back from a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchReason {
    /// The process made a system call: class number and `[r0, r1, r2, r3]`.
    /// The port has already advanced the saved pc past the trap.
    Syscall {
        /// Class number (a4 on RISC-V, the svc immediate on Cortex-M).
        class: u8,
        /// The four argument registers.
        args: [u32; 4],
    },
    /// The process faulted.
    Fault(Fault),
    /// The scheduler timer expired.
    TimesliceExpired,
    /// An interrupt needs service.
    Interrupted,
}

/// Memory the port may touch while switching: the whole RAM allocation of
/// the process and the part of it the process may access.
pub struct ProcessMemory<'a> {
    /// The process's whole RAM allocation, starting at `start`.
    pub ram: &'a mut [u8],
    /// Address of `ram[0]`.
    pub start: u32,
    /// End (exclusive) of what the process may access: its break.
    pub accessible_end: u32,
}

/// The CPU side of running processes; one implementation per architecture
/// (rv32i, Cortex-M) plus the host mock.
pub trait UserspaceBoundary {
    /// The state a new (or restarted) process starts in. Cortex-M ports push
    /// an initial exception frame into `memory`; RISC-V ports set registers.
    fn initial_state(
        &self,
        entry: &EntryRegisters,
        memory: &mut ProcessMemory<'_>,
    ) -> Result<StoredState, Fault>;

    /// Bytes of RAM the process must be able to access before its first
    /// instruction (0 on RISC-V; 32 on Cortex-M for the initial frame).
    fn initial_accessible_bytes(&self) -> u32;

    /// Writes a system call's return into the saved state: exactly the
    /// registers in `ret` (`r0` and the ones after it that its variant
    /// uses), and no other. Every register `ret` does not name, including
    /// the rest of `r0`-`r3`, must keep the value the process passed in:
    /// userspace relies on it (see [`crate::syscall`]). A port whose
    /// argument registers live in process memory (Cortex-M's stacked
    /// exception frame) copies them into the stored state at the trap and
    /// back out at the next switch, so this stays a plain write.
    fn set_syscall_return(&self, state: &mut StoredState, ret: &ReturnRegisters);

    /// Arranges for `frame.fn_ptr` to run next with the frame's arguments,
    /// returning to where the process yielded.
    fn push_upcall(
        &self,
        state: &mut StoredState,
        memory: &mut ProcessMemory<'_>,
        frame: &UpcallFrame,
    ) -> Result<(), Fault>;

    /// Runs the process until it traps.
    fn switch_to_process(
        &self,
        state: &mut StoredState,
        memory: &mut ProcessMemory<'_>,
    ) -> SwitchReason;

    /// The saved program counter (reported with faults the kernel detects,
    /// such as an invalid system call).
    fn program_counter(&self, state: &StoredState) -> u32;

    /// Prints the saved registers.
    fn print_state(&self, state: &StoredState, out: &mut dyn fmt::Write) -> fmt::Result;
}

/// A contiguous address range `[start, start + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    /// First address.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Range {
    /// End address (exclusive), saturating.
    pub fn end(&self) -> u32 {
        self.start.saturating_add(self.len)
    }
    /// Whether `[addr, addr + len)` lies inside this range (len 0 included).
    pub fn contains_range(&self, addr: u32, len: u32) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.start && end <= self.end() && self.end() >= self.start,
            None => false,
        }
    }
}

/// What the memory protection unit opens to one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessProtection {
    /// Read + execute: the whole TBF.
    pub flash: Range,
    /// Read + write: `[mem_start, accessible_end)`.
    pub ram: Range,
}

/// Memory protection (RISC-V PMP, Cortex-M MPU).
///
/// The kernel asks where process RAM may go and how far a break may reach,
/// and hands over the ranges to open before each switch. Ports with coarse
/// granularity (power-of-two regions, subregions) round here; the kernel
/// never assumes more than it is told.
pub trait MemoryProtection {
    /// Places a process RAM block of at least `min_len` bytes inside
    /// `window`, starting exactly at `fixed` when given. Returns the block
    /// (its start may be later than `window.start` for alignment) or `None`
    /// if it does not fit.
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range>;

    /// The end of the accessible RAM if the break is set to `brk` in a block
    /// starting at `mem_start`: `brk` itself or rounded up to the unit's
    /// granularity. `None` if that would reach beyond `limit` (the start of
    /// the grant region), which refuses the break.
    fn accessible_end(&self, mem_start: u32, brk: u32, limit: u32) -> Option<u32>;

    /// Opens exactly `protection` to userspace (and nothing else) for the
    /// next switch.
    fn configure(&self, protection: &ProcessProtection);
}

/// A protection unit with 4-byte granularity and no placement constraints
/// (what RISC-V PMP in TOR mode offers).
#[derive(Clone, Copy, Debug, Default)]
pub struct WordGranularProtection;

impl WordGranularProtection {
    /// Place and round at 4-byte granularity (shared by ports without
    /// tighter constraints).
    pub fn place(window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        let start = match fixed {
            Some(f) => f,
            None => window.start.checked_add(3)? & !3,
        };
        if start % 4 != 0 {
            return None;
        }
        let len = min_len.checked_add(3)? & !3;
        let block = Range { start, len };
        (window.contains_range(start, len)).then_some(block)
    }
}

impl MemoryProtection for WordGranularProtection {
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        Self::place(window, min_len, fixed)
    }

    fn accessible_end(&self, _mem_start: u32, brk: u32, limit: u32) -> Option<u32> {
        let end = brk.checked_add(3)? & !3;
        (end <= limit).then_some(end)
    }

    fn configure(&self, _: &ProcessProtection) {}
}

/// Interrupt and power control of the chip the kernel runs on.
pub trait Chip {
    /// Whether an interrupt is waiting for service.
    fn has_pending_interrupts(&self) -> bool;
    /// Runs the handlers of all pending interrupts (bottom halves).
    fn service_pending_interrupts(&self);
    /// Sleeps until an interrupt arrives (returns at once if one is
    /// pending).
    fn sleep(&self);
}

/// The timer that bounds how long a process runs before it is preempted.
pub trait SchedulerTimer {
    /// Starts a timeslice of `us` microseconds.
    fn start(&self, us: u32);
    /// Stops the timer.
    fn reset(&self);
    /// Whether the current timeslice has run out.
    fn expired(&self) -> bool;
}

/// A scheduler timer that never expires: processes run until they yield or
/// trap (useful for cooperative boards and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTimeslice;

impl SchedulerTimer for NoTimeslice {
    fn start(&self, _: u32) {}
    fn reset(&self) {}
    fn expired(&self) -> bool {
        false
    }
}

/// Everything [`Kernel::run_once`](crate::Kernel::run_once) needs from a
/// board.
pub struct Platform<'a> {
    /// The driver table.
    pub drivers: &'a dyn SyscallDriverLookup,
    /// The syscall filter.
    pub filter: &'a dyn SyscallFilter,
    /// The fault policy.
    pub fault_policy: &'a dyn ProcessFaultPolicy,
    /// The CPU side of process switching.
    pub boundary: &'a dyn UserspaceBoundary,
    /// Memory protection.
    pub protection: &'a dyn MemoryProtection,
    /// Interrupts and sleep.
    pub chip: &'a dyn Chip,
    /// The timeslice timer.
    pub timer: &'a dyn SchedulerTimer,
    /// Deferred calls, serviced between processes.
    pub deferred: &'a dyn DeferredCallService,
    /// Timeslice length in microseconds.
    pub timeslice_us: u32,
    /// Where diagnostics go (fault reports, panic dumps).
    pub debug: Option<&'a dyn DebugOutput>,
}

/// The kernel's view of the deferred-call manager: the main loop services
/// one pending call at a time between processes.
pub trait DeferredCallService {
    /// Whether a deferred call is waiting.
    fn has_pending(&self) -> bool;
    /// Runs one pending deferred call; `false` if none was pending.
    fn service_next(&self) -> bool;
}

/// A sink for kernel diagnostics.
pub trait DebugOutput {
    /// Writes formatted text; output may be dropped but never blocks
    /// forever.
    fn write_fmt(&self, args: fmt::Arguments<'_>);
}

impl<const N: usize> DeferredCallService for crate::deferred_call::DeferredCalls<N> {
    fn has_pending(&self) -> bool {
        crate::deferred_call::DeferredCalls::has_pending(self)
    }

    fn service_next(&self) -> bool {
        crate::deferred_call::DeferredCalls::service_next(self)
    }
}
