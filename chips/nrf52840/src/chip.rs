//! [`Nrf52840`]: the kernel's [`Chip`] for the nRF52840: interrupt
//! routing and sleep. SysTick (`cortexm::SysTick`, clocked from the
//! 64 MHz core clock) is the scheduler timer; RTC1 has its own interrupt,
//! so alarms need no help from it.
//!
//! The arch crate's entry code disables an external interrupt when it is
//! taken and leaves it pending (`cortexm::nvic`); servicing runs the
//! driver's handler and completes the interrupt.

use cortexm::nvic;
use kernel::platform::chip::Chip;

use crate::dma::Ram;
use crate::gpio::{Port, GPIOTE_IRQ};
use crate::rtc::{Rtc, RTC1_IRQ};
use crate::uarte::{Uarte, UARTE0_IRQ};

/// The interrupts the kernel services.
pub const INTERRUPTS: [u32; 3] = [UARTE0_IRQ, RTC1_IRQ, GPIOTE_IRQ];

/// The chip's interrupt routing and sleep.
pub struct Nrf52840<'a> {
    uarte: &'a Uarte<'a, Ram>,
    rtc: &'a Rtc<'a>,
    port: &'a Port<'a>,
}

impl<'a> Nrf52840<'a> {
    /// The chip with its console UARTE, alarm clock and GPIO port.
    pub const fn new(uarte: &'a Uarte<'a, Ram>, rtc: &'a Rtc<'a>, port: &'a Port<'a>) -> Self {
        Nrf52840 { uarte, rtc, port }
    }

    /// Enables the interrupts. Call once, after the drivers are set up
    /// and before the kernel loop.
    pub fn initialize(&self) {
        INTERRUPTS.iter().for_each(|&n| nvic::enable(n));
    }
}

impl Chip for Nrf52840<'_> {
    fn has_pending_interrupts(&self) -> bool {
        INTERRUPTS.iter().any(|&n| nvic::pending(n))
    }

    fn service_pending_interrupts(&self) {
        if nvic::pending(UARTE0_IRQ) {
            self.uarte.handle_interrupt();
            nvic::complete(UARTE0_IRQ);
        }
        if nvic::pending(RTC1_IRQ) {
            self.rtc.handle_interrupt();
            nvic::complete(RTC1_IRQ);
        }
        if nvic::pending(GPIOTE_IRQ) {
            self.port.handle_interrupt();
            nvic::complete(GPIOTE_IRQ);
        }
    }

    fn sleep(&self) {
        nvic::wait_for_interrupt_if(|| !self.has_pending_interrupts());
    }
}
