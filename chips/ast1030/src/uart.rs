//! UART5, the console of `ast1030-evb` (`-serial stdio`): a 16550 with its
//! registers four bytes apart ([`UartRegisters32`]) at `0x7E78_4000`,
//! NVIC interrupt 8. QEMU ignores the baud rate; the clock is the
//! AST1030's 24 MHz UART clock.

pub use ns16550::*;

/// Address of UART5.
pub const UART5_BASE: usize = 0x7E78_4000;
/// NVIC interrupt of UART5.
pub const UART5_IRQ: u32 = 8;
/// Input clock of the UARTs.
pub const UART_CLOCK_HZ: u32 = 24_000_000;

/// The UART driver on this chip's register spacing.
pub type Uart<'a> = Uart16550<'a, UartRegisters32>;

/// The register block of UART5 (only on ARM targets).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const UART5: StaticRef<UartRegisters32> =
    // SAFETY: on ast1030-evb a 16550 with a register shift of 2 is mapped
    // at `UART5_BASE`.
    unsafe { StaticRef::new(UART5_BASE as *const UartRegisters32) };
