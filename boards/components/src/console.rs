//! The console driver (1) over a UART, with the kernel's own output
//! buffer.

use capsules_core::console::{self, Console, ConsoleUart};
use kernel::deferred_call::DeferredCalls;
use kernel::Kernel;

use crate::{deferred_call, ComponentError};

/// Deferred calls the console takes.
pub const DEFERRED_CALLS: usize = 1;

/// Bytes of the console's transmit and receive buffers: one UART
/// transfer each.
pub const UART_BUFFER: usize = 64;

/// The console's home: its UART buffers, a `KERNEL_OUT`-byte ring for the
/// kernel's own output, and the driver.
pub struct ConsoleMemory<const KERNEL_OUT: usize> {
    tx: [u8; UART_BUFFER],
    rx: [u8; UART_BUFFER],
    kernel_out: [u8; KERNEL_OUT],
    console: Option<Console<'static>>,
}

impl<const KERNEL_OUT: usize> ConsoleMemory<KERNEL_OUT> {
    /// Empty memory, for [`console()`].
    pub const fn new() -> Self {
        ConsoleMemory {
            tx: [0; UART_BUFFER],
            rx: [0; UART_BUFFER],
            kernel_out: [0; KERNEL_OUT],
            console: None,
        }
    }
}

impl<const KERNEL_OUT: usize> Default for ConsoleMemory<KERNEL_OUT> {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds the console on `uart` (registers its grant with `kernel`, takes
/// [`DEFERRED_CALLS`] of `calls`, becomes the UART's client).
pub fn console<const KERNEL_OUT: usize, const N: usize>(
    memory: &'static mut ConsoleMemory<KERNEL_OUT>,
    uart: &'static dyn ConsoleUart<'static>,
    kernel: &'static Kernel,
    calls: &'static DeferredCalls<N>,
) -> Result<&'static Console<'static>, ComponentError> {
    let grant = kernel.create_grant::<console::App>(console::DRIVER_NUM, console::ALLOW_COUNTS)?;
    let deferred = deferred_call(calls)?;
    let ConsoleMemory {
        tx,
        rx,
        kernel_out,
        console,
    } = memory;
    let console: &'static Console<'static> =
        console.insert(Console::new(uart, grant, tx, rx, kernel_out, deferred));
    console.setup();
    Ok(console)
}
