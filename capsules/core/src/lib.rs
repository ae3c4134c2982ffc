//! Core capsules: drivers and virtualizers every board can use.
//!
//! * [`siphash`]: a software SipHash-2-4 implementing `hil::hasher`
//!   (zero key, big-endian digest: TicKV's key hash).
//! * [`virtual_flash`]: shares one `hil::flash` device between several
//!   users, FIFO, one request in flight.

#![no_std]
#![forbid(unsafe_code)]

pub mod siphash;
pub mod virtual_flash;
