//! Board wiring as components: each builds one driver (or a whole stack)
//! out of memory the board allocated statically, registers its grant and
//! takes its deferred calls, binds its clients, and hands back
//! `&'static` references. A board then reads as a list of choices.
//!
//! The memory comes from the board, `&'static mut` (a
//! `static_cell::StaticCell` initialised once at boot): components never
//! allocate and never touch `static mut`. A component that cannot be built
//! (its grant already exists, the grants are sealed, no deferred call
//! slot is left, a configuration the stack rejects) returns an error; it
//! is a boot-time configuration mistake and the board stops.
//!
//! | component | builds |
//! |---|---|
//! | [`console`] | the console driver (1) over a UART, with kernel output |
//! | [`alarm`] | the alarm driver (0) over a `hil::time::Alarm` |
//! | [`gpio`] | the LED (2) and button (3) drivers over `hil::gpio` pins |
//! | [`low_level_debug`] | the low-level debug driver (8), printing through the console |
//! | [`kv_stack`] | the key-value stack, from `hil::flash` to the 0x50003 driver |
//! | [`loading`] | the process loading walk with the QEMU boards' identity and storage policies |
//! | [`boot_counter`] | a kernel user of the store counting boots in a kernel-owned item |
//! | [`standard`] | all of the above that every board offers, and its syscall driver table |
//! | [`test_exit`] | the QEMU boards' test mode: report how processes ended, exit with a status |
//!
//! The board adds its drivers to a
//! [`SyscallDriverLookup`](kernel::syscall_driver::SyscallDriverLookup),
//! loads its processes and runs the kernel (see `doc/kernel.md`, "Adding
//! a board").

#![no_std]
#![forbid(unsafe_code)]

pub mod alarm;
pub mod boot_counter;
pub mod console;
pub mod gpio;
pub mod ipc;
pub mod kv_stack;
pub mod loading;
pub mod low_level_debug;
pub mod standard;
pub mod test_exit;

use kernel::deferred_call::DeferredCall;
use kernel::CreateGrantError;
use kernel::ErrorCode;

/// Why a component could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentError {
    /// The driver's grant could not be created (already created, or the
    /// processes are loaded and the grants sealed, or the table is full).
    Grant(CreateGrantError),
    /// The deferred call manager has no free slot left.
    DeferredCall(ErrorCode),
}

impl From<CreateGrantError> for ComponentError {
    fn from(e: CreateGrantError) -> Self {
        ComponentError::Grant(e)
    }
}

/// A deferred call slot of `calls`, or the component's error.
fn deferred_call<const N: usize>(
    calls: &'static kernel::deferred_call::DeferredCalls<N>,
) -> Result<DeferredCall, ComponentError> {
    calls.allocate().map_err(ComponentError::DeferredCall)
}
