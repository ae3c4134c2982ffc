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
//! | garbage collect | nothing (it changes no value; the syscall driver asks apps for a write id) | - |
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
//! # Quotas and the kernel's reserve
//!
//! With [`Quotas`] set ([`KVStorePermissions::set_quotas`]; unlimited
//! until then), the layer keeps a ledger of what each app owner (write id
//! other than 0) holds: its keys and its bytes, an item being charged
//! [`charge`] bytes (stored value with its owner header, plus the engine's
//! record header, rounded up to 8). A set, add or update **by an app**
//! that would take its owner past [`Quotas::bytes_per_owner`] or
//! [`Quotas::keys_per_owner`], or all app owners together past
//! [`Quotas::apps_bytes`], answers `NOMEM` and writes nothing; what the
//! store holds beyond `apps_bytes` is the kernel's reserve, so kernel
//! writes ([`StoragePermissions::Kernel`], never limited) find room
//! whatever the apps do. A write that does not grow its item is always
//! allowed, so an owner at its quota can still shrink, overwrite in place
//! and delete.
//!
//! The ledger follows every write that succeeds below (an overwrite
//! charges the difference to the item's *stored* owner, a delete gives
//! the item back), so overwrite, delete and garbage collection cannot
//! evade it. It lives in RAM and is rebuilt from the store: the first
//! write by an app after boot (or after a write failed with an outcome
//! that leaves the store's content uncertain) first walks every stored
//! value ([`KV::next_item`]: one key lookup and one read of the 9-byte
//! header per value) and only then runs. Boot itself does not walk, and
//! kernel writes never wait for it. Values whose header is malformed and
//! values of owner 0 are nobody's and are not counted. At most
//! [`TRACKED_OWNERS`] app owners are tracked; owners beyond that (found by
//! the walk) count towards `apps_bytes`, and their writes that grow answer
//! `NOMEM`.
//!
//! The walk needs the store's RAM index to hold every key (past the index
//! each step would scan the whole log). A store that holds more keys (one
//! provisioned by a host tool, or with no index at all) is not walked:
//! writes then run **without** quotas or reserve, and each app write asks
//! again (a cheap refusal), so the checks resume once the store fits its
//! index. [`Quotas::apps_keys`] keeps apps from pushing a store there.
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

/// Bytes the ledger charges an item beyond its stored length (owner header
/// included): the engine's 16-byte record header.
pub const ITEM_OVERHEAD: usize = 16;

/// App owners the ledger tracks at once.
pub const TRACKED_OWNERS: usize = 8;

/// What the ledger charges for a stored value of `stored_len` bytes (owner
/// header included): with [`ITEM_OVERHEAD`], rounded up to 8 bytes (the
/// largest program unit of our flashes).
pub fn charge(stored_len: usize) -> u32 {
    let bytes = stored_len.saturating_add(ITEM_OVERHEAD).saturating_add(7) & !7;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Limits on what apps may keep in the store; see the
/// [module docs](self#quotas-and-the-kernels-reserve).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Bytes (see [`charge`]) one app owner may hold.
    pub bytes_per_owner: u32,
    /// Keys one app owner may hold.
    pub keys_per_owner: u32,
    /// Bytes all app owners together may hold; the rest of the store is
    /// the kernel's reserve.
    pub apps_bytes: u32,
    /// Keys all app owners together may hold (so that apps cannot push
    /// the store past its RAM index, beyond which the ledger cannot be
    /// rebuilt).
    pub apps_keys: u32,
}

impl Quotas {
    /// No limits (and no ledger walk).
    pub const UNLIMITED: Quotas = Quotas {
        bytes_per_owner: u32::MAX,
        keys_per_owner: u32::MAX,
        apps_bytes: u32::MAX,
        apps_keys: u32::MAX,
    };

    /// The boards' default for a store that can hold `capacity` bytes of
    /// records, with a RAM index of `index_entries`: an eighth (at least
    /// 1 KiB) is the kernel's reserve; one app owner may hold half of the
    /// rest and three quarters of the index's keys, all apps together
    /// seven eighths of them (the kernel keeps the rest of the index). No
    /// key limits without an index (the ledger cannot be rebuilt then:
    /// see the [module docs](self#quotas-and-the-kernels-reserve)).
    pub fn for_store(capacity: u32, index_entries: usize) -> Quotas {
        let reserve = (capacity / 8).max(1024).min(capacity);
        let apps_bytes = capacity - reserve;
        let entries = u32::try_from(index_entries).unwrap_or(u32::MAX);
        let (per_owner, apps) = if entries == 0 {
            (u32::MAX, u32::MAX)
        } else {
            ((entries / 4 * 3).max(1), (entries - entries / 8).max(1))
        };
        Quotas {
            bytes_per_owner: apps_bytes / 2,
            keys_per_owner: per_owner,
            apps_bytes,
            apps_keys: apps,
        }
    }
}

/// One tracked app owner (owner 0: a free slot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    owner: u32,
    bytes: u32,
    keys: u32,
}

/// What the app owners hold.
#[derive(Clone, Copy, Debug, Default)]
struct Ledger {
    owners: [Usage; TRACKED_OWNERS],
    /// Bytes and keys of all app owners, untracked ones included.
    apps_bytes: u32,
    apps_keys: u32,
}

impl Ledger {
    fn slot(&self, owner: u32) -> Option<usize> {
        self.owners.iter().position(|u| u.owner == owner)
    }

    /// Adds `bytes` and `keys` (negative: gives back) to `owner`. Owner 0
    /// is not counted.
    fn record(&mut self, owner: u32, bytes: i64, keys: i64) {
        if owner == 0 {
            return;
        }
        let apply = |v: u32, d: i64| u32::try_from((i64::from(v) + d).max(0)).unwrap_or(u32::MAX);
        self.apps_bytes = apply(self.apps_bytes, bytes);
        self.apps_keys = apply(self.apps_keys, keys);
        let slot = self.slot(owner).or_else(|| {
            let free = self.slot(0)?;
            self.owners[free] = Usage {
                owner,
                bytes: 0,
                keys: 0,
            };
            Some(free)
        });
        if let Some(i) = slot {
            let u = &mut self.owners[i];
            u.bytes = apply(u.bytes, bytes);
            u.keys = apply(u.keys, keys);
            if u.bytes == 0 && u.keys == 0 {
                *u = Usage::default();
            }
        }
    }

    /// Whether `owner` may change an item charged `old` (`None`: a new
    /// key) to `new` bytes.
    fn allows(&self, quotas: &Quotas, owner: u32, old: Option<u32>, new: u32) -> bool {
        let grow = new.saturating_sub(old.unwrap_or(0));
        if grow == 0 && old.is_some() {
            return true;
        }
        let new_key = u32::from(old.is_none());
        let usage = match self.slot(owner) {
            Some(i) => self.owners[i],
            // A new owner needs a free slot.
            None if self.slot(0).is_some() => Usage::default(),
            None => return false,
        };
        let fits =
            |used: u32, more: u32, limit: u32| used.checked_add(more).is_some_and(|t| t <= limit);
        fits(self.apps_bytes, grow, quotas.apps_bytes)
            && fits(self.apps_keys, new_key, quotas.apps_keys)
            && fits(usage.bytes, grow, quotas.bytes_per_owner)
            && fits(usage.keys, new_key, quotas.keys_per_owner)
    }
}

/// A ledger change waiting for its write to succeed: owner, bytes, keys.
type Pending = (u32, i64, i64);

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
    /// Walking the store to rebuild the ledger before `Op` runs.
    Walk(Op),
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
    permissions: Cell<&'a StoragePermissions>,
    phase: Cell<Phase>,
    /// A kernel delete is looking for a broken value in the apps'
    /// namespace (the repair path).
    repairing: Cell<bool>,
    quotas: Cell<Quotas>,
    ledger: MapCell<Ledger>,
    /// Whether the ledger is up to date (else the next app write walks).
    ledger_ready: Cell<bool>,
    /// The ledger change of the running write.
    pending: Cell<Option<Pending>>,
    /// The caller's key while the walk runs.
    parked_key: MapCell<SubSliceMut<'static, u8>>,
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
            permissions: Cell::new(StoragePermissions::NULL),
            phase: Cell::new(Phase::Idle),
            repairing: Cell::new(false),
            quotas: Cell::new(Quotas::UNLIMITED),
            ledger: MapCell::new(Ledger::default()),
            ledger_ready: Cell::new(false),
            pending: Cell::new(None),
            parked_key: MapCell::empty(),
        }
    }

    /// Sets the limits on what apps may store (the board's policy; see the
    /// [module docs](self#quotas-and-the-kernels-reserve)). Takes effect
    /// from the next request; the ledger is rebuilt before the next app
    /// write.
    pub fn set_quotas(&self, quotas: Quotas) {
        self.quotas.set(quotas);
        self.ledger_ready.set(false);
    }

    /// The limits in force.
    pub fn quotas(&self) -> Quotas {
        self.quotas.get()
    }

    /// What the ledger holds for app owner `owner`: (bytes, keys), or
    /// `None` while the ledger is not built.
    pub fn usage(&self, owner: u32) -> Option<(u32, u32)> {
        if !self.ledger_ready.get() {
            return None;
        }
        self.ledger.map_or(None, |l| {
            Some(
                l.slot(owner)
                    .map_or((0, 0), |i| (l.owners[i].bytes, l.owners[i].keys)),
            )
        })
    }

    /// Whether a write with `permissions` is held to the quotas.
    fn limited(&self, permissions: &StoragePermissions) -> bool {
        !matches!(permissions, StoragePermissions::Kernel) && self.quotas.get() != Quotas::UNLIMITED
    }

    /// Whether `owner` may change an item charged `old` to `new` bytes
    /// (always for unlimited callers), recording the ledger change for
    /// when the write succeeds.
    fn admit_change(&self, owner: u32, old: Option<u32>, new: u32) -> Result<(), ErrorCode> {
        // Without a ledger (the store could not be walked) nothing is
        // checked: see `walked`.
        if self.limited(self.permissions.get()) && self.ledger_ready.get() {
            let quotas = self.quotas.get();
            let ok = self
                .ledger
                .map_or(false, |l| l.allows(&quotas, owner, old, new));
            if !ok {
                return Err(ErrorCode::NOMEM);
            }
        }
        let keys = if old.is_none() { 1 } else { 0 };
        self.pending.set(Some((
            owner,
            i64::from(new) - i64::from(old.unwrap_or(0)),
            keys,
        )));
        Ok(())
    }

    /// The running write ended below with `result`: the ledger follows.
    fn settle(&self, result: Result<(), ErrorCode>) {
        let pending = self.pending.take();
        match result {
            Ok(()) => {
                if let (Some((owner, bytes, keys)), true) = (pending, self.ledger_ready.get()) {
                    self.ledger.map(|l| l.record(owner, bytes, keys));
                }
            }
            // The store said no: nothing was written.
            Err(ErrorCode::NOMEM | ErrorCode::NOSUPPORT | ErrorCode::SIZE | ErrorCode::INVAL)
            | Err(ErrorCode::BUSY | ErrorCode::NODEVICE) => {}
            // Anything else may have left the write done or not: count
            // again before the next app write.
            Err(_) => self.ledger_ready.set(false),
        }
    }

    /// Whether `op` by `permissions` must wait for a ledger walk.
    fn needs_walk(&self, permissions: &StoragePermissions) -> bool {
        self.limited(permissions) && !self.ledger_ready.get()
    }

    /// Parks the caller's request and starts the ledger walk.
    fn start_walk(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        window: (usize, usize),
        permissions: &'a StoragePermissions,
    ) -> KeyValueResult {
        let Some(header) = self.header_buf.take() else {
            return Err((key, value, ErrorCode::FAIL));
        };
        let mut header = SubSliceMut::new(header);
        header.slice(..HEADER_SIZE);
        match self.kv.next_item(None, header) {
            Ok(()) => {
                self.ledger.map(|l| *l = Ledger::default());
                self.ledger_ready.set(false);
                self.window.set(window);
                self.permissions.set(permissions);
                self.value.put(value);
                self.parked_key.put(key);
                self.phase.set(Phase::Walk(op));
                Ok(())
            }
            Err((header, e)) => {
                self.header_buf.replace(header.take());
                Err((key, value, e))
            }
        }
    }

    /// A walk step came back.
    fn walked(
        &self,
        op: Op,
        result: Result<Option<(u64, usize)>, ErrorCode>,
        mut prefix: SubSliceMut<'static, u8>,
    ) {
        let step = match result {
            Ok(Some((key, stored_len))) => {
                let known = stored_len.min(prefix.len());
                if let Some(h) = OwnerHeader::decode(&prefix.as_slice()[..known], stored_len) {
                    self.ledger
                        .map(|l| l.record(h.owner, i64::from(charge(stored_len)), 1));
                }
                prefix.reset();
                prefix.slice(..HEADER_SIZE);
                match self.kv.next_item(Some(key), prefix) {
                    Ok(()) => return,
                    Err((prefix, e)) => {
                        self.header_buf.replace(prefix.take());
                        Err(e)
                    }
                }
            }
            Ok(None) => {
                self.header_buf.replace(prefix.take());
                Ok(())
            }
            Err(e) => {
                self.header_buf.replace(prefix.take());
                Err(e)
            }
        };
        self.phase.set(Phase::Idle);
        let (Some(key), Some(value)) = (self.parked_key.take(), self.value.take()) else {
            return;
        };
        let permissions = self.permissions.get();
        let resumed = match step {
            Ok(()) => {
                self.ledger_ready.set(true);
                self.run_write(op, key, value, permissions)
            }
            // The store cannot be walked in bounded time (more keys than
            // its RAM index): the write runs unchecked, and the next app
            // write asks again.
            Err(ErrorCode::NOSUPPORT) => {
                self.ledger_ready.set(false);
                self.run_write(op, key, value, permissions)
            }
            Err(e) => {
                self.ledger_ready.set(false);
                Err((key, value, e))
            }
        };
        if let Err((key, mut value, e)) = resumed {
            self.phase.set(Phase::Idle);
            restore(&mut value, self.window.get());
            self.complete_write(op, Err(e), key, value);
        }
    }

    /// Runs an accepted set, add or update (window and permissions set).
    fn run_write(
        &self,
        op: Op,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> KeyValueResult {
        self.kv.set_namespace(namespace(permissions));
        if op == Op::Add {
            let Some(owner) = permissions.write_id() else {
                return Err((key, value, ErrorCode::INVAL));
            };
            let new = charge(HEADER_SIZE + self.window.get().1);
            if let Err(e) = self.admit_change(owner, None, new) {
                return Err((key, value, e));
            }
            return self.start_write(Op::Add, true, false, key, value, owner);
        }
        self.value.put(value);
        self.start_check(op, key, permissions, namespace(permissions))
            .map_err(|(key, e)| {
                let value = self
                    .value
                    .take()
                    .unwrap_or_else(|| SubSliceMut::new(&mut []));
                (key, value, e)
            })
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
        permissions: &'a StoragePermissions,
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
        permissions: &'a StoragePermissions,
        needs_write_id: bool,
    ) -> KeyValueResult {
        let window = match self.check_value_request(&value, permissions, needs_write_id) {
            Ok(w) => w,
            Err(e) => return Err((key, value, e)),
        };
        self.pending.set(None);
        if self.needs_walk(permissions) {
            return self.start_walk(op, key, value, window, permissions);
        }
        self.window.set(window);
        self.permissions.set(permissions);
        self.run_write(op, key, value, permissions)
    }

    /// Writes `header` in front of the caller's window and runs the lower
    /// `set` (`add` if `create`), keeping the phase `Write(op)`. `checked`:
    /// the header check just read this key (the store may reuse its hash).
    fn start_write(
        &self,
        op: Op,
        create: bool,
        checked: bool,
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
        if checked {
            // The header check just read this key, in this namespace.
            self.kv.same_key_next();
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
                match self.start_check(Op::Delete, key, StoragePermissions::KERNEL, Namespace::Apps)
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
            if let Ok(Stored::Modifiable(owner)) = stored {
                self.pending
                    .set(Some((owner, -i64::from(charge(stored_len)), -1)));
            }
            let outcome = match stored {
                Ok(Stored::Modifiable(_) | Stored::Orphan) => {
                    // The check just read this key, in this namespace.
                    self.kv.same_key_next();
                    match self.kv.delete(key) {
                        Ok(()) => {
                            self.phase.set(Phase::Write(Op::Delete));
                            return;
                        }
                        Err((key, e)) => (key, e),
                    }
                }
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
        let new = charge(HEADER_SIZE + self.window.get().1);
        let started = match (stored, op, write_id) {
            (Ok(Stored::Modifiable(owner)), _, _) => {
                match self.admit_change(owner, Some(charge(stored_len)), new) {
                    Ok(()) => self.start_write(op, false, true, key, value, owner),
                    Err(e) => Err((key, value, e)),
                }
            }
            (Ok(Stored::Missing), Op::Set, Some(id)) => match self.admit_change(id, None, new) {
                Ok(()) => self.start_write(op, true, true, key, value, id),
                Err(e) => Err((key, value, e)),
            },
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
        self.settle(result);
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
        permissions: &'a StoragePermissions,
    ) -> KeyValueResult {
        let window = match self.check_value_request(&value, permissions, false) {
            Ok(w) => w,
            Err(e) => return Err((key, value, e)),
        };
        widen(&mut value, window);
        self.kv.set_namespace(namespace(permissions));
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
        permissions: &'a StoragePermissions,
    ) -> KeyValueResult {
        self.start_value_check(Op::Set, key, value, permissions, true)
    }

    fn add(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> KeyValueResult {
        let window = match self.check_value_request(&value, permissions, true) {
            Ok(w) => w,
            Err(e) => return Err((key, value, e)),
        };
        self.pending.set(None);
        if self.needs_walk(permissions) {
            return self.start_walk(Op::Add, key, value, window, permissions);
        }
        self.window.set(window);
        self.permissions.set(permissions);
        self.run_write(Op::Add, key, value, permissions)
    }

    fn update(
        &self,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> KeyValueResult {
        self.start_value_check(Op::Update, key, value, permissions, true)
    }

    fn delete(
        &self,
        key: SubSliceMut<'static, u8>,
        permissions: &'a StoragePermissions,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        if self.is_busy() {
            return Err((key, ErrorCode::BUSY));
        }
        self.pending.set(None);
        self.start_check(Op::Delete, key, permissions, namespace(permissions))
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
        self.settle(result);
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

    fn next_item_complete(
        &self,
        result: Result<Option<(u64, usize)>, ErrorCode>,
        prefix: SubSliceMut<'static, u8>,
    ) {
        // Anything else is not ours (a misbehaving lower layer).
        if let Phase::Walk(op) = self.phase.get() {
            self.walked(op, result, prefix);
        }
    }
}
