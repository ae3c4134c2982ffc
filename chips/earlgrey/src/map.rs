//! Earl Grey's memory map and interrupt numbers (also QEMU's
//! `-M opentitan`).

#[cfg(all(target_arch = "riscv32", target_os = "none"))]
use {
    lowrisc::flash_ctrl::FlashCtrlRegisters, lowrisc::rv_timer::RvTimerRegisters,
    lowrisc::uart::UartRegisters, rv32i::plic::PlicRegisters, static_ref::StaticRef,
};

/// UART0.
pub const UART0_BASE: usize = 0x4000_0000;
/// `rv_timer`.
pub const RV_TIMER_BASE: usize = 0x4010_0000;
/// The flash controller's registers.
pub const FLASH_CTRL_BASE: usize = 0x4100_0000;
/// The PLIC.
pub const PLIC_BASE: usize = 0x4800_0000;
/// The embedded flash as the CPU reads it (1 MiB, two banks).
pub const FLASH_BASE: usize = 0x2000_0000;
/// Bytes of embedded flash.
pub const FLASH_SIZE: u32 = 0x10_0000;
/// Main SRAM.
pub const RAM_BASE: usize = 0x1000_0000;
/// Bytes of main SRAM.
pub const RAM_SIZE: u32 = 0x2_0000;
/// The peripherals' address range (UARTs to the PLIC and beyond): one
/// naturally aligned 256 MiB region.
pub const MMIO_BASE: usize = 0x4000_0000;
/// Bytes of the peripherals' range.
pub const MMIO_SIZE: u32 = 0x1000_0000;

/// PLIC sources, counting the reserved source 0.
pub const PLIC_SOURCES: usize = 185;
/// UART0's PLIC sources: TX watermark, RX watermark, TX empty, RX
/// overflow, RX frame error, RX break, RX timeout, RX parity error.
pub const UART0_IRQS: core::ops::RangeInclusive<u32> = 1..=8;

/// UART0's registers.
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const UART0: StaticRef<UartRegisters> =
    // SAFETY: Earl Grey (and QEMU's opentitan machine) map UART0 at
    // `UART0_BASE`; the block covers registers that exist there.
    unsafe { StaticRef::new(UART0_BASE as *const UartRegisters) };

/// `rv_timer`'s control registers.
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const RV_TIMER: StaticRef<RvTimerRegisters> =
    // SAFETY: `rv_timer` is mapped at `RV_TIMER_BASE`.
    unsafe { StaticRef::new(RV_TIMER_BASE as *const RvTimerRegisters) };

/// The PLIC's registers.
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const PLIC: StaticRef<PlicRegisters> =
    // SAFETY: the PLIC is mapped at `PLIC_BASE` with the standard RISC-V
    // layout; the driver touches only its `PLIC_SOURCES` sources.
    unsafe { StaticRef::new(PLIC_BASE as *const PlicRegisters) };

/// The flash controller's registers.
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const FLASH_CTRL: StaticRef<FlashCtrlRegisters> =
    // SAFETY: flash_ctrl's core registers are at `FLASH_CTRL_BASE`; the
    // block covers only registers that exist there, and only the flash
    // driver uses them.
    unsafe { StaticRef::new(FLASH_CTRL_BASE as *const FlashCtrlRegisters) };
