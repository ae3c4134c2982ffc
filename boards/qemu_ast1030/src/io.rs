//! The kernel's panic handler: prints the panic and every process with
//! polling UART writes (interrupts and deferred calls are not run), then
//! leaves QEMU with status 254 (semihosting).

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicPtr, Ordering};

use ast1030_chip::uart;
use cortexm::CortexM;
use kernel::Kernel;

/// The kernel, for the panic handler's process dump.
static KERNEL_FOR_PANIC: AtomicPtr<Kernel> = AtomicPtr::new(core::ptr::null_mut());

/// Lets the panic handler print the processes of `kernel`.
pub fn set_kernel(kernel: &'static Kernel) {
    KERNEL_FOR_PANIC.store(core::ptr::from_ref(kernel).cast_mut(), Ordering::Release);
}

/// Leaves QEMU with status `code` (semihosting; QEMU runs with
/// `-semihosting-config enable=on,target=native`).
pub fn exit(code: u16) -> ! {
    cortexm::semihosting::exit(u32::from(code))
}

/// Prints the panic and every process, then leaves QEMU with status 254.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut out = uart::BlockingWriter::new(uart::UART5);
    let _ = writeln!(out, "\r\nkernel panic: {info}");
    let kernel = KERNEL_FOR_PANIC.load(Ordering::Acquire);
    // SAFETY: the pointer is null or was made from the `&'static Kernel`
    // created once at boot; the kernel is never moved or freed.
    if let Some(kernel) = unsafe { kernel.as_ref() } {
        let _ = kernel.print_processes(&mut out, &CortexM);
    }
    exit(254)
}
