//! Key-value storage, driver `0x50003`: persistent values under byte-string
//! keys, owned by the app that created them (see
//! `doc/syscalls/50003_key_value.md`).
//!
//! | | number | meaning |
//! |---|---|---|
//! | command | 0 | does the driver exist? |
//! | command | 1 | get: key in RO allow 0, value into RW allow 0 |
//! | command | 2 | set: key RO 0, value RO 1 |
//! | command | 3 | delete: key RO 0 |
//! | command | 4 | add (only if absent): key RO 0, value RO 1 |
//! | command | 5 | update (only if present): key RO 0, value RO 1 |
//! | command | 6 | garbage collect |
//! | subscribe | 0 | done: (status, value length, 0) |
//!
//! Every function here is blocking: it shares the key (and value or
//! buffer) and subscribes upcall 0, each in a scope, issues the command,
//! waits with yield-wait-for for the completion upcall (no other upcall
//! runs meanwhile) and decodes it. When it returns, on every path, the
//! allows and the subscription are back to what they were before. So at
//! most one request of the app is ever pending, and the driver's `NOMEM`
//! for a second pending request cannot happen through this module.
//!
//! Errors ([`KvError`]) say whether the kernel refused the command (then
//! nothing happened) or the request ran and failed:
//!
//! | error | when |
//! |---|---|
//! | `Rejected(SIZE)` | key longer than [`KEY_MAX`], value longer than the board's limit (at least [`VALUE_MAX`]) |
//! | `Rejected(INVAL)` | empty key; set/add/update by an app without a write id |
//! | `Rejected(NOMEM)` | the driver's grant does not fit the app's kernel heap (or a request is already pending) |
//! | `Rejected(NODEVICE)` | no key-value driver |
//! | `Failed(NOSUPPORT)` | get/update/delete: no such key, or not readable/modifiable by this app; add: the key exists; set: exists and not modifiable |
//! | `Failed(NOMEM)` | the store is full |
//! | `Failed(SIZE)` | set/add/update: the store cannot hold a value this long |
//! | `Failed(FAIL)`, `Failed(NODEVICE)`, `Failed(BUSY)` | flash failure or corrupt store; no store mounted; store busy |
//! | `Size { full_len }` | get: the value did not fit the buffer (its first `buf.len()` bytes were copied) |

use core::fmt;

use crate::share::{self, UpcallRecord};
use crate::syscall::{command, yield_wait_for, ErrorCode, SyscallReturn};

/// Driver number.
pub const DRIVER: u32 = 0x50003;
/// Read-only allow with the key.
pub const ALLOW_KEY: u32 = 0;
/// Read-only allow with the value to store.
pub const ALLOW_VALUE: u32 = 1;
/// Read-write allow receiving the value of a get.
pub const ALLOW_GET: u32 = 0;
/// Upcall when a request is done: (status, value length, 0).
pub const SUBSCRIBE_DONE: u32 = 0;
/// Command: get.
pub const COMMAND_GET: u32 = 1;
/// Command: set (insert or overwrite).
pub const COMMAND_SET: u32 = 2;
/// Command: delete.
pub const COMMAND_DELETE: u32 = 3;
/// Command: add (insert only).
pub const COMMAND_ADD: u32 = 4;
/// Command: update (overwrite only).
pub const COMMAND_UPDATE: u32 = 5;
/// Command: garbage collect.
pub const COMMAND_GC: u32 = 6;

/// The longest key, in bytes.
pub const KEY_MAX: usize = 64;
/// The longest value every board accepts, in bytes (upstream Tock's limit;
/// a board may accept longer ones).
pub const VALUE_MAX: usize = 503;

/// Why a key-value request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvError {
    /// The kernel refused the command (or the allow or subscribe before
    /// it): nothing was queued, nothing changed, no upcall came.
    Rejected(ErrorCode),
    /// The request was accepted and ran; the completion upcall reported
    /// this error. For get, `SIZE` comes as [`KvError::Size`] instead.
    Failed(ErrorCode),
    /// Get: the value is `full_len` bytes, more than the buffer; the
    /// buffer holds its first `buf.len()` bytes.
    Size {
        /// The length of the whole stored value.
        full_len: usize,
    },
}

impl KvError {
    /// The error code, whichever way it came.
    pub fn code(&self) -> ErrorCode {
        match *self {
            KvError::Rejected(e) | KvError::Failed(e) => e,
            KvError::Size { .. } => ErrorCode::Size,
        }
    }

    /// Whether this is the "no such key (or not yours)" answer: `NOSUPPORT`
    /// from the completion upcall.
    pub fn is_not_found(&self) -> bool {
        *self == KvError::Failed(ErrorCode::NoSupport)
    }
}

/// `NOSUPPORT`, `INVAL (rejected)`, `SIZE (full length 10)`.
impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::Rejected(e) => write!(f, "{e} (rejected)"),
            KvError::Failed(e) => write!(f, "{e}"),
            KvError::Size { full_len } => write!(f, "SIZE (full length {full_len})"),
        }
    }
}

impl From<KvError> for ErrorCode {
    fn from(e: KvError) -> ErrorCode {
        e.code()
    }
}

impl From<KvError> for u32 {
    fn from(e: KvError) -> u32 {
        e.code().number()
    }
}

/// Whether the key-value driver is present (command 0).
pub fn exists() -> bool {
    command(DRIVER, 0, 0, 0) == SyscallReturn::Success
}

/// Issues command `cmd` with upcall 0 subscribed and waits for its
/// completion: `(status, value length)`. The allows are the caller's.
fn run(cmd: u32) -> Result<(u32, u32), KvError> {
    // The handler never runs (yield-wait-for takes the upcall off the
    // queue without calling it); subscribing in a scope drops any stale
    // upcall of this number first and again at the end.
    let done = UpcallRecord::new();
    share::subscribe(DRIVER, SUBSCRIBE_DONE, &done, || {
        command(DRIVER, cmd, 0, 0)
            .into_success()
            .map_err(KvError::Rejected)?;
        let (status, len, _) = yield_wait_for(DRIVER, SUBSCRIBE_DONE);
        Ok((status, len))
    })
    .map_err(KvError::Rejected)?
}

/// A request that only reports success or failure.
fn status_only(cmd: u32) -> Result<(), KvError> {
    let (status, _) = run(cmd)?;
    ErrorCode::from_status(status).map_err(KvError::Failed)
}

/// Runs `body` with `key` shared as RO allow 0.
fn with_key<R>(key: &[u8], body: impl FnOnce() -> Result<R, KvError>) -> Result<R, KvError> {
    share::allow_ro(DRIVER, ALLOW_KEY, key, body).map_err(KvError::Rejected)?
}

/// A set, add or update of `value` under `key`.
fn store(cmd: u32, key: &[u8], value: &[u8]) -> Result<(), KvError> {
    with_key(key, || {
        share::allow_ro(DRIVER, ALLOW_VALUE, value, || status_only(cmd))
            .map_err(KvError::Rejected)?
    })
}

/// Reads the value of `key` into the start of `buf`; returns its length.
///
/// If the value is longer than `buf`, `buf` holds its first `buf.len()`
/// bytes and the answer is `Err(KvError::Size { full_len })` with the
/// length of the whole value: call again with a buffer that big. (With an
/// empty `buf` this only asks for the length; see [`value_len`].) Bytes of
/// `buf` after the value are left as they were. `Failed(NOSUPPORT)`: no
/// such key, or this app may not read it.
pub fn get(key: &[u8], buf: &mut [u8]) -> Result<usize, KvError> {
    with_key(key, || {
        let (status, len) = share::allow_rw(DRIVER, ALLOW_GET, buf, || run(COMMAND_GET))
            .map_err(KvError::Rejected)??;
        match ErrorCode::from_status(status) {
            Ok(()) => Ok(len as usize),
            Err(ErrorCode::Size) => Err(KvError::Size {
                full_len: len as usize,
            }),
            Err(e) => Err(KvError::Failed(e)),
        }
    })
}

/// The length of the value of `key`, without reading it (a get into an
/// empty buffer).
pub fn value_len(key: &[u8]) -> Result<usize, KvError> {
    match get(key, &mut []) {
        Ok(len) => Ok(len),
        Err(KvError::Size { full_len }) => Ok(full_len),
        Err(e) => Err(e),
    }
}

/// Stores `value` under `key`: creates the key (owned by this app's write
/// id), or overwrites it if this app may modify it (the value keeps its
/// owner). An empty `value` stores an empty value.
pub fn set(key: &[u8], value: &[u8]) -> Result<(), KvError> {
    store(COMMAND_SET, key, value)
}

/// Creates `key` with `value`; `Failed(NOSUPPORT)` if the key exists
/// (whoever owns it).
pub fn add(key: &[u8], value: &[u8]) -> Result<(), KvError> {
    store(COMMAND_ADD, key, value)
}

/// Overwrites the value of an existing `key`; `Failed(NOSUPPORT)` if there
/// is no such key or this app may not modify it.
pub fn update(key: &[u8], value: &[u8]) -> Result<(), KvError> {
    store(COMMAND_UPDATE, key, value)
}

/// Deletes `key`; `Failed(NOSUPPORT)` if there is no such key or this app
/// may not modify it. Needs no write id.
pub fn delete(key: &[u8]) -> Result<(), KvError> {
    with_key(key, || status_only(COMMAND_DELETE))
}

/// Asks the store to reclaim the space of deleted and overwritten values
/// (command 6); needs no permission. Returns when the store is done.
pub fn gc() -> Result<(), KvError> {
    status_only(COMMAND_GC)
}
