//! UARTE0: the UART with EasyDMA, as the kernel's [`uart`] HIL.
//!
//! * **Transmit**: the buffer is handed to EasyDMA (`TXD.PTR`,
//!   `TXD.MAXCNT`) in pieces of at most [`MAX_COUNT`] bytes and `STARTTX`
//!   triggered; each `ENDTX` interrupt adds `TXD.AMOUNT` to the bytes sent
//!   and starts the next piece, and the last completes the transmission.
//! * **Receive**: EasyDMA writes up to `len` bytes straight into the
//!   buffer (`RXD.PTR`, `RXD.MAXCNT`), and `ENDRX` completes the reception
//!   with `RXD.AMOUNT` bytes. An `ERROR` event (overrun, parity, framing,
//!   break; `ERRORSRC`) stops the receiver; the `ENDRX` that follows ends
//!   the reception with `Err(FAIL)` and the matching [`uart::Error`].
//! * **Aborts**: `STOPTX` / `STOPRX`; the chip then raises `ENDTX` /
//!   `ENDRX` even if the buffer was not done, and that completes the
//!   request with `Err(CANCEL)` and the bytes moved so far. Nothing in
//!   flight: `Ok(())`.
//!
//! Buffers must lie in the Data RAM (EasyDMA reaches nothing else):
//! otherwise the request answers `INVAL`. The chip calls
//! [`Uarte::handle_interrupt`] for NVIC interrupt [`UARTE0_IRQ`].
//!
//! For the panic handler, [`BlockingWriter`] sends through a small
//! buffer on the stack and polls `ENDTX`, without interrupts.

use core::cell::Cell;
use core::fmt;

use kernel::hil::uart::{
    self, Configure, Parameters, Parity, Receive, ReceiveClient, StopBits, Transmit,
    TransmitClient, Width,
};
use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_cells::{OptionalCell, TakeCell};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use crate::dma::{in_ram, EasyDma, MAX_COUNT};

/// Address of UARTE0.
pub const UARTE0_BASE: usize = 0x4000_2000;
/// NVIC interrupt of UARTE0.
pub const UARTE0_IRQ: u32 = 2;
/// `ENABLE` value that turns the UARTE on.
pub const ENABLE_UARTE: u32 = 8;
/// A `PSEL` value with no pin connected.
pub const DISCONNECTED: u32 = 1 << 31;
/// Polls of `ENDTX` per piece in [`BlockingWriter`] (a 16-byte piece at
/// 115200 baud takes 1.4 ms).
pub const BLOCKING_POLLS: u32 = 2_000_000;

register_structs! {
    /// The UARTE registers.
    pub UarteRegisters {
        /// Start the receiver.
        (0x000 => tasks_startrx: WriteOnly<u32>),
        /// Stop the receiver.
        (0x004 => tasks_stoprx: WriteOnly<u32>),
        /// Start the transmitter.
        (0x008 => tasks_starttx: WriteOnly<u32>),
        /// Stop the transmitter.
        (0x00C => tasks_stoptx: WriteOnly<u32>),
        (0x010 => _reserved0),
        /// The receive buffer is full (or the receiver stopped).
        (0x110 => events_endrx: ReadWrite<u32>),
        (0x114 => _reserved1),
        /// The transmit buffer was sent (or the transmitter stopped).
        (0x120 => events_endtx: ReadWrite<u32>),
        /// A receive error (details in `errorsrc`).
        (0x124 => events_error: ReadWrite<u32>),
        (0x128 => _reserved2),
        /// The receiver stopped and its FIFO is flushed.
        (0x144 => events_rxto: ReadWrite<u32>),
        (0x148 => _reserved3),
        /// The transmitter stopped.
        (0x158 => events_txstopped: ReadWrite<u32>),
        (0x15C => _reserved4),
        /// Enable interrupts (write 1s).
        (0x304 => intenset: ReadWrite<u32, INT::Register>),
        /// Disable interrupts (write 1s).
        (0x308 => intenclr: ReadWrite<u32, INT::Register>),
        (0x30C => _reserved5),
        /// What went wrong (write 1s to clear).
        (0x480 => errorsrc: ReadWrite<u32, ERRORSRC::Register>),
        (0x484 => _reserved6),
        /// [`ENABLE_UARTE`] or 0.
        (0x500 => enable: ReadWrite<u32>),
        (0x504 => _reserved7),
        /// RTS pin.
        (0x508 => psel_rts: ReadWrite<u32>),
        /// TXD pin.
        (0x50C => psel_txd: ReadWrite<u32>),
        /// CTS pin.
        (0x510 => psel_cts: ReadWrite<u32>),
        /// RXD pin.
        (0x514 => psel_rxd: ReadWrite<u32>),
        (0x518 => _reserved8),
        /// Baud rate.
        (0x524 => baudrate: ReadWrite<u32>),
        (0x528 => _reserved9),
        /// Receive buffer address.
        (0x534 => rxd_ptr: ReadWrite<u32>),
        /// Receive buffer size.
        (0x538 => rxd_maxcnt: ReadWrite<u32>),
        /// Bytes received into the last buffer.
        (0x53C => rxd_amount: ReadOnly<u32>),
        (0x540 => _reserved10),
        /// Transmit buffer address.
        (0x544 => txd_ptr: ReadWrite<u32>),
        /// Transmit buffer size.
        (0x548 => txd_maxcnt: ReadWrite<u32>),
        /// Bytes sent from the last buffer.
        (0x54C => txd_amount: ReadOnly<u32>),
        (0x550 => _reserved11),
        /// Parity, stop bits and flow control.
        (0x56C => config: ReadWrite<u32, CONFIG::Register>),
        (0x570 => @END),
    }
}

register_bitfields![u32,
    /// Interrupt enable bits.
    INT [
        /// `ENDRX`.
        ENDRX OFFSET(4) NUMBITS(1) [],
        /// `ENDTX`.
        ENDTX OFFSET(8) NUMBITS(1) [],
        /// `ERROR`.
        ERROR OFFSET(9) NUMBITS(1) [],
        /// `RXTO`.
        RXTO OFFSET(17) NUMBITS(1) [],
        /// `TXSTOPPED`.
        TXSTOPPED OFFSET(22) NUMBITS(1) []
    ],
    /// Error sources.
    ERRORSRC [
        /// A byte arrived with the receive FIFO full.
        OVERRUN OFFSET(0) NUMBITS(1) [],
        /// Wrong parity.
        PARITY OFFSET(1) NUMBITS(1) [],
        /// No valid stop bit.
        FRAMING OFFSET(2) NUMBITS(1) [],
        /// The line was held low for longer than a frame.
        BREAK OFFSET(3) NUMBITS(1) []
    ],
    /// Line configuration.
    CONFIG [
        /// RTS/CTS flow control.
        HWFC OFFSET(0) NUMBITS(1) [],
        /// Even parity when `Included`.
        PARITY OFFSET(1) NUMBITS(3) [Excluded = 0, Included = 7],
        /// Two stop bits.
        STOP OFFSET(4) NUMBITS(1) []
    ]
];

/// UARTE0 (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const UARTE0: StaticRef<UarteRegisters> =
    // SAFETY: the nRF52840 maps UARTE0 at `UARTE0_BASE`.
    unsafe { StaticRef::new(UARTE0_BASE as *const UarteRegisters) };

/// The `BAUDRATE` value for `baud`, for the rates the UARTE supports.
pub fn baudrate_register(baud: u32) -> Option<u32> {
    Some(match baud {
        1200 => 0x0004_F000,
        2400 => 0x0009_D000,
        4800 => 0x0013_B000,
        9600 => 0x0027_5000,
        14400 => 0x003A_F000,
        19200 => 0x004E_A000,
        28800 => 0x0075_C000,
        38400 => 0x009D_0000,
        57600 => 0x00EB_0000,
        76800 => 0x013A_9000,
        115_200 => 0x01D6_0000,
        230_400 => 0x03B0_0000,
        250_000 => 0x0400_0000,
        460_800 => 0x0740_0000,
        921_600 => 0x0F00_0000,
        1_000_000 => 0x1000_0000,
        _ => return None,
    })
}

/// The pins of a UARTE (`PSEL` values: pin number, port in bit 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pins {
    /// TXD.
    pub txd: u32,
    /// RXD.
    pub rxd: u32,
    /// CTS, if flow control is wired.
    pub cts: Option<u32>,
    /// RTS, if flow control is wired.
    pub rts: Option<u32>,
}

impl Pins {
    /// The nRF52840-DK's UARTE0 pins, wired to the J-Link's serial port:
    /// TX P0.06, RX P0.08, CTS P0.07, RTS P0.05.
    pub const DK: Pins = Pins {
        txd: 6,
        rxd: 8,
        cts: Some(7),
        rts: Some(5),
    };
}

/// The UARTE driver; see the [module docs](self).
pub struct Uarte<'a, D: EasyDma> {
    regs: StaticRef<UarteRegisters>,
    dma: D,
    tx_client: OptionalCell<&'a dyn TransmitClient>,
    rx_client: OptionalCell<&'a dyn ReceiveClient>,
    tx_buffer: TakeCell<'static, [u8]>,
    tx_len: Cell<usize>,
    /// Bytes of the transmission that went out in earlier pieces.
    tx_done: Cell<usize>,
    tx_aborting: Cell<bool>,
    rx_buffer: TakeCell<'static, [u8]>,
    rx_aborting: Cell<bool>,
    rx_error: Cell<uart::Error>,
}

impl<'a, D: EasyDma> Uarte<'a, D> {
    /// The driver over `regs`; EasyDMA through `dma`. Call
    /// [`initialize`](Self::initialize), then configure it.
    pub const fn new(regs: StaticRef<UarteRegisters>, dma: D) -> Self {
        Uarte {
            regs,
            dma,
            tx_client: OptionalCell::empty(),
            rx_client: OptionalCell::empty(),
            tx_buffer: TakeCell::empty(),
            tx_len: Cell::new(0),
            tx_done: Cell::new(0),
            tx_aborting: Cell::new(false),
            rx_buffer: TakeCell::empty(),
            rx_aborting: Cell::new(false),
            rx_error: Cell::new(uart::Error::None),
        }
    }

    /// Connects the pins and enables the UARTE.
    pub fn initialize(&self, pins: Pins) {
        self.regs.enable.set(0);
        self.regs.psel_txd.set(pins.txd);
        self.regs.psel_rxd.set(pins.rxd);
        self.regs.psel_cts.set(pins.cts.unwrap_or(DISCONNECTED));
        self.regs.psel_rts.set(pins.rts.unwrap_or(DISCONNECTED));
        self.regs.intenclr.set(u32::MAX);
        self.regs.enable.set(ENABLE_UARTE);
    }

    /// The EasyDMA memory.
    pub fn dma(&self) -> &D {
        &self.dma
    }

    /// A polling writer on this UARTE (see [`BlockingWriter`]).
    pub fn blocking_writer(&self) -> BlockingWriter<&D> {
        BlockingWriter::new(self.regs, &self.dma)
    }

    /// Starts the next piece of the transmission in flight.
    fn start_tx_piece(&self) -> Result<(), ErrorCode> {
        let (done, len) = (self.tx_done.get(), self.tx_len.get());
        let end = len.min(done + MAX_COUNT);
        let started = self.tx_buffer.map(|buf| {
            let piece = buf.get(done..end).unwrap_or(&[]);
            let address = self.dma.device_reads(piece);
            if piece.is_empty() || !in_ram(address, piece.len()) {
                return Err(ErrorCode::INVAL);
            }
            self.regs.txd_ptr.set(address);
            self.regs.txd_maxcnt.set(piece.len() as u32);
            self.regs.events_endtx.set(0);
            self.regs.intenset.write(INT::ENDTX::SET);
            self.regs.tasks_starttx.set(1);
            Ok(())
        });
        started.unwrap_or(Err(ErrorCode::FAIL))
    }

    /// Services the UARTE's interrupt: `ENDTX`, `ERROR`, `ENDRX`. May call
    /// the clients.
    pub fn handle_interrupt(&self) {
        if self.regs.events_error.get() != 0 {
            self.regs.events_error.set(0);
            let src = self.regs.errorsrc.extract();
            self.regs.errorsrc.set(src.get());
            let error = if src.is_set(ERRORSRC::BREAK) {
                uart::Error::Break
            } else if src.is_set(ERRORSRC::FRAMING) {
                uart::Error::Framing
            } else if src.is_set(ERRORSRC::PARITY) {
                uart::Error::Parity
            } else {
                uart::Error::Overrun
            };
            if self.rx_buffer.is_some() && self.rx_error.get() == uart::Error::None {
                self.rx_error.set(error);
                self.regs.tasks_stoprx.set(1);
            }
        }
        if self.regs.events_endtx.get() != 0 {
            self.regs.events_endtx.set(0);
            self.service_transmit();
        }
        if self.regs.events_endrx.get() != 0 {
            self.regs.events_endrx.set(0);
            self.service_receive();
        }
    }

    fn service_transmit(&self) {
        if self.tx_buffer.is_none() {
            return;
        }
        let sent = self.tx_done.get() + self.regs.txd_amount.get() as usize;
        self.tx_done.set(sent.min(self.tx_len.get()));
        let result = if self.tx_aborting.get() {
            Err(ErrorCode::CANCEL)
        } else if self.tx_done.get() < self.tx_len.get() {
            match self.start_tx_piece() {
                Ok(()) => return,
                Err(e) => Err(e),
            }
        } else {
            Ok(())
        };
        // The transmitter stays started (an abort stopped it already): the
        // next STARTTX simply sends the next buffer.
        self.regs.intenclr.write(INT::ENDTX::SET);
        self.tx_aborting.set(false);
        if let Some(buf) = self.tx_buffer.take() {
            let sent = self.tx_done.get();
            self.tx_client
                .map(|client| client.transmitted_buffer(buf, sent, result));
        }
    }

    fn service_receive(&self) {
        let Some(buf) = self.rx_buffer.take() else {
            return;
        };
        self.regs.intenclr.write(INT::ENDRX::SET + INT::ERROR::SET);
        let received = (self.regs.rxd_amount.get() as usize).min(buf.len());
        self.dma.device_done(buf);
        let error = self.rx_error.replace(uart::Error::None);
        let (rcode, error) = if self.rx_aborting.replace(false) {
            (Err(ErrorCode::CANCEL), uart::Error::Aborted)
        } else if error != uart::Error::None {
            (Err(ErrorCode::FAIL), error)
        } else {
            (Ok(()), uart::Error::None)
        };
        self.rx_client
            .map(|client| client.received_buffer(buf, received, rcode, error));
    }
}

impl<D: EasyDma> Configure for Uarte<'_, D> {
    /// Baud rates of [`baudrate_register`]; 8 data bits; no or even
    /// parity; one or two stop bits; flow control if its pins are
    /// connected. `NOSUPPORT` for anything else.
    fn configure(&self, params: Parameters) -> Result<(), ErrorCode> {
        if params.baud_rate == 0 {
            return Err(ErrorCode::INVAL);
        }
        if self.tx_buffer.is_some() || self.rx_buffer.is_some() {
            return Err(ErrorCode::BUSY);
        }
        let baud = baudrate_register(params.baud_rate).ok_or(ErrorCode::NOSUPPORT)?;
        if params.width != Width::Eight || params.parity == Parity::Odd {
            return Err(ErrorCode::NOSUPPORT);
        }
        if params.hw_flow_control
            && (self.regs.psel_cts.get() & DISCONNECTED != 0
                || self.regs.psel_rts.get() & DISCONNECTED != 0)
        {
            return Err(ErrorCode::NOSUPPORT);
        }
        let parity = match params.parity {
            Parity::Even => CONFIG::PARITY::Included,
            _ => CONFIG::PARITY::Excluded,
        };
        let stop = match params.stop_bits {
            StopBits::One => CONFIG::STOP::CLEAR,
            StopBits::Two => CONFIG::STOP::SET,
        };
        let hwfc = if params.hw_flow_control {
            CONFIG::HWFC::SET
        } else {
            CONFIG::HWFC::CLEAR
        };
        self.regs.baudrate.set(baud);
        self.regs.config.write(parity + stop + hwfc);
        Ok(())
    }
}

impl<'a, D: EasyDma> Transmit<'a> for Uarte<'a, D> {
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
        self.tx_done.set(0);
        self.tx_aborting.set(false);
        if let Err(e) = self.start_tx_piece() {
            return match self.tx_buffer.take() {
                Some(buf) => Err((e, buf)),
                None => Ok(()),
            };
        }
        Ok(())
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        if self.tx_buffer.is_none() {
            return Ok(());
        }
        if !self.tx_aborting.replace(true) {
            self.regs.tasks_stoptx.set(1);
        }
        Err(ErrorCode::BUSY)
    }
}

impl<'a, D: EasyDma> Receive<'a> for Uarte<'a, D> {
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
        if len == 0 || len > buf.len() || len > MAX_COUNT {
            return Err((ErrorCode::SIZE, buf));
        }
        let address = self.dma.device_writes(&mut buf[..len]);
        if !in_ram(address, len) {
            return Err((ErrorCode::INVAL, buf));
        }
        self.rx_buffer.replace(buf);
        self.rx_aborting.set(false);
        self.rx_error.set(uart::Error::None);
        self.regs.rxd_ptr.set(address);
        self.regs.rxd_maxcnt.set(len as u32);
        self.regs.events_endrx.set(0);
        self.regs.events_error.set(0);
        self.regs.intenset.write(INT::ENDRX::SET + INT::ERROR::SET);
        self.regs.tasks_startrx.set(1);
        Ok(())
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        if self.rx_buffer.is_none() {
            return Ok(());
        }
        if !self.rx_aborting.replace(true) {
            self.regs.tasks_stoprx.set(1);
        }
        Err(ErrorCode::BUSY)
    }
}

impl<D: EasyDma> kernel::platform::DebugOutput for Uarte<'_, D> {
    /// Formats straight to the UARTE, polling (see [`BlockingWriter`]).
    fn write_fmt(&self, args: fmt::Arguments<'_>) {
        let _ = fmt::write(&mut self.blocking_writer(), args);
    }
}

/// Writes to a UARTE by polling, without interrupts or a driver: for the
/// panic handler and early output. Bytes go out in pieces through a
/// buffer on the stack (in RAM, where EasyDMA reaches), each awaited by
/// polling `ENDTX` (bounded). A transmission of the driver in flight is
/// not waited for: its remaining bytes may be lost.
pub struct BlockingWriter<D: EasyDma> {
    regs: StaticRef<UarteRegisters>,
    dma: D,
}

impl<D: EasyDma> BlockingWriter<D> {
    /// A writer on the UARTE at `regs` (already enabled and configured).
    pub fn new(regs: StaticRef<UarteRegisters>, dma: D) -> Self {
        BlockingWriter { regs, dma }
    }

    /// Polls `ENDTX`; false if it did not come.
    fn wait_endtx(&self) -> bool {
        for _ in 0..BLOCKING_POLLS {
            if self.regs.events_endtx.get() != 0 {
                return true;
            }
            self.dma.wait();
        }
        false
    }

    /// Sends `bytes`; gives up (dropping output) if the UARTE does not
    /// answer.
    pub fn write_bytes(&self, bytes: &[u8]) {
        let mut piece = [0u8; 16];
        for chunk in bytes.chunks(piece.len()) {
            let piece = &mut piece[..chunk.len()];
            piece.copy_from_slice(chunk);
            let address = self.dma.device_reads(piece);
            if !in_ram(address, piece.len()) {
                return;
            }
            self.regs.events_endtx.set(0);
            self.regs.txd_ptr.set(address);
            self.regs.txd_maxcnt.set(piece.len() as u32);
            self.regs.tasks_starttx.set(1);
            if !self.wait_endtx() {
                return;
            }
        }
    }
}

impl<D: EasyDma> fmt::Write for BlockingWriter<D> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
