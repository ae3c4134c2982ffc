//! The lowRISC `rv_timer`: a 64-bit counter and a compare register per
//! hart, the RISC-V machine timer of OpenTitan chips.
//!
//! The counter and the compare register are `mtime` and `mtimecmp`:
//! [`RvTimer`] drives them with the arch crate's machine timer
//! ([`rv32i::mtimer::Mtimer`]), which is the kernel's alarm and scheduler
//! timer. Around them: `CTRL` starts the counter, `CFG0` sets its tick
//! (`PRESCALE`: the clock is divided by `PRESCALE + 1`; `STEP`: the
//! counter adds `STEP` each tick), and the interrupt (`INTR_ENABLE0`,
//! `INTR_STATE0`, write 1 to clear) is the core's machine timer
//! interrupt.
//!
//! Where the registers are differs: Earl Grey as taped out
//! (`earlgrey_es`, [`Layout::SILICON`]) has the interrupt registers at
//! `0x100`, `CFG0` at `0x10c` and the counter at `0x110`; QEMU 10's model
//! ([`Layout::QEMU`]) keeps an older map with `CFG0` at `0x100`, the
//! counter at `0x104` and the interrupt registers at `0x114`.
//! [`Layout::detect`] tells them apart by the word at `0x100` at reset
//! (QEMU's `CFG0` resets to `STEP = 1`; silicon's `INTR_ENABLE0` has no
//! such bit).
//!
//! The tick frequency `F` is a parameter of the board: on silicon it is
//! the peripheral clock divided by the prescaler ([`prescale_for`]);
//! QEMU counts at a fixed 10 kHz ([`Freq10KHz`]) whatever `CFG0` says.

use kernel::hil::time::Frequency;
use rv32i::mtimer::{MtimeRegisters, MtimecmpRegisters, Mtimer};
use static_ref::StaticRef;
use tock_registers::interfaces::{Readable, Writeable};
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

/// Words of the register block.
const WORDS: usize = 0x120 / 4;

register_structs! {
    /// The timer's register block (its registers by [`Layout`]).
    pub RvTimerRegisters {
        (0x000 => words: [ReadWrite<u32>; WORDS]),
        (0x120 => @END),
    }
}

/// Where the registers are (byte offsets from the block's base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `CTRL`.
    pub ctrl: usize,
    /// `CFG0`.
    pub cfg0: usize,
    /// `INTR_ENABLE0`.
    pub intr_enable: usize,
    /// `INTR_STATE0`.
    pub intr_state: usize,
    /// The counter (low word; the high word follows).
    pub mtime: usize,
    /// Hart 0's compare register (low word; the high word follows).
    pub mtimecmp: usize,
}

impl Layout {
    /// Earl Grey as taped out (`earlgrey_es`, OpenTitan's `rv_timer`
    /// register description).
    pub const SILICON: Layout = Layout {
        ctrl: 0x004,
        cfg0: 0x10c,
        intr_enable: 0x100,
        intr_state: 0x104,
        mtime: 0x110,
        mtimecmp: 0x118,
    };

    /// QEMU 10's `ibex-timer` (`-M opentitan`).
    pub const QEMU: Layout = Layout {
        ctrl: 0x004,
        cfg0: 0x100,
        intr_enable: 0x114,
        intr_state: 0x118,
        mtime: 0x104,
        mtimecmp: 0x10c,
    };

    /// The layout of the timer at `regs`, from the word at `0x100` before
    /// anything wrote it: QEMU's `CFG0` resets with `STEP` = 1 (bits
    /// 16-23), silicon's `INTR_ENABLE0` has only bit 0.
    pub fn detect(regs: &RvTimerRegisters) -> Layout {
        let word = regs.words[0x100 / 4].get();
        if word & 0x00FF_0000 != 0 {
            Layout::QEMU
        } else {
            Layout::SILICON
        }
    }
}

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

/// A view of the two words at `offset` of `regs` as a 64-bit register.
fn pair<T>(regs: StaticRef<RvTimerRegisters>, offset: usize) -> StaticRef<T> {
    // Both layouts keep 64-bit registers inside the block.
    let word = &regs.words[(offset / 4).min(WORDS - 2)];
    // SAFETY: `T` is a block of two `ReadWrite<u32>` (`MtimeRegisters` or
    // `MtimecmpRegisters`); the pointer is to two consecutive, aligned
    // registers inside the timer's block, which `regs` makes valid for
    // shared volatile access for the rest of the program.
    unsafe { StaticRef::new(core::ptr::from_ref(word).cast::<T>()) }
}

/// The `rv_timer` driver, ticking at `F`; see the [module docs](self).
pub struct RvTimer<'a, F: Frequency> {
    regs: StaticRef<RvTimerRegisters>,
    layout: Layout,
    mtimer: Mtimer<'a, F>,
}

impl<'a, F: Frequency> RvTimer<'a, F> {
    /// A driver for the timer at `regs` whose registers are where
    /// `layout` says.
    pub fn new(regs: StaticRef<RvTimerRegisters>, layout: Layout) -> Self {
        RvTimer {
            regs,
            layout,
            mtimer: Mtimer::new(
                pair::<MtimeRegisters>(regs, layout.mtime),
                pair::<MtimecmpRegisters>(regs, layout.mtimecmp),
            ),
        }
    }

    fn reg(&self, offset: usize) -> &ReadWrite<u32> {
        &self.regs.words[(offset / 4).min(WORDS - 1)]
    }

    /// The register layout in use.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Stops the counter, sets its tick (`prescale`, step 1), programs
    /// the compare register for nothing armed, enables the interrupt,
    /// clears a stale one and starts the counter. Call once at boot.
    pub fn init(&self, prescale: u32) {
        self.reg(self.layout.ctrl).set(0);
        self.reg(self.layout.cfg0).set((prescale & 0xFFF) | 1 << 16);
        self.mtimer.init();
        self.reg(self.layout.intr_enable).set(1);
        self.reg(self.layout.intr_state).set(1);
        self.reg(self.layout.ctrl).set(1);
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
        self.reg(self.layout.intr_state).set(1);
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
    fn both_layouts_and_their_detection() {
        for (layout, reset_word) in [(Layout::SILICON, 0), (Layout::QEMU, 0x1_0000)] {
            let (regs, mem) = fake::registers::<RvTimerRegisters, u32>();
            mem[0x100 / 4].set(reset_word);
            assert_eq!(Layout::detect(&regs), layout);
            let timer: RvTimer<'static, Freq10KHz> = RvTimer::new(regs, layout);
            timer.init(599);
            assert_eq!(mem[layout.ctrl / 4].get(), 1, "counting");
            assert_eq!(mem[layout.cfg0 / 4].get(), 599 | 1 << 16);
            assert_eq!(mem[layout.intr_enable / 4].get(), 1, "interrupt enabled");
            let cmp = layout.mtimecmp / 4;
            assert_eq!((mem[cmp].get(), mem[cmp + 1].get()), (u32::MAX, u32::MAX));
            timer
                .mtimer()
                .set_alarm(Ticks64::from(0u32), Ticks64::from(10u32));
            assert_eq!(mem[cmp].get(), 10);
            assert!(!timer.is_interrupt_pending());
            mem[layout.mtime / 4].set(10);
            assert!(timer.is_interrupt_pending());
            mem[layout.intr_state / 4].set(0);
            timer.handle_interrupt();
            assert_eq!(mem[layout.intr_state / 4].get(), 1, "cleared (write 1)");
            assert!(!timer.is_interrupt_pending());
            assert_eq!(timer.mtimer().now().get(), 10);
        }
    }
}
