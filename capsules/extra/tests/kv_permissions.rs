//! `KVStorePermissions` over an in-memory `KV`: the owner header, every
//! permission rule, the check-before-modify order, buffers and callbacks.

mod kv_fakes;

use std::num::NonZeroU32;

use capsules_extra::kv_permissions::{KVStorePermissions, OwnerHeader, HEADER_SIZE};
use kernel::deferred_call::DeferredCalls;
use kernel::hil::kv::{KVPermissions, KV};
use kernel::storage_permissions::StoragePermissions;
use kernel::ErrorCode::{self, *};
use kv_fakes::{leak, out, settle, sub, value, Done, FakeKV, Recorder};

const fn id(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// Owner ids used below.
const ME: u32 = 7;
const OTHER: u32 = 8;

fn me() -> StoragePermissions {
    StoragePermissions::self_only(id(ME))
}

struct Stack {
    calls: &'static DeferredCalls<4>,
    kv: &'static FakeKV,
    perms: &'static KVStorePermissions<'static>,
    client: &'static Recorder,
}

fn stack() -> Stack {
    let calls = leak(DeferredCalls::<4>::new());
    let kv = FakeKV::new(calls);
    let header: &'static mut [u8; HEADER_SIZE] = Box::leak(Box::new([0; HEADER_SIZE]));
    let perms = leak(KVStorePermissions::new(kv, header));
    kv.set_client(perms);
    let client = leak(Recorder::new("client", None));
    perms.set_client(client);
    Stack {
        calls,
        kv,
        perms,
        client,
    }
}

impl Stack {
    /// Runs until everything completed; returns the callbacks.
    fn done(&self) -> Vec<Done> {
        settle(self.calls);
        assert!(!self.perms.is_busy());
        assert!(!self.kv.busy());
        self.client.take()
    }

    fn get(&self, key: &[u8], len: usize, p: StoragePermissions) -> Done {
        assert!(self.perms.get(sub(key), out(len), leak(p)).is_ok());
        self.one()
    }

    fn set(&self, key: &[u8], v: &[u8], p: StoragePermissions) -> Done {
        assert!(self.perms.set(sub(key), value(v), leak(p)).is_ok());
        self.one()
    }

    fn add(&self, key: &[u8], v: &[u8], p: StoragePermissions) -> Done {
        assert!(self.perms.add(sub(key), value(v), leak(p)).is_ok());
        self.one()
    }

    fn update(&self, key: &[u8], v: &[u8], p: StoragePermissions) -> Done {
        assert!(self.perms.update(sub(key), value(v), leak(p)).is_ok());
        self.one()
    }

    fn delete(&self, key: &[u8], p: StoragePermissions) -> Done {
        assert!(self.perms.delete(sub(key), leak(p)).is_ok());
        self.one()
    }

    /// Exactly one callback, never before the deferred calls run.
    fn one(&self) -> Done {
        assert!(
            self.client.done.borrow().is_empty(),
            "callback inside the request"
        );
        let mut d = self.done();
        assert_eq!(d.len(), 1, "{d:?}");
        d.remove(0)
    }
}

fn get_ok(v: &[u8]) -> Done {
    Done::Get(Ok(()), b"k".to_vec(), v.to_vec(), v.len())
}

/// A refused get: the window comes back zeroed.
fn get_err(e: ErrorCode, len: usize) -> Done {
    Done::Get(Err(e), b"k".to_vec(), vec![0; len], 0)
}

#[test]
fn header_encoding_and_malformed_headers() {
    let h = OwnerHeader {
        value_len: 5,
        owner: 0x1234,
    };
    // The upstream layout (doc/tickv-v1.md test vector).
    assert_eq!(h.encode(), [0, 5, 0, 0, 0, 0x34, 0x12, 0, 0]);
    assert_eq!(OwnerHeader::decode(&h.encode(), 14), Some(h));
    assert_eq!(
        OwnerHeader::decode(&h.encode(), 13),
        None,
        "length mismatch"
    );
    assert_eq!(
        OwnerHeader::decode(&h.encode(), 15),
        None,
        "length mismatch"
    );
    assert_eq!(OwnerHeader::decode(&h.encode()[..8], 14), None, "too short");
    assert_eq!(OwnerHeader::decode(&[], 0), None);
    assert_eq!(
        OwnerHeader::decode(&h.encode(), 3),
        None,
        "stored shorter than a header"
    );
    let mut v1 = h.encode();
    v1[0] = 1;
    assert_eq!(OwnerHeader::decode(&v1, 14), None, "version 1");
    let empty = OwnerHeader {
        value_len: 0,
        owner: 0,
    };
    assert_eq!(OwnerHeader::decode(&empty.encode(), 9), Some(empty));
    // Huge length fields never overflow.
    let mut huge = h.encode();
    huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(OwnerHeader::decode(&huge, usize::MAX), None);
}

#[test]
fn header_size_is_nine() {
    assert_eq!(stack().perms.header_size(), 9);
}

#[test]
fn get_own_value_whole_short_and_empty_window() {
    let s = stack();
    s.kv.insert(b"k", ME, b"hello");
    assert_eq!(s.get(b"k", 5, me()), get_ok(b"hello"));
    // A bigger window: the value at its start, the rest untouched.
    assert_eq!(
        s.get(b"k", 8, me()),
        Done::Get(Ok(()), b"k".to_vec(), b"hello\xAA\xAA\xAA".to_vec(), 5)
    );
    // Short: SIZE, the prefix, the full length.
    assert_eq!(
        s.get(b"k", 3, me()),
        Done::Get(Err(SIZE), b"k".to_vec(), b"hel".to_vec(), 5)
    );
    // No window at all: just the length.
    assert_eq!(
        s.get(b"k", 0, me()),
        Done::Get(Err(SIZE), b"k".to_vec(), vec![], 5)
    );
    // Every buffer came back with its window where it was (9 bytes in).
    let buffers = s.client.buffers.take();
    assert_eq!(buffers.len(), 4);
    assert!(buffers.iter().all(|(start, _)| *start == HEADER_SIZE));
    // The header room held the stored header while the request ran.
    assert_eq!(
        &buffers[0].1[..HEADER_SIZE],
        &OwnerHeader {
            value_len: 5,
            owner: ME
        }
        .encode()
    );
    // One lower get each: the value is read once, header included.
    assert_eq!(s.kv.take_log(), ["get k"; 4]);
}

#[test]
fn empty_stored_value() {
    let s = stack();
    s.kv.insert(b"k", ME, b"");
    assert_eq!(
        s.get(b"k", 4, me()),
        Done::Get(Ok(()), b"k".to_vec(), vec![0xAA; 4], 0)
    );
}

#[test]
fn get_missing_forbidden_and_malformed_are_all_nosupport() {
    let s = stack();
    assert_eq!(s.get(b"k", 4, me()), get_err(NOSUPPORT, 4));
    s.kv.insert(b"k", OTHER, b"secret");
    // Forbidden: what the store copied is wiped, header room too, exactly
    // as for a missing key.
    assert_eq!(s.get(b"k", 4, me()), get_err(NOSUPPORT, 4));
    assert_eq!(s.get(b"k", 10, me()), get_err(NOSUPPORT, 10));
    let buffers = s.client.buffers.take();
    assert_eq!(buffers.len(), 3);
    assert!(buffers
        .iter()
        .all(|(start, b)| *start == HEADER_SIZE && b.iter().all(|&x| x == 0)));
    // Malformed headers belong to nobody: no app can read, set, update or
    // delete them (and the kernel, in its own namespace, does not even see
    // them). The kernel can delete them (the repair path: its delete looks
    // in the apps' namespace when the key is not in its own), and then the
    // key is simply gone.
    let bad: [&[u8]; 4] = [
        b"",
        b"\x00\x01\x00",                           // shorter than a header
        &[1, 1, 0, 0, 0, ME as u8, 0, 0, 0, b'x'], // version 1
        &[0, 2, 0, 0, 0, ME as u8, 0, 0, 0, b'x'], // length says 2, 1 stored
    ];
    let kernel = StoragePermissions::kernel();
    for raw in bad {
        s.kv.insert_raw(b"k", raw);
        assert_eq!(s.get(b"k", 4, me()), get_err(NOSUPPORT, 4), "{raw:?}");
        assert_eq!(
            s.update(b"k", b"v", me()),
            Done::Update(Err(NOSUPPORT), b"k".to_vec(), b"v".to_vec())
        );
        assert_eq!(
            s.set(b"k", b"v", me()),
            Done::Set(Err(NOSUPPORT), b"k".to_vec(), b"v".to_vec())
        );
        assert_eq!(
            s.delete(b"k", me()),
            Done::Delete(Err(NOSUPPORT), b"k".to_vec())
        );
        assert_eq!(s.get(b"k", 4, kernel), get_err(NOSUPPORT, 4), "{raw:?}");
        assert_eq!(s.kv.raw(b"k").as_deref(), Some(raw), "never modified");
        s.kv.take_log();
        assert_eq!(s.delete(b"k", kernel), Done::Delete(Ok(()), b"k".to_vec()));
        // Its own namespace first, then the apps'.
        assert_eq!(s.kv.take_log(), ["get k", "get k", "delete k"]);
        assert_eq!(s.kv.raw(b"k"), None, "{raw:?}: the kernel repaired it");
        assert_eq!(s.get(b"k", 4, me()), get_err(NOSUPPORT, 4));
    }
    // A well-formed app value is not the kernel's to delete.
    s.kv.insert(b"k", ME, b"mine");
    assert_eq!(
        s.delete(b"k", kernel),
        Done::Delete(Err(NOSUPPORT), b"k".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"mine".to_vec())));
}

#[test]
fn set_new_key_is_owned_by_the_write_id_after_a_header_check() {
    let s = stack();
    assert_eq!(
        s.set(b"k", b"abc", me()),
        Done::Set(Ok(()), b"k".to_vec(), b"abc".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"abc".to_vec())));
    // Header read first, then the creating write (add: never overwrites).
    assert_eq!(s.kv.take_log(), ["get k", "add k"]);
    // The buffer came back with its window, and the header in front.
    let (start, full) = s.client.buffers.take().remove(0);
    assert_eq!(start, HEADER_SIZE);
    assert_eq!(full, kv_fakes::owned(ME, b"abc"));

    // Listed permissions: owned by the write id.
    let listed = StoragePermissions::listed(Some(id(0x55)), &[], &[], false, false);
    assert_eq!(
        s.set(b"n", b"x", listed),
        Done::Set(Ok(()), b"n".to_vec(), b"x".to_vec())
    );
    assert_eq!(s.kv.stored(b"n"), Some((0x55, b"x".to_vec())));
}

#[test]
fn overwrite_keeps_the_stored_owner() {
    let s = stack();
    s.kv.insert(b"k", OTHER, b"old");
    let may_modify_other = StoragePermissions::listed(Some(id(ME)), &[], &[OTHER], false, false);
    assert_eq!(
        s.set(b"k", b"new value", may_modify_other),
        Done::Set(Ok(()), b"k".to_vec(), b"new value".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((OTHER, b"new value".to_vec())));
    assert_eq!(s.kv.take_log(), ["get k", "set k"]);
    assert_eq!(
        s.update(b"k", b"", may_modify_other),
        Done::Update(Ok(()), b"k".to_vec(), vec![])
    );
    assert_eq!(s.kv.stored(b"k"), Some((OTHER, vec![])));
    assert_eq!(s.kv.take_log(), ["get k", "set k"]);
}

#[test]
fn forbidden_modifications_change_nothing() {
    let s = stack();
    s.kv.insert(b"k", OTHER, b"theirs");
    // Read permission does not give modify permission.
    let reader = StoragePermissions::listed(Some(id(ME)), &[OTHER], &[], true, true);
    assert_eq!(s.get(b"k", 6, reader), get_ok(b"theirs"));
    assert_eq!(
        s.set(b"k", b"x", reader),
        Done::Set(Err(NOSUPPORT), b"k".to_vec(), b"x".to_vec())
    );
    assert_eq!(
        s.update(b"k", b"x", reader),
        Done::Update(Err(NOSUPPORT), b"k".to_vec(), b"x".to_vec())
    );
    assert_eq!(
        s.delete(b"k", reader),
        Done::Delete(Err(NOSUPPORT), b"k".to_vec())
    );
    assert_eq!(
        s.add(b"k", b"x", reader),
        Done::Add(Err(NOSUPPORT), b"k".to_vec(), b"x".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((OTHER, b"theirs".to_vec())));
    // Only header reads (and the refused add) reached the store.
    assert_eq!(
        s.kv.take_log(),
        ["get k", "get k", "get k", "get k", "add k"]
    );
}

#[test]
fn add_update_delete_rules() {
    let s = stack();
    // add: new key owned by the caller; existing key (even its own) refused.
    assert_eq!(
        s.add(b"k", b"1", me()),
        Done::Add(Ok(()), b"k".to_vec(), b"1".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"1".to_vec())));
    assert_eq!(
        s.add(b"k", b"2", me()),
        Done::Add(Err(NOSUPPORT), b"k".to_vec(), b"2".to_vec())
    );
    assert_eq!(
        s.kv.take_log(),
        ["add k", "add k"],
        "add needs no header check"
    );
    // update: missing refused, own accepted.
    assert_eq!(
        s.update(b"m", b"x", me()),
        Done::Update(Err(NOSUPPORT), b"m".to_vec(), b"x".to_vec())
    );
    assert_eq!(
        s.update(b"k", b"3", me()),
        Done::Update(Ok(()), b"k".to_vec(), b"3".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"3".to_vec())));
    assert_eq!(s.kv.raw(b"m"), None);
    // delete: missing refused, own accepted.
    assert_eq!(
        s.delete(b"m", me()),
        Done::Delete(Err(NOSUPPORT), b"m".to_vec())
    );
    assert_eq!(s.delete(b"k", me()), Done::Delete(Ok(()), b"k".to_vec()));
    assert_eq!(s.kv.raw(b"k"), None);
    assert_eq!(s.get(b"k", 1, me()), get_err(NOSUPPORT, 1));
}

#[test]
fn no_write_id_is_inval_at_request_time_except_for_delete_and_get() {
    let s = stack();
    s.kv.insert(b"k", OTHER, b"v");
    let no_write = StoragePermissions::listed(None, &[OTHER], &[OTHER], true, true);
    for p in [StoragePermissions::null(), no_write] {
        let (_, v, e) = s.perms.set(sub(b"k"), value(b"x"), leak(p)).unwrap_err();
        assert_eq!(
            (e, v.start(), v.as_slice()),
            (INVAL, HEADER_SIZE, &b"x"[..])
        );
        assert_eq!(
            s.perms.add(sub(b"k"), value(b"x"), leak(p)).unwrap_err().2,
            INVAL
        );
        assert_eq!(
            s.perms
                .update(sub(b"k"), value(b"x"), leak(p))
                .unwrap_err()
                .2,
            INVAL
        );
    }
    assert!(s.kv.take_log().is_empty());
    assert!(s.done().is_empty(), "refused requests get no callback");
    // Reading and deleting need no write id.
    assert_eq!(s.get(b"k", 1, no_write), get_ok(b"v"));
    assert_eq!(
        s.delete(b"k", no_write),
        Done::Delete(Ok(()), b"k".to_vec())
    );
    // Null reaches nothing.
    s.kv.insert(b"k", OTHER, b"v");
    assert_eq!(
        s.get(b"k", 1, StoragePermissions::null()),
        get_err(NOSUPPORT, 1)
    );
    assert_eq!(
        s.delete(b"k", StoragePermissions::null()),
        Done::Delete(Err(NOSUPPORT), b"k".to_vec())
    );
}

#[test]
fn kernel_items_live_in_the_kernels_namespace() {
    let s = stack();
    let kernel = StoragePermissions::kernel();
    assert_eq!(
        s.set(b"k", b"kern", kernel),
        Done::Set(Ok(()), b"k".to_vec(), b"kern".to_vec())
    );
    assert_eq!(s.kv.kernel_stored(b"k"), Some((0, b"kern".to_vec())));
    assert_eq!(s.kv.stored(b"k"), None, "not in the apps' namespace");
    // Even a list that names id 0 does not reach it: to apps the key names
    // nothing, and writing it creates the app's own value beside it.
    let greedy = StoragePermissions::listed(Some(id(ME)), &[0, ME], &[0, ME], true, true);
    for p in [me(), greedy] {
        assert_eq!(s.get(b"k", 4, p), get_err(NOSUPPORT, 4));
        assert_eq!(
            s.update(b"k", b"x", p),
            Done::Update(Err(NOSUPPORT), b"k".to_vec(), b"x".to_vec())
        );
        assert_eq!(
            s.delete(b"k", p),
            Done::Delete(Err(NOSUPPORT), b"k".to_vec())
        );
    }
    assert_eq!(
        s.add(b"k", b"app's", me()),
        Done::Add(Ok(()), b"k".to_vec(), b"app's".to_vec())
    );
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"app's".to_vec())));
    assert_eq!(s.kv.kernel_stored(b"k"), Some((0, b"kern".to_vec())));
    assert_eq!(s.get(b"k", 4, kernel), get_ok(b"kern"));
    assert_eq!(s.get(b"k", 5, me()), get_ok(b"app's"));
    // An app that takes a key first does not keep the kernel from it (the
    // squatting of issue 12): the kernel's add of a fresh key succeeds.
    s.kv.insert(b"boot", ME, b"squat");
    assert_eq!(
        s.add(b"boot", b"1", kernel),
        Done::Add(Ok(()), b"boot".to_vec(), b"1".to_vec())
    );
    assert_eq!(s.kv.kernel_stored(b"boot"), Some((0, b"1".to_vec())));
    // And the kernel reaches no app item.
    s.kv.insert(b"a", ME, b"app");
    assert_eq!(
        s.get(b"a", 3, kernel),
        Done::Get(Err(NOSUPPORT), b"a".to_vec(), vec![0; 3], 0)
    );
    assert_eq!(
        s.delete(b"a", kernel),
        Done::Delete(Err(NOSUPPORT), b"a".to_vec())
    );
    assert_eq!(
        s.update(b"k", b"k2", kernel),
        Done::Update(Ok(()), b"k".to_vec(), b"k2".to_vec())
    );
    assert_eq!(s.delete(b"k", kernel), Done::Delete(Ok(()), b"k".to_vec()));
    assert_eq!(s.kv.stored(b"a"), Some((ME, b"app".to_vec())));
    assert_eq!(s.kv.kernel_stored(b"k"), None);
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"app's".to_vec())));
    // A kernel item from before namespaces (owner 0 in the apps' space):
    // unreachable to apps, and the kernel can delete it.
    s.kv.insert(b"old", 0, b"legacy");
    assert_eq!(
        s.get(b"old", 6, me()),
        Done::Get(Err(NOSUPPORT), b"old".to_vec(), vec![0; 6], 0)
    );
    assert_eq!(
        s.delete(b"old", kernel),
        Done::Delete(Ok(()), b"old".to_vec())
    );
    assert_eq!(s.kv.raw(b"old"), None);
}

#[test]
fn value_windows_need_header_room() {
    let s = stack();
    for start in 0..HEADER_SIZE {
        let mut v = sub(&[1; 12]);
        v.slice(start..);
        let (_, v, e) = s.perms.get(sub(b"k"), v, leak(me())).unwrap_err();
        assert_eq!((e, v.start(), v.len()), (SIZE, start, 12 - start));
        let mut v = sub(&[1; 12]);
        v.slice(start..);
        assert_eq!(s.perms.set(sub(b"k"), v, leak(me())).unwrap_err().2, SIZE);
        let mut v = sub(&[1; 12]);
        v.slice(start..);
        assert_eq!(s.perms.add(sub(b"k"), v, leak(me())).unwrap_err().2, SIZE);
        let mut v = sub(&[1; 12]);
        v.slice(start..);
        assert_eq!(
            s.perms.update(sub(b"k"), v, leak(me())).unwrap_err().2,
            SIZE
        );
    }
    assert!(s.kv.take_log().is_empty());
    // A window deep inside a bigger buffer works and comes back as it was.
    let mut v = sub(b"0123456789abcdefXYZ");
    v.slice(12..15);
    assert!(s.perms.set(sub(b"k"), v, leak(me())).is_ok());
    assert_eq!(
        s.done(),
        [Done::Set(Ok(()), b"k".to_vec(), b"cde".to_vec())]
    );
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"cde".to_vec())));
    assert_eq!(s.client.buffers.take()[0].0, 12);
}

#[test]
fn one_request_at_a_time() {
    let s = stack();
    s.kv.hold.set(true);
    assert!(s.perms.set(sub(b"k"), value(b"1"), leak(me())).is_ok());
    assert!(s.perms.is_busy());
    assert_eq!(
        s.perms.get(sub(b"k"), out(1), leak(me())).unwrap_err().2,
        BUSY
    );
    assert_eq!(
        s.perms
            .add(sub(b"k"), value(b"1"), leak(me()))
            .unwrap_err()
            .2,
        BUSY
    );
    assert_eq!(s.perms.delete(sub(b"k"), leak(me())).unwrap_err().1, BUSY);
    assert_eq!(s.perms.garbage_collect(), Err(BUSY));
    settle(s.calls);
    assert!(s.client.done.borrow().is_empty());
    s.kv.release();
    assert_eq!(s.done(), [Done::Set(Ok(()), b"k".to_vec(), b"1".to_vec())]);
}

#[test]
fn lower_failures_reach_the_caller_once() {
    let s = stack();
    s.kv.insert(b"k", ME, b"v");
    // Refused at once (the header read): the request fails synchronously,
    // with the buffers and its window intact.
    let n = s.kv.requests();
    s.kv.refuse.borrow_mut().insert(n, NODEVICE);
    let (k, v, e) = s.perms.set(sub(b"k"), value(b"x"), leak(me())).unwrap_err();
    assert_eq!(
        (k.as_slice(), v.start(), v.as_slice(), e),
        (&b"k"[..], HEADER_SIZE, &b"x"[..], NODEVICE)
    );
    assert!(!s.perms.is_busy());
    s.kv.refuse.borrow_mut().insert(n + 1, NODEVICE);
    let (k, e) = s.perms.delete(sub(b"k"), leak(me())).unwrap_err();
    assert_eq!((k.as_slice(), e), (&b"k"[..], NODEVICE));
    s.kv.refuse.borrow_mut().insert(n + 2, NODEVICE);
    let (_, v, e) = s.perms.get(sub(b"k"), out(3), leak(me())).unwrap_err();
    assert_eq!((v.start(), v.len(), e), (HEADER_SIZE, 3, NODEVICE));
    assert!(s.done().is_empty());

    // Refused after the header check: one callback with the error.
    let n = s.kv.requests();
    s.kv.refuse.borrow_mut().insert(n + 1, BUSY);
    assert_eq!(
        s.set(b"k", b"x", me()),
        Done::Set(Err(BUSY), b"k".to_vec(), b"x".to_vec())
    );
    s.kv.refuse.borrow_mut().insert(n + 3, FAIL);
    assert_eq!(s.delete(b"k", me()), Done::Delete(Err(FAIL), b"k".to_vec()));
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"v".to_vec())));

    // Failing in the callback, at either step.
    let n = s.kv.requests();
    s.kv.fail.borrow_mut().insert(n, FAIL);
    assert_eq!(
        s.update(b"k", b"x", me()),
        Done::Update(Err(FAIL), b"k".to_vec(), b"x".to_vec())
    );
    s.kv.fail.borrow_mut().insert(n + 2, FAIL);
    assert_eq!(
        s.update(b"k", b"x", me()),
        Done::Update(Err(FAIL), b"k".to_vec(), b"x".to_vec())
    );
    s.kv.fail.borrow_mut().insert(n + 3, FAIL);
    assert_eq!(s.get(b"k", 1, me()), get_err(FAIL, 1));
    assert_eq!(s.kv.stored(b"k"), Some((ME, b"v".to_vec())));
    // Every value buffer came back with its window.
    assert!(s
        .client
        .buffers
        .take()
        .iter()
        .all(|(start, _)| *start == HEADER_SIZE));
}

#[test]
fn store_full_is_nomem() {
    let s = stack();
    s.kv.capacity.set(1);
    assert_eq!(
        s.set(b"a", b"1", me()),
        Done::Set(Ok(()), b"a".to_vec(), b"1".to_vec())
    );
    assert_eq!(
        s.set(b"b", b"1", me()),
        Done::Set(Err(NOMEM), b"b".to_vec(), b"1".to_vec())
    );
    assert_eq!(
        s.add(b"b", b"1", me()),
        Done::Add(Err(NOMEM), b"b".to_vec(), b"1".to_vec())
    );
    // Overwriting still works when full.
    assert_eq!(
        s.set(b"a", b"2", me()),
        Done::Set(Ok(()), b"a".to_vec(), b"2".to_vec())
    );
}

#[test]
fn garbage_collect_passes_through() {
    let s = stack();
    assert_eq!(s.perms.garbage_collect(), Ok(()));
    assert_eq!(s.done(), [Done::GarbageCollect(Ok(()), 0)]);
    let n = s.kv.requests();
    s.kv.refuse.borrow_mut().insert(n, NODEVICE);
    assert_eq!(s.perms.garbage_collect(), Err(NODEVICE));
    s.kv.fail.borrow_mut().insert(n + 1, FAIL);
    assert_eq!(s.perms.garbage_collect(), Ok(()));
    assert_eq!(s.done(), [Done::GarbageCollect(Err(FAIL), 0)]);
}

#[test]
fn empty_keys_are_refused_below() {
    let s = stack();
    assert_eq!(
        s.perms.get(sub(b""), out(1), leak(me())).unwrap_err().2,
        INVAL
    );
    assert_eq!(
        s.perms
            .set(sub(b""), value(b"x"), leak(me()))
            .unwrap_err()
            .2,
        INVAL
    );
    assert_eq!(
        s.perms
            .add(sub(b""), value(b"x"), leak(me()))
            .unwrap_err()
            .2,
        INVAL
    );
    assert_eq!(s.perms.delete(sub(b""), leak(me())).unwrap_err().1, INVAL);
}
