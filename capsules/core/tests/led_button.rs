//! The LED (2) and button (3) drivers through the real system call
//! dispatch, over mock pins: upstream's command numbers and answers,
//! active-low wiring as on the nRF52840-DK, and button upcalls only to
//! the apps that listen.

use std::cell::Cell;

use capsules_core::button::{self, ButtonDriver, Listening};
use capsules_core::led::{self, LedDriver};
use kernel::hil::gpio::{ActivationMode, Client, Input, InterruptPin, Output};
use kernel::platform::arch::UpcallFrame;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{leak, sys, Harness};

const OK: [u32; 4] = [128, 0, 0, 0];
const fn val(v: u32) -> [u32; 4] {
    [129, v, 0, 0]
}
const fn fails(e: ErrorCode) -> [u32; 4] {
    [0, e as u32, 0, 0]
}
const SUBSCRIBED: [u32; 4] = [130, 0, 0, 0];

/// A pin: its level, and whether it reports changes.
#[derive(Default)]
struct MockPin {
    level: Cell<bool>,
    reporting: Cell<bool>,
    client: Cell<Option<(&'static dyn Client, usize)>>,
}

impl MockPin {
    /// The outside world moves the pin.
    fn drive(&self, level: bool) {
        if self.level.replace(level) != level && self.reporting.get() {
            if let Some((c, id)) = self.client.get() {
                c.fired(id);
            }
        }
    }
}

impl Output for &'static MockPin {
    fn set(&self) {
        self.level.set(true);
    }
    fn clear(&self) {
        self.level.set(false);
    }
    fn toggle(&self) -> bool {
        self.level.set(!self.level.get());
        self.level.get()
    }
    fn is_set(&self) -> bool {
        self.level.get()
    }
}

impl Input for &'static MockPin {
    fn read(&self) -> bool {
        self.level.get()
    }
}

impl InterruptPin<'static> for &'static MockPin {
    fn set_client(&self, client: &'static dyn Client, identifier: usize) {
        self.client.set(Some((client, identifier)));
    }
    fn enable_interrupts(&self) {
        self.reporting.set(true);
    }
    fn disable_interrupts(&self) {
        self.reporting.set(false);
    }
}

fn pins(n: usize, level: bool) -> &'static [(&'static MockPin, ActivationMode)] {
    let pins: Vec<_> = (0..n)
        .map(|_| {
            let p: &'static MockPin = leak(MockPin::default());
            p.level.set(level);
            (p, ActivationMode::ActiveLow)
        })
        .collect();
    Box::leak(pins.into_boxed_slice())
}

#[test]
fn leds_count_on_off_toggle_active_low() {
    let mut h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let leds = pins(4, false);
    let driver = leak(LedDriver::new(leds));
    assert!(leds.iter().all(|(p, _)| p.level.get()), "all off: high");
    h.drivers.add(led::DRIVER_NUM, driver);
    assert_eq!(
        h.load(&[TbfBuilder::app("leds").build()], 0x4000, 0x10000),
        1
    );
    let d = led::DRIVER_NUM;
    h.script(
        0,
        [
            sys::command(d, 0, 0, 0),
            sys::command(d, 1, 2, 0),
            sys::command(d, 3, 0, 0),
            sys::command(d, 3, 2, 0),
            sys::command(d, 2, 0, 0),
            sys::command(d, 1, 4, 0),
            sys::command(d, 9, 0, 0),
        ],
    );
    assert!(h.run(1000) < 1000);
    assert_eq!(
        h.returns(0),
        [
            val(4),
            OK,
            OK,
            OK,
            OK,
            fails(ErrorCode::INVAL),
            fails(ErrorCode::NOSUPPORT)
        ]
    );
    // LED 2 on then toggled off; LED 0 toggled on then off.
    let lit: Vec<bool> = (0..4).map(|i| driver.is_on(i).unwrap()).collect();
    assert_eq!(lit, [false, false, false, false]);
    assert!(leds.iter().all(|(p, _)| p.level.get()));
}

struct Rig {
    h: Harness,
    buttons: &'static [(&'static MockPin, ActivationMode)],
}

fn rig(apps: usize) -> Rig {
    let mut h = Harness::new(apps, &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<Listening>(button::DRIVER_NUM, button::ALLOW_COUNTS)
        .unwrap();
    // Pulled up: released reads high.
    let buttons = pins(4, true);
    let driver = leak(ButtonDriver::new(buttons, grant));
    driver.register();
    h.drivers.add(button::DRIVER_NUM, driver);
    let images: Vec<Vec<u8>> = (0..apps)
        .map(|i| TbfBuilder::app(&format!("app{i}")).build())
        .collect();
    assert_eq!(h.load(&images, 0x4000, 0x10000), apps);
    Rig { h, buttons }
}

impl Rig {
    fn f(&self, i: usize) -> u32 {
        self.h.process(i).binary_start() + 8
    }

    fn upcalls(&self, i: usize) -> Vec<UpcallFrame> {
        self.h.cpu.upcalls(self.h.mem_start(i))
    }

    fn frame(&self, i: usize, button: u32, pressed: u32) -> UpcallFrame {
        UpcallFrame {
            fn_ptr: self.f(i),
            args: [button, pressed, 0],
            appdata: 0xB0 + i as u32,
        }
    }

    fn run(&self) {
        assert!(self.h.run(10_000) < 10_000);
    }
}

#[test]
fn buttons_count_read_and_report_to_listening_apps() {
    let r = rig(2);
    let d = button::DRIVER_NUM;
    r.h.script(
        0,
        [
            sys::subscribe(d, 0, r.f(0), 0xB0),
            sys::command(d, 0, 0, 0),
            sys::command(d, 3, 1, 0),
            sys::command(d, 1, 1, 0),
            sys::command(d, 1, 7, 0),
            sys::command(d, 5, 0, 0),
            sys::yield_wait(),
            sys::yield_wait(),
            sys::command(d, 3, 1, 0),
        ],
    );
    r.h.script(1, [sys::subscribe(d, 0, r.f(1), 0xB1), sys::yield_wait()]);
    r.run();
    assert_eq!(
        r.h.returns(0),
        [
            SUBSCRIBED,
            val(4),
            val(0),
            OK,
            fails(ErrorCode::INVAL),
            fails(ErrorCode::NOSUPPORT)
        ]
    );
    assert!(r.buttons[1].0.reporting.get());
    assert!(!r.buttons[0].0.reporting.get(), "nobody listens to 0");
    // Press and release button 1: app 0 hears both, app 1 nothing.
    r.buttons[1].0.drive(false);
    r.run();
    r.buttons[1].0.drive(true);
    r.run();
    assert_eq!(r.upcalls(0), [r.frame(0, 1, 1), r.frame(0, 1, 0)]);
    assert!(r.upcalls(1).is_empty());
    assert_eq!(r.h.returns(0).last(), Some(&val(0)), "released again");
}

#[test]
fn a_pin_reports_while_any_app_listens() {
    let r = rig(2);
    let d = button::DRIVER_NUM;
    r.h.script(0, [sys::command(d, 1, 2, 0)]);
    r.h.script(1, [sys::command(d, 1, 2, 0), sys::command(d, 2, 2, 0)]);
    r.run();
    assert_eq!(r.h.returns(1), [OK, OK]);
    assert!(r.buttons[2].0.reporting.get(), "app 0 still listens");
    let r = rig(1);
    r.h.script(0, [sys::command(d, 1, 2, 0), sys::command(d, 2, 2, 0)]);
    r.run();
    assert!(!r.buttons[2].0.reporting.get(), "the last listener left");
}
