//! The lowRISC `rv_timer`: a 64-bit counter and a compare register per
//! hart, the RISC-V machine timer of OpenTitan chips.
//!
//! The counter (`TIMER_V_LOWER0`/`UPPER0` at `0x110`) and the compare
//! register (`COMPARE_LOWER0_0`/`UPPER0_0` at `0x118`) are `mtime` and
//! `mtimecmp`: [`RvTimer`] drives them with the arch crate's machine
//! timer ([`rv32i::mtimer::Mtimer`]), which is the kernel's alarm and
//! scheduler timer. Around them: `CTRL` (`0x004`) starts the counter,
//! `CFG0` (`0x10c`) sets its tick (`PRESCALE`: the clock is divided by
//! `PRESCALE + 1`; `STEP`: the counter adds `STEP` each tick), and the
//! interrupt (`INTR_ENABLE0` at `0x100`, `INTR_STATE0` at `0x104`, write 1
//! to clear) is the core's machine timer interrupt.
//!
//! The tick frequency `F` is a parameter of the board: on silicon it is
//! the peripheral clock divided by the prescaler ([`prescale_for`]);
//! QEMU's `-M opentitan` counts at a fixed 10 kHz ([`Freq10KHz`]) whatever
//! `CFG0` says.

use kernel::hil::time::Frequency;
use rv32i::mtimer::{MtimeRegisters, MtimecmpRegisters, Mtimer};
use static_ref::StaticRef;
use tock_registers::interfaces::Writeable;
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

/// 10 kHz: the tick of QEMU's `rv_timer`, and a common choice on silicon.
#[derive(Debug)]
pub struct Freq10KHz;

impl Frequency for Freq10KHz {
    fn frequency() -> u32 {
        10_000
    }
}

register_structs! {
    /// The timer's control registers (the counter and compare register
    /// are [`MtimeRegisters`] at `0x110` and [`MtimecmpRegisters`] at
    /// `0x118`).
    pub RvTimerRegisters {
        (0x000 => _alert_test: ReadWrite<u32>),
        (0x004 => ctrl: ReadWrite<u32>),
        (0x008 => _reserved),
        (0x100 => intr_enable0: ReadWrite<u32>),
        (0x104 => intr_state0: ReadWrite<u32>),
        (0x108 => _intr_test0: ReadWrite<u32>),
        (0x10c => cfg0: ReadWrite<u32>),
        (0x110 => @END),
    }
}

/// Offset of the counter from the timer's base.
pub const MTIME_OFFSET: usize = 0x110;
/// Offset of hart 0's compare register from the timer's base.
pub const MTIMECMP_OFFSET: usize = 0x118;

/// The `CFG0.PRESCALE` value that makes a `clock_hz` clock tick at
/// `tick_hz`, if the 12-bit field can hold it.
pub const fn prescale_for(clock_hz: u32, tick_hz: u32) -> Option<u32> {
    if tick_hz == 0 || clock_hz < tick_hz {
        return None;
    }
    let prescale = clock_hz / tick_hz - 1;
    if prescale < 1 << 12 {
        Some(prescale)
    } else {
        None
    }
}

/// The `rv_timer` driver, ticking at `F`; see the [module docs](self).
pub struct RvTimer<'a, F: Frequency> {
    regs: StaticRef<RvTimerRegisters>,
    mtimer: Mtimer<'a, F>,
}

impl<'a, F: Frequency> RvTimer<'a, F> {
    /// A driver for the timer whose control registers are at `regs`,
    /// counter at `mtime` and compare register at `mtimecmp`.
    pub const fn new(
        regs: StaticRef<RvTimerRegisters>,
        mtime: StaticRef<MtimeRegisters>,
        mtimecmp: StaticRef<MtimecmpRegisters>,
    ) -> Self {
        RvTimer {
            regs,
            mtimer: Mtimer::new(mtime, mtimecmp),
        }
    }

    /// Stops the counter, sets its tick (`prescale`, step 1), programs
    /// the compare register for nothing armed, enables the interrupt,
    /// clears a stale one and starts the counter. Call once at boot.
    pub fn init(&self, prescale: u32) {
        self.regs.ctrl.set(0);
        self.regs.cfg0.set((prescale & 0xFFF) | 1 << 16);
        self.mtimer.init();
        self.regs.intr_enable0.set(1);
        self.regs.intr_state0.set(1);
        self.regs.ctrl.set(1);
    }

    /// The machine timer: the kernel's `Alarm` and `SchedulerTimer`.
    pub fn mtimer(&self) -> &Mtimer<'a, F> {
        &self.mtimer
    }

    /// Whether the timer's interrupt condition holds (`mtime >=
    /// mtimecmp`).
    pub fn is_interrupt_pending(&self) -> bool {
        self.mtimer.is_interrupt_pending()
    }

    /// Services the timer interrupt: the machine timer reprograms the
    /// compare register for what is still armed (and calls the alarm
    /// client if its time came), then the latched interrupt state is
    /// cleared (it latches again at once if the new deadline has passed).
    pub fn handle_interrupt(&self) {
        self.mtimer.handle_interrupt();
        self.regs.intr_state0.set(1);
    }
}

impl<F: Frequency> rv32i::irq::TimerInterrupt for RvTimer<'_, F> {
    fn is_interrupt_pending(&self) -> bool {
        RvTimer::is_interrupt_pending(self)
    }

    fn handle_interrupt(&self) {
        RvTimer::handle_interrupt(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::hil::time::{Alarm, Ticks64, Time};
    use static_ref::fake;

    #[test]
    fn prescaler() {
        assert_eq!(prescale_for(6_000_000, 10_000), Some(599));
        assert_eq!(prescale_for(24_000_000, 10_000), Some(2399));
        assert_eq!(prescale_for(100_000_000, 10_000), None);
        assert_eq!(prescale_for(5_000, 10_000), None);
    }

    #[test]
    fn init_and_interrupt_clear_the_latched_state() {
        let (regs, mem) = fake::registers::<RvTimerRegisters, u32>();
        let (mtime_regs, mtime) = fake::registers::<MtimeRegisters, u32>();
        let (cmp_regs, cmp) = fake::registers::<MtimecmpRegisters, u32>();
        let timer: RvTimer<'static, Freq10KHz> = RvTimer::new(regs, mtime_regs, cmp_regs);
        timer.init(599);
        assert_eq!(mem[1].get(), 1, "counting");
        assert_eq!(mem[0x10c / 4].get(), 599 | 1 << 16);
        assert_eq!(mem[0x100 / 4].get(), 1, "interrupt enabled");
        assert_eq!((cmp[0].get(), cmp[1].get()), (u32::MAX, u32::MAX));
        timer
            .mtimer()
            .set_alarm(Ticks64::from(0u32), Ticks64::from(10u32));
        assert!(!timer.is_interrupt_pending());
        mtime[0].set(10);
        assert!(timer.is_interrupt_pending());
        mem[0x104 / 4].set(0);
        timer.handle_interrupt();
        assert_eq!(mem[0x104 / 4].get(), 1, "cleared (write 1)");
        assert!(!timer.is_interrupt_pending());
        assert_eq!(timer.mtimer().now().get(), 10);
    }
}
