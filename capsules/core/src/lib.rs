//! Core capsules: drivers and virtualizers every board can use.
//!
//! * [`alarm`]: the alarm syscall driver (0): one virtual alarm per app
//!   over a single `hil::time::Alarm`.
//! * [`led`]: the LED syscall driver (2) over `hil::gpio` outputs.
//! * [`button`]: the button syscall driver (3) over `hil::gpio`
//!   interrupt pins, with an upcall per press and release.
//! * [`console`]: the console syscall driver (1) over a UART, with FIFO
//!   writes across apps and the kernel's own debug output.
//! * [`low_level_debug`]: the low-level debug syscall driver (8): numbers
//!   and alert codes printed through a non-blocking sink.
//! * [`siphash`]: a software SipHash-2-4 implementing `hil::hasher`
//!   (zero key, big-endian digest: TicKV's key hash).
//! * [`virtual_flash`]: shares one `hil::flash` device between several
//!   users, FIFO, one request in flight.

#![no_std]
#![forbid(unsafe_code)]

pub mod alarm;
pub mod button;
pub mod console;
pub mod led;
pub mod low_level_debug;
pub mod siphash;
pub mod virtual_flash;
