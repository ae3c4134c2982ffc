//! The kernel's panic handler: prints the panic and every process with
//! polling UART writes (interrupts and deferred calls are not run); a
//! test kernel then leaves QEMU with status 254 (semihosting), a board
//! kernel stops there.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicPtr, Ordering};

use earlgrey::map;
use kernel::Kernel;
use lowrisc::uart::BlockingWriter;
use rv32i::Rv32i;

/// The kernel, for the panic handler's process dump.
static KERNEL_FOR_PANIC: AtomicPtr<Kernel> = AtomicPtr::new(core::ptr::null_mut());

/// Lets the panic handler print the processes of `kernel`.
pub fn set_kernel(kernel: &'static Kernel) {
    KERNEL_FOR_PANIC.store(core::ptr::from_ref(kernel).cast_mut(), Ordering::Release);
}

/// Leaves QEMU with status `code` (semihosting: QEMU runs with
/// `-semihosting-config enable=on,target=native`).
#[cfg(feature = "test-exit")]
pub fn exit(code: u16) -> ! {
    rv32i::semihosting::exit(u32::from(code))
}

/// Prints the panic and every process, then ends the run (test kernel)
/// or stops.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut out = BlockingWriter::new(map::UART0);
    let _ = writeln!(out, "\r\nkernel panic: {info}");
    let kernel = KERNEL_FOR_PANIC.load(Ordering::Acquire);
    // SAFETY: the pointer is null or was made from the `&'static Kernel`
    // created once at boot; the kernel is never moved or freed.
    if let Some(kernel) = unsafe { kernel.as_ref() } {
        let _ = kernel.print_processes(&mut out, &Rv32i);
    }
    #[cfg(feature = "test-exit")]
    exit(254);
    #[cfg(not(feature = "test-exit"))]
    loop {
        rv32i::csr::wait_for_interrupt_if(|| true);
    }
}
