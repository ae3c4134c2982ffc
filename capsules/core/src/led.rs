//! The LED syscall driver, number 2: the board's LEDs, by index.
//!
//! # Interface summary (upstream's numbering)
//!
//! | | number | arguments | answer |
//! |---|---|---|---|
//! | command | 0 | | Success u32: the number of LEDs |
//! | command | 1 | `led` | turn it on: Success, `INVAL` for no such LED |
//! | command | 2 | `led` | turn it off |
//! | command | 3 | `led` | toggle it |
//! | other | | | `NOSUPPORT` |
//!
//! LEDs are shared by every app: no grant. The board says for each pin
//! whether it is lit high or low ([`ActivationMode`]); all LEDs start
//! off.

use kernel::hil::gpio::{ActivationMode, Output};
use kernel::process::ProcessId;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::ErrorCode;

/// The driver number.
pub const DRIVER_NUM: u32 = 2;

/// Command numbers.
pub mod command {
    /// The number of LEDs.
    pub const COUNT: u32 = 0;
    /// Turn an LED on.
    pub const ON: u32 = 1;
    /// Turn an LED off.
    pub const OFF: u32 = 2;
    /// Toggle an LED.
    pub const TOGGLE: u32 = 3;
}

/// The LED driver over pins of type `P`.
pub struct LedDriver<'a, P: Output> {
    leds: &'a [(P, ActivationMode)],
}

impl<'a, P: Output> LedDriver<'a, P> {
    /// The driver over `leds`, each turned off.
    pub fn new(leds: &'a [(P, ActivationMode)]) -> Self {
        let driver = LedDriver { leds };
        for i in 0..leds.len() {
            driver.drive(i, false);
        }
        driver
    }

    fn drive(&self, i: usize, on: bool) {
        if let Some((pin, mode)) = self.leds.get(i) {
            if mode.level(on) {
                pin.set();
            } else {
                pin.clear();
            }
        }
    }

    /// Whether LED `i` is lit (`None`: no such LED).
    pub fn is_on(&self, i: usize) -> Option<bool> {
        self.leds
            .get(i)
            .map(|(pin, mode)| mode.is_active(pin.is_set()))
    }
}

impl<P: Output> SyscallDriver for LedDriver<'_, P> {
    fn command(&self, command: u32, led: u32, _: u32, _: ProcessId) -> CommandReturn {
        if command == command::COUNT {
            return CommandReturn::success_u32(self.leds.len() as u32);
        }
        if !matches!(command, command::ON | command::OFF | command::TOGGLE) {
            return CommandReturn::failure(ErrorCode::NOSUPPORT);
        }
        let i = led as usize;
        let Some(on) = self.is_on(i) else {
            return CommandReturn::failure(ErrorCode::INVAL);
        };
        let next = match command {
            command::ON => true,
            command::OFF => false,
            _ => !on,
        };
        self.drive(i, next);
        CommandReturn::success()
    }
}
