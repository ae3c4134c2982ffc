//! The lowRISC UART (OpenTitan `uart`), interrupt-driven, as the kernel's
//! [`uart`] HIL.
//!
//! The block: `CTRL` enables transmit and receive and holds the baud
//! rate's NCO (`NCO = baud * 2^20 / clock`), `STATUS` shows the FIFOs'
//! state, `WDATA` and `RDATA` are the FIFO ends (transmit FIFO 32 bytes
//! on Earl Grey, 16 in QEMU), `FIFO_CTRL` resets them and sets their
//! interrupt levels, `INTR_STATE` (write 1 to clear) and `INTR_ENABLE`
//! hold the interrupts, each its own PLIC source on Earl Grey.
//!
//! * **Transmit**: the request fills the transmit FIFO until it is full
//!   and enables the `TX_EMPTY` interrupt; each such interrupt refills it;
//!   the interrupt that finds the FIFO empty with every byte handed over
//!   completes the transmission.
//! * **Receive**: the request enables the `RX_WATERMARK` interrupt (one
//!   byte) and the receive error interrupts; each moves the waiting bytes
//!   into the buffer, and the reception completes once `len` bytes
//!   arrived, or early with `Err(FAIL)` and the matching [`uart::Error`]
//!   on an overflow, framing, break or parity error.
//! * **Aborts** follow the HIL: `Ok(())` if nothing was in flight, else
//!   `Err(BUSY)` and the callback follows from the deferred call with
//!   `Err(CANCEL)`.
//!
//! [`Uart::write_blocking`] and [`BlockingWriter`] poll `STATUS.TXFULL`
//! and work without interrupts (panic handler).

use core::cell::Cell;
use core::fmt;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::uart::{
    self, Configure, Parameters, Parity, Receive, ReceiveClient, StopBits, Transmit,
    TransmitClient, Width,
};
use kernel::ErrorCode;
use static_ref::StaticRef;
use tock_cells::{OptionalCell, TakeCell};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_structs! {
    /// The UART's registers.
    pub UartRegisters {
        (0x00 => intr_state: ReadWrite<u32, INTR::Register>),
        (0x04 => intr_enable: ReadWrite<u32, INTR::Register>),
        (0x08 => _intr_test: ReadWrite<u32>),
        (0x0c => _alert_test: ReadWrite<u32>),
        (0x10 => ctrl: ReadWrite<u32, CTRL::Register>),
        (0x14 => status: ReadOnly<u32, STATUS::Register>),
        (0x18 => rdata: ReadOnly<u32>),
        (0x1c => wdata: WriteOnly<u32>),
        (0x20 => fifo_ctrl: ReadWrite<u32, FIFO_CTRL::Register>),
        (0x24 => @END),
    }
}

register_bitfields![u32,
    INTR [
        TX_WATERMARK OFFSET(0) NUMBITS(1) [],
        RX_WATERMARK OFFSET(1) NUMBITS(1) [],
        TX_EMPTY OFFSET(2) NUMBITS(1) [],
        RX_OVERFLOW OFFSET(3) NUMBITS(1) [],
        RX_FRAME_ERR OFFSET(4) NUMBITS(1) [],
        RX_BREAK_ERR OFFSET(5) NUMBITS(1) [],
        RX_TIMEOUT OFFSET(6) NUMBITS(1) [],
        RX_PARITY_ERR OFFSET(7) NUMBITS(1) []
    ],
    CTRL [
        TX OFFSET(0) NUMBITS(1) [],
        RX OFFSET(1) NUMBITS(1) [],
        PARITY_EN OFFSET(6) NUMBITS(1) [],
        PARITY_ODD OFFSET(7) NUMBITS(1) [],
        NCO OFFSET(16) NUMBITS(16) []
    ],
    STATUS [
        TXFULL OFFSET(0) NUMBITS(1) [],
        RXFULL OFFSET(1) NUMBITS(1) [],
        TXEMPTY OFFSET(2) NUMBITS(1) [],
        TXIDLE OFFSET(3) NUMBITS(1) [],
        RXIDLE OFFSET(4) NUMBITS(1) [],
        RXEMPTY OFFSET(5) NUMBITS(1) []
    ],
    FIFO_CTRL [
        RXRST OFFSET(0) NUMBITS(1) [],
        TXRST OFFSET(1) NUMBITS(1) [],
        RXILVL OFFSET(2) NUMBITS(3) [],
        TXILVL OFFSET(5) NUMBITS(3) []
    ]
];

/// Bytes moved per interrupt at most, so a stuck status cannot hold the
/// kernel.
const MAX_PER_INTERRUPT: usize = 64;

/// The receive error interrupts and the `uart::Error` each means.
const RX_ERRORS: [(u32, uart::Error); 4] = [
    (1 << 3, uart::Error::Overrun),
    (1 << 4, uart::Error::Framing),
    (1 << 5, uart::Error::Break),
    (1 << 7, uart::Error::Parity),
];

/// One direction's transfer in flight.
struct Transfer {
    buffer: TakeCell<'static, [u8]>,
    len: Cell<usize>,
    /// Bytes moved so far.
    pos: Cell<usize>,
    /// Aborted; the deferred call completes it.
    cancelled: Cell<bool>,
}

impl Transfer {
    const fn new() -> Self {
        Transfer {
            buffer: TakeCell::empty(),
            len: Cell::new(0),
            pos: Cell::new(0),
            cancelled: Cell::new(false),
        }
    }

    fn active(&self) -> bool {
        self.buffer.is_some() && !self.cancelled.get()
    }

    fn start(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.buffer.is_some() {
            return Err((ErrorCode::BUSY, buf));
        }
        if len == 0 || len > buf.len() {
            return Err((ErrorCode::SIZE, buf));
        }
        self.buffer.replace(buf);
        self.len.set(len);
        self.pos.set(0);
        self.cancelled.set(false);
        Ok(())
    }
}

/// Writes `bytes` by polling `STATUS.TXFULL`.
fn write_blocking_to(regs: &UartRegisters, bytes: &[u8]) {
    for &byte in bytes {
        while regs.status.is_set(STATUS::TXFULL) {}
        regs.wdata.set(u32::from(byte));
    }
}

/// A polling [`fmt::Write`] on a UART, for panics and early output.
pub struct BlockingWriter(StaticRef<UartRegisters>);

impl BlockingWriter {
    /// A writer on the UART at `regs`.
    pub const fn new(regs: StaticRef<UartRegisters>) -> Self {
        BlockingWriter(regs)
    }
}

impl fmt::Write for BlockingWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_blocking_to(&self.0, s.as_bytes());
        Ok(())
    }
}

/// The interrupt-driven lowRISC UART driver; see the
/// [module docs](self).
pub struct Uart<'a> {
    regs: StaticRef<UartRegisters>,
    clock_hz: u32,
    deferred: DeferredCall,
    tx_client: OptionalCell<&'a dyn TransmitClient>,
    rx_client: OptionalCell<&'a dyn ReceiveClient>,
    tx: Transfer,
    rx: Transfer,
}

impl<'a> Uart<'a> {
    /// A driver for the UART at `regs`, whose clock runs at `clock_hz`,
    /// completing aborts from `deferred`. Bind the deferred call with
    /// [`register_deferred_call`](Self::register_deferred_call).
    pub const fn new(
        regs: StaticRef<UartRegisters>,
        clock_hz: u32,
        deferred: DeferredCall,
    ) -> Self {
        Uart {
            regs,
            clock_hz,
            deferred,
            tx_client: OptionalCell::empty(),
            rx_client: OptionalCell::empty(),
            tx: Transfer::new(),
            rx: Transfer::new(),
        }
    }

    /// Makes this driver the client of its deferred call.
    pub fn register_deferred_call(&'static self) {
        self.deferred.set_client(self);
    }

    /// Writes `bytes` synchronously by polling; usable without interrupts.
    pub fn write_blocking(&self, bytes: &[u8]) {
        write_blocking_to(&self.regs, bytes);
    }

    /// The NCO value for `baud`, if it fits the 16-bit field.
    pub fn nco(&self, baud: u32) -> Option<u32> {
        if self.clock_hz == 0 {
            return None;
        }
        let nco = (u64::from(baud) << 20) / u64::from(self.clock_hz);
        u16::try_from(nco).ok().filter(|&n| n != 0).map(u32::from)
    }

    /// Services the UART's interrupts (any of its PLIC sources): moves
    /// received bytes into the reception in flight and refills the
    /// transmit FIFO. May call the clients.
    pub fn handle_interrupt(&self) {
        let state = self.regs.intr_state.get();
        self.regs.intr_state.set(state);
        self.service_receive(state);
        self.service_transmit();
    }

    /// Hands bytes to the transmit FIFO until it is full or the
    /// transmission's bytes are all in.
    fn fill_fifo(&self) {
        let (mut pos, len) = (self.tx.pos.get(), self.tx.len.get());
        self.tx.buffer.map(|buf| {
            while pos < len && !self.regs.status.is_set(STATUS::TXFULL) {
                self.regs.wdata.set(u32::from(buf[pos]));
                pos += 1;
            }
        });
        self.tx.pos.set(pos);
    }

    fn service_transmit(&self) {
        if !self.tx.active() {
            return;
        }
        self.fill_fifo();
        if self.tx.pos.get() < self.tx.len.get() || !self.regs.status.is_set(STATUS::TXEMPTY) {
            return;
        }
        self.regs.intr_enable.modify(INTR::TX_EMPTY::CLEAR);
        let len = self.tx.len.get();
        if let Some(buf) = self.tx.buffer.take() {
            self.tx_client
                .map(|client| client.transmitted_buffer(buf, len, Ok(())));
        }
    }

    fn service_receive(&self, state: u32) {
        if !self.rx.active() {
            return;
        }
        if let Some(&(_, error)) = RX_ERRORS.iter().find(|(bit, _)| state & bit != 0) {
            return self.finish_receive(Err(ErrorCode::FAIL), error);
        }
        for _ in 0..MAX_PER_INTERRUPT {
            if self.regs.status.is_set(STATUS::RXEMPTY) {
                return;
            }
            let byte = self.regs.rdata.get() as u8;
            let pos = self.rx.pos.get();
            self.rx.buffer.map(|buf| {
                if let Some(slot) = buf.get_mut(pos) {
                    *slot = byte;
                }
            });
            self.rx.pos.set(pos + 1);
            if pos + 1 >= self.rx.len.get() {
                return self.finish_receive(Ok(()), uart::Error::None);
            }
        }
    }

    fn rx_interrupts() -> u32 {
        RX_ERRORS
            .iter()
            .fold(INTR::RX_WATERMARK::SET.value, |m, (bit, _)| m | bit)
    }

    fn finish_receive(&self, rcode: Result<(), ErrorCode>, error: uart::Error) {
        let enabled = self.regs.intr_enable.get();
        self.regs.intr_enable.set(enabled & !Self::rx_interrupts());
        let len = self.rx.pos.get();
        if let Some(buf) = self.rx.buffer.take() {
            self.rx_client
                .map(|client| client.received_buffer(buf, len, rcode, error));
        }
    }
}

impl Configure for Uart<'_> {
    /// Sets the baud rate's NCO, enables transmit and receive, resets the
    /// FIFOs (receive watermark at one byte). Only 8 data bits, one stop
    /// bit, no hardware flow control: `NOSUPPORT` otherwise, and for a
    /// baud rate the NCO cannot express.
    fn configure(&self, params: Parameters) -> Result<(), ErrorCode> {
        if params.baud_rate == 0 {
            return Err(ErrorCode::INVAL);
        }
        if self.tx.buffer.is_some() || self.rx.buffer.is_some() {
            return Err(ErrorCode::BUSY);
        }
        if params.hw_flow_control
            || params.width != Width::Eight
            || params.stop_bits != StopBits::One
        {
            return Err(ErrorCode::NOSUPPORT);
        }
        let nco = self.nco(params.baud_rate).ok_or(ErrorCode::NOSUPPORT)?;
        let parity = match params.parity {
            Parity::None => CTRL::PARITY_EN::CLEAR,
            Parity::Odd => CTRL::PARITY_EN::SET + CTRL::PARITY_ODD::SET,
            Parity::Even => CTRL::PARITY_EN::SET + CTRL::PARITY_ODD::CLEAR,
        };
        self.regs.intr_enable.set(0);
        self.regs
            .fifo_ctrl
            .write(FIFO_CTRL::RXRST::SET + FIFO_CTRL::TXRST::SET);
        self.regs.fifo_ctrl.write(FIFO_CTRL::RXILVL.val(0));
        self.regs
            .ctrl
            .write(CTRL::TX::SET + CTRL::RX::SET + parity + CTRL::NCO.val(nco));
        self.regs.intr_state.set(u32::MAX);
        Ok(())
    }
}

impl<'a> Transmit<'a> for Uart<'a> {
    fn set_transmit_client(&self, client: &'a dyn TransmitClient) {
        self.tx_client.set(client);
    }

    fn transmit_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        self.tx.start(buf, len)?;
        // A stale "empty" state must not end the transmission early: the
        // interrupt handler checks the FIFO itself.
        self.fill_fifo();
        self.regs.intr_enable.modify(INTR::TX_EMPTY::SET);
        Ok(())
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        if self.tx.buffer.is_none() {
            return Ok(());
        }
        if !self.tx.cancelled.get() {
            self.regs.intr_enable.modify(INTR::TX_EMPTY::CLEAR);
            self.tx.cancelled.set(true);
            self.deferred.set();
        }
        Err(ErrorCode::BUSY)
    }
}

impl<'a> Receive<'a> for Uart<'a> {
    fn set_receive_client(&self, client: &'a dyn ReceiveClient) {
        self.rx_client.set(client);
    }

    fn receive_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        self.rx.start(buf, len)?;
        let enabled = self.regs.intr_enable.get();
        self.regs.intr_enable.set(enabled | Self::rx_interrupts());
        Ok(())
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        if self.rx.buffer.is_none() {
            return Ok(());
        }
        if !self.rx.cancelled.get() {
            let enabled = self.regs.intr_enable.get();
            self.regs.intr_enable.set(enabled & !Self::rx_interrupts());
            self.rx.cancelled.set(true);
            self.deferred.set();
        }
        Err(ErrorCode::BUSY)
    }
}

impl DeferredCallClient for Uart<'_> {
    /// Completes aborted transfers.
    fn handle_deferred_call(&self) {
        if self.tx.cancelled.replace(false) {
            let sent = self.tx.pos.get();
            if let Some(buf) = self.tx.buffer.take() {
                self.tx_client
                    .map(|client| client.transmitted_buffer(buf, sent, Err(ErrorCode::CANCEL)));
            }
        }
        if self.rx.cancelled.replace(false) {
            let received = self.rx.pos.get();
            if let Some(buf) = self.rx.buffer.take() {
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

impl kernel::platform::DebugOutput for Uart<'_> {
    /// Formats straight to the UART, polling.
    fn write_fmt(&self, args: fmt::Arguments<'_>) {
        let _ = fmt::write(&mut BlockingWriter::new(self.regs), args);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use kernel::deferred_call::DeferredCalls;
    use static_ref::fake;
    use std::boxed::Box;
    use std::vec::Vec;

    const INTR_STATE: usize = 0;
    const INTR_ENABLE: usize = 1;
    const CTRL_W: usize = 4;
    const STATUS_W: usize = 5;
    const RDATA: usize = 6;
    const WDATA: usize = 7;
    const TXEMPTY: u32 = 1 << 2;
    const RXEMPTY: u32 = 1 << 5;

    type Received = (Vec<u8>, Result<(), ErrorCode>, uart::Error);

    #[derive(Default)]
    struct Client {
        sent: Cell<Option<(usize, Result<(), ErrorCode>)>>,
        received: core::cell::RefCell<Vec<Received>>,
    }

    impl TransmitClient for Client {
        fn transmitted_buffer(&self, _: &'static mut [u8], len: usize, r: Result<(), ErrorCode>) {
            self.sent.set(Some((len, r)));
        }
    }

    impl ReceiveClient for Client {
        fn received_buffer(
            &self,
            buf: &'static mut [u8],
            len: usize,
            r: Result<(), ErrorCode>,
            e: uart::Error,
        ) {
            self.received.borrow_mut().push((buf[..len].to_vec(), r, e));
        }
    }

    struct Setup {
        uart: &'static Uart<'static>,
        mem: &'static [Cell<u32>],
        calls: &'static DeferredCalls<1>,
        client: &'static Client,
    }

    fn setup() -> Setup {
        let (regs, mem) = fake::registers::<UartRegisters, u32>();
        let calls: &'static DeferredCalls<1> = Box::leak(Box::new(DeferredCalls::new()));
        let uart: &'static Uart<'static> = Box::leak(Box::new(Uart::new(
            regs,
            50_000_000,
            calls.allocate().unwrap(),
        )));
        uart.register_deferred_call();
        let client: &'static Client = Box::leak(Box::default());
        uart.set_transmit_client(client);
        uart.set_receive_client(client);
        mem[STATUS_W].set(TXEMPTY | RXEMPTY);
        Setup {
            uart,
            mem,
            calls,
            client,
        }
    }

    fn buf(data: &[u8]) -> &'static mut [u8] {
        Box::leak(data.to_vec().into_boxed_slice())
    }

    #[test]
    fn configure_sets_the_nco_and_enables_both_directions() {
        let s = setup();
        s.uart.configure(Parameters::default()).unwrap();
        let ctrl = s.mem[CTRL_W].get();
        assert_eq!(ctrl & 3, 3);
        // 115200 * 2^20 / 50 MHz.
        assert_eq!(ctrl >> 16, 2415);
        let two_stop = Parameters {
            stop_bits: StopBits::Two,
            ..Parameters::default()
        };
        assert_eq!(s.uart.configure(two_stop), Err(ErrorCode::NOSUPPORT));
        assert_eq!(s.uart.nco(1 << 30), None, "does not fit 16 bits");
    }

    #[test]
    fn transmit_fills_the_fifo_and_completes_when_it_is_empty() {
        let s = setup();
        s.uart.transmit_buffer(buf(b"hey"), 2).unwrap();
        assert_eq!(s.mem[WDATA].get(), u32::from(b'e'), "last byte written");
        assert_ne!(s.mem[INTR_ENABLE].get() & TXEMPTY, 0);
        assert_eq!(
            s.uart.transmit_buffer(buf(b"x"), 1).map_err(|(c, _)| c),
            Err(ErrorCode::BUSY)
        );
        // Not empty yet: no completion.
        s.mem[STATUS_W].set(RXEMPTY);
        s.uart.handle_interrupt();
        assert_eq!(s.client.sent.get(), None);
        s.mem[STATUS_W].set(TXEMPTY | RXEMPTY);
        s.mem[INTR_STATE].set(TXEMPTY);
        s.uart.handle_interrupt();
        assert_eq!(s.client.sent.get(), Some((2, Ok(()))));
        assert_eq!(s.mem[INTR_ENABLE].get() & TXEMPTY, 0);
    }

    #[test]
    fn receive_collects_bytes_and_reports_errors() {
        let s = setup();
        s.uart.receive_buffer(buf(&[0; 4]), 2).unwrap();
        s.mem[RDATA].set(u32::from(b'k'));
        s.mem[STATUS_W].set(TXEMPTY);
        s.uart.handle_interrupt();
        assert_eq!(
            s.client.received.borrow()[0],
            (b"kk".to_vec(), Ok(()), uart::Error::None)
        );
        s.uart.receive_buffer(buf(&[0; 4]), 4).unwrap();
        s.mem[INTR_STATE].set(1 << 4);
        s.uart.handle_interrupt();
        assert_eq!(
            s.client.received.borrow()[1],
            (Vec::new(), Err(ErrorCode::FAIL), uart::Error::Framing)
        );
    }

    #[test]
    fn aborts_complete_from_the_deferred_call() {
        let s = setup();
        assert_eq!(s.uart.transmit_abort(), Ok(()));
        s.uart.transmit_buffer(buf(b"abc"), 3).unwrap();
        s.uart.receive_buffer(buf(&[0; 2]), 2).unwrap();
        assert_eq!(s.uart.transmit_abort(), Err(ErrorCode::BUSY));
        assert_eq!(s.uart.receive_abort(), Err(ErrorCode::BUSY));
        assert_eq!(s.client.sent.get(), None);
        while s.calls.service_next() {}
        assert_eq!(s.client.sent.get(), Some((3, Err(ErrorCode::CANCEL))));
        assert_eq!(
            s.client.received.borrow()[0],
            (Vec::new(), Err(ErrorCode::CANCEL), uart::Error::Aborted)
        );
    }
}
