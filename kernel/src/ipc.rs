//! Inter-process communication, driver number `0x10000`, with the
//! semantics of upstream Tock's IPC (what libtock-c's `ipc` library and
//! its unit-test supervisor rely on).
//!
//! A process's IPC id is its slot in the process table (0-based), the
//! number [`ProcessId::index`] gives.
//!
//! | call | number | meaning |
//! |---|---|---|
//! | command | 0 | exists: Success |
//! | command | 1 | discover: the live process whose package name equals RO allow 0 (no NUL) → `Success(u32 id)`; none: `NODEVICE`; no name allowed: `INVAL` |
//! | command | 2 | notify service `arg0`: upcall on the service |
//! | command | 3 | notify client `arg0`: upcall on the client |
//! | subscribe | n | a service subscribes its **own** id for requests; a client subscribes the **service's** id for answers |
//! | RO allow | 0 | the name to discover |
//! | RW allow | n | the buffer shared with process `n` |
//!
//! Notifying process `t` from process `f` queues, on `t`:
//!
//! - command 2 (to a service): upcall number `t`, arguments `(f, len,
//!   ptr)`;
//! - command 3 (to a client): upcall number `f`, arguments `(f, len,
//!   ptr)`;
//!
//! where `(ptr, len)` is `f`'s read-write allow number `t`, or `(0, 0)`
//! if `f` allows nothing there. Notifying a process that is not alive,
//! an id out of range or oneself answers `INVAL`; a full upcall queue on
//! the target answers `NOMEM` (nothing is queued).
//!
//! # Shared memory
//!
//! When a notification carries a buffer, the target gets read-write access
//! to exactly that buffer through the memory protection unit
//! ([`Process::shared_buffers`](crate::process::Process::shared_buffers)),
//! as upstream does, so a service can read and write a client's request
//! in place, also later (libtock-c's supervisor keeps alarm nodes there).
//! Access lasts as long as the owner keeps that exact buffer allowed: it
//! ends, before the target next runs, when the owner re-allows or revokes
//! the slot, exits, faults or restarts. (Upstream keeps the region until
//! the target itself restarts.)
//!
//! A buffer is shared only if the protection unit can open exactly it
//! ([`MemoryProtection::can_share`]: whole words on RISC-V PMP) and the
//! target has fewer than [`MAX_SHARED`](crate::platform::mpu::MAX_SHARED) buffers open; otherwise the
//! upcall carries `(f, 0, 0)`, so the target never receives a pointer it
//! cannot use. (A notification refused for a full queue may still leave
//! the buffer open to the target: the owner allowed it for exactly that
//! target.) A buffer can only ever be inside the owner's own
//! app memory (the kernel checks every read-write allow against it and the
//! break cannot move below an allowed buffer), never its grant region.

use crate::grant::{AllowCounts, Grant};
use crate::platform::mpu::MemoryProtection;
use crate::process::{ProcessId, SharedBuffer};
use crate::syscall_driver::{CommandReturn, SyscallDriver};
use crate::{ErrorCode, Kernel};

/// The driver number.
pub const DRIVER_NUM: u32 = 0x1_0000;

/// The upcall and allow slots of the IPC grant for a kernel with
/// `processes` process slots: one upcall and one read-write allow per
/// possible peer, one read-only allow (the name to discover).
pub const fn allow_counts(processes: u8) -> AllowCounts {
    AllowCounts {
        upcalls: processes,
        read_only: 1,
        read_write: processes,
        userspace_readable: 0,
    }
}

/// Command numbers.
pub mod command {
    /// Does the driver exist?
    pub const EXISTS: u32 = 0;
    /// Find a process by package name.
    pub const DISCOVER: u32 = 1;
    /// Notify a service.
    pub const NOTIFY_SERVICE: u32 = 2;
    /// Notify a client.
    pub const NOTIFY_CLIENT: u32 = 3;
}

/// Which side is notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Service,
    Client,
}

/// The IPC driver; see the [module docs](self).
pub struct Ipc {
    kernel: &'static Kernel,
    grant: Grant<()>,
    protection: &'static dyn MemoryProtection,
}

impl Ipc {
    /// The driver, with its grant (created with [`allow_counts`] of the
    /// kernel's process count, for [`DRIVER_NUM`]) and the board's
    /// protection unit (asked which buffers it can share).
    pub fn new(
        kernel: &'static Kernel,
        grant: Grant<()>,
        protection: &'static dyn MemoryProtection,
    ) -> Ipc {
        Ipc {
            kernel,
            grant,
            protection,
        }
    }

    fn discover(&self, caller: ProcessId) -> CommandReturn {
        let found = self.grant.enter(caller, |_, kd| {
            kd.with_read_only(0, |name| {
                if name.is_empty() {
                    return Err(ErrorCode::INVAL);
                }
                self.kernel
                    .processes()
                    .filter(|p| p.state().is_alive())
                    .find(|p| p.name().as_bytes() == name)
                    .and_then(|p| p.processid())
                    .map(|pid| pid.index() as u32)
                    .ok_or(ErrorCode::NODEVICE)
            })
        });
        match found {
            Ok(Ok(Ok(id))) => CommandReturn::success_u32(id),
            Ok(Ok(Err(e)) | Err(e)) => CommandReturn::failure(e),
            Err(e) => CommandReturn::failure(e.into()),
        }
    }

    /// The live process with IPC id `id`, unless it is `caller`.
    fn peer(&self, caller: ProcessId, id: u32) -> Option<ProcessId> {
        let pid = self
            .kernel
            .processes()
            .nth(id as usize)?
            .processid()
            .filter(|pid| self.kernel.process(*pid).is_some())?;
        (pid != caller).then_some(pid)
    }

    fn notify(&self, caller: ProcessId, target_id: u32, side: Side) -> CommandReturn {
        let Some(target) = self.peer(caller, target_id) else {
            return CommandReturn::failure(ErrorCode::INVAL);
        };
        let from = caller.index() as u32;
        // The caller's buffer for the target, if it can be opened to the
        // target exactly.
        let buffer = self
            .kernel
            .read_write_allow(caller, DRIVER_NUM, target_id)
            .filter(|r| self.protection.can_share(*r));
        let shared = buffer.filter(|range| {
            self.kernel.process(target).is_some_and(|p| {
                p.share(SharedBuffer {
                    owner: caller,
                    driver: DRIVER_NUM,
                    allow: target_id,
                    range: *range,
                })
            })
        });
        let (ptr, len) = shared.map_or((0, 0), |r| (r.start, r.len));
        let subscribe = match side {
            Side::Service => target_id,
            Side::Client => from,
        };
        let queued = self.grant.enter(target, |_, kd| {
            kd.schedule_upcall(subscribe, [from, len, ptr])
        });
        match queued {
            Ok(Ok(())) => CommandReturn::success(),
            Ok(Err(_)) => CommandReturn::failure(ErrorCode::NOMEM),
            Err(e) => CommandReturn::failure(e.into()),
        }
    }
}

impl SyscallDriver for Ipc {
    fn command(&self, command: u32, arg0: u32, _: u32, caller: ProcessId) -> CommandReturn {
        match command {
            command::EXISTS => CommandReturn::success(),
            command::DISCOVER => self.discover(caller),
            command::NOTIFY_SERVICE => self.notify(caller, arg0, Side::Service),
            command::NOTIFY_CLIENT => self.notify(caller, arg0, Side::Client),
            _ => CommandReturn::failure(ErrorCode::NOSUPPORT),
        }
    }
}
