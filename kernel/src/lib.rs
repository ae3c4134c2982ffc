//! The arch-independent core of a Tock-compatible kernel.
//!
//! This crate holds the parts of the kernel that do not depend on a CPU or a
//! board and can therefore be tested on the host. It currently provides the
//! pure building blocks that the rest of the kernel (processes, grants, the
//! scheduler) builds on:
//!
//! * [`errorcode`]: [`ErrorCode`], the error numbers shared with userspace,
//!   and the status convention used in upcalls.
//! * [`syscall`]: decoding of the eight TRD104 system call classes from the
//!   trapped registers ([`syscall::Syscall`]) and encoding of the return
//!   values into registers ([`syscall::SyscallReturn`]).
//! * [`tbf`]: a parser for the Tock Binary Format that never panics, and the
//!   walk over an app flash area that decides which TBFs may be loaded.
//! * [`deferred_call`]: deferred calls, so that split-phase drivers finish
//!   work from the main loop instead of calling their clients re-entrantly.
//! * [`storage_permissions`]: app identity ([`storage_permissions::ShortId`])
//!   and the permissions on stored data, with the board policies that
//!   assign them.
//! * [`hil`]: the hardware interface layers between chip drivers and
//!   capsules: flash, key-value storage, hashing, UART and time.
//! * [`utilities`]: sub-slices (buffers with an active window) and the POSIX
//!   CRC-32.
//!
//! The crate is `no_std`, depends only on `tock-cells` and contains no
//! `unsafe` code. Register values are `u32`: every platform this kernel
//! targets (RV32 and Cortex-M) has 32-bit registers and addresses.

#![no_std]
#![forbid(unsafe_code)]

pub mod deferred_call;
pub mod errorcode;
pub mod grant;
pub mod hil;
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
pub use kernel::{CreateGrantError, Kernel, KERNEL_VERSION, MAX_GRANTS};
