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
//!
//! The crate is `no_std`, has no dependencies and contains no `unsafe` code.
//! Register values are `u32`: every platform this kernel targets (RV32 and
//! Cortex-M) has 32-bit registers and addresses.

#![no_std]
#![forbid(unsafe_code)]

pub mod errorcode;
pub mod syscall;
pub mod tbf;

pub use errorcode::ErrorCode;
