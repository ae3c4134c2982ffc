//! CLOCK: the 64 MHz crystal (HFXO, needed for accurate UART baud rates)
//! and the 32.768 kHz low-frequency clock that drives the RTCs.
//!
//! A clock is started by triggering its start task; the matching
//! `STARTED` event says it runs, and `*STAT` says from which source. The
//! waits are bounded: a crystal that never starts gives an error (the
//! board then carries on with the internal RC oscillators) instead of a
//! hang.

use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use crate::dma::Wait;

/// Address of the CLOCK block.
pub const CLOCK_BASE: usize = 0x4000_0000;
/// Polls of a `STARTED` event before giving up (the crystal needs about
/// 0.4 ms for HFXO and 250 ms for LFXO at worst; one poll is well over
/// 10 ns).
pub const START_POLLS: u32 = 50_000_000;

register_structs! {
    /// The CLOCK registers the driver uses.
    pub ClockRegisters {
        /// Start the high-frequency crystal oscillator.
        (0x000 => tasks_hfclkstart: WriteOnly<u32>),
        /// Stop it.
        (0x004 => tasks_hfclkstop: WriteOnly<u32>),
        /// Start the low-frequency clock (source from `lfclksrc`).
        (0x008 => tasks_lfclkstart: WriteOnly<u32>),
        /// Stop it.
        (0x00C => tasks_lfclkstop: WriteOnly<u32>),
        (0x010 => _reserved0),
        /// The crystal runs.
        (0x100 => events_hfclkstarted: ReadWrite<u32>),
        /// The low-frequency clock runs.
        (0x104 => events_lfclkstarted: ReadWrite<u32>),
        (0x108 => _reserved1),
        /// Which source the high-frequency clock runs from.
        (0x40C => hfclkstat: ReadOnly<u32, HFCLKSTAT::Register>),
        (0x410 => _reserved2),
        /// Which source the low-frequency clock runs from.
        (0x418 => lfclkstat: ReadOnly<u32, LFCLKSTAT::Register>),
        (0x41C => _reserved3),
        /// The source the next `LFCLKSTART` uses.
        (0x518 => lfclksrc: ReadWrite<u32, LFCLKSRC::Register>),
        (0x51C => @END),
    }
}

register_bitfields![u32,
    /// High-frequency clock status.
    HFCLKSTAT [
        /// 1: the crystal.
        SRC OFFSET(0) NUMBITS(1) [Rc = 0, Xtal = 1],
        /// 1: running.
        STATE OFFSET(16) NUMBITS(1) []
    ],
    /// Low-frequency clock status.
    LFCLKSTAT [
        /// The source.
        SRC OFFSET(0) NUMBITS(2) [Rc = 0, Xtal = 1, Synth = 2],
        /// 1: running.
        STATE OFFSET(16) NUMBITS(1) []
    ],
    /// Low-frequency clock source.
    LFCLKSRC [
        /// The source.
        SRC OFFSET(0) NUMBITS(2) [Rc = 0, Xtal = 1, Synth = 2]
    ]
];

/// The CLOCK block (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const CLOCK: StaticRef<ClockRegisters> =
    // SAFETY: the nRF52840 maps the CLOCK registers at `CLOCK_BASE`.
    unsafe { StaticRef::new(CLOCK_BASE as *const ClockRegisters) };

/// Where the low-frequency clock comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LowFrequencySource {
    /// The internal RC oscillator (no crystal needed, +-500 ppm).
    Rc,
    /// The 32.768 kHz crystal (the DK has one).
    Crystal,
}

/// The clock controller.
pub struct Clock<W: Wait> {
    regs: StaticRef<ClockRegisters>,
    waiter: W,
    polls: u32,
}

impl<W: Wait> Clock<W> {
    /// The driver; `waiter` is called on every poll.
    pub const fn new(regs: StaticRef<ClockRegisters>, waiter: W) -> Self {
        Clock {
            regs,
            waiter,
            polls: START_POLLS,
        }
    }

    /// The same driver giving up after `polls` polls of an event.
    pub const fn with_poll_limit(mut self, polls: u32) -> Self {
        self.polls = polls;
        self
    }

    fn wait_for(&self, event: &ReadWrite<u32>) -> Result<(), ErrorCode> {
        for _ in 0..self.polls {
            if event.get() != 0 {
                event.set(0);
                return Ok(());
            }
            self.waiter.wait();
        }
        Err(ErrorCode::FAIL)
    }

    /// Starts the 64 MHz crystal and waits until it runs. `FAIL` if it
    /// did not start in time (the chip keeps running on HFINT).
    pub fn start_hfxo(&self) -> Result<(), ErrorCode> {
        if self
            .regs
            .hfclkstat
            .matches_all(HFCLKSTAT::SRC::Xtal + HFCLKSTAT::STATE::SET)
        {
            return Ok(());
        }
        self.regs.events_hfclkstarted.set(0);
        self.regs.tasks_hfclkstart.set(1);
        self.wait_for(&self.regs.events_hfclkstarted)
    }

    /// Starts the low-frequency clock from `source` and waits until it
    /// runs; `FAIL` if it did not start in time.
    pub fn start_lfclk(&self, source: LowFrequencySource) -> Result<(), ErrorCode> {
        let src = match source {
            LowFrequencySource::Rc => LFCLKSRC::SRC::Rc,
            LowFrequencySource::Crystal => LFCLKSRC::SRC::Xtal,
        };
        self.regs.tasks_lfclkstop.set(1);
        self.regs.lfclksrc.write(src);
        self.regs.events_lfclkstarted.set(0);
        self.regs.tasks_lfclkstart.set(1);
        self.wait_for(&self.regs.events_lfclkstarted)
    }

    /// Starts the low-frequency clock from the crystal, or from the RC
    /// oscillator if the crystal does not start; the source that runs.
    pub fn start_lfclk_or_rc(&self) -> Result<LowFrequencySource, ErrorCode> {
        self.start_lfclk(LowFrequencySource::Crystal)
            .map(|()| LowFrequencySource::Crystal)
            .or_else(|_| {
                self.start_lfclk(LowFrequencySource::Rc)
                    .map(|()| LowFrequencySource::Rc)
            })
    }
}
