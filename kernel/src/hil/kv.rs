//! Key-value storage: the interfaces between the layers of the KV stack.
//!
//! ```text
//! kv_driver (0x50003), kernel users
//!   |  KVPermissions: unhashed keys, plus the caller's StoragePermissions
//! virtual_kv, kv_permissions (stores the owner id with each value)
//!   |  KV: unhashed keys
//! kv_store (hashes keys with a hil::hasher::Hasher)
//!   |  KVSystem: hashed keys
//! tickv capsule (over hil::flash)
//! ```
//!
//! All three are split-phase as described in the [HIL docs](super): a
//! request that returns `Ok` gets exactly one `*_complete` callback, which
//! hands every buffer back; a request that returns `Err` hands them back at
//! once and gets no callback.
//!
//! # Buffers
//!
//! Variable-length buffers are [`SubSliceMut`]s and only their *active
//! window* is used: the unhashed key is the window of the key buffer, the
//! value to store is the window of the value buffer, and a value read is
//! copied to the start of the window of the value buffer. Buffers come back
//! in the callback with the window they were passed with; a reader learns
//! how much was stored from the `value_len` / `full_len` argument.
//!
//! # Results
//!
//! The same codes mean the same thing at every layer, whether they come
//! back from the request or in the callback:
//!
//! | code | meaning |
//! |---|---|
//! | `BUSY` | an operation is in progress |
//! | `INVAL` | an invalid argument (for example an empty key), or, at the [`KVPermissions`] level, a set/add/update by a caller without write permission |
//! | `NODEVICE` | no store is set up (not mounted yet, or mounting failed) |
//! | `NOSUPPORT` | get, update, delete: the key is not there, or the caller may not read / modify it (the two cannot be told apart); add, and append at the [`KVSystem`] level: the key already exists (for hashed keys also a hash collision); set: the key exists and the caller may not modify it |
//! | `NOMEM` | the store is full |
//! | `SIZE` | get: the value is longer than the buffer (the prefix that fits was copied); key or value too large for the store |
//! | `FAIL` | the flash failed or the store is corrupt |

use crate::storage_permissions::StoragePermissions;
use crate::utilities::SubSliceMut;
use crate::ErrorCode;

/// What a [`KV`] or [`KVPermissions`] request that is refused at once hands
/// back: the key and value buffers, and why.
pub type RefusedKeyValue = (
    SubSliceMut<'static, u8>,
    SubSliceMut<'static, u8>,
    ErrorCode,
);

/// A hashed key as the [`KVSystem`] stores it (TicKV: 8 bytes, a
/// big-endian `u64`).
pub trait KeyType: Eq + Copy + Clone + Sized + AsRef<[u8]> + AsMut<[u8]> {}

impl<const N: usize> KeyType for [u8; N] {}

/// The storage engine interface: values under hashed keys.
///
/// Implemented by the TicKV capsule. Error codes as in the
/// [module docs](self).
pub trait KVSystem<'a> {
    /// The hashed key.
    type K: KeyType;

    /// Sets the client that receives the completion callbacks.
    fn set_client(&self, client: &'a dyn KVSystemClient<Self::K>);

    /// Hashes the window of `unhashed_key` into `key`. Completes with
    /// [`KVSystemClient::generate_key_complete`].
    fn generate_key(
        &self,
        unhashed_key: SubSliceMut<'static, u8>,
        key: &'static mut Self::K,
    ) -> Result<(), (SubSliceMut<'static, u8>, &'static mut Self::K, ErrorCode)>;

    /// Hashes `unhashed_key` into `key` at once, with no callback, when the
    /// system's hash is computed in software: the request that uses the
    /// key can then start in the same call. `NOSUPPORT` (the default): use
    /// [`generate_key`](Self::generate_key). `BUSY` and `INVAL` as there.
    fn generate_key_now(&self, unhashed_key: &[u8], key: &mut Self::K) -> Result<(), ErrorCode> {
        let _ = (unhashed_key, key);
        Err(ErrorCode::NOSUPPORT)
    }

    /// Stores the window of `value` under `key`, which must not exist yet
    /// (`NOSUPPORT` otherwise). Completes with
    /// [`KVSystemClient::append_key_complete`].
    fn append_key(
        &self,
        key: &'static mut Self::K,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Self::K, SubSliceMut<'static, u8>, ErrorCode)>;

    /// Copies the value stored under `key` to the start of the window of
    /// `ret_buf`. Completes with [`KVSystemClient::get_value_complete`],
    /// which reports the stored length; with `Err(SIZE)` if only a prefix
    /// fitted.
    fn get_value(
        &self,
        key: &'static mut Self::K,
        ret_buf: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Self::K, SubSliceMut<'static, u8>, ErrorCode)>;

    /// Deletes `key` (`NOSUPPORT` if it is not there). Completes with
    /// [`KVSystemClient::invalidate_key_complete`].
    fn invalidate_key(
        &self,
        key: &'static mut Self::K,
    ) -> Result<(), (&'static mut Self::K, ErrorCode)>;

    /// Starts reclaiming the space of deleted and overwritten values.
    /// Completes with [`KVSystemClient::garbage_collect_complete`], which
    /// reports the bytes freed.
    ///
    /// The interface in the upstream design returns the bytes freed from
    /// this call; here collection is split-phase like everything else
    /// (it erases and copies flash), so the count comes in the callback.
    fn garbage_collect(&self) -> Result<(), ErrorCode>;

    /// One step of a walk over every stored value, in key order: finds the
    /// smallest key greater than `after` (the smallest of all with `None`)
    /// and copies the first bytes of its value to the window of `prefix`.
    /// Completes with [`KVSystemClient::next_item_complete`]. For layers
    /// that account for what the store holds (a value's owner header); a
    /// system that cannot walk answers `NOSUPPORT`.
    fn next_item(
        &self,
        after: Option<u64>,
        prefix: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        let _ = after;
        Err((prefix, ErrorCode::NOSUPPORT))
    }
}

/// Receives the completions of [`KVSystem`] requests.
pub trait KVSystemClient<K: KeyType> {
    /// Hashing finished; on success `key` holds the hash of the window of
    /// `unhashed_key`.
    fn generate_key_complete(
        &self,
        result: Result<(), ErrorCode>,
        unhashed_key: SubSliceMut<'static, u8>,
        key: &'static mut K,
    );

    /// An append finished.
    fn append_key_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: &'static mut K,
        value: SubSliceMut<'static, u8>,
    );

    /// A get finished. `value_len` is the length of the stored value (valid
    /// with `Ok` and `Err(SIZE)`, 0 otherwise); the first
    /// `min(value_len, ret_buf.len())` bytes of the window of `ret_buf`
    /// hold the value or its prefix.
    fn get_value_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: &'static mut K,
        ret_buf: SubSliceMut<'static, u8>,
        value_len: usize,
    );

    /// A delete finished.
    fn invalidate_key_complete(&self, result: Result<(), ErrorCode>, key: &'static mut K);

    /// A garbage collection finished, having freed `freed_bytes` bytes
    /// (possibly 0 on success when there was nothing to collect).
    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize);

    /// A walk step finished: `Ok(Some((key, value_len)))` with the first
    /// `min(value_len, prefix.len())` bytes of that value in the window of
    /// `prefix`, or `Ok(None)`: no key after the one asked about.
    fn next_item_complete(
        &self,
        result: Result<Option<(u64, usize)>, ErrorCode>,
        prefix: SubSliceMut<'static, u8>,
    ) {
        let _ = (result, prefix);
    }
}

/// Which set of keys a request addresses. The same key bytes name
/// different values in the two: an app can never create, read or squat a
/// key of the kernel's, whatever bytes it uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Namespace {
    /// The apps' keys (and those written by upstream Tock or tockloader).
    #[default]
    Apps,
    /// The kernel's keys (owner 0).
    Kernel,
}

/// A key-value store with unhashed, variable-length keys.
///
/// Implemented by kv_store (over a [`KVSystem`]) and by the permission
/// layer for its kernel users. All requests complete on the one
/// [`KVClient`]. Error codes as in the [module docs](self).
pub trait KV<'a> {
    /// Sets the client that receives the completion callbacks.
    fn set_client(&self, client: &'a dyn KVClient);

    /// Selects the [`Namespace`] of the requests that follow, until the
    /// next call ([`Namespace::Apps`] until the first). A store without
    /// namespaces ignores it.
    fn set_namespace(&self, _namespace: Namespace) {}

    /// Promises that the key of the next request is the key of the request
    /// that completed last, byte for byte, in the same namespace: the
    /// caller kept that key buffer and did not change it. A store that
    /// hashes keys may then reuse the hash instead of computing it again
    /// (a permission check's read followed by the write it allows). The
    /// promise covers the next request only; a store that cannot use it
    /// ignores it.
    fn same_key_next(&self) {}

    /// Copies the value stored under `key` to the start of the window of
    /// `value`. Completes with [`KVClient::get_complete`].
    fn get(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue>;

    /// Stores `value` under `key`, inserting or overwriting. Completes with
    /// [`KVClient::set_complete`].
    fn set(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue>;

    /// Stores `value` under `key` only if `key` does not exist yet
    /// (`NOSUPPORT` otherwise). Completes with [`KVClient::add_complete`].
    fn add(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue>;

    /// Overwrites the value under `key` only if `key` exists (`NOSUPPORT`
    /// otherwise). Completes with [`KVClient::update_complete`].
    fn update(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), RefusedKeyValue>;

    /// Deletes `key` (`NOSUPPORT` if it is not there). Completes with
    /// [`KVClient::delete_complete`].
    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)>;

    /// Starts a garbage collection. Completes with
    /// [`KVClient::garbage_collect_complete`].
    fn garbage_collect(&self) -> Result<(), ErrorCode>;

    /// One step of a walk over every stored value of both namespaces, in
    /// the order of their stored (hashed) keys: the value after the stored
    /// key `after` (the first with `None`), its first bytes copied to the
    /// window of `prefix`. Completes with [`KVClient::next_item_complete`].
    /// `NOSUPPORT` where the store cannot walk.
    fn next_item(
        &self,
        after: Option<u64>,
        prefix: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        let _ = after;
        Err((prefix, ErrorCode::NOSUPPORT))
    }
}

/// A key-value store that enforces [`StoragePermissions`] on every request.
///
/// Each stored value carries the id of its owner. A get needs read
/// permission on the stored owner, an update or delete modify permission,
/// and a set of an existing key modify permission (the value keeps its
/// owner); set, add and update need a write id (`INVAL` without one), and
/// new values are owned by it. Forbidden reads, updates and deletes answer
/// `NOSUPPORT`, exactly like a missing key.
///
/// The permissions are passed by reference, for the life of the stack
/// (`'a`): they are checked once the stored owner has been read, after the
/// request returned, so the implementation keeps the reference (a word),
/// not a copy of the set. An app's come from its process
/// ([`GrantKernelData::storage_permissions`](crate::grant::GrantKernelData::storage_permissions)),
/// the kernel's are [`StoragePermissions::KERNEL`].
///
/// # Header room
///
/// The implementation stores a header of [`header_size`](Self::header_size)
/// bytes (the owner id, ...) in front of each value, and it needs that room
/// in the caller's value buffer: **the window of `value` must start at least
/// `header_size()` bytes into its buffer** (`SIZE` otherwise). The caller
/// reserves it by slicing, for example `value.slice(kv.header_size()..)` on
/// a fresh buffer; the window itself holds exactly the value, for writes
/// and for reads, and the bytes in front of it are the implementation's
/// scratch space while the request runs.
pub trait KVPermissions<'a> {
    /// Sets the client that receives the completion callbacks.
    fn set_client(&self, client: &'a dyn KVClient);

    /// As [`KV::get`], if `permissions` may read the stored owner.
    fn get(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue>;

    /// As [`KV::set`]: a new value is owned by the write id of
    /// `permissions`; an existing one needs modify permission and keeps
    /// its owner.
    fn set(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue>;

    /// As [`KV::add`]; the value is owned by the write id of `permissions`.
    fn add(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue>;

    /// As [`KV::update`], if `permissions` may modify the stored owner (and
    /// has a write id); the value keeps its owner.
    fn update(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), RefusedKeyValue>;

    /// As [`KV::delete`], if `permissions` may modify the stored owner.
    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)>;

    /// As [`KV::garbage_collect`]; it changes no value, so it needs no
    /// permissions.
    fn garbage_collect(&self) -> Result<(), ErrorCode>;

    /// Bytes of room the value buffers need in front of their window.
    fn header_size(&self) -> usize;
}

/// Receives the completions of [`KV`] and [`KVPermissions`] requests.
pub trait KVClient {
    /// A get finished. `full_len` is the length of the stored value (valid
    /// with `Ok` and `Err(SIZE)`, 0 otherwise); the first
    /// `min(full_len, value.len())` bytes of the window of `value` hold the
    /// value or its prefix.
    fn get_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        full_len: usize,
    );

    /// A set finished.
    fn set_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    );

    /// An add finished.
    fn add_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    );

    /// An update finished.
    fn update_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    );

    /// A delete finished.
    fn delete_complete(&self, result: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>);

    /// A garbage collection finished, having freed `freed_bytes` bytes.
    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize);

    /// A walk step ([`KV::next_item`]) finished: `Ok(Some((stored_key,
    /// value_len)))` with the value's first bytes in `prefix`, or
    /// `Ok(None)` after the last value.
    fn next_item_complete(
        &self,
        result: Result<Option<(u64, usize)>, ErrorCode>,
        prefix: SubSliceMut<'static, u8>,
    ) {
        let _ = (result, prefix);
    }
}
