//! The flash_ctrl driver against a register model of the controller
//! (`flash_ctrl_model`): whole operations through the real driver, the
//! part's rules (one program per ECC word, program windows, page erases,
//! memory protection), controller errors, timeouts and an absent
//! controller; then the TicKV capsule and kv_store over the real driver
//! on the model: the key-value operations, remounts, and a power cut at
//! every mutating flash operation with a consistency check after each
//! reboot. No word is ever programmed twice.

mod flash_ctrl_model;
#[path = "../../../capsules/extra/tests/tickv_support/mod.rs"]
mod tickv_support;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use capsules_core::siphash::SipHasher;
use capsules_extra::kv_store::KVStore;
use capsules_extra::tickv::{Config, KVSystemExt, TicKVSystem};
use flash_ctrl_model::*;
use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::{Error, Flash, FlashClient};
use kernel::hil::hasher::Hasher;
use kernel::hil::kv::{KVSystem, KV};
use kernel::ErrorCode;
use lowrisc::flash_ctrl::{FlashCtrl, Partition, PAGE_SIZE};
use tickv::IndexEntry;
use tickv_support::{as_request, buf, key_buf, Done, Recorder};

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn buffer(data: &[u8]) -> &'static mut [u8] {
    Box::leak(data.to_vec().into_boxed_slice())
}

/// The partition of most tests: 16 pages in bank 1, guarded by region 1
/// (region 0, which wins over it, stays free for the protection tests).
const PART: Partition = Partition {
    first_page: 256,
    pages: 16,
    region: 1,
};

/// Byte address in the flash of partition offset `offset`.
fn flash_addr(p: Partition, offset: u32) -> usize {
    (p.first_page * PAGE_SIZE + offset) as usize
}

// ---------------------------------------------------------------------------
// The driver alone
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Event {
    Read(Vec<u8>, usize, Result<(), Error>),
    Program(usize, Result<(), Error>),
    Erase(u32, Result<(), Error>),
}

#[derive(Default)]
struct Client {
    events: RefCell<Vec<Event>>,
    in_request: Cell<bool>,
}

impl Client {
    fn push(&self, e: Event) {
        assert!(!self.in_request.get(), "callback inside the request");
        self.events.borrow_mut().push(e);
    }
}

impl FlashClient for Client {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.push(Event::Read(buf[..len].to_vec(), len, result));
    }
    fn program_done(&self, _: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.push(Event::Program(len, result));
    }
    fn erase_done(&self, unit: u32, result: Result<(), Error>) {
        self.push(Event::Erase(unit, result));
    }
}

type Ctrl = FlashCtrl<'static, &'static Model>;

struct H {
    calls: &'static DeferredCalls<2>,
    model: &'static Model,
    ctrl: &'static Ctrl,
    client: &'static Client,
}

fn harness_with(model: Model, part: Partition) -> (H, Result<(), ErrorCode>) {
    let calls: &'static DeferredCalls<2> = leak(DeferredCalls::new());
    let model = model.leak();
    let ctrl: &'static Ctrl = leak(FlashCtrl::new(model, part, calls.allocate().unwrap()));
    ctrl.register_deferred_call();
    let client = leak(Client::default());
    ctrl.set_client(client);
    let init = ctrl.init();
    (
        H {
            calls,
            model,
            ctrl,
            client,
        },
        init,
    )
}

fn harness() -> H {
    let (h, init) = harness_with(Model::blank(), PART);
    init.expect("init");
    h
}

impl H {
    /// Services deferred calls until none is pending; how many ran.
    fn run(&self) -> usize {
        let mut n = 0;
        while self.calls.service_next() {
            n += 1;
            assert!(n < 10_000_000, "the driver never settles");
        }
        n
    }

    /// Makes a request and runs it to its one callback.
    fn request(&self, f: impl FnOnce() -> Result<(), ErrorCode>) -> Result<Event, ErrorCode> {
        self.client.in_request.set(true);
        let r = f();
        self.client.in_request.set(false);
        self.run();
        let mut events = self.client.events.borrow_mut();
        match r {
            Err(code) => {
                assert!(events.is_empty(), "a refused request got a callback");
                Err(code)
            }
            Ok(()) => {
                assert_eq!(events.len(), 1, "exactly one callback: {events:?}");
                assert!(!self.ctrl.is_busy(), "idle after the callback");
                Ok(events.pop().unwrap())
            }
        }
    }

    fn program(&self, offset: u32, data: &[u8]) -> Result<(), Error> {
        let b = buffer(data);
        match self.request(|| self.ctrl.program(offset, b, data.len()).map_err(|(c, _)| c)) {
            Ok(Event::Program(len, r)) => {
                assert_eq!(len, data.len());
                r
            }
            other => panic!("program: {other:?}"),
        }
    }

    fn read(&self, offset: u32, len: usize) -> Result<Vec<u8>, Error> {
        let b = buffer(&vec![0x5A; len + 3]);
        match self.request(|| self.ctrl.read(offset, b, len).map_err(|(c, _)| c)) {
            Ok(Event::Read(data, l, r)) => {
                assert_eq!(l, len);
                r.map(|()| data)
            }
            other => panic!("read: {other:?}"),
        }
    }

    fn erase(&self, unit: u32) -> Result<(), Error> {
        match self.request(|| self.ctrl.erase(unit)) {
            Ok(Event::Erase(u, r)) => {
                assert_eq!(u, unit);
                r
            }
            other => panic!("erase: {other:?}"),
        }
    }

    fn assert_clean(&self) {
        assert_eq!(*self.model.violations.borrow(), Vec::<String>::new());
        let s = self.model.stats.get();
        assert_eq!(s.double_programs, 0, "a word was programmed twice");
        assert_eq!(s.window_errors, 0, "a program crossed a window");
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) & 0xFE)
        .collect()
}

#[test]
fn init_configures_one_ecc_region_over_the_partition() {
    let h = harness();
    assert_eq!(h.model.mp_region(1), 256 | 16 << 9);
    let cfg = h.model.mp_cfg(1);
    let field = |shift: u32| (cfg >> shift) & 0xF;
    // Enabled, read, program, erase, ECC on; scrambling and high
    // endurance off.
    assert_eq!(
        [0, 4, 8, 12, 20].map(field),
        [TRUE; 5],
        "EN RD PROG ERASE ECC"
    );
    assert_eq!([16, 24].map(field), [FALSE; 2], "SCRAMBLE HE");
    let g = h.ctrl.geometry();
    assert_eq!(
        (g.erase_unit, g.erase_units, g.program_unit, g.erase_value),
        (2048, 16, 8, 0xFF)
    );
    h.assert_clean();
}

#[test]
fn programs_stay_inside_windows_and_each_word_is_programmed_once() {
    let h = harness();
    // 200 bytes from offset 40: windows 0-63 (3 words), 64-127, 128-191,
    // 192-239 (6 words).
    let data = pattern(200, 3);
    h.program(40, &data).unwrap();
    let s = h.model.stats.get();
    assert_eq!(s.word_programs, 25);
    let a = flash_addr(PART, 40);
    assert_eq!(h.model.array.borrow().mem[a..a + 200], data[..]);
    // 0xFF words are programmed too (their ECC is written).
    h.program(1024, &[0xFF; 16]).unwrap();
    assert_eq!(h.model.stats.get().word_programs, 27);
    let w = flash_addr(PART, 1024) / WORD;
    assert!(h.model.array.borrow().programmed[w]);
    h.assert_clean();
}

#[test]
fn reads_of_any_length_and_alignment() {
    let h = harness();
    let data = pattern(256, 9);
    h.program(0, &data).unwrap();
    for (offset, len) in [(0, 256), (1, 1), (3, 7), (5, 130), (255, 1), (60, 70)] {
        let got = h.read(offset, len).unwrap();
        let end = offset as usize + len;
        let want: Vec<u8> = (offset as usize..end)
            .map(|i| data.get(i).copied().unwrap_or(0xFF))
            .collect();
        assert_eq!(got, want, "{offset}+{len}");
    }
    // The last bytes of the partition.
    let last = 16 * 2048 - 3;
    assert_eq!(h.read(last, 3).unwrap(), vec![0xFF; 3]);
    h.assert_clean();
}

#[test]
fn a_second_program_of_a_word_is_refused_before_the_flash_is_touched() {
    let h = harness();
    h.program(64, &[0x00; 8]).unwrap();
    let before = h.model.stats.get().word_programs;
    // Same data, different data, all 0xFF, and a range that overlaps
    // the programmed word: all refused, nothing programmed.
    for (offset, data) in [
        (64, vec![0x00; 8]),
        (64, vec![0x0F; 8]),
        (64, vec![0xFF; 8]),
        (56, vec![0xFF; 24]),
    ] {
        assert_eq!(h.program(offset, &data), Err(Error::VerifyFailed));
    }
    assert_eq!(h.model.stats.get().word_programs, before);
    // After an erase the word can be programmed again.
    h.erase(0).unwrap();
    h.program(64, &[0x0F; 8]).unwrap();
    h.assert_clean();
}

#[test]
fn erase_clears_exactly_its_page() {
    let h = harness();
    h.program(2048 - 8, &[0; 16]).unwrap();
    h.erase(0).unwrap();
    assert_eq!(h.read(2048 - 8, 8).unwrap(), vec![0xFF; 8]);
    assert_eq!(h.read(2048, 8).unwrap(), vec![0; 8]);
    assert_eq!(h.model.stats.get().page_erases, 1);
    // The unit number is the partition's, the page the flash's.
    h.erase(15).unwrap();
    let mem = &h.model.array.borrow().mem;
    assert!(mem[flash_addr(PART, 15 * 2048)..][..2048]
        .iter()
        .all(|&b| b == 0xFF));
    h.assert_clean();
}

#[test]
fn requests_are_checked_first() {
    let h = harness();
    let refused = |r: Result<Event, ErrorCode>| r.unwrap_err();
    let b = buffer(&[0; 16]);
    assert_eq!(
        refused(h.request(|| h.ctrl.program(4, b, 8).map_err(|(c, _)| c))),
        ErrorCode::INVAL,
        "not word aligned"
    );
    let b = buffer(&[0; 16]);
    assert_eq!(
        refused(h.request(|| h.ctrl.program(0, b, 12).map_err(|(c, _)| c))),
        ErrorCode::INVAL,
        "not whole words"
    );
    let b = buffer(&[0; 16]);
    assert_eq!(
        refused(h.request(|| h.ctrl.read(16 * 2048 - 8, b, 16).map_err(|(c, _)| c))),
        ErrorCode::INVAL,
        "past the partition"
    );
    assert_eq!(refused(h.request(|| h.ctrl.erase(16))), ErrorCode::INVAL);
    // Busy while a request is in flight.
    h.ctrl.erase(0).unwrap();
    assert_eq!(h.ctrl.erase(1), Err(ErrorCode::BUSY));
    let b = buffer(&[0; 8]);
    assert_eq!(
        h.ctrl.read(0, b, 8).map_err(|(c, _)| c),
        Err(ErrorCode::BUSY)
    );
    h.run();
    assert_eq!(h.client.events.borrow().len(), 1);
    h.assert_clean();
}

#[test]
fn protection_regions_deny_what_they_deny() {
    let h = harness();
    h.program(2048, &[0x11; 8]).unwrap();
    // Region 0 wins over region 1: page 257 (unit 1) read-only.
    let read_only = TRUE | TRUE << 4 | FALSE << 8 | FALSE << 12 | FALSE << 16 | TRUE << 20;
    h.model.set_region(0, 257, 1, read_only | FALSE << 24);
    assert_eq!(h.program(2048 + 8, &[0; 8]), Err(Error::ProgramFailed));
    assert_ne!(h.ctrl.last_error_code() & MP_ERR, 0);
    assert_eq!(h.erase(1), Err(Error::EraseFailed));
    assert_eq!(h.read(2048, 8).unwrap(), vec![0x11; 8]);
    // Unit 0 is still region 1's.
    h.program(0, &[0; 8]).unwrap();
    // Denied entirely: reads fail too.
    let denied = TRUE | FALSE << 4 | FALSE << 8 | FALSE << 12 | FALSE << 16 | TRUE << 20;
    h.model.set_region(0, 257, 1, denied | FALSE << 24);
    assert_eq!(h.read(2048, 8), Err(Error::ReadFailed));
    assert!(h.model.stats.get().mp_denials >= 3);
    // Nothing was programmed or erased in the denied page.
    let a = flash_addr(PART, 2048);
    assert_eq!(
        h.model.array.borrow().mem[a..a + 16],
        [[0x11; 8], [0xFF; 8]].concat()
    );
    h.assert_clean();
}

#[test]
fn the_model_enforces_one_program_per_word_and_the_window() {
    use lowrisc::flash_ctrl::{FlashCtrlBus, Reg};
    let h = harness();
    let m = h.model;
    let bus = &m;
    let start = |op: u32, addr: usize, words: u32| {
        bus.write(Reg::Addr, addr as u32);
        bus.write(Reg::Control, 1 | op << 4 | (words - 1) << 16);
    };
    let status = || {
        let s = bus.read(Reg::OpStatus);
        bus.write(Reg::OpStatus, 0);
        let e = bus.read(Reg::ErrCode);
        bus.write(Reg::ErrCode, u32::MAX);
        (s, e)
    };
    let a = flash_addr(PART, 0);
    start(1, a, 2);
    bus.write(Reg::ProgFifo, 0x1234_5678);
    bus.write(Reg::ProgFifo, 0x9abc_def0);
    assert_eq!(status(), (DONE, 0));
    assert_ne!(m.intr_state() & INTR_OP_DONE, 0, "op-done interrupt");
    // The same word again: an ECC violation.
    start(1, a, 2);
    bus.write(Reg::ProgFifo, 0);
    bus.write(Reg::ProgFifo, 0);
    assert_eq!(status(), (DONE | ERR, PROG_ERR));
    assert_eq!(m.stats.get().double_programs, 1);
    // Crossing a 64-byte window: refused before anything is programmed.
    start(1, a + 56, 4);
    assert_eq!(status(), (DONE | ERR, PROG_WIN_ERR));
    let before = m.stats.get().word_programs;
    bus.write(Reg::ProgFifo, 0);
    assert_eq!(m.stats.get().word_programs, before);
    assert_eq!(
        m.violations.borrow().len(),
        1,
        "a FIFO write without a program"
    );
}

#[test]
fn controller_errors_fail_the_request_and_leave_the_driver_usable() {
    let h = harness();
    for (err, which) in [(RD_ERR, 0), (PROG_ERR, 1), (OP_ERR, 2), (MP_ERR, 1)] {
        h.model.faults.borrow_mut().fail_next = Some(err);
        let r = match which {
            0 => h.read(0, 8).map(|_| ()),
            1 => h.program(8 * err, &[0; 8]),
            _ => h.erase(3),
        };
        let want = [Error::ReadFailed, Error::ProgramFailed, Error::EraseFailed][which];
        assert_eq!(r, Err(want));
        assert_eq!(h.ctrl.last_error_code(), err);
    }
    h.program(512, &[1; 8]).unwrap();
    assert_eq!(h.read(512, 8).unwrap(), vec![1; 8]);
    h.assert_clean();
}

#[test]
fn a_slow_controller_is_polled_from_deferred_calls() {
    let h = harness();
    h.model.faults.borrow_mut().busy_for = 500;
    let data = pattern(128, 1);
    h.client.in_request.set(true);
    h.ctrl.program(0, buffer(&data), 128).unwrap();
    h.client.in_request.set(false);
    assert!(h.ctrl.is_busy());
    let calls = h.run();
    assert!(calls > 10, "{calls} deferred calls");
    assert_eq!(
        h.client.events.borrow_mut().pop(),
        Some(Event::Program(128, Ok(())))
    );
    assert_eq!(h.read(0, 128).unwrap(), data);
    h.assert_clean();
}

#[test]
fn a_stuck_controller_times_out_and_the_next_request_works() {
    let h = harness();
    h.ctrl.set_poll_limit(100);
    h.model.faults.borrow_mut().stuck = true;
    assert_eq!(h.erase(2), Err(Error::Timeout));
    h.model.faults.borrow_mut().stuck = false;
    // The stuck erase finishes later: the next request waits for it
    // before it starts an operation of its own.
    assert_eq!(h.read(0, 8).unwrap(), vec![0xFF; 8]);
    h.program(0, &[7; 8]).unwrap();
    assert_eq!(h.read(0, 8).unwrap(), vec![7; 8]);
    h.assert_clean();
}

#[test]
fn no_controller_means_off_not_a_hang() {
    let model = Model::blank();
    model.faults.borrow_mut().absent = true;
    let (h, init) = harness_with(model, PART);
    assert_eq!(init, Err(ErrorCode::NODEVICE));
    assert_eq!(h.request(|| h.ctrl.erase(0)), Err(ErrorCode::OFF));
    let b = buffer(&[0; 8]);
    assert_eq!(
        h.request(|| h.ctrl.read(0, b, 8).map_err(|(c, _)| c)),
        Err(ErrorCode::OFF)
    );
}

#[test]
fn locked_region_registers_or_a_bad_partition_fail_init() {
    let model = Model::blank();
    model.faults.borrow_mut().locked_regions = vec![1];
    let (_, init) = harness_with(model, PART);
    assert_eq!(init, Err(ErrorCode::FAIL));
    let bad = Partition {
        first_page: 510,
        pages: 4,
        region: 0,
    };
    let (h, init) = harness_with(Model::blank(), bad);
    assert_eq!(init, Err(ErrorCode::INVAL));
    assert_eq!(h.ctrl.geometry().erase_units, 0);
    assert_eq!(h.request(|| h.ctrl.erase(0)), Err(ErrorCode::OFF));
}

#[test]
fn torn_words_with_bad_ecc_fail_reads() {
    let h = harness();
    h.model.array.borrow_mut().torn[flash_addr(PART, 16) / WORD] = true;
    h.model.faults.borrow_mut().torn_reads_fail = true;
    assert_eq!(h.read(0, 64), Err(Error::ReadFailed));
    assert_ne!(h.ctrl.last_error_code() & RD_ERR, 0);
    // Elsewhere reads work.
    assert_eq!(h.read(64, 8).unwrap(), vec![0xFF; 8]);
    h.assert_clean();
}

// ---------------------------------------------------------------------------
// The TicKV capsule over the driver
// ---------------------------------------------------------------------------

/// The store's partition: 8 pages (8 regions of 2 KiB) at the start of
/// bank 1.
const STORE: Partition = Partition {
    first_page: 256,
    pages: 8,
    region: 0,
};

/// The largest value the tests store.
const VALUE_MAX: usize = 300;

/// kv_store over the TicKV capsule over the driver over the model.
struct Kv {
    calls: &'static DeferredCalls<8>,
    ctrl: &'static Ctrl,
    model: &'static Model,
    tickv: &'static TicKVSystem<'static>,
    store: &'static KVStore<'static>,
    rec: &'static Recorder,
}

impl Kv {
    /// A stack on `array` (the flash as the last boot left it), mounted.
    /// Reads of torn words fail with an ECC error if `torn_reads_fail`.
    /// A dead controller times out after 200 polls.
    fn boot(array: Array, torn_reads_fail: bool) -> Result<Kv, ErrorCode> {
        let calls: &'static DeferredCalls<8> = leak(DeferredCalls::new());
        let model = Model::new(array).leak();
        model.faults.borrow_mut().torn_reads_fail = torn_reads_fail;
        let ctrl: &'static Ctrl = leak(FlashCtrl::new(model, STORE, calls.allocate().unwrap()));
        ctrl.register_deferred_call();
        ctrl.set_poll_limit(200);
        ctrl.init()?;
        let slot = calls.allocate().unwrap();
        let hasher = leak(SipHasher::new(slot));
        slot.set_client(hasher);
        let index: &'static mut [IndexEntry] =
            Box::leak(vec![IndexEntry::default(); 16].into_boxed_slice());
        let scratch: &'static mut [u8] = Box::leak(vec![0u8; 128].into_boxed_slice());
        let slot = calls.allocate().unwrap();
        let config = Config {
            region_count: None,
            format_if_blank: true,
        };
        let tickv =
            leak(TicKVSystem::new(ctrl, hasher, index, scratch, slot, config).expect("geometry"));
        slot.set_client(tickv);
        ctrl.set_client(tickv);
        hasher.set_client(tickv);
        let ext: &'static dyn KVSystemExt<'static, K = [u8; 8]> = tickv;
        let store = leak(KVStore::new(ext, key_buf()));
        tickv.set_client(store);
        let rec = leak(Recorder::default());
        store.set_client(rec);
        tickv.set_mount_client(rec);
        let kv = Kv {
            calls,
            ctrl,
            model,
            tickv,
            store,
            rec,
        };
        as_request(|| kv.tickv.init())?;
        kv.settle();
        kv.rec
            .mounts
            .borrow_mut()
            .pop()
            .expect("mount notification")?;
        Ok(kv)
    }

    fn settle(&self) {
        let mut n = 0u64;
        while self.calls.service_next() {
            n += 1;
            assert!(n < 50_000_000, "the stack never settles");
        }
    }

    /// One request to its one completion.
    fn call(&self, request: impl FnOnce() -> Result<(), ErrorCode>) -> Result<Done, ErrorCode> {
        let before = self.rec.done.borrow().len();
        let r = as_request(request);
        self.settle();
        let mut done = self.rec.done.borrow_mut();
        match r {
            Err(code) => {
                assert_eq!(done.len(), before, "a refused request got a callback");
                Err(code)
            }
            Ok(()) => {
                assert_eq!(done.len(), before + 1, "exactly one callback");
                assert!(!self.tickv.busy() && !self.ctrl.is_busy());
                Ok(done.pop().unwrap())
            }
        }
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, ErrorCode> {
        let (k, v) = (buf(key.as_bytes(), 0, 0), buf(&[0; VALUE_MAX], 0, 0));
        match self.call(|| self.store.get(k, v).map_err(|(_, _, c)| c))? {
            Done::Get { result, data, .. } => result.map(|()| data),
            other => panic!("get: {other:?}"),
        }
    }

    fn write(&self, op: &str, key: &str, value: &[u8]) -> Result<(), ErrorCode> {
        let (k, v) = (buf(key.as_bytes(), 0, 0), buf(value, 0, 0));
        let s = self.store;
        self.call(|| {
            match op {
                "set" => s.set(k, v),
                "add" => s.add(k, v),
                _ => s.update(k, v),
            }
            .map_err(|(_, _, c)| c)
        })?
        .result()
    }

    fn delete(&self, key: &str) -> Result<(), ErrorCode> {
        let k = buf(key.as_bytes(), 0, 0);
        self.call(|| self.store.delete(k).map_err(|(_, c)| c))?
            .result()
    }

    fn gc(&self) -> Result<(), ErrorCode> {
        self.call(|| self.store.garbage_collect())?.result()
    }

    fn array(&self) -> Array {
        self.model.array.borrow().clone()
    }

    fn assert_clean(&self) {
        assert_eq!(*self.model.violations.borrow(), Vec::<String>::new());
        let s = self.model.stats.get();
        assert_eq!(s.double_programs, 0, "a word was programmed twice");
        assert_eq!(s.window_errors, 0);
        assert_eq!(s.mp_denials, 0);
    }
}

fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

#[test]
fn kv_operations_over_flash_ctrl() {
    let kv = Kv::boot(Array::blank(), false).expect("format and mount");
    // kv_tests' cases: set/get, overwrite, add, update, delete, missing
    // keys, a value too long for the window, garbage collection.
    assert_eq!(kv.get("missing"), Err(ErrorCode::NOSUPPORT));
    kv.write("set", "a", b"first").unwrap();
    assert_eq!(kv.get("a").unwrap(), b"first");
    kv.write("set", "a", b"second value").unwrap();
    assert_eq!(kv.get("a").unwrap(), b"second value");
    assert_eq!(kv.write("add", "a", b"x"), Err(ErrorCode::NOSUPPORT));
    kv.write("add", "b", &value(1, 100)).unwrap();
    assert_eq!(kv.write("update", "c", b"x"), Err(ErrorCode::NOSUPPORT));
    kv.write("update", "b", &value(2, 7)).unwrap();
    assert_eq!(kv.get("b").unwrap(), value(2, 7));
    kv.delete("a").unwrap();
    assert_eq!(kv.get("a"), Err(ErrorCode::NOSUPPORT));
    assert_eq!(kv.delete("a"), Err(ErrorCode::NOSUPPORT));
    // Churn until the store has collected garbage several times.
    for round in 0..60 {
        for k in 0..6 {
            let key = format!("k{k}");
            kv.write("set", &key, &value(round * 6 + k, 40 + 13 * k))
                .unwrap();
        }
        if round % 20 == 19 {
            kv.gc().unwrap();
        }
    }
    assert!(
        kv.model.stats.get().page_erases >= 8,
        "regions were recycled"
    );
    // A reboot keeps every value.
    let kv = Kv::boot(kv.array(), false).expect("remount");
    for k in 0..6 {
        assert_eq!(
            kv.get(&format!("k{k}")).unwrap(),
            value(59 * 6 + k, 40 + 13 * k)
        );
    }
    assert_eq!(kv.get("b").unwrap(), value(2, 7));
    kv.assert_clean();
}

/// One step of the power-cut workload.
#[derive(Clone, Debug)]
enum Step {
    Set(String, Vec<u8>),
    Delete(String),
    Gc,
}

fn workload() -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..48 {
        let key = format!("key{}", i % 7);
        match i % 11 {
            5 => steps.push(Step::Delete(key)),
            10 => steps.push(Step::Gc),
            _ => steps.push(Step::Set(key, value(i, 20 + (i * 53) % 220))),
        }
    }
    steps
}

/// What the store must hold: each key's value, `None` if deleted.
type Expected = BTreeMap<String, Option<Vec<u8>>>;

/// Runs `steps` until one fails; the expected contents after the steps
/// that completed, and the step that did not (if any).
fn run_steps(kv: &Kv, steps: &[Step], expected: &mut Expected) -> Option<Step> {
    for step in steps {
        let r = match step {
            Step::Set(k, v) => kv.write("set", k, v),
            Step::Delete(k) => match kv.delete(k) {
                Err(ErrorCode::NOSUPPORT) => Ok(()),
                r => r,
            },
            Step::Gc => kv.gc(),
        };
        if r.is_err() {
            return Some(step.clone());
        }
        match step {
            Step::Set(k, v) => {
                expected.insert(k.clone(), Some(v.clone()));
            }
            Step::Delete(k) => {
                expected.insert(k.clone(), None);
            }
            Step::Gc => {}
        }
    }
    None
}

#[test]
fn power_cuts_at_every_flash_operation() {
    power_cut_sweep(false);
}

/// Real ECC flash may answer a read of a torn word with an uncorrectable
/// ECC error instead of the bits that landed. The engine treats a read
/// error as fatal, so the first such word makes the store unmountable
/// (measured: the first cut, budget 0, already fails the remount with
/// `FAIL`). Run with `--ignored` to see it.
#[test]
#[ignore = "known gap: the engine does not yet survive ECC read errors on torn words"]
fn power_cuts_with_ecc_errors_on_torn_words() {
    power_cut_sweep(true);
}

fn power_cut_sweep(torn_reads_fail: bool) {
    // A first run counts the mutating operations (word programs and page
    // erases) of the workload, from a store holding a few keys.
    let base = Kv::boot(Array::blank(), torn_reads_fail).unwrap();
    let mut base_expected = Expected::new();
    run_steps(&base, &workload()[..12], &mut base_expected);
    let start = base.array();
    let start_stats = base.model.stats.get();
    assert_eq!(start_stats.double_programs, 0);
    let full = Kv::boot(start.clone(), torn_reads_fail).unwrap();
    let mut e = base_expected.clone();
    assert!(run_steps(&full, &workload(), &mut e).is_none());
    full.assert_clean();
    let s = full.model.stats.get();
    let total = s.word_programs + s.page_erases;
    assert!(s.page_erases > 0, "the workload erases");

    let (mut cuts, mut torn_erases, mut double) = (0u64, 0u64, 0u64);
    for budget in 0..total {
        let kv = Kv::boot(start.clone(), torn_reads_fail).unwrap();
        kv.model.set_seed(budget * 0x9E37_79B9 + 7);
        kv.model.faults.borrow_mut().power_budget = Some(budget);
        let mut expected = base_expected.clone();
        let failed = run_steps(&kv, &workload(), &mut expected);
        assert!(kv.model.dead.get(), "budget {budget}: the power never went");
        let failed = failed.expect("the step the power cut fails");
        let st = kv.model.stats.get();
        double += st.double_programs;
        assert_eq!(
            *kv.model.violations.borrow(),
            Vec::<String>::new(),
            "budget {budget}"
        );
        let torn_erase = kv.model.cut.get() == Some("erase");
        torn_erases += torn_erase as u64;
        cuts += 1;

        // Reboot on what the flash holds, remount, check.
        let kv2 = Kv::boot(kv.array(), torn_reads_fail)
            .unwrap_or_else(|e| panic!("budget {budget}: remount failed: {e:?}"));
        for (k, v) in &expected {
            let got = kv2.get(k);
            let in_flight = match &failed {
                Step::Set(fk, fv) if fk == k => Some(Some(fv.clone())),
                Step::Delete(fk) if fk == k => Some(None),
                _ => None,
            };
            let ok = |want: &Option<Vec<u8>>| match want {
                Some(v) => got.as_ref() == Ok(v),
                None => got == Err(ErrorCode::NOSUPPORT),
            };
            assert!(
                ok(v) || in_flight.as_ref().is_some_and(ok),
                "budget {budget}: {k} is {got:?}, expected {v:?} or {in_flight:?}"
            );
        }
        // The store still takes writes, each word still programmed once.
        kv2.write("set", "after", b"the cut").unwrap();
        assert_eq!(kv2.get("after").unwrap(), b"the cut");
        double += kv2.model.stats.get().double_programs;
        assert_eq!(
            *kv2.model.violations.borrow(),
            Vec::<String>::new(),
            "budget {budget}"
        );
    }
    println!(
        "flash_ctrl power cuts: {cuts} cuts over {total} word programs and page erases, \
         {torn_erases} during an erase, {double} double programs"
    );
    assert_eq!(double, 0, "a word was programmed twice");
    assert_eq!(cuts, total);
}
