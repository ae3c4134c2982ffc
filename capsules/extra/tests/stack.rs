//! The whole KV stack end to end: apps scripted on the mock CPU make
//! system calls through the real dispatch (`kernel_mock::Harness`) to the
//! 0x50003 driver, down through the mux, the permission layer, kv_store
//! and the TicKV capsule to a `MockFlash` that completes every request
//! from a deferred call. The stack is wired by `kv_stack::KVStack::build`,
//! as a board does.
//!
//! A "remount" is a reboot: a fresh kernel, a fresh stack and fresh apps
//! over a copy of the flash image. What the flash holds is also read
//! independently of the stack, with the blocking engine on a copy of the
//! image (as the `tickv` CLI would).

mod kv_apps;
mod kv_fakes;
mod tickv_support;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Deref;

use capsules_core::siphash::tickv_key;
use capsules_extra::kv_driver::{App, ValueBufferTooShort, ALLOW_COUNTS, DRIVER_NUM};
use capsules_extra::kv_permissions::{charge, OwnerHeader, Quotas, HEADER_SIZE};
use capsules_extra::tickv::{Config, StoreState};
use capsules_extra::virtual_kv::KVUser;
use components::kv_stack::{
    KVStack, KVStackBuffers, KVStackError, KVStackMemory, DEFERRED_CALLS, GRANT_BYTES,
};
use flashsim::{SimError, SimFlash, Snapshot};
use kernel::hil::flash::{self, Flash, FlashClient, Geometry};
use kernel::hil::kv::{KVPermissions, Namespace};
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::process::State;
use kernel::storage_permissions::StoragePermissions;
use kernel::ErrorCode;
use kernel_mock::flash::{Kind, MockFlash};
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::Harness;
use kv_apps::*;
use kv_fakes::{leak, out, settle, sub, value, Done, Recorder};
use tickv::blocking::Store;
use tickv::{FlashFault, IndexEntry, TicKV};
use tickv_support::{fail_like, TEARS};

/// 8 regions of 1 KiB: big enough for a 503-byte value behind its owner
/// header, small enough to fill.
const G: flashsim::Geometry = flashsim::Geometry {
    region_size: 1024,
    region_count: 8,
    program_unit: 4,
    erase_value: 0xFF,
};

/// The board's value limit in these tests (upstream's).
const V: usize = 503;

const CONFIG: Config = Config {
    region_count: None,
    format_if_blank: true,
};

/// The buffers a board would allocate statically: a small scratch buffer
/// (many flash requests per operation, so the sweeps below see many
/// operations) and a small index (64 keys).
fn buffers() -> KVStackBuffers {
    KVStackBuffers {
        scratch: kv_fakes::buffer(64),
        index: Box::leak(vec![IndexEntry::default(); 64].into_boxed_slice()),
        driver_value: kv_fakes::buffer(HEADER_SIZE + V),
    }
}

fn memory() -> &'static mut KVStackMemory<V> {
    Box::leak(Box::new(KVStackMemory::new()))
}

// ----- a flash that can hold a completion --------------------------------

/// A completed flash request whose callback the [`Gate`] holds.
enum Completion {
    Read(&'static mut [u8], usize, Result<(), flash::Error>),
    Program(&'static mut [u8], usize, Result<(), flash::Error>),
    Erase(u32, Result<(), flash::Error>),
}

/// A transparent `hil::flash` between the mock and the stack that can hold
/// one completion, like an interrupt that has not arrived yet: while it
/// holds one, no deferred call is pending, so the kernel runs the apps and
/// their commands queue behind the request in flight.
struct Gate {
    flash: &'static MockFlash,
    client: Cell<Option<&'static dyn FlashClient>>,
    /// Which completions to hold: none, every one, or programs only.
    hold: Cell<Option<Option<Kind>>>,
    held: RefCell<Option<Completion>>,
}

impl Gate {
    fn new(flash: &'static MockFlash) -> &'static Gate {
        let gate = leak(Gate {
            flash,
            client: Cell::new(None),
            hold: Cell::new(None),
            held: RefCell::new(None),
        });
        flash.set_client(gate);
        gate
    }

    /// Holds the next completion until [`open`](Self::open).
    fn close(&self) {
        self.hold.set(Some(None));
    }

    /// Holds the next completion of a program (reads and erases pass)
    /// until [`open`](Self::open).
    fn close_for_programs(&self) {
        self.hold.set(Some(Some(Kind::Program)));
    }

    fn holding(&self) -> bool {
        self.held.borrow().is_some()
    }

    /// Stops holding, and delivers the held completion (from the top
    /// level, as an interrupt handler would).
    fn open(&self) {
        self.hold.set(None);
        let held = self.held.borrow_mut().take();
        if let Some(held) = held {
            self.deliver(held);
        }
    }

    fn deliver(&self, held: Completion) {
        let Some(client) = self.client.get() else {
            return;
        };
        match held {
            Completion::Read(buf, len, r) => client.read_done(buf, len, r),
            Completion::Program(buf, len, r) => client.program_done(buf, len, r),
            Completion::Erase(unit, r) => client.erase_done(unit, r),
        }
    }

    fn pass(&self, held: Completion) {
        let kind = match held {
            Completion::Read(..) => Kind::Read,
            Completion::Program(..) => Kind::Program,
            Completion::Erase(..) => Kind::Erase,
        };
        if self.hold.get().is_some_and(|k| k.is_none_or(|k| k == kind)) {
            assert!(self.held.replace(Some(held)).is_none(), "two completions");
        } else {
            self.deliver(held);
        }
    }
}

impl Flash<'static> for Gate {
    fn set_client(&self, client: &'static dyn FlashClient) {
        self.client.set(Some(client));
    }

    fn geometry(&self) -> Geometry {
        self.flash.geometry()
    }

    fn read(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        self.flash.read(offset, buf, len)
    }

    fn program(
        &self,
        offset: u32,
        buf: &'static mut [u8],
        len: usize,
    ) -> Result<(), (ErrorCode, &'static mut [u8])> {
        self.flash.program(offset, buf, len)
    }

    fn erase(&self, unit: u32) -> Result<(), ErrorCode> {
        self.flash.erase(unit)
    }
}

impl FlashClient for Gate {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), flash::Error>) {
        self.pass(Completion::Read(buf, len, result));
    }

    fn program_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), flash::Error>) {
        self.pass(Completion::Program(buf, len, result));
    }

    fn erase_done(&self, unit: u32, result: Result<(), flash::Error>) {
        self.pass(Completion::Erase(unit, result));
    }
}

// ----- what the flash holds, read independently of the stack ------------

/// A copy of a flash image, seen through the engine's blocking interface.
struct ImageCopy(SimFlash);

impl tickv::blocking::Flash for ImageCopy {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        self.0.read(addr, buf).map_err(|_| FlashFault)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        self.0.program(addr, data).map_err(|_| FlashFault)
    }
    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        self.0.erase(region).map_err(|_| FlashFault)
    }
}

/// The store on a copy of `flash`'s image, mounted.
struct Image(Store<'static, 'static, ImageCopy>);

/// The stored key of `key` in `namespace`.
fn hashed(namespace: Namespace, key: &[u8]) -> u64 {
    match namespace {
        Namespace::Apps => tickv_key(key),
        Namespace::Kernel => siphash::tickv_kernel_key(key),
    }
}

impl Image {
    fn of(flash: &MockFlash) -> Image {
        let mut sim = SimFlash::new(G);
        sim.restore(&flash.snapshot());
        let geometry = tickv::Geometry {
            region_size: G.region_size,
            region_count: G.region_count,
            program_unit: G.program_unit,
        };
        let index = Box::leak(vec![IndexEntry::default(); 64].into_boxed_slice());
        let kv = TicKV::new(geometry, index).unwrap();
        let mut store = Store::new(kv, ImageCopy(sim), kv_fakes::buffer(128));
        store.mount().expect("the image mounts");
        Image(store)
    }

    /// The (owner, value) stored under the apps' unhashed `key`.
    fn stored(&mut self, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        self.stored_in(Namespace::Apps, key)
    }

    /// The (owner, value) stored under the kernel's unhashed `key`.
    fn kernel_stored(&mut self, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        self.stored_in(Namespace::Kernel, key)
    }

    /// Where an item owned by `owner` lives: the kernel's (0) or the apps'.
    fn stored_for(&mut self, owner: u32, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        match owner {
            0 => self.kernel_stored(key),
            _ => self.stored(key),
        }
    }

    fn stored_in(&mut self, namespace: Namespace, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        let mut buf = vec![0; 1024];
        match self.0.get(hashed(namespace, key), &mut buf) {
            Ok(len) => {
                let h = OwnerHeader::decode(&buf[..len], len).expect("an owner header");
                Some((h.owner, buf[HEADER_SIZE..len].to_vec()))
            }
            Err(tickv::Error::NotFound) => None,
            Err(e) => panic!("reading {key:?}: {e:?}"),
        }
    }

    /// Which of `keys` were written (value records), in log order.
    fn written(&mut self, keys: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut order = Vec::new();
        let mut at = None;
        while let Some((info, cursor)) = self.0.next_record(at).unwrap() {
            at = Some(cursor);
            let Some(h) = info.header.filter(|h| h.kind == tickv::Kind::Value) else {
                continue;
            };
            let in_either = |k: &&&[u8]| {
                [Namespace::Apps, Namespace::Kernel]
                    .iter()
                    .any(|&n| hashed(n, k) == h.key)
            };
            if let Some(k) = keys.iter().find(in_either) {
                order.push(k.to_vec());
            }
        }
        order
    }
}

// ----- a booted system ---------------------------------------------------

/// A kernel with apps loaded, the whole KV stack over a (gated) mock
/// flash, and a kernel user of the store.
struct Rig {
    h: Harness,
    flash: &'static MockFlash,
    gate: &'static Gate,
    stack: KVStack<V>,
    kernel_user: &'static KVUser<'static>,
    kernel_rec: &'static Recorder,
}

impl Deref for Rig {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.h
    }
}

/// Boots `apps` over a blank flash or a copy of `image`, and mounts the
/// store (no app has run yet).
fn boot_any(apps: &[TbfBuilder], image: Option<&Snapshot>) -> Rig {
    let mut h = Harness::new(apps.len().max(1), &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let flash = MockFlash::new(SimFlash::new(G), h.deferred);
    if let Some(image) = image {
        flash.restore(image);
    }
    let gate = Gate::new(flash);
    let stack = KVStack::build(memory(), gate, h.deferred, grant, buffers(), CONFIG)
        .expect("a valid configuration");
    h.drivers.add(DRIVER_NUM, stack.driver);
    let kernel_rec = leak(Recorder::new("kernel", None));
    let kernel_user = stack.add_kernel_user(Box::leak(Box::new(None)), kernel_rec);
    let images: Vec<Vec<u8>> = apps.iter().map(TbfBuilder::build).collect();
    assert_eq!(
        h.load(&images, 0x8000, 0x10000),
        apps.len(),
        "{:?}",
        h.load_log
    );
    stack.mount().unwrap();
    settle(h.deferred);
    Rig {
        h,
        flash,
        gate,
        stack,
        kernel_user,
        kernel_rec,
    }
}

/// [`boot_any`], checking that the store mounted.
fn boot(apps: &[TbfBuilder], image: Option<&Snapshot>) -> Rig {
    let r = boot_any(apps, image);
    assert_eq!(r.stack.tickv.state(), StoreState::Mounted);
    r
}

impl Rig {
    /// A reboot: `apps` on a fresh kernel and stack over this flash.
    fn reboot(&self, apps: &[TbfBuilder]) -> Rig {
        boot(apps, Some(&self.flash.snapshot()))
    }

    fn image(&self) -> Image {
        Image::of(self.flash)
    }

    /// Plays every script and runs until nothing is left to do.
    fn run_all(&self, scripts: &mut [&mut Script]) {
        for s in scripts.iter_mut() {
            self.play(s);
        }
        self.run_until_idle();
    }

    /// Checks an app's returns and upcalls.
    fn check(&self, s: &Script, upcalls: &[[u32; 3]]) {
        self.check_returns(s);
        assert_eq!(self.upcalls(s), upcalls, "upcalls of app {}", s.index);
    }

    fn kernel_set(&self, key: &[u8], v: &[u8]) {
        kv_fakes::kernel_set(self.h.deferred, self.kernel_user, self.kernel_rec, key, v);
    }

    /// One request of the kernel user: accepted, then exactly one callback.
    fn kernel(
        &self,
        request: impl FnOnce(&KVUser<'static>, &'static StoragePermissions) -> Result<(), ErrorCode>,
    ) -> Done {
        request(self.kernel_user, StoragePermissions::KERNEL).expect("accepted");
        settle(self.h.deferred);
        let mut done = self.kernel_rec.take();
        assert_eq!(done.len(), 1, "{done:?}");
        done.pop().unwrap()
    }

    /// Nothing runs or is held anywhere, and the flash was used by the
    /// rules (no word programmed twice, every request answered).
    fn assert_quiet(&self) {
        let s = &self.stack;
        assert!(!s.driver.is_busy(), "driver busy");
        assert!(!s.driver_user.is_busy() && !self.kernel_user.is_busy());
        assert!(!s.permissions.is_busy() && !s.store.busy() && !s.tickv.busy());
        assert!(!self.gate.holding() && !self.flash.busy());
        assert!(!self.h.deferred.has_pending());
        let st = self.flash.stats();
        assert_eq!(st.violations, 0, "a word was programmed twice");
        assert_eq!(st.accepted, st.completed);
        for i in 0..self.h.kernel.processes().count() {
            assert_eq!(
                self.h.process(i).pending_tasks(),
                0,
                "app {i}: a stale upcall"
            );
        }
    }
}

/// The RW 0 buffer of [`get_rw`].
const RW_LEN: u32 = 128;

/// Scripts a GET of `key` into a fresh RW 0 of [`RW_LEN`] bytes; returns
/// the upcall and the bytes the app then reads if the key holds `held`.
fn get_rw(s: &mut Script, key: &[u8], held: Option<&[u8]>) -> ([u32; 3], Vec<u8>) {
    s.key(key).rw(RW_LEN).request(GET).read_rw(RW_LEN);
    let mut seen = vec![0xCC; RW_LEN as usize];
    match held {
        Some(v) => {
            seen[..v.len()].copy_from_slice(v);
            (up(None, v.len() as u32), seen)
        }
        None => (NOSUPPORT, seen),
    }
}

// ----- the helper refuses what it can check ------------------------------

#[test]
fn the_stack_helper_refuses_bad_configurations_without_panicking() {
    fn try_build(
        geometry: flashsim::Geometry,
        taken: usize,
        buffers: KVStackBuffers,
    ) -> Result<(), KVStackError> {
        let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
        let grant = h
            .kernel
            .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
            .unwrap();
        let flash = MockFlash::new(SimFlash::new(geometry), h.deferred);
        for _ in 0..taken {
            h.deferred.allocate().unwrap();
        }
        KVStack::build(memory(), flash, h.deferred, grant, buffers, CONFIG).map(|_| ())
    }
    assert_eq!(try_build(G, 0, buffers()), Ok(()));
    // The harness has 16 deferred calls; the flash took one.
    assert_eq!(try_build(G, 15 - DEFERRED_CALLS, buffers()), Ok(()));
    assert_eq!(
        try_build(G, 16 - DEFERRED_CALLS, buffers()),
        Err(KVStackError::DeferredCalls(ErrorCode::NOMEM))
    );
    let short = KVStackBuffers {
        driver_value: kv_fakes::buffer(HEADER_SIZE + V - 1),
        ..buffers()
    };
    assert_eq!(
        try_build(G, 0, short),
        Err(KVStackError::DriverValueBuffer(ValueBufferTooShort {
            needed: 512,
            len: 511
        }))
    );
    let tiny_scratch = KVStackBuffers {
        scratch: kv_fakes::buffer(32),
        ..buffers()
    };
    assert_eq!(
        try_build(G, 0, tiny_scratch),
        Err(KVStackError::Store(tickv::Error::ScratchTooSmall))
    );
    // 512-byte regions cannot hold a 503-byte value and its header.
    let small = flashsim::Geometry {
        region_size: 512,
        ..G
    };
    match try_build(small, 0, buffers()) {
        Err(KVStackError::ValueMaxTooLarge { store_max }) => assert_eq!(store_max, 484),
        other => panic!("{other:?}"),
    }
    let one_region = flashsim::Geometry {
        region_count: 1,
        ..G
    };
    assert_eq!(
        try_build(one_region, 0, buffers()),
        Err(KVStackError::Store(tickv::Error::InvalidGeometry))
    );
}

// ----- (a) one app: every outcome, then a remount --------------------------

#[test]
fn one_app_every_command_and_upcall_outcome_then_a_remount() {
    let apps = [named("solo")];
    let r = boot(&apps, None);
    // 1 KiB regions hold 996-byte values: the header and 503 bytes fit.
    assert_eq!(r.stack.tickv.max_value_len(), 996);
    let brk_before = r.process(0).kernel_break();
    let big: Vec<u8> = (0..V).map(|i| i as u8).collect();
    let k64 = [b'k'; 64];
    let mut a = r.app(0);
    let mut up_ = Vec::new();
    let mut reads = Vec::new();
    // Exists and unknown commands, before anything else.
    a.command(0, OK).command(7, fails(ErrorCode::NOSUPPORT));
    a.setup();
    // No key allowed.
    for n in [GET, SET, DELETE, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::INVAL));
    }
    // A 65-byte key, a 504-byte value.
    a.key(&[b'k'; 65]).value(b"v");
    for n in [GET, SET, DELETE, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::SIZE));
    }
    a.key(&k64).value(&[7; V + 1]);
    for n in [SET, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::SIZE));
    }
    // GET ignores RO 1: the 64-byte key does not exist yet.
    a.request(GET);
    up_.push(NOSUPPORT);
    // A value at the limit under a key at the limit: ADD, then ADD again.
    a.value(&big).request(ADD).request(ADD);
    up_.extend([DONE, NOSUPPORT]);
    // GET: whole, truncated (SIZE, full length, the prefix), no buffer.
    a.rw(V as u32).request(GET).read_rw(V as u32);
    up_.push(up(None, V as u32));
    reads.push(big.clone());
    a.rw(100).request(GET).read_rw(108);
    up_.push(up(Some(ErrorCode::SIZE), V as u32));
    let mut prefix = big[..100].to_vec();
    prefix.extend([0xCC; 8]);
    reads.push(prefix);
    a.rw(0).request(GET);
    up_.push(up(Some(ErrorCode::SIZE), V as u32));
    a.key(b"greeting").value(b"hello world").request(SET);
    a.value(b"bonjour").request(UPDATE);
    up_.extend([DONE, DONE]);
    let (u, seen) = get_rw(&mut a, b"greeting", Some(b"bonjour"));
    up_.push(u);
    reads.push(seen);
    // Missing keys.
    a.key(b"missing").request(UPDATE).request(DELETE);
    up_.extend([NOSUPPORT, NOSUPPORT]);
    let (u, seen) = get_rw(&mut a, b"missing", None);
    up_.push(u);
    reads.push(seen);
    // An empty value (no RO 1).
    a.key(b"empty").value(b"").request(SET);
    up_.push(DONE);
    let (u, seen) = get_rw(&mut a, b"empty", Some(b""));
    up_.push(u);
    reads.push(seen);
    // SET of a new key, DELETE, then it is gone; garbage collection.
    a.key(b"gone").value(b"soon").request(SET).request(DELETE);
    up_.extend([DONE, DONE]);
    let (u, seen) = get_rw(&mut a, b"gone", None);
    up_.push(u);
    reads.push(seen);
    a.request(GC);
    up_.push(DONE);
    r.run_all(&mut [&mut a]);
    r.check(&a, &up_);
    assert_eq!(r.reads(&a), reads);
    r.assert_quiet();
    // The driver's grant took exactly what the stack helper says.
    // 32 bytes of slots and 6 of request state, rounded: keys and values
    // never live in the grant (612 bytes before, when they did).
    println!("kv driver grant: {GRANT_BYTES} bytes per app");
    assert_eq!(GRANT_BYTES, 40);
    assert_eq!(brk_before - r.process(0).kernel_break(), GRANT_BYTES as u32);
    // The flash holds the values with the app's owner id.
    let me = crc("solo");
    let mut img = r.image();
    assert_eq!(img.stored(&k64), Some((me, big.clone())));
    assert_eq!(img.stored(b"greeting"), Some((me, b"bonjour".to_vec())));
    assert_eq!(img.stored(b"empty"), Some((me, Vec::new())));
    assert_eq!(img.stored(b"gone"), None);
    assert_eq!(img.stored(b"missing"), None);

    // A remount: a fresh kernel and stack over the same flash.
    let r2 = r.reboot(&apps);
    let mut a = r2.app(0);
    a.setup();
    let mut up_ = Vec::new();
    let mut reads = Vec::new();
    a.key(&k64).rw(V as u32).request(GET).read_rw(V as u32);
    up_.push(up(None, V as u32));
    reads.push(big);
    for (k, held) in [
        (&b"greeting"[..], Some(&b"bonjour"[..])),
        (b"empty", Some(b"")),
        (b"gone", None),
        (b"missing", None),
    ] {
        let (u, seen) = get_rw(&mut a, k, held);
        up_.push(u);
        reads.push(seen);
    }
    // And it takes writes: ADD of an existing key is still refused; a SET
    // is held at its first flash program, and meanwhile every other command
    // of the app answers NOMEM (one request pending per app).
    r2.gate.close_for_programs();
    a.key(b"greeting").value(b"again").request(ADD);
    up_.push(NOSUPPORT);
    a.command(SET, OK);
    for n in [GET, SET, DELETE, ADD, UPDATE, GC] {
        a.command(n, fails(ErrorCode::NOMEM));
    }
    a.wait();
    up_.push(DONE);
    let (u, seen) = get_rw(&mut a, b"greeting", Some(b"again"));
    up_.push(u);
    reads.push(seen);
    r2.run_all(&mut [&mut a]);
    assert!(r2.gate.holding());
    assert_eq!(r2.upcalls(&a).len(), up_.len() - 2, "the SET is pending");
    r2.gate.open();
    r2.run_until_idle();
    r2.check(&a, &up_);
    assert_eq!(r2.reads(&a), reads);
    r2.assert_quiet();
}

#[test]
fn a_full_store_answers_nomem_and_delete_plus_gc_make_room() {
    let apps = [named("filler")];
    let r = boot(&apps, None);
    let mut a = r.app(0);
    a.setup();
    let keys: Vec<Vec<u8>> = (0..12).map(|i| format!("f{i}").into_bytes()).collect();
    for (i, k) in keys.iter().enumerate() {
        a.key(k).value(&[i as u8; V]).request(SET);
    }
    a.key(&keys[0]).request(DELETE);
    a.key(&keys[1]).request(DELETE);
    a.request(GC);
    a.key(b"again").value(&[0xA9; V]).request(SET);
    r.run_all(&mut [&mut a]);
    r.check_returns(&a);
    let got = r.upcalls(&a);
    assert_eq!(got.len(), keys.len() + 4, "one upcall per request");
    let stored = got[..keys.len()].iter().take_while(|u| **u == DONE).count();
    assert!((3..keys.len()).contains(&stored), "{got:?}");
    assert!(
        got[stored..keys.len()]
            .iter()
            .all(|u| *u == up(Some(ErrorCode::NOMEM), 0)),
        "{got:?}"
    );
    assert_eq!(got[keys.len()..], [DONE, DONE, DONE, DONE]);
    r.assert_quiet();
    // After a remount: exactly the values that were stored, minus the
    // deleted ones, plus the one that fitted after the collection.
    let r2 = r.reboot(&apps);
    let mut img = r2.image();
    for (i, k) in keys.iter().enumerate() {
        let expect = (i >= 2 && i < stored).then(|| (crc("filler"), vec![i as u8; V]));
        assert_eq!(img.stored(k), expect, "{i}");
    }
    assert_eq!(img.stored(b"again"), Some((crc("filler"), vec![0xA9; V])));
}

#[test]
fn a_store_that_cannot_mount_answers_nodevice_and_is_left_alone() {
    // Foreign data: not blank, not a TicKV store. Never formatted.
    let mut sim = SimFlash::new(G);
    sim.image_mut()[..64].fill(0x42);
    let image = sim.snapshot();
    let apps = [named("solo")];
    let r = boot_any(&apps, Some(&image));
    assert!(matches!(r.stack.tickv.state(), StoreState::Failed(_)));
    let mut a = r.app(0);
    a.setup().key(b"k").value(b"v").rw(8);
    for n in [SET, GET, ADD, UPDATE, DELETE, GC] {
        a.request(n);
    }
    r.run_all(&mut [&mut a]);
    r.check(&a, &[up(Some(ErrorCode::NODEVICE), 0); 6]);
    r.assert_quiet();
    let st = r.flash.stats();
    assert_eq!((st.programs, st.erases), (0, 0));
    assert_eq!(r.flash.sim().image()[..64], [0x42; 64]);
    // The kernel user gets the same answer.
    let d = r.kernel(|u, p| u.set(sub(b"k"), value(b"v"), p).map_err(|e| e.2));
    assert_eq!(
        d,
        Done::Set(Err(ErrorCode::NODEVICE), b"k".to_vec(), b"v".to_vec())
    );
}

// ----- (b) the permission matrix over the real store ----------------------

/// Item prefixes: the request matrix of app `i`, the delete matrix of app
/// `i`, and the kernel's row.
fn m(i: usize) -> String {
    format!("m{i}")
}
fn d(i: usize) -> String {
    format!("d{i}")
}
const K_ROW: &str = "K";

#[test]
fn permission_matrix_over_the_real_store_with_a_kernel_owned_item() {
    let apps = matrix_apps();
    let mut prefixes: Vec<String> = (0..5).flat_map(|i| [m(i), d(i)]).collect();
    prefixes.push(K_ROW.to_string());

    // Boot 1: the owners write the items: alpha, beta (0x100) and gamma
    // (0x200) through the driver, the kernel through its user of the mux.
    let r = boot(&apps, None);
    let mut writers: Vec<Script> = (0..3).map(|i| r.app(i)).collect();
    for w in &mut writers {
        w.setup();
    }
    for p in &prefixes {
        for (i, (k, _, v)) in matrix_items(p).iter().enumerate() {
            match writers.get_mut(i) {
                Some(w) => {
                    w.key(k).value(v).request(SET);
                }
                None => r.kernel_set(k, v),
            }
        }
    }
    let mut refs: Vec<&mut Script> = writers.iter_mut().collect();
    r.run_all(&mut refs);
    for w in &writers {
        r.check(w, &vec![DONE; prefixes.len()]);
    }
    let mut img = r.image();
    for p in &prefixes {
        for (k, owner, v) in matrix_items(p) {
            assert_eq!(img.stored_for(owner, &k), Some((owner, v)), "{k:?}");
        }
    }
    r.assert_quiet();

    // Boot 2 (the owners come from the flash): the kernel's row, then
    // every app's GET / UPDATE / SET / ADD row, all apps at once.
    let r = r.reboot(&apps);
    let row = matrix_items(K_ROW);
    for (i, (k, _, v)) in row.iter().enumerate() {
        let got = r.kernel(|u, p| u.get(sub(k), out(16), p).map_err(|e| e.2));
        let expect = if i == 3 {
            let mut w = v.clone();
            w.resize(16, 0xAA);
            Done::Get(Ok(()), k.clone(), w, v.len())
        } else {
            // Not readable: NOSUPPORT, and the window wiped.
            Done::Get(Err(ErrorCode::NOSUPPORT), k.clone(), vec![0; 16], 0)
        };
        assert_eq!(got, expect, "kernel get {i}");
    }
    for (i, (k, _, _)) in row.iter().enumerate() {
        // Only the kernel's own item is there to update.
        let modifiable = if i == 3 {
            Ok(())
        } else {
            Err(ErrorCode::NOSUPPORT)
        };
        let got = r.kernel(|u, p| u.update(sub(k), value(b"KU"), p).map_err(|e| e.2));
        assert_eq!(got, Done::Update(modifiable, k.clone(), b"KU".to_vec()));
        // The apps' items are not in the kernel's namespace: its add of
        // their keys creates its own values beside them (and its delete
        // then removes those); only its own item exists there already.
        let got = r.kernel(|u, p| u.add(sub(k), value(b"KA"), p).map_err(|e| e.2));
        let added = if i == 3 {
            Err(ErrorCode::NOSUPPORT)
        } else {
            Ok(())
        };
        assert_eq!(got, Done::Add(added, k.clone(), b"KA".to_vec()));
        let got = r.kernel(|u, p| u.delete(sub(k), p).map_err(|e| e.1));
        assert_eq!(got, Done::Delete(Ok(()), k.clone()));
    }
    let mut scripts: Vec<Script> = (0..5).map(|i| r.app(i)).collect();
    let expects: Vec<Expect> = scripts
        .iter_mut()
        .enumerate()
        .map(|(i, s)| matrix_requests(s, i, &matrix_items(&m(i)), &format!("n{i}")))
        .collect();
    let mut refs: Vec<&mut Script> = scripts.iter_mut().collect();
    r.run_all(&mut refs);
    let mut img = r.image();
    for (s, e) in scripts.iter().zip(&expects) {
        r.check(s, &e.upcalls);
        assert_eq!(r.reads(s), e.reads, "app {}", s.index);
        for (k, held) in &e.stored {
            assert_eq!(&img.stored(k), held, "app {} key {k:?}", s.index);
        }
    }
    for (i, (k, owner, v)) in row.iter().enumerate() {
        let left = (i != 3).then(|| (*owner, v.clone()));
        assert_eq!(img.stored_for(*owner, k), left, "kernel row {i}");
    }
    r.assert_quiet();

    // Boot 3: every app's DELETE row; the request rows are still there.
    let r = r.reboot(&apps);
    let mut scripts: Vec<Script> = (0..5).map(|i| r.app(i)).collect();
    let deletes: Vec<Expect> = scripts
        .iter_mut()
        .enumerate()
        .map(|(i, s)| matrix_deletes(s, i, &matrix_items(&d(i))))
        .collect();
    let mut refs: Vec<&mut Script> = scripts.iter_mut().collect();
    r.run_all(&mut refs);
    let mut img = r.image();
    for (s, e) in scripts.iter().zip(&deletes) {
        r.check(s, &e.upcalls);
        for (k, held) in &e.stored {
            assert_eq!(&img.stored(k), held, "app {} key {k:?}", s.index);
        }
    }
    for e in &expects {
        for (k, held) in &e.stored {
            assert_eq!(&img.stored(k), held, "{k:?} after a remount");
        }
    }
    r.assert_quiet();
}

// ----- (c) several apps and a kernel user at once ---------------------------

#[test]
fn an_app_cannot_squat_a_kernel_key() {
    // The app adds the key the kernel is about to use, before the kernel
    // writes it (on main before namespaces, the kernel's add then failed
    // for good: the key existed and was not the kernel's).
    let apps = [named("squatter")];
    let r = boot(&apps, None);
    let mut a = r.app(0);
    a.setup()
        .key(b"kernel-boot-count")
        .value(b"mine")
        .request(ADD);
    r.run_all(&mut [&mut a]);
    r.check(&a, &[DONE]);
    let got = r.kernel(|u, p| {
        u.add(sub(b"kernel-boot-count"), value(b"\x01"), p)
            .map_err(|e| e.2)
    });
    assert_eq!(
        got,
        Done::Add(Ok(()), b"kernel-boot-count".to_vec(), b"\x01".to_vec())
    );
    let mut img = r.image();
    assert_eq!(
        img.kernel_stored(b"kernel-boot-count"),
        Some((0, b"\x01".to_vec()))
    );
    assert_eq!(
        img.stored(b"kernel-boot-count"),
        Some((crc("squatter"), b"mine".to_vec()))
    );
    r.assert_quiet();
}

#[test]
fn three_apps_and_a_kernel_user_fifo_one_upcall_each_and_nomem() {
    let apps = [named("p0"), named("p1"), named("p2")];
    let r = boot(&apps, None);
    // The kernel's first request is in flight, held at the flash, while
    // the apps send theirs in the order p2, p0, p1 (timeslices), the
    // opposite of the order the driver visits the grants in.
    r.gate.close();
    assert!(r
        .kernel_user
        .set(sub(b"K1"), value(b"kernel 1"), StoragePermissions::KERNEL)
        .is_ok());
    settle(r.h.deferred);
    assert!(r.gate.holding());
    let mut p0 = r.app(0);
    p0.setup()
        .key(b"k0")
        .value(b"v0")
        .timeslice()
        .command(SET, OK);
    p0.command(GET, fails(ErrorCode::NOMEM)).wait();
    let mut p1 = r.app(1);
    p1.setup().key(b"k1").value(b"v1").timeslice().timeslice();
    p1.command(SET, OK)
        .command(DELETE, fails(ErrorCode::NOMEM))
        .wait();
    let mut p2 = r.app(2);
    p2.setup().key(b"k2").value(b"v2").command(SET, OK);
    p2.command(SET, fails(ErrorCode::NOMEM)).wait();
    let mut reads = Vec::new();
    for (i, s) in [&mut p0, &mut p1, &mut p2].into_iter().enumerate() {
        let v = format!("v{i}").into_bytes();
        let (_, seen) = get_rw(s, format!("k{i}").as_bytes(), Some(&v));
        reads.push(seen);
    }
    r.run_all(&mut [&mut p0, &mut p1, &mut p2]);
    // Everyone waits for the kernel's request.
    assert!(r.gate.holding() && r.stack.driver.is_busy());
    for s in [&p0, &p1, &p2] {
        assert!(r.upcalls(s).is_empty());
    }
    // The flash completes; the kernel user sends a second request as soon
    // as its first is done.
    r.gate.open();
    while r.kernel_rec.done.borrow().is_empty() {
        assert!(r.h.deferred.service_next());
    }
    assert!(r
        .kernel_user
        .set(sub(b"K2"), value(b"kernel 2"), StoragePermissions::KERNEL)
        .is_ok());
    r.run_until_idle();
    assert_eq!(
        r.kernel_rec.take(),
        [
            Done::Set(Ok(()), b"K1".to_vec(), b"kernel 1".to_vec()),
            Done::Set(Ok(()), b"K2".to_vec(), b"kernel 2".to_vec()),
        ]
    );
    for (i, s) in [&p0, &p1, &p2].into_iter().enumerate() {
        r.check(s, &[DONE, up(None, 2)]);
        assert_eq!(r.reads(s), [reads[i].clone()]);
    }
    // The order the store ran the writes in: the apps in the order their
    // commands were accepted; the kernel user's second request, which
    // arrived while the apps waited in the driver, after the app request
    // that was running: the driver is one user of the mux, and the mux is
    // FIFO per request (see doc/kv-stack.md).
    let mut img = r.image();
    let all: [&[u8]; 5] = [b"K1", b"k0", b"k1", b"k2", b"K2"];
    assert_eq!(img.written(&all), [&b"K1"[..], b"k2", b"K2", b"k0", b"k1"]);
    assert_eq!(img.kernel_stored(b"K2"), Some((0, b"kernel 2".to_vec())));
    r.assert_quiet();
}

#[test]
fn apps_faulting_and_restarting_mid_request_with_a_kernel_user() {
    let apps = [named("p0"), named("p1"), named("p2")];
    let r = boot(&apps, None);
    r.gate.close();
    // p0's request is running (held at the flash) when p0 faults; p1's is
    // waiting when p1 restarts, and its new instance sends one of its own;
    // p2's waits throughout.
    let mut p0 = r.app(0);
    p0.setup().key(b"k0").value(b"v0").command(SET, OK).fault();
    let mut p1 = r.app(1);
    p1.setup()
        .key(b"k1")
        .value(b"v1")
        .timeslice()
        .command(SET, OK);
    p1.restart().setup().key(b"n1").value(b"w1").request(SET);
    let mut p2 = r.app(2);
    p2.setup().key(b"k2").value(b"v2").timeslice().timeslice();
    p2.timeslice().timeslice().request(SET);
    r.run_all(&mut [&mut p0, &mut p1, &mut p2]);
    assert_eq!(r.process(0).state(), State::Faulted);
    assert_eq!(r.process(1).restart_count(), 1);
    assert!(r.gate.holding());
    // A kernel request arrives while p0's (orphaned) request runs.
    assert!(r
        .kernel_user
        .set(sub(b"kern"), value(b"kv"), StoragePermissions::KERNEL)
        .is_ok());
    r.gate.open();
    r.run_until_idle();
    assert_eq!(
        r.kernel_rec.take(),
        [Done::Set(Ok(()), b"kern".to_vec(), b"kv".to_vec())]
    );
    r.check(&p0, &[]);
    r.check(&p1, &[DONE]);
    r.check(&p2, &[DONE]);
    // The running request finished in the store; the waiting one of the
    // old p1 vanished with its grant and never ran.
    let mut img = r.image();
    let all: [&[u8]; 5] = [b"k0", b"k1", b"n1", b"k2", b"kern"];
    assert_eq!(img.written(&all), [&b"k0"[..], b"kern", b"n1", b"k2"]);
    assert_eq!(img.stored(b"k0"), Some((crc("p0"), b"v0".to_vec())));
    assert_eq!(img.stored(b"k1"), None);
    r.assert_quiet();
}

#[test]
fn an_app_restarting_while_its_get_runs_gets_no_stale_upcall_or_data() {
    let apps = [named("p0"), named("p1")];
    let r = boot(&apps, None);
    let mut w0 = r.app(0);
    w0.setup().key(b"k0").value(b"secret0").request(SET);
    let mut w1 = r.app(1);
    w1.setup().key(b"k1").value(b"one").request(SET);
    r.run_all(&mut [&mut w0, &mut w1]);
    let r = r.reboot(&apps);
    r.gate.close();
    // The old p0 asks for k0 into RW, then restarts; the new p0 allows a
    // buffer at the same address and asks for a key it does not have.
    let mut p0 = r.app(0);
    p0.setup().key(b"k0").rw(8).command(GET, OK).restart();
    p0.setup().rw(8).key(b"n0").request(GET).read_rw(8);
    let mut p1 = r.app(1);
    p1.setup().key(b"k1").rw(8).request(GET).read_rw(3);
    r.run_all(&mut [&mut p0, &mut p1]);
    assert!(r.gate.holding());
    r.gate.open();
    r.run_until_idle();
    r.check(&p0, &[NOSUPPORT]);
    assert_eq!(r.reads(&p0), [vec![0xCC; 8]], "the old value never arrived");
    r.check(&p1, &[up(None, 3)]);
    assert_eq!(r.reads(&p1), [b"one".to_vec()]);
    r.assert_quiet();
}

// ----- (d), (e) flash errors and power cuts under an app's SET -------------

/// Key -> value, as the app "solo" stored them.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

const SOLO: &str = "solo";

/// A store with history: 30 writes by "solo" over 6 keys (so garbage is
/// left), one key deleted, and a kernel-owned item.
fn base() -> (Snapshot, Model) {
    let r = boot(&[named(SOLO)], None);
    let mut model = Model::new();
    let mut a = r.app(0);
    a.setup();
    for i in 0..30usize {
        let k = format!("key{}", i % 6).into_bytes();
        let v = vec![i as u8; 10 + (i * 7) % 50];
        a.key(&k).value(&v).request(SET);
        model.insert(k, v);
    }
    a.key(b"key5").request(DELETE);
    model.remove(&b"key5"[..]);
    r.kernel_set(b"kernel-item", b"the kernel's");
    r.run_all(&mut [&mut a]);
    r.check(&a, &[DONE; 31]);
    r.assert_quiet();
    (r.flash.snapshot(), model)
}

/// From `image`, the first SET (of a sequence by "solo") that erases a
/// region while it runs: the image and model just before it, and the SET.
fn compacting_set(mut image: Snapshot, mut model: Model) -> (Snapshot, Model, Vec<u8>, Vec<u8>) {
    for i in 0..200usize {
        let r = boot(&[named(SOLO)], Some(&image));
        let (k, v) = (
            format!("key{}", i % 4).into_bytes(),
            vec![0xC0 | (i as u8 & 0xF); 120],
        );
        r.flash.clear_log();
        let mut a = r.app(0);
        a.setup().key(&k).value(&v).request(SET);
        r.run_all(&mut [&mut a]);
        r.check(&a, &[DONE]);
        if r.flash.log().iter().any(|op| op.kind() == Kind::Erase) {
            return (image, model, k, v);
        }
        model.insert(k, v);
        image = r.flash.snapshot();
    }
    panic!("no set erased a region");
}

/// After a reboot on `image`: "solo" reads every key of `model` but
/// `key`, which must hold `old` or `new`; returns what `key` held. Then
/// the store takes a new write of `key`.
fn check_after_remount(r: &Rig, model: &Model, key: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let old = model.get(key);
    let mut a = r.app(0);
    a.setup();
    let mut expect = Vec::new();
    for (k, v) in model.iter().filter(|(k, _)| k.as_slice() != key) {
        expect.push(get_rw(&mut a, k, Some(v)));
    }
    a.key(key).rw(RW_LEN).request(GET).read_rw(RW_LEN);
    a.value(b"rewritten").request(SET);
    let (u, seen) = get_rw(&mut a, key, Some(b"rewritten"));
    r.run_all(&mut [&mut a]);
    r.check_returns(&a);
    let ups = r.upcalls(&a);
    let reads = r.reads(&a);
    let n = expect.len();
    assert_eq!(ups.len(), n + 3, "one upcall per request");
    for (i, (u, seen)) in expect.iter().enumerate() {
        assert_eq!((&ups[i], &reads[i]), (u, seen), "other keys intact");
    }
    // The key under test: its old or its new value.
    let held = match ups[n] {
        [0, len, 0] => Some(reads[n][..len as usize].to_vec()),
        u => {
            assert_eq!(u, NOSUPPORT);
            None
        }
    };
    assert!(
        held.as_deref() == old.map(Vec::as_slice) || held.as_deref() == Some(new),
        "{key:?} holds {held:?}"
    );
    assert_eq!((ups[n + 1], ups[n + 2], &reads[n + 1]), (DONE, u, &seen));
    // The kernel's item is untouched.
    let got = r.kernel(|u, p| u.get(sub(b"kernel-item"), out(12), p).map_err(|e| e.2));
    assert_eq!(
        got,
        Done::Get(
            Ok(()),
            b"kernel-item".to_vec(),
            b"the kernel's".to_vec(),
            12
        )
    );
    r.assert_quiet();
    held
}

/// Injects a flash error at each flash operation of `solo`'s SET of
/// `key` = `v` in turn (through the syscall driver); returns the number of
/// operations.
fn fault_sweep(image: &Snapshot, model: &Model, key: &[u8], v: &[u8]) -> usize {
    let apps = [named(SOLO)];
    let trial = boot(&apps, Some(image));
    trial.flash.clear_log();
    let mut a = trial.app(0);
    a.setup().key(key).value(v).request(SET);
    trial.run_all(&mut [&mut a]);
    trial.check(&a, &[DONE]);
    let log = trial.flash.log();
    let name = String::from_utf8_lossy(key);
    eprintln!("fault sweep {name}: {} flash operations", log.len());
    let mut absorbed = 0;
    for (j, op) in log.iter().enumerate() {
        let r = boot(&apps, Some(image));
        fail_like(r.flash, &log, j);
        let deferred = r.stack.tickv.stats().unwrap().deferred_errors;
        let failed = r.flash.stats().failed;
        // The SET, then the next request, then a GET of the key.
        let mut a = r.app(0);
        a.setup().key(key).value(v).request(SET);
        a.key(b"next").value(b"operation").request(SET);
        a.key(key).rw(RW_LEN).request(GET).read_rw(RW_LEN);
        r.run_all(&mut [&mut a]);
        r.check_returns(&a);
        assert_eq!(r.flash.stats().failed, failed + 1, "op {j} {op:?} fired");
        assert_eq!(r.flash.last_sim_error(), Some(SimError::Injected));
        let ups = r.upcalls(&a);
        assert_eq!(ups.len(), 3, "op {j} {op:?}: one upcall per request");
        // FAIL, or success when the error hit a compaction step run after
        // the write was durable (the engine counts it).
        match ups[0] {
            FAIL => {}
            DONE => {
                absorbed += 1;
                assert_eq!(
                    r.stack.tickv.stats().unwrap().deferred_errors,
                    deferred + 1,
                    "op {j} {op:?}: success despite a fault"
                )
            }
            u => panic!("op {j} {op:?}: {u:?}"),
        }
        assert_eq!(ups[1], DONE, "op {j} {op:?}: the next request");
        // The key holds its old or its new value.
        let seen = match ups[2] {
            [0, len, 0] => Some(r.reads(&a)[0][..len as usize].to_vec()),
            u => {
                assert_eq!(u, NOSUPPORT, "op {j} {op:?}");
                None
            }
        };
        assert!(
            seen.as_ref() == model.get(key) || seen.as_deref() == Some(v),
            "op {j} {op:?}: {seen:?}"
        );
        if ups[0] == DONE {
            assert_eq!(seen.as_deref(), Some(v), "op {j} {op:?}: acknowledged");
        }
        r.assert_quiet();
        // A remount sees the same value, and the other keys.
        let mut m = model.clone();
        m.insert(b"next".to_vec(), b"operation".to_vec());
        let held = check_after_remount(&r.reboot(&apps), &m, key, v);
        assert_eq!(held, seen, "op {j} {op:?}: changed by the remount");
    }
    eprintln!("  {absorbed} absorbed by the engine, the others FAIL");
    log.len()
}

/// Cuts the power at each program and erase of `solo`'s SET of `key` =
/// `v` in turn (torn in several ways), then remounts through a fresh stack;
/// returns the number of programs and erases.
fn power_cut_sweep(image: &Snapshot, model: &Model, key: &[u8], v: &[u8]) -> u64 {
    let apps = [named(SOLO)];
    let trial = boot(&apps, Some(image));
    let start = trial.flash.sim().mutations();
    let mut a = trial.app(0);
    a.setup().key(key).value(v).request(SET);
    trial.run_all(&mut [&mut a]);
    trial.check(&a, &[DONE]);
    let mutations = trial.flash.sim().mutations() - start;
    assert!(mutations > 0);
    let name = String::from_utf8_lossy(key);
    eprintln!("power-cut sweep {name}: {mutations} programs/erases");
    // [FAIL, DONE] x [old value, new value] after the remount.
    let mut outcomes = [[0; 2]; 2];
    for k in 0..mutations {
        for tear in TEARS {
            let r = boot(&apps, Some(image));
            r.flash.sim_mut().cut_power_after(k, tear);
            let mut a = r.app(0);
            a.setup().key(key).value(v).request(SET);
            r.run_all(&mut [&mut a]);
            assert!(
                !r.flash.sim().is_powered(),
                "cut {k} {tear:?} never happened"
            );
            r.check_returns(&a);
            // Exactly one upcall: FAIL, or success if the write was durable
            // before the cut.
            let ups = r.upcalls(&a);
            assert!(ups == [FAIL] || ups == [DONE], "cut {k} {tear:?}: {ups:?}");
            r.assert_quiet();
            let held = check_after_remount(&r.reboot(&apps), model, key, v);
            if ups == [DONE] {
                assert_eq!(held.as_deref(), Some(v), "cut {k} {tear:?}: acknowledged");
            }
            outcomes[usize::from(ups == [DONE])][usize::from(held.as_deref() == Some(v))] += 1;
        }
    }
    eprintln!(
        "  FAIL then old/new: {:?}, DONE then new: {}",
        outcomes[0], outcomes[1][1]
    );
    mutations
}

#[test]
fn a_flash_error_at_every_operation_of_an_app_set() {
    let (image, model) = base();
    // Overwriting a key, and creating one.
    let ops = fault_sweep(&image, &model, b"key1", &[0x11; 40]);
    assert!(ops >= 3, "{ops}");
    fault_sweep(&image, &model, b"fresh", &[0x22; 12]);
    // A SET that compacts (erases a region) while it runs.
    let (image, model, key, v) = compacting_set(image, model);
    fault_sweep(&image, &model, &key, &v);
}

#[test]
fn a_power_cut_at_every_operation_of_an_app_set_then_a_remount() {
    let (image, model) = base();
    power_cut_sweep(&image, &model, b"key2", &[0x33; 40]);
    power_cut_sweep(&image, &model, b"fresh", &[0x44; 12]);
    let (image, model, key, v) = compacting_set(image, model);
    let mutations = power_cut_sweep(&image, &model, &key, &v);
    assert!(mutations >= 3, "{mutations}");
}

// ----- quotas and the kernel's reserve (issue 12, item 4) ----------------

/// What an app's 40-byte value is charged (owner header and record header
/// included).
fn small_charge() -> u32 {
    charge(HEADER_SIZE + 40)
}

#[test]
fn apps_filling_the_store_leave_the_kernel_its_reserve() {
    // Default quotas. Three apps write 40-byte values until the store
    // says no; then the kernel still writes. (On a store without a
    // reserve the apps fill every region and the kernel's SET answers
    // NOMEM.)
    let apps = [named("q0"), named("q1"), named("q2")];
    let r = boot(&apps, None);
    let quotas = r.stack.permissions.quotas();
    assert_ne!(quotas, Quotas::UNLIMITED, "the stack sets default quotas");
    let mut scripts: Vec<_> = (0..3).map(|i| r.app(i)).collect();
    const PER_APP: usize = 70;
    for (i, s) in scripts.iter_mut().enumerate() {
        s.setup();
        for k in 0..PER_APP {
            s.key(format!("q{i}-{k}").as_bytes())
                .value(&[i as u8; 40])
                .request(SET);
        }
    }
    let mut refs: Vec<&mut Script> = scripts.iter_mut().collect();
    r.run_all(&mut refs);
    let mut stored = 0u32;
    for s in &scripts {
        r.check_returns(s);
        let got = r.upcalls(s);
        assert_eq!(got.len(), PER_APP);
        let ok = got.iter().take_while(|u| **u == DONE).count();
        assert!(
            got[ok..]
                .iter()
                .all(|u| *u == up(Some(ErrorCode::NOMEM), 0)),
            "{got:?}"
        );
        // No app holds more than its quota.
        assert!(ok as u32 * small_charge() <= quotas.bytes_per_owner);
        assert!(ok as u32 <= quotas.keys_per_owner);
        stored += ok as u32;
    }
    // The apps together stopped at their share (bytes or keys), short of
    // the store.
    assert!(stored * small_charge() <= quotas.apps_bytes && stored <= quotas.apps_keys);
    assert!(
        stored == quotas.apps_keys || (stored + 1) * small_charge() > quotas.apps_bytes,
        "{stored} values"
    );
    // The kernel's writes find room: a handful of values of the same size.
    for k in 0..8 {
        r.kernel_set(format!("kernel-{k}").as_bytes(), &[0x4B; 40]);
    }
    r.assert_quiet();
}

#[test]
fn quotas_hold_across_overwrite_delete_gc_and_reboot() {
    // Each phase is one boot over the previous one's flash (an app whose
    // script ran out waits forever), so every phase after the first also
    // shows the ledger rebuilt from the store.
    let apps = [named("qa"), named("qb")];
    let c = small_charge();
    let quotas = Quotas {
        bytes_per_owner: 3 * c,
        keys_per_owner: 10,
        apps_bytes: 5 * c,
        apps_keys: 20,
    };
    let (ida, idb) = (crc("qa"), crc("qb"));
    let nomem = up(Some(ErrorCode::NOMEM), 0);

    // 1. a fills its quota.
    let r = boot(&apps, None);
    r.stack.permissions.set_quotas(quotas);
    let mut a = r.app(0);
    a.setup();
    for k in 0..4 {
        a.key(format!("a{k}").as_bytes())
            .value(&[1; 40])
            .request(SET);
    }
    // An overwrite of the same size is allowed at the quota; a larger one,
    // an add and a growing update are not; a shrinking update is.
    a.key(b"a0").value(&[2; 40]).request(SET);
    a.key(b"a0").value(&[3; 120]).request(SET);
    a.key(b"a9").value(&[4; 8]).request(ADD);
    a.key(b"a1").value(&[5; 120]).request(UPDATE);
    a.key(b"a1").value(&[6; 8]).request(UPDATE);
    r.run_all(&mut [&mut a]);
    r.check_returns(&a);
    assert_eq!(
        r.upcalls(&a),
        [DONE, DONE, DONE, nomem, DONE, nomem, nomem, nomem, DONE]
    );
    let a_bytes = 2 * c + charge(HEADER_SIZE + 8);
    assert_eq!(r.stack.permissions.usage(ida), Some((a_bytes, 3)));
    r.assert_quiet();

    // 2. b fits only what the apps' share has left; the kernel is not
    // limited.
    let r = r.reboot(&apps);
    r.stack.permissions.set_quotas(quotas);
    assert_eq!(r.stack.permissions.usage(ida), None, "not walked yet");
    let mut b = r.app(1);
    b.setup();
    for k in 0..3 {
        b.key(format!("b{k}").as_bytes())
            .value(&[7; 40])
            .request(SET);
    }
    r.run_all(&mut [&mut b]);
    r.check_returns(&b);
    assert_eq!(r.upcalls(&b), [DONE, DONE, nomem]);
    assert_eq!(r.stack.permissions.usage(ida), Some((a_bytes, 3)));
    assert_eq!(r.stack.permissions.usage(idb), Some((2 * c, 2)));
    r.kernel_set(b"kernel", &[8; 200]);
    r.assert_quiet();

    // 3. a garbage collection changes nothing; a delete gives room back.
    let r = r.reboot(&apps);
    r.stack.permissions.set_quotas(quotas);
    let mut a = r.app(0);
    a.setup();
    a.key(b"a4").value(&[9; 40]).request(SET);
    a.request(GC);
    a.key(b"a0").request(DELETE);
    a.key(b"a4").value(&[9; 40]).request(SET);
    a.key(b"a5").value(&[9; 40]).request(SET);
    r.run_all(&mut [&mut a]);
    r.check_returns(&a);
    assert_eq!(r.upcalls(&a), [nomem, DONE, DONE, DONE, nomem]);
    assert_eq!(r.stack.permissions.usage(ida), Some((a_bytes, 3)));
    assert_eq!(r.stack.permissions.usage(idb), Some((2 * c, 2)));
    let mut img = r.image();
    assert_eq!(img.stored(b"a0"), None);
    assert_eq!(img.stored(b"a4"), Some((ida, vec![9; 40])));
    r.assert_quiet();
}

#[test]
fn a_store_past_its_index_is_not_walked_and_writes_run_unchecked() {
    // The kernel (never limited) fills the store past its 64-entry RAM
    // index: rebuilding the ledger would scan the log once per key, so the
    // store is not walked and an app's writes run without quotas, at the
    // cost of a normal write (a bounded number of flash operations).
    let apps = [named("qa")];
    let tight = Quotas {
        bytes_per_owner: small_charge(),
        keys_per_owner: 1,
        apps_bytes: small_charge(),
        apps_keys: 1,
    };
    let r = boot(&apps, None);
    for k in 0..70 {
        r.kernel_set(format!("kernel-{k}").as_bytes(), &[1; 8]);
    }
    r.stack.permissions.set_quotas(tight);
    let before = r.flash.stats().accepted;
    let mut a = r.app(0);
    a.setup();
    for k in 0..3 {
        a.key(format!("a{k}").as_bytes())
            .value(&[2; 40])
            .request(SET);
    }
    r.run_all(&mut [&mut a]);
    r.check_returns(&a);
    assert_eq!(r.upcalls(&a), [DONE, DONE, DONE]);
    assert_eq!(r.stack.permissions.usage(crc("qa")), None);
    // Three writes past the index: each scans the log for the old value,
    // but nothing walks it once per key.
    let used = r.flash.stats().accepted - before;
    assert!(used < 3 * 400, "{used} flash operations");
    for k in 0..70 {
        assert_eq!(
            r.kernel(|u, p| u
                .delete(sub(format!("kernel-{k}").as_bytes()), p)
                .map_err(|e| e.1)),
            Done::Delete(Ok(()), format!("kernel-{k}").into_bytes())
        );
    }
    // A full collection drops the deleted records, so that the next mount
    // finds no more keys than the index holds.
    // (Many small flash steps with this 64-byte scratch: run them all.)
    assert!(r.kernel_user.garbage_collect().is_ok());
    while r.kernel_rec.done.borrow().is_empty() {
        assert!(r.h.deferred.service_next());
    }
    assert!(matches!(
        r.kernel_rec.take()[..],
        [Done::GarbageCollect(Ok(()), _)]
    ));
    r.assert_quiet();
    // Back within its index after a reboot, the store is walked again: the
    // app is over its quota and may not grow.
    let r = r.reboot(&apps);
    r.stack.permissions.set_quotas(tight);
    let mut a = r.app(0);
    a.setup();
    a.key(b"a9").value(&[3; 40]).request(SET);
    r.run_all(&mut [&mut a]);
    assert_eq!(r.upcalls(&a), [up(Some(ErrorCode::NOMEM), 0)]);
    assert_eq!(
        r.stack.permissions.usage(crc("qa")),
        Some((3 * small_charge(), 3))
    );
    r.assert_quiet();
}
