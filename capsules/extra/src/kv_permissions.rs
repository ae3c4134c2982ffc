//! Storage permissions over a key-value store: every value carries its
//! owner's id.
//!
//! [`KVStorePermissions`] implements [`KVPermissions`] on top of a plain
//! [`KV`] store. It stores each value behind a 9-byte *owner header*, the
//! layout upstream Tock uses, so stores written by upstream kernels or
//! provisioned with tockloader (`tickv append --write-id N`) keep their
//! owners:
//!
//! ```text
//! byte 0      version = 0
//! bytes 1..5  value length, u32 little-endian
//! bytes 5..9  owner id (the creator's write id), u32 little-endian
//! bytes 9..   the value
//! ```
//!
//! # Rules
//!
//! | request | needs | result when refused |
//! |---|---|---|
//! | get | read permission on the stored owner | `NOSUPPORT` (as for a missing key) |
//! | set of an existing key | a write id, and modify permission on the stored owner; the owner is kept | `INVAL` without a write id, else `NOSUPPORT` |
//! | set of a new key, add | a write id; the new value is owned by it | `INVAL` |
//! | update | a write id, and modify permission on the stored owner; the owner is kept | `INVAL` without a write id, else `NOSUPPORT` |
//! | delete | modify permission on the stored owner | `NOSUPPORT` |
//! | garbage collect | nothing (it changes no value) | - |
//!
//! Not-found and forbidden are indistinguishable: both answer `NOSUPPORT`.
//!
//! Requests with [`StoragePermissions::Kernel`] address the kernel's
//! [`Namespace`], all others the apps' (the layer below maps the same key
//! bytes to different stored keys): an app cannot create, read or squat a
//! key the kernel uses, whatever its bytes.
//! Items owned by id 0 (the kernel's) are reachable only with
//! [`StoragePermissions::Kernel`]; that rule lives in
//! [`StoragePermissions`] itself.
//!
//! A stored value whose header is malformed (shorter than 9 bytes, a
//! version other than 0, or a length field that disagrees with the stored
//! length) is owned by nobody: every get, set and update of it answers
//! `NOSUPPORT` for every caller, and so does a delete by anyone but the
//! kernel. The kernel ([`StoragePermissions::Kernel`]) may delete it: the
//! repair path for values a host tool or a bug wrote without a valid
//! header (on an image, `tickv delete` removes them too). A kernel delete
//! of a key missing from the kernel's namespace looks for it once more in
//! the apps' namespace and deletes it there only if its header is
//! malformed or it is owned by id 0 (a kernel item written before
//! namespaces, or by upstream Tock); anything else answers `NOSUPPORT`. To
//! apps such a value is absent, before and after.
//!
//! # How a modification is checked
//!
//! Set, update and delete first read the stored header: a get into a small
//! kernel-owned header buffer (given at construction) that holds exactly
//! [`HEADER_SIZE`] bytes. The lower store answers `SIZE` with the header as
//! prefix and the full stored length, which is all the check needs: the
//! value itself is never read. Then:
//!
//! * the key exists and may be modified: the lower `set` runs with a header
//!   that carries the *stored* owner id;
//! * the key does not exist: set runs the lower `add` with a header that
//!   carries the caller's write id; update and delete answer `NOSUPPORT`;
//! * anything else: the request completes with the error, and nothing was
//!   written.
//!
//! Add needs no check (a new value is always owned by the caller, and the
//! lower `add` refuses an existing key), so it goes straight to the lower
//! `add`.
//!
//! A get reads header and value in one lower get, straight into the
//! caller's buffer (header into the room in front of the window, value into
//! the window). A get that fails (with anything but `SIZE`) comes back with
//! the window and the header room zeroed: a value the caller may not read
//! never leaves this layer, and a forbidden key looks exactly like a
//! missing one.
//!
//! # Buffers and callbacks
//!
//! As [`KVPermissions`] requires, the window of every value buffer must
//! start at least [`HEADER_SIZE`] bytes into its buffer (`SIZE`
//! otherwise): those bytes carry the header down to the store. The window
//! is restored before the buffer goes back.
//!
//! One request runs at a time; another one answers `BUSY` (put a
//! [`MuxKV`](crate::virtual_kv::MuxKV) on top to share the layer). A
//! request that returns `Ok` ends in exactly one callback with every buffer
//! it lent; one that returns `Err` gives the buffers back at once and gets
//! no callback. A failure of the lower store after the request was accepted
//! (for example while writing, after the header check) is reported in that
//! one callback.
//!
//! # Example (board setup)
//!
//! ```text
//! let header = HEADER.init([0; HEADER_SIZE]); // static HEADER: StaticCell<[u8; HEADER_SIZE]>
//! let perms = PERMS.init(KVStorePermissions::new(kv_store, header)); // static PERMS: StaticCell<KVStorePermissions<'static>>
//! kv_store.set_client(perms);
//! ```

use core::cell::Cell;

use kernel::hil::kv::{KVClient, KVPermissions, Namespace, RefusedKeyValue, KV};
use kernel::storage_permissions::StoragePermissions;
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{MapCell, OptionalCell, TakeCell};

/// Bytes of owner header stored in front of every value.
pub const HEADER_SIZE: usize = 9;

/// The only header version there is.
pub const HEADER_VERSION: u8 = 0;

/// The keys a request with `permissions` addresses: the kernel's own for
/// [`StoragePermissions::Kernel`], the apps' for everyone else.
fn namespace(permissions: &StoragePermissions) -> Namespace {
    match permissions {
        StoragePermissions::Kernel => Namespace::Kernel,
        _ => Namespace::Apps,
    }
}

/// The owner header stored in front of each value; see the
/// [module docs](self) for the layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerHeader {
    /// Length of the value that follows the header.
    pub value_len: u32,
    /// Owner id: the write id of whoever created the value (0: the kernel).
    pub owner: u32,
}

impl OwnerHeader {
    /// The 9 header bytes.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0; HEADER_SIZE];
        out[0] = HEADER_VERSION;
        out[1..5].copy_from_slice(&self.value_len.to_le_bytes());
        out[5..9].copy_from_slice(&self.owner.to_le_bytes());
        out
    }

    /// Decodes the header of a stored value whose total stored length
    /// (header included) is `stored_len`, from its first bytes `prefix`.
    /// `None` if the header is malformed: `prefix` or `stored_len` shorter
    /// than the header, a version other than 0, or a length field other
    /// than `stored_len - HEADER_SIZE`.
    pub fn decode(prefix: &[u8], stored_len: usize) -> Option<OwnerHeader> {
        let bytes = prefix.get(..HEADER_SIZE)?;
        if bytes[0] != HEADER_VERSION {
            return None;
        }
        let value_len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let owner = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
        let expected = stored_len.checked_sub(HEADER_SIZE)?;
        (usize::try_from(value_len).ok()? == expected).then_some(OwnerHeader { value_len, owner })
    }
}

/// Which request is running (the caller's view).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Set,
    Add,
    Update,
    Delete,
}

/// Where the running request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    /// The lower get of header + value into the caller's buffer.
    Get,
    /// The lower get of the stored header before a set/update/delete.
    CheckHeader(Op),
    /// The lower set/add/delete that carries out `Op`.
    Write(Op),
    /// A garbage collection.
    GarbageCollect,
}

/// The outcome of reading the stored header.
enum Stored {
    /// The key exists and the caller may modify it; its owner.
    Modifiable(u32),
    /// The key does not exist.
    Missing,
    /// The stored header is malformed and the caller is the kernel, which
    /// may delete (only delete) such a value.
    Orphan,
}

/// [`KVPermissions`] over a [`KV`] store, keeping an owner id in a header
/// in front of each value; see the [module docs](self).
pub struct KVStorePermissions<'a> {
    kv: &'a dyn KV<'a>,
    client: OptionalCell<&'a dyn KVClient>,
    /// Receives stored headers while a modification is checked.
    header_buf: TakeCell<'static, [u8]>,
    /// The caller's value buffer while the header is checked.
    value: MapCell<SubSliceMut<'static, u8>>,
    /// The caller's value window: (start, length) in its buffer.
    window: Cell<(usize, usize)>,
    permissions: Cell<StoragePermissions>,
    phase: Cell<Phase>,
    /// A kernel delete is looking for a broken value in the apps'
    /// namespace (the repair path).
    repairing: Cell<bool>,
}

/// Makes the window `[start - HEADER_SIZE, start + len)`: header room plus
/// the caller's window. `start >= HEADER_SIZE` is checked by the caller.
fn widen(value: &mut SubSliceMut<'static, u8>, (start, len): (usize, usize)) {
    value.reset();
    value.slice(start - HEADER_SIZE..start + len);
}

/// Gives the buffer back its caller's window.
fn restore(value: &mut SubSliceMut<'static, u8>, (start, len): (usize, usize)) {
    value.reset();
    value.slice(start..start + len);
}

/// The lower result type of get/set/add/update.
type KeyValueResult = Result<(), RefusedKeyValue>;

impl<'a> KVStorePermissions<'a> {
    /// A permission layer over `kv`. `header_buf` receives stored headers
    /// while a set, update or delete is checked. Call
    /// `kv.set_client(this)` to connect the callbacks.
    pub fn new(kv: &'a dyn KV<'a>, header_buf: &'static mut [u8; HEADER_SIZE]) -> Self {
        KVStorePermissions {
            kv,
            client: OptionalCell::empty(),
            header_buf: TakeCell::new(header_buf),
            value: MapCell::empty(),
            window: Cell::new((0, 0)),
            permissions: Cell::new(StoragePermissions::Null),
            phase: Cell::new(Phase::Idle),
            repairing: Cell::new(false),
        }
    }

    /// Whether a request is running.
    pub fn is_busy(&self) -> bool {
        self.phase.get() != Phase::Idle
    }

    /// Checks the common preconditions of a request with a value: idle, a
    /// write id (if `needs_write_id`), and header room in front of the
    /// window. Returns the caller's window.
    fn check_value_request(
        &self,
        value: &SubSliceMut<'static, u8>,
        permissions: &StoragePermissions,
        needs_write_id: bool,
    ) -> Result<(usize, usize), ErrorCode> {
        if self.is_busy() {
            return Err(ErrorCode::BUSY);
        }
        if needs_write_id && permissions.write_id().is_none() {
            return Err(ErrorCode::INVAL);
        }
        if value.start() < HEADER_SIZE {
            return Err(ErrorCode::SIZE);
        }
        Ok((value.start(), value.len()))
    }

    /// Starts the lower header read for `op` (set, update, delete). The
    /// caller's value (if any) is parked in `self.value`.
    fn start_check(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
        namespace: Namespace,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        let Some(header) = self.header_buf.take() else {
            // Lost to a misbehaving lower layer earlier: nothing can be
            // checked any more.
            return Err((key, ErrorCode::FAIL));
        };
        let mut header = SubSliceMut::new(header);
        header.slice(..HEADER_SIZE);
        self.kv.set_namespace(namespace);
        match self.kv.get(key, header) {
            Ok(()) => {
                self.permissions.set(permissions);
                self.phase.set(Phase::CheckHeader(op));
                Ok(())
            }
            Err((key, header, e)) => {
                self.header_buf.replace(header.take());
                Err((key, e))
            }
        }
    }

    /// Like [`start_check`](Self::start_check) for requests with a value.
    fn start_value_check(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
        needs_write_id: bool,
    ) -> KeyValueResult {
        let window = match self.check_value_request(&value, &permissions, needs_write_id) {
            Ok(w) => w,
            Err(e) => return Err((key, value, e)),
        };
        self.window.set(window);
        self.value.put(value);
        self.start_check(op, key, permissions, namespace(&permissions))
            .map_err(|(key, e)| {
                let value = self
                    .value
                    .take()
                    .unwrap_or_else(|| SubSliceMut::new(&mut []));
                (key, value, e)
            })
    }

    /// Writes `header` in front of the caller's window and runs the lower
    /// `set` (`add` if `create`), keeping the phase `Write(op)`.
    fn start_write(
        &self,
        op: Op,
        create: bool,
        key: SubSliceMut<'static, u8>,
        mut value: SubSliceMut<'static, u8>,
        owner: u32,
    ) -> KeyValueResult {
        let window = self.window.get();
        let Ok(value_len) = u32::try_from(window.1) else {
            return Err((key, value, ErrorCode::SIZE));
        };
        let header = OwnerHeader { value_len, owner };
        widen(&mut value, window);
        if let Some(room) = value.as_mut_slice().get_mut(..HEADER_SIZE) {
            room.copy_from_slice(&header.encode());
        }
        let started = if create {
            self.kv.add(key, value)
        } else {
            self.kv.set(key, value)
        };
        match started {
            Ok(()) => {
                self.phase.set(Phase::Write(op));
                Ok(())
            }
            Err((key, mut value, e)) => {
                restore(&mut value, window);
                Err((key, value, e))
            }
        }
    }

    /// Interprets the stored header read for a modification.
    fn stored_owner(
        &self,
        result: Result<(), ErrorCode>,
        header: &[u8],
        stored_len: usize,
    ) -> Result<Stored, ErrorCode> {
        match result {
            // SIZE: the header buffer holds the prefix of a longer value.
            Ok(()) | Err(ErrorCode::SIZE) => match OwnerHeader::decode(header, stored_len) {
                Some(h) if self.permissions.get().check_modify_permission(h.owner) => {
                    Ok(Stored::Modifiable(h.owner))
                }
                None if matches!(self.permissions.get(), StoragePermissions::Kernel) => {
                    Ok(Stored::Orphan)
                }
                _ => Err(ErrorCode::NOSUPPORT),
            },
            Err(ErrorCode::NOSUPPORT) => Ok(Stored::Missing),
            Err(e) => Err(e),
        }
    }

    /// The header of a set/update/delete has been read: carry it out or
    /// complete it with an error.
    fn checked(
        &self,
        op: Op,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        stored_len: usize,
        header: &[u8],
    ) {
        let stored = self.stored_owner(result, header, stored_len);
        if op == Op::Delete {
            let kernel = matches!(self.permissions.get(), StoragePermissions::Kernel);
            if kernel && matches!(stored, Ok(Stored::Missing)) && !self.repairing.get() {
                // Not in the kernel's namespace: the kernel may still delete
                // a broken (or kernel-owned) value in the apps' namespace,
                // the repair path. Look there once.
                self.repairing.set(true);
                match self.start_check(Op::Delete, key, StoragePermissions::Kernel, Namespace::Apps)
                {
                    Ok(()) => return,
                    Err((key, e)) => {
                        self.repairing.set(false);
                        self.phase.set(Phase::Idle);
                        self.client.map(|c| c.delete_complete(Err(e), key));
                        return;
                    }
                }
            }
            self.repairing.set(false);
            let outcome = match stored {
                Ok(Stored::Modifiable(_) | Stored::Orphan) => match self.kv.delete(key) {
                    Ok(()) => {
                        self.phase.set(Phase::Write(Op::Delete));
                        return;
                    }
                    Err((key, e)) => (key, e),
                },
                Ok(Stored::Missing) => (key, ErrorCode::NOSUPPORT),
                Err(e) => (key, e),
            };
            self.phase.set(Phase::Idle);
            self.client
                .map(|c| c.delete_complete(Err(outcome.1), outcome.0));
            return;
        }
        let Some(value) = self.value.take() else {
            // Cannot happen: set and update always park a value.
            self.phase.set(Phase::Idle);
            return;
        };
        let write_id = self.permissions.get().write_id();
        let started = match (stored, op, write_id) {
            (Ok(Stored::Modifiable(owner)), _, _) => self.start_write(op, false, key, value, owner),
            (Ok(Stored::Missing), Op::Set, Some(id)) => self.start_write(op, true, key, value, id),
            (Ok(Stored::Missing | Stored::Orphan), _, _) => Err((key, value, ErrorCode::NOSUPPORT)),
            (Err(e), _, _) => Err((key, value, e)),
        };
        if let Err((key, value, e)) = started {
            self.phase.set(Phase::Idle);
            self.complete_write(op, Err(e), key, value);
        }
    }

    /// Calls the client's completion for a set/add/update.
    fn complete_write(
        &self,
        op: Op,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.client.map(|c| match op {
            Op::Add => c.add_complete(result, key, value),
            Op::Update => c.update_complete(result, key, value),
            _ => c.set_complete(result, key, value),
        });
    }

    /// A lower set/add/update completed.
    fn write_done(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        mut value: SubSliceMut<'static, u8>,
    ) {
        let Phase::Write(op) = self.phase.get() else {
            return; // not ours: a misbehaving lower layer
        };
        self.phase.set(Phase::Idle);
        restore(&mut value, self.window.get());
        self.complete_write(op, result, key, value);
    }

    /// The caller's get completed below: check the owner and hand the value
    /// (or nothing) back.
    fn get_done(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        mut value: SubSliceMut<'static, u8>,
        stored_len: usize,
    ) {
        self.phase.set(Phase::Idle);
        let window = self.window.get();
        let readable = match result {
            Ok(()) | Err(ErrorCode::SIZE) => OwnerHeader::decode(value.as_slice(), stored_len)
                .filter(|h| self.permissions.get().check_read_permission(h.owner))
                .ok_or(ErrorCode::NOSUPPORT),
            Err(e) => Err(e),
        };
        let (result, value_len) = match readable {
            // A lower store that claims success for a value longer than
            // the window still only delivered a prefix.
            Ok(h) if result.is_ok() && h.value_len as usize > window.1 => {
                (Err(ErrorCode::SIZE), h.value_len as usize)
            }
            Ok(h) => (result, h.value_len as usize),
            Err(e) => {
                // Whatever the store copied (a value the caller may not
                // read, or nothing) is wiped, header room included, so a
                // refused get looks the same whatever the reason.
                value.as_mut_slice().fill(0);
                (Err(e), 0)
            }
        };
        restore(&mut value, window);
        self.client
            .map(|c| c.get_complete(result, key, value, value_len));
    }
}

impl<'a> KVPermissions<'a> for KVStorePermissions<'a> {
    fn set_client(&self, client: &'a dyn KVClient) {
        self.client.set(client);
    }

    fn get(
        &self,
        key: SubSliceMut<'static, u8>,
        mut value: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
    ) -> KeyValueResult {
        let window = match self.check_value_request(&value, &permissions, false) {
            Ok(w) => w,
            Err(e) => return Err((key, value, e)),
        };
        widen(&mut value, window);
        self.kv.set_namespace(namespace(&permissions));
        match self.kv.get(key, value) {
            Ok(()) => {
                self.window.set(window);
                self.permissions.set(permissions);
                self.phase.set(Phase::Get);
                Ok(())
            }
            Err((key, mut value, e)) => {
                restore(&mut value, window);
                Err((key, value, e))
            }
        }
    }

    fn set(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
    ) -> KeyValueResult {
        self.start_value_check(Op::Set, key, value, permissions, true)
    }

    fn add(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
    ) -> KeyValueResult {
        let window = match self.check_value_request(&value, &permissions, true) {
            Ok(w) => w,
            Err(e) => return Err((key, value, e)),
        };
        let Some(owner) = permissions.write_id() else {
            return Err((key, value, ErrorCode::INVAL));
        };
        self.window.set(window);
        self.permissions.set(permissions);
        self.kv.set_namespace(namespace(&permissions));
        self.start_write(Op::Add, true, key, value, owner)
    }

    fn update(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
    ) -> KeyValueResult {
        self.start_value_check(Op::Update, key, value, permissions, true)
    }

    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
        permissions: StoragePermissions,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        if self.is_busy() {
            return Err((key, ErrorCode::BUSY));
        }
        self.start_check(Op::Delete, key, permissions, namespace(&permissions))
    }

    fn garbage_collect(&self) -> Result<(), ErrorCode> {
        if self.is_busy() {
            return Err(ErrorCode::BUSY);
        }
        self.kv.garbage_collect()?;
        self.phase.set(Phase::GarbageCollect);
        Ok(())
    }

    fn header_size(&self) -> usize {
        HEADER_SIZE
    }
}

impl KVClient for KVStorePermissions<'_> {
    fn get_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        full_len: usize,
    ) {
        match self.phase.get() {
            Phase::Get => self.get_done(result, key, value, full_len),
            Phase::CheckHeader(op) => {
                let mut header = [0u8; HEADER_SIZE];
                let prefix = value.as_slice();
                let n = prefix.len().min(HEADER_SIZE);
                header[..n].copy_from_slice(&prefix[..n]);
                // A header shorter than HEADER_SIZE (a short stored value)
                // fails to decode: `full_len` says how much is real.
                let known = n.min(full_len);
                self.header_buf.replace(value.take());
                self.checked(op, result, key, full_len, &header[..known]);
            }
            _ => {} // not ours: a misbehaving lower layer
        }
    }

    fn set_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.write_done(result, key, value);
    }

    fn add_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.write_done(result, key, value);
    }

    fn update_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.write_done(result, key, value);
    }

    fn delete_complete(&self, result: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>) {
        if self.phase.get() != Phase::Write(Op::Delete) {
            return;
        }
        self.phase.set(Phase::Idle);
        self.client.map(|c| c.delete_complete(result, key));
    }

    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, freed_bytes: usize) {
        if self.phase.get() != Phase::GarbageCollect {
            return;
        }
        self.phase.set(Phase::Idle);
        self.client
            .map(|c| c.garbage_collect_complete(result, freed_bytes));
    }
}
