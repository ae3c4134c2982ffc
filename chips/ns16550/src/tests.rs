//! Host tests of the driver on a register block in ordinary memory.

/// The input clock of the `virt` machine's UART0, as a realistic value.
const CLOCK_HZ: u32 = 3_686_400;
extern crate std;

use super::*;
use core::cell::RefCell;
use kernel::deferred_call::DeferredCalls;
use static_ref::fake;
use std::boxed::Box;
use std::vec::Vec;

const DATA: usize = 0;
const IER_: usize = 1;
const FCR_: usize = 2;
const LCR_: usize = 3;
const MCR_: usize = 4;
const LSR_: usize = 5;

const THRE: u8 = 0x60;
const DR: u8 = 0x01;

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn buffer(len: usize) -> &'static mut [u8] {
    Box::leak((0..len as u8).collect::<Vec<u8>>().into_boxed_slice())
}

/// A reception's bytes, result code and line error.
type Received = (Vec<u8>, Result<(), ErrorCode>, uart::Error);

#[derive(Default)]
struct Client {
    tx: RefCell<Vec<(usize, Result<(), ErrorCode>)>>,
    rx: RefCell<Vec<Received>>,
}

impl TransmitClient for Client {
    fn transmitted_buffer(&self, _: &'static mut [u8], len: usize, rcode: Result<(), ErrorCode>) {
        self.tx.borrow_mut().push((len, rcode));
    }
}

impl ReceiveClient for Client {
    fn received_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
        rcode: Result<(), ErrorCode>,
        error: uart::Error,
    ) {
        self.rx
            .borrow_mut()
            .push((buf[..len].to_vec(), rcode, error));
    }
}

struct Setup {
    uart: &'static Uart16550<'static>,
    mem: &'static [Cell<u8>],
    calls: &'static DeferredCalls<2>,
    client: &'static Client,
}

fn setup() -> Setup {
    let (regs, mem) = fake::registers::<UartRegisters, u8>();
    let calls: &'static DeferredCalls<2> = leak(DeferredCalls::new());
    let uart = leak(Uart16550::new(regs, CLOCK_HZ, calls.allocate().unwrap()));
    uart.register_deferred_call();
    let client = leak(Client::default());
    uart.set_transmit_client(client);
    uart.set_receive_client(client);
    Setup {
        uart,
        mem,
        calls,
        client,
    }
}

#[test]
fn configure_programs_divisor_and_line_format() {
    let s = setup();
    assert_eq!(s.uart.configure(Parameters::default()), Ok(()));
    // 3.6864 MHz / (16 * 115200) = 2; DLAB clear again, 8N1.
    assert_eq!(s.mem[DATA].get(), 2);
    assert_eq!(s.mem[IER_].get(), 0);
    assert_eq!(s.mem[LCR_].get(), 0x03);
    assert_eq!(s.mem[FCR_].get(), 0x07);
    assert_eq!(s.mem[MCR_].get(), 0x0B);

    let params = Parameters {
        baud_rate: 9600,
        width: Width::Seven,
        parity: Parity::Even,
        stop_bits: StopBits::Two,
        hw_flow_control: false,
    };
    assert_eq!(s.uart.configure(params), Ok(()));
    assert_eq!(s.mem[DATA].get(), 24);
    assert_eq!(s.mem[LCR_].get(), 0x1E);
    let odd = Parameters {
        parity: Parity::Odd,
        width: Width::Six,
        ..Parameters::default()
    };
    assert_eq!(s.uart.configure(odd), Ok(()));
    assert_eq!(s.mem[LCR_].get(), 0x09);
    // A divisor above 255 uses the high byte.
    let slow = Parameters {
        baud_rate: 300,
        ..Parameters::default()
    };
    assert_eq!(s.uart.configure(slow), Ok(()));
    assert_eq!((s.mem[DATA].get(), s.mem[IER_].get()), (0x00, 0x03)); // 768
}

#[test]
fn configure_rejects() {
    let s = setup();
    let with = |baud_rate, hw_flow_control| Parameters {
        baud_rate,
        hw_flow_control,
        ..Parameters::default()
    };
    assert_eq!(s.uart.configure(with(0, false)), Err(ErrorCode::INVAL));
    assert_eq!(
        s.uart.configure(with(115_200, true)),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(
        s.uart.configure(with(1_000_000, false)),
        Err(ErrorCode::NOSUPPORT)
    );
    assert_eq!(s.uart.configure(with(1, false)), Err(ErrorCode::NOSUPPORT));
    s.uart.transmit_buffer(buffer(4), 4).unwrap();
    assert_eq!(s.uart.configure(with(115_200, false)), Err(ErrorCode::BUSY));
}

#[test]
fn transmit_refills_the_fifo_per_interrupt() {
    let s = setup();
    // FIFO busy at the request: nothing written yet.
    assert!(s.uart.transmit_buffer(buffer(20), 20).is_ok());
    assert_eq!(s.mem[IER_].get() & 0x02, 0x02);
    assert_eq!(s.mem[DATA].get(), 0);
    s.uart.handle_interrupt();
    assert_eq!(s.mem[DATA].get(), 0, "no room, nothing written");

    s.mem[LSR_].set(THRE);
    s.uart.handle_interrupt();
    assert_eq!(s.mem[DATA].get(), 15, "bytes 0..16");
    s.uart.handle_interrupt();
    assert_eq!(s.mem[DATA].get(), 19, "bytes 16..20");
    assert!(s.client.tx.borrow().is_empty());
    s.uart.handle_interrupt();
    assert_eq!(*s.client.tx.borrow(), [(20, Ok(()))]);
    assert_eq!(s.mem[IER_].get() & 0x02, 0);
    // Idle: further interrupts do nothing.
    s.uart.handle_interrupt();
    assert_eq!(s.client.tx.borrow().len(), 1);
    assert!(!s.calls.has_pending());
}

#[test]
fn transmit_fills_an_empty_fifo_at_once() {
    let s = setup();
    s.mem[LSR_].set(THRE);
    assert!(s.uart.transmit_buffer(buffer(8), 5).is_ok());
    assert_eq!(s.mem[DATA].get(), 4);
    assert!(
        s.client.tx.borrow().is_empty(),
        "no callback inside the request"
    );
    s.uart.handle_interrupt();
    assert_eq!(*s.client.tx.borrow(), [(5, Ok(()))]);
}

#[test]
fn transmit_rejects() {
    let s = setup();
    let (e, b) = s.uart.transmit_buffer(buffer(4), 0).unwrap_err();
    assert_eq!((e, b.len()), (ErrorCode::SIZE, 4));
    let (e, _) = s.uart.transmit_buffer(buffer(4), 5).unwrap_err();
    assert_eq!(e, ErrorCode::SIZE);
    s.uart.transmit_buffer(buffer(4), 4).unwrap();
    let (e, b) = s.uart.transmit_buffer(buffer(3), 3).unwrap_err();
    assert_eq!((e, b.len()), (ErrorCode::BUSY, 3));
    assert!(s.client.tx.borrow().is_empty());
}

#[test]
fn transmit_abort() {
    let s = setup();
    assert_eq!(s.uart.transmit_abort(), Ok(()));
    assert!(!s.calls.has_pending());

    s.mem[LSR_].set(THRE);
    s.uart.transmit_buffer(buffer(40), 40).unwrap();
    assert_eq!(s.uart.transmit_abort(), Err(ErrorCode::BUSY));
    assert_eq!(s.uart.transmit_abort(), Err(ErrorCode::BUSY));
    assert_eq!(s.mem[IER_].get() & 0x02, 0);
    s.uart.handle_interrupt();
    assert!(
        s.client.tx.borrow().is_empty(),
        "only the deferred call completes"
    );
    assert!(s.calls.service_next());
    assert!(!s.calls.service_next());
    assert_eq!(*s.client.tx.borrow(), [(16, Err(ErrorCode::CANCEL))]);
    // Free again.
    assert!(s.uart.transmit_buffer(buffer(2), 2).is_ok());
}

#[test]
fn receive_delivers_len_bytes() {
    let s = setup();
    assert!(s.uart.receive_buffer(buffer(8), 3).is_ok());
    assert_eq!(s.mem[IER_].get() & 0x05, 0x05);
    s.uart.handle_interrupt();
    assert!(s.client.rx.borrow().is_empty(), "no data yet");

    s.mem[DATA].set(b'x');
    s.mem[LSR_].set(DR);
    s.uart.handle_interrupt();
    assert_eq!(
        *s.client.rx.borrow(),
        [(b"xxx".to_vec(), Ok(()), uart::Error::None)]
    );
    assert_eq!(s.mem[IER_].get() & 0x05, 0);
}

#[test]
fn receive_takes_at_most_a_fifo_per_interrupt() {
    let s = setup();
    s.uart.receive_buffer(buffer(20), 20).unwrap();
    s.mem[DATA].set(b'y');
    s.mem[LSR_].set(DR);
    s.uart.handle_interrupt();
    assert!(s.client.rx.borrow().is_empty());
    s.uart.handle_interrupt();
    assert_eq!(s.client.rx.borrow()[0].0, [b'y'; 20]);
}

#[test]
fn receive_line_errors_end_the_reception() {
    for (lsr, error) in [
        (DR | 0x04, uart::Error::Parity),
        (DR | 0x08, uart::Error::Framing),
        (DR | 0x10, uart::Error::Break),
        (0x02, uart::Error::Overrun),
    ] {
        let s = setup();
        s.uart.receive_buffer(buffer(4), 4).unwrap();
        s.mem[LSR_].set(lsr);
        s.uart.handle_interrupt();
        assert_eq!(
            *s.client.rx.borrow(),
            [(Vec::new(), Err(ErrorCode::FAIL), error)]
        );
    }
}

#[test]
fn receive_rejects_and_aborts() {
    let s = setup();
    assert_eq!(s.uart.receive_abort(), Ok(()));
    let (e, _) = s.uart.receive_buffer(buffer(4), 0).unwrap_err();
    assert_eq!(e, ErrorCode::SIZE);
    let (e, _) = s.uart.receive_buffer(buffer(4), 9).unwrap_err();
    assert_eq!(e, ErrorCode::SIZE);
    s.uart.receive_buffer(buffer(4), 4).unwrap();
    let (e, _) = s.uart.receive_buffer(buffer(4), 4).unwrap_err();
    assert_eq!(e, ErrorCode::BUSY);

    assert_eq!(s.uart.receive_abort(), Err(ErrorCode::BUSY));
    s.mem[LSR_].set(DR);
    s.uart.handle_interrupt();
    assert!(s.client.rx.borrow().is_empty());
    assert!(s.calls.service_next());
    assert_eq!(
        *s.client.rx.borrow(),
        [(Vec::new(), Err(ErrorCode::CANCEL), uart::Error::Aborted)]
    );
    assert!(s.uart.receive_buffer(buffer(1), 1).is_ok());
}

#[test]
fn a_client_can_restart_from_the_callback() {
    struct Again {
        uart: Cell<Option<&'static Uart16550<'static>>>,
        done: Cell<usize>,
    }
    impl TransmitClient for Again {
        fn transmitted_buffer(&self, buf: &'static mut [u8], _: usize, _: Result<(), ErrorCode>) {
            self.done.set(self.done.get() + 1);
            if self.done.get() == 1 {
                let uart = self.uart.get().unwrap();
                assert!(uart.transmit_buffer(buf, 1).is_ok());
            }
        }
    }
    let s = setup();
    let again = leak(Again {
        uart: Cell::new(Some(s.uart)),
        done: Cell::new(0),
    });
    s.uart.set_transmit_client(again);
    s.mem[LSR_].set(THRE);
    s.uart.transmit_buffer(buffer(2), 2).unwrap();
    s.uart.handle_interrupt();
    s.uart.handle_interrupt();
    assert_eq!(again.done.get(), 2);
}

#[test]
fn blocking_writes() {
    use core::fmt::Write;
    let s = setup();
    s.mem[LSR_].set(THRE);
    s.uart.write_blocking(b"hello");
    assert_eq!(s.mem[DATA].get(), b'o');
    let mut w = s.uart.blocking_writer();
    write!(w, "{}", 42).unwrap();
    assert_eq!(s.mem[DATA].get(), b'2');
    kernel::platform::DebugOutput::write_fmt(s.uart, format_args!("ok!"));
    assert_eq!(s.mem[DATA].get(), b'!');
}

#[test]
fn registers_four_bytes_apart() {
    let (regs, mem) = fake::registers::<UartRegisters32, u8>();
    assert_eq!(mem.len(), 0x20);
    let calls: &'static DeferredCalls<1> = Box::leak(Box::new(DeferredCalls::new()));
    let uart: Uart16550<'_, UartRegisters32> =
        Uart16550::new(regs, 24_000_000, calls.allocate().unwrap());
    // Line status at 0x14: transmitter empty.
    mem[0x14].set(0x20);
    uart.write_blocking(b"k");
    assert_eq!(mem[0].get(), b'k', "data at 0x00");
    uart.configure(kernel::hil::uart::Parameters::default())
        .unwrap();
    assert_eq!(mem[0x0C].get() & 0x03, 0x03, "8 data bits in LCR at 0x0C");
    assert_ne!(mem[0x10].get(), 0, "MCR at 0x10");
    assert_eq!(mem[3].get(), 0, "nothing between the registers");
}
