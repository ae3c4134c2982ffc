//! The key-value syscall driver, number `0x50003`: persistent key-value
//! storage for apps, under per-app storage permissions.
//!
//! The app-facing reference (every command, allow, upcall and error) is
//! `doc/syscalls/50003_key_value.md`; this page is about the implementation.
//!
//! # Interface summary
//!
//! | | number | |
//! |---|---|---|
//! | command | 0 | exists: Success |
//! | command | 1 | GET: key in RO allow 0, value into RW allow 0 |
//! | command | 2 / 4 / 5 | SET / ADD / UPDATE: key in RO allow 0, value in RO allow 1 |
//! | command | 3 | DELETE: key in RO allow 0 |
//! | command | 6 | garbage collect |
//! | subscribe | 0 | completion: `(status, value_len, 0)` |
//!
//! # Command-time checks
//!
//! In this order; the first that fails answers and changes nothing:
//!
//! 1. command 0: `Success`; numbers other than 1-6: `NOSUPPORT`;
//! 2. the grant cannot be allocated: `NOMEM`;
//! 3. the app already has a request pending (waiting or running): `NOMEM`;
//! 4. SET / ADD / UPDATE / garbage collect by an app without a write id:
//!    `INVAL`;
//! 5. commands 1-5: an empty (or missing) key in RO 0 is `INVAL` (it names
//!    nothing, and the store would refuse it as an invalid argument); a
//!    key longer than [`KEY_MAX`] is `SIZE`;
//! 6. SET / ADD / UPDATE: a value in RO 1 longer than `VALUE_MAX` is
//!    `SIZE`. An empty or missing RO 1 is an empty value, which is stored.
//!
//! GET does not look at RW 0 when it is issued: without one it still
//! runs, and answers `(SIZE, full length)` (or `(0, 0)` for an empty
//! value) with nothing copied.
//!
//! # Requests are read when they start
//!
//! An accepted command leaves only its operation and a ticket number in
//! the app's grant ([`App`]). The key (up to [`KEY_MAX`] bytes) and value
//! (up to the board's `VALUE_MAX`, at least [`UPSTREAM_VALUE_MAX`]) stay in
//! the app's RO allows 0 and 1 and are copied into the kernel buffers when
//! the request *starts*: at once, inside the command, when the store is
//! free; otherwise when the request's turn comes. Upstream Tock's driver
//! behaves the same way.
//!
//! So until its upcall arrives, an app should leave RO 0 and RO 1 (and
//! the memory they cover) alone. If it changes them anyway:
//!
//! - the request uses the buffers as they are when it starts, read in one
//!   kernel step: a whole key and a whole value, never a mix of old and
//!   new bytes (the app cannot run while the kernel copies);
//! - if they no longer make a valid request (key revoked or empty: `INVAL`;
//!   key over [`KEY_MAX`] or value over `VALUE_MAX`: `SIZE`), the request
//!   ends with that error in its upcall and the store is not touched.
//!
//! Only GET writes to the app afterwards: the value goes into whatever RW
//! allow 0 is when the request *completes*.
//!
//! The driver owns one key buffer and one value buffer (given at
//! construction), so one request runs at a time. When the store is free,
//! the driver serves the pending request with the smallest ticket (the
//! oldest), visiting the apps with `Grant::each`: apps are served strictly
//! in the order their commands were accepted. Each app may have one
//! request pending (waiting or running); another command answers `NOMEM`.
//!
//! # Completion
//!
//! Every accepted command ends in exactly one upcall on subscribe 0 (lost
//! only if the app's upcall queue is full), including requests the store
//! refuses synchronously when they are started. A request is never
//! started twice.
//!
//! If the app exits, faults or restarts while its request waits, the
//! request vanishes with the app's grant. If it happens while the request
//! runs, the result is dropped when it arrives (the old `ProcessId` no
//! longer enters the grant; a restarted app has a new id and a fresh, empty
//! grant), the kernel buffers come back and the next app's request starts.
//! Nothing stays busy.
//!
//! # Grant memory
//!
//! The grant of each app that uses the driver takes `8 * 4` bytes of slots
//! (1 upcall, 2 read-only and 1 read-write allow) plus [`App::SIZE`] = 6
//! bytes of data, rounded up to a word: 40 bytes in all
//! (`components::kv_stack::GRANT_BYTES`), whatever the board's
//! `VALUE_MAX`, out of the app's grant region (elf2tab `--kernel-heap`).
//! If it does not fit, every command but 0 answers `NOMEM`.
//!
//! # Board setup
//!
//! ```text
//! let grant = kernel.create_grant::<kv_driver::App>(kv_driver::DRIVER_NUM, kv_driver::ALLOW_COUNTS)?;
//! // KEY: StaticCell<[u8; KEY_MAX]>; VALUE: StaticCell<[u8; 512]>;
//! // DRIVER: StaticCell<KVStoreDriver<'static, 503>>
//! let key_buf = KEY.init([0; kv_driver::KEY_MAX]);
//! let value_buf = VALUE.init([0; 512]); // header_size() + 503
//! let driver = DRIVER.init(KVStoreDriver::new(driver_user, grant, key_buf, value_buf)?);
//! driver_user.set_client(driver);
//! ```
//!
//! The key buffer's length is enforced by its type; a value buffer too
//! short for `header_size() + VALUE_MAX` is refused by
//! [`KVStoreDriver::new`] with [`ValueBufferTooShort`]. The whole stack can
//! be wired in one call with `components::kv_stack` (`boards/components`).

use core::cell::Cell;

use kernel::errorcode::status_code;
use kernel::grant::{AllowCounts, Grant, GrantData, GrantKernelData};
use kernel::hil::kv::{KVClient, KVPermissions};
use kernel::process::ProcessId;
use kernel::storage_permissions::StoragePermissions;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::utilities::SubSliceMut;
use kernel::ErrorCode;
use tock_cells::{OptionalCell, TakeCell};

/// The driver number.
pub const DRIVER_NUM: u32 = 0x50003;

/// The longest key, in bytes.
pub const KEY_MAX: usize = 64;

/// The value limit of upstream Tock (a 512-byte kernel buffer minus the
/// 9-byte owner header); boards may choose more, never less.
pub const UPSTREAM_VALUE_MAX: usize = 503;

/// The upcall and allow slots of the driver's grant.
pub const ALLOW_COUNTS: AllowCounts = AllowCounts {
    upcalls: 1,
    read_only: 2,
    read_write: 1,
    userspace_readable: 0,
};

/// Command numbers.
pub mod command {
    /// Does the driver exist?
    pub const EXISTS: u32 = 0;
    /// Read a value.
    pub const GET: u32 = 1;
    /// Insert or overwrite a value.
    pub const SET: u32 = 2;
    /// Delete a value.
    pub const DELETE: u32 = 3;
    /// Insert a value whose key does not exist yet.
    pub const ADD: u32 = 4;
    /// Overwrite a value whose key exists.
    pub const UPDATE: u32 = 5;
    /// Reclaim the space of deleted and overwritten values.
    pub const GARBAGE_COLLECT: u32 = 6;
}

/// Read-only allow numbers.
pub mod ro_allow {
    /// The key (the whole buffer).
    pub const KEY: u32 = 0;
    /// The value to store (the whole buffer).
    pub const VALUE: u32 = 1;
}

/// Read-write allow numbers.
pub mod rw_allow {
    /// Receives the value of a GET.
    pub const VALUE: u32 = 0;
}

/// Subscribe numbers.
pub mod upcall {
    /// Completion of every request: `(status, value_len, 0)`.
    pub const DONE: u32 = 0;
}

/// A request the driver carries out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    Delete,
    Add,
    Update,
    GarbageCollect,
}

impl Op {
    /// The request a command number asks for (0 and unknown: none).
    fn from_command(n: u32) -> Option<Op> {
        Some(match n {
            command::GET => Op::Get,
            command::SET => Op::Set,
            command::DELETE => Op::Delete,
            command::ADD => Op::Add,
            command::UPDATE => Op::Update,
            command::GARBAGE_COLLECT => Op::GarbageCollect,
            _ => return None,
        })
    }

    fn number(self) -> u8 {
        (match self {
            Op::Get => command::GET,
            Op::Set => command::SET,
            Op::Delete => command::DELETE,
            Op::Add => command::ADD,
            Op::Update => command::UPDATE,
            Op::GarbageCollect => command::GARBAGE_COLLECT,
        }) as u8
    }

    /// Whether the request carries a value (and so needs a write id).
    fn writes(self) -> bool {
        matches!(self, Op::Set | Op::Add | Op::Update)
    }

    /// Whether the request names a key.
    fn has_key(self) -> bool {
        self != Op::GarbageCollect
    }
}

/// Where an app's request is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Status {
    /// No request.
    #[default]
    Idle,
    /// Accepted, waiting for the store.
    Queued,
    /// Running in the store.
    Running,
}

/// The driver's data in each app's grant: where the app's one request is,
/// and its place in the queue. Keys and values stay in the app's allowed
/// buffers until the request starts.
///
/// Encoded as (little-endian), 6 bytes:
///
/// ```text
/// 0       status: 0 idle, 1 queued, 2 running
/// 1..5    ticket (u32)
/// 5       operation (the command number)
/// ```
///
/// A block of zeroes is an idle app. Bytes that decode to nothing
/// sensible (which only a kernel bug could produce: grant memory is not
/// accessible to the app) decode as idle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct App {
    status: Status,
    ticket: u32,
    op: Option<Op>,
}

/// Offsets of the encoded [`App`].
const TICKET: usize = 1;
const OP: usize = 5;

impl GrantData for App {
    const SIZE: usize = OP + 1;

    fn load(b: &[u8]) -> Self {
        let (Some(&status), Some(ticket), Some(&op)) =
            (b.first(), b.get(TICKET..TICKET + 4), b.get(OP))
        else {
            return App::default();
        };
        let status = match status {
            1 => Status::Queued,
            2 => Status::Running,
            _ => Status::Idle,
        };
        let op = Op::from_command(u32::from(op));
        if status == Status::Idle || op.is_none() {
            return App::default();
        }
        App {
            status,
            ticket: u32::from_le_bytes([ticket[0], ticket[1], ticket[2], ticket[3]]),
            op,
        }
    }

    fn store(&self, b: &mut [u8]) {
        if b.len() < Self::SIZE {
            return;
        }
        b[0] = match self.status {
            Status::Idle => 0,
            Status::Queued => 1,
            Status::Running => 2,
        };
        b[TICKET..TICKET + 4].copy_from_slice(&self.ticket.to_le_bytes());
        b[OP] = self.op.map_or(0, Op::number);
    }
}

impl App {
    /// Forgets the request.
    fn clear(&mut self) {
        *self = App::default();
    }
}

/// Fills `to` from the start of `from`; false (nothing copied) if `from`
/// is shorter.
fn copy_prefix(to: &mut [u8], from: &[u8]) -> bool {
    match from.get(..to.len()) {
        Some(from) => {
            to.copy_from_slice(from);
            true
        }
        None => false,
    }
}

/// A request copied out of an app's allows, ready to start.
struct Request {
    op: Op,
    // (16 bits each: the whole request then moves in registers, not
    // through `memcpy`.)
    key_len: u16,
    value_len: u16,
    /// The app's permissions (they live as long as its process slot).
    permissions: &'static StoragePermissions,
}

/// [`KVStoreDriver::new`] was given a value buffer shorter than the
/// store's header plus `VALUE_MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueBufferTooShort {
    /// The bytes the buffer needs.
    pub needed: usize,
    /// The bytes it has.
    pub len: usize,
}

impl From<ValueBufferTooShort> for ErrorCode {
    fn from(_: ValueBufferTooShort) -> ErrorCode {
        ErrorCode::SIZE
    }
}

/// The syscall driver `0x50003` over one [`KVPermissions`] store (usually
/// a [`KVUser`](crate::virtual_kv::KVUser) of a
/// [`MuxKV`](crate::virtual_kv::MuxKV)); see the [module docs](self).
///
/// `VALUE_MAX` is the longest value an app may store or read in one piece
/// (at least [`UPSTREAM_VALUE_MAX`], checked at compile time).
pub struct KVStoreDriver<'a, const VALUE_MAX: usize = UPSTREAM_VALUE_MAX> {
    kv: &'a dyn KVPermissions<'a>,
    apps: Grant<App>,
    key_buf: TakeCell<'static, [u8]>,
    value_buf: TakeCell<'static, [u8]>,
    /// The app whose request the store is running.
    current: OptionalCell<ProcessId>,
    /// The ticket the next accepted command gets.
    next_ticket: Cell<u32>,
    /// Set while requests are being started (guards against re-entry).
    starting: Cell<bool>,
    /// Whether some app may have a request queued. A command that finds
    /// the store idle starts its request at once and queues nothing (an
    /// idle store has no queue: each request ending starts the next), so
    /// only a command arriving while another request runs sets this; the
    /// search for the oldest queued request clears it when it finds none.
    maybe_queued: Cell<bool>,
}

impl<'a, const VALUE_MAX: usize> KVStoreDriver<'a, VALUE_MAX> {
    /// A driver over `kv`, with its grant (created with [`ALLOW_COUNTS`]
    /// for [`DRIVER_NUM`]) and its kernel buffers: `key_buf` holds a key,
    /// `value_buf` the owner header room in front of a value
    /// (`kv.header_size() + VALUE_MAX` bytes or more; use
    /// [`value_buffer_len`](Self::value_buffer_len)). Make the driver
    /// `kv`'s client.
    ///
    /// A `value_buf` that is too short is a board configuration error:
    /// it is refused with [`ValueBufferTooShort`] (nothing is built), so
    /// the board finds it at boot without a kernel panic.
    pub fn new(
        kv: &'a dyn KVPermissions<'a>,
        apps: Grant<App>,
        key_buf: &'static mut [u8; KEY_MAX],
        value_buf: &'static mut [u8],
    ) -> Result<Self, ValueBufferTooShort> {
        const {
            assert!(
                VALUE_MAX >= UPSTREAM_VALUE_MAX,
                "the value limit may not be smaller than upstream Tock's"
            );
            assert!(
                VALUE_MAX <= u16::MAX as usize,
                "a loaded request keeps the value length in 16 bits"
            );
        };
        let needed = Self::value_buffer_len(kv.header_size());
        if value_buf.len() < needed {
            return Err(ValueBufferTooShort {
                needed,
                len: value_buf.len(),
            });
        }
        Ok(KVStoreDriver {
            kv,
            apps,
            key_buf: TakeCell::new(key_buf),
            value_buf: TakeCell::new(value_buf),
            current: OptionalCell::empty(),
            next_ticket: Cell::new(0),
            starting: Cell::new(false),
            maybe_queued: Cell::new(false),
        })
    }

    /// The length the value buffer needs over a store whose values carry
    /// `header_size` bytes of header ([`KVPermissions::header_size`]):
    /// `header_size + VALUE_MAX`.
    pub const fn value_buffer_len(header_size: usize) -> usize {
        header_size + VALUE_MAX
    }

    /// The longest value an app may store.
    pub const fn value_max(&self) -> usize {
        VALUE_MAX
    }

    /// Whether a request is running in the store.
    pub fn is_busy(&self) -> bool {
        self.current.is_some()
    }

    /// The key and value lengths of an `op` request from the app's allows
    /// as they are now, or the error that refuses it: an empty key is
    /// `INVAL`, a key over [`KEY_MAX`] or a value over `VALUE_MAX` is
    /// `SIZE`. Checked when the command arrives and again when the request
    /// starts ([`load`](Self::load) makes the same checks as it copies).
    fn lengths(op: Op, kd: &GrantKernelData<'_>) -> Result<(usize, usize), ErrorCode> {
        let key_len = if op.has_key() {
            match kd.read_only_len(ro_allow::KEY) {
                0 => return Err(ErrorCode::INVAL),
                n if n > KEY_MAX => return Err(ErrorCode::SIZE),
                n => n,
            }
        } else {
            0
        };
        let value_len = if op.writes() {
            kd.read_only_len(ro_allow::VALUE)
        } else {
            0
        };
        if value_len > VALUE_MAX {
            return Err(ErrorCode::SIZE);
        }
        Ok((key_len, value_len))
    }

    /// Checks a command and queues its request: the grant records only
    /// the operation and its ticket.
    fn accept(&self, op: Op, app: &mut App, kd: &GrantKernelData<'_>) -> Result<(), ErrorCode> {
        Self::admissible(op, app, kd)?;
        Self::lengths(op, kd)?;
        self.queue(op, app);
        Ok(())
    }

    /// The checks of a command before its buffers (steps 3 and 4 of the
    /// [module docs](self#command-time-checks)).
    fn admissible(op: Op, app: &App, kd: &GrantKernelData<'_>) -> Result<(), ErrorCode> {
        if app.status != Status::Idle {
            return Err(ErrorCode::NOMEM);
        }
        // Garbage collection compacts and erases: only apps that may write
        // may cause it.
        let needs_write_id = op.writes() || op == Op::GarbageCollect;
        if needs_write_id && kd.storage_permissions().write_id().is_none() {
            return Err(ErrorCode::INVAL);
        }
        Ok(())
    }

    /// Queues an accepted `op` in `app` with the next ticket.
    fn queue(&self, op: Op, app: &mut App) {
        let ticket = self.next_ticket.get();
        self.next_ticket.set(ticket.wrapping_add(1));
        *app = App {
            status: Status::Queued,
            ticket,
            op: Some(op),
        };
    }

    /// Copies `pid`'s queued request out of its allows into the kernel
    /// buffers and marks it running; see [`load`](Self::load).
    fn load_request(
        &self,
        pid: ProcessId,
        key_buf: &mut [u8],
        value_buf: &mut [u8],
    ) -> Result<Option<Request>, ErrorCode> {
        self.apps
            .enter(pid, |app, kd| self.load(app, kd, key_buf, value_buf))
            .unwrap_or(Ok(None))
    }

    /// Copies the queued request of `app` out of its allows into the
    /// kernel buffers and marks it running. `Ok(None)`: its grant holds no
    /// request. `Err`: its allows no longer make a valid request (the
    /// request is over; the caller answers it).
    fn load(
        &self,
        app: &mut App,
        kd: &GrantKernelData<'_>,
        key_buf: &mut [u8],
        value_buf: &mut [u8],
    ) -> Result<Option<Request>, ErrorCode> {
        let header = self.kv.header_size();
        let Some(op) = app.op.filter(|_| app.status == Status::Queued) else {
            app.clear();
            return Ok(None);
        };
        // Each allow is checked and copied in one visit (the same checks
        // as `lengths`, in the same order: key, then value). Both copies
        // happen in this one kernel step: the app cannot run in between,
        // so the store gets a whole key and value (as they are now), never
        // a mix.
        let key_len = if op.has_key() {
            kd.with_read_only(ro_allow::KEY, |k| match k.len() {
                0 => Err(ErrorCode::INVAL),
                n if n > KEY_MAX => Err(ErrorCode::SIZE),
                n => {
                    let room = key_buf.get_mut(..n);
                    Ok(room.is_some_and(|room| copy_prefix(room, k)).then_some(n))
                }
            })
        } else {
            Ok(Ok(Some(0)))
        };
        let value_len = match key_len {
            Ok(Ok(Some(_))) if op.writes() => kd.with_read_only(ro_allow::VALUE, |v| {
                if v.len() > VALUE_MAX {
                    return Err(ErrorCode::SIZE);
                }
                let room = value_buf.get_mut(header..header + v.len());
                Ok(room
                    .is_some_and(|room| copy_prefix(room, v))
                    .then_some(v.len()))
            }),
            _ => Ok(Ok(Some(0))),
        };
        let (key_len, value_len) = match (key_len, value_len) {
            (Ok(Ok(Some(k))), Ok(Ok(Some(v)))) => (k, v),
            (Ok(Err(e)), _) | (_, Ok(Err(e))) => {
                app.clear();
                return Err(e);
            }
            // Cannot happen (both allows are declared, and the kernel
            // buffers have room): the request vanishes.
            _ => {
                app.clear();
                return Ok(None);
            }
        };
        app.status = Status::Running;
        Ok(Some(Request {
            op,
            // Both fit: at most KEY_MAX and VALUE_MAX (checked above; `new`
            // bounds VALUE_MAX at compile time).
            key_len: key_len as u16,
            value_len: value_len as u16,
            permissions: kd.storage_permissions(),
        }))
    }

    /// The app with the oldest queued request.
    fn oldest_queued(&self) -> Option<ProcessId> {
        let now = self.next_ticket.get();
        let mut oldest: Option<(u32, ProcessId)> = None;
        self.apps.each(|pid, app, _| {
            if app.status == Status::Queued {
                // Age since the ticket was drawn: correct across wrapping,
                // since at most one request per app is ever waiting.
                let age = now.wrapping_sub(app.ticket);
                if oldest.is_none_or(|(a, _)| age > a) {
                    oldest = Some((age, pid));
                }
            }
        });
        oldest.map(|(_, pid)| pid)
    }

    /// Starts queued requests, oldest first, until the store accepts one
    /// or none is left. A request the store refuses at once is completed
    /// with an upcall carrying the error.
    fn run_next(&self) {
        if self.current.is_some() || self.starting.get() || !self.maybe_queued.get() {
            return;
        }
        self.starting.set(true);
        loop {
            let Some(pid) = self.oldest_queued() else {
                self.maybe_queued.set(false);
                break;
            };
            let Some((key_buf, value_buf)) = self.take_buffers() else {
                break; // cannot happen: nothing runs, so both are here
            };
            // From here on the request is running and is never started
            // again.
            match self.load_request(pid, key_buf, value_buf) {
                Ok(Some(request)) => {
                    if self.start(pid, request, key_buf, value_buf) {
                        break;
                    }
                }
                Ok(None) => self.give_buffers(key_buf, value_buf),
                Err(e) => {
                    self.give_buffers(key_buf, value_buf);
                    self.complete(pid, Err(e), 0);
                }
            }
        }
        self.starting.set(false);
    }

    /// Hands `pid`'s loaded request to the store; whether the store took
    /// it (if not, the request is answered with the store's refusal).
    fn start(
        &self,
        pid: ProcessId,
        request: Request,
        key_buf: &'static mut [u8],
        value_buf: &'static mut [u8],
    ) -> bool {
        let Request {
            op,
            key_len,
            value_len,
            permissions,
        } = request;
        let header = self.kv.header_size();
        let mut key = SubSliceMut::new(key_buf);
        let (key_len, value_len) = (usize::from(key_len), usize::from(value_len));
        key.slice(..key_len);
        let mut value = SubSliceMut::new(value_buf);
        match op {
            // Room for the longest value this driver hands out; the app's
            // RW buffer is only looked at on completion.
            Op::Get => value.slice(header..header + VALUE_MAX),
            _ => value.slice(header..header + value_len),
        }
        let started = match op {
            Op::Get => self.kv.get(key, value, permissions),
            Op::Set => self.kv.set(key, value, permissions),
            Op::Add => self.kv.add(key, value, permissions),
            Op::Update => self.kv.update(key, value, permissions),
            Op::Delete => {
                self.value_buf.replace(value.take());
                self.kv
                    .delete(key, permissions)
                    .map_err(|(key, e)| (key, SubSliceMut::new(&mut []), e))
            }
            Op::GarbageCollect => {
                self.key_buf.replace(key.take());
                self.value_buf.replace(value.take());
                self.kv
                    .garbage_collect()
                    .map_err(|e| (SubSliceMut::new(&mut []), SubSliceMut::new(&mut []), e))
            }
        };
        match started {
            Ok(()) => {
                self.current.set(pid);
                true
            }
            Err((key, value, e)) => {
                self.put_back(key, value);
                self.complete(pid, Err(e), 0);
                false
            }
        }
    }

    /// A command's request when the store is idle: accepted, loaded and
    /// started in one step, with one entry into the app's grant and no
    /// search for the oldest queued request (an idle store has none).
    fn start_now(&self, op: Op, pid: ProcessId) -> Result<(), ErrorCode> {
        let Some((key_buf, value_buf)) = self.take_buffers() else {
            return Err(ErrorCode::FAIL); // cannot happen: nothing runs
        };
        self.starting.set(true);
        let loaded = self
            .apps
            .enter(pid, |app, kd| {
                // `load` checks the buffers in this same kernel step, so
                // they are visited once, not twice.
                Self::admissible(op, app, kd)?;
                self.queue(op, app);
                self.load(app, kd, key_buf, value_buf)
            })
            .unwrap_or_else(|e| Err(e.into()));
        let result = match loaded {
            Ok(Some(request)) => {
                self.start(pid, request, key_buf, value_buf);
                Ok(())
            }
            // The request is over (its grant holds none now): the command
            // answers, since no upcall will.
            Ok(None) => {
                self.give_buffers(key_buf, value_buf);
                Err(ErrorCode::FAIL)
            }
            Err(e) => {
                self.give_buffers(key_buf, value_buf);
                Err(e)
            }
        };
        self.starting.set(false);
        result
    }

    /// Takes both kernel buffers, or neither: if one is missing the other
    /// is put back, so that none is ever lost.
    fn take_buffers(&self) -> Option<(&'static mut [u8], &'static mut [u8])> {
        match (self.key_buf.take(), self.value_buf.take()) {
            (Some(key), Some(value)) => Some((key, value)),
            (key, value) => {
                key.map(|k| self.key_buf.replace(k));
                value.map(|v| self.value_buf.replace(v));
                None
            }
        }
    }

    /// Puts both kernel buffers back.
    fn give_buffers(&self, key: &'static mut [u8], value: &'static mut [u8]) {
        self.key_buf.replace(key);
        self.value_buf.replace(value);
    }

    /// Returns the kernel buffers lent with a request (empty stand-ins for
    /// the ones not lent are ignored).
    fn put_back(&self, key: SubSliceMut<'static, u8>, value: SubSliceMut<'static, u8>) {
        let key = key.take();
        if !key.is_empty() {
            self.key_buf.replace(key);
        }
        let value = value.take();
        if !value.is_empty() {
            self.value_buf.replace(value);
        }
    }

    /// Ends `pid`'s request with the upcall `(status, value_len, 0)`. A
    /// stale `pid` (the app died or restarted) gets nothing.
    fn complete(&self, pid: ProcessId, result: Result<(), ErrorCode>, value_len: usize) {
        let _ = self.apps.enter(pid, |app, kd| {
            app.clear();
            let _ = kd.schedule_upcall(upcall::DONE, [status_code(result), value_len as u32, 0]);
        });
    }

    /// The store finished the running request: answer its app (if it is
    /// still there) and start the next one.
    fn finish(&self, result: Result<(), ErrorCode>) {
        if let Some(pid) = self.current.take() {
            self.complete(pid, result, 0);
        }
        self.run_next();
    }
}

impl<const VALUE_MAX: usize> SyscallDriver for KVStoreDriver<'_, VALUE_MAX> {
    fn command(&self, command: u32, _: u32, _: u32, pid: ProcessId) -> CommandReturn {
        if command == command::EXISTS {
            return CommandReturn::success();
        }
        let Some(op) = Op::from_command(command) else {
            return CommandReturn::failure(ErrorCode::NOSUPPORT);
        };
        let accepted = if self.current.is_none() && !self.starting.get() {
            self.start_now(op, pid)
        } else {
            let queued = self
                .apps
                .enter(pid, |app, kd| self.accept(op, app, kd))
                .unwrap_or_else(|e| Err(e.into()));
            if queued.is_ok() {
                self.maybe_queued.set(true);
                self.run_next();
            }
            queued
        };
        match accepted {
            Ok(()) => CommandReturn::success(),
            Err(e) => CommandReturn::failure(e),
        }
    }
}

impl<const VALUE_MAX: usize> KVClient for KVStoreDriver<'_, VALUE_MAX> {
    fn get_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
        full_len: usize,
    ) {
        if let Some(pid) = self.current.take() {
            let _ = self.apps.enter(pid, |app, kd| {
                app.clear();
                let (status, len) = match result {
                    Ok(()) | Err(ErrorCode::SIZE) => {
                        // What the store delivered: the value or its prefix.
                        let read = &value.as_slice()[..full_len.min(value.len())];
                        let room = kd
                            .with_read_write(rw_allow::VALUE, |out| {
                                let n = read.len().min(out.len());
                                out[..n].copy_from_slice(&read[..n]);
                                out.len()
                            })
                            .unwrap_or(0);
                        let complete = result.is_ok() && full_len <= read.len();
                        if complete && full_len <= room {
                            (Ok(()), full_len)
                        } else {
                            (Err(ErrorCode::SIZE), full_len)
                        }
                    }
                    Err(e) => (Err(e), 0),
                };
                let _ = kd.schedule_upcall(upcall::DONE, [status_code(status), len as u32, 0]);
            });
        }
        self.put_back(key, value);
        self.run_next();
    }

    fn set_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.put_back(key, value);
        self.finish(result);
    }

    fn add_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.put_back(key, value);
        self.finish(result);
    }

    fn update_complete(
        &self,
        result: Result<(), ErrorCode>,
        key: SubSliceMut<'static, u8>,
        value: SubSliceMut<'static, u8>,
    ) {
        self.put_back(key, value);
        self.finish(result);
    }

    fn delete_complete(&self, result: Result<(), ErrorCode>, key: SubSliceMut<'static, u8>) {
        self.put_back(key, SubSliceMut::new(&mut []));
        self.finish(result);
    }

    fn garbage_collect_complete(&self, result: Result<(), ErrorCode>, _freed_bytes: usize) {
        self.finish(result);
    }
}
