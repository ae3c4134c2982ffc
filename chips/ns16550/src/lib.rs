//! The NS16550A UART: the serial port of QEMU's RISC-V `virt` machine,
//! of the AST1030's UARTs and of many other chips. A chip crate gives the
//! register block ([`UartRegisters`], registers one byte apart, or
//! [`UartRegisters32`], four bytes apart), the input clock and the
//! interrupt wiring.
//!
//! [`Uart16550`] implements the kernel's [`uart`] HIL,
//! interrupt-driven:
//!
//! * **Transmit**: the request puts up to [`FIFO_DEPTH`] bytes into the
//!   transmit FIFO (if it is empty) and enables the "transmitter holding
//!   register empty" interrupt; every such interrupt refills the FIFO with
//!   up to 16 more bytes. The interrupt after the last byte left the FIFO
//!   completes the transmission.
//! * **Receive**: the request enables the "received data" and "line
//!   status" interrupts; each interrupt moves the bytes waiting in the FIFO
//!   into the buffer, and the reception completes once `len` bytes arrived.
//!   A parity, framing, break or overrun condition ends it early with
//!   `Err(FAIL)` and the matching [`uart::Error`]. While no reception is in
//!   flight the receive interrupts stay off and incoming bytes wait in the
//!   FIFO (16 bytes, then the UART reports an overrun).
//! * **Aborts** follow the HIL: `Ok(())` if nothing was in flight, else
//!   `Err(BUSY)` and the callback follows from a deferred call with
//!   `Err(CANCEL)`. For a transmission, bytes already handed to the FIFO
//!   still go out and count as sent.
//!
//! The chip calls [`Uart16550::handle_interrupt`] when the UART's
//! interrupt fires; the board registers the driver as the client of its
//! [`DeferredCall`] (see [`Uart16550::register_deferred_call`]).
//!
//! For the panic handler and early debugging, [`Uart16550::write_blocking`]
//! and [`BlockingWriter`] poll the line status register and work without
//! interrupts (and without the driver being configured: QEMU ignores the
//! line settings).

// The alignment checks that `register_structs!` generates compute `offset %
// 1` for byte registers.
#![allow(clippy::modulo_one)]
#![no_std]

use core::cell::Cell;
use core::fmt;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::uart::{
    self, Configure, Parameters, Parity, Receive, ReceiveClient, StopBits, Transmit,
    TransmitClient, Width,
};
use kernel::ErrorCode;
use tock_cells::{OptionalCell, TakeCell};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{Aliased, ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

pub use static_ref::StaticRef;

/// Bytes in each of the transmit and receive FIFOs.
pub const FIFO_DEPTH: usize = 16;

register_structs! {
    /// The 16550 register block: eight byte registers, one byte apart.
    pub UartRegisters {
        /// Receive buffer (read) / transmit holding (write); divisor latch
        /// low byte while `LCR.DLAB` is set.
        (0x0 => data: ReadWrite<u8>),
        /// Interrupt enable; divisor latch high byte while `LCR.DLAB` is set.
        (0x1 => ier: ReadWrite<u8, IER::Register>),
        /// Interrupt identification (read) / FIFO control (write).
        (0x2 => iir_fcr: Aliased<u8, IIR::Register, FCR::Register>),
        /// Line control.
        (0x3 => lcr: ReadWrite<u8, LCR::Register>),
        /// Modem control.
        (0x4 => mcr: ReadWrite<u8, MCR::Register>),
        /// Line status.
        (0x5 => lsr: ReadOnly<u8, LSR::Register>),
        /// Modem status.
        (0x6 => _msr: ReadOnly<u8>),
        /// Scratch.
        (0x7 => _scr: ReadWrite<u8>),
        (0x8 => @END),
    }
}

register_structs! {
    /// The same registers four bytes apart (a 16550 on a 32-bit bus with a
    /// register shift of 2, as the AST1030's UARTs): each register is the
    /// low byte of its word.
    pub UartRegisters32 {
        (0x00 => data: ReadWrite<u8>),
        (0x01 => _pad0),
        (0x04 => ier: ReadWrite<u8, IER::Register>),
        (0x05 => _pad1),
        (0x08 => iir_fcr: Aliased<u8, IIR::Register, FCR::Register>),
        (0x09 => _pad2),
        (0x0C => lcr: ReadWrite<u8, LCR::Register>),
        (0x0D => _pad3),
        (0x10 => mcr: ReadWrite<u8, MCR::Register>),
        (0x11 => _pad4),
        (0x14 => lsr: ReadOnly<u8, LSR::Register>),
        (0x15 => _pad5),
        (0x20 => @END),
    }
}

/// A 16550 register block, whatever the spacing of its registers
/// ([`UartRegisters`]: one byte apart; [`UartRegisters32`]: four).
pub trait Registers: 'static {
    /// Receive buffer / transmit holding (divisor low with `LCR.DLAB`).
    fn data(&self) -> &ReadWrite<u8>;
    /// Interrupt enable (divisor high with `LCR.DLAB`).
    fn ier(&self) -> &ReadWrite<u8, IER::Register>;
    /// Interrupt identification / FIFO control.
    fn iir_fcr(&self) -> &Aliased<u8, IIR::Register, FCR::Register>;
    /// Line control.
    fn lcr(&self) -> &ReadWrite<u8, LCR::Register>;
    /// Modem control.
    fn mcr(&self) -> &ReadWrite<u8, MCR::Register>;
    /// Line status.
    fn lsr(&self) -> &ReadOnly<u8, LSR::Register>;
}

/// Implements [`Registers`] for a register block with the usual names.
macro_rules! registers_impl {
    ($($block:ty),*) => {$(
        impl Registers for $block {
            fn data(&self) -> &ReadWrite<u8> {
                &self.data
            }
            fn ier(&self) -> &ReadWrite<u8, IER::Register> {
                &self.ier
            }
            fn iir_fcr(&self) -> &Aliased<u8, IIR::Register, FCR::Register> {
                &self.iir_fcr
            }
            fn lcr(&self) -> &ReadWrite<u8, LCR::Register> {
                &self.lcr
            }
            fn mcr(&self) -> &ReadWrite<u8, MCR::Register> {
                &self.mcr
            }
            fn lsr(&self) -> &ReadOnly<u8, LSR::Register> {
                &self.lsr
            }
        }
    )*};
}

registers_impl!(UartRegisters, UartRegisters32);

register_bitfields![u8,
    IER [
        /// Received data available (and character timeout).
        RX_DATA OFFSET(0) NUMBITS(1) [],
        /// Transmitter holding register (FIFO) empty.
        TX_EMPTY OFFSET(1) NUMBITS(1) [],
        /// Receiver line status (errors, break).
        LINE_STATUS OFFSET(2) NUMBITS(1) [],
        /// Modem status.
        MODEM_STATUS OFFSET(3) NUMBITS(1) []
    ],
    IIR [
        /// 1: no interrupt pending.
        NONE_PENDING OFFSET(0) NUMBITS(1) [],
        /// Which interrupt is pending.
        ID OFFSET(1) NUMBITS(3) [],
        /// FIFOs enabled.
        FIFOS OFFSET(6) NUMBITS(2) []
    ],
    FCR [
        /// Enable both FIFOs.
        ENABLE OFFSET(0) NUMBITS(1) [],
        /// Empty the receive FIFO.
        RX_RESET OFFSET(1) NUMBITS(1) [],
        /// Empty the transmit FIFO.
        TX_RESET OFFSET(2) NUMBITS(1) [],
        /// Receive FIFO interrupt trigger level.
        RX_TRIGGER OFFSET(6) NUMBITS(2) [
            One = 0,
            Four = 1,
            Eight = 2,
            Fourteen = 3
        ]
    ],
    LCR [
        /// Data bits per character.
        WORD_LENGTH OFFSET(0) NUMBITS(2) [
            Five = 0,
            Six = 1,
            Seven = 2,
            Eight = 3
        ],
        /// 1: two stop bits.
        TWO_STOP_BITS OFFSET(2) NUMBITS(1) [],
        /// Parity enabled.
        PARITY_ENABLE OFFSET(3) NUMBITS(1) [],
        /// 1: even parity, 0: odd parity.
        EVEN_PARITY OFFSET(4) NUMBITS(1) [],
        /// Stick parity.
        STICK_PARITY OFFSET(5) NUMBITS(1) [],
        /// Send a break.
        BREAK OFFSET(6) NUMBITS(1) [],
        /// Divisor latch access.
        DLAB OFFSET(7) NUMBITS(1) []
    ],
    MCR [
        /// Data terminal ready.
        DTR OFFSET(0) NUMBITS(1) [],
        /// Request to send.
        RTS OFFSET(1) NUMBITS(1) [],
        /// Auxiliary output 1.
        OUT1 OFFSET(2) NUMBITS(1) [],
        /// Auxiliary output 2 (gates the interrupt line on PC-style boards).
        OUT2 OFFSET(3) NUMBITS(1) [],
        /// Loopback.
        LOOPBACK OFFSET(4) NUMBITS(1) []
    ],
    LSR [
        /// A received byte is waiting.
        DATA_READY OFFSET(0) NUMBITS(1) [],
        /// A received byte was lost.
        OVERRUN OFFSET(1) NUMBITS(1) [],
        /// Parity error on the byte at the head of the FIFO.
        PARITY_ERROR OFFSET(2) NUMBITS(1) [],
        /// Framing error on the byte at the head of the FIFO.
        FRAMING_ERROR OFFSET(3) NUMBITS(1) [],
        /// Break received.
        BREAK OFFSET(4) NUMBITS(1) [],
        /// The transmit holding register (FIFO) is empty.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// The transmitter is idle (FIFO and shift register empty).
        TX_IDLE OFFSET(6) NUMBITS(1) [],
        /// Some byte in the receive FIFO has an error.
        FIFO_ERROR OFFSET(7) NUMBITS(1) []
    ]
];

/// Writes `bytes` to the UART at `regs`, waiting for the transmit FIFO to
/// empty before each group of [`FIFO_DEPTH`] bytes. Needs no interrupts.
fn write_blocking_to<R: Registers>(regs: &R, bytes: &[u8]) {
    for chunk in bytes.chunks(FIFO_DEPTH) {
        while !regs.lsr().is_set(LSR::TX_EMPTY) {
            core::hint::spin_loop();
        }
        for &byte in chunk {
            regs.data().set(byte);
        }
    }
}

/// A polling [`fmt::Write`] on a 16550, for the panic handler and early
/// debugging: needs no driver instance, interrupts or deferred calls.
///
/// ```text
/// // In a board's panic handler (RISC-V targets):
/// let mut out = BlockingWriter::new(qemu_rv32_virt_chip::uart::UART0);
/// let _ = writeln!(out, "panic: {info}");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BlockingWriter<R: Registers = UartRegisters> {
    regs: StaticRef<R>,
}

impl<R: Registers> BlockingWriter<R> {
    /// A writer on the UART at `regs`.
    pub const fn new(regs: StaticRef<R>) -> Self {
        BlockingWriter { regs }
    }

    /// Writes `bytes`, polling.
    pub fn write_bytes(&self, bytes: &[u8]) {
        write_blocking_to(&*self.regs, bytes);
    }
}

impl<R: Registers> fmt::Write for BlockingWriter<R> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// The interrupt-driven 16550 driver; see the [module docs](self).
pub struct Uart16550<'a, R: Registers = UartRegisters> {
    regs: StaticRef<R>,
    clock_hz: u32,
    deferred: DeferredCall,
    tx_client: OptionalCell<&'a dyn TransmitClient>,
    rx_client: OptionalCell<&'a dyn ReceiveClient>,
    /// The transmission in flight (`Some` from request to callback).
    tx_buffer: TakeCell<'static, [u8]>,
    tx_len: Cell<usize>,
    /// Bytes handed to the FIFO so far.
    tx_pos: Cell<usize>,
    /// The transmission was aborted; the deferred call completes it.
    tx_cancelled: Cell<bool>,
    /// The reception in flight (`Some` from request to callback).
    rx_buffer: TakeCell<'static, [u8]>,
    rx_len: Cell<usize>,
    /// Bytes received so far.
    rx_pos: Cell<usize>,
    /// The reception was aborted; the deferred call completes it.
    rx_cancelled: Cell<bool>,
}

impl<'a, R: Registers> Uart16550<'a, R> {
    /// A driver for the UART at `regs`, clocked at `clock_hz` (use
    /// 3,686,400 Hz for the `virt` machine's UART0), completing aborts
    /// from `deferred`.
    /// Bind the deferred call with
    /// [`register_deferred_call`](Self::register_deferred_call) once the
    /// driver is `'static`.
    pub const fn new(regs: StaticRef<R>, clock_hz: u32, deferred: DeferredCall) -> Self {
        Uart16550 {
            regs,
            clock_hz,
            deferred,
            tx_client: OptionalCell::empty(),
            rx_client: OptionalCell::empty(),
            tx_buffer: TakeCell::empty(),
            tx_len: Cell::new(0),
            tx_pos: Cell::new(0),
            tx_cancelled: Cell::new(false),
            rx_buffer: TakeCell::empty(),
            rx_len: Cell::new(0),
            rx_pos: Cell::new(0),
            rx_cancelled: Cell::new(false),
        }
    }

    /// Makes this driver the client of its deferred call.
    pub fn register_deferred_call(&'static self) {
        self.deferred.set_client(self);
    }

    /// Writes `bytes` synchronously by polling the line status register;
    /// usable without interrupts (panic handler, early debug output).
    /// Interleaves with a transmission in flight rather than waiting for it.
    pub fn write_blocking(&self, bytes: &[u8]) {
        write_blocking_to(&*self.regs, bytes);
    }

    /// A polling [`fmt::Write`] on this UART.
    pub fn blocking_writer(&self) -> BlockingWriter<R> {
        BlockingWriter::new(self.regs)
    }

    /// Services the UART's interrupt: moves received bytes into the
    /// reception in flight and refills the transmit FIFO. Called by the
    /// chip when the UART's interrupt is claimed (PLIC source 10 on `virt`); may call the
    /// clients.
    pub fn handle_interrupt(&self) {
        // Reading IIR acknowledges a pending "transmit FIFO empty"
        // interrupt; the rest is decided from the line status below.
        let _ = self.regs.iir_fcr().get();
        self.service_receive();
        self.service_transmit();
    }

    /// Puts as many bytes of the transmission as fit into the transmit
    /// FIFO, if it is empty.
    fn fill_fifo(&self) {
        if !self.regs.lsr().is_set(LSR::TX_EMPTY) {
            return;
        }
        let (pos, len) = (self.tx_pos.get(), self.tx_len.get());
        let end = len.min(pos + FIFO_DEPTH);
        self.tx_buffer.map(|buf| {
            for &byte in buf.get(pos..end).unwrap_or(&[]) {
                self.regs.data().set(byte);
            }
        });
        self.tx_pos.set(end);
    }

    fn service_transmit(&self) {
        if self.tx_buffer.is_none() || self.tx_cancelled.get() {
            return;
        }
        if !self.regs.lsr().is_set(LSR::TX_EMPTY) {
            return;
        }
        if self.tx_pos.get() < self.tx_len.get() {
            self.fill_fifo();
            return;
        }
        // Every byte went through the FIFO.
        self.regs.ier().modify(IER::TX_EMPTY::CLEAR);
        let len = self.tx_len.get();
        if let Some(buf) = self.tx_buffer.take() {
            self.tx_client
                .map(|client| client.transmitted_buffer(buf, len, Ok(())));
        }
    }

    fn service_receive(&self) {
        if self.rx_buffer.is_none() || self.rx_cancelled.get() {
            return;
        }
        // At most one FIFO's worth per interrupt: a stuck "data ready"
        // cannot keep the kernel here.
        for _ in 0..FIFO_DEPTH {
            let lsr = self.regs.lsr().extract();
            let error = if lsr.is_set(LSR::BREAK) {
                uart::Error::Break
            } else if lsr.is_set(LSR::FRAMING_ERROR) {
                uart::Error::Framing
            } else if lsr.is_set(LSR::PARITY_ERROR) {
                uart::Error::Parity
            } else if lsr.is_set(LSR::OVERRUN) {
                uart::Error::Overrun
            } else {
                uart::Error::None
            };
            if error != uart::Error::None {
                if error != uart::Error::Overrun && lsr.is_set(LSR::DATA_READY) {
                    // The byte at the head of the FIFO is the bad one.
                    let _ = self.regs.data().get();
                }
                self.finish_receive(Err(ErrorCode::FAIL), error);
                return;
            }
            if !lsr.is_set(LSR::DATA_READY) {
                return;
            }
            let byte = self.regs.data().get();
            let pos = self.rx_pos.get();
            self.rx_buffer.map(|buf| {
                if let Some(slot) = buf.get_mut(pos) {
                    *slot = byte;
                }
            });
            self.rx_pos.set(pos + 1);
            if pos + 1 >= self.rx_len.get() {
                self.finish_receive(Ok(()), uart::Error::None);
                return;
            }
        }
    }

    fn finish_receive(&self, rcode: Result<(), ErrorCode>, error: uart::Error) {
        self.regs
            .ier()
            .modify(IER::RX_DATA::CLEAR + IER::LINE_STATUS::CLEAR);
        let len = self.rx_pos.get();
        if let Some(buf) = self.rx_buffer.take() {
            self.rx_client
                .map(|client| client.received_buffer(buf, len, rcode, error));
        }
    }

    /// The baud rate divisor for `baud`, if the clock allows it.
    fn divisor(&self, baud: u32) -> Option<u16> {
        let (clock, baud) = (u64::from(self.clock_hz), u64::from(baud));
        // Rounded to the nearest divisor.
        let divisor = (clock + 8 * baud) / (16 * baud);
        u16::try_from(divisor).ok().filter(|&d| d != 0)
    }
}

impl<R: Registers> Configure for Uart16550<'_, R> {
    /// Programs the divisor and line format, enables and empties the FIFOs
    /// (receive interrupt at 1 byte) and sets DTR, RTS and OUT2.
    /// `NOSUPPORT` for hardware flow control and for a baud rate whose
    /// divisor is 0 or does not fit 16 bits.
    fn configure(&self, params: Parameters) -> Result<(), ErrorCode> {
        if params.baud_rate == 0 {
            return Err(ErrorCode::INVAL);
        }
        if self.tx_buffer.is_some() || self.rx_buffer.is_some() {
            return Err(ErrorCode::BUSY);
        }
        if params.hw_flow_control {
            return Err(ErrorCode::NOSUPPORT);
        }
        let divisor = self.divisor(params.baud_rate).ok_or(ErrorCode::NOSUPPORT)?;
        let [low, high] = divisor.to_le_bytes();

        let regs = &self.regs;
        regs.ier().set(0);
        regs.lcr().write(LCR::DLAB::SET);
        regs.data().set(low);
        regs.ier().set(high);
        let width = match params.width {
            Width::Six => LCR::WORD_LENGTH::Six,
            Width::Seven => LCR::WORD_LENGTH::Seven,
            Width::Eight => LCR::WORD_LENGTH::Eight,
        };
        let stop = match params.stop_bits {
            StopBits::One => LCR::TWO_STOP_BITS::CLEAR,
            StopBits::Two => LCR::TWO_STOP_BITS::SET,
        };
        let parity = match params.parity {
            Parity::None => LCR::PARITY_ENABLE::CLEAR,
            Parity::Odd => LCR::PARITY_ENABLE::SET + LCR::EVEN_PARITY::CLEAR,
            Parity::Even => LCR::PARITY_ENABLE::SET + LCR::EVEN_PARITY::SET,
        };
        regs.lcr().write(width + stop + parity);
        regs.iir_fcr().write(
            FCR::ENABLE::SET + FCR::RX_RESET::SET + FCR::TX_RESET::SET + FCR::RX_TRIGGER::One,
        );
        regs.mcr()
            .write(MCR::DTR::SET + MCR::RTS::SET + MCR::OUT2::SET);
        Ok(())
    }
}

impl<'a, R: Registers> Transmit<'a> for Uart16550<'a, R> {
    fn set_transmit_client(&self, client: &'a dyn TransmitClient) {
        self.tx_client.set(client);
    }

    fn transmit_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.tx_buffer.is_some() {
            return Err((ErrorCode::BUSY, buf));
        }
        if len == 0 || len > buf.len() {
            return Err((ErrorCode::SIZE, buf));
        }
        self.tx_buffer.replace(buf);
        self.tx_len.set(len);
        self.tx_pos.set(0);
        self.tx_cancelled.set(false);
        self.fill_fifo();
        self.regs.ier().modify(IER::TX_EMPTY::SET);
        Ok(())
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        if self.tx_buffer.is_none() {
            return Ok(());
        }
        if !self.tx_cancelled.get() {
            self.regs.ier().modify(IER::TX_EMPTY::CLEAR);
            self.tx_cancelled.set(true);
            self.deferred.set();
        }
        Err(ErrorCode::BUSY)
    }
}

impl<'a, R: Registers> Receive<'a> for Uart16550<'a, R> {
    fn set_receive_client(&self, client: &'a dyn ReceiveClient) {
        self.rx_client.set(client);
    }

    fn receive_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.rx_buffer.is_some() {
            return Err((ErrorCode::BUSY, buf));
        }
        if len == 0 || len > buf.len() {
            return Err((ErrorCode::SIZE, buf));
        }
        self.rx_buffer.replace(buf);
        self.rx_len.set(len);
        self.rx_pos.set(0);
        self.rx_cancelled.set(false);
        self.regs
            .ier()
            .modify(IER::RX_DATA::SET + IER::LINE_STATUS::SET);
        Ok(())
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        if self.rx_buffer.is_none() {
            return Ok(());
        }
        if !self.rx_cancelled.get() {
            self.regs
                .ier()
                .modify(IER::RX_DATA::CLEAR + IER::LINE_STATUS::CLEAR);
            self.rx_cancelled.set(true);
            self.deferred.set();
        }
        Err(ErrorCode::BUSY)
    }
}

impl<R: Registers> DeferredCallClient for Uart16550<'_, R> {
    /// Completes aborted transfers.
    fn handle_deferred_call(&self) {
        if self.tx_cancelled.get() {
            self.tx_cancelled.set(false);
            let sent = self.tx_pos.get();
            if let Some(buf) = self.tx_buffer.take() {
                self.tx_client
                    .map(|client| client.transmitted_buffer(buf, sent, Err(ErrorCode::CANCEL)));
            }
        }
        if self.rx_cancelled.get() {
            self.rx_cancelled.set(false);
            let received = self.rx_pos.get();
            if let Some(buf) = self.rx_buffer.take() {
                self.rx_client.map(|client| {
                    client.received_buffer(
                        buf,
                        received,
                        Err(ErrorCode::CANCEL),
                        uart::Error::Aborted,
                    )
                });
            }
        }
    }
}

impl<R: Registers> kernel::platform::DebugOutput for Uart16550<'_, R> {
    /// Formats straight to the UART, polling (see
    /// [`write_blocking`](Uart16550::write_blocking)).
    fn write_fmt(&self, args: fmt::Arguments<'_>) {
        let _ = fmt::write(&mut self.blocking_writer(), args);
    }
}

#[cfg(test)]
mod tests;
