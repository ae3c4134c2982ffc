//! The TicKV capsule: [`KVSystem`] over [`hil::flash`](kernel::hil::flash),
//! driving the sans-IO TicKV v2 engine split-phase.
//!
//! # Mapping onto the flash
//!
//! The store covers the flash the capsule is given from offset 0 (give it a
//! partition or a [`FlashUser`](capsules_core::virtual_flash::FlashUser) to
//! share a device). One engine region is one erase unit; the store has
//! [`Config::region_count`] regions (every erase unit by default). The
//! program unit is the flash's. The flash must erase to `0xFF`.
//!
//! Every flash request the engine asks for ([`Step`]) becomes exactly one
//! flash call, with the capsule's scratch buffer as the read / program
//! buffer; each flash callback resumes the engine, which answers with the
//! next request or with the result. A flash call refused synchronously and
//! a callback carrying an error both resume the engine with a
//! [`FlashFault`]: the engine ends the operation with `Error::Flash` and
//! stays consistent, and the client gets `FAIL`.
//!
//! # Keys and values
//!
//! `K = [u8; 8]`: the engine key is `u64::from_be_bytes(key)`, which is how
//! [`generate_key`](KVSystem::generate_key) (SipHash-2-4 through the
//! [`Hasher`]) and upstream TicKV read the digest. A value is exactly the
//! active window of the value buffer (the capsule adds no header); values
//! longer than [`TicKVSystem::max_value_len`] are refused with `SIZE`.
//!
//! # Operations
//!
//! | request | engine | result codes besides `BUSY` / `NODEVICE` / `FAIL` |
//! |---|---|---|
//! | [`append_key`](KVSystem::append_key) | `Add`: insert only if absent | `NOSUPPORT` if the key exists, `NOMEM`, `SIZE` |
//! | [`set_value`](KVSystemExt::set_value) | `Set`: insert or overwrite | `NOMEM`, `SIZE` |
//! | [`update_value`](KVSystemExt::update_value) | `Update`: overwrite only if present | `NOSUPPORT` if absent, `NOMEM`, `SIZE` |
//! | [`get_value`](KVSystem::get_value) | `Get` | `NOSUPPORT` if absent, `SIZE` (prefix copied, full length reported) |
//! | [`invalidate_key`](KVSystem::invalidate_key) | `Delete` | `NOSUPPORT` if absent |
//! | [`garbage_collect`](KVSystem::garbage_collect) | `GcFull` | reports the bytes freed |
//! | [`next_item`](KVSystem::next_item) | `NextKey`, then `Get` of the key found into the prefix buffer | `Ok(None)` after the last key; `NOSUPPORT` while the RAM index does not hold every key (a walk would then scan the log once per key) |
//!
//! Every write appends one record and takes effect atomically when that
//! record is complete: an overwrite never invalidates first, so a power cut
//! leaves the old or the new value. `NOMEM` means the store is full even
//! after the one compaction step the engine runs inside a write: the
//! capsule does **not** run a garbage collection on its own; the layer
//! above decides (a full collection may reclaim space when values were
//! overwritten or deleted).
//!
//! The engine's errors map to codes with [`error_code`].
//!
//! # One operation at a time, and the mount
//!
//! The capsule runs one client operation at a time (`BUSY` otherwise,
//! including while a completion is waiting to be delivered). The store is
//! mounted by [`init`](TicKVSystem::init) at boot, or else by the first
//! request; a request made while the mount runs is accepted and runs after
//! it (hashing a key does not wait for the mount at all). If the mount fails,
//! the waiting request completes with the mount's code.
//!
//! * A blank flash (`Error::NotFormatted`) is formatted only if
//!   [`Config::format_if_blank`] is set, and only after every byte of the
//!   store area has been read back as `0xFF`. Anything else (an upstream
//!   version-1 store, another geometry, foreign or damaged data) is never
//!   formatted automatically: requests then fail with `NODEVICE`
//!   synchronously, and [`state`](TicKVSystem::state) tells why. The board
//!   may still call [`format`](TicKVSystem::format) deliberately.
//! * A mount that failed on a flash error is retried by the next request.
//! * The blank check reads the whole store area once (in scratch-sized
//!   reads), on the first boot of a blank device only.
//! * Format is not power-safe (see `doc/tickv-format.md`): if the first
//!   format is cut short, the flash is no longer blank, so it is not
//!   formatted again automatically; the board decides (`format`).
//!
//! Synchronous refusals: `BUSY`, `NODEVICE` (a mount failed for good),
//! `SIZE` (value longer than the store accepts) and, for `generate_key`,
//! `INVAL` (empty key) and the hasher's own refusals. The hasher should be
//! dedicated to the capsule: a failed hash clears its data.
//!
//! Completions are never delivered from inside a request: a result known
//! at once (a key known absent from the RAM index, a failed mount) is
//! delivered through the capsule's [`DeferredCall`].
//!
//! # Setup
//!
//! ```text
//! let slot = deferred_calls.allocate()?;
//! // static TICKV: StaticCell<TicKVSystem>
//! let tickv = TICKV.init(TicKVSystem::new(
//!     flash, hasher, index, scratch, slot, Config::default()).unwrap());
//! slot.set_client(tickv);
//! flash.set_client(tickv);
//! hasher.set_client(tickv);
//! tickv.set_client(kv_store);
//! tickv.init().unwrap();
//! ```

use core::cell::Cell;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::hil::flash::{self, Flash, FlashClient};
use kernel::hil::hasher::{Hasher, HasherClient};
use kernel::hil::kv::{KVSystem, KVSystemClient};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tickv::{
    Error, FlashFault, FlashOp, IndexEntry, Io, Op, Output, Stats, Step, TicKV, ValueBuf,
    MIN_SCRATCH,
};
use tock_cells::{MapCell, OptionalCell, TakeCell};

/// The hashed key type of the TicKV capsule.
pub type Key = [u8; 8];

/// At most this many reads done at once ([`Flash::read_now`](flash::Flash::read_now)) in a row;
/// the next read goes split-phase. A long scan (a lookup past the RAM
/// index, a mount) then lets the main loop run between bursts. (16 in a
/// row took a mount of 10,000 records only 4 % further than 4.)
const READS_NOW_PER_BURST: u32 = 4;

/// Whether every byte is `0xFF`: four at a time (no branch per byte),
/// since the blank check reads the whole store area.
fn erased(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(4);
    let all = words
        .by_ref()
        .fold(0xFF, |acc, w| acc & w[0] & w[1] & w[2] & w[3]);
    all & words.remainder().iter().fold(0xFF, |acc, &b| acc & b) == 0xFF
}

/// Records the index build takes per step while the store is otherwise
/// idle (after the lazy mount): one step is one deferred call's start, so
/// client requests and processes get their turn between steps.
const WARM_RECORDS: u32 = 32;

/// The [`ErrorCode`] reported for an engine error.
///
/// `NotFound` and `AlreadyExists` are `NOSUPPORT`, `NoSpace` is `NOMEM`,
/// `TooLarge` is `SIZE`, `Busy` is `BUSY`, `Invalid` is `INVAL`; a store
/// that is not set up (`NotMounted`, `NotFormatted`, `V1Store`,
/// `GeometryMismatch`, `InvalidGeometry`, `ScratchTooSmall`) is `NODEVICE`;
/// flash failures, corruption and protocol errors are `FAIL`.
pub fn error_code(error: Error) -> ErrorCode {
    match error {
        Error::NotFound | Error::AlreadyExists => ErrorCode::NOSUPPORT,
        Error::NoSpace => ErrorCode::NOMEM,
        Error::TooLarge => ErrorCode::SIZE,
        Error::Busy => ErrorCode::BUSY,
        Error::Invalid => ErrorCode::INVAL,
        Error::NotMounted
        | Error::NotFormatted
        | Error::V1Store
        | Error::GeometryMismatch
        | Error::InvalidGeometry
        | Error::ScratchTooSmall => ErrorCode::NODEVICE,
        Error::Flash(_) | Error::Corrupt | Error::Protocol => ErrorCode::FAIL,
    }
}

/// Whether a mount that failed with `error` would fail again without a
/// deliberate change (so requests are refused instead of remounting).
fn permanent(error: Error) -> bool {
    matches!(
        error,
        Error::NotFormatted
            | Error::V1Store
            | Error::GeometryMismatch
            | Error::InvalidGeometry
            | Error::ScratchTooSmall
    )
}

/// The engine's atomic writes beyond [`KVSystem::append_key`] (which is
/// "add": insert only if absent).
///
/// Both complete with [`KVSystemClient::append_key_complete`], like every
/// write; error codes as in the [module docs](self).
pub trait KVSystemExt<'a>: KVSystem<'a> {
    /// Stores the window of `value` under `key`, inserting or overwriting
    /// in one atomic write.
    fn set_value(
        &self,
        key: &'static mut Self::K,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Self::K, SubSliceMut<'static, u8>, ErrorCode)>;

    /// Overwrites the value under `key` with the window of `value` in one
    /// atomic write, only if `key` has a value (`NOSUPPORT` otherwise).
    fn update_value(
        &self,
        key: &'static mut Self::K,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Self::K, SubSliceMut<'static, u8>, ErrorCode)>;
}

/// Is told when a mount or format finishes (optional; for boards that
/// report the state of their storage).
pub trait MountClient {
    /// The store is mounted (`Ok`), or could not be (`NODEVICE` for a blank,
    /// foreign or version-1 store; `FAIL` for a flash error).
    fn mount_done(&self, result: Result<(), ErrorCode>);
}

/// Board configuration of a [`TicKVSystem`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Number of regions (erase units from the start of the flash) the store
    /// uses; `None` for all of them.
    pub region_count: Option<u32>,
    /// Format the store when the mount finds it blank: every byte of the
    /// store area reads `0xFF`. Never formats anything else.
    pub format_if_blank: bool,
}

/// Where the store stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreState {
    /// No mount has been started yet.
    Unmounted,
    /// A mount (or a format) is running.
    Mounting,
    /// The store is ready.
    Mounted,
    /// The last mount failed with this error.
    Failed(Error),
}

/// Where the engine lane stands (internal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Unmounted,
    Mounting,
    /// Reading the store area back before an automatic format; the next
    /// offset to check.
    BlankCheck(u32),
    Formatting,
    Ready,
    Failed(Error),
}

/// The client operation in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientOp {
    GenerateKey,
    Get,
    Add,
    Set,
    Update,
    Delete,
    Gc,
    /// A walk step: finding the key after `TicKVSystem::item_after`.
    NextKey,
    /// A walk step: reading the prefix of the key found.
    ItemPrefix,
}

/// The result of a client operation, waiting to be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<(), ErrorCode>,
    /// The value length (get) or the bytes freed (garbage collection).
    len: usize,
}

impl Outcome {
    fn err(code: ErrorCode) -> Outcome {
        Outcome {
            result: Err(code),
            len: 0,
        }
    }
}

/// What to do with the engine.
enum Call {
    Begin(Op),
    Resume(Result<(), FlashFault>),
}

/// The TicKV capsule; see the [module docs](self).
pub struct TicKVSystem<'a> {
    flash: &'a dyn Flash<'a>,
    hasher: &'a dyn Hasher<'a, 8>,
    client: OptionalCell<&'a dyn KVSystemClient<Key>>,
    mount_client: OptionalCell<&'a dyn MountClient>,
    engine: MapCell<TicKV<'static>>,
    /// The engine's scratch buffer; at the flash while a request is in flight.
    scratch: TakeCell<'static, [u8]>,
    config: Config,
    /// Bytes of the store area.
    store_len: u32,
    phase: Cell<Phase>,
    /// The one client operation (accepted, not yet delivered).
    op: OptionalCell<ClientOp>,
    /// Whether the engine runs `op` (rather than the mount it waits for).
    started: Cell<bool>,
    key: TakeCell<'static, Key>,
    value: MapCell<SubSliceMut<'static, u8>>,
    /// generate_key: the unhashed key, its window as passed, the bytes
    /// hashed so far and the bytes of the add in flight.
    unhashed: MapCell<SubSliceMut<'static, u8>>,
    window: Cell<(usize, usize)>,
    hashed: Cell<usize>,
    adding: Cell<usize>,
    /// A walk step: the key it starts after, and the key found with its
    /// value length.
    item_after: Cell<Option<u64>>,
    item: Cell<(u64, usize)>,
    /// A completion and a mount notification waiting for the deferred call.
    done: OptionalCell<Outcome>,
    mount_note: OptionalCell<Result<(), ErrorCode>>,
    /// Set while a request of the client or the board is on the stack.
    in_request: Cell<bool>,
    /// A step of the index build is due from the deferred call.
    warm_due: Cell<bool>,
    /// The engine may still be building its index (since the last mount);
    /// cleared once it is seen built, so that finished requests need not
    /// ask the engine.
    indexing: Cell<bool>,
    deferred: DeferredCall,
}

impl<'a> TicKVSystem<'a> {
    /// A capsule over `flash`, hashing keys with `hasher`, with `index`
    /// (12 bytes per key; may be empty) and `scratch` (at least
    /// [`MIN_SCRATCH`] bytes; larger means fewer flash requests), completing
    /// at-once results through `deferred`. Bind the deferred call, the flash
    /// and the hasher to the capsule, then call [`init`](Self::init).
    ///
    /// Fails with `InvalidGeometry` if the flash does not erase to `0xFF`,
    /// `config.region_count` exceeds the flash or the engine does not
    /// support the geometry (regions of 256 bytes to 16 MiB, 2 to 65536 of
    /// them), and with `ScratchTooSmall`.
    pub fn new(
        flash: &'a dyn Flash<'a>,
        hasher: &'a dyn Hasher<'a, 8>,
        index: &'static mut [IndexEntry],
        scratch: &'static mut [u8],
        deferred: DeferredCall,
        config: Config,
    ) -> Result<TicKVSystem<'a>, Error> {
        let g = flash.geometry();
        let regions = config.region_count.unwrap_or(g.erase_units);
        if g.erase_value != 0xFF || regions > g.erase_units || !g.is_valid() {
            return Err(Error::InvalidGeometry);
        }
        if scratch.len() < MIN_SCRATCH {
            return Err(Error::ScratchTooSmall);
        }
        let store_len = u64::from(g.erase_unit) * u64::from(regions);
        let store_len = u32::try_from(store_len).map_err(|_| Error::InvalidGeometry)?;
        let engine = TicKV::new(
            tickv::Geometry {
                region_size: g.erase_unit as usize,
                region_count: regions as usize,
                program_unit: g.program_unit as usize,
            },
            index,
        )?;
        Ok(TicKVSystem {
            flash,
            hasher,
            client: OptionalCell::empty(),
            mount_client: OptionalCell::empty(),
            engine: MapCell::new(engine),
            scratch: TakeCell::new(scratch),
            config,
            store_len,
            phase: Cell::new(Phase::Unmounted),
            op: OptionalCell::empty(),
            started: Cell::new(false),
            key: TakeCell::empty(),
            value: MapCell::empty(),
            unhashed: MapCell::empty(),
            window: Cell::new((0, 0)),
            hashed: Cell::new(0),
            adding: Cell::new(0),
            item_after: Cell::new(None),
            item: Cell::new((0, 0)),
            done: OptionalCell::empty(),
            mount_note: OptionalCell::empty(),
            in_request: Cell::new(false),
            warm_due: Cell::new(false),
            indexing: Cell::new(false),
            deferred,
        })
    }

    /// Sets the client told when mounts and formats finish.
    pub fn set_mount_client(&self, client: &'a dyn MountClient) {
        self.mount_client.set(client);
    }

    /// Starts mounting the store (and formatting it if it is blank and
    /// [`Config::format_if_blank`] is set). `ALREADY` if it is mounted or a
    /// mount is running. The result goes to the [`MountClient`], if any,
    /// and shows in [`state`](Self::state). Retries a failed mount.
    pub fn init(&self) -> Result<(), ErrorCode> {
        match self.phase.get() {
            Phase::Unmounted | Phase::Failed(_) => {
                self.guarded(|| self.start_mount());
                Ok(())
            }
            _ => Err(ErrorCode::ALREADY),
        }
    }

    /// Erases the whole store area and starts an empty store, **whatever it
    /// holds** (a version-1 store, damaged data): for boards that decide so
    /// deliberately. `BUSY` while any operation or mount runs. The result
    /// goes to the [`MountClient`], if any.
    pub fn format(&self) -> Result<(), ErrorCode> {
        let idle = match self.phase.get() {
            Phase::Unmounted | Phase::Failed(_) => true,
            // Not during a step of the background index build either: the
            // engine would refuse the format and the store would fail.
            Phase::Ready => self.op.is_none() && self.engine.map_or(false, |kv| !kv.busy()),
            Phase::Mounting | Phase::BlankCheck(_) | Phase::Formatting => false,
        };
        if !idle || self.op.is_some() {
            return Err(ErrorCode::BUSY);
        }
        self.guarded(|| self.start_format());
        Ok(())
    }

    /// Where the store stands.
    pub fn state(&self) -> StoreState {
        match self.phase.get() {
            Phase::Unmounted => StoreState::Unmounted,
            Phase::Mounting | Phase::BlankCheck(_) | Phase::Formatting => StoreState::Mounting,
            Phase::Ready => StoreState::Mounted,
            Phase::Failed(e) => StoreState::Failed(e),
        }
    }

    /// Whether a client operation is in progress (accepted and its
    /// completion not yet delivered).
    pub fn busy(&self) -> bool {
        self.op.is_some()
    }

    /// The largest value the store accepts, in bytes.
    pub fn max_value_len(&self) -> usize {
        self.engine.map_or(0, |kv| kv.max_value_len())
    }

    /// The engine's counters (free space, reclaimable bytes, keys, ...).
    pub fn stats(&self) -> Option<Stats> {
        self.engine.map(|kv| kv.stats())
    }

    /// Runs `f` as part of a request: completions it produces are deferred.
    fn guarded<T>(&self, f: impl FnOnce() -> T) -> T {
        let was = self.in_request.replace(true);
        let r = f();
        self.in_request.set(was);
        r
    }

    // -----------------------------------------------------------------
    // Completions
    // -----------------------------------------------------------------

    /// Completes the client operation, now or (inside a request) from the
    /// deferred call.
    fn complete(&self, outcome: Outcome) {
        if self.in_request.get() {
            self.done.set(outcome);
            self.deferred.set();
        } else {
            self.deliver(outcome);
        }
    }

    /// Hands the buffers of the client operation back with its result. The
    /// capsule is idle before the client runs, so it may start another
    /// operation from the callback.
    fn deliver(&self, outcome: Outcome) {
        let Some(op) = self.op.take() else {
            return;
        };
        self.started.set(false);
        let key = self.key.take();
        let value = self.value.take();
        let Outcome { result, len } = outcome;
        let client = self.client.get();
        match op {
            ClientOp::GenerateKey => {
                let unhashed = self.unhashed.take().map(|mut data| {
                    let (start, len) = self.window.get();
                    data.reset();
                    data.slice(start..start + len);
                    data
                });
                if let (Some(c), Some(unhashed), Some(key)) = (client, unhashed, key) {
                    c.generate_key_complete(result, unhashed, key);
                }
            }
            ClientOp::Get => {
                if let (Some(c), Some(key), Some(value)) = (client, key, value) {
                    c.get_value_complete(result, key, value, len);
                }
            }
            ClientOp::Add | ClientOp::Set | ClientOp::Update => {
                if let (Some(c), Some(key), Some(value)) = (client, key, value) {
                    c.append_key_complete(result, key, value);
                }
            }
            ClientOp::Delete => {
                if let (Some(c), Some(key)) = (client, key) {
                    c.invalidate_key_complete(result, key);
                }
            }
            ClientOp::Gc => {
                if let Some(c) = client {
                    c.garbage_collect_complete(result, len);
                }
            }
            ClientOp::NextKey | ClientOp::ItemPrefix => {
                // NextKey completes only past the last key (or failing).
                let found = (op == ClientOp::ItemPrefix).then(|| (self.item.get().0, len));
                if let (Some(c), Some(prefix)) = (client, value) {
                    c.next_item_complete(result.map(|()| found), prefix);
                }
            }
        }
        // Idle again (unless the client asked for more): the index build
        // goes on.
        if self.op.is_none() && self.phase.get() == Phase::Ready {
            self.warm_later();
        }
    }

    fn notify_mount(&self, result: Result<(), ErrorCode>) {
        if self.in_request.get() {
            self.mount_note.set(result);
            self.deferred.set();
        } else {
            self.mount_client.map(|c| c.mount_done(result));
        }
    }

    // -----------------------------------------------------------------
    // Client requests
    // -----------------------------------------------------------------

    /// Whether a client engine operation can be accepted now.
    fn admit(&self, value_len: Option<usize>) -> Result<(), ErrorCode> {
        if self.op.is_some() {
            return Err(ErrorCode::BUSY);
        }
        if let Phase::Failed(e) = self.phase.get() {
            if permanent(e) {
                return Err(ErrorCode::NODEVICE);
            }
        }
        if value_len.is_some_and(|len| len > self.max_value_len()) {
            return Err(ErrorCode::SIZE);
        }
        Ok(())
    }

    /// Starts an accepted engine operation (its buffers stored), or queues
    /// it behind the mount.
    fn launch(&self, op: ClientOp) {
        self.op.set(op);
        self.started.set(false);
        self.guarded(|| match self.phase.get() {
            Phase::Ready => self.start_op(),
            Phase::Mounting | Phase::BlankCheck(_) | Phase::Formatting => {}
            Phase::Unmounted | Phase::Failed(_) => self.start_mount(),
        });
    }

    /// Starts the waiting client operation on the mounted engine, once it
    /// is idle (it may be running a step of the index build: the operation
    /// then starts when that step ends).
    fn start_op(&self) {
        let Some(op) = self.op.get() else {
            return;
        };
        if self.engine.map_or(true, |kv| kv.busy()) {
            return;
        }
        if op == ClientOp::NextKey {
            // The RAM index holds every key (`None`: it is still being
            // built, so the walk waits for it).
            match self
                .engine
                .map(|kv| (!kv.warming()).then(|| kv.stats().keys.is_some()))
            {
                Some(None) => return self.start_warm(u32::MAX),
                // It does not: each step of a walk would scan the whole
                // log (keys x log reads in all).
                Some(Some(false)) | None => {
                    return self.complete(Outcome::err(ErrorCode::NOSUPPORT))
                }
                Some(Some(true)) => {}
            }
        }
        let key = self.key.map_or(0, |k| u64::from_be_bytes(*k));
        let op = match op {
            ClientOp::GenerateKey => return,
            ClientOp::Get => Op::Get(key),
            ClientOp::Add => Op::Add(key),
            ClientOp::Set => Op::Set(key),
            ClientOp::Update => Op::Update(key),
            ClientOp::Delete => Op::Delete(key),
            ClientOp::Gc => Op::GcFull,
            ClientOp::NextKey => Op::NextKey(self.item_after.get()),
            ClientOp::ItemPrefix => Op::Get(self.item.get().0),
        };
        self.started.set(true);
        let step = self.engine_call(Call::Begin(op));
        self.issue(step, 0);
    }

    /// A lazy mount: it reads the region headers and the newest region;
    /// the rest of the index is built in steps while the store is idle.
    /// Its first read goes split-phase: a board starts the mount just
    /// before the processes run, and they run first.
    fn start_mount(&self) {
        self.phase.set(Phase::Mounting);
        let step = self.engine_call(Call::Begin(Op::MountLazy));
        self.issue(step, READS_NOW_PER_BURST);
    }

    /// Runs a step of the index build (at most `records` records).
    fn start_warm(&self, records: u32) {
        let step = self.engine_call(Call::Begin(Op::Warm(records)));
        self.issue(step, 0);
    }

    /// Has the next step of the index build run from the deferred call, if
    /// the index is still being built.
    fn warm_later(&self) {
        if !self.indexing.get() {
            return;
        }
        if self.engine.map_or(false, |kv| kv.warming()) {
            self.warm_due.set(true);
            self.deferred.set();
        } else {
            self.indexing.set(false);
        }
    }

    /// A step of the index build ended: the waiting client operation goes
    /// first, else the next step. A step that failed (a flash error) is
    /// retried only after the next client operation; a walk that waited
    /// for the index fails with it (retrying at once could go on forever).
    fn warm_done(&self, result: Result<Output, Error>) {
        let waiting = self.done.is_none()
            && self
                .op
                .get()
                .is_some_and(|op| op != ClientOp::GenerateKey && !self.started.get());
        match result {
            Err(e) if waiting && self.op.get() == Some(ClientOp::NextKey) => {
                self.complete(Outcome::err(error_code(e)))
            }
            _ if waiting => self.start_op(),
            Ok(_) => self.warm_later(),
            Err(_) => {}
        }
    }

    fn start_format(&self) {
        self.phase.set(Phase::Formatting);
        let step = self.engine_call(Call::Begin(Op::Format));
        self.issue(step, 0);
    }

    // -----------------------------------------------------------------
    // Driving the engine
    // -----------------------------------------------------------------

    /// Begins or resumes the engine with the scratch buffer and, for a
    /// running client get or write, the value window.
    fn engine_call(&self, call: Call) -> Step {
        let Some(scratch) = self.scratch.take() else {
            return Step::Done(Err(Error::Protocol));
        };
        let client_op = match self.phase.get() {
            Phase::Ready if self.started.get() => self.op.get(),
            _ => None,
        };
        let mut value = match client_op {
            Some(
                ClientOp::Get
                | ClientOp::ItemPrefix
                | ClientOp::Add
                | ClientOp::Set
                | ClientOp::Update,
            ) => self.value.take(),
            _ => None,
        };
        let step = self
            .engine
            .map(|kv| {
                let value = match (client_op, value.as_mut()) {
                    (Some(ClientOp::Get | ClientOp::ItemPrefix), Some(v)) => {
                        ValueBuf::Out(v.as_mut_slice())
                    }
                    (Some(_), Some(v)) => ValueBuf::In(v.as_slice()),
                    _ => ValueBuf::None,
                };
                let io = Io {
                    scratch: &mut *scratch,
                    value,
                };
                match call {
                    Call::Begin(op) => kv.begin(op, io),
                    Call::Resume(result) => kv.resume(io, result),
                }
            })
            .unwrap_or(Step::Done(Err(Error::Protocol)));
        if let Some(v) = value {
            self.value.put(v);
        }
        self.scratch.replace(scratch);
        step
    }

    /// Performs `step`: starts its flash request, or finishes the operation.
    /// A request the flash refuses at once is a flash fault for the engine.
    /// Up to [`READS_NOW_PER_BURST`] reads, less `reads_now`, are done at
    /// once.
    fn issue(&self, mut step: Step, mut reads_now: u32) {
        loop {
            let accepted = match step {
                Step::Done(result) => return self.engine_done(result),
                Step::Read { addr, len } if reads_now < READS_NOW_PER_BURST => {
                    if let Some(result) = self.read_now(addr, len) {
                        reads_now += 1;
                        step = self.engine_call(Call::Resume(result.map_err(|_| FlashFault)));
                        continue;
                    }
                    self.transfer(addr, len, false)
                }
                Step::Read { addr, len } => self.transfer(addr, len, false),
                Step::Program { addr, len } => self.transfer(addr, len, true),
                Step::Erase { region } => u32::try_from(region)
                    .ok()
                    .is_some_and(|unit| self.flash.erase(unit).is_ok()),
            };
            if accepted {
                return;
            }
            step = self.engine_call(Call::Resume(Err(FlashFault)));
        }
    }

    /// Reads `len` bytes at store offset `addr` into the scratch buffer at
    /// once, if the flash can ([`Flash::read_now`](flash::Flash::read_now));
    /// `None`: it cannot now, use the split-phase read.
    fn read_now(&self, addr: usize, len: usize) -> Option<Result<(), ErrorCode>> {
        let offset = u32::try_from(addr).ok()?;
        let result = self.scratch.map(|buf| match buf.get_mut(..len) {
            Some(dst) => self.flash.read_now(offset, dst),
            None => Err(ErrorCode::SIZE),
        })?;
        match result {
            Err(ErrorCode::NOSUPPORT | ErrorCode::BUSY) => None,
            r => Some(r),
        }
    }

    /// Starts a read or program of `len` bytes of the scratch buffer at
    /// store offset `addr`; whether the flash accepted it.
    fn transfer(&self, addr: usize, len: usize, program: bool) -> bool {
        let (Ok(offset), Some(buf)) = (u32::try_from(addr), self.scratch.take()) else {
            return false;
        };
        let result = if program {
            self.flash.program(offset, buf, len)
        } else {
            self.flash.read(offset, buf, len)
        };
        match result {
            Ok(()) => true,
            Err((_, buf)) => {
                self.scratch.replace(buf);
                false
            }
        }
    }

    /// The engine finished what it was running.
    fn engine_done(&self, result: Result<Output, Error>) {
        match self.phase.get() {
            Phase::Mounting => match result {
                Ok(_) => self.mounted(),
                Err(Error::NotFormatted) if self.config.format_if_blank => {
                    self.phase.set(Phase::BlankCheck(0));
                    self.check_blank(0);
                }
                Err(e) => self.mount_failed(e),
            },
            Phase::Formatting => match result {
                Ok(_) => self.mounted(),
                Err(e) => self.mount_failed(e),
            },
            Phase::Ready if self.started.get() => self.finish_op(result),
            Phase::Ready => self.warm_done(result),
            _ => {}
        }
    }

    fn mounted(&self) {
        self.phase.set(Phase::Ready);
        self.indexing.set(true);
        self.notify_mount(Ok(()));
        // An operation that waited for the mount (not one whose failure is
        // already waiting to be delivered).
        let waiting = self.done.is_none()
            && self
                .op
                .get()
                .is_some_and(|op| op != ClientOp::GenerateKey && !self.started.get());
        let idle = self.engine.map_or(false, |kv| !kv.busy());
        if waiting && idle && self.phase.get() == Phase::Ready {
            self.start_op();
        } else if self.op.is_none() {
            self.warm_later();
        }
    }

    fn mount_failed(&self, error: Error) {
        self.phase.set(Phase::Failed(error));
        let code = error_code(error);
        self.notify_mount(Err(code));
        let waiting = self
            .op
            .get()
            .is_some_and(|op| op != ClientOp::GenerateKey && !self.started.get());
        if waiting && self.done.is_none() {
            self.complete(Outcome::err(code));
        }
    }

    /// Reads the store area from `offset` on, checking that it is erased,
    /// then formats. Up to [`READS_NOW_PER_BURST`] reads are done at once
    /// per call, the next one split-phase.
    fn check_blank(&self, mut offset: u32) {
        let mut reads_now = 0;
        loop {
            if offset >= self.store_len {
                return self.start_format();
            }
            let Some(buf) = self.scratch.take() else {
                return self.mount_failed(Error::Protocol);
            };
            let len = buf.len().min((self.store_len - offset) as usize);
            if reads_now < READS_NOW_PER_BURST {
                let read = match buf.get_mut(..len) {
                    Some(dst) => self.flash.read_now(offset, dst),
                    None => Err(ErrorCode::SIZE),
                };
                match read {
                    Ok(()) => {
                        reads_now += 1;
                        let blank = erased(&buf[..len]);
                        self.scratch.replace(buf);
                        if !blank {
                            return self.mount_failed(Error::NotFormatted);
                        }
                        offset = offset.saturating_add(len as u32);
                        self.phase.set(Phase::BlankCheck(offset));
                        continue;
                    }
                    // Not at once now: split-phase, below.
                    Err(ErrorCode::NOSUPPORT | ErrorCode::BUSY) => {}
                    Err(_) => {
                        self.scratch.replace(buf);
                        return self.mount_failed(Error::Flash(FlashOp::Read));
                    }
                }
            }
            if let Err((_, buf)) = self.flash.read(offset, buf, len) {
                self.scratch.replace(buf);
                self.mount_failed(Error::Flash(FlashOp::Read));
            }
            return;
        }
    }

    fn blank_checked(&self, offset: u32, len: usize, result: Result<(), flash::Error>) {
        let blank = self
            .scratch
            .map_or(false, |buf| buf.get(..len).is_some_and(erased));
        match result {
            Err(_) => self.mount_failed(Error::Flash(FlashOp::Read)),
            Ok(()) if !blank => self.mount_failed(Error::NotFormatted),
            Ok(()) => {
                let next = offset.saturating_add(len as u32);
                self.phase.set(Phase::BlankCheck(next));
                self.check_blank(next);
            }
        }
    }

    /// Completes the client operation the engine just finished.
    fn finish_op(&self, result: Result<Output, Error>) {
        let op = self.op.get();
        if let (Some(ClientOp::NextKey), Ok(Output::Key { key, len })) = (op, result) {
            // The walk found a key: read its prefix next.
            self.item.set((key, len));
            self.op.set(ClientOp::ItemPrefix);
            return self.start_op();
        }
        let outcome = match (op, result) {
            (Some(ClientOp::Get), Ok(Output::Value { len })) => {
                let room = self.value.map_or(0, |v| v.len());
                Outcome {
                    result: if len > room {
                        Err(ErrorCode::SIZE)
                    } else {
                        Ok(())
                    },
                    len,
                }
            }
            (Some(ClientOp::ItemPrefix), Ok(Output::Value { len })) => Outcome {
                result: Ok(()),
                len,
            },
            (Some(ClientOp::NextKey), Ok(Output::NoMoreKeys)) => Outcome {
                result: Ok(()),
                len: 0,
            },
            (Some(ClientOp::Gc), Ok(Output::Freed(freed))) => Outcome {
                result: Ok(()),
                len: freed,
            },
            (Some(ClientOp::Add | ClientOp::Set | ClientOp::Update | ClientOp::Delete), Ok(_)) => {
                Outcome {
                    result: Ok(()),
                    len: 0,
                }
            }
            (_, Ok(_)) => Outcome::err(ErrorCode::FAIL),
            (_, Err(e)) => Outcome::err(error_code(e)),
        };
        self.started.set(false);
        self.complete(outcome);
    }

    /// A flash request finished: resume the engine.
    fn flash_done(&self, result: Result<(), flash::Error>) {
        if !self.engine.map_or(false, |kv| kv.busy()) {
            return; // Nothing was asked for.
        }
        let step = self.engine_call(Call::Resume(result.map_err(|_| FlashFault)));
        self.issue(step, 0);
    }

    // -----------------------------------------------------------------
    // Hashing
    // -----------------------------------------------------------------

    /// Hashing failed: forget the partial data and complete with `code`.
    fn hash_failed(&self, code: ErrorCode) {
        self.hasher.clear_data();
        self.complete(Outcome::err(code));
    }
}

impl<'a> KVSystem<'a> for TicKVSystem<'a> {
    type K = Key;

    fn set_client(&self, client: &'a dyn KVSystemClient<Key>) {
        self.client.set(client);
    }

    fn generate_key(
        &self,
        unhashed_key: SubSliceMut<'static, u8>,
        key: &'static mut Key,
    ) -> Result<(), (SubSliceMut<'static, u8>, &'static mut Key, ErrorCode)> {
        if self.op.is_some() {
            return Err((unhashed_key, key, ErrorCode::BUSY));
        }
        if unhashed_key.is_empty() {
            return Err((unhashed_key, key, ErrorCode::INVAL));
        }
        let window = (unhashed_key.start(), unhashed_key.len());
        match self.hasher.add_mut_data(unhashed_key) {
            Ok(n) => {
                self.window.set(window);
                self.hashed.set(0);
                self.adding.set(n);
                self.key.replace(key);
                self.op.set(ClientOp::GenerateKey);
                if self.phase.get() == Phase::Unmounted {
                    // Mount in the background, ready for the request that
                    // will use the key.
                    self.guarded(|| self.start_mount());
                }
                Ok(())
            }
            Err((code, mut data)) => {
                data.reset();
                data.slice(window.0..window.0 + window.1);
                Err((data, key, code))
            }
        }
    }

    fn generate_key_now(&self, unhashed_key: &[u8], key: &mut Key) -> Result<(), ErrorCode> {
        if self.op.is_some() {
            return Err(ErrorCode::BUSY);
        }
        if unhashed_key.is_empty() {
            return Err(ErrorCode::INVAL);
        }
        // An unmounted store mounts when the request using the key starts.
        self.hasher.digest_now(unhashed_key, key)
    }

    fn append_key(
        &self,
        key: &'static mut Key,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Key, SubSliceMut<'static, u8>, ErrorCode)> {
        self.write(ClientOp::Add, key, value)
    }

    fn get_value(
        &self,
        key: &'static mut Key,
        ret_buf: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Key, SubSliceMut<'static, u8>, ErrorCode)> {
        if let Err(code) = self.admit(None) {
            return Err((key, ret_buf, code));
        }
        self.key.replace(key);
        self.value.put(ret_buf);
        self.launch(ClientOp::Get);
        Ok(())
    }

    fn invalidate_key(&self, key: &'static mut Key) -> Result<(), (&'static mut Key, ErrorCode)> {
        if let Err(code) = self.admit(None) {
            return Err((key, code));
        }
        self.key.replace(key);
        self.launch(ClientOp::Delete);
        Ok(())
    }

    fn garbage_collect(&self) -> Result<(), ErrorCode> {
        self.admit(None)?;
        self.launch(ClientOp::Gc);
        Ok(())
    }

    fn next_item(
        &self,
        after: Option<u64>,
        prefix: SubSliceMut<'static, u8>,
    ) -> Result<(), (SubSliceMut<'static, u8>, ErrorCode)> {
        if let Err(code) = self.admit(None) {
            return Err((prefix, code));
        }
        self.item_after.set(after);
        self.value.put(prefix);
        self.launch(ClientOp::NextKey);
        Ok(())
    }
}

impl TicKVSystem<'_> {
    fn write(
        &self,
        op: ClientOp,
        key: &'static mut Key,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Key, SubSliceMut<'static, u8>, ErrorCode)> {
        if let Err(code) = self.admit(Some(value.len())) {
            return Err((key, value, code));
        }
        self.key.replace(key);
        self.value.put(value);
        self.launch(op);
        Ok(())
    }
}

impl<'a> KVSystemExt<'a> for TicKVSystem<'a> {
    fn set_value(
        &self,
        key: &'static mut Key,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Key, SubSliceMut<'static, u8>, ErrorCode)> {
        self.write(ClientOp::Set, key, value)
    }

    fn update_value(
        &self,
        key: &'static mut Key,
        value: SubSliceMut<'static, u8>,
    ) -> Result<(), (&'static mut Key, SubSliceMut<'static, u8>, ErrorCode)> {
        self.write(ClientOp::Update, key, value)
    }
}

impl FlashClient for TicKVSystem<'_> {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), flash::Error>) {
        self.scratch.replace(buf);
        if let Phase::BlankCheck(offset) = self.phase.get() {
            return self.blank_checked(offset, len, result);
        }
        self.flash_done(result);
    }

    fn program_done(&self, buf: &'static mut [u8], _len: usize, result: Result<(), flash::Error>) {
        self.scratch.replace(buf);
        self.flash_done(result);
    }

    fn erase_done(&self, _unit: u32, result: Result<(), flash::Error>) {
        self.flash_done(result);
    }
}

impl HasherClient<8> for TicKVSystem<'_> {
    fn add_mut_data_done(&self, result: Result<(), ErrorCode>, data: SubSliceMut<'static, u8>) {
        if self.op.get() != Some(ClientOp::GenerateKey) {
            return;
        }
        self.unhashed.put(data);
        if let Err(code) = result {
            return self.hash_failed(code);
        }
        if self.adding.get() == 0 {
            // A hasher that takes nothing would never finish.
            return self.hash_failed(ErrorCode::FAIL);
        }
        let hashed = self.hashed.get() + self.adding.get();
        self.hashed.set(hashed);
        let (start, len) = self.window.get();
        if hashed < len {
            let Some(mut data) = self.unhashed.take() else {
                return self.hash_failed(ErrorCode::FAIL);
            };
            data.reset();
            data.slice(start + hashed..start + len);
            match self.hasher.add_mut_data(data) {
                Ok(n) => self.adding.set(n),
                Err((code, data)) => {
                    self.unhashed.put(data);
                    self.hash_failed(code);
                }
            }
        } else {
            let Some(key) = self.key.take() else {
                return self.hash_failed(ErrorCode::FAIL);
            };
            if let Err((code, key)) = self.hasher.run(key) {
                self.key.replace(key);
                self.hash_failed(code);
            }
        }
    }

    fn hash_done(&self, result: Result<(), ErrorCode>, digest: &'static mut [u8; 8]) {
        if self.op.get() != Some(ClientOp::GenerateKey) {
            return;
        }
        self.key.replace(digest);
        self.complete(Outcome { result, len: 0 });
    }
}

impl DeferredCallClient for TicKVSystem<'_> {
    fn handle_deferred_call(&self) {
        if let Some(result) = self.mount_note.take() {
            self.mount_client.map(|c| c.mount_done(result));
        }
        if let Some(outcome) = self.done.take() {
            self.deliver(outcome);
        }
        if self.warm_due.take() {
            let idle = self.op.is_none() && self.engine.map_or(false, |kv| !kv.busy());
            if idle && self.phase.get() == Phase::Ready {
                self.start_warm(WARM_RECORDS);
            }
        }
    }
}
