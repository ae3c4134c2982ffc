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
//! * [`syscall`]: the system call wrappers (RISC-V `ecall`, Cortex-M
//!   `svc`; the instructions are in the private `arch` module) for the
//!   eight system call classes,
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
//! `probe`, `runtime` and `arch`.

#![no_std]

#[cfg(not(any(target_arch = "riscv32", target_arch = "arm")))]
compile_error!("tockrt supports RISC-V (rv32) and Cortex-M apps only");

pub mod alarm;
mod arch;
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

/// A number the app's build script learned from its board description
/// (`tools/app-layout`): `board_u32!("TOCK_ALARM_HZ")` (the alarm's
/// clock), `board_u32!("TOCK_KERNEL_RAM")` (an address inside the
/// kernel, never the process's) or `board_u32!("TOCK_USER_COUNTERS")` (1
/// if user mode may read the `time` and `instret` counters). A constant
/// expression.
#[macro_export]
macro_rules! board_u32 {
    ($name:literal) => {
        $crate::parse_u32(env!($name))
    };
}

/// Parses a decimal or `0x` hexadecimal `u32` at compile time (for
/// [`board_u32!`]); a malformed number fails the build.
pub const fn parse_u32(text: &str) -> u32 {
    let b = text.as_bytes();
    let (radix, mut i) = if b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
        (16, 2)
    } else {
        (10, 0)
    };
    let mut value: u32 = 0;
    while i < b.len() {
        let c = b[i];
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' if radix == 16 => c - b'a' + 10,
            b'A'..=b'F' if radix == 16 => c - b'A' + 10,
            b'_' => {
                i += 1;
                continue;
            }
            _ => panic!("board_u32!: not a number"),
        };
        value = match value.checked_mul(radix) {
            Some(v) => match v.checked_add(digit as u32) {
                Some(v) => v,
                None => panic!("board_u32!: too large"),
            },
            None => panic!("board_u32!: too large"),
        };
        i += 1;
    }
    value
}

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
