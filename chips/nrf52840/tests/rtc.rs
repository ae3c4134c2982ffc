//! RTC1 against a model of the RTC: a 24-bit counter that wraps (with
//! `OVRFLW`), `COMPARE[n]` when the counter reaches `CC[n]`, and the
//! product specification's caveat that a compare value written as N or
//! N + 1 while the counter holds N may not fire (the model makes it not
//! fire, the worst case).

mod model;

use std::cell::Cell;

use kernel::hil::time::{Alarm, AlarmClient, Ticks, Ticks24, Time};
use model::{leak, Block, Inten, Violations};
use nrf52840::rtc::{Rtc, RtcRegisters, MIN_DT};

const START: usize = 0x000;
const STOP: usize = 0x004;
const CLEAR: usize = 0x008;
const OVRFLW: usize = 0x104;
const COMPARE0: usize = 0x140;
const COUNTER: usize = 0x504;
const PRESCALER: usize = 0x508;
const CC0: usize = 0x540;
const MASK: u32 = 0xFF_FFFF;

struct RtcModel {
    regs: Block,
    inten: Inten,
    running: Cell<bool>,
    counter: Cell<u32>,
    /// `CC[n]` as last seen.
    cc: [Cell<u32>; 4],
    /// `CC[n]` was written within two ticks of the counter: its next
    /// match is lost.
    unreliable: [Cell<bool>; 4],
    /// Compare values written within two ticks of the counter.
    close_writes: Cell<u32>,
    violations: Violations,
}

impl RtcModel {
    fn new(regs: Block) -> RtcModel {
        RtcModel {
            regs,
            inten: Inten::new(0x304),
            running: Cell::new(false),
            counter: Cell::new(0),
            cc: Default::default(),
            unreliable: Default::default(),
            close_writes: Cell::new(0),
            violations: Violations::default(),
        }
    }

    fn set_counter(&self, value: u32) {
        self.counter.set(value & MASK);
        self.regs.set(COUNTER, value & MASK);
    }

    /// Looks at what the driver wrote.
    fn observe(&self) {
        let r = self.regs;
        self.inten.fold(r);
        if r.take_task(STOP) {
            self.running.set(false);
        }
        if r.take_task(CLEAR) {
            self.set_counter(0);
        }
        if r.take_task(START) {
            if r.get(PRESCALER) != 0 {
                self.violations.add("prescaler not 0: not 32768 Hz");
            }
            self.running.set(true);
        }
        let n = self.counter.get();
        for i in 0..4 {
            let value = r.get(CC0 + 4 * i);
            if value > MASK {
                self.violations
                    .add(format!("CC[{i}] {value:#x} wider than 24 bits"));
            }
            if value & MASK != self.cc[i].get() {
                self.cc[i].set(value & MASK);
                let close = value & MASK == n || value & MASK == (n + 1) & MASK;
                self.unreliable[i].set(close);
                if close {
                    self.close_writes.set(self.close_writes.get() + 1);
                }
            }
        }
    }

    /// One tick of the 32.768 kHz clock.
    fn tick(&self) {
        if !self.running.get() {
            return;
        }
        let n = (self.counter.get() + 1) & MASK;
        self.set_counter(n);
        if n == 0 {
            self.regs.set(OVRFLW, 1);
        }
        for i in 0..4 {
            if self.cc[i].get() == n {
                if self.unreliable[i].replace(false) {
                    continue;
                }
                self.regs.set(COMPARE0 + 4 * i, 1);
            }
        }
    }

    fn irq(&self) -> bool {
        let en = self.inten.get();
        (self.regs.get(COMPARE0) != 0 && en & (1 << 16) != 0)
            || (self.regs.get(OVRFLW) != 0 && en & (1 << 1) != 0)
    }
}

struct Count(Cell<u32>);

impl AlarmClient for Count {
    fn alarm(&self) {
        self.0.set(self.0.get() + 1);
    }
}

struct Setup {
    model: &'static RtcModel,
    rtc: &'static Rtc<'static>,
    client: &'static Count,
}

fn setup() -> Setup {
    let (regs, block) = Block::new::<RtcRegisters>();
    let model = leak(RtcModel::new(block));
    let rtc = leak(Rtc::new(regs));
    let client = leak(Count(Cell::new(0)));
    rtc.set_alarm_client(client);
    rtc.start();
    model.observe();
    Setup { model, rtc, client }
}

impl Setup {
    /// `ticks` ticks, with interrupts served.
    fn advance(&self, ticks: u32) {
        for _ in 0..ticks {
            self.model.tick();
            if self.model.irq() {
                self.rtc.handle_interrupt();
                self.model.observe();
            }
        }
    }

    fn set_alarm(&self, reference: Ticks24, dt: u32) {
        self.rtc.set_alarm(reference, Ticks24::new(dt));
        self.model.observe();
    }

    fn fired(&self) -> u32 {
        self.client.0.get()
    }
}

#[test]
fn an_alarm_fires_at_its_time_and_once() {
    let s = setup();
    s.advance(100);
    assert_eq!(s.rtc.now().get(), 100);
    s.set_alarm(s.rtc.now(), 1000);
    assert_eq!(s.rtc.get_alarm().get(), 1100);
    s.advance(999);
    assert_eq!(s.fired(), 0);
    s.advance(1);
    assert_eq!(s.fired(), 1);
    assert!(!s.rtc.is_armed());
    s.advance(1 << 24);
    assert_eq!(s.fired(), 1, "not again after a wrap");
    s.model.violations.assert_none();
}

#[test]
fn alarms_across_the_24_bit_wrap() {
    let s = setup();
    s.model.set_counter(MASK - 40);
    s.set_alarm(s.rtc.now(), 100);
    assert_eq!(s.rtc.get_alarm().get(), 59);
    s.advance(99);
    assert_eq!(s.fired(), 0, "the overflow is not the alarm");
    assert_eq!(s.rtc.now().get(), 58);
    s.advance(1);
    assert_eq!(s.fired(), 1);
    s.model.violations.assert_none();
}

/// The rule the driver must respect: a compare written at N or N + 1
/// does not fire (in the model), so an alarm due that soon would only
/// come 512 s later, after the counter wrapped.
#[test]
fn the_model_loses_compares_written_within_two_ticks() {
    let s = setup();
    s.advance(10);
    s.model.regs.set(CC0, 11);
    s.model.regs.set(0x304, 1 << 16);
    s.model.observe();
    s.advance(100);
    assert_eq!(s.model.regs.get(COMPARE0), 0, "lost");
    assert_eq!(s.model.close_writes.get(), 1);
}

#[test]
fn alarms_due_now_or_in_the_past_fire_within_min_dt() {
    for dt in 0..6 {
        for back in [0u32, 1, 2, 50] {
            let s = setup();
            s.advance(1000);
            let reference = s.rtc.now().wrapping_sub(Ticks24::new(back));
            s.set_alarm(reference, dt);
            let due_in = dt.saturating_sub(back);
            s.advance(due_in.max(MIN_DT) - 1);
            assert_eq!(s.fired(), 0, "not early");
            s.advance(1);
            assert_eq!(s.fired(), 1, "dt {dt}, reference {back} ticks ago");
            assert_eq!(s.model.close_writes.get(), 0, "no compare within two ticks");
            s.model.violations.assert_none();
        }
    }
}

#[test]
fn near_the_wrap_the_two_tick_rule_still_holds() {
    let s = setup();
    s.model.set_counter(MASK - 1);
    s.set_alarm(s.rtc.now(), 1);
    s.advance(MIN_DT);
    assert_eq!(s.fired(), 1);
    assert_eq!(s.model.close_writes.get(), 0);
}

#[test]
fn a_disarmed_alarm_and_a_stray_event_call_nobody() {
    let s = setup();
    s.set_alarm(s.rtc.now(), 50);
    s.rtc.disarm().unwrap();
    s.model.observe();
    s.advance(100);
    assert_eq!(s.fired(), 0);
    // A compare event nobody armed for (a stale event): ignored.
    s.model.regs.set(COMPARE0, 1);
    s.rtc.handle_interrupt();
    assert_eq!(s.fired(), 0);
    assert_eq!(s.model.regs.get(COMPARE0), 0, "cleared");
    // Re-armed from the callback: the alarm capsule's pattern.
    s.set_alarm(s.rtc.now(), 10);
    s.advance(10);
    assert_eq!(s.fired(), 1);
}
