//! `MuxKV` / `KVUser` over the real permission layer and an in-memory
//! store: FIFO order, one request per user, exactly one callback, failures.

mod kv_fakes;

use std::cell::{Cell, RefCell};
use std::num::NonZeroU32;

use capsules_extra::kv_permissions::{KVStorePermissions, HEADER_SIZE};
use capsules_extra::virtual_kv::{KVUser, MuxKV};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::kv::{KVClient, KVPermissions, KV};
use kernel::storage_permissions::StoragePermissions;
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode::{self, *};
use kv_fakes::{leak, out, settle, sub, value, Done, FakeKV, Recorder};

type Log = RefCell<Vec<&'static str>>;

struct Stack {
    calls: &'static DeferredCalls<8>,
    kv: &'static FakeKV,
    mux: &'static MuxKV<'static>,
    log: &'static Log,
}

fn stack() -> Stack {
    let calls = leak(DeferredCalls::<8>::new());
    let kv = FakeKV::new(calls);
    let header: &'static mut [u8; HEADER_SIZE] = Box::leak(Box::new([0; HEADER_SIZE]));
    let perms = leak(KVStorePermissions::new(kv, header));
    kv.set_client(perms);
    let slot = calls.allocate().unwrap();
    let mux = leak(MuxKV::new(perms, slot));
    slot.set_client(mux);
    perms.set_client(mux);
    Stack {
        calls,
        kv,
        mux,
        log: leak(Log::default()),
    }
}

impl Stack {
    /// A registered user with a recording client named `name`.
    fn user(&self, name: &'static str) -> (&'static KVUser<'static>, &'static Recorder) {
        let user = leak(KVUser::new(self.mux));
        self.mux.add_user(user);
        let rec = leak(Recorder::new(name, Some(self.log)));
        user.set_client(rec);
        (user, rec)
    }

    fn settle(&self) {
        settle(self.calls);
    }
}

/// Self-only permissions for `id`, kept for the rest of the test (the
/// layers keep a reference while a request runs).
fn perms(id: u32) -> &'static StoragePermissions {
    Box::leak(Box::new(StoragePermissions::self_only(
        NonZeroU32::new(id).unwrap(),
    )))
}

#[test]
fn requests_run_in_arrival_order_across_users() {
    let s = stack();
    let (a, ra) = s.user("a");
    let (b, rb) = s.user("b");
    let (c, rc) = s.user("c");
    s.kv.hold.set(true);
    // Arrival order c, a, b (not the order the users were added in).
    assert!(c.set(sub(b"kc"), value(b"3"), perms(3)).is_ok());
    assert!(a.set(sub(b"ka"), value(b"1"), perms(1)).is_ok());
    assert!(b.get(sub(b"kb"), out(2), perms(2)).is_ok());
    for u in [a, b, c] {
        assert!(u.is_busy());
    }
    s.settle();
    assert_eq!(
        s.kv.log.borrow().as_slice(),
        ["get kc"],
        "one request at a time"
    );
    s.kv.release();
    s.settle();
    assert_eq!(s.log.take(), ["c", "a", "b"]);
    assert_eq!(
        s.kv.take_log(),
        ["get kc", "add kc", "get ka", "add ka", "get kb"]
    );
    assert_eq!(
        ra.take(),
        [Done::Set(Ok(()), b"ka".to_vec(), b"1".to_vec())]
    );
    assert_eq!(
        rb.take(),
        [Done::Get(Err(NOSUPPORT), b"kb".to_vec(), vec![0; 2], 0)]
    );
    assert_eq!(
        rc.take(),
        [Done::Set(Ok(()), b"kc".to_vec(), b"3".to_vec())]
    );
    assert!(!a.is_busy() && !b.is_busy() && !c.is_busy());
}

#[test]
fn a_second_request_from_the_same_user_is_busy() {
    let s = stack();
    let (a, ra) = s.user("a");
    assert!(a.set(sub(b"k"), value(b"1"), perms(1)).is_ok());
    let (k, v, e) = a.set(sub(b"k2"), value(b"2"), perms(1)).unwrap_err();
    assert_eq!(
        (k.as_slice(), v.as_slice(), v.start(), e),
        (&b"k2"[..], &b"2"[..], HEADER_SIZE, BUSY)
    );
    assert_eq!(a.get(sub(b"k"), out(1), perms(1)).unwrap_err().2, BUSY);
    assert_eq!(a.add(sub(b"k"), value(b"1"), perms(1)).unwrap_err().2, BUSY);
    assert_eq!(
        a.update(sub(b"k"), value(b"1"), perms(1)).unwrap_err().2,
        BUSY
    );
    assert_eq!(a.delete(sub(b"k"), perms(1)).unwrap_err().1, BUSY);
    assert_eq!(a.garbage_collect(), Err(BUSY));
    s.settle();
    assert_eq!(ra.take(), [Done::Set(Ok(()), b"k".to_vec(), b"1".to_vec())]);
    // Idle again: accepted.
    assert!(a.garbage_collect().is_ok());
    s.settle();
    assert_eq!(ra.take(), [Done::GarbageCollect(Ok(()), 0)]);
    assert_eq!(s.kv.take_log(), ["get k", "add k", "gc"]);
}

#[test]
fn callbacks_never_run_inside_a_request() {
    let s = stack();
    let (a, ra) = s.user("a");
    assert!(a.get(sub(b"k"), out(1), perms(1)).is_ok());
    assert!(ra.done.borrow().is_empty());
    // Even a request the store refuses at once.
    s.settle();
    let n = s.kv.requests();
    s.kv.refuse.borrow_mut().insert(n, FAIL);
    assert!(a.get(sub(b"k"), out(1), perms(1)).is_ok());
    assert_eq!(ra.done.borrow().len(), 1);
    s.settle();
    assert_eq!(
        ra.take(),
        [
            Done::Get(Err(NOSUPPORT), b"k".to_vec(), vec![0], 0),
            Done::Get(Err(FAIL), b"k".to_vec(), vec![0xAA], 0),
        ]
    );
}

/// A client that starts another request from its callback.
struct Chatty {
    user: Cell<Option<&'static KVUser<'static>>>,
    again: Cell<u32>,
    log: &'static Log,
}

impl KVClient for Chatty {
    fn get_complete(
        &self,
        _: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        _: usize,
    ) {
        self.log.borrow_mut().push("chatty");
        if self.again.get() > 0 {
            self.again.set(self.again.get() - 1);
            assert!(self.user.get().unwrap().get(key, value, perms(9)).is_ok());
        }
    }
    fn set_complete(
        &self,
        _: Result<(), ErrorCode>,
        _: SubSliceMut<'static, u8>,
        _: SubSliceMut<'static, u8>,
    ) {
    }
    fn add_complete(
        &self,
        _: Result<(), ErrorCode>,
        _: SubSliceMut<'static, u8>,
        _: SubSliceMut<'static, u8>,
    ) {
    }
    fn update_complete(
        &self,
        _: Result<(), ErrorCode>,
        _: SubSliceMut<'static, u8>,
        _: SubSliceMut<'static, u8>,
    ) {
    }
    fn delete_complete(&self, _: Result<(), ErrorCode>, _: SubSliceMut<'static, u8>) {}
    fn garbage_collect_complete(&self, _: Result<(), ErrorCode>, _: usize) {}
}

#[test]
fn a_request_from_a_callback_queues_behind_waiting_users() {
    let s = stack();
    let chatty_user = leak(KVUser::new(s.mux));
    s.mux.add_user(chatty_user);
    let chatty = leak(Chatty {
        user: Cell::new(Some(chatty_user)),
        again: Cell::new(2),
        log: s.log,
    });
    chatty_user.set_client(chatty);
    let (b, _) = s.user("b");
    let (c, _) = s.user("c");
    s.kv.hold.set(true);
    assert!(chatty_user.get(sub(b"x"), out(1), perms(9)).is_ok());
    assert!(b.delete(sub(b"kb"), perms(2)).is_ok());
    assert!(c.garbage_collect().is_ok());
    s.kv.release();
    s.settle();
    assert_eq!(s.log.take(), ["chatty", "b", "c", "chatty", "chatty"]);
    assert_eq!(s.kv.take_log(), ["get x", "get kb", "gc", "get x", "get x"]);
}

#[test]
fn a_synchronous_failure_completes_that_request_and_the_next_one_runs() {
    let s = stack();
    let (a, ra) = s.user("a");
    let (b, rb) = s.user("b");
    let (c, rc) = s.user("c");
    s.kv.insert(b"kc", 3, b"cee");
    s.kv.hold.set(true);
    assert!(a.delete(sub(b"ka"), perms(1)).is_ok());
    assert!(b.update(sub(b"kb"), value(b"2"), perms(2)).is_ok());
    assert!(c.get(sub(b"kc"), out(3), perms(3)).is_ok());
    // b's header read (request 1) will be refused at once.
    let n = s.kv.requests();
    s.kv.refuse.borrow_mut().insert(n, NODEVICE);
    s.kv.release();
    s.settle();
    assert_eq!(s.log.take(), ["a", "b", "c"]);
    assert_eq!(ra.take(), [Done::Delete(Err(NOSUPPORT), b"ka".to_vec())]);
    assert_eq!(
        rb.take(),
        [Done::Update(Err(NODEVICE), b"kb".to_vec(), b"2".to_vec())]
    );
    assert_eq!(
        rc.take(),
        [Done::Get(Ok(()), b"kc".to_vec(), b"cee".to_vec(), 3)]
    );
    // b's buffer came back with its window.
    assert_eq!(rb.buffers.take()[0].0, HEADER_SIZE);
    // Never retried.
    assert_eq!(s.kv.take_log(), ["get ka", "get kc"]);
    assert_eq!(s.kv.requests(), n + 2);
    // b can go again.
    assert!(b.garbage_collect().is_ok());
    s.settle();
    assert_eq!(rb.take(), [Done::GarbageCollect(Ok(()), 0)]);
}

#[test]
fn failed_requests_stay_busy_until_reported() {
    let s = stack();
    let (a, ra) = s.user("a");
    let n = s.kv.requests();
    s.kv.refuse.borrow_mut().insert(n, FAIL);
    assert!(a.garbage_collect().is_ok());
    assert!(a.is_busy());
    assert_eq!(a.garbage_collect(), Err(BUSY));
    s.settle();
    assert_eq!(ra.take(), [Done::GarbageCollect(Err(FAIL), 0)]);
    assert!(!a.is_busy());
}

#[test]
fn every_operation_passes_through_with_its_buffers() {
    let s = stack();
    let (a, ra) = s.user("a");
    let p = perms(1);
    assert!(a.add(sub(b"k"), value(b"one"), p).is_ok());
    s.settle();
    assert!(a.update(sub(b"k"), value(b"two"), p).is_ok());
    s.settle();
    assert!(a.set(sub(b"k"), value(b"three"), p).is_ok());
    s.settle();
    assert!(a.get(sub(b"k"), out(3), p).is_ok());
    s.settle();
    assert!(a.delete(sub(b"k"), p).is_ok());
    s.settle();
    assert_eq!(
        ra.take(),
        [
            Done::Add(Ok(()), b"k".to_vec(), b"one".to_vec()),
            Done::Update(Ok(()), b"k".to_vec(), b"two".to_vec()),
            Done::Set(Ok(()), b"k".to_vec(), b"three".to_vec()),
            Done::Get(Err(SIZE), b"k".to_vec(), b"thr".to_vec(), 5),
            Done::Delete(Ok(()), b"k".to_vec()),
        ]
    );
    assert_eq!(a.header_size(), HEADER_SIZE);
}

#[test]
fn kernel_users_and_app_users_share_the_store_under_their_permissions() {
    let s = stack();
    let (kernel_user, rk) = s.user("kernel");
    let (app, ra) = s.user("app");
    assert!(kernel_user
        .set(
            sub(b"cfg"),
            value(b"kernel data"),
            StoragePermissions::KERNEL
        )
        .is_ok());
    assert!(app.get(sub(b"cfg"), out(11), perms(1)).is_ok());
    s.settle();
    assert_eq!(
        rk.take(),
        [Done::Set(Ok(()), b"cfg".to_vec(), b"kernel data".to_vec())]
    );
    assert_eq!(
        ra.take(),
        [Done::Get(Err(NOSUPPORT), b"cfg".to_vec(), vec![0; 11], 0)]
    );
    assert_eq!(
        s.kv.kernel_stored(b"cfg"),
        Some((0, b"kernel data".to_vec()))
    );
    assert_eq!(
        s.kv.stored(b"cfg"),
        None,
        "the kernel's namespace is its own"
    );
}

/// A garbage collection through `user` is accepted and completes once.
fn assert_gc_completes(s: &Stack, user: &'static KVUser<'static>) {
    let rec = leak(Recorder::new("gc", None));
    user.set_client(rec);
    assert!(user.garbage_collect().is_ok());
    s.settle();
    assert_eq!(rec.take(), [Done::GarbageCollect(Ok(()), 0)]);
}

#[test]
fn unregistered_users_are_refused_and_adding_twice_is_harmless() {
    let s = stack();
    let stray = leak(KVUser::new(s.mux));
    assert_eq!(stray.garbage_collect(), Err(RESERVE));
    assert_eq!(
        stray.get(sub(b"k"), out(1), perms(1)).unwrap_err().2,
        RESERVE
    );
    assert_eq!(stray.delete(sub(b"k"), perms(1)).unwrap_err().1, RESERVE);
    s.mux.add_user(stray);
    s.mux.add_user(stray);
    assert_gc_completes(&s, stray);
    // A user made for another mux is not taken: its requests would go to
    // its own mux, which does not know it, and never run (the user would
    // answer BUSY for ever). It stays unregistered and refused.
    let other = stack();
    let foreign = leak(KVUser::new(other.mux));
    s.mux.add_user(foreign);
    assert_eq!(foreign.garbage_collect(), Err(RESERVE));
    assert!(!foreign.is_busy());
    other.mux.add_user(foreign);
    assert_gc_completes(&other, foreign);
    // This mux's own users are all still served.
    assert_gc_completes(&s, stray);
}

#[test]
fn fifo_holds_over_many_rounds() {
    // Many rounds with three users queueing again and again.
    let s = stack();
    let users: Vec<_> = ["a", "b", "c"].into_iter().map(|n| s.user(n)).collect();
    for _ in 0..50 {
        s.kv.hold.set(true);
        for (u, _) in &users {
            assert!(u.garbage_collect().is_ok());
        }
        s.kv.release();
        s.settle();
        assert_eq!(s.log.take(), ["a", "b", "c"]);
    }
    for (_, r) in &users {
        assert_eq!(r.take().len(), 50);
    }
}
