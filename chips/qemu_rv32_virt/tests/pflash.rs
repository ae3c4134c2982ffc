//! The CFI pflash driver against an emulated pair of x16 Intel-command-set
//! chips on a 32-bit bus (the `virt` machine's pflash), with QEMU's
//! overwrite-on-program semantics and injectable failures.

use std::cell::{Cell, RefCell};

use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::{Error, Flash, FlashClient};
use kernel::ErrorCode;
use qemu_rv32_virt_chip::pflash::{
    command, Pflash, PflashBus, DEFAULT_POLL_LIMIT, ERASE_UNIT, PFLASH_SIZE,
};

// ---------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------

/// What the chip pair answers reads with, and what the next write means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    ReadArray,
    ReadStatus,
    /// `0x40` was written; the next write is the data word.
    ProgramSetup,
    /// `0x20` was written at `offset`; the next write must be `0xD0`.
    EraseSetup {
        offset: u32,
    },
}

/// Two x16 chips side by side: chip 0 in bits 0-15, chip 1 in bits 16-31.
/// Both always receive the same commands (the driver replicates them); each
/// has its own status register.
struct Cfi {
    words: RefCell<Vec<u32>>,
    mode: Cell<Mode>,
    /// Status register of each chip (bit 7 ready, error bits 1/3/4/5).
    status: Cell<[u8; 2]>,
    /// Status reads left until the operation in progress finishes.
    busy_reads: Cell<u32>,
    /// An operation started while `never_ready` was set: it never ends.
    hung: Cell<bool>,

    // Injections.
    /// Every program / erase keeps the chips busy for this many status reads.
    busy_for: Cell<u32>,
    /// Chips that never become ready.
    never_ready: Cell<[bool; 2]>,
    /// Error bits each chip reports at the end of the next program / erase.
    fail_next: Cell<[u8; 2]>,
    /// Programs report success but store nothing.
    drop_programs: Cell<bool>,
    /// An erase leaves this byte offset at 0.
    stuck_word: Cell<Option<u32>>,

    // Observations.
    /// Every write: (offset, value).
    writes: RefCell<Vec<(u32, u32)>>,
    programs: Cell<usize>,
    erases: Cell<usize>,
    /// Programs that would have needed a 0 -> 1 transition on silicon.
    bits_set: Cell<usize>,
    /// Command sequences a real chip would not accept.
    protocol_errors: RefCell<Vec<String>>,
}

const ERASED: u32 = u32::MAX;

impl Cfi {
    fn new(size: u32) -> Cfi {
        Cfi {
            words: RefCell::new(vec![ERASED; size as usize / 4]),
            mode: Cell::new(Mode::ReadArray),
            status: Cell::new([0x80, 0x80]),
            busy_reads: Cell::new(0),
            hung: Cell::new(false),
            busy_for: Cell::new(0),
            never_ready: Cell::new([false, false]),
            fail_next: Cell::new([0, 0]),
            drop_programs: Cell::new(false),
            stuck_word: Cell::new(None),
            writes: RefCell::new(Vec::new()),
            programs: Cell::new(0),
            erases: Cell::new(0),
            bits_set: Cell::new(0),
            protocol_errors: RefCell::new(Vec::new()),
        }
    }

    fn word(&self, offset: u32) -> u32 {
        self.words.borrow()[offset as usize / 4]
    }

    fn set_word(&self, offset: u32, value: u32) {
        self.words.borrow_mut()[offset as usize / 4] = value;
    }

    fn error(&self, what: String) {
        self.protocol_errors.borrow_mut().push(what);
    }

    /// A program or erase started: busy, then ready with the injected bits.
    fn start_operation(&self) {
        self.busy_reads.set(self.busy_for.get());
        if self.never_ready.get().iter().any(|&n| n) {
            self.hung.set(true);
        }
        let fail = self.fail_next.replace([0, 0]);
        let [s0, s1] = self.status.get();
        // Ready is reported once the busy reads are used up (see `status_word`).
        self.status.set([s0 | fail[0], s1 | fail[1]]);
        self.mode.set(Mode::ReadStatus);
    }

    fn busy(&self) -> bool {
        self.busy_reads.get() > 0 || self.hung.get()
    }

    fn status_word(&self) -> u32 {
        let busy_now = self.busy_reads.get() > 0;
        if busy_now {
            self.busy_reads.set(self.busy_reads.get() - 1);
        }
        let never = self.never_ready.get().map(|n| n && self.hung.get());
        let [s0, s1] = self.status.get();
        let chip = |s: u8, never: bool| {
            if busy_now || never {
                u32::from(s & !0x80)
            } else {
                u32::from(s | 0x80)
            }
        };
        chip(s0, never[0]) | chip(s1, never[1]) << 16
    }

    /// A command write must hold the same command for both chips.
    fn command(&self, offset: u32, value: u32) -> Option<u8> {
        let (low, high) = (value & 0xFFFF, value >> 16);
        if low != high || low > 0xFF {
            self.error(format!("unreplicated command {value:#010x} at {offset:#x}"));
            return None;
        }
        Some(low as u8)
    }
}

impl PflashBus for Cfi {
    fn read32(&self, offset: u32) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned read at {offset:#x}");
        match self.mode.get() {
            Mode::ReadArray => self.word(offset),
            _ => self.status_word(),
        }
    }

    fn write32(&self, offset: u32, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned write at {offset:#x}");
        self.writes.borrow_mut().push((offset, value));
        if self.busy() {
            // A busy chip ignores commands.
            return;
        }
        match self.mode.get() {
            Mode::ProgramSetup => {
                let old = self.word(offset);
                if value & !old != 0 {
                    self.bits_set.set(self.bits_set.get() + 1);
                }
                if !self.drop_programs.get() {
                    // QEMU overwrites; silicon would AND.
                    self.set_word(offset, value);
                }
                self.programs.set(self.programs.get() + 1);
                self.start_operation();
            }
            Mode::EraseSetup { offset: setup } => {
                let block = setup & !(ERASE_UNIT - 1);
                if self.command(offset, value) != Some(0xD0) {
                    self.error(format!("erase setup followed by {value:#x}"));
                    let [s0, s1] = self.status.get();
                    self.status.set([s0 | 0x30, s1 | 0x30]);
                    self.mode.set(Mode::ReadStatus);
                    return;
                }
                if offset & !(ERASE_UNIT - 1) != block {
                    self.error(format!("erase confirm at {offset:#x}, setup at {setup:#x}"));
                }
                for w in 0..ERASE_UNIT / 4 {
                    self.set_word(block + 4 * w, ERASED);
                }
                if let Some(stuck) = self.stuck_word.get() {
                    if stuck & !(ERASE_UNIT - 1) == block {
                        self.set_word(stuck, 0);
                    }
                }
                self.erases.set(self.erases.get() + 1);
                self.start_operation();
            }
            Mode::ReadArray | Mode::ReadStatus => match self.command(offset, value) {
                Some(0x40 | 0x10) => self.mode.set(Mode::ProgramSetup),
                Some(0x20) => self.mode.set(Mode::EraseSetup { offset }),
                Some(0x50) => {
                    // Clears the error bits; the read mode stays (silicon).
                    let [s0, s1] = self.status.get();
                    self.status.set([s0 & 0x80, s1 & 0x80]);
                }
                Some(0x70) => self.mode.set(Mode::ReadStatus),
                Some(0xFF) => self.mode.set(Mode::ReadArray),
                other => {
                    self.error(format!("unexpected command {other:?} at {offset:#x}"));
                    let [s0, s1] = self.status.get();
                    self.status.set([s0 | 0x30, s1 | 0x30]);
                    self.mode.set(Mode::ReadStatus);
                }
            },
        }
    }

    fn size(&self) -> u32 {
        (self.words.borrow().len() * 4) as u32
    }
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn buffer(bytes: &[u8]) -> &'static mut [u8] {
    Box::leak(bytes.to_vec().into_boxed_slice())
}

fn words(values: &[u32]) -> &'static mut [u8] {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    buffer(&bytes)
}

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Read(Vec<u8>, usize, Result<(), Error>),
    Program(usize, Result<(), Error>),
    Erase(u32, Result<(), Error>),
}

/// Records callbacks; optionally runs a follow-up request from inside one.
#[derive(Default)]
struct Client {
    events: RefCell<Vec<Event>>,
    /// The buffer handed back by the last read or program.
    last_buffer: RefCell<Option<Vec<u8>>>,
    follow_up: Cell<Option<fn(&'static Flashy)>>,
    flash: Cell<Option<&'static Flashy>>,
}

type Flashy = Pflash<'static, &'static Cfi>;

impl Client {
    fn chain(&self) {
        if let (Some(f), Some(flash)) = (self.follow_up.take(), self.flash.get()) {
            f(flash);
        }
    }
}

impl FlashClient for Client {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.events
            .borrow_mut()
            .push(Event::Read(buf[..len].to_vec(), len, result));
        *self.last_buffer.borrow_mut() = Some(buf.to_vec());
        self.chain();
    }

    fn program_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.events.borrow_mut().push(Event::Program(len, result));
        *self.last_buffer.borrow_mut() = Some(buf.to_vec());
        self.chain();
    }

    fn erase_done(&self, unit: u32, result: Result<(), Error>) {
        self.events.borrow_mut().push(Event::Erase(unit, result));
        self.chain();
    }
}

struct H {
    flash: &'static Flashy,
    cfi: &'static Cfi,
    calls: &'static DeferredCalls<2>,
    client: &'static Client,
}

/// Four erase units (1 MiB).
const SIZE: u32 = 4 * ERASE_UNIT;

fn harness_with(size: u32, units: Option<u32>) -> H {
    let cfi: &'static Cfi = leak(Cfi::new(size));
    let calls: &'static DeferredCalls<2> = leak(DeferredCalls::new());
    let flash: &'static Flashy = leak(Pflash::new(cfi, calls.allocate().unwrap(), units));
    flash.register_deferred_call();
    flash.init();
    let client: &'static Client = leak(Client::default());
    client.flash.set(Some(flash));
    flash.set_client(client);
    cfi.writes.borrow_mut().clear();
    H {
        flash,
        cfi,
        calls,
        client,
    }
}

fn harness() -> H {
    harness_with(SIZE, None)
}

impl H {
    /// Services deferred calls until none is pending; returns how many ran.
    fn run(&self) -> usize {
        let mut ran = 0;
        while self.calls.service_next() {
            ran += 1;
            assert!(ran < 10_000_000, "deferred calls never stop");
        }
        ran
    }

    fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.client.events.borrow_mut())
    }

    /// The state every completed operation must leave behind.
    fn assert_clean(&self) {
        assert_eq!(
            self.cfi.mode.get(),
            Mode::ReadArray,
            "not in read-array mode"
        );
        assert_eq!(
            self.cfi.status.get().map(|s| s & 0x3A),
            [0, 0],
            "status not cleared"
        );
        assert!(!self.flash.is_busy());
        assert_eq!(self.cfi.bits_set.get(), 0, "a program set a cleared bit");
        assert!(
            self.cfi.protocol_errors.borrow().is_empty(),
            "{:?}",
            self.cfi.protocol_errors.borrow()
        );
    }

    /// Reads through the driver (which must answer with data, not status).
    fn read_back(&self, offset: u32, len: usize) -> Vec<u8> {
        self.flash.read(offset, buffer(&vec![0; len]), len).unwrap();
        self.run();
        match self.take_events().as_slice() {
            [Event::Read(data, _, Ok(()))] => data.clone(),
            other => panic!("{other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn geometry_of_a_whole_unit_and_of_a_part() {
    let h = harness_with(PFLASH_SIZE, None);
    let g = h.flash.geometry();
    assert_eq!(
        (g.erase_unit, g.erase_units, g.program_unit, g.erase_value),
        (256 * 1024, 128, 4, 0xFF)
    );
    assert!(g.is_valid());
    assert_eq!(g.size(), u64::from(PFLASH_SIZE));

    assert_eq!(harness_with(SIZE, Some(3)).flash.geometry().erase_units, 3);
    assert_eq!(harness_with(SIZE, Some(99)).flash.geometry().erase_units, 4);
}

#[test]
fn reads_at_any_alignment() {
    let h = harness();
    for w in 0..8u32 {
        h.cfi.set_word(
            4 * w,
            u32::from_le_bytes([
                4 * w as u8,
                4 * w as u8 + 1,
                4 * w as u8 + 2,
                4 * w as u8 + 3,
            ]),
        );
    }
    let buf = buffer(&[0xAA; 16]);
    assert!(h.flash.read(5, buf, 7).is_ok());
    assert!(h.take_events().is_empty(), "no callback inside the request");
    assert!(h.flash.is_busy());
    assert_eq!(h.run(), 1);
    assert_eq!(
        h.take_events(),
        [Event::Read(vec![5, 6, 7, 8, 9, 10, 11], 7, Ok(()))]
    );
    let returned = h.client.last_buffer.borrow().clone().unwrap();
    assert_eq!(
        &returned[7..],
        &[0xAA; 9],
        "the rest of the buffer is left alone"
    );

    assert_eq!(h.read_back(0, 3), [0, 1, 2]);
    assert_eq!(h.read_back(30, 2), [30, 31]);
    assert_eq!(h.read_back(SIZE - 1, 1), [0xFF]);
    assert_eq!(h.read_back(ERASE_UNIT - 2, 4), [0xFF; 4]); // spans units
    h.assert_clean();
    assert!(h.cfi.writes.borrow().is_empty(), "reads issue no commands");
}

#[test]
fn read_now_reads_in_the_call_and_only_while_idle() {
    let h = harness();
    h.cfi.set_word(8, u32::from_le_bytes([1, 2, 3, 4]));
    h.cfi.set_word(12, u32::from_le_bytes([5, 6, 7, 8]));
    let mut now = [0xAA; 6];
    assert_eq!(h.flash.read_now(9, &mut now[..5]), Ok(()));
    assert_eq!(now, [2, 3, 4, 5, 6, 0xAA]);
    assert_eq!(h.run(), 0, "no deferred call");
    assert!(h.take_events().is_empty(), "no callback");
    assert_eq!(
        h.flash.read_now(SIZE - 2, &mut now[..4]),
        Err(ErrorCode::INVAL)
    );
    assert_eq!(h.flash.read_now(0, &mut []), Err(ErrorCode::INVAL));
    // While a request is in flight the chip may not be in read-array mode.
    h.flash.program(0x100, words(&[0x1234_5678]), 4).unwrap();
    assert_eq!(h.flash.read_now(8, &mut now[..4]), Err(ErrorCode::BUSY));
    h.run();
    h.take_events();
    assert_eq!(h.flash.read_now(0x100, &mut now[..4]), Ok(()));
    assert_eq!(now[..4], 0x1234_5678u32.to_le_bytes());
    h.assert_clean();
}

#[test]
fn read_rejections_hand_the_buffer_back() {
    let h = harness();
    let cases: [(u32, usize, usize, ErrorCode); 4] = [
        (0, 0, 8, ErrorCode::INVAL),
        (0, 9, 8, ErrorCode::SIZE),
        (SIZE - 4, 8, 8, ErrorCode::INVAL),
        (SIZE, 1, 8, ErrorCode::INVAL),
    ];
    for (offset, len, buf_len, code) in cases {
        let (e, buf) = h
            .flash
            .read(offset, buffer(&vec![0; buf_len]), len)
            .unwrap_err();
        assert_eq!((e, buf.len()), (code, buf_len));
    }
    h.flash.read(0, buffer(&[0; 4]), 4).unwrap();
    let (e, _) = h.flash.read(0, buffer(&[0; 4]), 4).unwrap_err();
    assert_eq!(e, ErrorCode::BUSY);
    assert_eq!(h.run(), 1);
    assert_eq!(
        h.take_events().len(),
        1,
        "only the accepted request calls back"
    );
}

#[test]
fn program_writes_words_and_returns_to_read_array() {
    let h = harness();
    let data = words(&[0x1234_5678, 0x0000_0000, 0xA5A5_5A5A]);
    assert!(h.flash.program(8, data, 12).is_ok());
    assert!(h.take_events().is_empty());
    assert_eq!(
        h.cfi.programs.get(),
        0,
        "programming starts from the deferred call"
    );
    h.run();
    assert_eq!(h.take_events(), [Event::Program(12, Ok(()))]);
    assert_eq!(h.cfi.programs.get(), 3);
    assert_eq!(
        (h.cfi.word(8), h.cfi.word(12), h.cfi.word(16)),
        (0x1234_5678, 0, 0xA5A5_5A5A)
    );
    assert_eq!((h.cfi.word(4), h.cfi.word(20)), (ERASED, ERASED));
    h.assert_clean();
    assert_eq!(
        h.read_back(8, 4),
        0x1234_5678u32.to_le_bytes(),
        "the next read returns data, not status"
    );
    // Each word: program command and data at the word's address; the
    // chips stay in command mode through the batch, then clear status and
    // return to read-array mode once.
    let w = h.cfi.writes.borrow();
    assert_eq!(
        *w,
        [
            (8, command::PROGRAM),
            (8, 0x1234_5678),
            (12, command::PROGRAM),
            (12, 0),
            (16, command::PROGRAM),
            (16, 0xA5A5_5A5A),
            (8, command::CLEAR_STATUS),
            (8, command::READ_ARRAY)
        ]
    );
}

#[test]
fn program_skips_words_that_already_hold_their_value() {
    let h = harness();
    h.cfi.set_word(0, 0x1234_5678);
    let data = words(&[0x1234_5678, ERASED, 0x0F0F_0F0F, ERASED]);
    h.flash.program(0, data, 16).unwrap();
    h.run();
    assert_eq!(h.take_events(), [Event::Program(16, Ok(()))]);
    assert_eq!(h.cfi.programs.get(), 1);
    assert_eq!(h.cfi.word(8), 0x0F0F_0F0F);
    h.assert_clean();

    // Programming the same data again programs nothing.
    h.flash
        .program(0, words(&[0x1234_5678, ERASED, 0x0F0F_0F0F, ERASED]), 16)
        .unwrap();
    h.run();
    assert_eq!(h.take_events(), [Event::Program(16, Ok(()))]);
    assert_eq!(h.cfi.programs.get(), 1);

    // Past the first batch of 32 words too: of 40 words, the two that
    // already hold their value (one in each batch) are not programmed.
    let values: Vec<u32> = (0..40u32).map(|i| i.wrapping_mul(0x0101_0101)).collect();
    h.cfi.set_word(4096 + 4, values[1]);
    h.cfi.set_word(4096 + 4 * 35, values[35]);
    h.flash.program(4096, words(&values), 160).unwrap();
    h.run();
    assert_eq!(h.take_events(), [Event::Program(160, Ok(()))]);
    assert_eq!(h.cfi.programs.get(), 1 + 38);
    assert_eq!(h.read_back(4096, 160), words(&values).to_vec());
    h.assert_clean();
}

#[test]
fn a_zero_to_one_program_is_refused_and_changes_nothing() {
    let h = harness();
    h.cfi.set_word(8, 0x0000_00FF);
    // Word 0 alone would be fine; word 2 needs bits 8-11 back to 1.
    let data = words(&[0x0000_0000, ERASED, 0x0000_0F00]);
    assert!(h.flash.program(0, data, 12).is_ok());
    assert_eq!(h.run(), 1);
    assert_eq!(
        h.take_events(),
        [Event::Program(12, Err(Error::VerifyFailed))]
    );
    assert_eq!(h.cfi.programs.get(), 0);
    assert!(h.cfi.writes.borrow().is_empty(), "no command was issued");
    assert_eq!((h.cfi.word(0), h.cfi.word(8)), (ERASED, 0xFF));
    h.assert_clean();
    assert!(h.flash.program(0, words(&[0]), 4).is_ok(), "idle again");
    h.run();
    assert_eq!(h.take_events(), [Event::Program(4, Ok(()))]);
}

#[test]
fn program_rejections() {
    let h = harness();
    let cases: [(u32, usize, usize, ErrorCode); 7] = [
        (2, 4, 8, ErrorCode::INVAL),        // unaligned offset
        (0, 6, 8, ErrorCode::INVAL),        // unaligned length
        (0, 0, 8, ErrorCode::INVAL),        // empty
        (0, 12, 8, ErrorCode::SIZE),        // longer than the buffer
        (SIZE - 4, 8, 8, ErrorCode::INVAL), // leaves the flash
        (SIZE, 4, 4, ErrorCode::INVAL),
        (u32::MAX - 3, 4, 4, ErrorCode::INVAL),
    ];
    for (offset, len, buf_len, code) in cases {
        let (e, buf) = h
            .flash
            .program(offset, buffer(&vec![0; buf_len]), len)
            .unwrap_err();
        assert_eq!((e, buf.len()), (code, buf_len), "{offset} {len} {buf_len}");
    }
    assert!(h.cfi.writes.borrow().is_empty());
    assert!(!h.calls.has_pending());

    h.flash.erase(1).unwrap();
    let (e, _) = h.flash.program(0, words(&[0]), 4).unwrap_err();
    assert_eq!(e, ErrorCode::BUSY);
    let (e, _) = h.flash.read(0, buffer(&[0; 4]), 4).unwrap_err();
    assert_eq!(e, ErrorCode::BUSY);
    assert_eq!(h.flash.erase(2), Err(ErrorCode::BUSY));
    h.run();
    assert_eq!(h.take_events(), [Event::Erase(1, Ok(()))]);
    assert_eq!(h.cfi.erases.get(), 1);
}

#[test]
fn erase_resets_exactly_its_unit() {
    let h = harness();
    for unit in 0..3 {
        let base = unit * ERASE_UNIT;
        h.cfi.set_word(base, 0);
        h.cfi.set_word(base + ERASE_UNIT - 4, 0x1111_1111);
    }
    assert!(h.flash.erase(1).is_ok());
    assert!(h.take_events().is_empty());
    let calls = h.run();
    assert!(
        calls > 1,
        "the check of the block is spread over deferred calls"
    );
    assert_eq!(h.take_events(), [Event::Erase(1, Ok(()))]);
    assert_eq!(
        (h.cfi.word(ERASE_UNIT), h.cfi.word(2 * ERASE_UNIT - 4)),
        (ERASED, ERASED)
    );
    assert_eq!(
        (h.cfi.word(0), h.cfi.word(ERASE_UNIT - 4)),
        (0, 0x1111_1111)
    );
    assert_eq!(h.cfi.word(2 * ERASE_UNIT), 0);
    h.assert_clean();
    assert_eq!(
        h.cfi.writes.borrow()[..2],
        [
            (ERASE_UNIT, command::ERASE_SETUP),
            (ERASE_UNIT, command::ERASE_CONFIRM)
        ]
    );
    assert_eq!(h.read_back(ERASE_UNIT, 4), [0xFF; 4]);

    assert_eq!(h.flash.erase(4), Err(ErrorCode::INVAL));
    assert_eq!(h.flash.erase(u32::MAX), Err(ErrorCode::INVAL));
    let partial = harness_with(SIZE, Some(2));
    assert_eq!(partial.flash.erase(2), Err(ErrorCode::INVAL));
    assert!(!partial.calls.has_pending());
}

#[test]
fn status_error_bits_fail_with_the_right_error() {
    // (error bits, chip) for programs.
    for (bits, chip) in [(0x10, 0), (0x10, 1), (0x08, 1), (0x02, 0), (0x30, 1)] {
        let h = harness();
        let mut fail = [0u8; 2];
        fail[chip] = bits;
        h.cfi.fail_next.set(fail);
        h.flash
            .program(4, words(&[0x0102_0304, 0x0506_0708]), 8)
            .unwrap();
        h.run();
        assert_eq!(
            h.take_events(),
            [Event::Program(8, Err(Error::ProgramFailed))],
            "bits {bits:#x} chip {chip}"
        );
        assert_eq!(h.cfi.programs.get(), 1, "stops at the failing word");
        h.assert_clean();
        assert_eq!(h.read_back(4, 4), 0x0102_0304u32.to_le_bytes());
    }
    for (bits, chip) in [(0x20, 0), (0x20, 1), (0x08, 0), (0x02, 1)] {
        let h = harness();
        let mut fail = [0u8; 2];
        fail[chip] = bits;
        h.cfi.fail_next.set(fail);
        h.flash.erase(3).unwrap();
        h.run();
        assert_eq!(
            h.take_events(),
            [Event::Erase(3, Err(Error::EraseFailed))],
            "bits {bits:#x} chip {chip}"
        );
        h.assert_clean();
        assert_eq!(h.read_back(3 * ERASE_UNIT, 2), [0xFF; 2]);
    }
}

#[test]
fn data_that_does_not_read_back_fails_verification() {
    let h = harness();
    h.cfi.drop_programs.set(true);
    h.flash.program(0, words(&[0x55AA_55AA]), 4).unwrap();
    h.run();
    assert_eq!(
        h.take_events(),
        [Event::Program(4, Err(Error::VerifyFailed))]
    );
    h.assert_clean();

    h.cfi.stuck_word.set(Some(2 * ERASE_UNIT + 0x1_0000));
    h.flash.erase(2).unwrap();
    h.run();
    assert_eq!(h.take_events(), [Event::Erase(2, Err(Error::EraseFailed))]);
    h.assert_clean();
}

#[test]
fn slow_chips_are_polled_from_deferred_calls() {
    let h = harness();
    h.cfi.busy_for.set(200);
    h.flash.program(0, words(&[1, 2]), 8).unwrap();
    let calls = h.run();
    assert!(
        calls > 2,
        "polling must give the kernel back ({calls} calls)"
    );
    assert_eq!(h.take_events(), [Event::Program(8, Ok(()))]);
    assert_eq!((h.cfi.word(0), h.cfi.word(4)), (1, 2));
    h.assert_clean();

    h.flash.erase(0).unwrap();
    h.run();
    assert_eq!(h.take_events(), [Event::Erase(0, Ok(()))]);
    h.assert_clean();
}

#[test]
fn chips_that_never_get_ready_time_out() {
    for never in [[true, true], [true, false], [false, true]] {
        let h = harness();
        h.flash.set_poll_limit(5);
        h.cfi.never_ready.set(never);
        h.flash.program(0, words(&[0x1234_0000]), 4).unwrap();
        let calls = h.run();
        assert!(calls <= 6, "{calls}");
        assert_eq!(
            h.take_events(),
            [Event::Program(4, Err(Error::Timeout))],
            "{never:?}"
        );
        assert!(!h.flash.is_busy());

        h.flash.erase(1).unwrap();
        h.run();
        assert_eq!(h.take_events(), [Event::Erase(1, Err(Error::Timeout))]);
        assert!(!h.flash.is_busy());
    }
    const { assert!(DEFAULT_POLL_LIMIT > 1000) };
}

#[test]
fn a_large_program_is_spread_over_deferred_calls() {
    let h = harness();
    let values: Vec<u32> = (0..2048u32).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
    h.flash
        .program(ERASE_UNIT - 4096, words(&values), 8192)
        .unwrap();
    let calls = h.run();
    assert!(calls >= 8, "{calls}");
    assert_eq!(h.take_events(), [Event::Program(8192, Ok(()))]);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(h.cfi.word(ERASE_UNIT - 4096 + 4 * i as u32), *v);
    }
    h.assert_clean();
    let back = h.read_back(ERASE_UNIT - 4096, 8192);
    assert_eq!(back[..4], values[0].to_le_bytes());
}

#[test]
fn the_client_may_start_the_next_request_from_the_callback() {
    let h = harness();
    h.cfi.set_word(0, 0);
    h.client.follow_up.set(Some(|flash: &'static Flashy| {
        flash.program(0, words(&[0xCAFE_F00D]), 4).unwrap();
    }));
    h.flash.erase(0).unwrap();
    h.run();
    assert_eq!(
        h.take_events(),
        [Event::Erase(0, Ok(())), Event::Program(4, Ok(()))]
    );
    assert_eq!(h.cfi.word(0), 0xCAFE_F00D);
    h.assert_clean();
}

#[test]
fn init_puts_the_chips_back_into_read_array_mode() {
    let cfi: &'static Cfi = leak(Cfi::new(SIZE));
    cfi.set_word(0, 0x0BAD_CAFE);
    cfi.write32(0, command::READ_STATUS);
    cfi.status.set([0x80 | 0x10, 0x80]);
    assert_ne!(cfi.read32(0), 0x0BAD_CAFE);
    let calls: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let flash = Pflash::new(cfi, calls.allocate().unwrap(), None);
    flash.init();
    assert_eq!(cfi.mode.get(), Mode::ReadArray);
    assert_eq!(cfi.status.get(), [0x80, 0x80]);
    assert_eq!(cfi.read32(0), 0x0BAD_CAFE);
}

#[test]
fn the_next_request_after_a_timeout_resets_the_chips() {
    let h = harness();
    h.cfi.set_word(0x100, 0x0123_4567);
    h.flash.set_poll_limit(3);
    h.cfi.never_ready.set([false, true]);
    h.flash.program(0, words(&[0]), 4).unwrap();
    h.run();
    assert_eq!(h.take_events(), [Event::Program(4, Err(Error::Timeout))]);
    // The chip finishes late; it is still in status mode, because the
    // driver's commands arrived while it was busy.
    h.cfi.never_ready.set([false, false]);
    h.cfi.hung.set(false);
    assert_eq!(h.cfi.mode.get(), Mode::ReadStatus);
    assert_eq!(h.read_back(0x100, 4), 0x0123_4567u32.to_le_bytes());
    h.assert_clean();
    // Only once.
    h.cfi.writes.borrow_mut().clear();
    h.read_back(0, 4);
    assert!(h.cfi.writes.borrow().is_empty());
}
