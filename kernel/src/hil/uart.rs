//! Serial ports (UARTs).
//!
//! Transmission and reception are independent split-phase operations (see
//! the [HIL docs](super)): one of each may be in flight at a time, a request
//! that returns `Ok` gets exactly one callback handing the buffer back, and
//! a request that returns `Err` hands it back at once and gets none.
//! Synchronous errors: `BUSY` (a transmission, resp. reception, is in
//! flight), `SIZE` (`len` is 0 or larger than the buffer), `OFF` (the port
//! is powered down).

use crate::ErrorCode;

/// Number of stop bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopBits {
    /// One stop bit.
    One,
    /// Two stop bits.
    Two,
}

/// Parity bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parity {
    /// No parity bit.
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Data bits per character.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 6 data bits.
    Six,
    /// 7 data bits.
    Seven,
    /// 8 data bits.
    Eight,
}

/// A line configuration. [`Default`] is 115200 baud, 8N1, no flow control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Parameters {
    /// Bits per second.
    pub baud_rate: u32,
    /// Data bits per character.
    pub width: Width,
    /// Parity bit.
    pub parity: Parity,
    /// Stop bits.
    pub stop_bits: StopBits,
    /// Whether RTS/CTS hardware flow control is used.
    pub hw_flow_control: bool,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            baud_rate: 115_200,
            width: Width::Eight,
            parity: Parity::None,
            stop_bits: StopBits::One,
            hw_flow_control: false,
        }
    }
}

/// What went wrong on the line during a reception. Reported next to the
/// result code, which says whether the reception as a whole failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// Nothing went wrong.
    None,
    /// A character had the wrong parity.
    Parity,
    /// A character had no valid stop bit.
    Framing,
    /// Characters arrived faster than they were read and some were lost.
    Overrun,
    /// A reception was requested while one was in flight.
    RepeatCall,
    /// The port was reset during the reception.
    Reset,
    /// A break condition was detected.
    Break,
    /// The reception was aborted with [`Receive::receive_abort`].
    Aborted,
}

/// Line configuration.
pub trait Configure {
    /// Applies `params`. `OFF` if the port is powered down, `BUSY` during a
    /// transfer, `NOSUPPORT` for a setting the hardware cannot do, `INVAL`
    /// for a baud rate of 0.
    fn configure(&self, params: Parameters) -> Result<(), ErrorCode>;
}

/// The transmit half of a port.
pub trait Transmit<'a> {
    /// Sets the client that receives the completion callbacks.
    fn set_transmit_client(&self, client: &'a dyn TransmitClient);

    /// Sends `buf[..len]`. Completes with
    /// [`TransmitClient::transmitted_buffer`].
    fn transmit_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])>;

    /// Stops the transmission in flight, if any.
    ///
    /// `Ok(())`: nothing was in flight and no callback follows.
    /// `Err(BUSY)`: a transmission is being cancelled; its callback follows
    /// with `Err(CANCEL)` and the number of bytes sent.
    fn transmit_abort(&self) -> Result<(), ErrorCode>;
}

/// The receive half of a port.
pub trait Receive<'a> {
    /// Sets the client that receives the completion callbacks.
    fn set_receive_client(&self, client: &'a dyn ReceiveClient);

    /// Receives exactly `len` bytes into `buf[..len]` (fewer only on error
    /// or abort). Completes with [`ReceiveClient::received_buffer`].
    fn receive_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])>;

    /// Stops the reception in flight, if any.
    ///
    /// `Ok(())`: nothing was in flight and no callback follows.
    /// `Err(BUSY)`: a reception is being cancelled; its callback follows
    /// with `Err(CANCEL)`, [`Error::Aborted`] and the bytes received so far.
    fn receive_abort(&self) -> Result<(), ErrorCode>;
}

/// Receives the completion of transmissions.
pub trait TransmitClient {
    /// A transmission finished: `len` bytes of `buf` were sent (all of them
    /// on success).
    fn transmitted_buffer(&self, buf: &'static mut [u8], len: usize, rcode: Result<(), ErrorCode>);
}

/// Receives the completion of receptions.
pub trait ReceiveClient {
    /// A reception finished: `buf[..len]` holds the bytes received (all that
    /// were requested on success). `error` tells what went wrong on the
    /// line, [`Error::None`] if nothing did.
    fn received_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
        rcode: Result<(), ErrorCode>,
        error: Error,
    );
}

/// A whole port: configuration, transmission and reception. Implemented
/// for everything that implements the three parts.
pub trait Uart<'a>: Configure + Transmit<'a> + Receive<'a> {}

impl<'a, T: Configure + Transmit<'a> + Receive<'a> + ?Sized> Uart<'a> for T {}
