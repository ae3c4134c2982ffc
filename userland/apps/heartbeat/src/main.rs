//! Prints `heartbeat <n>` every 100 ms, 20 times, then `heartbeat: done`
//! and exits with code 0: a test runs it beside an app that faults and
//! checks that the beats keep coming.

#![no_std]
#![no_main]

use tockrt::{alarm, println, ErrorCode};

/// Beats before exiting.
const BEATS: u32 = 20;
/// Milliseconds between beats.
const PERIOD_MS: u32 = 100;

tockrt::main!(main);

fn main() -> Result<(), ErrorCode> {
    for n in 1..=BEATS {
        println!("heartbeat {n}");
        alarm::sleep_ms(PERIOD_MS)?;
    }
    println!("heartbeat: done");
    Ok(())
}
