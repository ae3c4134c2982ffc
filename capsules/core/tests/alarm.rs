//! The alarm driver (0) through the real system call dispatch: apps
//! scripted on the mock CPU, the driver over a mock hardware alarm whose
//! counter the test advances and which fires from a deferred call. Command
//! returns and upcall frames are asserted exactly, for 32-, 24- and 64-bit
//! counters.

use std::cell::Cell;

use capsules_core::alarm::{AlarmData, AlarmDriver, ALLOW_COUNTS, DRIVER_NUM};
use kernel::deferred_call::{DeferredCall, DeferredCallClient, DeferredCalls};
use kernel::hil::time::{Alarm, AlarmClient, Freq32KHz, Ticks, Ticks24, Ticks32, Ticks64, Time};
use kernel::platform::arch::UpcallFrame;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{leak, sys, Harness, Step};

const DRV: u32 = DRIVER_NUM;
const FREQUENCY: u32 = 1;
const NOW: u32 = 2;
const STOP: u32 = 3;
const RELATIVE: u32 = 5;
const ABSOLUTE: u32 = 6;

const OK: [u32; 4] = [128, 0, 0, 0];
const fn val(v: u32) -> [u32; 4] {
    [129, v, 0, 0]
}
const fn fails(e: ErrorCode) -> [u32; 4] {
    [0, e as u32, 0, 0]
}
const SUBSCRIBED: [u32; 4] = [130, 0, 0, 0];

/// A one-shot hardware alarm over a counter the test moves. It fires from
/// a deferred call once the counter has left `[reference, reference + dt)`.
struct MockAlarm<T: Ticks + 'static> {
    now: Cell<T>,
    armed: Cell<bool>,
    reference: Cell<T>,
    dt: Cell<T>,
    client: Cell<Option<&'static dyn AlarmClient>>,
    deferred: Cell<Option<DeferredCall>>,
    fires: Cell<u32>,
}

impl<T: Ticks + 'static> MockAlarm<T> {
    fn new<const N: usize>(calls: &'static DeferredCalls<N>, now: u64) -> &'static Self {
        let alarm = leak(MockAlarm {
            now: Cell::new(T::from_u64(now)),
            armed: Cell::new(false),
            reference: Cell::new(T::ZERO),
            dt: Cell::new(T::ZERO),
            client: Cell::new(None),
            deferred: Cell::new(None),
            fires: Cell::new(0),
        });
        alarm.deferred.set(Some(calls.register(alarm).unwrap()));
        alarm
    }

    fn expired(&self) -> bool {
        let r = self.reference.get();
        !self
            .now
            .get()
            .within_range(r, r.wrapping_add(self.dt.get()))
    }

    fn check(&self) {
        if self.armed.get() && self.expired() {
            self.deferred.get().unwrap().set();
        }
    }

    fn advance(&self, ticks: u64) {
        self.now
            .set(self.now.get().wrapping_add(T::from_u64(ticks)));
        self.check();
    }

    /// When the hardware alarm is set to fire, if armed.
    fn expiry(&self) -> Option<u64> {
        self.armed.get().then(|| self.get_alarm().into_u64())
    }
}

impl<T: Ticks + 'static> Time for MockAlarm<T> {
    type Frequency = Freq32KHz;
    type Ticks = T;

    fn now(&self) -> T {
        self.now.get()
    }
}

impl<T: Ticks + 'static> Alarm<'static> for MockAlarm<T> {
    fn set_alarm_client(&self, client: &'static dyn AlarmClient) {
        self.client.set(Some(client));
    }

    fn set_alarm(&self, reference: T, dt: T) {
        let dt = if dt.into_u64() < 1 {
            T::from_u32(1)
        } else {
            dt
        };
        self.reference.set(reference);
        self.dt.set(dt);
        self.armed.set(true);
        self.check();
    }

    fn get_alarm(&self) -> T {
        self.reference.get().wrapping_add(self.dt.get())
    }

    fn disarm(&self) -> Result<(), ErrorCode> {
        self.armed.set(false);
        Ok(())
    }

    fn is_armed(&self) -> bool {
        self.armed.get()
    }

    fn minimum_dt(&self) -> T {
        T::from_u32(1)
    }
}

impl<T: Ticks + 'static> DeferredCallClient for MockAlarm<T> {
    fn handle_deferred_call(&self) {
        if self.armed.get() && self.expired() {
            self.armed.set(false);
            self.fires.set(self.fires.get() + 1);
            if let Some(c) = self.client.get() {
                c.alarm();
            }
        }
    }
}

struct Rig<T: Ticks + 'static> {
    h: Harness,
    alarm: &'static MockAlarm<T>,
}

fn rig<T: Ticks + 'static>(apps: usize, now: u64) -> Rig<T> {
    let mut h = Harness::new(apps, &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<AlarmData>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let alarm = MockAlarm::<T>::new(h.deferred, now);
    let driver = leak(AlarmDriver::new(alarm, grant));
    alarm.set_alarm_client(driver);
    h.drivers.add(DRIVER_NUM, driver);
    let images: Vec<Vec<u8>> = (0..apps)
        .map(|i| TbfBuilder::app(&format!("app{i}")).build())
        .collect();
    assert_eq!(h.load(&images, 0x4000, 0x10000), apps, "{:?}", h.load_log);
    Rig { h, alarm }
}

impl<T: Ticks + 'static> Rig<T> {
    fn f(&self, i: usize) -> u32 {
        self.h.process(i).binary_start() + 8
    }

    /// Subscribe 0 with appdata `0xC0 + i`.
    fn subscribe(&self, i: usize) -> Step {
        sys::subscribe(DRV, 0, self.f(i), 0xC0 + i as u32)
    }

    fn fired(&self, i: usize, now: u32, expiration: u32) -> UpcallFrame {
        UpcallFrame {
            fn_ptr: self.f(i),
            args: [now, expiration, 0],
            appdata: 0xC0 + i as u32,
        }
    }

    fn upcalls(&self, i: usize) -> Vec<UpcallFrame> {
        self.h.cpu.upcalls(self.h.mem_start(i))
    }

    fn advance(&self, ticks: u64) {
        self.alarm.advance(ticks);
        self.run();
    }

    fn run(&self) {
        assert!(self.h.run(10_000) < 10_000, "the kernel did not settle");
    }
}

#[test]
fn exists_frequency_now_and_unknown_commands() {
    let r = rig::<Ticks32>(1, 1000);
    r.h.script(
        0,
        [
            sys::command(DRV, 0, 0, 0),
            sys::command(DRV, FREQUENCY, 0, 0),
            sys::command(DRV, NOW, 0, 0),
            sys::command(DRV, STOP, 0, 0),
            sys::command(DRV, 4, 0, 0),
            sys::command(DRV, 7, 0, 0),
            sys::subscribe(DRV, 1, 0, 0),
        ],
    );
    r.run();
    assert_eq!(
        r.h.returns(0),
        [
            OK,
            val(32_768),
            val(1000),
            fails(ErrorCode::ALREADY),
            fails(ErrorCode::NOSUPPORT),
            fails(ErrorCode::NOSUPPORT),
            [2, ErrorCode::NOSUPPORT as u32, 0, 0],
        ]
    );
    assert_eq!(r.alarm.expiry(), None);
}

#[test]
fn set_relative_fires_once_with_now_and_expiration() {
    let r = rig::<Ticks32>(1, 1000);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, RELATIVE, 500, 0),
            sys::yield_wait(),
            sys::command(DRV, NOW, 0, 0),
            sys::command(DRV, STOP, 0, 0),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(1500)]);
    assert_eq!(r.alarm.expiry(), Some(1500));
    r.advance(499);
    assert!(r.upcalls(0).is_empty());
    // Serviced a little late: the upcall says when.
    r.advance(5);
    assert_eq!(r.upcalls(0), [r.fired(0, 1504, 1500)]);
    assert_eq!(
        r.h.returns(0),
        [SUBSCRIBED, val(1500), val(1504), fails(ErrorCode::ALREADY)]
    );
    assert_eq!(r.alarm.expiry(), None, "nothing left: disarmed");
    r.advance(10_000);
    assert_eq!(r.upcalls(0).len(), 1);
    assert_eq!(r.alarm.fires.get(), 1);
}

#[test]
fn set_absolute_uses_reference_and_dt_and_past_alarms_fire_at_once() {
    let r = rig::<Ticks32>(2, 1000);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, ABSOLUTE, 900, 300),
            sys::yield_wait(),
        ],
    );
    r.h.script(
        1,
        [
            r.subscribe(1),
            sys::command(DRV, ABSOLUTE, 500, 100), // expired at 600
            sys::command(DRV, RELATIVE, 0, 0),     // dt 0: due now
            sys::yield_wait(),
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(1200)]);
    assert_eq!(r.h.returns(1), [SUBSCRIBED, val(600), val(1000)]);
    assert_eq!(
        r.upcalls(1),
        [r.fired(1, 1000, 600), r.fired(1, 1000, 1000)]
    );
    assert!(r.upcalls(0).is_empty());
    assert_eq!(r.alarm.expiry(), Some(1200));
    r.advance(200);
    assert_eq!(r.upcalls(0), [r.fired(0, 1200, 1200)]);
    assert_eq!(r.alarm.fires.get(), 1);
}

#[test]
fn two_apps_fire_in_deadline_order() {
    let r = rig::<Ticks32>(2, 0);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, RELATIVE, 300, 0),
            sys::yield_wait(),
        ],
    );
    r.h.script(
        1,
        [
            r.subscribe(1),
            sys::command(DRV, RELATIVE, 100, 0),
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(300)]);
    assert_eq!(r.h.returns(1), [SUBSCRIBED, val(100)]);
    assert_eq!(r.alarm.expiry(), Some(100), "the earliest of the two");
    r.advance(100);
    assert_eq!(r.upcalls(1), [r.fired(1, 100, 100)]);
    assert!(r.upcalls(0).is_empty());
    assert_eq!(r.alarm.expiry(), Some(300));
    r.advance(200);
    assert_eq!(r.upcalls(0), [r.fired(0, 300, 300)]);
    assert_eq!(r.upcalls(1).len(), 1);
    assert_eq!(r.alarm.expiry(), None);
    assert_eq!(r.alarm.fires.get(), 2);
}

#[test]
fn setting_again_replaces_and_stop_disarms() {
    let r = rig::<Ticks32>(2, 0);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, RELATIVE, 500, 0),
            sys::command(DRV, RELATIVE, 100, 0),
            sys::yield_wait(),
        ],
    );
    r.h.script(
        1,
        [
            r.subscribe(1),
            sys::command(DRV, RELATIVE, 50, 0),
            sys::command(DRV, STOP, 0, 0),
            sys::command(DRV, STOP, 0, 0),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(500), val(100)]);
    assert_eq!(
        r.h.returns(1),
        [SUBSCRIBED, val(50), OK, fails(ErrorCode::ALREADY)]
    );
    assert_eq!(
        r.alarm.expiry(),
        Some(100),
        "app 1's stop re-armed for app 0"
    );
    r.advance(1000);
    assert_eq!(r.upcalls(0), [r.fired(0, 1000, 100)]);
    assert!(r.upcalls(1).is_empty());
    assert_eq!(r.alarm.fires.get(), 1);
}

#[test]
fn deadlines_across_the_wrap_of_the_counter() {
    let start = u64::from(u32::MAX - 9); // 0xFFFF_FFF6
    let r = rig::<Ticks32>(2, start);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, RELATIVE, 20, 0), // expires at 10, after the wrap
            sys::yield_wait(),
        ],
    );
    r.h.script(
        1,
        [
            r.subscribe(1),
            sys::command(DRV, NOW, 0, 0),
            sys::command(DRV, ABSOLUTE, u32::MAX - 9, 5), // 0xFFFF_FFFB, before it
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(10)]);
    assert_eq!(
        r.h.returns(1),
        [SUBSCRIBED, val(u32::MAX - 9), val(u32::MAX - 4)]
    );
    assert_eq!(r.alarm.expiry(), Some(u64::from(u32::MAX - 4)));
    r.advance(5);
    assert_eq!(r.upcalls(1), [r.fired(1, u32::MAX - 4, u32::MAX - 4)]);
    assert!(r.upcalls(0).is_empty(), "10 is after the wrap, not before");
    assert_eq!(r.alarm.expiry(), Some(10));
    r.advance(10); // now 5
    assert!(r.upcalls(0).is_empty());
    r.advance(5); // now 10
    assert_eq!(r.upcalls(0), [r.fired(0, 10, 10)]);
    assert_eq!(r.alarm.expiry(), None);
}

#[test]
fn an_app_that_dies_loses_its_alarm() {
    let r = rig::<Ticks32>(2, 0);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, RELATIVE, 100, 0),
            Step::Timeslice,
            sys::exit(1, 0),
            // The restarted app waits on a fresh grant.
            r.subscribe(0),
            sys::yield_wait(),
        ],
    );
    r.h.script(
        1,
        [
            r.subscribe(1),
            sys::command(DRV, RELATIVE, 200, 0),
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(r.h.process(0).restart_count(), 1);
    assert_eq!(
        r.alarm.expiry(),
        Some(100),
        "set for the app that has since died"
    );
    r.advance(100);
    assert!(r.upcalls(0).is_empty());
    assert_eq!(r.alarm.expiry(), Some(200), "moved on to app 1");
    r.advance(100);
    assert_eq!(r.upcalls(1), [r.fired(1, 200, 200)]);
    assert!(r.upcalls(0).is_empty());
    assert_eq!(r.alarm.fires.get(), 2);
    assert_eq!(r.alarm.expiry(), None);
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(100), SUBSCRIBED]);
}

#[test]
fn a_24_bit_counter_is_left_justified() {
    // 16 ticks before the 24-bit counter wraps.
    let r = rig::<Ticks24>(1, 0xFF_FFF0);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, FREQUENCY, 0, 0),
            sys::command(DRV, NOW, 0, 0),
            sys::command(DRV, RELATIVE, 0x2001, 0),
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(
        r.h.returns(0),
        [SUBSCRIBED, val(32_768 << 8), val(0xFFFF_F000), val(0x1001)]
    );
    // 0x2001 app ticks are 32.004 hardware ticks: rounded up to 33.
    assert_eq!(r.alarm.expiry(), Some(0x11));
    r.advance(32);
    assert!(r.upcalls(0).is_empty(), "never early");
    r.advance(1);
    assert_eq!(r.upcalls(0), [r.fired(0, 0x1100, 0x1001)]);
}

#[test]
fn a_64_bit_counter_shows_its_low_32_bits() {
    let r = rig::<Ticks64>(1, 0x1_FFFF_FFF0);
    r.h.script(
        0,
        [
            r.subscribe(0),
            sys::command(DRV, NOW, 0, 0),
            sys::command(DRV, RELATIVE, 0x20, 0),
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [SUBSCRIBED, val(0xFFFF_FFF0), val(0x10)]);
    assert_eq!(r.alarm.expiry(), Some(0x2_0000_0010));
    r.advance(0x1F);
    assert!(r.upcalls(0).is_empty());
    r.advance(1);
    assert_eq!(r.upcalls(0), [r.fired(0, 0x10, 0x10)]);
}

#[test]
fn alarms_of_apps_that_never_subscribed_still_count() {
    // A null upcall is queued (yield-wait-for can take it); the alarm is
    // disarmed either way.
    let r = rig::<Ticks32>(1, 0);
    r.h.script(
        0,
        [
            sys::command(DRV, RELATIVE, 10, 0),
            sys::yield_wait_for(DRV, 0),
        ],
    );
    r.run();
    r.advance(10);
    assert_eq!(r.h.returns(0), [val(10), [10, 10, 0, 0]]);
    assert_eq!(r.alarm.expiry(), None);
}

#[test]
fn grant_data_round_trips_and_zeroes_are_disarmed() {
    use kernel::grant::GrantData;
    assert_eq!(AlarmData::SIZE, 9);
    assert_eq!(AlarmData::load(&[0; 9]), AlarmData::default());
    let bytes = [1, 0x78, 0x56, 0x34, 0x12, 0xFF, 0, 0, 0x80];
    let mut out = [0; 9];
    AlarmData::load(&bytes).store(&mut out);
    assert_eq!(out, bytes);
}
