//! CLOCK and GPIO against models: the clocks start a while after their
//! start task (or, faulted, never); the port drives `OUT` from `OUTSET` /
//! `OUTCLR`, and its `DETECT` signal (pins whose level matches their
//! `SENSE`) raises the GPIOTE `PORT` event on a rising edge.

mod model;

use std::cell::{Cell, RefCell};

use kernel::hil::gpio::{Client, Input, InterruptPin, Output};
use kernel::ErrorCode;
use model::{leak, Block, Inten};
use nrf52840::clock::{Clock, ClockRegisters, LowFrequencySource};
use nrf52840::dma::Wait;
use nrf52840::gpio::{GpioRegisters, GpioteRegisters, Port, Pull, GPIOTE_PORT};

struct ClockModel {
    regs: Block,
    /// Waits a clock takes to start.
    delay: u32,
    hf_left: Cell<Option<u32>>,
    lf_left: Cell<Option<u32>>,
    /// Fault: no 32.768 kHz crystal (or a broken one).
    no_lfxo: Cell<bool>,
    /// Fault: no 64 MHz crystal.
    no_hfxo: Cell<bool>,
}

impl Wait for ClockModel {
    fn wait(&self) {
        let r = self.regs;
        if r.take_task(0x000) && !self.no_hfxo.get() {
            self.hf_left.set(Some(self.delay));
        }
        if r.take_task(0x00C) {
            self.lf_left.set(None);
            r.set(0x418, 0);
        }
        if r.take_task(0x008) {
            let src = r.get(0x518) & 3;
            if !(src == 1 && self.no_lfxo.get()) {
                self.lf_left.set(Some(self.delay));
            }
        }
        if let Some(n) = self.hf_left.get() {
            if n == 0 {
                self.hf_left.set(None);
                r.set(0x40C, 1 | 1 << 16);
                r.set(0x100, 1);
            } else {
                self.hf_left.set(Some(n - 1));
            }
        }
        if let Some(n) = self.lf_left.get() {
            if n == 0 {
                self.lf_left.set(None);
                r.set(0x418, (r.get(0x518) & 3) | 1 << 16);
                r.set(0x104, 1);
            } else {
                self.lf_left.set(Some(n - 1));
            }
        }
    }
}

fn clock() -> (&'static ClockModel, Clock<&'static ClockModel>) {
    let (regs, block) = Block::new::<ClockRegisters>();
    let model = leak(ClockModel {
        regs: block,
        delay: 100,
        hf_left: Cell::new(None),
        lf_left: Cell::new(None),
        no_lfxo: Cell::new(false),
        no_hfxo: Cell::new(false),
    });
    (model, Clock::new(regs, model).with_poll_limit(10_000))
}

#[test]
fn the_crystals_start() {
    let (model, clock) = clock();
    assert_eq!(clock.start_hfxo(), Ok(()));
    assert_eq!(model.regs.get(0x40C), 1 | 1 << 16, "HFCLK from the crystal");
    assert_eq!(clock.start_hfxo(), Ok(()), "already running");
    assert_eq!(clock.start_lfclk_or_rc(), Ok(LowFrequencySource::Crystal));
    assert_eq!(model.regs.get(0x418), 1 | 1 << 16);
}

#[test]
fn a_missing_crystal_gives_an_error_or_the_rc_oscillator_not_a_hang() {
    let (model, clock) = clock();
    model.no_hfxo.set(true);
    model.no_lfxo.set(true);
    assert_eq!(clock.start_hfxo(), Err(ErrorCode::FAIL));
    assert_eq!(
        clock.start_lfclk(LowFrequencySource::Crystal),
        Err(ErrorCode::FAIL)
    );
    assert_eq!(clock.start_lfclk_or_rc(), Ok(LowFrequencySource::Rc));
    assert_eq!(model.regs.get(0x418), 1 << 16, "running from RC");
}

// GPIO.

const OUT: usize = 0x504;
const OUTSET: usize = 0x508;
const OUTCLR: usize = 0x50C;
const IN: usize = 0x510;
const PIN_CNF: usize = 0x700;
const EVENTS_PORT: usize = 0x17C;

struct PortModel {
    gpio: Block,
    gpiote: Block,
    inten: Inten,
    /// Levels the outside world drives (buttons); pulled-up pins read 1
    /// when nothing drives them.
    driven: RefCell<[Option<bool>; 32]>,
    detect: Cell<bool>,
}

impl PortModel {
    fn step(&self) {
        let g = self.gpio;
        let set = g.get(OUTSET);
        let clear = g.get(OUTCLR);
        g.set(OUTSET, 0);
        g.set(OUTCLR, 0);
        g.set(OUT, (g.get(OUT) | set) & !clear);
        let mut input = 0;
        let mut detect = false;
        for n in 0..32 {
            let cnf = g.get(PIN_CNF + 4 * n);
            let output = cnf & 1 != 0;
            let level = if output {
                g.get(OUT) & (1 << n) != 0
            } else {
                self.driven.borrow()[n].unwrap_or((cnf >> 2) & 3 == 3)
            };
            if level && cnf & 2 == 0 {
                input |= 1 << n;
            }
            let sense = (cnf >> 16) & 3;
            detect |= (sense == 2 && level) || (sense == 3 && !level);
        }
        g.set(IN, input);
        if detect && !self.detect.get() {
            self.gpiote.set(EVENTS_PORT, 1);
        }
        self.detect.set(detect);
        self.inten.fold(self.gpiote);
    }

    fn irq(&self) -> bool {
        self.gpiote.get(EVENTS_PORT) != 0 && self.inten.get() & GPIOTE_PORT != 0
    }
}

#[derive(Default)]
struct Fired(RefCell<Vec<usize>>);

impl Client for Fired {
    fn fired(&self, identifier: usize) {
        self.0.borrow_mut().push(identifier);
    }
}

fn port() -> (&'static PortModel, &'static Port<'static>) {
    let (regs, gpio) = Block::new::<GpioRegisters>();
    let (te, gpiote) = Block::new::<GpioteRegisters>();
    let model = leak(PortModel {
        gpio,
        gpiote,
        inten: Inten::new(0x304),
        driven: RefCell::new([None; 32]),
        detect: Cell::new(false),
    });
    (model, leak(Port::new(regs, te)))
}

#[test]
fn leds_are_outputs_driven_through_outset_and_outclr() {
    let (m, port) = port();
    let led = port.pin(13);
    led.make_output(true);
    m.step();
    assert_eq!(
        m.gpio.get(PIN_CNF + 4 * 13) & 3,
        0b11,
        "output, input buffer off"
    );
    assert!(led.is_set(), "off (active low)");
    led.clear();
    m.step();
    assert!(!led.is_set());
    assert!(led.toggle());
    m.step();
    assert_eq!(m.gpio.get(OUT), 1 << 13);
}

#[test]
fn a_button_press_and_release_are_each_reported() {
    let (m, port) = port();
    let fired: &'static Fired = leak(Fired::default());
    let button = port.pin(11);
    button.make_input(Pull::Up);
    button.set_client(fired, 0);
    m.step();
    assert!(button.read(), "released: pulled up");
    button.enable_interrupts();
    m.step();
    assert!(!m.irq(), "no change yet");
    m.driven.borrow_mut()[11] = Some(false);
    m.step();
    assert!(m.irq());
    port.handle_interrupt();
    assert_eq!(*fired.0.borrow(), vec![0]);
    assert!(!button.read());
    m.step();
    assert!(!m.irq(), "sense turned around: quiet while held");
    m.driven.borrow_mut()[11] = None;
    m.step();
    assert!(m.irq());
    port.handle_interrupt();
    assert_eq!(*fired.0.borrow(), vec![0, 0]);
    button.disable_interrupts();
    m.step();
    m.driven.borrow_mut()[11] = Some(false);
    m.step();
    assert!(!m.irq(), "disabled");
}

#[test]
fn a_stray_port_event_reports_nothing() {
    let (m, port) = port();
    let fired: &'static Fired = leak(Fired::default());
    let b = port.pin(24);
    b.make_input(Pull::Up);
    b.set_client(fired, 2);
    m.step();
    b.enable_interrupts();
    m.step();
    m.gpiote.set(EVENTS_PORT, 1);
    port.handle_interrupt();
    assert!(fired.0.borrow().is_empty());
    assert_eq!(m.gpiote.get(EVENTS_PORT), 0);
}
