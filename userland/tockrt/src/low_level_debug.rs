//! Low-level debug, driver 8: numbers and alert codes on the kernel's
//! debug output, with no buffers and no upcalls.
//!
//! | command | meaning |
//! |---|---|
//! | 1 | alert code `arg0` (1 panic, 2 wrong load address) |
//! | 2 | print `arg0` |
//! | 3 | print `arg0` and `arg1` |

use crate::syscall::{command, ErrorCode};

/// Driver number.
pub const DRIVER: u32 = 8;
/// Command: alert code.
pub const COMMAND_ALERT: u32 = 1;
/// Command: print one number.
pub const COMMAND_PRINT1: u32 = 2;
/// Command: print two numbers.
pub const COMMAND_PRINT2: u32 = 3;
/// Alert code: the app panicked.
pub const ALERT_PANIC: u32 = 1;
/// Alert code: the app was loaded at the wrong address.
pub const ALERT_WRONG_LOCATION: u32 = 2;

/// Sends alert `code`.
pub fn alert(code: u32) -> Result<(), ErrorCode> {
    command(DRIVER, COMMAND_ALERT, code, 0).into_success()
}

/// Prints one number.
pub fn print(value: u32) -> Result<(), ErrorCode> {
    command(DRIVER, COMMAND_PRINT1, value, 0).into_success()
}

/// Prints two numbers.
pub fn print2(a: u32, b: u32) -> Result<(), ErrorCode> {
    command(DRIVER, COMMAND_PRINT2, a, b).into_success()
}
