//! The PLIC (platform-level interrupt controller) of the RISC-V
//! specification, context 0 (hart 0, machine mode): QEMU's `virt` machine
//! and lowRISC's `rv_plic` (Earl Grey) have the same register layout.
//!
//! Memory map used (offsets from the PLIC's base): source priorities at
//! `4 * source`, pending bits at `0x1000`, context 0's enable bits at
//! `0x2000` (context `c` at `0x2000 + 0x80 * c`), context 0's priority
//! threshold at `0x20_0000` and its claim/complete register at `0x20_0004`
//! (context `c` at `0x20_0000 + 0x1000 * c`).
//!
//! Policy: every enabled source gets priority 1, the threshold is 0, so
//! every enabled source can interrupt; a disabled source gets priority 0
//! too. Sources are numbered from 1; 0 means "none".

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

use static_ref::StaticRef;

/// Interrupt sources the driver supports at most, including the reserved
/// source 0 (a chip has as many as it says, [`Plic::new`]).
pub const MAX_SOURCES: usize = 192;
/// 32-bit words of pending and enable bits.
const WORDS: usize = MAX_SOURCES / 32;

register_structs! {
    /// The PLIC registers the driver uses (context 0 only).
    pub PlicRegisters {
        /// Priority of each source (index 0 is reserved).
        (0x00_0000 => priority: [ReadWrite<u32>; MAX_SOURCES]),
        (0x00_0300 => _reserved0),
        /// Pending bits, one per source.
        (0x00_1000 => pending: [ReadOnly<u32>; WORDS]),
        (0x00_1018 => _reserved1),
        /// Context 0's enable bits, one per source.
        (0x00_2000 => enable: [ReadWrite<u32>; WORDS]),
        (0x00_2018 => _reserved2),
        /// Context 0's priority threshold.
        (0x20_0000 => threshold: ReadWrite<u32>),
        /// Context 0's claim (read) / complete (write) register.
        (0x20_0004 => claim: ReadWrite<u32>),
        (0x20_0008 => @END),
    }
}

/// The PLIC driver for context 0.
pub struct Plic {
    regs: StaticRef<PlicRegisters>,
    /// Sources of this PLIC, including source 0.
    sources: usize,
}

impl Plic {
    /// A driver for the PLIC at `regs` with `sources` interrupt sources
    /// counting the reserved source 0 (at most [`MAX_SOURCES`]): only
    /// their registers are touched.
    pub const fn new(regs: StaticRef<PlicRegisters>, sources: usize) -> Self {
        let sources = if sources < MAX_SOURCES {
            sources
        } else {
            MAX_SOURCES
        };
        Plic { regs, sources }
    }

    /// Words of pending and enable bits this PLIC has.
    fn words(&self) -> usize {
        self.sources.div_ceil(32)
    }

    /// Disables every source and sets every priority and the threshold to
    /// 0.
    pub fn init(&self) {
        for enable in self.regs.enable.iter().take(self.words()) {
            enable.set(0);
        }
        for priority in self.regs.priority.iter().take(self.sources).skip(1) {
            priority.set(0);
        }
        self.regs.threshold.set(0);
    }

    /// Word index and bit mask of `source`, if it exists.
    fn bit(&self, source: u32) -> Option<(usize, u32)> {
        let index = usize::try_from(source).ok()?;
        (1..self.sources)
            .contains(&index)
            .then_some((index / 32, 1 << (index % 32)))
    }

    /// Gives `source` priority 1 and enables it for context 0. Sources that
    /// do not exist are ignored.
    pub fn enable(&self, source: u32) {
        if let Some((word, mask)) = self.bit(source) {
            self.regs.priority[source as usize].set(1);
            let enable = &self.regs.enable[word];
            enable.set(enable.get() | mask);
        }
    }

    /// Disables `source` for context 0 and sets its priority to 0.
    pub fn disable(&self, source: u32) {
        if let Some((word, mask)) = self.bit(source) {
            let enable = &self.regs.enable[word];
            enable.set(enable.get() & !mask);
            self.regs.priority[source as usize].set(0);
        }
    }

    /// Whether `source` is enabled for context 0.
    pub fn is_enabled(&self, source: u32) -> bool {
        self.bit(source)
            .is_some_and(|(word, mask)| self.regs.enable[word].get() & mask != 0)
    }

    /// Whether an enabled source is pending (and not yet claimed).
    pub fn has_pending(&self) -> bool {
        self.regs
            .pending
            .iter()
            .zip(self.regs.enable.iter())
            .take(self.words())
            .any(|(pending, enable)| pending.get() & enable.get() != 0)
    }

    /// Claims the highest-priority pending source for context 0, or `None`
    /// if there is none. The source's pending bit is cleared; it cannot
    /// be claimed again until [`complete`](Self::complete).
    pub fn next_pending(&self) -> Option<u32> {
        match self.regs.claim.get() {
            0 => None,
            source => Some(source),
        }
    }

    /// Signals that `source`, claimed with
    /// [`next_pending`](Self::next_pending), has been serviced.
    pub fn complete(&self, source: u32) {
        self.regs.claim.set(source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use static_ref::fake;

    const PENDING: usize = 0x1000 / 4;
    const ENABLE: usize = 0x2000 / 4;
    const THRESHOLD: usize = 0x20_0000 / 4;
    const CLAIM: usize = 0x20_0004 / 4;

    fn setup() -> (Plic, &'static [Cell<u32>]) {
        let (regs, mem) = fake::registers::<PlicRegisters, u32>();
        (Plic::new(regs, 96), mem)
    }

    #[test]
    fn enable_and_disable() {
        let (plic, mem) = setup();
        mem[THRESHOLD].set(7);
        mem[ENABLE].set(u32::MAX);
        mem[3].set(5);
        plic.init();
        assert_eq!(
            (mem[THRESHOLD].get(), mem[ENABLE].get(), mem[3].get()),
            (0, 0, 0)
        );

        plic.enable(10);
        plic.enable(33);
        assert_eq!(mem[10].get(), 1);
        assert_eq!(mem[ENABLE].get(), 1 << 10);
        assert_eq!(mem[ENABLE + 1].get(), 1 << 1);
        assert!(plic.is_enabled(10) && plic.is_enabled(33) && !plic.is_enabled(11));
        plic.disable(33);
        assert_eq!((mem[33].get(), mem[ENABLE + 1].get()), (0, 0));
        // Source 0 and sources past the end are ignored.
        plic.enable(0);
        plic.enable(96);
        plic.enable(u32::MAX);
        assert_eq!(mem[0].get(), 0);
        assert_eq!(mem[ENABLE].get(), 1 << 10);
        assert!(!plic.is_enabled(0) && !plic.is_enabled(96));
    }

    #[test]
    fn pending_needs_enable() {
        let (plic, mem) = setup();
        assert!(!plic.has_pending());
        mem[PENDING].set(1 << 10);
        assert!(!plic.has_pending());
        plic.enable(10);
        assert!(plic.has_pending());
        mem[PENDING].set(0);
        mem[PENDING + 2].set(1 << 31); // source 95
        assert!(!plic.has_pending());
        plic.enable(95);
        assert!(plic.has_pending());
    }

    #[test]
    fn claim_and_complete() {
        let (plic, mem) = setup();
        assert_eq!(plic.next_pending(), None);
        mem[CLAIM].set(10);
        assert_eq!(plic.next_pending(), Some(10));
        mem[CLAIM].set(0);
        plic.complete(10);
        assert_eq!(mem[CLAIM].get(), 10);
    }
}
