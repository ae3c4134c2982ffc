//! The LED (2) and button (3) drivers over a board's pins.

use capsules_core::button::{self, ButtonDriver, Listening};
use capsules_core::led::LedDriver;
use kernel::hil::gpio::{ActivationMode, InterruptPin, Output};
use kernel::Kernel;

use crate::ComponentError;

/// The LED driver over `pins` (each with its wiring); every LED starts
/// off.
pub fn leds<P: Output>(
    memory: &'static mut Option<LedDriver<'static, P>>,
    pins: &'static [(P, ActivationMode)],
) -> &'static LedDriver<'static, P> {
    memory.insert(LedDriver::new(pins))
}

/// The button driver over `pins` (each with its wiring), with its grant,
/// as the client of every pin.
pub fn buttons<P: InterruptPin<'static>>(
    memory: &'static mut Option<ButtonDriver<'static, P>>,
    pins: &'static [(P, ActivationMode)],
    kernel: &'static Kernel,
) -> Result<&'static ButtonDriver<'static, P>, ComponentError> {
    let grant = kernel.create_grant::<Listening>(button::DRIVER_NUM, button::ALLOW_COUNTS)?;
    let driver: &'static ButtonDriver<'static, P> = memory.insert(ButtonDriver::new(pins, grant));
    driver.register();
    Ok(driver)
}
