//! The arch-independent core of a Tock-compatible kernel, tested on the
//! host (`kernel/mock` plays the CPU).
//!
//! * [`Kernel`]: the process table, the grant registry, faults and
//!   restarts and the round-robin main loop; process loading
//!   ([`Kernel::load_processes`], [`LoadEvent`], [`LoadPolicy`]) and the
//!   system call dispatch (one function per class) in its own files.
//! * [`syscall`]: the ABI: decoding the eight system call classes from the
//!   trapped registers and encoding returns ([`syscall::ReturnRegisters`]:
//!   exactly the registers a variant writes). `doc/abi.md` has the rules.
//! * [`process`]: a process's memory layout, state, upcall queue and
//!   identity; [`grant`]: per-process driver state carved from its memory.
//! * [`platform`]: what a port implements ([`platform::arch`],
//!   [`platform::mpu`], [`platform::chip`]) and the [`platform::Platform`]
//!   bundle; [`syscall_driver`]: what a capsule behind a driver number
//!   implements; [`policy`]: the fault policies and syscall filters a board
//!   chooses.
//! * [`tbf`]: a parser for the Tock Binary Format that never panics, and the
//!   walk over an app flash area that decides which TBFs may be loaded.
//! * [`credentials`]: what a board's credential checker says about a TBF
//!   (signed by a trusted key or not, or refused), and what unsigned apps
//!   get.
//! * [`deferred_call`]: deferred calls, so that split-phase drivers finish
//!   work from the main loop instead of calling their clients re-entrantly.
//! * [`storage_permissions`]: app identity ([`storage_permissions::ShortId`])
//!   and the permissions on stored data, with the board policies that
//!   assign them.
//! * [`ipc`]: inter-process communication (driver `0x10000`, upstream's
//!   semantics), with buffers shared through the protection unit.
//! * [`hil`]: the hardware interface layers between chip drivers and
//!   capsules: flash, key-value storage, hashing, UART and time.
//! * [`utilities`]: sub-slices (buffers with an active window) and the POSIX
//!   CRC-32 (the storage engine's, so there is one implementation).
//!
//! The crate is `no_std`, depends only on `tock-cells` and the storage
//! engine (for that CRC), and contains no `unsafe` code. Register values
//! are `u32`: every platform this kernel targets (RV32 and Cortex-M) has
//! 32-bit registers and addresses.

#![no_std]
#![forbid(unsafe_code)]

pub mod credentials;
pub mod deferred_call;
pub mod errorcode;
pub mod grant;
pub mod hil;
pub mod ipc;
mod kernel;
pub mod platform;
pub mod policy;
pub mod process;
pub mod storage_permissions;
pub mod syscall;
pub mod syscall_driver;
pub mod tbf;
pub mod utilities;

pub use errorcode::ErrorCode;
pub use kernel::loading::{AppMemory, LoadEvent, LoadPolicy};
pub use kernel::{
    CreateGrantError, Kernel, DEFERRED_BUDGET, KERNEL_VERSION, MAX_GRANTS, SHORT_SLICE_DIVISOR,
};
