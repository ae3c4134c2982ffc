//! UARTE0 against a model of the UARTE: EasyDMA from the Data RAM only,
//! `MAXCNT` at most 16 bits, `ENDTX` / `ENDRX` with `AMOUNT`, `STOPTX` /
//! `STOPRX` ending a buffer early, `ERROR` with `ERRORSRC`.

mod model;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use kernel::hil::uart::{
    self, Configure, Parameters, Receive, ReceiveClient, Transmit, TransmitClient,
};
use kernel::ErrorCode;
use model::{buffer, leak, Block, Inten, SimRam, Violations};
use nrf52840::dma::{in_ram, MAX_COUNT};
use nrf52840::uarte::{Pins, Uarte, UarteRegisters, ENABLE_UARTE};

const STARTRX: usize = 0x000;
const STOPRX: usize = 0x004;
const STARTTX: usize = 0x008;
const STOPTX: usize = 0x00C;
const ENDRX: usize = 0x110;
const ENDTX: usize = 0x120;
const ERROR: usize = 0x124;
const RXTO: usize = 0x144;
const TXSTOPPED: usize = 0x158;
const ERRORSRC: usize = 0x480;
const ENABLE: usize = 0x500;
const BAUDRATE: usize = 0x524;
const RXD_PTR: usize = 0x534;
const RXD_MAXCNT: usize = 0x538;
const RXD_AMOUNT: usize = 0x53C;
const TXD_PTR: usize = 0x544;
const TXD_MAXCNT: usize = 0x548;
const TXD_AMOUNT: usize = 0x54C;

/// The UARTE: sends `tx_rate` bytes a step, receives what the line
/// brings.
struct UarteModel {
    regs: Block,
    ram: &'static SimRam,
    inten: Inten,
    /// Bytes a step the transmitter sends.
    tx_rate: usize,
    /// (address, count, sent) of the transmission in progress.
    tx: Cell<Option<(u32, usize, usize)>>,
    /// (address, count, received) of the reception in progress.
    rx: Cell<Option<(u32, usize, usize)>>,
    /// What went out on the line.
    wire: RefCell<Vec<u8>>,
    /// What the line brings.
    incoming: RefCell<VecDeque<u8>>,
    /// Fault: after this many bytes received, this `ERRORSRC`.
    error_after: Cell<Option<(usize, u32)>>,
    violations: Violations,
}

impl UarteModel {
    fn step(&self) {
        let r = self.regs;
        self.inten.fold(r);
        let tasks = [STARTRX, STOPRX, STARTTX, STOPTX].map(|t| r.take_task(t));
        if tasks.iter().any(|&t| t) && r.get(ENABLE) != ENABLE_UARTE {
            self.violations.add("task while the UARTE is disabled");
            return;
        }
        if tasks[2] {
            let (ptr, n) = (r.get(TXD_PTR), r.get(TXD_MAXCNT) as usize);
            if n > MAX_COUNT {
                self.violations.add(format!("TXD.MAXCNT {n:#x} > 16 bits"));
            }
            if !in_ram(ptr, n) {
                self.violations.add(format!("TXD.PTR {ptr:#x} not in RAM"));
                r.set(TXD_AMOUNT, 0);
                r.set(ENDTX, 1);
            } else {
                self.tx.set(Some((ptr, n, 0)));
            }
        }
        if tasks[0] {
            let (ptr, n) = (r.get(RXD_PTR), r.get(RXD_MAXCNT) as usize);
            if n > MAX_COUNT || !in_ram(ptr, n) {
                self.violations
                    .add(format!("RXD {ptr:#x} + {n:#x} not a RAM buffer"));
            } else {
                r.set(ERRORSRC, 0);
                self.rx.set(Some((ptr, n, 0)));
            }
        }
        if let Some((ptr, n, sent)) = self.tx.get() {
            let now = (n - sent).min(self.tx_rate);
            let bytes = self.ram.read(ptr + sent as u32, now).unwrap();
            self.wire.borrow_mut().extend(bytes);
            let sent = sent + now;
            if sent == n || tasks[3] {
                self.tx.set(None);
                r.set(TXD_AMOUNT, sent as u32);
                r.set(ENDTX, 1);
            } else {
                self.tx.set(Some((ptr, n, sent)));
            }
        }
        if tasks[3] {
            r.set(TXSTOPPED, 1);
        }
        if let Some((ptr, n, mut got)) = self.rx.get() {
            while got < n {
                if r.get(ERRORSRC) != 0 {
                    // The line went quiet after the bad frame.
                    break;
                }
                if let Some((after, src)) = self.error_after.get() {
                    if got == after {
                        self.error_after.set(None);
                        r.set(ERRORSRC, src);
                        r.set(ERROR, 1);
                        break;
                    }
                }
                let Some(byte) = self.incoming.borrow_mut().pop_front() else {
                    break;
                };
                self.ram.write(ptr + got as u32, &[byte]);
                got += 1;
            }
            if got == n || tasks[1] {
                self.rx.set(None);
                r.set(RXD_AMOUNT, got as u32);
                r.set(ENDRX, 1);
                if tasks[1] {
                    r.set(RXTO, 1);
                }
            } else {
                self.rx.set(Some((ptr, n, got)));
            }
        }
    }

    /// Whether the UARTE's interrupt line is up.
    fn irq(&self) -> bool {
        let r = self.regs;
        let en = self.inten.get();
        (r.get(ENDRX) != 0 && en & (1 << 4) != 0)
            || (r.get(ENDTX) != 0 && en & (1 << 8) != 0)
            || (r.get(ERROR) != 0 && en & (1 << 9) != 0)
    }
}

/// A finished reception: the bytes, the result and the error.
type Received = (Vec<u8>, Result<(), ErrorCode>, uart::Error);

#[derive(Default)]
struct Client {
    sent: RefCell<Vec<(usize, Result<(), ErrorCode>)>>,
    received: RefCell<Vec<Received>>,
}

impl TransmitClient for Client {
    fn transmitted_buffer(
        &self,
        _buf: &'static mut [u8],
        len: usize,
        rcode: Result<(), ErrorCode>,
    ) {
        self.sent.borrow_mut().push((len, rcode));
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
        self.received
            .borrow_mut()
            .push((buf[..len].to_vec(), rcode, error));
    }
}

struct Setup {
    model: &'static UarteModel,
    uarte: &'static Uarte<'static, &'static SimRam>,
    client: &'static Client,
    ram: &'static SimRam,
}

fn setup() -> Setup {
    let (regs, block) = Block::new::<UarteRegisters>();
    let ram = SimRam::new();
    let model = leak(UarteModel {
        regs: block,
        ram,
        inten: Inten::new(0x304),
        tx_rate: 64,
        tx: Cell::new(None),
        rx: Cell::new(None),
        wire: RefCell::new(Vec::new()),
        incoming: RefCell::new(VecDeque::new()),
        error_after: Cell::new(None),
        violations: Violations::default(),
    });
    let uarte = leak(Uarte::new(regs, ram));
    let client = leak(Client::default());
    uarte.set_transmit_client(client);
    uarte.set_receive_client(client);
    uarte.initialize(Pins::DK);
    model.step();
    uarte.configure(Parameters::default()).unwrap();
    Setup {
        model,
        uarte,
        client,
        ram,
    }
}

impl Setup {
    /// Steps the model and serves interrupts until both are quiet.
    fn run(&self) {
        for _ in 0..100_000 {
            self.model.step();
            if self.model.irq() {
                self.uarte.handle_interrupt();
            } else if self.model.tx.get().is_none() && self.model.rx.get().is_none() {
                return;
            }
        }
        panic!("the UARTE never went quiet");
    }
}

#[test]
fn configuration_follows_the_dk() {
    let s = setup();
    assert_eq!(s.model.regs.get(ENABLE), ENABLE_UARTE);
    assert_eq!(s.model.regs.get(BAUDRATE), 0x01D6_0000, "115200");
    assert_eq!(s.model.regs.get(0x50C), 6, "TX P0.06");
    assert_eq!(s.model.regs.get(0x514), 8, "RX P0.08");
    let odd = Parameters {
        parity: uart::Parity::Odd,
        ..Parameters::default()
    };
    assert_eq!(s.uarte.configure(odd), Err(ErrorCode::NOSUPPORT));
    let odd_baud = Parameters {
        baud_rate: 12345,
        ..Parameters::default()
    };
    assert_eq!(s.uarte.configure(odd_baud), Err(ErrorCode::NOSUPPORT));
}

#[test]
fn a_transmission_goes_out_through_easydma() {
    let s = setup();
    let text = b"Hello from the nRF52840-DK\r\n";
    s.uarte.transmit_buffer(buffer(text), text.len()).unwrap();
    let again = s.uarte.transmit_buffer(buffer(b"x"), 1).unwrap_err();
    assert_eq!(again.0, ErrorCode::BUSY);
    s.run();
    assert_eq!(&s.model.wire.borrow()[..], text);
    assert_eq!(*s.client.sent.borrow(), vec![(text.len(), Ok(()))]);
    s.model.violations.assert_none();
}

#[test]
fn a_transmission_longer_than_maxcnt_goes_in_pieces() {
    let s = setup();
    let text: Vec<u8> = (0..MAX_COUNT + 1000).map(|i| (i % 251) as u8).collect();
    let leaked = buffer(&text);
    s.uarte.transmit_buffer(leaked, text.len()).unwrap();
    s.run();
    assert!(*s.model.wire.borrow() == text, "the whole text went out");
    assert_eq!(*s.client.sent.borrow(), vec![(text.len(), Ok(()))]);
    s.model.violations.assert_none();
}

#[test]
fn a_reception_fills_the_buffer() {
    let s = setup();
    s.model.incoming.borrow_mut().extend(b"kv get".iter());
    s.uarte.receive_buffer(buffer(&[0; 6]), 6).unwrap();
    s.run();
    assert_eq!(
        *s.client.received.borrow(),
        vec![(b"kv get".to_vec(), Ok(()), uart::Error::None)]
    );
    s.model.violations.assert_none();
}

#[test]
fn a_framing_error_ends_the_reception_with_what_arrived() {
    let s = setup();
    s.model.incoming.borrow_mut().extend(b"abcdef".iter());
    s.model.error_after.set(Some((3, 1 << 2)));
    s.uarte.receive_buffer(buffer(&[0; 6]), 6).unwrap();
    s.run();
    assert_eq!(
        *s.client.received.borrow(),
        vec![(b"abc".to_vec(), Err(ErrorCode::FAIL), uart::Error::Framing)]
    );
    // The next reception works and does not see the old error.
    s.uarte.receive_buffer(buffer(&[0; 3]), 3).unwrap();
    s.run();
    assert_eq!(
        s.client.received.borrow()[1],
        (b"def".to_vec(), Ok(()), uart::Error::None)
    );
    s.model.violations.assert_none();
}

#[test]
fn aborts_end_in_one_callback_with_cancel() {
    let s = setup();
    assert_eq!(s.uarte.receive_abort(), Ok(()), "nothing in flight");
    s.model.incoming.borrow_mut().extend(b"ab".iter());
    s.uarte.receive_buffer(buffer(&[0; 8]), 8).unwrap();
    s.model.step();
    assert_eq!(s.uarte.receive_abort(), Err(ErrorCode::BUSY));
    assert_eq!(s.uarte.receive_abort(), Err(ErrorCode::BUSY), "once");
    s.run();
    assert_eq!(
        *s.client.received.borrow(),
        vec![(b"ab".to_vec(), Err(ErrorCode::CANCEL), uart::Error::Aborted)]
    );
    let long = vec![b'z'; 1000];
    s.uarte.transmit_buffer(buffer(&long), long.len()).unwrap();
    s.model.step();
    assert_eq!(s.uarte.transmit_abort(), Err(ErrorCode::BUSY));
    s.run();
    let sent = s.client.sent.borrow().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, Err(ErrorCode::CANCEL));
    assert!(sent[0].0 < long.len() && sent[0].0 == s.model.wire.borrow().len());
    s.model.violations.assert_none();
}

#[test]
fn buffers_outside_the_data_ram_are_refused() {
    let s = setup();
    // As if the buffer were in flash: EasyDMA cannot read it.
    s.ram.place_at.set(Some(0x0004_0000));
    let err = s.uarte.transmit_buffer(buffer(b"abc"), 3).unwrap_err();
    assert_eq!(err.0, ErrorCode::INVAL);
    let err = s.uarte.receive_buffer(buffer(&[0; 4]), 4).unwrap_err();
    assert_eq!(err.0, ErrorCode::INVAL);
    s.run();
    assert!(s.model.wire.borrow().is_empty());
    assert!(s.client.sent.borrow().is_empty(), "no callback");
    s.model.violations.assert_none();
    // Usable again.
    s.ram.place_at.set(None);
    s.uarte.transmit_buffer(buffer(b"ok"), 2).unwrap();
    s.run();
    assert_eq!(&s.model.wire.borrow()[..], b"ok");
}

#[test]
fn bad_lengths_are_refused() {
    let s = setup();
    assert_eq!(
        s.uarte.transmit_buffer(buffer(b"abc"), 0).unwrap_err().0,
        ErrorCode::SIZE
    );
    assert_eq!(
        s.uarte.transmit_buffer(buffer(b"abc"), 4).unwrap_err().0,
        ErrorCode::SIZE
    );
    assert_eq!(
        s.uarte
            .receive_buffer(buffer(&vec![0; MAX_COUNT + 1]), MAX_COUNT + 1)
            .unwrap_err()
            .0,
        ErrorCode::SIZE
    );
}

#[test]
fn the_blocking_writer_polls_endtx() {
    let s = setup();
    let model = s.model;
    s.ram.add_device(leak(move || model.step()));
    use std::fmt::Write;
    let mut w = s.uarte.blocking_writer();
    let place = "at the end of the world";
    write!(w, "kernel panic: {place}").unwrap();
    assert_eq!(
        String::from_utf8(s.model.wire.borrow().clone()).unwrap(),
        "kernel panic: at the end of the world"
    );
    s.model.violations.assert_none();
}

/// The kernel's console (the board's component) on UARTE0: the kernel's
/// output goes out through EasyDMA, as on the board.
#[test]
fn the_console_capsule_runs_on_the_uarte() {
    use components::console::ConsoleMemory;
    use kernel::policy::{AllowAll, StopFaultPolicy};
    use kernel_mock::Harness;

    let s = setup();
    let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let memory: &'static mut ConsoleMemory<256> = Box::leak(Box::new(ConsoleMemory::new()));
    let console =
        components::console::console(memory, s.uarte, h.kernel, h.deferred).expect("console");
    use std::fmt::Write;
    let _ = writeln!(console.kernel_writer(), "nrf52840dk: kernel started");
    for _ in 0..10_000 {
        s.model.step();
        if s.model.irq() {
            s.uarte.handle_interrupt();
        }
        if !h.deferred.service_next()
            && s.model.tx.get().is_none()
            && !s.model.irq()
            && s.model.wire.borrow().ends_with(b"\n")
        {
            break;
        }
    }
    let wire = String::from_utf8(s.model.wire.borrow().clone()).unwrap();
    assert!(wire.contains("nrf52840dk: kernel started"), "{wire:?}");
    s.model.violations.assert_none();
}
