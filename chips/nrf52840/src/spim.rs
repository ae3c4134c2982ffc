//! SPIM0 (SPI master with EasyDMA) as the [`SpiTransport`] of the shared
//! SPI NOR driver, for the nRF52840-DK's MX25R6435F.
//!
//! SPIM0 has no chip-select output of its own: the chip select is a GPIO
//! ([`ChipSelect`]), driven low around each transfer. A transfer is one
//! EasyDMA exchange: the bytes to send go out from a transmit buffer in
//! RAM, and the SPIM clocks in as many bytes as it clocks out, so a
//! command followed by data to read is sent as `tx` then [`ORC`] bytes
//! while the receive buffer takes `tx.len() + rx.len()` bytes, of which
//! the last `rx.len()` are the answer. The caller's slices may be in
//! flash (constant command bytes), so they are copied through the
//! driver's own RAM buffers ([`BUFFER`] bytes each: a 4-byte command and
//! a 256-byte page); a longer transfer answers `SIZE`.
//!
//! The transfer is waited for by polling `EVENTS_END` (bounded by
//! [`END_POLLS`]; `FAIL` if it never comes, with the SPIM stopped).

use kernel::ErrorCode;
use spi_nor::SpiTransport;
use static_ref::StaticRef;
use tock_cells::TakeCell;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadWrite, WriteOnly};

use crate::dma::{in_ram, EasyDma, MAX_COUNT};

/// Address of SPIM0.
pub const SPIM0_BASE: usize = 0x4000_3000;
/// `ENABLE` value that turns the SPIM on.
pub const ENABLE_SPIM: u32 = 7;
/// The byte sent while only receiving.
pub const ORC: u8 = 0xFF;
/// Bytes of each of the driver's transfer buffers.
pub const BUFFER: usize = 4 + 256;
/// Polls of `END` before a transfer fails (260 bytes at 8 MHz take
/// 260 us).
pub const END_POLLS: u32 = 1_000_000;
/// `FREQUENCY` value for 8 MHz.
pub const FREQUENCY_8M: u32 = 0x8000_0000;

register_structs! {
    /// The SPIM registers.
    pub SpimRegisters {
        (0x000 => _reserved0),
        /// Start a transfer.
        (0x010 => tasks_start: WriteOnly<u32>),
        /// Stop the transfer.
        (0x014 => tasks_stop: WriteOnly<u32>),
        (0x018 => _reserved1),
        /// The SPIM stopped.
        (0x104 => events_stopped: ReadWrite<u32>),
        (0x108 => _reserved2),
        /// The transfer is complete.
        (0x118 => events_end: ReadWrite<u32>),
        (0x11C => _reserved3),
        /// Enable interrupts (write 1s).
        (0x304 => intenset: ReadWrite<u32>),
        /// Disable interrupts (write 1s).
        (0x308 => intenclr: ReadWrite<u32>),
        (0x30C => _reserved4),
        /// [`ENABLE_SPIM`] or 0.
        (0x500 => enable: ReadWrite<u32>),
        (0x504 => _reserved5),
        /// SCK pin.
        (0x508 => psel_sck: ReadWrite<u32>),
        /// MOSI pin.
        (0x50C => psel_mosi: ReadWrite<u32>),
        /// MISO pin.
        (0x510 => psel_miso: ReadWrite<u32>),
        (0x514 => _reserved6),
        /// Clock rate.
        (0x524 => frequency: ReadWrite<u32>),
        (0x528 => _reserved7),
        /// Receive buffer address.
        (0x534 => rxd_ptr: ReadWrite<u32>),
        /// Receive buffer size.
        (0x538 => rxd_maxcnt: ReadWrite<u32>),
        /// Bytes received.
        (0x53C => rxd_amount: ReadWrite<u32>),
        (0x540 => _reserved8),
        /// Transmit buffer address.
        (0x544 => txd_ptr: ReadWrite<u32>),
        /// Transmit buffer size.
        (0x548 => txd_maxcnt: ReadWrite<u32>),
        /// Bytes sent.
        (0x54C => txd_amount: ReadWrite<u32>),
        (0x550 => _reserved9),
        /// Bit order and mode (0: MSB first, mode 0).
        (0x554 => config: ReadWrite<u32>),
        (0x558 => _reserved10),
        /// The byte clocked out once the transmit buffer is exhausted.
        (0x5C0 => orc: ReadWrite<u32>),
        (0x5C4 => @END),
    }
}

/// SPIM0 (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const SPIM0: StaticRef<SpimRegisters> =
    // SAFETY: the nRF52840 maps SPIM0 at `SPIM0_BASE`.
    unsafe { StaticRef::new(SPIM0_BASE as *const SpimRegisters) };

/// The chip-select line of the device on the bus.
pub trait ChipSelect {
    /// Selects the device (drives the line low).
    fn select(&self);
    /// Deselects it (drives the line high).
    fn deselect(&self);
}

impl<C: ChipSelect + ?Sized> ChipSelect for &C {
    fn select(&self) {
        (**self).select()
    }
    fn deselect(&self) {
        (**self).deselect()
    }
}

/// The bus pins (`PSEL` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pins {
    /// Clock.
    pub sck: u32,
    /// Data out.
    pub mosi: u32,
    /// Data in.
    pub miso: u32,
}

impl Pins {
    /// The nRF52840-DK's MX25R6435F: SCK P0.19, MOSI P0.20, MISO P0.21
    /// (chip select P0.17, WP P0.22 and HOLD P0.23 are GPIOs held high).
    pub const DK_FLASH: Pins = Pins {
        sck: 19,
        mosi: 20,
        miso: 21,
    };
}

/// SPIM0 with a GPIO chip select; see the [module docs](self).
pub struct Spim<D: EasyDma, C: ChipSelect> {
    regs: StaticRef<SpimRegisters>,
    dma: D,
    cs: C,
    tx: TakeCell<'static, [u8; BUFFER]>,
    rx: TakeCell<'static, [u8; BUFFER]>,
}

impl<D: EasyDma, C: ChipSelect> Spim<D, C> {
    /// The transport over `regs` with its two RAM buffers.
    pub fn new(
        regs: StaticRef<SpimRegisters>,
        dma: D,
        cs: C,
        tx: &'static mut [u8; BUFFER],
        rx: &'static mut [u8; BUFFER],
    ) -> Self {
        Spim {
            regs,
            dma,
            cs,
            tx: TakeCell::new(tx),
            rx: TakeCell::new(rx),
        }
    }

    /// Connects the pins, mode 0, MSB first, at 8 MHz, and enables the
    /// SPIM with the device deselected.
    pub fn initialize(&self, pins: Pins) {
        self.cs.deselect();
        self.regs.enable.set(0);
        self.regs.psel_sck.set(pins.sck);
        self.regs.psel_mosi.set(pins.mosi);
        self.regs.psel_miso.set(pins.miso);
        self.regs.config.set(0);
        self.regs.frequency.set(FREQUENCY_8M);
        self.regs.orc.set(u32::from(ORC));
        self.regs.intenclr.set(u32::MAX);
        self.regs.enable.set(ENABLE_SPIM);
    }

    /// The EasyDMA memory.
    pub fn dma(&self) -> &D {
        &self.dma
    }

    /// One selected exchange: `out` is sent (then [`ORC`]) while `inn`
    /// bytes are received into `rx` (then copied by `take`).
    fn exchange(
        &self,
        out: &[&[u8]],
        inn: usize,
        take: impl FnOnce(&[u8]),
    ) -> Result<(), ErrorCode> {
        let out_len: usize = out.iter().map(|s| s.len()).sum();
        if out_len > BUFFER || inn > BUFFER || out_len > MAX_COUNT {
            return Err(ErrorCode::SIZE);
        }
        let tx = self.tx.take().ok_or(ErrorCode::BUSY)?;
        let Some(rx) = self.rx.take() else {
            self.tx.replace(tx);
            return Err(ErrorCode::BUSY);
        };
        let mut at = 0;
        for piece in out {
            tx[at..at + piece.len()].copy_from_slice(piece);
            at += piece.len();
        }
        let result = self.run(&tx[..out_len], &mut rx[..inn]);
        if result.is_ok() {
            take(&rx[..inn]);
        }
        self.tx.replace(tx);
        self.rx.replace(rx);
        result
    }

    fn run(&self, tx: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode> {
        let tx_address = self.dma.device_reads(tx);
        let rx_address = self.dma.device_writes(rx);
        if !in_ram(tx_address, tx.len()) || !in_ram(rx_address, rx.len()) {
            return Err(ErrorCode::INVAL);
        }
        self.regs.txd_ptr.set(tx_address);
        self.regs.txd_maxcnt.set(tx.len() as u32);
        self.regs.rxd_ptr.set(rx_address);
        self.regs.rxd_maxcnt.set(rx.len() as u32);
        self.regs.events_end.set(0);
        self.cs.select();
        self.regs.tasks_start.set(1);
        let mut ended = false;
        for _ in 0..END_POLLS {
            if self.regs.events_end.get() != 0 {
                ended = true;
                break;
            }
            self.dma.wait();
        }
        if !ended {
            self.regs.tasks_stop.set(1);
        }
        self.cs.deselect();
        self.regs.events_end.set(0);
        if !ended {
            return Err(ErrorCode::FAIL);
        }
        self.dma.device_done(rx);
        let want = tx.len().max(rx.len()) as u32;
        if self.regs.txd_amount.get() != tx.len() as u32
            || self.regs.rxd_amount.get() != rx.len() as u32
            || want == 0
        {
            return Err(ErrorCode::FAIL);
        }
        Ok(())
    }
}

impl<D: EasyDma, C: ChipSelect> SpiTransport for Spim<D, C> {
    fn transfer(&self, tx: &[u8], rx: &mut [u8]) -> Result<(), ErrorCode> {
        let skip = tx.len();
        self.exchange(&[tx], skip + rx.len(), |got| {
            rx.copy_from_slice(&got[skip..]);
        })
    }

    fn write(&self, header: &[u8], data: &[u8]) -> Result<(), ErrorCode> {
        self.exchange(&[header, data], 0, |_| {})
    }
}
