//! GPIO port P0 and the GPIOTE `PORT` event: pins as outputs (LEDs, the
//! flash's chip select) and as inputs that report changes (buttons).
//!
//! A pin's change is noticed through its `SENSE` setting: a pin sensing
//! "low" raises the port's `DETECT` signal while it is low, and the
//! GPIOTE turns a rising `DETECT` into the `PORT` event (one interrupt
//! for all pins). Each enabled pin senses the level opposite to the one
//! it was last seen at, so any change raises the event; the handler reads
//! the port, reports the pins whose level changed and turns their sense
//! around. A pin that changes again while the sense is turned around
//! keeps `DETECT` high and raises the event again, so no change is lost
//! (though quick bounces may be merged: clients read levels).

use core::cell::Cell;

use kernel::hil::gpio::{Client, Input, InterruptPin, Output};
use static_ref::StaticRef;
use tock_cells::OptionalCell;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::ReadWrite;
use tock_registers::{register_bitfields, register_structs};

use crate::spim::ChipSelect;

/// Address of port P0.
pub const P0_BASE: usize = 0x5000_0000;
/// Address of the GPIOTE.
pub const GPIOTE_BASE: usize = 0x4000_6000;
/// NVIC interrupt of the GPIOTE.
pub const GPIOTE_IRQ: u32 = 6;

register_structs! {
    /// A GPIO port's registers.
    pub GpioRegisters {
        (0x000 => _reserved0),
        /// Output levels.
        (0x504 => out: ReadWrite<u32>),
        /// Drive the pins of the 1 bits high.
        (0x508 => outset: ReadWrite<u32>),
        /// Drive the pins of the 1 bits low.
        (0x50C => outclr: ReadWrite<u32>),
        /// Input levels.
        (0x510 => input: ReadWrite<u32>),
        /// Directions (1: output).
        (0x514 => dir: ReadWrite<u32>),
        (0x518 => _reserved1),
        /// Per-pin configuration.
        (0x700 => pin_cnf: [ReadWrite<u32, PIN_CNF::Register>; 32]),
        (0x780 => @END),
    }
}

register_structs! {
    /// The GPIOTE registers the port interrupt uses.
    pub GpioteRegisters {
        (0x000 => _reserved0),
        /// A pin's `DETECT` rose.
        (0x17C => events_port: ReadWrite<u32>),
        (0x180 => _reserved1),
        /// Enable interrupts (write 1s; bit 31 `PORT`).
        (0x304 => intenset: ReadWrite<u32>),
        /// Disable interrupts (write 1s).
        (0x308 => intenclr: ReadWrite<u32>),
        (0x30C => @END),
    }
}

register_bitfields![u32,
    /// A pin's configuration.
    PIN_CNF [
        /// Direction.
        DIR OFFSET(0) NUMBITS(1) [Input = 0, Output = 1],
        /// Input buffer (1: disconnected).
        INPUT OFFSET(1) NUMBITS(1) [Connect = 0, Disconnect = 1],
        /// Pull resistor.
        PULL OFFSET(2) NUMBITS(2) [Disabled = 0, Pulldown = 1, Pullup = 3],
        /// Level that raises `DETECT`.
        SENSE OFFSET(16) NUMBITS(2) [Disabled = 0, High = 2, Low = 3]
    ]
];

/// `PORT` in the GPIOTE's interrupt registers.
pub const GPIOTE_PORT: u32 = 1 << 31;

/// Port P0 (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const P0: StaticRef<GpioRegisters> =
    // SAFETY: the nRF52840 maps port P0 at `P0_BASE`.
    unsafe { StaticRef::new(P0_BASE as *const GpioRegisters) };

/// The GPIOTE (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const GPIOTE: StaticRef<GpioteRegisters> =
    // SAFETY: the nRF52840 maps the GPIOTE at `GPIOTE_BASE`.
    unsafe { StaticRef::new(GPIOTE_BASE as *const GpioteRegisters) };

/// An input's pull resistor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// None.
    None,
    /// To ground.
    Down,
    /// To the supply (a button to ground).
    Up,
}

/// Port P0 with its change interrupt; see the [module docs](self).
pub struct Port<'a> {
    regs: StaticRef<GpioRegisters>,
    gpiote: StaticRef<GpioteRegisters>,
    clients: [OptionalCell<(&'a dyn Client, usize)>; 32],
    /// Pins whose changes are reported.
    enabled: Cell<u32>,
    /// Levels of the enabled pins when last seen.
    levels: Cell<u32>,
}

impl<'a> Port<'a> {
    /// The port at `regs`, its changes through `gpiote`.
    pub const fn new(regs: StaticRef<GpioRegisters>, gpiote: StaticRef<GpioteRegisters>) -> Self {
        Port {
            regs,
            gpiote,
            clients: [const { OptionalCell::empty() }; 32],
            enabled: Cell::new(0),
            levels: Cell::new(0),
        }
    }

    /// Pin `number` (0-31) of the port.
    pub const fn pin(&'a self, number: u8) -> Pin<'a> {
        Pin {
            port: self,
            number: number & 31,
        }
    }

    /// Whether the port's change event is waiting.
    pub fn is_pending(&self) -> bool {
        self.regs_gpiote().events_port.get() != 0
    }

    fn regs_gpiote(&self) -> &GpioteRegisters {
        &self.gpiote
    }

    /// Points every enabled pin's sense at the level it is not at.
    fn rearm(&self, levels: u32) {
        let enabled = self.enabled.get();
        for n in 0..32 {
            if enabled & (1 << n) != 0 {
                let sense = if levels & (1 << n) != 0 {
                    PIN_CNF::SENSE::Low
                } else {
                    PIN_CNF::SENSE::High
                };
                self.regs.pin_cnf[n].modify(sense);
            }
        }
    }

    /// Services the GPIOTE interrupt: reports the enabled pins whose
    /// level changed and senses their next change.
    pub fn handle_interrupt(&self) {
        self.gpiote.events_port.set(0);
        let now = self.regs.input.get();
        let changed = (now ^ self.levels.get()) & self.enabled.get();
        self.levels.set(now);
        self.rearm(now);
        for n in 0..32 {
            if changed & (1 << n) != 0 {
                self.clients[n].map(|(client, id)| client.fired(id));
            }
        }
    }

    fn enable(&self, n: u8) {
        let bit = 1u32 << n;
        let level = self.regs.input.get() & bit;
        self.levels.set((self.levels.get() & !bit) | level);
        self.enabled.set(self.enabled.get() | bit);
        self.rearm(self.levels.get());
        self.gpiote.intenset.set(GPIOTE_PORT);
    }

    fn disable(&self, n: u8) {
        let bit = 1u32 << n;
        self.enabled.set(self.enabled.get() & !bit);
        self.regs.pin_cnf[usize::from(n)].modify(PIN_CNF::SENSE::Disabled);
        if self.enabled.get() == 0 {
            self.gpiote.intenclr.set(GPIOTE_PORT);
        }
    }
}

/// One pin of a [`Port`].
#[derive(Clone, Copy)]
pub struct Pin<'a> {
    port: &'a Port<'a>,
    number: u8,
}

impl Pin<'_> {
    fn bit(&self) -> u32 {
        1 << self.number
    }

    fn cnf(&self) -> &ReadWrite<u32, PIN_CNF::Register> {
        &self.port.regs.pin_cnf[usize::from(self.number)]
    }

    /// Makes the pin an output driven to `high`.
    pub fn make_output(&self, high: bool) {
        if high {
            self.set();
        } else {
            self.clear();
        }
        self.cnf()
            .write(PIN_CNF::DIR::Output + PIN_CNF::INPUT::Disconnect);
    }

    /// Makes the pin an input with `pull`.
    pub fn make_input(&self, pull: Pull) {
        let pull = match pull {
            Pull::None => PIN_CNF::PULL::Disabled,
            Pull::Down => PIN_CNF::PULL::Pulldown,
            Pull::Up => PIN_CNF::PULL::Pullup,
        };
        self.cnf()
            .write(PIN_CNF::DIR::Input + PIN_CNF::INPUT::Connect + pull);
    }
}

impl Output for Pin<'_> {
    fn set(&self) {
        self.port.regs.outset.set(self.bit());
    }

    fn clear(&self) {
        self.port.regs.outclr.set(self.bit());
    }

    fn toggle(&self) -> bool {
        let high = !self.is_set();
        if high {
            self.set();
        } else {
            self.clear();
        }
        high
    }

    fn is_set(&self) -> bool {
        self.port.regs.out.get() & self.bit() != 0
    }
}

impl Input for Pin<'_> {
    fn read(&self) -> bool {
        self.port.regs.input.get() & self.bit() != 0
    }
}

impl<'a> InterruptPin<'a> for Pin<'a> {
    fn set_client(&self, client: &'a dyn Client, identifier: usize) {
        self.port.clients[usize::from(self.number)].set((client, identifier));
    }

    fn enable_interrupts(&self) {
        self.port.enable(self.number);
    }

    fn disable_interrupts(&self) {
        self.port.disable(self.number);
    }
}

impl ChipSelect for Pin<'_> {
    fn select(&self) {
        self.clear();
    }

    fn deselect(&self) {
        self.set();
    }
}
