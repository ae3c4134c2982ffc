//! Scripted apps of the 0x50003 driver, shared by the driver tests (over an
//! in-memory store) and the whole-stack tests (over TicKV on a mock flash):
//! the command / allow / upcall vocabulary, a [`Script`] builder that
//! predicts every system call return, the [`AppHarness`] view of a
//! `kernel_mock::Harness`, and the storage permission matrix.

#![allow(dead_code)] // Each test binary uses a different part.

use std::collections::HashMap;

use capsules_extra::kv_driver::DRIVER_NUM;
use kernel::platform::arch::FaultKind;
use kernel::utilities::crc32_posix;
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{sys, Harness, Step};

pub const DRV: u32 = DRIVER_NUM;
pub const GET: u32 = 1;
pub const SET: u32 = 2;
pub const DELETE: u32 = 3;
pub const ADD: u32 = 4;
pub const UPDATE: u32 = 5;
pub const GC: u32 = 6;

/// Command returns.
pub const OK: [u32; 4] = [128, 0, 0, 0];
pub const fn fails(e: ErrorCode) -> [u32; 4] {
    [0, e as u32, 0, 0]
}

/// Upcall arguments.
pub const fn up(e: Option<ErrorCode>, len: u32) -> [u32; 3] {
    match e {
        None => [0, len, 0],
        Some(e) => [e as u32, len, 0],
    }
}
pub const DONE: [u32; 3] = [0, 0, 0];
pub const NOSUPPORT: [u32; 3] = up(Some(ErrorCode::NOSUPPORT), 0);
pub const FAIL: [u32; 3] = up(Some(ErrorCode::FAIL), 0);

/// App memory layout, as offsets from the start of its RAM.
pub const KEY: u32 = 0x000;
pub const VALUE: u32 = 0x080;
pub const RW: u32 = 0x500;
pub const OTHER: u32 = 0x900;
pub const BRK: u32 = 0x980;

pub fn named(name: &str) -> TbfBuilder {
    TbfBuilder::app(name)
}

/// The ShortId (and so self-only owner id) of an app without TLVs.
pub fn crc(name: &str) -> u32 {
    crc32_posix(name.as_bytes())
}

/// A script for one app, with the register values each of its system
/// calls must return.
pub struct Script {
    pub index: usize,
    pub mem: u32,
    pub upcall_fn: u32,
    pub steps: Vec<Step>,
    pub expect: Vec<[u32; 4]>,
    /// Previous (address, length) of each allow / subscribe, to predict
    /// their returns.
    slots: HashMap<(u8, u32), (u32, u32)>,
}

/// Scripted apps on a harness.
pub trait AppHarness {
    /// A new (empty) script for the app in slot `index`.
    fn app(&self, index: usize) -> Script;
    /// Hands `script`'s steps to its app (keeping its expectations).
    fn play(&self, script: &mut Script);
    /// Runs the kernel until nothing is left to do.
    fn run_until_idle(&self);
    /// Checks every system call return of the app.
    fn check_returns(&self, script: &Script);
    /// The upcalls the app got, as argument triples; checks that each
    /// went to the subscribed function with the app's appdata.
    fn upcalls(&self, script: &Script) -> Vec<[u32; 3]>;
    /// The bytes the app's `Step::Read`s loaded.
    fn reads(&self, script: &Script) -> Vec<Vec<u8>>;
}

impl AppHarness for Harness {
    fn app(&self, index: usize) -> Script {
        Script {
            index,
            mem: self.mem_start(index),
            upcall_fn: self.process(index).binary_start() + 8,
            steps: Vec::new(),
            expect: Vec::new(),
            slots: HashMap::new(),
        }
    }

    fn play(&self, script: &mut Script) {
        self.script(script.index, script.steps.drain(..));
    }

    fn run_until_idle(&self) {
        assert!(
            self.run(1_000_000) < 1_000_000,
            "the kernel never went idle"
        );
    }

    fn check_returns(&self, script: &Script) {
        assert_eq!(
            self.returns(script.index),
            script.expect,
            "returns of app {}",
            script.index
        );
    }

    fn upcalls(&self, script: &Script) -> Vec<[u32; 3]> {
        self.cpu
            .upcalls(script.mem)
            .iter()
            .map(|f| {
                assert_eq!(
                    (f.fn_ptr, f.appdata),
                    (script.upcall_fn, 0xA0 + script.index as u32)
                );
                f.args
            })
            .collect()
    }

    fn reads(&self, script: &Script) -> Vec<Vec<u8>> {
        self.cpu.reads(script.mem)
    }
}

impl Script {
    pub fn call(&mut self, step: Step, ret: [u32; 4]) -> &mut Self {
        self.steps.push(step);
        self.expect.push(ret);
        self
    }

    pub fn step(&mut self, step: Step) -> &mut Self {
        self.steps.push(step);
        self
    }

    /// Moves the break and subscribes to upcall 0.
    pub fn setup(&mut self) -> &mut Self {
        self.slots.clear();
        self.call(sys::memop(0, self.mem + BRK), OK);
        let data = 0xA0 + self.index as u32;
        let prev = self
            .slots
            .insert((1, 0), (self.upcall_fn, data))
            .unwrap_or((0, 0));
        self.call(
            sys::subscribe(DRV, 0, self.upcall_fn, data),
            [130, prev.0, prev.1, 0],
        )
    }

    pub fn allow(&mut self, class: u8, n: u32, addr: u32, len: u32) -> &mut Self {
        let step = match class {
            3 => sys::allow_rw(DRV, n, addr, len),
            _ => sys::allow_ro(DRV, n, addr, len),
        };
        let prev = self.slots.insert((class, n), (addr, len)).unwrap_or((0, 0));
        self.call(step, [130, prev.0, prev.1, 0])
    }

    /// Writes `bytes` at `offset` in the app's RAM.
    pub fn write(&mut self, offset: u32, bytes: &[u8]) -> &mut Self {
        if !bytes.is_empty() {
            self.step(Step::Write(self.mem + offset, bytes.to_vec()));
        }
        self
    }

    /// The key: written to KEY and allowed as RO 0 (len 0: no buffer).
    pub fn key(&mut self, key: &[u8]) -> &mut Self {
        self.write(KEY, key);
        let addr = if key.is_empty() { 0 } else { self.mem + KEY };
        self.allow(4, 0, addr, key.len() as u32)
    }

    /// The value: written to VALUE and allowed as RO 1.
    pub fn value(&mut self, v: &[u8]) -> &mut Self {
        self.write(VALUE, v);
        let addr = if v.is_empty() { 0 } else { self.mem + VALUE };
        self.allow(4, 1, addr, v.len() as u32)
    }

    /// RW 0 at RW, `len` bytes (0: none), filled with 0xCC first.
    pub fn rw(&mut self, len: u32) -> &mut Self {
        self.write(RW, &vec![0xCC; len as usize + 8]);
        let addr = if len == 0 { 0 } else { self.mem + RW };
        self.allow(3, 0, addr, len)
    }

    pub fn command(&mut self, n: u32, ret: [u32; 4]) -> &mut Self {
        self.call(sys::command(DRV, n, 0, 0), ret)
    }

    /// A command that is accepted, then yield-wait for its upcall.
    pub fn request(&mut self, n: u32) -> &mut Self {
        self.command(n, OK).wait()
    }

    pub fn wait(&mut self) -> &mut Self {
        self.step(sys::yield_wait())
    }

    /// Reads `len` bytes at RW.
    pub fn read_rw(&mut self, len: u32) -> &mut Self {
        self.step(Step::Read(self.mem + RW, len))
    }

    pub fn timeslice(&mut self) -> &mut Self {
        self.step(Step::Timeslice)
    }

    pub fn fault(&mut self) -> &mut Self {
        self.step(Step::Fault(FaultKind::IllegalInstruction))
    }

    /// exit-restart: the app starts over (fresh grant, fresh id).
    pub fn restart(&mut self) -> &mut Self {
        self.step(sys::exit(1, 0))
    }
}

// ----- the storage permission matrix ---------------------------------------

/// Write ids of the listed apps.
pub const B_ID: u32 = 0x100;
pub const C_ID: u32 = 0x200;

/// alpha: self-only (package-name ShortId); beta: TLV write 0x100, reads
/// 0x100 and alpha, modifies 0x100; gamma: TLV write 0x200, reads nothing,
/// modifies alpha; delta: TLV without write id, reads 0x100; eps:
/// ShortId TLV 0x100, no storage TLV: self-only on 0x100.
pub fn matrix_apps() -> Vec<TbfBuilder> {
    vec![
        named("alpha"),
        named("beta").storage(B_ID, &[B_ID, crc("alpha")], &[B_ID]),
        named("gamma").storage(C_ID, &[], &[crc("alpha")]),
        named("delta").storage(0, &[B_ID], &[]),
        named("eps").short_id(B_ID),
    ]
}

/// A stored item: key, owner id, value.
pub type Item = (Vec<u8>, u32, Vec<u8>);

/// What a key holds: (owner id, value), `None` if absent.
pub type Held = Option<(u32, Vec<u8>)>;

/// The matrix items under `prefix`: `a` owned by alpha, `b` by 0x100, `c`
/// by 0x200 and `k` by the kernel (id 0).
pub fn matrix_items(prefix: &str) -> Vec<Item> {
    let item = |name: &str, owner: u32, v: &[u8]| {
        (format!("{prefix}{name}").into_bytes(), owner, v.to_vec())
    };
    vec![
        item("a", crc("alpha"), b"alpha!"),
        item("b", B_ID, b"beta-b"),
        item("c", C_ID, b"gamma"),
        item("k", 0, b"kernel"),
    ]
}

/// Per app (alpha, beta, gamma, delta, eps) and item (a, b, c, k): may
/// read, may modify. Delta has no write id.
pub const READ: [[bool; 4]; 5] = [
    [true, false, false, false],
    [true, true, false, false],
    [false, false, false, false],
    [false, true, false, false],
    [false, true, false, false],
];
pub const MODIFY: [[bool; 4]; 5] = [
    [true, false, false, false],
    [false, true, false, false],
    [true, false, false, false],
    [false, false, false, false],
    [false, true, false, false],
];

/// The owner id of values matrix app `app` creates (`None`: it may not).
pub fn write_id(app: usize) -> Option<u32> {
    [Some(crc("alpha")), Some(B_ID), Some(C_ID), None, Some(B_ID)][app]
}

/// What one matrix app must see, and what the store must hold after it.
#[derive(Debug, Default)]
pub struct Expect {
    pub upcalls: Vec<[u32; 3]>,
    pub reads: Vec<Vec<u8>>,
    /// Key and (owner, value) it must hold, `None`: absent.
    pub stored: Vec<(Vec<u8>, Held)>,
}

/// Scripts app `app` (already set up, RW 0 of 16 bytes) getting every
/// item: the value where it may read it, else NOSUPPORT with its buffer
/// untouched.
pub fn matrix_gets(s: &mut Script, app: usize, items: &[Item], e: &mut Expect) {
    for (i, (k, _, v)) in items.iter().enumerate() {
        s.key(k).write(RW, &[0; 16]).request(GET).read_rw(16);
        let mut seen = vec![0; 16];
        if READ[app][i] {
            e.upcalls.push(up(None, v.len() as u32));
            seen[..v.len()].copy_from_slice(v);
        } else {
            e.upcalls.push(NOSUPPORT);
        }
        e.reads.push(seen);
    }
}

/// Scripts app `app` getting every item, then UPDATE, SET and ADD of each
/// (INVAL at command time without a write id), then SET of the new key
/// `{new}set` and ADD of `{new}add`.
///
/// The kernel's item `k` lives in the kernel's namespace: to an app its
/// key names nothing, so UPDATE answers `NOSUPPORT`, and SET creates the
/// app's own value under the same key bytes (ADD then finds it), while
/// the kernel's value stays as it was (the callers check that).
pub fn matrix_requests(s: &mut Script, app: usize, items: &[Item], new: &str) -> Expect {
    let mut e = Expect::default();
    s.setup().rw(16);
    matrix_gets(s, app, items, &mut e);
    let has_write = write_id(app).is_some();
    for (i, (k, owner, v)) in items.iter().enumerate() {
        s.key(k).value(b"U");
        if *owner == 0 {
            if has_write {
                s.request(UPDATE).value(b"S").request(SET).request(ADD);
                e.upcalls.extend([NOSUPPORT, DONE, NOSUPPORT]);
            } else {
                for n in [UPDATE, SET, ADD] {
                    s.command(n, fails(ErrorCode::INVAL));
                }
            }
            let own = write_id(app).map(|id| (id, b"S".to_vec()));
            e.stored.push((k.clone(), own));
            continue;
        }
        let modify = MODIFY[app][i] && has_write;
        if has_write {
            s.request(UPDATE);
            e.upcalls.push(if modify { DONE } else { NOSUPPORT });
            // SET of an existing item follows the same rule.
            s.value(b"S").request(SET);
            e.upcalls.push(if modify { DONE } else { NOSUPPORT });
            s.request(ADD);
            e.upcalls.push(NOSUPPORT);
        } else {
            for n in [UPDATE, SET, ADD] {
                s.command(n, fails(ErrorCode::INVAL));
            }
        }
        // The owner is kept.
        let now = if modify { b"S".to_vec() } else { v.clone() };
        e.stored.push((k.clone(), Some((*owner, now))));
    }
    // New keys: owned by the write id.
    let (new_set, new_add) = (
        format!("{new}set").into_bytes(),
        format!("{new}add").into_bytes(),
    );
    s.key(&new_set).value(b"n1");
    if has_write {
        s.request(SET).key(&new_add).request(ADD);
        e.upcalls.extend([DONE, DONE]);
    } else {
        s.command(SET, fails(ErrorCode::INVAL));
    }
    let created = write_id(app).map(|id| (id, b"n1".to_vec()));
    e.stored.push((new_set, created.clone()));
    e.stored.push((new_add, created));
    e
}

/// Scripts app `app` deleting every item: gone where it may modify it,
/// else NOSUPPORT and kept.
pub fn matrix_deletes(s: &mut Script, app: usize, items: &[Item]) -> Expect {
    let mut e = Expect::default();
    s.setup();
    for (i, (k, owner, v)) in items.iter().enumerate() {
        s.key(k).request(DELETE);
        let modify = MODIFY[app][i];
        e.upcalls.push(if modify { DONE } else { NOSUPPORT });
        // The kernel's item is not in the apps' namespace at all.
        let kept = (!modify && *owner != 0).then(|| (*owner, v.clone()));
        e.stored.push((k.clone(), kept));
    }
    e
}
