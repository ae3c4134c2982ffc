//! Alarm, driver 0: a free-running counter and one alarm per process.
//!
//! | | number | meaning |
//! |---|---|---|
//! | command | 1 | frequency in Hz -> Success(u32) |
//! | command | 2 | now, in ticks -> Success(u32) |
//! | command | 3 | stop the alarm (ALREADY if none) |
//! | command | 5 | set the alarm `arg0` ticks from now -> Success(u32 expiration) |
//! | command | 6 | set the alarm at `arg0 + arg1` (reference, dt) -> Success(u32) |
//! | subscribe | 0 | alarm fired: (now, expiration, 0) |
//!
//! Tick values wrap at 2^32 (the kernel widens or left-justifies narrower
//! counters and scales the frequency to match).

use crate::share::{self, UpcallRecord};
use crate::syscall::{command, ErrorCode};

/// Driver number.
pub const DRIVER: u32 = 0;
/// Upcall when the alarm fires.
pub const SUBSCRIBE_FIRED: u32 = 0;
/// Command: frequency.
pub const COMMAND_FREQUENCY: u32 = 1;
/// Command: now.
pub const COMMAND_NOW: u32 = 2;
/// Command: stop.
pub const COMMAND_STOP: u32 = 3;
/// Command: set relative to now.
pub const COMMAND_SET_RELATIVE: u32 = 5;
/// Command: set relative to a reference.
pub const COMMAND_SET_ABSOLUTE: u32 = 6;

/// The counter frequency in Hz.
pub fn frequency() -> Result<u32, ErrorCode> {
    match command(DRIVER, COMMAND_FREQUENCY, 0, 0).into_u32()? {
        0 => Err(ErrorCode::Fail),
        f => Ok(f),
    }
}

/// The counter now.
pub fn now() -> Result<u32, ErrorCode> {
    command(DRIVER, COMMAND_NOW, 0, 0).into_u32()
}

/// Sets the alarm `dt` ticks from now; returns the tick at which it fires.
/// Replaces an alarm already set.
pub fn set_relative(dt: u32) -> Result<u32, ErrorCode> {
    command(DRIVER, COMMAND_SET_RELATIVE, dt, 0).into_u32()
}

/// Sets the alarm at `reference + dt`; returns the tick at which it fires.
pub fn set_absolute(reference: u32, dt: u32) -> Result<u32, ErrorCode> {
    command(DRIVER, COMMAND_SET_ABSOLUTE, reference, dt).into_u32()
}

/// Stops the alarm (ALREADY if none is set).
pub fn stop() -> Result<(), ErrorCode> {
    command(DRIVER, COMMAND_STOP, 0, 0).into_success()
}

/// Ticks in `ms` milliseconds at `frequency`, rounded up.
pub fn ms_to_ticks(ms: u32, frequency: u32) -> u64 {
    (u64::from(ms) * u64::from(frequency)).div_ceil(1000)
}

/// Sleeps for `ticks` ticks: sets the alarm and yields until it fires.
/// Other upcalls run meanwhile.
pub fn sleep_ticks(ticks: u32) -> Result<(), ErrorCode> {
    let fired = UpcallRecord::new();
    share::subscribe(DRIVER, SUBSCRIBE_FIRED, &fired, || {
        set_relative(ticks)?;
        share::wait_for_upcall(&fired);
        Ok(())
    })?
}

/// Sleeps for `ms` milliseconds (at least).
pub fn sleep_ms(ms: u32) -> Result<(), ErrorCode> {
    // Stay well inside the counter's range, whatever its frequency.
    const CHUNK: u64 = 1 << 30;
    let mut left = ms_to_ticks(ms, frequency()?);
    while left > 0 {
        let step = left.min(CHUNK);
        sleep_ticks(step as u32)?;
        left -= step;
    }
    Ok(())
}
