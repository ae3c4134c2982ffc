//! The interrupt routing a RISC-V chip with a PLIC and a machine timer
//! does in the kernel's main loop, shared by the chips (QEMU `virt`,
//! Earl Grey): see `rv32i::csr` for the contract with the trap handler.
//!
//! [`Router::service`] claims, dispatches and completes up to
//! [`MAX_CLAIMS`] PLIC sources (a source nobody handles is disabled),
//! services the timer if it is due and re-enables `MEIE` and `MTIE` in
//! `mie`; [`Router::has_pending`] and [`Router::sleep`] are the chip's
//! `has_pending_interrupts` and `sleep`.

use core::cell::Cell;

use crate::csr;
use crate::plic::Plic;

/// PLIC claims serviced per [`Router::service`] at most, so a source that
/// keeps interrupting cannot hold the kernel.
pub const MAX_CLAIMS: usize = 32;

/// A timer that raises the machine timer interrupt.
pub trait TimerInterrupt {
    /// Whether the timer's interrupt condition holds.
    fn is_interrupt_pending(&self) -> bool;
    /// Services it (reprograms the compare register, calls clients).
    fn handle_interrupt(&self);
}

impl<F: kernel::hil::time::Frequency> TimerInterrupt for crate::mtimer::Mtimer<'_, F> {
    fn is_interrupt_pending(&self) -> bool {
        crate::mtimer::Mtimer::is_interrupt_pending(self)
    }

    fn handle_interrupt(&self) {
        crate::mtimer::Mtimer::handle_interrupt(self)
    }
}

/// The chip's PLIC and timer, and whether the chip is initialised.
pub struct Router<'a> {
    plic: &'a Plic,
    timer: &'a dyn TimerInterrupt,
    initialized: Cell<bool>,
}

impl<'a> Router<'a> {
    /// Routing for `plic` and `timer`.
    pub const fn new(plic: &'a Plic, timer: &'a dyn TimerInterrupt) -> Self {
        Router {
            plic,
            timer,
            initialized: Cell::new(false),
        }
    }

    /// The interrupt controller.
    pub fn plic(&self) -> &'a Plic {
        self.plic
    }

    /// Marks the chip initialised and enables `MEIE` and `MTIE` in `mie`
    /// (after the chip set up the PLIC and the timer).
    pub fn start(&self) {
        self.initialized.set(true);
        csr::enable_interrupt_sources(csr::CHIP_INTERRUPTS);
    }

    /// Whether the trap handler masked one of the chip's sources.
    fn masked_by_trap(&self) -> bool {
        self.initialized.get()
            && csr::enabled_interrupt_sources() & csr::CHIP_INTERRUPTS != csr::CHIP_INTERRUPTS
    }

    /// An enabled PLIC source is pending, the timer is due, or the trap
    /// handler masked a source.
    pub fn has_pending(&self) -> bool {
        let pending = match csr::pending_interrupt_sources() {
            // One CSR read instead of the PLIC's pending and enable words
            // and the 64-bit time (the main loop asks on every pass):
            // `mip.MEIP` is set exactly while the PLIC has an enabled
            // source above the threshold to claim, `mip.MTIP` while the
            // timer's interrupt condition holds.
            Some(mip) => mip & csr::CHIP_INTERRUPTS != 0,
            // The host (tests): ask the devices.
            None => self.plic.has_pending() || self.timer.is_interrupt_pending(),
        };
        pending || self.masked_by_trap()
    }

    /// Claims, dispatches (`dispatch(source)` is `false` for a source
    /// nobody handles: it gets disabled) and completes pending sources,
    /// services a due timer and re-enables the chip's sources in `mie`.
    pub fn service(&self, dispatch: impl Fn(u32) -> bool) {
        for _ in 0..MAX_CLAIMS {
            let Some(source) = self.plic.next_pending() else {
                break;
            };
            if !dispatch(source) {
                self.plic.disable(source);
            }
            self.plic.complete(source);
        }
        if self.timer.is_interrupt_pending() {
            self.timer.handle_interrupt();
        }
        if self.initialized.get() {
            csr::enable_interrupt_sources(csr::CHIP_INTERRUPTS);
        }
    }

    /// Waits for an interrupt (`wfi`) unless one is pending.
    pub fn sleep(&self) {
        csr::wait_for_interrupt_if(|| !self.has_pending());
    }
}
