//! The boundary between the kernel core and a port: what an architecture,
//! a chip and a board provide.
//!
//! The kernel core never touches hardware. A port provides, one file each:
//!
//! * [`arch`]: the CPU side of running a process ([`arch::UserspaceBoundary`]:
//!   set up its registers, switch to it, report why it came back, push an
//!   upcall frame, write syscall return values) and the saved state it
//!   works on;
//! * [`mpu`]: memory protection ([`mpu::MemoryProtection`]: where process
//!   RAM may be placed and which ranges the MPU (Cortex-M) or PMP
//!   (RISC-V) opens to the process);
//! * [`chip`]: interrupts and sleep ([`chip::Chip`]) and the timeslice
//!   timer ([`chip::SchedulerTimer`]).
//!
//! A board adds its driver table
//! ([`SyscallDriverLookup`])
//! and its policies ([`crate::policy`]), and [`Platform`] bundles it all
//! for [`Kernel::run_once`](crate::Kernel::run_once).

use core::fmt;

use crate::policy::{ProcessFaultPolicy, SyscallFilter};
use crate::syscall_driver::SyscallDriverLookup;

pub mod arch;
pub mod chip;
pub mod mpu;

use arch::UserspaceBoundary;
use chip::{Chip, SchedulerTimer};
use mpu::MemoryProtection;

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
    /// The waiting calls, one bit per slot (bit `i`: slot `i`).
    fn pending(&self) -> u64;
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

    fn pending(&self) -> u64 {
        crate::deferred_call::DeferredCalls::pending(self)
    }

    fn service_next(&self) -> bool {
        crate::deferred_call::DeferredCalls::service_next(self)
    }
}
