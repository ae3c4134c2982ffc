//! A split-phase mock UART: every completion is delivered from its own
//! deferred call, so callbacks never run inside a request.

#![allow(dead_code)] // Each test binary uses a different part.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use kernel::deferred_call::{DeferredCall, DeferredCallClient, DeferredCalls};
use kernel::hil::uart::{self, Receive, ReceiveClient, Transmit, TransmitClient};
use kernel::ErrorCode;
use kernel_mock::leak;

/// A reception at the port: buffer, bytes wanted, bytes received.
type Rx = (&'static mut [u8], usize, usize);

pub struct MockUart {
    deferred: Cell<Option<DeferredCall>>,
    tx_client: Cell<Option<&'static dyn TransmitClient>>,
    rx_client: Cell<Option<&'static dyn ReceiveClient>>,
    /// The transmission in flight.
    tx: RefCell<Option<(&'static mut [u8], usize)>>,
    /// Complete transmissions on their own (else wait for `complete_tx`).
    pub auto: Cell<bool>,
    release: Cell<bool>,
    /// Every transmission, as handed to the port.
    pub chunks: RefCell<Vec<Vec<u8>>>,
    rx: RefCell<Option<Rx>>,
    /// How the reception in flight ends, once decided.
    rx_end: Cell<Option<(Result<(), ErrorCode>, uart::Error)>>,
    /// Bytes on the line not yet received.
    input: RefCell<VecDeque<u8>>,
    /// Refuse every request with OFF.
    pub off: Cell<bool>,
    pub aborts: Cell<u32>,
}

impl MockUart {
    pub fn new<const N: usize>(calls: &'static DeferredCalls<N>) -> &'static MockUart {
        let uart = leak(MockUart {
            deferred: Cell::new(None),
            tx_client: Cell::new(None),
            rx_client: Cell::new(None),
            tx: RefCell::new(None),
            auto: Cell::new(true),
            release: Cell::new(false),
            chunks: RefCell::new(Vec::new()),
            rx: RefCell::new(None),
            rx_end: Cell::new(None),
            input: RefCell::new(VecDeque::new()),
            off: Cell::new(false),
            aborts: Cell::new(0),
        });
        uart.deferred
            .set(Some(calls.register(uart).expect("deferred slot")));
        uart
    }

    fn kick(&self) {
        self.deferred.get().unwrap().set();
    }

    /// Everything transmitted so far.
    pub fn output(&self) -> Vec<u8> {
        self.chunks.borrow().concat()
    }

    /// Everything transmitted so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.output()).unwrap()
    }

    /// The lengths of the transmissions so far.
    pub fn chunk_lens(&self) -> Vec<usize> {
        self.chunks.borrow().iter().map(Vec::len).collect()
    }

    pub fn tx_in_flight(&self) -> bool {
        self.tx.borrow().is_some()
    }

    pub fn rx_in_flight(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Lets the transmission in flight complete (manual mode).
    pub fn complete_tx(&self) {
        assert!(self.tx_in_flight(), "nothing to complete");
        self.release.set(true);
        self.kick();
    }

    /// Bytes arrive on the line.
    pub fn feed(&self, bytes: &[u8]) {
        self.input.borrow_mut().extend(bytes);
        self.take_input();
    }

    /// A line error ends the reception in flight.
    pub fn line_error(&self, error: uart::Error) {
        assert!(self.rx_in_flight());
        self.rx_end.set(Some((Err(ErrorCode::FAIL), error)));
        self.kick();
    }

    fn take_input(&self) {
        let mut rx = self.rx.borrow_mut();
        if let Some((buf, want, got)) = rx.as_mut() {
            let mut input = self.input.borrow_mut();
            while *got < *want {
                let Some(b) = input.pop_front() else { break };
                buf[*got] = b;
                *got += 1;
            }
            if *got == *want && self.rx_end.get().is_none() {
                self.rx_end.set(Some((Ok(()), uart::Error::None)));
                self.kick();
            }
        }
    }
}

impl Transmit<'static> for MockUart {
    fn set_transmit_client(&self, client: &'static dyn TransmitClient) {
        self.tx_client.set(Some(client));
    }

    fn transmit_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.off.get() {
            return Err((ErrorCode::OFF, buf));
        }
        if self.tx_in_flight() {
            return Err((ErrorCode::BUSY, buf));
        }
        if len == 0 || len > buf.len() {
            return Err((ErrorCode::SIZE, buf));
        }
        self.chunks.borrow_mut().push(buf[..len].to_vec());
        *self.tx.borrow_mut() = Some((buf, len));
        if self.auto.get() {
            self.release.set(true);
            self.kick();
        }
        Ok(())
    }

    fn transmit_abort(&self) -> Result<(), ErrorCode> {
        Ok(())
    }
}

impl Receive<'static> for MockUart {
    fn set_receive_client(&self, client: &'static dyn ReceiveClient) {
        self.rx_client.set(Some(client));
    }

    fn receive_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        if self.off.get() {
            return Err((ErrorCode::OFF, buf));
        }
        if self.rx_in_flight() {
            return Err((ErrorCode::BUSY, buf));
        }
        if len == 0 || len > buf.len() {
            return Err((ErrorCode::SIZE, buf));
        }
        *self.rx.borrow_mut() = Some((buf, len, 0));
        self.take_input();
        Ok(())
    }

    fn receive_abort(&self) -> Result<(), ErrorCode> {
        self.aborts.set(self.aborts.get() + 1);
        if !self.rx_in_flight() {
            return Ok(());
        }
        if self.rx_end.get().is_none() {
            self.rx_end
                .set(Some((Err(ErrorCode::CANCEL), uart::Error::Aborted)));
            self.kick();
        }
        Err(ErrorCode::BUSY)
    }
}

impl DeferredCallClient for MockUart {
    fn handle_deferred_call(&self) {
        // Take things out before calling back: the client may start the
        // next request from its callback.
        let tx = if self.release.replace(false) {
            self.tx.borrow_mut().take()
        } else {
            None
        };
        if let Some((buf, len)) = tx {
            if let Some(c) = self.tx_client.get() {
                c.transmitted_buffer(buf, len, Ok(()));
            }
        }
        let rx = match self.rx_end.take() {
            Some(end) => self.rx.borrow_mut().take().map(|rx| (rx, end)),
            None => None,
        };
        if let Some(((buf, _, got), (rcode, error))) = rx {
            if let Some(c) = self.rx_client.get() {
                c.received_buffer(buf, got, rcode, error);
            }
        }
    }
}
