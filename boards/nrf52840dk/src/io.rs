//! The kernel's panic handler: prints the panic and every process over
//! UARTE0 by polling (interrupts and deferred calls are not run), then
//! blinks LED1 forever.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicPtr, Ordering};

use cortexm::CortexM;
use kernel::hil::gpio::Output;
use kernel::Kernel;
use nrf52840::dma::Ram;
use nrf52840::gpio::{Port, GPIOTE, P0};
use nrf52840::uarte::{BlockingWriter, UARTE0};

/// The kernel, for the panic handler's process dump.
static KERNEL_FOR_PANIC: AtomicPtr<Kernel> = AtomicPtr::new(core::ptr::null_mut());

/// Lets the panic handler print the processes of `kernel`.
pub fn set_kernel(kernel: &'static Kernel) {
    KERNEL_FOR_PANIC.store(core::ptr::from_ref(kernel).cast_mut(), Ordering::Release);
}

/// Prints the panic and every process, then blinks LED1 (P0.13).
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut out = BlockingWriter::new(UARTE0, Ram);
    let _ = writeln!(out, "\r\nkernel panic: {info}");
    let kernel = KERNEL_FOR_PANIC.load(Ordering::Acquire);
    // SAFETY: the pointer is null or was made from the `&'static Kernel`
    // created once at boot; the kernel is never moved or freed.
    if let Some(kernel) = unsafe { kernel.as_ref() } {
        let _ = kernel.print_processes(&mut out, &CortexM);
    }
    let port = Port::new(P0, GPIOTE);
    let led = port.pin(13);
    led.make_output(true);
    loop {
        led.toggle();
        for _ in 0..4_000_000 {
            core::hint::spin_loop();
        }
    }
}
