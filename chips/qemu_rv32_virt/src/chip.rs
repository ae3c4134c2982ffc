//! [`QemuVirt`]: the kernel's [`Chip`] for the `virt` machine.
//!
//! # The interrupt contract with the arch crate (`arch/rv32i`)
//!
//! The chip owns two interrupt sources in `mie`: the machine external
//! interrupt (`MEIE`, bit 11, the PLIC's context 0) and the machine timer
//! interrupt (`MTIE`, bit 7, the CLINT). [`QemuVirt::initialize`] enables
//! both once at boot. The trap entry itself belongs to the arch crate:
//!
//! 1. The kernel runs in machine mode with `mstatus.MIE` clear, so it is
//!    not interrupted; interrupts are taken while a process runs (in user
//!    mode machine interrupts are always enabled).
//! 2. On a machine external or timer interrupt, the arch trap handler
//!    **may** clear that source's bit in `mie` (with
//!    `rv32i::csr::disable_interrupt_sources` or its own `csrc`) and returns to
//!    the kernel (`SwitchReason::Interrupted`). It does not claim at the
//!    PLIC, touch `mtimecmp` or call a driver. (With the kernel running
//!    with `mstatus.MIE` clear, clearing the bit is optional: an interrupt
//!    cannot be taken again before the kernel switches back to a process,
//!    and it only does that when [`Chip::has_pending_interrupts`] is
//!    false.)
//! 3. The kernel's main loop sees [`Chip::has_pending_interrupts`] (true
//!    while an enabled PLIC source is pending, `mtime >= mtimecmp`, or one
//!    of the chip's `mie` bits is clear) and calls
//!    [`Chip::service_pending_interrupts`], which claims, dispatches and
//!    completes PLIC sources (UART0, source 10, goes to
//!    [`Uart16550::handle_interrupt`]), runs [`Clint::handle_interrupt`]
//!    if the timer is due (which reprograms `mtimecmp` and so clears the
//!    interrupt) and finally **re-enables `MEIE` and `MTIE`** in `mie`.
//! 4. [`Chip::sleep`] executes `wfi` with `mstatus.MIE` held clear, after
//!    checking once more that nothing is pending; `wfi` wakes on any
//!    pending source enabled in `mie`.
//!
//! The `mie` accessors are in `rv32i::csr` (single CSR
//! instructions on RISC-V targets, no-ops on the host).

use kernel::platform::chip::Chip;
use tock_cells::OptionalCell;

use crate::clint::Clint;
use crate::plic::Plic;
use crate::uart::{Uart16550, UART0_IRQ};

use rv32i::irq::Router;
pub use rv32i::irq::MAX_CLAIMS;

/// A driver for additional PLIC sources (for example virtio devices).
pub trait InterruptHandler {
    /// Services PLIC source `source`; `false` if this handler does not
    /// know it (the chip then disables the source).
    fn handle_interrupt(&self, source: u32) -> bool;
}

/// The `virt` machine's interrupt routing and sleep; see the
/// [module docs](self).
pub struct QemuVirt<'a> {
    router: Router<'a>,
    clint: &'a Clint<'a>,
    uart: &'a Uart16550<'a>,
    extra: OptionalCell<&'a dyn InterruptHandler>,
}

impl<'a> QemuVirt<'a> {
    /// The chip with its interrupt controller, timer and UART0.
    pub const fn new(plic: &'a Plic, clint: &'a Clint<'a>, uart: &'a Uart16550<'a>) -> Self {
        QemuVirt {
            router: Router::new(plic, clint),
            clint,
            uart,
            extra: OptionalCell::empty(),
        }
    }

    /// Routes PLIC sources other than UART0 to `handler`. Enable them
    /// with [`Plic::enable`] (`chip.plic().enable(n)`) after
    /// [`initialize`](Self::initialize), which resets the PLIC.
    pub fn set_interrupt_handler(&self, handler: &'a dyn InterruptHandler) {
        self.extra.set(handler);
    }

    /// Sets up interrupts at boot: PLIC reset (everything disabled,
    /// threshold 0) with UART0 enabled at priority 1, `mtimecmp` set for
    /// nothing armed, then `MEIE` and `MTIE` set in `mie`. Call once, after
    /// the drivers are built and before the kernel loop.
    pub fn initialize(&self) {
        self.plic().init();
        self.plic().enable(UART0_IRQ);
        self.clint.init();
        self.router.start();
    }

    /// The interrupt controller.
    pub fn plic(&self) -> &'a Plic {
        self.router.plic()
    }

    /// The timer.
    pub fn clint(&self) -> &'a Clint<'a> {
        self.clint
    }

    /// UART0.
    pub fn uart(&self) -> &'a Uart16550<'a> {
        self.uart
    }
}

impl Chip for QemuVirt<'_> {
    fn has_pending_interrupts(&self) -> bool {
        self.router.has_pending()
    }

    fn service_pending_interrupts(&self) {
        self.router.service(|source| {
            if source == UART0_IRQ {
                self.uart.handle_interrupt();
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
    use crate::clint::{MtimeRegisters, MtimecmpRegisters};
    use crate::plic::PlicRegisters;
    use crate::uart::UartRegisters;
    use core::cell::{Cell, RefCell};
    use kernel::deferred_call::DeferredCalls;
    use kernel::hil::time::{Alarm, AlarmClient, Ticks64};
    use kernel::hil::uart::{self, Receive, ReceiveClient};
    use kernel::ErrorCode;
    use static_ref::fake;
    use std::boxed::Box;
    use std::vec::Vec;

    const PENDING: usize = 0x1000 / 4;
    const CLAIM: usize = 0x20_0004 / 4;
    const UART_LSR: usize = 5;

    fn leak<T>(t: T) -> &'static T {
        Box::leak(Box::new(t))
    }

    #[derive(Default)]
    struct Clients {
        alarms: Cell<usize>,
        received: RefCell<Vec<u8>>,
        extra: Cell<usize>,
    }

    impl AlarmClient for Clients {
        fn alarm(&self) {
            self.alarms.set(self.alarms.get() + 1);
        }
    }

    impl ReceiveClient for Clients {
        fn received_buffer(
            &self,
            buf: &'static mut [u8],
            len: usize,
            _: Result<(), ErrorCode>,
            _: uart::Error,
        ) {
            self.received.borrow_mut().extend_from_slice(&buf[..len]);
        }
    }

    impl InterruptHandler for Clients {
        fn handle_interrupt(&self, source: u32) -> bool {
            self.extra.set(self.extra.get() + 1);
            source == 5
        }
    }

    struct Setup {
        chip: &'static QemuVirt<'static>,
        plic_mem: &'static [Cell<u32>],
        mtime: &'static [Cell<u32>],
        uart_mem: &'static [Cell<u8>],
        clients: &'static Clients,
    }

    fn setup() -> Setup {
        let (plic_regs, plic_mem) = fake::registers::<PlicRegisters, u32>();
        let (mtime_regs, mtime) = fake::registers::<MtimeRegisters, u32>();
        let (cmp_regs, _) = fake::registers::<MtimecmpRegisters, u32>();
        let (uart_regs, uart_mem) = fake::registers::<UartRegisters, u8>();
        let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
        let plic = leak(Plic::new(plic_regs, crate::plic::NUM_SOURCES));
        let clint = leak(Clint::new(mtime_regs, cmp_regs));
        let uart = leak(Uart16550::new(
            uart_regs,
            3_686_400,
            calls.allocate().unwrap(),
        ));
        let chip = leak(QemuVirt::new(plic, clint, uart));
        let clients = leak(Clients::default());
        clint.set_alarm_client(clients);
        uart.set_receive_client(clients);
        chip.set_interrupt_handler(clients);
        chip.initialize();
        Setup {
            chip,
            plic_mem,
            mtime,
            uart_mem,
            clients,
        }
    }

    #[test]
    fn idle_after_initialize() {
        let s = setup();
        assert!(s.chip.plic().is_enabled(UART0_IRQ));
        assert!(!s.chip.has_pending_interrupts());
        s.chip.service_pending_interrupts();
        s.chip.sleep();
        assert_eq!(s.clients.alarms.get(), 0);
    }

    #[test]
    fn an_enabled_pending_source_is_pending() {
        let s = setup();
        s.plic_mem[PENDING].set(1 << 11);
        assert!(!s.chip.has_pending_interrupts(), "source 11 is not enabled");
        s.plic_mem[PENDING].set(1 << UART0_IRQ);
        assert!(s.chip.has_pending_interrupts());
    }

    #[test]
    fn a_due_timer_is_pending_and_serviced() {
        let s = setup();
        s.chip
            .clint()
            .set_alarm(Ticks64::from(0u32), Ticks64::from(100u32));
        assert!(!s.chip.has_pending_interrupts());
        s.mtime[0].set(100);
        assert!(s.chip.has_pending_interrupts());
        s.chip.service_pending_interrupts();
        assert_eq!(s.clients.alarms.get(), 1);
        assert!(!s.chip.has_pending_interrupts());
    }

    #[test]
    fn uart_interrupts_reach_the_uart() {
        let s = setup();
        let buf: &'static mut [u8] = Box::leak(Box::new([0u8; 2]));
        s.chip.uart().receive_buffer(buf, 2).unwrap();
        s.uart_mem[0].set(b'k');
        s.uart_mem[UART_LSR].set(0x01);
        s.plic_mem[CLAIM].set(UART0_IRQ);
        s.chip.service_pending_interrupts();
        assert_eq!(*s.clients.received.borrow(), b"kk");
        assert_eq!(s.plic_mem[CLAIM].get(), UART0_IRQ, "completed");
    }

    #[test]
    fn other_sources_go_to_the_handler_or_get_disabled() {
        let s = setup();
        s.chip.plic().enable(5);
        s.chip.plic().enable(7);
        // The fake claim register never clears: the claim loop is bounded.
        s.plic_mem[CLAIM].set(5);
        s.chip.service_pending_interrupts();
        assert_eq!(s.clients.extra.get(), MAX_CLAIMS);
        assert!(s.chip.plic().is_enabled(5));

        s.clients.extra.set(0);
        s.plic_mem[CLAIM].set(7);
        s.chip.service_pending_interrupts();
        assert!(s.clients.extra.get() > 0);
        assert!(!s.chip.plic().is_enabled(7), "unhandled source disabled");
        assert!(s.chip.plic().is_enabled(UART0_IRQ));
    }
}
