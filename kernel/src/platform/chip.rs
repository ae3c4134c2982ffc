//! What a chip implements: interrupts, sleep, and the timer that ends a
//! process's timeslice.

/// Interrupt and power control of the chip the kernel runs on.
pub trait Chip {
    /// Whether an interrupt is waiting for service.
    fn has_pending_interrupts(&self) -> bool;
    /// Runs the handlers of all pending interrupts (bottom halves).
    fn service_pending_interrupts(&self);
    /// Sleeps until an interrupt arrives (returns at once if one is
    /// pending).
    fn sleep(&self);
}

/// The timer that bounds how long a process runs before it is preempted.
pub trait SchedulerTimer {
    /// Starts a timeslice of `us` microseconds.
    fn start(&self, us: u32);
    /// Stops the timer.
    fn reset(&self);
    /// Whether the current timeslice has run out.
    fn expired(&self) -> bool;
}

/// A scheduler timer that never expires: processes run until they yield or
/// trap (useful for cooperative boards and tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTimeslice;

impl SchedulerTimer for NoTimeslice {
    fn start(&self, _: u32) {}
    fn reset(&self) {}
    fn expired(&self) -> bool {
        false
    }
}
