//! Test fixtures shared by the KV capsule tests: an in-memory `hil::kv::KV`
//! that completes through a deferred call, and a client that records every
//! callback.

#![allow(dead_code)] // Each test binary uses a different part.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use capsules_extra::kv_permissions::{OwnerHeader, HEADER_SIZE};
use kernel::deferred_call::{DeferredCall, DeferredCallClient, DeferredCalls};
use kernel::hil::kv::{KVClient, KVPermissions, Namespace, RefusedKeyValue, KV};
use kernel::storage_permissions::StoragePermissions;
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;

/// Leaks `value` (tests only).
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A fresh `&'static mut` buffer of `len` zero bytes.
pub fn buffer(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

/// A fresh `&'static mut` array of `N` zero bytes.
pub fn array<const N: usize>() -> &'static mut [u8; N] {
    Box::leak(Box::new([0u8; N]))
}

/// A buffer holding `bytes`, whole window.
pub fn sub(bytes: &[u8]) -> SubSliceMut<'static, u8> {
    SubSliceMut::new(Box::leak(bytes.to_vec().into_boxed_slice()))
}

/// A value buffer with `HEADER_SIZE` bytes of room in front of a window
/// holding `bytes`.
pub fn value(bytes: &[u8]) -> SubSliceMut<'static, u8> {
    let mut full = vec![0xEE; HEADER_SIZE];
    full.extend_from_slice(bytes);
    let mut s = sub(&full);
    s.slice(HEADER_SIZE..);
    s
}

/// A value buffer for reading: `len` bytes of window (filled with 0xAA)
/// after `HEADER_SIZE` bytes of room.
pub fn out(len: usize) -> SubSliceMut<'static, u8> {
    let mut full = vec![0xEE; HEADER_SIZE];
    full.extend(std::iter::repeat_n(0xAA, len));
    let mut s = sub(&full);
    s.slice(HEADER_SIZE..);
    s
}

/// The stored bytes of a value owned by `owner`.
pub fn owned(owner: u32, v: &[u8]) -> Vec<u8> {
    let mut b = OwnerHeader {
        value_len: v.len() as u32,
        owner,
    }
    .encode()
    .to_vec();
    b.extend_from_slice(v);
    b
}

/// A request the fake store holds until it completes.
enum Pending {
    Get(SubSliceMut<'static, u8>, SubSliceMut<'static, u8>),
    Set(SubSliceMut<'static, u8>, SubSliceMut<'static, u8>),
    Add(SubSliceMut<'static, u8>, SubSliceMut<'static, u8>),
    Update(SubSliceMut<'static, u8>, SubSliceMut<'static, u8>),
    Delete(SubSliceMut<'static, u8>),
    GarbageCollect,
}

/// An in-memory `KV`: unhashed keys to stored bytes (for values written
/// through the permission layer: owner header + value). One request at a
/// time (`BUSY` otherwise); completes from a deferred call, carrying out
/// the request at completion time.
pub struct FakeKV {
    /// The stored entries.
    pub entries: RefCell<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Every accepted request, as `"op key"` (`"gc"` for collections).
    pub log: RefCell<Vec<String>>,
    /// While set, newly accepted requests do not complete until
    /// [`release`](Self::release).
    pub hold: Cell<bool>,
    /// Entries the store can hold; creating one more answers `NOMEM`.
    pub capacity: Cell<usize>,
    /// Requests by number (counting every request, accepted or not, from
    /// 0) that are refused synchronously with this error.
    pub refuse: RefCell<BTreeMap<usize, ErrorCode>>,
    /// Requests by number that are accepted but complete with this error,
    /// changing nothing.
    pub fail: RefCell<BTreeMap<usize, ErrorCode>>,
    requests: Cell<usize>,
    current: Cell<usize>,
    pending: RefCell<Option<Pending>>,
    client: Cell<Option<&'static dyn KVClient>>,
    deferred: Cell<Option<DeferredCall>>,
    /// The namespace of the next request, and of the running one.
    namespace: Cell<Namespace>,
    op_namespace: Cell<Namespace>,
}

/// Where the fake keeps a key of `namespace`: kernel keys get a prefix no
/// test key has (the real store moves their hashes instead).
fn stored_key(namespace: Namespace, key: &[u8]) -> Vec<u8> {
    match namespace {
        Namespace::Apps => key.to_vec(),
        Namespace::Kernel => [&b"\0kernel:"[..], key].concat(),
    }
}

impl FakeKV {
    /// A fake store completing through a slot of `calls`.
    pub fn new<const N: usize>(calls: &'static DeferredCalls<N>) -> &'static FakeKV {
        let kv = leak(FakeKV {
            entries: RefCell::default(),
            log: RefCell::default(),
            hold: Cell::new(false),
            capacity: Cell::new(usize::MAX),
            refuse: RefCell::default(),
            fail: RefCell::default(),
            requests: Cell::new(0),
            current: Cell::new(0),
            pending: RefCell::new(None),
            client: Cell::new(None),
            deferred: Cell::new(None),
            namespace: Cell::new(Namespace::Apps),
            op_namespace: Cell::new(Namespace::Apps),
        });
        kv.deferred.set(Some(calls.register(kv).unwrap()));
        kv
    }

    /// Number of requests made so far (the number the next one gets).
    pub fn requests(&self) -> usize {
        self.requests.get()
    }

    /// Stores raw bytes under `key`.
    pub fn insert_raw(&self, key: &[u8], stored: &[u8]) {
        self.entries
            .borrow_mut()
            .insert(key.to_vec(), stored.to_vec());
    }

    /// Stores `v` owned by `owner` under `key`.
    pub fn insert(&self, key: &[u8], owner: u32, v: &[u8]) {
        self.insert_raw(key, &owned(owner, v));
    }

    /// The raw stored bytes under `key`.
    pub fn raw(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.borrow().get(key).cloned()
    }

    /// The (owner, value) stored under the kernel's `key`, if well-formed.
    pub fn kernel_stored(&self, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        self.stored(&stored_key(Namespace::Kernel, key))
    }

    /// The (owner, value) stored under the apps' `key`, if well-formed.
    pub fn stored(&self, key: &[u8]) -> Option<(u32, Vec<u8>)> {
        let raw = self.raw(key)?;
        let h = OwnerHeader::decode(&raw, raw.len())?;
        Some((h.owner, raw[HEADER_SIZE..].to_vec()))
    }

    /// Takes the request log.
    pub fn take_log(&self) -> Vec<String> {
        self.log.take()
    }

    /// Lets the held request complete, and stops holding new ones (set
    /// `hold` again right after to hold the ones that follow).
    pub fn release(&self) {
        self.hold.set(false);
        if self.pending.borrow().is_some() {
            self.deferred.get().unwrap().set();
        }
    }

    /// Whether a request is held or waiting to complete.
    pub fn busy(&self) -> bool {
        self.pending.borrow().is_some()
    }

    /// Numbers the request; `Err` if it is to be refused.
    fn admit(&self, what: &str, key: Option<&SubSliceMut<'static, u8>>) -> Result<(), ErrorCode> {
        let n = self.requests.get();
        self.requests.set(n + 1);
        if self.pending.borrow().is_some() {
            return Err(ErrorCode::BUSY);
        }
        if let Some(e) = self.refuse.borrow_mut().remove(&n) {
            return Err(e);
        }
        if key.is_some_and(|k| k.is_empty()) {
            return Err(ErrorCode::INVAL);
        }
        let text = match key {
            Some(k) => format!("{what} {}", String::from_utf8_lossy(k.as_slice())),
            None => what.to_string(),
        };
        self.log.borrow_mut().push(text);
        self.current.set(n);
        self.op_namespace.set(self.namespace.get());
        Ok(())
    }

    /// The key the running request addresses.
    fn at(&self, key: &[u8]) -> Vec<u8> {
        stored_key(self.op_namespace.get(), key)
    }

    fn accept(&self, p: Pending) {
        *self.pending.borrow_mut() = Some(p);
        if !self.hold.get() {
            self.deferred.get().unwrap().set();
        }
    }

    fn write(&self, key: &[u8], bytes: &[u8], must_exist: Option<bool>) -> Result<(), ErrorCode> {
        let mut entries = self.entries.borrow_mut();
        let exists = entries.contains_key(key);
        match must_exist {
            Some(true) if !exists => return Err(ErrorCode::NOSUPPORT),
            Some(false) if exists => return Err(ErrorCode::NOSUPPORT),
            _ => {}
        }
        if !exists && entries.len() >= self.capacity.get() {
            return Err(ErrorCode::NOMEM);
        }
        entries.insert(key.to_vec(), bytes.to_vec());
        Ok(())
    }
}

impl DeferredCallClient for FakeKV {
    fn handle_deferred_call(&self) {
        let Some(p) = self.pending.borrow_mut().take() else {
            return;
        };
        let failure = self.fail.borrow_mut().remove(&self.current.get());
        let client = self.client.get().unwrap();
        match p {
            Pending::Get(key, mut out) => {
                let stored = self.raw(&self.at(key.as_slice()));
                let (result, len) = match (failure, stored) {
                    (Some(e), _) => (Err(e), 0),
                    (None, None) => (Err(ErrorCode::NOSUPPORT), 0),
                    (None, Some(bytes)) => {
                        let n = bytes.len().min(out.len());
                        out.as_mut_slice()[..n].copy_from_slice(&bytes[..n]);
                        let r = if n < bytes.len() {
                            Err(ErrorCode::SIZE)
                        } else {
                            Ok(())
                        };
                        (r, bytes.len())
                    }
                };
                client.get_complete(result, key, out, len);
            }
            Pending::Set(key, v) => {
                let r = failure.map_or_else(
                    || self.write(&self.at(key.as_slice()), v.as_slice(), None),
                    Err,
                );
                client.set_complete(r, key, v);
            }
            Pending::Add(key, v) => {
                let r = failure.map_or_else(
                    || self.write(&self.at(key.as_slice()), v.as_slice(), Some(false)),
                    Err,
                );
                client.add_complete(r, key, v);
            }
            Pending::Update(key, v) => {
                let r = failure.map_or_else(
                    || self.write(&self.at(key.as_slice()), v.as_slice(), Some(true)),
                    Err,
                );
                client.update_complete(r, key, v);
            }
            Pending::Delete(key) => {
                let r = failure.map_or_else(
                    || {
                        self.entries
                            .borrow_mut()
                            .remove(&self.at(key.as_slice()))
                            .map(|_| ())
                            .ok_or(ErrorCode::NOSUPPORT)
                    },
                    Err,
                );
                client.delete_complete(r, key);
            }
            Pending::GarbageCollect => {
                let r = failure.map_or(Ok(()), Err);
                client.garbage_collect_complete(r, 0);
            }
        }
    }
}

type KeyValueResult = Result<(), RefusedKeyValue>;

impl KV<'static> for FakeKV {
    fn set_client(&self, client: &'static dyn KVClient) {
        self.client.set(Some(client));
    }

    fn set_namespace(&self, namespace: Namespace) {
        self.namespace.set(namespace);
    }

    fn get(&self, key: SubSliceMut<'static, u8>, v: SubSliceMut<'static, u8>) -> KeyValueResult {
        match self.admit("get", Some(&key)) {
            Ok(()) => {
                self.accept(Pending::Get(key, v));
                Ok(())
            }
            Err(e) => Err((key, v, e)),
        }
    }

    fn set(&self, key: SubSliceMut<'static, u8>, v: SubSliceMut<'static, u8>) -> KeyValueResult {
        match self.admit("set", Some(&key)) {
            Ok(()) => {
                self.accept(Pending::Set(key, v));
                Ok(())
            }
            Err(e) => Err((key, v, e)),
        }
    }

    fn add(&self, key: SubSliceMut<'static, u8>, v: SubSliceMut<'static, u8>) -> KeyValueResult {
        match self.admit("add", Some(&key)) {
            Ok(()) => {
                self.accept(Pending::Add(key, v));
                Ok(())
            }
            Err(e) => Err((key, v, e)),
        }
    }

    fn update(&self, key: SubSliceMut<'static, u8>, v: SubSliceMut<'static, u8>) -> KeyValueResult {
        match self.admit("update", Some(&key)) {
            Ok(()) => {
                self.accept(Pending::Update(key, v));
                Ok(())
            }
            Err(e) => Err((key, v, e)),
        }
    }

    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        match self.admit("delete", Some(&key)) {
            Ok(()) => {
                self.accept(Pending::Delete(key));
                Ok(())
            }
            Err(e) => Err((key, e)),
        }
    }

    fn garbage_collect(&self) -> Result<(), ErrorCode> {
        self.admit("gc", None)?;
        self.accept(Pending::GarbageCollect);
        Ok(())
    }
}

/// A callback, as a [`Recorder`] saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// `get_complete`: result, key window, value window, full length.
    Get(Result<(), ErrorCode>, Vec<u8>, Vec<u8>, usize),
    /// `set_complete`: result, key window, value window.
    Set(Result<(), ErrorCode>, Vec<u8>, Vec<u8>),
    /// `add_complete`.
    Add(Result<(), ErrorCode>, Vec<u8>, Vec<u8>),
    /// `update_complete`.
    Update(Result<(), ErrorCode>, Vec<u8>, Vec<u8>),
    /// `delete_complete`: result, key window.
    Delete(Result<(), ErrorCode>, Vec<u8>),
    /// `garbage_collect_complete`: result, bytes freed.
    GarbageCollect(Result<(), ErrorCode>, usize),
}

/// A `KVClient` that records every callback (and the windows and whole
/// buffers it got back), optionally into a log shared with other
/// recorders, tagged with its name.
pub struct Recorder {
    /// Its callbacks, in order.
    pub done: RefCell<Vec<Done>>,
    /// The whole value buffers it got back, with their window start.
    pub buffers: RefCell<Vec<(usize, Vec<u8>)>>,
    /// Its name in the shared log.
    pub name: &'static str,
    /// A log shared by several recorders.
    pub shared: Option<&'static RefCell<Vec<&'static str>>>,
}

impl Recorder {
    /// A recorder named `name` logging to `shared`.
    pub fn new(name: &'static str, shared: Option<&'static RefCell<Vec<&'static str>>>) -> Self {
        Recorder {
            done: RefCell::default(),
            buffers: RefCell::default(),
            name,
            shared,
        }
    }

    /// Takes the recorded callbacks.
    pub fn take(&self) -> Vec<Done> {
        self.done.take()
    }

    fn record(&self, d: Done, value: Option<SubSliceMut<'static, u8>>) {
        self.done.borrow_mut().push(d);
        if let Some(v) = value {
            let start = v.start();
            self.buffers.borrow_mut().push((start, v.take().to_vec()));
        }
        if let Some(log) = self.shared {
            log.borrow_mut().push(self.name);
        }
    }
}

impl KVClient for Recorder {
    fn get_complete(
        &self,
        r: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        v: SubSliceMut<'static, u8>,
        full_len: usize,
    ) {
        let d = Done::Get(r, key.as_slice().to_vec(), v.as_slice().to_vec(), full_len);
        self.record(d, Some(v));
    }

    fn set_complete(
        &self,
        r: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        v: SubSliceMut<'static, u8>,
    ) {
        let d = Done::Set(r, key.as_slice().to_vec(), v.as_slice().to_vec());
        self.record(d, Some(v));
    }

    fn add_complete(
        &self,
        r: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        v: SubSliceMut<'static, u8>,
    ) {
        let d = Done::Add(r, key.as_slice().to_vec(), v.as_slice().to_vec());
        self.record(d, Some(v));
    }

    fn update_complete(
        &self,
        r: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        v: SubSliceMut<'static, u8>,
    ) {
        let d = Done::Update(r, key.as_slice().to_vec(), v.as_slice().to_vec());
        self.record(d, Some(v));
    }

    fn delete_complete(&self, r: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>) {
        self.record(Done::Delete(r, key.as_slice().to_vec()), None);
    }

    fn garbage_collect_complete(&self, r: Result<(), ErrorCode>, freed: usize) {
        self.record(Done::GarbageCollect(r, freed), None);
    }
}

/// Runs deferred calls until none is pending; returns how many ran.
pub fn settle<const N: usize>(calls: &DeferredCalls<N>) -> usize {
    let mut n = 0;
    while calls.service_next() {
        n += 1;
        assert!(n < 10_000, "deferred calls do not settle");
    }
    n
}

/// Writes `v` under `key`, owned by the kernel (id 0), through `user` (a
/// user of the store whose client is `rec`), runs the deferred calls and
/// checks the one callback.
pub fn kernel_set<const N: usize>(
    calls: &DeferredCalls<N>,
    user: &dyn KVPermissions<'static>,
    rec: &Recorder,
    key: &[u8],
    v: &[u8],
) {
    assert!(user
        .set(sub(key), value(v), StoragePermissions::KERNEL)
        .is_ok());
    settle(calls);
    assert_eq!(rec.take(), [Done::Set(Ok(()), key.to_vec(), v.to_vec())]);
}
