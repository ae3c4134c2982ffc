//! `tockrt`: the runtime and system call library of our Tock userland apps.
//!
//! An app is a `#![no_std]`, `#![no_main]` binary that names its main
//! function with [`main!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! tockrt::main!(main);
//!
//! fn main() {
//!     tockrt::println!("hello from {}", "tockrt");
//! }
//! ```
//!
//! What the crate provides, bottom up:
//!
//! * [`syscall`]: the `ecall` wrappers for the eight system call classes,
//!   [`ErrorCode`] and [`SyscallReturn`] (every return variant decoded), the
//!   three kinds of yield, command and exit.
//! * [`share`]: subscribe and allow, scoped: a closure runs while the
//!   kernel holds the upcall or buffer, and the previous subscription or
//!   buffer is put back when it ends, on every path out of the closure.
//! * [`memop`]: the memory operations (break, layout queries).
//! * Drivers: [`console`] (driver 1, with [`print!`]/[`println!`]),
//!   [`alarm`] (driver 0), [`low_level_debug`] (driver 8), [`kv`]
//!   (key-value storage, driver `0x50003`).
//! * [`probe`]: checks for conformance tests that pass the kernel values a
//!   normal app never would (wild pointers, register patterns).
//! * The start-up code and the panic handler (module `runtime`): the
//!   kernel enters `_start` with the binary start (where the linker put the
//!   runtime header) in a0; `_start` checks it runs where it was linked,
//!   moves the break to the end of `.bss`, sets the stack pointer, copies
//!   `.data` and zeroes `.bss`, then Rust code reports the stack and heap
//!   start (memop 10/11), runs `main` and exits with its code. See
//!   [`startup`].
//!
//! There is no heap. All `unsafe` code lives in `syscall`, `share`,
//! `probe` and `runtime`.

#![no_std]

#[cfg(not(target_arch = "riscv32"))]
compile_error!("tockrt supports RISC-V (rv32) apps only");

pub mod alarm;
pub mod console;
pub mod kv;
pub mod low_level_debug;
pub mod memop;
pub mod probe;
mod runtime;
pub mod share;
pub mod syscall;

pub use runtime::{linked, startup, Linked, RtHeader, Startup, EXIT_NO_MEMORY, PANIC_EXIT_CODE};
pub use syscall::{ErrorCode, SyscallReturn};

/// What `main` may return: the exit code it stands for.
pub trait ExitCode {
    /// The completion code for exit-terminate.
    fn code(self) -> u32;
}

impl ExitCode for () {
    fn code(self) -> u32 {
        0
    }
}

impl ExitCode for u32 {
    fn code(self) -> u32 {
        self
    }
}

impl<E: Into<u32>> ExitCode for Result<(), E> {
    fn code(self) -> u32 {
        match self {
            Ok(()) => 0,
            Err(e) => e.into(),
        }
    }
}

/// Names the app's main function: `tockrt::main!(main);`.
///
/// The function takes no arguments and returns `()`, a `u32` or a
/// `Result<(), E>` with `E: Into<u32>` (see [`ExitCode`]); when it returns,
/// the process exits (exit-terminate) with that code.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        /// Entry point called by tockrt's start-up code.
        #[no_mangle]
        fn __tockrt_app_main() -> u32 {
            $crate::ExitCode::code($main())
        }
    };
}
