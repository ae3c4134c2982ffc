//! UART0 of the `virt` machine: an NS16550A ([`ns16550`]) at
//! `0x1000_0000`, PLIC source 10, clocked at 3.6864 MHz.

pub use ns16550::*;

/// Address of UART0 on the `virt` machine.
pub const UART0_BASE: usize = 0x1000_0000;
/// PLIC source of UART0.
pub const UART0_IRQ: u32 = 10;
/// Input clock of UART0 (the device tree's `clock-frequency`), from which
/// the baud rate divisor is computed.
pub const UART0_CLOCK_HZ: u32 = 3_686_400;

/// The register block of UART0 (only on RISC-V targets).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const UART0: StaticRef<UartRegisters> =
    // SAFETY: on the `virt` machine a 16550 register block (byte
    // registers, no address shift) is mapped at `UART0_BASE`.
    unsafe { StaticRef::new(UART0_BASE as *const UartRegisters) };
