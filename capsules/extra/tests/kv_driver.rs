//! The 0x50003 driver through the real system call dispatch: apps scripted
//! on the mock CPU (`kernel_mock::Harness`), the driver over a `KVUser` of
//! a `MuxKV` over `KVStorePermissions` over an in-memory store. Every
//! register the apps see and every upcall frame is asserted.

mod kv_apps;
mod kv_fakes;

use std::ops::Deref;

use capsules_extra::kv_driver::{
    App, KVStoreDriver, ValueBufferTooShort, ALLOW_COUNTS, DRIVER_NUM,
};
use capsules_extra::kv_permissions::{KVStorePermissions, HEADER_SIZE};
use capsules_extra::virtual_kv::{KVUser, MuxKV};
use kernel::grant::GrantData;
use kernel::hil::kv::{KVPermissions, KV};
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{sys, Harness, Step};
use kv_apps::*;
use kv_fakes::{leak, FakeKV, Recorder};

/// The kernel, the KV stack and the driver, with apps loaded.
struct Rig<const V: usize> {
    h: Harness,
    kv: &'static FakeKV,
    driver: &'static KVStoreDriver<'static, V>,
    kernel_user: &'static KVUser<'static>,
    kernel_rec: &'static Recorder,
}

fn rig_with<const V: usize>(apps: &[TbfBuilder]) -> Rig<V> {
    let mut h = Harness::new(apps.len().max(1), &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let kv = FakeKV::new(h.deferred);
    let header: &'static mut [u8; HEADER_SIZE] = Box::leak(Box::new([0; HEADER_SIZE]));
    let perms = leak(KVStorePermissions::new(kv, header));
    kv.set_client(perms);
    let slot = h.deferred.allocate().unwrap();
    let mux = leak(MuxKV::new(perms, slot));
    slot.set_client(mux);
    perms.set_client(mux);
    let driver_user = leak(KVUser::new(mux));
    mux.add_user(driver_user);
    let kernel_user = leak(KVUser::new(mux));
    mux.add_user(kernel_user);
    let kernel_rec = leak(Recorder::new("kernel", None));
    kernel_user.set_client(kernel_rec);
    let driver = leak(
        KVStoreDriver::<V>::new(
            driver_user,
            grant,
            kv_fakes::array(),
            kv_fakes::buffer(HEADER_SIZE + V),
        )
        .unwrap(),
    );
    driver_user.set_client(driver);
    h.drivers.add(DRIVER_NUM, driver);
    let images: Vec<Vec<u8>> = apps.iter().map(TbfBuilder::build).collect();
    assert_eq!(
        h.load(&images, 0x8000, 0x10000),
        apps.len(),
        "{:?}",
        h.load_log
    );
    Rig {
        h,
        kv,
        driver,
        kernel_user,
        kernel_rec,
    }
}

fn rig(apps: &[TbfBuilder]) -> Rig<503> {
    rig_with::<503>(apps)
}

impl<const V: usize> Deref for Rig<V> {
    type Target = Harness;

    fn deref(&self) -> &Harness {
        &self.h
    }
}

impl<const V: usize> Rig<V> {
    /// Nothing is running or held anywhere in the stack.
    fn assert_quiet(&self) {
        assert!(!self.driver.is_busy(), "driver still busy");
        assert!(!self.kv.busy(), "store still busy");
        assert!(!self.kernel_user.is_busy());
    }

    /// Writes `v` owned by the kernel through the kernel user of the mux.
    fn kernel_set(&self, key: &[u8], v: &[u8]) {
        kv_fakes::kernel_set(self.h.deferred, self.kernel_user, self.kernel_rec, key, v);
    }
}

// ----- one app: every command, allow and upcall outcome -----------------

#[test]
fn exists_and_unknown_commands() {
    let r = rig(&[named("solo")]);
    let mut a = r.app(0);
    a.command(0, OK)
        .command(7, fails(ErrorCode::NOSUPPORT))
        .command(99, fails(ErrorCode::NOSUPPORT))
        .command(u32::MAX, fails(ErrorCode::NOSUPPORT));
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert!(r.upcalls(&a).is_empty());
    assert!(r.kv.take_log().is_empty());
}

#[test]
fn set_then_get_round_trip_and_short_buffers() {
    let r = rig(&[named("solo")]);
    let mut a = r.app(0);
    a.setup()
        .key(b"greeting")
        .value(b"hello world")
        .request(SET);
    // Whole value into a bigger buffer: the rest is untouched.
    a.rw(16).request(GET).read_rw(24);
    // Short buffer: SIZE, the full length, the prefix; nothing beyond.
    a.rw(5).request(GET).read_rw(8);
    // No buffer: SIZE and the length, nothing copied.
    a.rw(0).request(GET).read_rw(8);
    // Exactly the size.
    a.rw(11).request(GET).read_rw(12);
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(
        r.upcalls(&a),
        [
            DONE,
            up(None, 11),
            up(Some(ErrorCode::SIZE), 11),
            up(Some(ErrorCode::SIZE), 11),
            up(None, 11),
        ]
    );
    let mut whole = b"hello world".to_vec();
    whole.extend([0xCC; 13]);
    assert_eq!(
        r.reads(&a),
        [
            whole,
            b"hello\xCC\xCC\xCC".to_vec(),
            vec![0xCC; 8],
            b"hello world\xCC".to_vec(),
        ]
    );
    assert_eq!(
        r.kv.stored(b"greeting"),
        Some((crc("solo"), b"hello world".to_vec()))
    );
    r.assert_quiet();
}

#[test]
fn missing_allows_and_size_limits() {
    let r = rig(&[named("solo")]);
    let mut a = r.app(0);
    a.setup();
    // No key allowed: INVAL for every command with a key.
    for n in [GET, SET, DELETE, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::INVAL));
    }
    // A key of 65 bytes is too long; 64 is fine.
    a.key(&[b'k'; 65]).value(b"v");
    for n in [GET, SET, DELETE, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::SIZE));
    }
    a.key(&[b'k'; 64]).request(SET);
    // A value of 504 bytes is too long; 503 is fine, and comes back whole.
    a.value(&[7; 504]);
    for n in [SET, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::SIZE));
    }
    a.command(GET, OK).wait(); // GET ignores RO 1; no RW 0: SIZE
    a.value(&[9; 503]).request(UPDATE);
    a.rw(503).request(GET).read_rw(503);
    // No value allowed: an empty value is stored.
    a.value(b"").request(SET);
    a.rw(4).request(GET).read_rw(4);
    // The key and GC need nothing else.
    a.request(DELETE).request(GC);
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(
        r.upcalls(&a),
        [
            DONE,
            up(Some(ErrorCode::SIZE), 1),
            DONE,
            up(None, 503),
            DONE,
            up(None, 0),
            DONE,
            DONE,
        ]
    );
    assert_eq!(r.reads(&a), [vec![9; 503], vec![0xCC; 4]]);
    assert_eq!(r.kv.raw(&[b'k'; 64]), None);
    assert_eq!(r.kv.take_log().last().map(String::as_str), Some("gc"));
    r.assert_quiet();
}

#[test]
fn add_update_delete_outcomes() {
    let r = rig(&[named("solo")]);
    let mut a = r.app(0);
    a.setup().rw(8);
    a.key(b"k").value(b"1").request(ADD); // new: ok
    a.value(b"2").request(ADD); // exists: NOSUPPORT
    a.value(b"3").request(UPDATE); // exists: ok
    a.request(GET).read_rw(1);
    a.request(DELETE); // exists: ok
    a.request(DELETE); // missing: NOSUPPORT
    a.value(b"4").request(UPDATE); // missing: NOSUPPORT
    a.request(GET); // missing: NOSUPPORT
    a.request(SET); // missing: created
    a.request(GET).read_rw(1);
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(
        r.upcalls(&a),
        [
            DONE,
            NOSUPPORT,
            DONE,
            up(None, 1),
            DONE,
            NOSUPPORT,
            NOSUPPORT,
            NOSUPPORT,
            DONE,
            up(None, 1),
        ]
    );
    assert_eq!(r.reads(&a), [b"3".to_vec(), b"4".to_vec()]);
    r.assert_quiet();
}

#[test]
fn store_errors_reach_the_app() {
    let r = rig(&[named("solo")]);
    r.kv.capacity.set(1);
    // Request 0 (the header read of the first SET) fails in the store,
    // request 1 (the header read of the next) is refused at once.
    r.kv.fail.borrow_mut().insert(0, ErrorCode::FAIL);
    r.kv.refuse.borrow_mut().insert(1, ErrorCode::NODEVICE);
    let mut a = r.app(0);
    a.setup().key(b"a").value(b"1");
    a.request(SET); // FAIL
    a.request(SET); // NODEVICE
    a.request(SET); // ok: the store is now full
    a.key(b"b").request(SET); // NOMEM
    a.request(ADD); // NOMEM
    a.key(b"a").request(SET); // overwriting still works
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(
        r.upcalls(&a),
        [
            up(Some(ErrorCode::FAIL), 0),
            up(Some(ErrorCode::NODEVICE), 0),
            DONE,
            up(Some(ErrorCode::NOMEM), 0),
            up(Some(ErrorCode::NOMEM), 0),
            DONE,
        ]
    );
    r.assert_quiet();
}

#[test]
fn one_pending_request_per_app() {
    let r = rig(&[named("solo")]);
    r.kv.hold.set(true);
    let mut a = r.app(0);
    a.setup().key(b"k").value(b"v").rw(4);
    a.command(SET, OK);
    for n in [GET, SET, DELETE, ADD, UPDATE, GC] {
        a.command(n, fails(ErrorCode::NOMEM));
    }
    a.wait().request(GET).read_rw(1);
    r.play(&mut a);
    r.run_until_idle();
    assert!(r.upcalls(&a).is_empty());
    r.kv.release();
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(r.upcalls(&a), [DONE, up(None, 1)]);
    assert_eq!(r.reads(&a), [b"v".to_vec()]);
    r.assert_quiet();
}

#[test]
fn larger_board_limit() {
    let r = rig_with::<1000>(&[named("solo")]);
    assert_eq!(r.driver.value_max(), 1000);
    let mut a = r.app(0);
    a.setup().key(b"big").value(&[5; 1001]);
    a.command(SET, fails(ErrorCode::SIZE));
    a.value(&[6; 1000]).request(SET);
    a.rw(1000).request(GET).read_rw(1000);
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(r.upcalls(&a), [DONE, up(None, 1000)]);
    assert_eq!(r.reads(&a), [vec![6; 1000]]);
}

#[test]
fn values_longer_than_the_kernel_buffer_come_back_truncated() {
    // A value stored by someone with a bigger limit (an imported store).
    let r = rig(&[named("solo")]);
    r.kv.insert(b"big", crc("solo"), &[3; 600]);
    let mut a = r.app(0);
    a.setup().key(b"big").rw(0x300).request(GET).read_rw(600);
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(r.upcalls(&a), [up(Some(ErrorCode::SIZE), 600)]);
    let mut expect = vec![3; 503];
    expect.extend([0xCC; 97]);
    assert_eq!(r.reads(&a), [expect]);
}

#[test]
fn no_write_permission_is_inval_at_command_time() {
    // write_id 0 in the storage TLV: no write permission at all.
    let r = rig(&[named("reader").storage(0, &[0x77], &[0x77])]);
    r.kv.insert(b"k", 0x77, b"shared");
    let mut a = r.app(0);
    a.setup().key(b"k").value(b"x").rw(8);
    for n in [SET, ADD, UPDATE] {
        a.command(n, fails(ErrorCode::INVAL));
    }
    // Garbage collection compacts and erases: it needs a write id too.
    a.command(GC, fails(ErrorCode::INVAL));
    a.request(GET).read_rw(6).request(DELETE);
    r.play(&mut a);
    r.run_until_idle();
    r.check_returns(&a);
    assert_eq!(r.upcalls(&a), [up(None, 6), DONE]);
    assert_eq!(r.reads(&a), [b"shared".to_vec()]);
    assert_eq!(r.kv.raw(b"k"), None);
    assert_eq!(r.kv.take_log(), ["get k", "get k", "delete k"]);
}

#[test]
fn requests_read_their_buffers_when_they_start() {
    // p0 keeps the store busy; the others change their buffers while
    // their requests wait. A request reads RO 0 / RO 1 when it starts, as
    // upstream's driver does (the grant holds no copy), and a request whose
    // buffers stopped making sense ends with that error and no store work.
    let r = rig(&[
        named("p0"),
        named("p1"),
        named("p2"),
        named("p3"),
        named("p4"),
        named("p5"),
    ]);
    r.kv.insert(b"k1", crc("p1"), b"one");
    r.kv.insert(b"k2", crc("p2"), b"two");
    r.kv.hold.set(true);
    let mut p0 = r.app(0);
    p0.setup().key(b"k0").value(b"v0").request(SET);
    // p1: GET; then RW 0 moves elsewhere: the value goes where RW 0 is
    // when the request completes.
    let mut p1 = r.app(1);
    p1.setup().key(b"k1").rw(8).command(GET, OK);
    let other = p1.mem + OTHER;
    p1.write(OTHER, &[0xDD; 8]).allow(3, 0, other, 8);
    p1.wait().read_rw(8).step(Step::Read(other, 8));
    // p2: GET; then RW 0 is revoked: SIZE with the length, nothing copied.
    let mut p2 = r.app(2);
    p2.setup().key(b"k2").rw(8).command(GET, OK);
    p2.allow(3, 0, 0, 0).wait().read_rw(8);
    // p3: SET; then key and value memory change and RO 0/1 move: the
    // request stores what the allows hold when it starts.
    let mut p3 = r.app(3);
    p3.setup().key(b"k3").value(b"original").command(SET, OK);
    p3.write(KEY, b"zz").write(VALUE, b"XXXXXXXX");
    let other = p3.mem + OTHER;
    p3.write(OTHER, b"k9").allow(4, 0, other, 2);
    p3.allow(4, 1, other, 2).wait();
    // p4: SET; then RO 0 is revoked: INVAL, nothing stored.
    let mut p4 = r.app(4);
    p4.setup().key(b"k4").value(b"four").command(SET, OK);
    p4.allow(4, 0, 0, 0).wait();
    // p5: SET; then RO 1 grows past the value limit: SIZE, nothing stored.
    let mut p5 = r.app(5);
    p5.setup().key(b"k5").value(b"five").command(SET, OK);
    let value = p5.mem + VALUE;
    p5.allow(4, 1, value, 504).wait();
    let mut all = [&mut p0, &mut p1, &mut p2, &mut p3, &mut p4, &mut p5];
    for s in all.iter_mut() {
        r.play(s);
    }
    r.run_until_idle();
    r.kv.release();
    r.run_until_idle();
    for s in all.iter() {
        r.check_returns(s);
    }
    assert_eq!(r.upcalls(&p0), [DONE]);
    assert_eq!(r.upcalls(&p1), [up(None, 3)]);
    assert_eq!(r.upcalls(&p2), [up(Some(ErrorCode::SIZE), 3)]);
    assert_eq!(r.upcalls(&p3), [DONE]);
    assert_eq!(r.upcalls(&p4), [up(Some(ErrorCode::INVAL), 0)]);
    assert_eq!(r.upcalls(&p5), [up(Some(ErrorCode::SIZE), 0)]);
    assert_eq!(
        r.reads(&p1),
        [vec![0xCC; 8], b"one\xDD\xDD\xDD\xDD\xDD".to_vec()]
    );
    assert_eq!(r.reads(&p2), [vec![0xCC; 8]]);
    assert_eq!(r.kv.stored(b"k9"), Some((crc("p3"), b"k9".to_vec())));
    for gone in [&b"k3"[..], b"zz", b"k4", b"k5"] {
        assert_eq!(r.kv.raw(gone), None);
    }
    // p4's and p5's requests never reached the store.
    let log = r.kv.take_log();
    assert!(
        !log.iter().any(|l| l.contains("k4") || l.contains("k5")),
        "{log:?}"
    );
    r.assert_quiet();
}

// ----- permissions: every cell -------------------------------------------

/// Stores the matrix items under `prefix`; `k` is written by a kernel user.
fn store_matrix_items<const V: usize>(r: &Rig<V>, prefix: &str) -> Vec<Item> {
    let items = matrix_items(prefix);
    for (k, owner, v) in &items {
        if *owner == 0 {
            r.kernel_set(k, v);
        } else {
            r.kv.insert(k, *owner, v);
        }
    }
    items
}

/// Runs one matrix app's script alone and checks what it and the store see.
fn check_matrix<const V: usize>(r: &Rig<V>, s: &mut Script, e: &Expect) {
    let app = s.index;
    r.play(s);
    r.run_until_idle();
    r.check_returns(s);
    assert_eq!(r.upcalls(s), e.upcalls, "app {app}");
    assert_eq!(r.reads(s), e.reads, "app {app}");
    for (k, held) in &e.stored {
        assert_eq!(&r.kv.stored(k), held, "app {app} key {k:?}");
    }
    // Whatever the app did, the kernel's item is untouched.
    for (k, _, v) in matrix_items("").iter().chain(&matrix_items("d")) {
        if let Some((0, _)) = r.kv.kernel_stored(k) {
            assert_eq!(r.kv.kernel_stored(k), Some((0, v.clone())), "app {app}");
        }
    }
    // No other app got anything.
    for other in (0..5).filter(|&o| o != app) {
        assert!(r.h.cpu.upcalls(r.h.mem_start(other)).is_empty());
    }
    r.assert_quiet();
}

#[test]
fn permission_matrix_get_update_set_add() {
    for app in 0..5 {
        let r = rig(&matrix_apps());
        let items = store_matrix_items(&r, "");
        let mut s = r.app(app);
        let e = matrix_requests(&mut s, app, &items, "new-");
        check_matrix(&r, &mut s, &e);
    }
}

#[test]
fn permission_matrix_delete() {
    for app in 0..5 {
        let r = rig(&matrix_apps());
        let items = store_matrix_items(&r, "d");
        let mut s = r.app(app);
        let e = matrix_deletes(&mut s, app, &items);
        check_matrix(&r, &mut s, &e);
    }
}

// ----- several apps at once ----------------------------------------------

#[test]
fn three_apps_fifo_one_upcall_each_and_nomem() {
    let r = rig(&[named("p0"), named("p1"), named("p2")]);
    r.kv.hold.set(true);
    // Commands arrive in the order p2, p0, p1 (timeslices), the opposite of
    // the process table order the grants are visited in.
    let mut p0 = r.app(0);
    p0.setup()
        .key(b"k0")
        .value(b"v0")
        .timeslice()
        .command(SET, OK);
    p0.command(GET, fails(ErrorCode::NOMEM)).wait();
    p0.rw(4).request(GET).read_rw(2);
    let mut p1 = r.app(1);
    p1.setup().key(b"k1").value(b"v1").timeslice().timeslice();
    p1.command(SET, OK)
        .command(DELETE, fails(ErrorCode::NOMEM))
        .wait();
    p1.rw(4).request(GET).read_rw(2);
    let mut p2 = r.app(2);
    p2.setup().key(b"k2").value(b"v2").command(SET, OK);
    p2.command(SET, fails(ErrorCode::NOMEM)).wait();
    p2.rw(4).request(GET).read_rw(2);
    for s in [&mut p0, &mut p1, &mut p2] {
        r.play(s);
    }
    r.run_until_idle();
    // Only p2's header read has reached the store; all three wait.
    assert_eq!(r.kv.log.borrow().as_slice(), ["get k2"]);
    assert!(r.driver.is_busy());
    r.kv.release();
    r.run_until_idle();
    let log = r.kv.take_log();
    assert_eq!(
        log[..6],
        ["get k2", "add k2", "get k0", "add k0", "get k1", "add k1"]
    );
    // Then each app read its value back (one get each).
    assert_eq!(log.len(), 9, "{log:?}");
    for (i, s) in [&p0, &p1, &p2].into_iter().enumerate() {
        r.check_returns(s);
        assert_eq!(r.upcalls(s), [DONE, up(None, 2)]);
        assert_eq!(r.reads(s), [format!("v{i}").into_bytes()]);
    }
    assert_eq!(r.kv.stored(b"k0"), Some((crc("p0"), b"v0".to_vec())));
    assert_eq!(r.kv.stored(b"k1"), Some((crc("p1"), b"v1".to_vec())));
    assert_eq!(r.kv.stored(b"k2"), Some((crc("p2"), b"v2".to_vec())));
    r.assert_quiet();
}

#[test]
fn apps_faulting_mid_request() {
    let r = rig(&[named("p0"), named("p1"), named("p2")]);
    r.kv.hold.set(true);
    // p0's request is running when it faults; p1's is waiting when it
    // faults; p2's waits behind both.
    let mut p0 = r.app(0);
    p0.setup().key(b"k0").value(b"v0").command(SET, OK).fault();
    let mut p1 = r.app(1);
    p1.setup().key(b"k1").value(b"v1").command(SET, OK).fault();
    let mut p2 = r.app(2);
    p2.setup().key(b"k2").value(b"v2").request(SET);
    for s in [&mut p0, &mut p1, &mut p2] {
        r.play(s);
    }
    r.run_until_idle();
    assert_eq!(r.h.process(0).state(), kernel::process::State::Faulted);
    assert_eq!(r.h.process(1).state(), kernel::process::State::Faulted);
    r.kv.release();
    r.run_until_idle();
    for s in [&p0, &p1, &p2] {
        r.check_returns(s);
    }
    assert!(r.upcalls(&p0).is_empty());
    assert!(r.upcalls(&p1).is_empty());
    assert_eq!(r.upcalls(&p2), [DONE]);
    // The running request finished in the store; the waiting one vanished.
    assert_eq!(r.kv.take_log(), ["get k0", "add k0", "get k2", "add k2"]);
    assert!(r.kv.raw(b"k1").is_none());
    r.assert_quiet();
}

#[test]
fn apps_restarting_mid_request() {
    let r = rig(&[named("p0"), named("p1"), named("p2")]);
    r.kv.hold.set(true);
    // p0 restarts while its request runs, p1 while its request waits; both
    // new instances send a request of their own at once (accepted: their
    // grants are fresh). p2 waits throughout.
    let mut p0 = r.app(0);
    p0.setup()
        .key(b"k0")
        .value(b"v0")
        .command(SET, OK)
        .restart();
    p0.setup().key(b"n0").value(b"w0").rw(4).request(GET);
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
    for s in [&mut p0, &mut p1, &mut p2] {
        r.play(s);
    }
    r.run_until_idle();
    assert_eq!(r.kv.log.borrow().as_slice(), ["get k0"]);
    r.kv.release();
    r.run_until_idle();
    for s in [&p0, &p1, &p2] {
        r.check_returns(s);
    }
    // Exactly one upcall each: the new instances only get their own.
    assert_eq!(r.upcalls(&p0), [NOSUPPORT]);
    assert_eq!(r.upcalls(&p1), [DONE]);
    assert_eq!(r.upcalls(&p2), [DONE]);
    // The old p0 request ran to its end in the store; old p1's never ran;
    // then the requests in the order they were accepted: new p0, new p1
    // (p2 gave up its timeslices until both had sent theirs), p2.
    assert_eq!(
        r.kv.take_log(),
        ["get k0", "add k0", "get n0", "get n1", "add n1", "get k2", "add k2"]
    );
    assert!(r.kv.raw(b"k1").is_none());
    assert_eq!(r.kv.stored(b"n1"), Some((crc("p1"), b"w1".to_vec())));
    assert_eq!(r.kv.stored(b"k2"), Some((crc("p2"), b"v2".to_vec())));
    r.assert_quiet();
}

#[test]
fn a_get_running_when_its_app_restarts_writes_nothing() {
    let r = rig(&[named("p0"), named("p1")]);
    r.kv.insert(b"k0", crc("p0"), b"secret0");
    r.kv.insert(b"k1", crc("p1"), b"one");
    r.kv.hold.set(true);
    // The old p0 asks for k0 into RW at RW, then restarts; the new p0
    // allows a buffer at the same address and waits for its own request.
    let mut p0 = r.app(0);
    p0.setup().key(b"k0").rw(8).command(GET, OK).restart();
    p0.setup().rw(8).key(b"n0").request(GET).read_rw(8);
    let mut p1 = r.app(1);
    p1.setup().key(b"k1").rw(8).request(GET).read_rw(3);
    r.play(&mut p0);
    r.play(&mut p1);
    r.run_until_idle();
    r.kv.release();
    r.run_until_idle();
    r.check_returns(&p0);
    r.check_returns(&p1);
    assert_eq!(r.upcalls(&p0), [NOSUPPORT]);
    assert_eq!(r.reads(&p0), [vec![0xCC; 8]], "the old value never arrived");
    assert_eq!(r.upcalls(&p1), [up(None, 3)]);
    assert_eq!(r.reads(&p1), [b"one".to_vec()]);
    assert_eq!(r.kv.take_log(), ["get k0", "get n0", "get k1"]);
    r.assert_quiet();
}

// ----- the grant encoding -------------------------------------------------

#[test]
fn grant_data_zeroes_are_idle_and_garbage_never_panics() {
    type A = App;
    // Status, ticket and operation: the request's bytes stay in the app.
    assert_eq!(A::SIZE, 6);
    let zeroes = vec![0u8; A::SIZE];
    let mut out = vec![0xFFu8; A::SIZE];
    A::load(&zeroes).store(&mut out);
    assert_eq!(out, zeroes);
    // Arbitrary bytes decode to something that encodes and decodes stably.
    let mut rng = 0x1234_5678_9abc_def0u64;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..A::SIZE)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // Bias towards small numbers so that valid states occur.
                if rng.is_multiple_of(3) {
                    (rng >> 8) as u8 % 4
                } else {
                    (rng >> 16) as u8
                }
            })
            .collect();
        let mut once = vec![0u8; A::SIZE];
        A::load(&bytes).store(&mut once);
        let mut twice = vec![0u8; A::SIZE];
        A::load(&once).store(&mut twice);
        assert_eq!(once, twice);
    }
    // Short slices never panic either.
    A::load(&[1, 2, 3]).store(&mut [0u8; 4]);
}

#[test]
fn a_too_small_value_buffer_is_refused_without_a_panic() {
    let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let kv = FakeKV::new(h.deferred);
    let header: &'static mut [u8; HEADER_SIZE] = Box::leak(Box::new([0; HEADER_SIZE]));
    let perms = leak(KVStorePermissions::new(kv, header));
    let grant = h
        .kernel
        .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let e = KVStoreDriver::<503>::new(perms, grant, kv_fakes::array(), kv_fakes::buffer(511))
        .err()
        .expect("a buffer one byte short is refused");
    assert_eq!(
        e,
        ValueBufferTooShort {
            needed: HEADER_SIZE + 503,
            len: 511
        }
    );
    assert_eq!(ErrorCode::from(e), ErrorCode::SIZE);
    assert_eq!(KVStoreDriver::<503>::value_buffer_len(HEADER_SIZE), 512);
    // Exactly header + VALUE_MAX is enough (a fresh kernel: each driver
    // number has one grant).
    let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let d = KVStoreDriver::<1000>::new(perms, grant, kv_fakes::array(), kv_fakes::buffer(1009))
        .expect("exactly header + VALUE_MAX is enough");
    assert_eq!(d.value_max(), 1000);
}

#[test]
fn the_driver_works_directly_over_the_permission_layer() {
    let mut h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let kv = FakeKV::new(h.deferred);
    let header: &'static mut [u8; HEADER_SIZE] = Box::leak(Box::new([0; HEADER_SIZE]));
    let perms = leak(KVStorePermissions::new(kv, header));
    kv.set_client(perms);
    let driver = leak(
        KVStoreDriver::<503>::new(perms, grant, kv_fakes::array(), kv_fakes::buffer(512)).unwrap(),
    );
    perms.set_client(driver);
    h.drivers.add(DRIVER_NUM, driver);
    assert_eq!(h.load(&[named("solo").build()], 0x1000, 0x10000), 1);
    let mem = h.mem_start(0);
    let f = h.process(0).binary_start() + 8;
    h.script(
        0,
        [
            sys::memop(0, mem + BRK),
            sys::subscribe(DRV, 0, f, 0xA0),
            Step::Write(mem + KEY, b"k".to_vec()),
            sys::allow_ro(DRV, 0, mem + KEY, 1),
            Step::Write(mem + VALUE, b"xyz".to_vec()),
            sys::allow_ro(DRV, 1, mem + VALUE, 3),
            sys::command(DRV, SET, 0, 0),
            sys::yield_wait(),
            sys::allow_rw(DRV, 0, mem + RW, 3),
            sys::command(DRV, GET, 0, 0),
            sys::yield_wait(),
            Step::Read(mem + RW, 3),
        ],
    );
    h.run(10_000);
    let args: Vec<[u32; 3]> = h.cpu.upcalls(mem).iter().map(|u| u.args).collect();
    assert_eq!(args, [DONE, up(None, 3)]);
    assert_eq!(h.cpu.reads(mem), [b"xyz".to_vec()]);
    assert_eq!(kv.stored(b"k"), Some((crc("solo"), b"xyz".to_vec())));
}

#[test]
fn header_room_matches_the_permission_layer() {
    let r = rig(&[named("solo")]);
    assert_eq!(r.kernel_user.header_size(), HEADER_SIZE);
}
