//! Policies a board chooses: which system calls a process may make
//! ([`SyscallFilter`]) and what happens to a process that faults
//! ([`ProcessFaultPolicy`]). (Storage identity policies are in
//! [`crate::storage_permissions`].)

use crate::process::Process;
use crate::syscall::Syscall;
use crate::ErrorCode;

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
