//! [`KV`] over a [`KVSystem`](kernel::hil::kv::KVSystem): unhashed keys, get / set / add / update /
//! delete / garbage collection.
//!
//! Every request first hashes the key (the window of the key buffer) into
//! the store's key buffer, then runs the operation on the hashed key. A
//! system that hashes in software does it at once
//! ([`KVSystem::generate_key_now`](kernel::hil::kv::KVSystem::generate_key_now)) and the operation
//! starts in the same call; otherwise the hash is split-phase
//! ([`KVSystem::generate_key`](kernel::hil::kv::KVSystem::generate_key)) and the operation starts from its
//! callback.
//!
//! | request | lower operation ([`KVSystem`](kernel::hil::kv::KVSystem) / [`KVSystemExt`]) |
//! |---|---|
//! | [`get`](KV::get) | [`KVSystem::get_value`](kernel::hil::kv::KVSystem::get_value) |
//! | [`set`](KV::set) | [`KVSystemExt::set_value`]: one atomic insert-or-overwrite |
//! | [`add`](KV::add) | [`KVSystem::append_key`](kernel::hil::kv::KVSystem::append_key): insert only if absent |
//! | [`update`](KV::update) | [`KVSystemExt::update_value`]: one atomic overwrite of an existing key |
//! | [`delete`](KV::delete) | [`KVSystem::invalidate_key`](kernel::hil::kv::KVSystem::invalidate_key) |
//! | [`garbage_collect`](KV::garbage_collect) | [`KVSystem::garbage_collect`](kernel::hil::kv::KVSystem::garbage_collect) (no hashing) |
//! | [`next_item`](KV::next_item) | [`KVSystem::next_item`](kernel::hil::kv::KVSystem::next_item) (no hashing: the walk sees stored keys of both namespaces) |
//!
//! # Namespaces
//!
//! A request in the kernel's [`Namespace`] (selected with
//! [`KV::set_namespace`]) runs on the key's hash XORed with
//! [`siphash::KERNEL_NAMESPACE`] (`kernelNS`; host tools do the same:
//! `tickv --kernel`); the apps' namespace uses the hash as it is (what
//! upstream Tock and tockloader store).
//!
//! No operation is built from two writes: a set or update never deletes
//! first, so a power cut leaves the old or the new value.
//!
//! # Results
//!
//! As in [`kernel::hil::kv`]: a missing key is `NOSUPPORT` for get, update
//! and delete; add of an existing key is `NOSUPPORT`; a full store is
//! `NOMEM` (no garbage collection is run on its behalf); a get into a window
//! shorter than the value is `SIZE`, with the prefix copied and the full
//! length reported; an empty key is `INVAL`; a value longer than the store
//! accepts is `SIZE`.
//!
//! Refusals come back synchronously or in the callback, as the HIL allows:
//! `BUSY`, `INVAL` (empty key) and whatever the hasher refuses always
//! synchronously; what the layer below decides (`NODEVICE`, `SIZE` for a
//! too-long value) synchronously when the key was hashed at once, in the
//! callback when the hash was split-phase. `garbage_collect` needs no
//! hashing and returns the lower layer's refusal synchronously.
//!
//! Values are exactly the window of the value buffer: this layer stores no
//! header of its own. Buffers come back with the window they were passed
//! with, in the callback or in the synchronous error.
//!
//! One operation at a time (`BUSY` otherwise); a virtualizer above
//! serialises several users. All completions come from callbacks of the
//! layer below, never from inside a request.

use core::cell::{Cell, RefCell};

use kernel::hil::kv::{KVClient, KVSystemClient, KeyType, Namespace, RefusedKeyValue, KV};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{MapCell, OptionalCell, TakeCell};

use crate::tickv::KVSystemExt;

/// The operation in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    Add,
    Update,
    Delete,
    Gc,
    Walk,
}

/// The key-value store; see the [module docs](self).
pub struct KVStore<'a, K: KeyType + 'static = [u8; 8]> {
    kv: &'a dyn KVSystemExt<'a, K = K>,
    client: OptionalCell<&'a dyn KVClient>,
    /// The hashed key; lent to the layer below during an operation.
    hashed: TakeCell<'static, K>,
    op: OptionalCell<Op>,
    key: MapCell<SubSliceMut<'static, u8>>,
    value: MapCell<SubSliceMut<'static, u8>>,
    /// The namespace of the next request ([`KV::set_namespace`]).
    namespace: Cell<Namespace>,
    /// The namespace of the running request.
    op_namespace: Cell<Namespace>,
    /// The namespace whose stored key `hashed` holds, complete: set when a
    /// request starts on it, cleared when hashing overwrites it.
    hashed_for: Cell<Option<Namespace>>,
    /// [`KV::same_key_next`] was called for the next request.
    same_key: Cell<bool>,
    /// The key bytes whose hash `hashed` holds (see [`KeyMemo`]).
    memo: RefCell<KeyMemo>,
}

/// The longest key whose bytes the store remembers with its hash.
pub const MEMO_KEY_MAX: usize = 32;

/// The key bytes last hashed into the store's key buffer, so that the next
/// request for the same key (a get after a set, a read-modify-write, a
/// value polled) finds its hash by comparing bytes, not by hashing again
/// (SipHash costs more than a quarter of the store's work on a get).
///
/// Valid only while the key buffer holds that hash: emptied whenever a
/// hash overwrites the buffer, refilled once a hash made at once is in it
/// (a split-phase hash leaves it empty). Keys longer than
/// [`MEMO_KEY_MAX`] are not remembered.
#[derive(Clone, Copy, Debug)]
struct KeyMemo {
    /// Length of the remembered key; 0: none (keys are never empty).
    len: usize,
    bytes: [u8; MEMO_KEY_MAX],
}

impl KeyMemo {
    const EMPTY: KeyMemo = KeyMemo {
        len: 0,
        bytes: [0; MEMO_KEY_MAX],
    };

    /// Whether `key` is the remembered key.
    fn holds(&self, key: &[u8]) -> bool {
        self.len != 0 && self.bytes.get(..self.len) == Some(key)
    }

    /// Remembers `key` (or nothing, if it is too long to keep).
    fn remember(&mut self, key: &[u8]) {
        match self.bytes.get_mut(..key.len()) {
            Some(room) => {
                room.copy_from_slice(key);
                self.len = key.len();
            }
            None => self.len = 0,
        }
    }
}

/// The stored key of `hashed` (a key's hash) in `namespace`, in place.
pub fn namespaced(hashed: &mut [u8], namespace: Namespace) {
    if namespace == Namespace::Kernel {
        siphash::to_kernel_namespace(hashed);
    }
}

impl<'a, K: KeyType + 'static> KVStore<'a, K> {
    /// A store over `kv` (make the store its client), hashing keys into
    /// `hashed_key`.
    pub fn new(kv: &'a dyn KVSystemExt<'a, K = K>, hashed_key: &'static mut K) -> Self {
        KVStore {
            kv,
            client: OptionalCell::empty(),
            hashed: TakeCell::new(hashed_key),
            op: OptionalCell::empty(),
            key: MapCell::empty(),
            value: MapCell::empty(),
            namespace: Cell::new(Namespace::Apps),
            op_namespace: Cell::new(Namespace::Apps),
            hashed_for: Cell::new(None),
            same_key: Cell::new(false),
            memo: RefCell::new(KeyMemo::EMPTY),
        }
    }

    /// Whether an operation is in progress.
    pub fn busy(&self) -> bool {
        self.op.is_some()
    }

    /// Starts hashing `key` for `op`.
    fn hash(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        same_key: bool,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        if self.op.is_some() {
            return Err((key, ErrorCode::BUSY));
        }
        if key.is_empty() {
            return Err((key, ErrorCode::INVAL));
        }
        let Some(hashed) = self.hashed.take() else {
            return Err((key, ErrorCode::BUSY));
        };
        // The stored key in `hashed` serves again if it was made in this
        // namespace and the caller promised the key of the last request,
        // or the key is the one remembered.
        if self.hashed_for.get() == Some(self.namespace.get())
            && (same_key
                || self
                    .memo
                    .try_borrow()
                    .is_ok_and(|m| m.holds(key.as_slice())))
        {
            return self.start(op, key, hashed, true);
        }
        self.hashed_for.set(None);
        // A software hash is computed here and the operation starts at
        // once: no round trip through the hasher's deferred calls.
        let now = self.kv.generate_key_now(key.as_slice(), hashed);
        if let Ok(mut memo) = self.memo.try_borrow_mut() {
            match now {
                Ok(()) => memo.remember(key.as_slice()),
                Err(_) => memo.len = 0,
            }
        }
        match now {
            Ok(()) => return self.start(op, key, hashed, false),
            Err(ErrorCode::NOSUPPORT) => {}
            Err(code) => {
                self.hashed.replace(hashed);
                return Err((key, code));
            }
        }
        match self.kv.generate_key(key, hashed) {
            Ok(()) => {
                self.op.set(op);
                self.op_namespace.set(self.namespace.get());
                Ok(())
            }
            Err((key, hashed, code)) => {
                self.hashed.replace(hashed);
                Err((key, code))
            }
        }
    }

    /// Starts `op` at once with the stored key `hashed` (`reused`: the last
    /// request's, already in this namespace; otherwise the key's hash).
    fn start(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        hashed: &'static mut K,
        reused: bool,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        self.op.set(op);
        self.op_namespace.set(self.namespace.get());
        let started = if reused {
            self.run(op, hashed)
        } else {
            self.dispatch(op, hashed)
        };
        match started {
            Ok(()) => {
                self.key.put(key);
                Ok(())
            }
            Err(code) => {
                self.op.clear();
                Err((key, code))
            }
        }
    }

    /// A request with a value buffer.
    fn with_value(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue> {
        let same_key = self.same_key.replace(false);
        if self.op.is_some() {
            return Err((key, value, ErrorCode::BUSY));
        }
        self.value.put(value);
        self.hash(op, key, same_key).map_err(|(key, code)| {
            let value = self
                .value
                .take()
                .unwrap_or_else(|| SubSliceMut::new(&mut []));
            (key, value, code)
        })
    }

    /// The key is hashed: moves it into the request's namespace and runs
    /// `op` on the layer below.
    fn dispatch(&self, op: Op, hashed: &'static mut K) -> Result<(), ErrorCode> {
        let namespace = self.op_namespace.get();
        namespaced(hashed.as_mut(), namespace);
        self.hashed_for.set(Some(namespace));
        self.run(op, hashed)
    }

    /// Runs `op` on the layer below with the stored key `hashed`.
    fn run(&self, op: Op, hashed: &'static mut K) -> Result<(), ErrorCode> {
        let kv = self.kv;
        let back = |(key, value, code): (&'static mut K, SubSliceMut<'static, u8>, ErrorCode)| {
            self.hashed.replace(key);
            self.value.put(value);
            code
        };
        if op == Op::Delete {
            return kv.invalidate_key(hashed).map_err(|(key, code)| {
                self.hashed.replace(key);
                code
            });
        }
        let Some(value) = self.value.take() else {
            self.hashed.replace(hashed);
            return Err(ErrorCode::FAIL);
        };
        match op {
            Op::Get => kv.get_value(hashed, value).map_err(back),
            Op::Set => kv.set_value(hashed, value).map_err(back),
            Op::Add => kv.append_key(hashed, value).map_err(back),
            Op::Update => kv.update_value(hashed, value).map_err(back),
            Op::Delete | Op::Gc | Op::Walk => {
                self.value.put(value);
                self.hashed.replace(hashed);
                Err(ErrorCode::FAIL)
            }
        }
    }

    /// Ends the operation and hands the buffers back to the client.
    fn finish(&self, op: Op, result: Result<(), ErrorCode>, len: usize) {
        self.op.clear();
        let client = self.client.get();
        if op == Op::Gc {
            if let Some(c) = client {
                c.garbage_collect_complete(result, len);
            }
            return;
        }
        let Some(key) = self.key.take() else {
            return;
        };
        if op == Op::Delete {
            if let Some(c) = client {
                c.delete_complete(result, key);
            }
            return;
        }
        let Some(value) = self.value.take() else {
            return;
        };
        let Some(c) = client else {
            return;
        };
        match op {
            Op::Get => {
                let len = match result {
                    Ok(()) | Err(ErrorCode::SIZE) => len,
                    Err(_) => 0,
                };
                c.get_complete(result, key, value, len);
            }
            Op::Set => c.set_complete(result, key, value),
            Op::Add => c.add_complete(result, key, value),
            Op::Update => c.update_complete(result, key, value),
            Op::Delete | Op::Gc | Op::Walk => {}
        }
    }

    /// A completion of the layer below for `expected`-kind operations.
    fn completed(&self, expected: &[Op], result: Result<(), ErrorCode>, len: usize) {
        if let Some(op) = self.op.get().filter(|op| expected.contains(op)) {
            self.finish(op, result, len);
        }
    }
}

impl<'a, K: KeyType + 'static> KV<'a> for KVStore<'a, K> {
    fn set_client(&self, client: &'a dyn KVClient) {
        self.client.set(client);
    }

    fn set_namespace(&self, namespace: Namespace) {
        self.namespace.set(namespace);
    }

    fn same_key_next(&self) {
        self.same_key.set(true);
    }

    fn get(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue> {
        self.with_value(Op::Get, key, value)
    }

    fn set(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue> {
        self.with_value(Op::Set, key, value)
    }

    fn add(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue> {
        self.with_value(Op::Add, key, value)
    }

    fn update(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue> {
        self.with_value(Op::Update, key, value)
    }

    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        self.hash(Op::Delete, key, self.same_key.replace(false))
    }

    fn garbage_collect(&self) -> Result<(), ErrorCode> {
        self.same_key.set(false);
        if self.op.is_some() {
            return Err(ErrorCode::BUSY);
        }
        self.kv.garbage_collect()?;
        self.op.set(Op::Gc);
        Ok(())
    }

    fn next_item(
        &self,
        after: Option<u64>,
        prefix: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        self.same_key.set(false);
        if self.op.is_some() {
            return Err((prefix, ErrorCode::BUSY));
        }
        self.kv.next_item(after, prefix)?;
        self.op.set(Op::Walk);
        Ok(())
    }
}

impl<K: KeyType + 'static> KVSystemClient<K> for KVStore<'_, K> {
    fn generate_key_complete(
        &self,
        result: Result<(), ErrorCode>,
        unhashed_key: SubSliceMut<'static, u8>,
        key: &'static mut K,
    ) {
        let Some(op) = self.op.get() else {
            self.hashed.replace(key);
            return;
        };
        self.key.put(unhashed_key);
        let result = match result {
            Ok(()) => self.dispatch(op, key),
            Err(code) => {
                self.hashed.replace(key);
                Err(code)
            }
        };
        if let Err(code) = result {
            self.finish(op, Err(code), 0);
        }
    }

    fn append_key_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: &'static mut K,
        value: SubSliceMut<'static, u8>,
    ) {
        self.hashed.replace(key);
        self.value.put(value);
        self.completed(&[Op::Set, Op::Add, Op::Update], result, 0);
    }

    fn get_value_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: &'static mut K,
        ret_buf: SubSliceMut<'static, u8>,
        value_len: usize,
    ) {
        self.hashed.replace(key);
        self.value.put(ret_buf);
        self.completed(&[Op::Get], result, value_len);
    }

    fn invalidate_key_complete(&self, result: Result<(), ErrorCode>, key: &'static mut K) {
        self.hashed.replace(key);
        self.completed(&[Op::Delete], result, 0);
    }

    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize) {
        self.completed(&[Op::Gc], result, freed_bytes);
    }

    fn next_item_complete(
        &self,
        result: Result<Option<(u64, usize)>, ErrorCode>,
        prefix: SubSliceMut<'static, u8>,
    ) {
        if self.op.get() != Some(Op::Walk) {
            return; // not ours: a misbehaving lower layer
        }
        self.op.clear();
        self.client.map(|c| c.next_item_complete(result, prefix));
    }
}
