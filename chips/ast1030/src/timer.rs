//! Timer 1 of the AST1030 as a free-running 32-bit clock at 1 MHz (its
//! external clock), and an alarm compared against it in software.
//!
//! The timer counts down from its reload value `0xFFFF_FFFF`; `now` is
//! the count turned upward. The alarm raises no interrupt of its own:
//! [`AspeedTimer::is_alarm_due`] tells the chip's main-loop check, and
//! [`AspeedTimer::remaining_us`] tells the chip how long it may sleep (it
//! arms SysTick for that, see [`crate::chip`]).

use core::cell::Cell;

use kernel::hil::time::{Alarm, AlarmClient, Freq1MHz, Ticks, Ticks32, Time};
use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_cells::OptionalCell;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

/// Address of the timer block.
pub const TIMER_BASE: usize = 0x7E78_2000;

register_structs! {
    /// The timer block: timer 1's registers and the shared control.
    pub TimerRegisters {
        /// Timer 1's current count (counts down).
        (0x00 => count: ReadOnly<u32>),
        /// Timer 1's reload value.
        (0x04 => reload: ReadWrite<u32>),
        (0x08 => _reserved),
        /// Control: four bits per timer (enable, external 1 MHz clock,
        /// overflow interrupt, pulse).
        (0x30 => control: ReadWrite<u32>),
        (0x34 => @END),
    }
}

/// Timer 1 control bits: enabled, on the 1 MHz external clock.
pub const TIMER1_RUN: u32 = 0b0011;

/// The timer block (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const TIMER: StaticRef<TimerRegisters> =
    // SAFETY: the timer block is mapped at `TIMER_BASE`.
    unsafe { StaticRef::new(TIMER_BASE as *const TimerRegisters) };

/// Timer 1 as a clock and a software alarm.
pub struct AspeedTimer<'a> {
    regs: StaticRef<TimerRegisters>,
    client: OptionalCell<&'a dyn AlarmClient>,
    reference: Cell<u32>,
    dt: Cell<u32>,
    armed: Cell<bool>,
}

impl<'a> AspeedTimer<'a> {
    /// The driver; call [`init`](Self::init) once.
    pub const fn new(regs: StaticRef<TimerRegisters>) -> Self {
        AspeedTimer {
            regs,
            client: OptionalCell::empty(),
            reference: Cell::new(0),
            dt: Cell::new(0),
            armed: Cell::new(false),
        }
    }

    /// Starts timer 1 free-running from `0xFFFF_FFFF` at 1 MHz.
    pub fn init(&self) {
        self.regs.reload.set(u32::MAX);
        self.regs.control.set(self.regs.control.get() | TIMER1_RUN);
    }

    fn now_raw(&self) -> u32 {
        u32::MAX - self.regs.count.get()
    }

    /// Whether the armed alarm's time has passed.
    pub fn is_alarm_due(&self) -> bool {
        if !self.armed.get() {
            return false;
        }
        let reference = Ticks32::from(self.reference.get());
        let end = reference.wrapping_add(Ticks32::from(self.dt.get()));
        !Ticks32::from(self.now_raw()).within_range(reference, end)
    }

    /// Microseconds until the armed alarm (0 if due), `None` if none is
    /// armed.
    pub fn remaining_us(&self) -> Option<u32> {
        if !self.armed.get() {
            return None;
        }
        if self.is_alarm_due() {
            return Some(0);
        }
        let end = self.reference.get().wrapping_add(self.dt.get());
        Some(end.wrapping_sub(self.now_raw()))
    }

    /// Calls the client if the alarm is due (it is disarmed first, so the
    /// client may arm it again).
    pub fn handle(&self) {
        if self.is_alarm_due() {
            self.armed.set(false);
            self.client.map(|c| c.alarm());
        }
    }
}

impl Time for AspeedTimer<'_> {
    type Frequency = Freq1MHz;
    type Ticks = Ticks32;

    fn now(&self) -> Ticks32 {
        Ticks32::from(self.now_raw())
    }
}

impl<'a> Alarm<'a> for AspeedTimer<'a> {
    fn set_alarm_client(&self, client: &'a dyn AlarmClient) {
        self.client.set(client);
    }

    fn set_alarm(&self, reference: Ticks32, dt: Ticks32) {
        self.reference.set(reference.into_u32());
        self.dt.set(dt.into_u32());
        self.armed.set(true);
    }

    fn get_alarm(&self) -> Ticks32 {
        Ticks32::from(self.reference.get().wrapping_add(self.dt.get()))
    }

    fn disarm(&self) -> Result<(), ErrorCode> {
        self.armed.set(false);
        Ok(())
    }

    fn is_armed(&self) -> bool {
        self.armed.get()
    }

    fn minimum_dt(&self) -> Ticks32 {
        Ticks32::from(1u32)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::Cell;
    use static_ref::fake;

    struct Count(Cell<usize>);

    impl AlarmClient for Count {
        fn alarm(&self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_software_alarm_on_a_down_counter() {
        let (regs, mem) = fake::registers::<TimerRegisters, u32>();
        let t = AspeedTimer::new(regs);
        t.init();
        assert_eq!(mem[1].get(), u32::MAX, "reload");
        assert_eq!(mem[12].get() & 0xF, TIMER1_RUN, "control");
        let set_now = |now: u32| mem[0].set(u32::MAX - now);
        let client: &'static Count =
            std::boxed::Box::leak(std::boxed::Box::new(Count(Cell::new(0))));
        t.set_alarm_client(client);
        set_now(1000);
        assert_eq!(t.now().into_u32(), 1000);
        assert_eq!(t.remaining_us(), None);
        t.set_alarm(t.now(), Ticks32::from(500u32));
        assert_eq!(t.remaining_us(), Some(500));
        set_now(1499);
        assert!(!t.is_alarm_due());
        t.handle();
        assert_eq!(client.0.get(), 0);
        set_now(1500);
        assert!(t.is_alarm_due());
        assert_eq!(t.remaining_us(), Some(0));
        t.handle();
        assert_eq!(client.0.get(), 1);
        assert!(!t.is_armed());
        t.handle();
        assert_eq!(client.0.get(), 1, "once");
        // Across the wrap of the 32-bit count.
        set_now(u32::MAX - 10);
        t.set_alarm(t.now(), Ticks32::from(100u32));
        set_now(50);
        assert!(!t.is_alarm_due());
        assert_eq!(t.remaining_us(), Some(39));
        set_now(89);
        assert!(t.is_alarm_due());
    }
}
