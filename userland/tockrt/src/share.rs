//! Subscribe and allow, scoped.
//!
//! Handing the kernel an upcall or a buffer is only sound while the
//! handler or buffer lives and (for read-write buffers) nothing else uses
//! it. The functions here take the handler or buffer by reference, run a
//! closure while the kernel holds it, and take it back when the closure
//! returns, whichever way it returns: the borrow checker then guarantees
//! the rest. Scopes nest; leaving one puts back what the kernel held when
//! it began (nothing, outside nested scopes on the same number).
//!
//! ```ignore
//! let done = UpcallRecord::new();
//! let written = allow_ro(1, 1, b"hi\n", || {
//!     subscribe(1, 1, &done, || {
//!         command(1, 1, 3, 0).into_success()?;
//!         Ok::<_, ErrorCode>(wait_for_upcall(&done)[0])
//!     })?
//! })??;
//! ```
//!
//! The unscoped functions at the end ([`subscribe_fn`],
//! [`allow_ro_static`], the revokes) are safe for the values they accept
//! and give the raw kernel answers, for tests of the ABI itself.

use core::cell::Cell;

use crate::syscall::{self, class, yield_wait, ErrorCode, SyscallReturn};

/// An upcall handler: the kernel calls `upcall` from a yield with the three
/// arguments the driver passed.
pub trait Upcall {
    /// Handles one upcall.
    fn upcall(&self, arg0: u32, arg1: u32, arg2: u32);
}

/// The shape of an upcall function: three arguments and the app data.
pub type UpcallFn = extern "C" fn(u32, u32, u32, usize);

/// An [`Upcall`] that records what arrived: how many upcalls, and the
/// arguments of the last one not yet taken.
#[derive(Debug, Default)]
pub struct UpcallRecord {
    count: Cell<u32>,
    last: Cell<Option<[u32; 3]>>,
}

impl UpcallRecord {
    /// A record of nothing.
    pub const fn new() -> UpcallRecord {
        UpcallRecord {
            count: Cell::new(0),
            last: Cell::new(None),
        }
    }

    /// Upcalls handled so far.
    pub fn count(&self) -> u32 {
        self.count.get()
    }

    /// The arguments of the last upcall, leaving them in place.
    pub fn last(&self) -> Option<[u32; 3]> {
        self.last.get()
    }

    /// The arguments of the last upcall, if one arrived since the last
    /// `take`.
    pub fn take(&self) -> Option<[u32; 3]> {
        self.last.take()
    }
}

impl Upcall for UpcallRecord {
    fn upcall(&self, arg0: u32, arg1: u32, arg2: u32) {
        self.count.set(self.count.get().wrapping_add(1));
        self.last.set(Some([arg0, arg1, arg2]));
    }
}

/// Yields (wait) until `record` has an upcall to take, and takes it.
pub fn wait_for_upcall(record: &UpcallRecord) -> [u32; 3] {
    loop {
        if let Some(args) = record.take() {
            return args;
        }
        yield_wait();
    }
}

/// The function the kernel calls for a handler of type `U`; the app data
/// is the handler's address.
extern "C" fn trampoline<U: Upcall>(arg0: u32, arg1: u32, arg2: u32, data: usize) {
    // SAFETY: `subscribe` registered this function with `data` = the
    // address of a `&U` borrowed for the whole subscription, and takes the
    // subscription back (which also drops its queued upcalls) before that
    // borrow ends. Upcalls run only inside a yield, on this thread, so the
    // handler is alive and only shared-borrowed here.
    let handler = unsafe { &*(data as *const U) };
    handler.upcall(arg0, arg1, arg2);
}

/// The error of a failed subscribe or allow; FAIL for an answer that is
/// neither of the two variants the ABI allows.
fn share_error(r: SyscallReturn) -> ErrorCode {
    r.error().unwrap_or(ErrorCode::Fail)
}

/// Subscribe with raw values.
///
/// # Safety
///
/// See [`syscall::syscall4`]: a non-null `f` must be sound to call with
/// `data` from every yield until the subscription is replaced.
unsafe fn raw_subscribe(driver: u32, num: u32, f: u32, data: u32) -> SyscallReturn {
    // SAFETY: the caller's contract.
    SyscallReturn::decode(unsafe { syscall::syscall4(class::SUBSCRIBE, [driver, num, f, data]) })
}

/// Allow of class `class` with raw values.
///
/// # Safety
///
/// See [`syscall::syscall4`]: the kernel may use the buffer as its class
/// says until it is replaced.
unsafe fn raw_allow(class: u32, driver: u32, num: u32, ptr: u32, len: u32) -> SyscallReturn {
    // SAFETY: the caller's contract.
    SyscallReturn::decode(unsafe { syscall::syscall4(class, [driver, num, ptr, len]) })
}

/// Gives the kernel back `previous` (an upcall or buffer it held before a
/// scope) for `(driver, num)`; if that fails, leaves nothing. Never returns
/// while the kernel could still use what the scope shared.
///
/// # Safety
///
/// `previous` must be what the kernel answered when the scope began (so it
/// is as sound to hand back as it was then), and `put` must perform the
/// subscribe or allow.
unsafe fn restore(previous: (u32, u32), put: impl Fn(u32, u32) -> SyscallReturn) {
    if put(previous.0, previous.1).is_success() {
        return;
    }
    if put(0, 0).is_success() {
        return;
    }
    // The kernel keeps something that points into a scope that is ending:
    // stop here rather than let it be used.
    syscall::exit_terminate(crate::PANIC_EXIT_CODE)
}

/// Subscribes `handler` to upcall `num` of `driver` while `body` runs.
///
/// Fails (without running `body`) with the kernel's error: NODEVICE,
/// NOSUPPORT (number not declared), NOMEM (no grant memory), INVAL.
/// Subscribing drops the queued upcalls of `(driver, num)`, and so does
/// the unsubscribe at the end.
pub fn subscribe<U: Upcall, R>(
    driver: u32,
    num: u32,
    handler: &U,
    body: impl FnOnce() -> R,
) -> Result<R, ErrorCode> {
    let f = trampoline::<U> as UpcallFn as usize as u32;
    let data = handler as *const U as usize as u32;
    // SAFETY: `trampoline::<U>` with the address of `handler` is sound to
    // call while `handler` is borrowed, and the subscription is taken back
    // (`restore` below, which never returns while it is still in place)
    // before this function returns and the borrow ends.
    let previous = match unsafe { raw_subscribe(driver, num, f, data) } {
        SyscallReturn::SuccessU32U32(pf, pd) => (pf, pd),
        other => return Err(share_error(other)),
    };
    let result = body();
    let put = |f, d| {
        // SAFETY: only called (by `restore`) with the subscription the
        // kernel held at the start, which is as sound to hand back as it
        // was when first registered (by an enclosing scope, still running,
        // or as a static function), or with the null upcall.
        unsafe { raw_subscribe(driver, num, f, d) }
    };
    // SAFETY: `previous` was the kernel's answer at the start.
    unsafe { restore(previous, put) };
    Ok(result)
}

/// Shares `buf` read-only with allow `num` of `driver` while `body` runs.
///
/// Fails (without running `body`) with the kernel's error: NODEVICE,
/// NOSUPPORT, INVAL (the buffer is not in the app's memory), NOMEM.
pub fn allow_ro<R>(
    driver: u32,
    num: u32,
    buf: &[u8],
    body: impl FnOnce() -> R,
) -> Result<R, ErrorCode> {
    let (ptr, len) = (buf.as_ptr() as usize as u32, buf.len() as u32);
    let ro = |p, l| {
        // SAFETY: only called (by `restore`) with values the kernel held
        // at the start of this scope or with nothing.
        unsafe { raw_allow(class::READ_ONLY_ALLOW, driver, num, p, l) }
    };
    // SAFETY: the kernel only reads `buf`, which stays borrowed (so alive
    // and unchanged) until the allow is taken back below.
    let previous = match unsafe { raw_allow(class::READ_ONLY_ALLOW, driver, num, ptr, len) } {
        SyscallReturn::SuccessU32U32(p, l) => (p, l),
        other => return Err(share_error(other)),
    };
    let result = body();
    // SAFETY: `previous` was the kernel's answer at the start.
    unsafe { restore(previous, ro) };
    Ok(result)
}

/// Shares `buf` read-write with allow `num` of `driver` while `body` runs;
/// the kernel may write it meanwhile, and `body` cannot touch it.
///
/// Fails like [`allow_ro`]; flash is not acceptable here.
pub fn allow_rw<R>(
    driver: u32,
    num: u32,
    buf: &mut [u8],
    body: impl FnOnce() -> R,
) -> Result<R, ErrorCode> {
    writable_scope(class::READ_WRITE_ALLOW, driver, num, buf, body)
}

/// Shares `buf` with userspace-readable allow `num` of `driver` while
/// `body` runs (the kernel may write it meanwhile).
pub fn allow_userspace_readable<R>(
    driver: u32,
    num: u32,
    buf: &mut [u8],
    body: impl FnOnce() -> R,
) -> Result<R, ErrorCode> {
    writable_scope(class::USERSPACE_READABLE_ALLOW, driver, num, buf, body)
}

fn writable_scope<R>(
    class: u32,
    driver: u32,
    num: u32,
    buf: &mut [u8],
    body: impl FnOnce() -> R,
) -> Result<R, ErrorCode> {
    let (ptr, len) = (buf.as_mut_ptr() as usize as u32, buf.len() as u32);
    let put = |p, l| {
        // SAFETY: only called (by `restore`) with values the kernel held
        // at the start of this scope or with nothing.
        unsafe { raw_allow(class, driver, num, p, l) }
    };
    // SAFETY: `buf` is mutably borrowed for this whole function, so nothing
    // else reads or writes it while the kernel may; the allow is taken back
    // before the borrow ends. The kernel's writes happen in system calls
    // (asm that may write memory) or while we are preempted, never as a
    // data race with Rust code that uses `buf`.
    let previous = match unsafe { raw_allow(class, driver, num, ptr, len) } {
        SyscallReturn::SuccessU32U32(p, l) => (p, l),
        other => return Err(share_error(other)),
    };
    let result = body();
    // SAFETY: `previous` was the kernel's answer at the start.
    unsafe { restore(previous, put) };
    Ok(result)
}

/// Subscribes a plain function (or, with `None`, the null upcall): the raw
/// kernel answer (130 with the previous function and data, or 2 with the
/// error and the values passed in). The subscription stays until replaced.
///
/// Safe: `f` is a valid upcall function for the whole program, and `data`
/// is a plain number to it.
pub fn subscribe_fn(driver: u32, num: u32, f: Option<UpcallFn>, data: usize) -> SyscallReturn {
    let f = f.map_or(0, |f| f as usize as u32);
    // SAFETY: see above; a null upcall is never called.
    unsafe { raw_subscribe(driver, num, f, data as u32) }
}

/// Unsubscribes (null upcall, app data 0): the raw kernel answer.
pub fn unsubscribe(driver: u32, num: u32) -> SyscallReturn {
    subscribe_fn(driver, num, None, 0)
}

/// Shares a buffer that lives for the whole program read-only, until
/// replaced: the raw kernel answer.
pub fn allow_ro_static(driver: u32, num: u32, buf: &'static [u8]) -> SyscallReturn {
    // SAFETY: the buffer is immutable and never goes away.
    unsafe {
        raw_allow(
            class::READ_ONLY_ALLOW,
            driver,
            num,
            buf.as_ptr() as usize as u32,
            buf.len() as u32,
        )
    }
}

/// Takes back read-only allow `num` (address 0, size 0): the raw answer.
pub fn revoke_ro(driver: u32, num: u32) -> SyscallReturn {
    // SAFETY: shares nothing.
    unsafe { raw_allow(class::READ_ONLY_ALLOW, driver, num, 0, 0) }
}

/// Takes back read-write allow `num` (address 0, size 0): the raw answer.
pub fn revoke_rw(driver: u32, num: u32) -> SyscallReturn {
    // SAFETY: shares nothing.
    unsafe { raw_allow(class::READ_WRITE_ALLOW, driver, num, 0, 0) }
}

/// Takes back userspace-readable allow `num` (address 0, size 0): the raw
/// answer.
pub fn revoke_userspace_readable(driver: u32, num: u32) -> SyscallReturn {
    // SAFETY: shares nothing.
    unsafe { raw_allow(class::USERSPACE_READABLE_ALLOW, driver, num, 0, 0) }
}

/// Probes: one share system call with any values, after which whatever the
/// kernel held before is handed back (see [`crate::probe`]).
pub(crate) mod raw {
    use super::*;

    /// Subscribe with any values, then hand back the previous upcall.
    ///
    /// Safe: no yield happens between the two calls, so the probed function
    /// is never called; subscribing drops queued upcalls of that number,
    /// which is harmless.
    pub(crate) fn subscribe_then_restore(
        driver: u32,
        num: u32,
        f: u32,
        data: u32,
    ) -> SyscallReturn {
        // SAFETY: no yield runs before `hand_back` takes it back.
        let answer = unsafe { raw_subscribe(driver, num, f, data) };
        if let SyscallReturn::SuccessU32U32(pf, pd) = answer {
            // SAFETY: `(pf, pd)` is what the kernel held before.
            unsafe { hand_back(class::SUBSCRIBE, driver, num, (pf, pd)) };
        }
        answer
    }

    /// Allow of `class` with any values, then hand back the previous
    /// buffer.
    ///
    /// # Safety
    ///
    /// For a class that lets the kernel write (read-write,
    /// userspace-readable): no operation of `driver` that writes allow
    /// `num` may be in progress, or `[ptr, ptr + len)` must be memory the
    /// program does not use.
    pub(crate) unsafe fn allow_then_restore(
        class: u32,
        driver: u32,
        num: u32,
        ptr: u32,
        len: u32,
    ) -> SyscallReturn {
        // SAFETY: the kernel only reads (read-only class) or, by the
        // caller's contract, has nothing to write before it is taken back.
        let answer = unsafe { raw_allow(class, driver, num, ptr, len) };
        if let SyscallReturn::SuccessU32U32(p, l) = answer {
            // SAFETY: `(p, l)` is what the kernel held before.
            unsafe { hand_back(class, driver, num, (p, l)) };
        }
        answer
    }

    /// Hands `previous` (what the kernel answered to a probed subscribe or
    /// allow of `class`) back to `(driver, num)`, or nothing if that fails.
    ///
    /// # Safety
    ///
    /// `previous` must be what the kernel held for `(driver, num)` before
    /// the probe, and no yield may have run since.
    pub(crate) unsafe fn hand_back(class: u32, driver: u32, num: u32, previous: (u32, u32)) {
        let put = |a, b| {
            // SAFETY: only called with what the kernel held before, or with
            // nothing.
            unsafe {
                if class == class::SUBSCRIBE {
                    raw_subscribe(driver, num, a, b)
                } else {
                    raw_allow(class, driver, num, a, b)
                }
            }
        };
        // SAFETY: the caller's contract.
        unsafe { restore(previous, put) };
    }
}
