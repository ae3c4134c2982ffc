//! The RISC-V machine timer: a 64-bit `mtime` counter and a hart's
//! `mtimecmp` compare register, wherever a chip puts them (the CLINT of
//! QEMU's `virt` machine, lowRISC's `rv_timer`).
//!
//! `mtime` counts at the chip's frequency `F` in 64 bits, so it never
//! wraps in practice. The machine timer interrupt (`mip.MTIP`) is pending
//! while `mtime >= mtimecmp`.
//!
//! [`Mtimer`] serves two users with the single `mtimecmp`:
//!
//! * the [`Alarm`] HIL (with [`Ticks64`]), for the kernel's alarm capsules;
//! * the [`SchedulerTimer`] of the kernel's main loop (timeslices in
//!   microseconds).
//!
//! `mtimecmp` always holds the earlier of the two deadlines (or
//! `u64::MAX`, "never", when neither is armed). When the interrupt fires the
//! chip calls [`Mtimer::handle_interrupt`], which works out which deadline
//! passed: the alarm client is called if the alarm's time has come, an
//! expired timeslice is only remembered for [`SchedulerTimer::expired`],
//! and `mtimecmp` is reprogrammed for whatever is still armed, which also
//! clears the interrupt.
//!
//! The scheduler timer runs around every run of a process and is asked
//! after every system call, so it avoids the device where it can:
//! `mtimecmp` is written only when its value changes (the driver keeps a
//! copy: nothing else writes it), `mtime` is read only when an armed alarm
//! or a new timeslice needs it, and [`SchedulerTimer::expired`] first asks
//! `mip.MTIP` (one CSR read): while it is clear, `mtime < mtimecmp <=` the
//! timeslice's end, so the timeslice has not run out.

use core::cell::Cell;
use core::marker::PhantomData;

use kernel::hil::time::{ticks_from_us, Alarm, AlarmClient, Frequency, Ticks, Ticks64, Time};
use kernel::platform::chip::SchedulerTimer;
use kernel::ErrorCode;
use static_ref::StaticRef;

use crate::csr;
use tock_cells::OptionalCell;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    /// The 64-bit `mtime` counter as two 32-bit halves.
    pub MtimeRegisters {
        /// Low half.
        (0x0 => low: ReadWrite<u32>),
        /// High half.
        (0x4 => high: ReadWrite<u32>),
        (0x8 => @END),
    },
    /// A hart's 64-bit `mtimecmp` as two 32-bit halves.
    pub MtimecmpRegisters {
        /// Low half.
        (0x0 => low: ReadWrite<u32>),
        /// High half.
        (0x4 => high: ReadWrite<u32>),
        (0x8 => @END),
    }
}

/// The machine timer driver, counting at `F`; see the
/// [module docs](self).
pub struct Mtimer<'a, F: Frequency> {
    mtime: StaticRef<MtimeRegisters>,
    mtimecmp: StaticRef<MtimecmpRegisters>,
    client: OptionalCell<&'a dyn AlarmClient>,
    alarm_reference: Cell<u64>,
    alarm_dt: Cell<u64>,
    alarm_armed: Cell<bool>,
    /// The `mtime` at which the current timeslice ends.
    slice_deadline: Cell<Option<u64>>,
    /// The current timeslice has run out (and was noticed by the interrupt).
    slice_expired: Cell<bool>,
    /// The value in `mtimecmp` (written by [`init`](Self::init) and
    /// whenever what is armed moves it).
    compare: Cell<u64>,
    frequency: PhantomData<F>,
}

impl<'a, F: Frequency> Mtimer<'a, F> {
    /// A driver for the counter at `mtime` and the compare register at
    /// `mtimecmp`. Call [`init`](Self::init) before enabling the timer
    /// interrupt.
    pub const fn new(
        mtime: StaticRef<MtimeRegisters>,
        mtimecmp: StaticRef<MtimecmpRegisters>,
    ) -> Self {
        Mtimer {
            mtime,
            mtimecmp,
            client: OptionalCell::empty(),
            alarm_reference: Cell::new(0),
            alarm_dt: Cell::new(0),
            alarm_armed: Cell::new(false),
            slice_deadline: Cell::new(None),
            slice_expired: Cell::new(false),
            compare: Cell::new(u64::MAX),
            frequency: PhantomData,
        }
    }

    /// Programs `mtimecmp` for what is armed (at boot: nothing, so "never"),
    /// clearing a timer interrupt left pending by the reset value.
    pub fn init(&self) {
        let target = self.target(None);
        self.write_compare(target);
    }

    /// The current `mtime`, read consistently on rv32 (high, low, high
    /// again until the high half did not change).
    pub fn now_u64(&self) -> u64 {
        loop {
            let high = self.mtime.high.get();
            let low = self.mtime.low.get();
            if self.mtime.high.get() == high {
                return u64::from(high) << 32 | u64::from(low);
            }
        }
    }

    /// The value in `mtimecmp`.
    pub fn compare(&self) -> u64 {
        u64::from(self.mtimecmp.high.get()) << 32 | u64::from(self.mtimecmp.low.get())
    }

    /// Whether the machine timer interrupt is pending (`mtime >=
    /// mtimecmp`).
    pub fn is_interrupt_pending(&self) -> bool {
        self.now_u64() >= self.compare()
    }

    /// Writes `value` to `mtimecmp` without passing through a smaller
    /// value (which could raise a spurious interrupt) on the way.
    fn write_compare(&self, value: u64) {
        self.compare.set(value);
        self.mtimecmp.low.set(u32::MAX);
        self.mtimecmp.high.set((value >> 32) as u32);
        self.mtimecmp.low.set(value as u32);
    }

    /// Whether the alarm's time has passed at `now` (`now` is not within
    /// `reference .. reference + dt`, wrapping, as the HIL defines it).
    fn alarm_passed(&self, now: u64) -> bool {
        let reference = Ticks64::from(self.alarm_reference.get());
        let end = reference.wrapping_add(Ticks64::from(self.alarm_dt.get()));
        !Ticks64::from(now).within_range(reference, end)
    }

    /// The `mtimecmp` value that makes the armed alarm fire.
    fn alarm_compare(&self, now: u64) -> u64 {
        if self.alarm_passed(now) {
            // Pending at once.
            return now;
        }
        let end = self.alarm_reference.get().wrapping_add(self.alarm_dt.get());
        // An end beyond 2^64 wrapped to below `now`: that far away is never.
        if end >= now {
            end
        } else {
            u64::MAX
        }
    }

    /// The earlier of the armed deadlines (`u64::MAX` for none); `now`
    /// if the caller has just read `mtime`, else it is read if an alarm
    /// is armed.
    fn target(&self, now: Option<u64>) -> u64 {
        let mut target = self.slice_deadline.get().unwrap_or(u64::MAX);
        if self.alarm_armed.get() {
            let now = now.unwrap_or_else(|| self.now_u64());
            target = target.min(self.alarm_compare(now));
        }
        target
    }

    /// Programs `mtimecmp` to the earlier of the armed deadlines, unless
    /// it holds that value already.
    fn program_at(&self, now: Option<u64>) {
        let target = self.target(now);
        if target != self.compare.get() {
            self.write_compare(target);
        }
    }

    /// [`program_at`](Self::program_at), reading `mtime` if needed.
    fn program(&self) {
        self.program_at(None);
    }

    /// Whether the timer's interrupt condition may hold: `false` only
    /// when `mip` is readable and its `MTIP` bit is clear.
    fn may_be_due(&self) -> bool {
        csr::pending_interrupt_sources().is_none_or(|mip| mip & csr::MIE_MTIE != 0)
    }

    /// Services the machine timer interrupt: remembers an expired
    /// timeslice, reprograms `mtimecmp` for what is still armed (which
    /// clears the interrupt), then calls the alarm client if the alarm's
    /// time has passed. Harmless when nothing expired.
    pub fn handle_interrupt(&self) {
        let now = self.now_u64();
        if let Some(deadline) = self.slice_deadline.get() {
            if now >= deadline {
                self.slice_deadline.set(None);
                self.slice_expired.set(true);
            }
        }
        let fire = self.alarm_armed.get() && self.alarm_passed(now);
        if fire {
            self.alarm_armed.set(false);
        }
        self.program();
        if fire {
            self.client.map(|client| client.alarm());
        }
    }
}

impl<F: Frequency> Time for Mtimer<'_, F> {
    type Frequency = F;
    type Ticks = Ticks64;

    fn now(&self) -> Ticks64 {
        Ticks64::from(self.now_u64())
    }
}

impl<'a, F: Frequency> Alarm<'a> for Mtimer<'a, F> {
    fn set_alarm_client(&self, client: &'a dyn AlarmClient) {
        self.client.set(client);
    }

    fn set_alarm(&self, reference: Ticks64, dt: Ticks64) {
        let dt = dt.max(self.minimum_dt());
        self.alarm_reference.set(reference.get());
        self.alarm_dt.set(dt.get());
        self.alarm_armed.set(true);
        self.program();
    }

    fn get_alarm(&self) -> Ticks64 {
        Ticks64::from(self.alarm_reference.get()).wrapping_add(Ticks64::from(self.alarm_dt.get()))
    }

    fn disarm(&self) -> Result<(), ErrorCode> {
        self.alarm_armed.set(false);
        self.program();
        Ok(())
    }

    fn is_armed(&self) -> bool {
        self.alarm_armed.get()
    }

    /// One tick: `mtimecmp` compares with `>=`, so no deadline can be
    /// missed.
    fn minimum_dt(&self) -> Ticks64 {
        Ticks64::from(1u32)
    }
}

impl<F: Frequency> SchedulerTimer for Mtimer<'_, F> {
    fn start(&self, us: u32) {
        let ticks: Ticks64 = ticks_from_us::<F, _>(u64::from(us));
        let now = self.now_u64();
        self.slice_deadline
            .set(Some(now.saturating_add(ticks.get())));
        self.slice_expired.set(false);
        self.program_at(Some(now));
    }

    fn reset(&self) {
        self.slice_deadline.set(None);
        self.slice_expired.set(false);
        self.program();
    }

    /// Whether the timeslice has run out, whether or not its interrupt has
    /// been serviced yet. `mtimecmp` is never later than the timeslice's
    /// end, so while `mip.MTIP` is clear it has not: `mtime` is read only
    /// when the interrupt is pending (or on the host, without `mip`).
    fn expired(&self) -> bool {
        if self.slice_expired.get() {
            return true;
        }
        match self.slice_deadline.get() {
            Some(deadline) => self.may_be_due() && self.now_u64() >= deadline,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use kernel::hil::time::Freq10MHz;
    use static_ref::fake;
    use std::boxed::Box;

    type Clint<'a> = Mtimer<'a, Freq10MHz>;

    struct Setup {
        clint: &'static Clint<'static>,
        mtime: &'static [Cell<u32>],
        mtimecmp: &'static [Cell<u32>],
        client: &'static Client,
    }

    struct Client {
        fired: Cell<usize>,
        rearm: Cell<Option<(&'static Clint<'static>, u64)>>,
    }

    impl AlarmClient for Client {
        fn alarm(&self) {
            self.fired.set(self.fired.get() + 1);
            if let Some((clint, dt)) = self.rearm.take() {
                clint.set_alarm(clint.now(), Ticks64::from(dt));
            }
        }
    }

    fn setup() -> Setup {
        let (mtime_regs, mtime) = fake::registers::<MtimeRegisters, u32>();
        let (cmp_regs, mtimecmp) = fake::registers::<MtimecmpRegisters, u32>();
        let clint: &'static Clint<'static> = Box::leak(Box::new(Clint::new(mtime_regs, cmp_regs)));
        let client: &'static Client = Box::leak(Box::new(Client {
            fired: Cell::new(0),
            rearm: Cell::new(None),
        }));
        clint.set_alarm_client(client);
        clint.init();
        Setup {
            clint,
            mtime,
            mtimecmp,
            client,
        }
    }

    impl Setup {
        fn set_time(&self, t: u64) {
            self.mtime[0].set(t as u32);
            self.mtime[1].set((t >> 32) as u32);
        }
    }

    fn t(v: u64) -> Ticks64 {
        Ticks64::from(v)
    }

    #[test]
    fn reads_the_64_bit_counter() {
        let s = setup();
        s.set_time(0x1_0000_0005);
        assert_eq!(s.clint.now().get(), 0x1_0000_0005);
        assert_eq!(s.clint.now_u64(), 0x1_0000_0005);
    }

    #[test]
    fn idle_is_never() {
        let s = setup();
        assert_eq!(s.clint.compare(), u64::MAX);
        s.set_time(u64::MAX - 1);
        assert!(!s.clint.is_interrupt_pending());
        assert!(!s.clint.expired());
        assert!(!s.clint.is_armed());
    }

    #[test]
    fn alarm_fires_once_at_its_time() {
        let s = setup();
        s.set_time(1000);
        s.clint.set_alarm(t(1000), t(500));
        assert_eq!(s.clint.compare(), 1500);
        assert_eq!(s.clint.get_alarm().get(), 1500);
        assert!(s.clint.is_armed());
        s.set_time(1499);
        assert!(!s.clint.is_interrupt_pending());
        s.clint.handle_interrupt(); // spurious
        assert_eq!(s.client.fired.get(), 0);
        s.set_time(1500);
        assert!(s.clint.is_interrupt_pending());
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 1);
        assert!(!s.clint.is_armed());
        assert_eq!(s.clint.compare(), u64::MAX);
        assert!(!s.clint.is_interrupt_pending());
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 1);
    }

    #[test]
    fn a_passed_alarm_fires_as_soon_as_possible() {
        let s = setup();
        s.set_time(2000);
        s.clint.set_alarm(t(1000), t(500));
        assert!(s.clint.is_interrupt_pending());
        assert_eq!(s.client.fired.get(), 0, "never inside set_alarm");
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 1);
    }

    #[test]
    fn tiny_and_huge_delays() {
        let s = setup();
        s.set_time(70);
        s.clint.set_alarm(t(70), t(0));
        assert_eq!(s.clint.get_alarm().get(), 71);
        assert_eq!(s.clint.minimum_dt().get(), 1);
        // reference + dt wraps past 2^64: far in the future, not "now".
        s.clint.set_alarm(t(70), Ticks64::MAX);
        assert_eq!(s.clint.compare(), u64::MAX);
        assert!(!s.clint.is_interrupt_pending());
    }

    #[test]
    fn disarm_stops_the_alarm() {
        let s = setup();
        s.clint.set_alarm(t(0), t(10));
        assert_eq!(s.clint.disarm(), Ok(()));
        assert!(!s.clint.is_armed());
        assert_eq!(s.clint.compare(), u64::MAX);
        s.set_time(100);
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 0);
    }

    #[test]
    fn timeslice_and_alarm_share_the_compare_register() {
        let s = setup();
        s.clint.set_alarm(t(0), t(5000));
        s.clint.start(100); // 1000 ticks at 10 MHz
        assert_eq!(s.clint.compare(), 1000);
        assert!(!s.clint.expired());

        s.set_time(1000);
        assert!(s.clint.expired(), "seen before the interrupt is serviced");
        assert!(s.clint.is_interrupt_pending());
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 0, "only the timeslice expired");
        assert!(s.clint.expired());
        assert_eq!(s.clint.compare(), 5000);
        s.clint.reset();
        assert!(!s.clint.expired());
        assert_eq!(s.clint.compare(), 5000);

        s.set_time(5000);
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 1);
        assert_eq!(s.clint.compare(), u64::MAX);
    }

    #[test]
    fn an_earlier_alarm_leaves_the_timeslice_running() {
        let s = setup();
        s.set_time(10);
        s.clint.start(100);
        s.clint.set_alarm(t(10), t(300));
        assert_eq!(s.clint.compare(), 310);
        s.set_time(310);
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 1);
        assert!(!s.clint.expired());
        assert_eq!(s.clint.compare(), 1010);
        // A new timeslice replaces the old one.
        s.clint.start(1);
        assert_eq!(s.clint.compare(), 320);
        s.clint.reset();
        assert_eq!(s.clint.compare(), u64::MAX);
    }

    #[test]
    fn the_client_may_rearm_from_the_callback() {
        let s = setup();
        s.client.rearm.set(Some((s.clint, 50)));
        s.clint.set_alarm(t(0), t(10));
        s.set_time(10);
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 1);
        assert!(s.clint.is_armed());
        assert_eq!(s.clint.compare(), 60);
        s.set_time(60);
        s.clint.handle_interrupt();
        assert_eq!(s.client.fired.get(), 2);
        assert!(!s.clint.is_armed());
    }

    #[test]
    fn mtimecmp_is_written_only_when_its_value_changes() {
        let s = setup();
        s.clint.start(100);
        assert_eq!(s.clint.compare(), 1000);
        // Mark the register: a write of any value would replace the mark.
        s.mtimecmp[0].set(7);
        s.clint.set_alarm(t(0), t(5000));
        s.clint.start(100);
        assert_eq!(s.mtimecmp[0].get(), 7, "still the timeslice's 1000");
        s.clint.reset();
        assert_eq!(s.clint.compare(), 5000, "the alarm's time, written");
        s.mtimecmp[0].set(7);
        s.clint.reset();
        assert_eq!(s.mtimecmp[0].get(), 7);
        // A passed alarm makes the compare `now`, which moves with time.
        s.set_time(6000);
        s.clint.set_alarm(t(0), t(10));
        assert_eq!(s.clint.compare(), 6000);
        assert!(s.clint.is_interrupt_pending());
    }

    #[test]
    fn expired_reads_mtime_only_while_the_timer_interrupt_is_pending() {
        let s = setup();
        s.clint.start(100);
        s.set_time(1000);
        // `mip.MTIP` clear: mtime has not reached mtimecmp (the timeslice's
        // end or earlier), whatever the fake counter says.
        csr::fake_mip::set(Some(0));
        assert!(!s.clint.expired());
        csr::fake_mip::set(Some(csr::MIE_MTIE));
        assert!(s.clint.expired());
        s.set_time(999);
        assert!(!s.clint.expired(), "pending for an earlier alarm");
        csr::fake_mip::set(Some(0));
        s.set_time(1000);
        s.clint.handle_interrupt();
        assert!(s.clint.expired(), "an expiry already noticed stays");
        s.clint.reset();
        csr::fake_mip::set(Some(csr::MIE_MTIE));
        assert!(!s.clint.expired(), "no timeslice");
        csr::fake_mip::set(None);
    }
}
