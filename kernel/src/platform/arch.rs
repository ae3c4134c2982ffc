//! What an architecture port implements: the CPU side of running a
//! process. `arch/rv32i` is the worked example; the host mock
//! (`kernel/mock`) is another.

use core::fmt;

use crate::syscall::ReturnRegisters;

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
    /// returning to where the process yielded. Works on the saved state in
    /// place: on `Err` the process is faulted, so what it left there only
    /// shows in the fault report (change nothing before a check that can
    /// fail).
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
