//! RTC1 as the kernel's alarm clock ([`Time`] and [`Alarm`]): a 24-bit
//! counter at 32.768 kHz (prescaler 0) from the low-frequency clock,
//! wrapping every 512 s, and compare register 0 for the alarm.
//!
//! **The two-tick rule.** When the counter holds N, a compare value of N
//! or N + 1 written now may not raise `COMPARE` (the product
//! specification's "compare within two ticks" caveat), and the counter
//! may advance between the driver's read and its write. An alarm whose
//! time is already past or less than [`MIN_DT`] ticks ahead is therefore
//! set [`MIN_DT`] ticks from the counter as read (at least two ahead of
//! it at the write), and fires late by at most that much rather than
//! never (or only after the counter wraps, 512 s later).

use core::cell::Cell;

use kernel::hil::time::{Alarm, AlarmClient, Freq32KHz, Ticks, Ticks24, Time};
use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_cells::OptionalCell;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

/// Address of RTC1.
pub const RTC1_BASE: usize = 0x4001_1000;
/// NVIC interrupt of RTC1.
pub const RTC1_IRQ: u32 = 17;
/// The least distance from the counter at which an alarm is set.
pub const MIN_DT: u32 = 3;

register_structs! {
    /// The RTC registers.
    pub RtcRegisters {
        /// Start counting.
        (0x000 => tasks_start: WriteOnly<u32>),
        /// Stop counting.
        (0x004 => tasks_stop: WriteOnly<u32>),
        /// Clear the counter.
        (0x008 => tasks_clear: WriteOnly<u32>),
        (0x00C => _reserved0),
        /// The counter wrapped.
        (0x104 => events_ovrflw: ReadWrite<u32>),
        (0x108 => _reserved1),
        /// The counter reached `cc[n]`.
        (0x140 => events_compare: [ReadWrite<u32>; 4]),
        (0x150 => _reserved2),
        /// Enable interrupts (write 1s).
        (0x304 => intenset: ReadWrite<u32, INT::Register>),
        /// Disable interrupts (write 1s).
        (0x308 => intenclr: ReadWrite<u32, INT::Register>),
        (0x30C => _reserved3),
        /// The 24-bit counter.
        (0x504 => counter: ReadOnly<u32>),
        /// 12-bit prescaler: f = 32768 / (prescaler + 1).
        (0x508 => prescaler: ReadWrite<u32>),
        (0x50C => _reserved4),
        /// Compare registers.
        (0x540 => cc: [ReadWrite<u32>; 4]),
        (0x550 => @END),
    }
}

register_bitfields![u32,
    /// Interrupt enable bits.
    INT [
        /// `OVRFLW`.
        OVRFLW OFFSET(1) NUMBITS(1) [],
        /// `COMPARE[0]`.
        COMPARE0 OFFSET(16) NUMBITS(1) []
    ]
];

/// RTC1 (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const RTC1: StaticRef<RtcRegisters> =
    // SAFETY: the nRF52840 maps RTC1 at `RTC1_BASE`.
    unsafe { StaticRef::new(RTC1_BASE as *const RtcRegisters) };

/// The alarm clock; see the [module docs](self).
pub struct Rtc<'a> {
    regs: StaticRef<RtcRegisters>,
    client: OptionalCell<&'a dyn AlarmClient>,
    /// The alarm's time as asked (`get_alarm`).
    alarm: Cell<u32>,
    armed: Cell<bool>,
}

impl<'a> Rtc<'a> {
    /// The driver; call [`start`](Self::start) once the low-frequency
    /// clock runs.
    pub const fn new(regs: StaticRef<RtcRegisters>) -> Self {
        Rtc {
            regs,
            client: OptionalCell::empty(),
            alarm: Cell::new(0),
            armed: Cell::new(false),
        }
    }

    /// Starts the counter at 32.768 kHz.
    pub fn start(&self) {
        self.regs.tasks_stop.set(1);
        self.regs.prescaler.set(0);
        self.regs.intenclr.set(u32::MAX);
        self.regs.events_compare[0].set(0);
        self.regs.events_ovrflw.set(0);
        self.regs.tasks_clear.set(1);
        self.regs.tasks_start.set(1);
    }

    /// Whether the alarm's compare event is waiting (the chip's check).
    pub fn is_pending(&self) -> bool {
        self.regs.events_compare[0].get() != 0
    }

    /// Services RTC1's interrupt: calls the client if the armed alarm's
    /// compare event came (the alarm is disarmed first, so the client may
    /// arm it again).
    pub fn handle_interrupt(&self) {
        self.regs.events_ovrflw.set(0);
        if self.regs.events_compare[0].get() == 0 {
            return;
        }
        self.regs.events_compare[0].set(0);
        if self.armed.replace(false) {
            self.regs.intenclr.write(INT::COMPARE0::SET);
            self.client.map(|c| c.alarm());
        }
    }
}

impl Time for Rtc<'_> {
    type Frequency = Freq32KHz;
    type Ticks = Ticks24;

    fn now(&self) -> Ticks24 {
        Ticks24::new(self.regs.counter.get())
    }
}

impl<'a> Alarm<'a> for Rtc<'a> {
    fn set_alarm_client(&self, client: &'a dyn AlarmClient) {
        self.client.set(client);
    }

    fn set_alarm(&self, reference: Ticks24, dt: Ticks24) {
        let expiry = reference.wrapping_add(dt);
        let now = self.now();
        let min = Ticks24::new(MIN_DT);
        let passed = !now.within_range(reference, expiry);
        let compare = if passed || expiry.wrapping_sub(now) < min {
            now.wrapping_add(min)
        } else {
            expiry
        };
        self.alarm.set(expiry.get());
        self.armed.set(true);
        self.regs.events_compare[0].set(0);
        self.regs.cc[0].set(compare.get());
        self.regs.intenset.write(INT::COMPARE0::SET);
    }

    fn get_alarm(&self) -> Ticks24 {
        Ticks24::new(self.alarm.get())
    }

    fn disarm(&self) -> Result<(), ErrorCode> {
        self.armed.set(false);
        self.regs.intenclr.write(INT::COMPARE0::SET);
        self.regs.events_compare[0].set(0);
        Ok(())
    }

    fn is_armed(&self) -> bool {
        self.armed.get()
    }

    fn minimum_dt(&self) -> Ticks24 {
        Ticks24::new(MIN_DT)
    }
}
