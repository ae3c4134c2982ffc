//! [`Ast1030`]: the kernel's [`Chip`] for `ast1030-evb`, and
//! [`Timeslice`], its [`SchedulerTimer`].
//!
//! # Interrupts
//!
//! The arch crate's entry code disables an external interrupt in the NVIC
//! when it is taken and leaves it pending (`cortexm::nvic`). The chip
//! reports pending work when UART5's interrupt is pending or the alarm is
//! due; servicing runs the UART driver's handler and completes the
//! interrupt (clear pending, enable again), then calls the alarm client
//! if due.
//!
//! # Time
//!
//! Timer 1 is the clock; the alarm is a compare in software. SysTick
//! wakes the core for it: [`Chip::sleep`] arms SysTick for the time left
//! to the alarm, and [`Timeslice::start`] arms it for the earlier of the
//! timeslice's end and the alarm, so a process running when the alarm
//! falls due is interrupted then (it counts as the end of its timeslice).

use cortexm::{nvic, SysTick};
use kernel::platform::chip::{Chip, SchedulerTimer};

use crate::timer::AspeedTimer;
use crate::uart::{Uart, UART5_IRQ};

/// The chip's interrupt routing and sleep.
pub struct Ast1030<'a> {
    uart: &'a Uart<'a>,
    timer: &'a AspeedTimer<'a>,
    systick: &'a SysTick,
}

impl<'a> Ast1030<'a> {
    /// The chip with its console UART, clock and SysTick.
    pub const fn new(uart: &'a Uart<'a>, timer: &'a AspeedTimer<'a>, systick: &'a SysTick) -> Self {
        Ast1030 {
            uart,
            timer,
            systick,
        }
    }

    /// Starts the clock and enables UART5's interrupt. Call once, after
    /// the drivers are built and before the kernel loop.
    pub fn initialize(&self) {
        self.timer.init();
        nvic::enable(UART5_IRQ);
    }
}

impl Chip for Ast1030<'_> {
    fn has_pending_interrupts(&self) -> bool {
        nvic::pending(UART5_IRQ) || self.timer.is_alarm_due()
    }

    fn service_pending_interrupts(&self) {
        if nvic::pending(UART5_IRQ) {
            self.uart.handle_interrupt();
            nvic::complete(UART5_IRQ);
        }
        self.timer.handle();
    }

    fn sleep(&self) {
        match self.timer.remaining_us() {
            Some(us) => self.systick.arm(us),
            None => self.systick.stop(),
        }
        nvic::wait_for_interrupt_if(|| !self.has_pending_interrupts());
    }
}

/// SysTick as the scheduler timer, cut short by the alarm.
pub struct Timeslice<'a> {
    timer: &'a AspeedTimer<'a>,
    systick: &'a SysTick,
}

impl<'a> Timeslice<'a> {
    /// The scheduler timer on `systick`, ending early when `timer`'s alarm
    /// falls due.
    pub const fn new(timer: &'a AspeedTimer<'a>, systick: &'a SysTick) -> Self {
        Timeslice { timer, systick }
    }
}

impl SchedulerTimer for Timeslice<'_> {
    fn start(&self, us: u32) {
        let us = self.timer.remaining_us().map_or(us, |left| us.min(left));
        self.systick.arm(us);
    }

    fn reset(&self) {
        self.systick.stop();
    }

    fn expired(&self) -> bool {
        self.systick.fired()
    }
}
