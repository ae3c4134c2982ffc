//! [`EarlGrey`]: the kernel's [`Chip`] for Earl Grey.
//!
//! The interrupt contract with the arch crate is the one of `rv32i::csr`
//! (the same as QEMU `virt`'s chip): the chip owns `MEIE` (the PLIC) and
//! `MTIE` (`rv_timer`) in `mie`; the trap handler may mask them and
//! returns to the kernel, whose main loop calls
//! [`Chip::service_pending_interrupts`]: PLIC sources are claimed,
//! dispatched (UART0's eight sources to its driver, others to a board
//! handler or disabled) and completed, the timer is serviced if due, and
//! both `mie` bits are enabled again. [`Chip::sleep`] waits with `wfi`.
//!
//! The flash controller is polled from its deferred call and needs no
//! interrupt.

use kernel::hil::time::Frequency;
use kernel::platform::chip::Chip;
use lowrisc::rv_timer::RvTimer;
use lowrisc::uart::Uart;
use rv32i::irq::Router;
use rv32i::plic::Plic;
use tock_cells::OptionalCell;

use crate::map::UART0_IRQS;

pub use rv32i::irq::MAX_CLAIMS;

/// A driver for PLIC sources the chip does not route itself.
pub trait InterruptHandler {
    /// Services `source`; `false` if unknown (the chip then disables it).
    fn handle_interrupt(&self, source: u32) -> bool;
}

/// Earl Grey's interrupt routing and sleep; see the [module docs](self).
pub struct EarlGrey<'a, F: Frequency> {
    router: Router<'a>,
    timer: &'a RvTimer<'a, F>,
    uart0: &'a Uart<'a>,
    extra: OptionalCell<&'a dyn InterruptHandler>,
}

impl<'a, F: Frequency> EarlGrey<'a, F> {
    /// The chip with its interrupt controller, timer and UART0.
    pub fn new(plic: &'a Plic, timer: &'a RvTimer<'a, F>, uart0: &'a Uart<'a>) -> Self {
        EarlGrey {
            router: Router::new(plic, timer),
            timer,
            uart0,
            extra: OptionalCell::empty(),
        }
    }

    /// Routes PLIC sources other than UART0's to `handler` (enable them
    /// with [`Plic::enable`] after [`initialize`](Self::initialize)).
    pub fn set_interrupt_handler(&self, handler: &'a dyn InterruptHandler) {
        self.extra.set(handler);
    }

    /// Sets up interrupts at boot: PLIC reset with UART0's sources
    /// enabled, the timer started with `prescale` (see
    /// `lowrisc::rv_timer::prescale_for`) and nothing armed, then `MEIE`
    /// and `MTIE` in `mie`. Call once, before the kernel loop.
    pub fn initialize(&self, prescale: u32) {
        self.plic().init();
        for source in UART0_IRQS {
            self.plic().enable(source);
        }
        self.timer.init(prescale);
        self.router.start();
    }

    /// The interrupt controller.
    pub fn plic(&self) -> &'a Plic {
        self.router.plic()
    }
}

impl<F: Frequency> Chip for EarlGrey<'_, F> {
    fn has_pending_interrupts(&self) -> bool {
        self.router.has_pending()
    }

    fn service_pending_interrupts(&self) {
        self.router.service(|source| {
            if UART0_IRQS.contains(&source) {
                self.uart0.handle_interrupt();
                true
            } else {
                self.extra
                    .map_or(false, |handler| handler.handle_interrupt(source))
            }
        });
    }

    fn sleep(&self) {
        self.router.sleep();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::Cell;
    use kernel::deferred_call::DeferredCalls;
    use kernel::hil::time::{Alarm, AlarmClient, Ticks64};
    use lowrisc::rv_timer::{Freq10KHz, Layout, RvTimerRegisters};
    use lowrisc::uart::UartRegisters;
    use rv32i::plic::PlicRegisters;
    use static_ref::fake;
    use std::boxed::Box;

    const CLAIM: usize = 0x20_0004 / 4;
    const PENDING: usize = 0x1000 / 4;

    fn leak<T>(t: T) -> &'static T {
        Box::leak(Box::new(t))
    }

    #[derive(Default)]
    struct Fired(Cell<usize>);

    impl AlarmClient for Fired {
        fn alarm(&self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn routes_uart_sources_services_the_timer_and_disables_strangers() {
        let (plic_regs, plic_mem) = fake::registers::<PlicRegisters, u32>();
        let (timer_regs, timer_mem) = fake::registers::<RvTimerRegisters, u32>();
        let (uart_regs, _) = fake::registers::<UartRegisters, u32>();
        let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
        let plic = leak(Plic::new(plic_regs, crate::map::PLIC_SOURCES));
        let timer: &'static RvTimer<'static, Freq10KHz> =
            leak(RvTimer::new(timer_regs, Layout::SILICON));
        let uart = leak(Uart::new(uart_regs, 50_000_000, calls.allocate().unwrap()));
        let chip = leak(EarlGrey::new(plic, timer, uart));
        chip.initialize(0);
        for source in UART0_IRQS {
            assert!(plic.is_enabled(source));
        }
        assert!(!plic.is_enabled(9));
        assert!(!chip.has_pending_interrupts());

        plic_mem[PENDING].set(1 << 3);
        assert!(chip.has_pending_interrupts(), "UART0 TX empty");

        let fired = leak(Fired::default());
        timer.mtimer().set_alarm_client(fired);
        timer
            .mtimer()
            .set_alarm(Ticks64::from(0u32), Ticks64::from(5u32));
        timer_mem[Layout::SILICON.mtime / 4].set(5);
        plic.enable(100);
        plic_mem[CLAIM].set(100);
        chip.service_pending_interrupts();
        assert_eq!(fired.0.get(), 1);
        assert!(!plic.is_enabled(100), "nobody handles source 100");
        assert!(plic.is_enabled(1));
    }
}
