//! Grants: per-process driver state kept in the process's own RAM.
//!
//! A driver registers one grant with the kernel (before processes are
//! loaded) and declares how many upcalls, read-only, read-write and
//! userspace-readable allow slots it has. The first time the driver (or a
//! subscribe/allow from the process) touches a process, the kernel carves a
//! block for it out of the top of that process's RAM:
//!
//! ```text
//! +0                       upcall slots     (fn_ptr, appdata)  8 B each
//! +8*U                     read-only slots  (address, length)  8 B each
//! +8*(U+RO)                read-write slots (address, length)  8 B each
//! +8*(U+RO+RW)             userspace-readable slots            8 B each
//! +8*(U+RO+RW+URO)         the driver's data, T::SIZE bytes
//! ```
//!
//! The driver's data is a [`GrantData`] value: it is decoded from the
//! block when the driver enters the grant and encoded back when it leaves,
//! so no typed reference into process memory ever exists and the kernel
//! stays free of `unsafe`. When the process exits, faults or restarts, its
//! grant table is cleared and every grant vanishes with it.

use core::marker::PhantomData;

use crate::kernel::Kernel;
use crate::process::task::{Task, UpcallId};
use crate::process::{Process, ProcessId};
use crate::storage_permissions::StoragePermissions;
use crate::ErrorCode;

/// A value that can live in a grant: a fixed-size byte encoding.
///
/// ```
/// use kernel::grant::GrantData;
///
/// #[derive(Default)]
/// struct Pending { len: u32, busy: bool }
///
/// impl GrantData for Pending {
///     const SIZE: usize = 5;
///     fn load(b: &[u8]) -> Self {
///         Pending { len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]), busy: b[4] != 0 }
///     }
///     fn store(&self, b: &mut [u8]) {
///         b[..4].copy_from_slice(&self.len.to_le_bytes());
///         b[4] = self.busy as u8;
///     }
/// }
/// ```
pub trait GrantData: Default {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decodes a value from exactly `SIZE` bytes. A freshly allocated
    /// block is all zeroes; zeroes must decode to the default value.
    fn load(bytes: &[u8]) -> Self;
    /// Encodes into exactly `SIZE` bytes.
    fn store(&self, bytes: &mut [u8]);
}

impl GrantData for () {
    const SIZE: usize = 0;
    fn load(_: &[u8]) -> Self {}
    fn store(&self, _: &mut [u8]) {}
}

impl<const N: usize> GrantData for [u32; N]
where
    [u32; N]: Default,
{
    const SIZE: usize = 4 * N;
    fn load(bytes: &[u8]) -> Self {
        let mut out = [0u32; N];
        for (w, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        out
    }
    fn store(&self, bytes: &mut [u8]) {
        for (w, c) in self.iter().zip(bytes.chunks_exact_mut(4)) {
            c.copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// How many upcall and allow slots a driver declares. Numbers at or beyond
/// these are answered NOSUPPORT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllowCounts {
    /// Subscribe numbers.
    pub upcalls: u8,
    /// Read-only allow numbers.
    pub read_only: u8,
    /// Read-write allow numbers.
    pub read_write: u8,
    /// Userspace-readable allow numbers.
    pub userspace_readable: u8,
}

/// The four kinds of slot in a grant block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotKind {
    Upcall,
    ReadOnly,
    ReadWrite,
    UserspaceReadable,
}

/// What the kernel records for each registered grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GrantInfo {
    pub(crate) driver: u32,
    pub(crate) counts: AllowCounts,
    pub(crate) data_size: u32,
}

impl GrantInfo {
    pub(crate) fn count(&self, kind: SlotKind) -> u32 {
        u32::from(match kind {
            SlotKind::Upcall => self.counts.upcalls,
            SlotKind::ReadOnly => self.counts.read_only,
            SlotKind::ReadWrite => self.counts.read_write,
            SlotKind::UserspaceReadable => self.counts.userspace_readable,
        })
    }

    fn slots_before(&self, kind: SlotKind) -> u32 {
        let c = self.counts;
        let (u, ro, rw) = (
            u32::from(c.upcalls),
            u32::from(c.read_only),
            u32::from(c.read_write),
        );
        match kind {
            SlotKind::Upcall => 0,
            SlotKind::ReadOnly => u,
            SlotKind::ReadWrite => u + ro,
            SlotKind::UserspaceReadable => u + ro + rw,
        }
    }

    fn data_offset(&self) -> u32 {
        8 * (self.slots_before(SlotKind::UserspaceReadable)
            + u32::from(self.counts.userspace_readable))
    }

    pub(crate) fn block_size(&self) -> u32 {
        self.data_offset() + self.data_size
    }

    /// Offset of slot `n` of `kind` within the block, if declared.
    #[inline]
    pub(crate) fn slot_offset(&self, kind: SlotKind, n: u32) -> Option<usize> {
        (n < self.count(kind)).then(|| (8 * (self.slots_before(kind) + n)) as usize)
    }
}

/// The two words of the slot at `at` ((0, 0) if it is not inside `ram`,
/// which a block checked by [`block_offset`] rules out).
#[inline]
fn read_pair(ram: &[u8], at: usize) -> (u32, u32) {
    match ram.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        Some(b) => (
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        ),
        None => (0, 0),
    }
}

#[inline]
fn write_pair(ram: &mut [u8], at: usize, pair: (u32, u32)) {
    if let Some(b) = ram.get_mut(at..at + 8) {
        b[..4].copy_from_slice(&pair.0.to_le_bytes());
        b[4..].copy_from_slice(&pair.1.to_le_bytes());
    }
}

/// Finds (or, with `allocate`, creates) the block of grant `slot` in
/// `process`; returns its offset in `ram`.
///
/// Every allow, subscribe and grant access starts here: the common case
/// (the block exists) is a leaf, and creating a block is out of line.
pub(crate) fn block_offset(
    process: &Process,
    ram: &mut [u8],
    slot: usize,
    info: &GrantInfo,
    allocate: bool,
) -> Result<usize, GrantError> {
    match process.grant_block_offset(ram, slot) {
        Some(off) => inside(off as usize, info, ram.len()),
        None if allocate => new_block(process, ram, slot, info),
        None => Err(GrantError::NotAllocated),
    }
}

/// Creates the block of grant `slot` (zeroed: empty slots, and data that
/// decodes to the default value); returns its offset in `ram`.
#[cold]
#[inline(never)]
fn new_block(
    process: &Process,
    ram: &mut [u8],
    slot: usize,
    info: &GrantInfo,
) -> Result<usize, GrantError> {
    let addr = process
        .allocate_grant_block(ram, slot, info.block_size())
        .map_err(|_| GrantError::NoMemory)?;
    let off = process.ram_offsets(addr, 0).ok_or(GrantError::NoMemory)?.0;
    inside(off, info, ram.len())
}

/// `off` if the whole block at `off` lies inside the process's RAM.
#[inline]
fn inside(off: usize, info: &GrantInfo, ram_len: usize) -> Result<usize, GrantError> {
    off.checked_add(info.block_size() as usize)
        .filter(|&end| end <= ram_len)
        .map(|_| off)
        .ok_or(GrantError::NoMemory)
}

/// Reads slot `n` of `kind` in a block.
pub(crate) fn read_slot(
    ram: &[u8],
    block: usize,
    info: &GrantInfo,
    kind: SlotKind,
    n: u32,
) -> Option<(u32, u32)> {
    Some(read_pair(ram, block + info.slot_offset(kind, n)?))
}

/// Replaces slot `n` of `kind` in a block, returning the previous pair.
#[inline]
pub(crate) fn swap_slot(
    ram: &mut [u8],
    block: usize,
    info: &GrantInfo,
    kind: SlotKind,
    n: u32,
    pair: (u32, u32),
) -> Option<(u32, u32)> {
    let at = block + info.slot_offset(kind, n)?;
    let old = read_pair(ram, at);
    write_pair(ram, at, pair);
    Some(old)
}

/// Why a grant could not be entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// The process id is stale or names no live process.
    NoSuchProcess,
    /// The grant is already entered for this process further up the stack.
    AlreadyEntered,
    /// The grant region of the process is exhausted.
    NoMemory,
    /// The grant has not been allocated for this process (iteration and
    /// peeking never allocate).
    NotAllocated,
}

impl From<GrantError> for ErrorCode {
    fn from(e: GrantError) -> ErrorCode {
        match e {
            GrantError::NoSuchProcess => ErrorCode::INVAL,
            GrantError::AlreadyEntered => ErrorCode::BUSY,
            GrantError::NoMemory => ErrorCode::NOMEM,
            GrantError::NotAllocated => ErrorCode::FAIL,
        }
    }
}

/// Why an upcall could not be scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpcallError {
    /// The driver declared fewer upcalls.
    InvalidSubscribeNumber,
    /// The process's upcall queue is full; the upcall is lost.
    QueueFull,
}

/// A driver's grant: its per-process state plus its upcalls and allowed
/// buffers, in each process's grant region.
pub struct Grant<T: GrantData> {
    kernel: &'static Kernel,
    slot: usize,
    info: GrantInfo,
    _data: PhantomData<T>,
}

impl<T: GrantData> Grant<T> {
    pub(crate) fn new(
        kernel: &'static Kernel,
        slot: usize,
        driver: u32,
        counts: AllowCounts,
    ) -> Self {
        Grant {
            kernel,
            slot,
            info: GrantInfo {
                driver,
                counts,
                data_size: T::SIZE as u32,
            },
            _data: PhantomData,
        }
    }

    /// The driver number this grant belongs to.
    pub fn driver(&self) -> u32 {
        self.info.driver
    }

    /// Runs `f` with the driver's data for `pid` and access to its upcalls
    /// and allowed buffers, allocating the grant on first use. Changes to
    /// the data are written back when `f` returns.
    pub fn enter<R>(
        &self,
        pid: ProcessId,
        f: impl FnOnce(&mut T, &mut GrantKernelData<'_>) -> R,
    ) -> Result<R, GrantError> {
        let process = self.kernel.process(pid).ok_or(GrantError::NoSuchProcess)?;
        self.enter_process(process, pid, true, f)
    }

    /// Like [`Grant::enter`] but never allocates: `NotAllocated` if the
    /// process has not used this driver yet.
    pub fn enter_existing<R>(
        &self,
        pid: ProcessId,
        f: impl FnOnce(&mut T, &mut GrantKernelData<'_>) -> R,
    ) -> Result<R, GrantError> {
        let process = self.kernel.process(pid).ok_or(GrantError::NoSuchProcess)?;
        self.enter_process(process, pid, false, f)
    }

    fn enter_process<R>(
        &self,
        process: &'static Process,
        pid: ProcessId,
        allocate: bool,
        f: impl FnOnce(&mut T, &mut GrantKernelData<'_>) -> R,
    ) -> Result<R, GrantError> {
        process
            .with_ram(|ram| {
                let block = block_offset(process, ram, self.slot, &self.info, allocate)?;
                let data = block + self.info.data_offset() as usize;
                let range = data..data + T::SIZE;
                let mut value = ram.get(range.clone()).map(T::load).unwrap_or_default();
                let mut kd = GrantKernelData {
                    process,
                    pid,
                    ram: &mut *ram,
                    block,
                    info: self.info,
                };
                let r = f(&mut value, &mut kd);
                if let Some(bytes) = ram.get_mut(range) {
                    value.store(bytes);
                }
                Ok(r)
            })
            .unwrap_or(Err(GrantError::AlreadyEntered))
    }

    /// Runs `f` for every live process that has this grant allocated, in
    /// process-table order. Processes whose grant is already entered further
    /// up the stack are skipped. Returns how many were visited.
    pub fn each(&self, mut f: impl FnMut(ProcessId, &mut T, &mut GrantKernelData<'_>)) -> usize {
        let mut visited = 0;
        for process in self.kernel.processes() {
            let Some(pid) = process.processid().filter(|_| process.state().is_alive()) else {
                continue;
            };
            if self
                .enter_process(process, pid, false, |t, kd| f(pid, t, kd))
                .is_ok()
            {
                visited += 1;
            }
        }
        visited
    }
}

/// Kernel-managed parts of a grant while it is entered: upcalls and allowed
/// buffers of one process.
///
/// Buffers are re-validated on every access: if the process has moved its
/// break or its buffer is no longer valid, it reads as empty.
pub struct GrantKernelData<'a> {
    process: &'static Process,
    pid: ProcessId,
    ram: &'a mut [u8],
    block: usize,
    info: GrantInfo,
}

impl GrantKernelData<'_> {
    /// The process this grant belongs to.
    pub fn process_id(&self) -> ProcessId {
        self.pid
    }

    /// The storage permissions of the process, for as long as the
    /// program runs (they are set once, when the process is loaded): what
    /// the KV stack is handed and keeps while a request runs.
    pub fn storage_permissions(&self) -> &'static StoragePermissions {
        self.process.storage_permissions()
    }

    fn slot(&self, kind: SlotKind, n: u32) -> Result<(u32, u32), ErrorCode> {
        let at = self.block + self.info.slot_offset(kind, n).ok_or(ErrorCode::NOSUPPORT)?;
        Ok(read_pair(self.ram, at))
    }

    /// Queues upcall `subscribe` with `args`. A null upcall (never
    /// subscribed, or subscribed with function 0) is queued too, so that a
    /// yield-wait-for can see it; yield-wait drops it.
    pub fn schedule_upcall(&mut self, subscribe: u32, args: [u32; 3]) -> Result<(), UpcallError> {
        let (fn_ptr, appdata) = self
            .slot(SlotKind::Upcall, subscribe)
            .map_err(|_| UpcallError::InvalidSubscribeNumber)?;
        let task = Task {
            id: UpcallId {
                driver: self.info.driver,
                subscribe,
            },
            fn_ptr,
            appdata,
            args,
        };
        if self.process.enqueue(self.ram, task) {
            Ok(())
        } else {
            Err(UpcallError::QueueFull)
        }
    }

    /// Length of read-only buffer `n` (0 if none or no longer valid).
    pub fn read_only_len(&self, n: u32) -> usize {
        self.with_read_only(n, |b| b.len()).unwrap_or(0)
    }

    /// Runs `f` on read-only buffer `n` (in the process's RAM or flash).
    /// NOSUPPORT if `n` is not declared.
    pub fn with_read_only<R>(&self, n: u32, f: impl FnOnce(&[u8]) -> R) -> Result<R, ErrorCode> {
        let (addr, len) = self.slot(SlotKind::ReadOnly, n)?;
        if len != 0 && self.process.in_app_ram(addr, len) {
            if let Some((a, b)) = self.process.ram_offsets(addr, len) {
                return Ok(f(&self.ram[a..b]));
            }
        }
        if len != 0 && self.process.in_app_flash(addr, len) {
            if let Some(bytes) = self.process.flash_bytes(addr, len) {
                return Ok(f(bytes));
            }
        }
        Ok(f(&[]))
    }

    /// Read-write buffer `n` as an address range, if it is allowed and
    /// still inside the process's own memory.
    pub fn read_write_range(&self, n: u32) -> Option<crate::platform::Range> {
        let (addr, len) = self.slot(SlotKind::ReadWrite, n).ok()?;
        (len != 0 && self.process.in_app_ram(addr, len))
            .then_some(crate::platform::Range { start: addr, len })
    }

    /// Length of read-write buffer `n`.
    pub fn read_write_len(&self, n: u32) -> usize {
        self.rw_range(SlotKind::ReadWrite, n)
            .map_or(0, |r| r.map_or(0, |(a, b)| b - a))
    }

    fn rw_range(&self, kind: SlotKind, n: u32) -> Result<Option<(usize, usize)>, ErrorCode> {
        let (addr, len) = self.slot(kind, n)?;
        Ok(if len != 0 && self.process.in_app_ram(addr, len) {
            self.process.ram_offsets(addr, len)
        } else {
            None
        })
    }

    /// Runs `f` on read-write buffer `n`. NOSUPPORT if `n` is not declared.
    pub fn with_read_write<R>(
        &mut self,
        n: u32,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, ErrorCode> {
        Ok(match self.rw_range(SlotKind::ReadWrite, n)? {
            Some((a, b)) => f(&mut self.ram[a..b]),
            None => f(&mut []),
        })
    }

    /// Runs `f` on userspace-readable buffer `n`.
    pub fn with_userspace_readable<R>(
        &mut self,
        n: u32,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, ErrorCode> {
        Ok(match self.rw_range(SlotKind::UserspaceReadable, n)? {
            Some((a, b)) => f(&mut self.ram[a..b]),
            None => f(&mut []),
        })
    }
}
