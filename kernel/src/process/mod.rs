//! Processes: identity, state, memory layout, break, upcall queue, restart.
//!
//! A process owns a RAM block `[mem_start, mem_end)` (a `&'static mut
//! [u8]` handed out by the board once) and its TBF in flash. The block is
//! laid out as upstream Tock does it:
//!
//! ```text
//! mem_end    +---------------------------+
//!            | grant table (4 B a grant) |  kernel-owned: never accessible
//!            | upcall queue (280 B)      |  to the process
//!            | grant blocks, growing down|
//! kernel_brk +---------------------------+
//!            | free                      |
//! app_brk    +---------------------------+
//!            | app memory (stack, data,  |  read + write for the process
//!            | heap)                     |
//! mem_start  +---------------------------+
//! ```
//!
//! The process accesses `[mem_start, accessible_end)`, where
//! `accessible_end` is its break rounded up by the memory protection unit;
//! grants are carved from the top and never cross it. Everything here is
//! plain safe Rust over that slice: addresses are translated to offsets and
//! checked on every access.

pub mod task;

use core::cell::{Cell, OnceCell};
use core::fmt;

use tock_cells::MapCell;

use crate::platform::arch::{EntryRegisters, Fault, ProcessMemory, StoredState, UserspaceBoundary};
use crate::platform::mpu::{MemoryProtection, ProcessProtection, MAX_SHARED};
use crate::platform::Range;
use crate::storage_permissions::{ShortId, StoragePermissions};
use crate::syscall::SyscallClass;
use crate::tbf::TbfHeader;
use crate::ErrorCode;
use task::{Task, TaskQueue, UpcallId, QUEUE_BYTES};

/// Identifies one run of one process: the slot it occupies plus a number
/// that changes on every restart, so an id kept by a driver goes stale when
/// the process it named dies or restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessId {
    index: usize,
    identifier: usize,
}

impl ProcessId {
    /// Slot of the process in the kernel's process table.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The unique number of this run of the process.
    pub fn id(&self) -> usize {
        self.identifier
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.index, self.identifier)
    }
}

/// Scheduling state of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// The slot holds no process.
    Unused,
    /// Ready to run (or running).
    Runnable,
    /// Blocked in yield-wait until an upcall can be delivered.
    Yielded,
    /// Blocked in yield-wait-for until this upcall is scheduled.
    YieldedFor(UpcallId),
    /// Stopped after a fault (by the fault policy); kept for inspection.
    Faulted,
    /// Exited (or never started); kept for inspection.
    Terminated,
}

impl State {
    /// Whether the process is alive (its id is valid, its grants exist).
    pub fn is_alive(self) -> bool {
        matches!(
            self,
            State::Runnable | State::Yielded | State::YieldedFor(_)
        )
    }
}

/// Counters kept for debugging output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugInfo {
    /// System calls made in this run.
    pub syscalls: u32,
    /// Upcalls lost because the queue was full.
    pub dropped_upcalls: u32,
    /// Times the process used up its timeslice.
    pub timeslice_expirations: u32,
    /// The class of the most recent system call and the driver it named
    /// (if its class names one). Not the whole [`Syscall`](crate::syscall::Syscall): copying that on
    /// every call cost a `memcpy` call, about 45 instructions a system call.
    pub last_syscall: Option<(SyscallClass, Option<u32>)>,
    /// Stack start reported with memop 10.
    pub stack_start: Option<u32>,
    /// Heap start reported with memop 11.
    pub heap_start: Option<u32>,
}

/// The counters of [`DebugInfo`], one cell each: the system call count
/// and the last call change on every system call, and a few stores are
/// all that takes (a `RefCell` of the whole record cost a borrow each time).
struct DebugCells {
    syscalls: Cell<u32>,
    dropped_upcalls: Cell<u32>,
    timeslice_expirations: Cell<u32>,
    last_syscall: Cell<Option<(SyscallClass, Option<u32>)>>,
    stack_start: Cell<Option<u32>>,
    heap_start: Cell<Option<u32>>,
}

impl DebugCells {
    const fn new() -> Self {
        DebugCells {
            syscalls: Cell::new(0),
            dropped_upcalls: Cell::new(0),
            timeslice_expirations: Cell::new(0),
            last_syscall: Cell::new(None),
            stack_start: Cell::new(None),
            heap_start: Cell::new(None),
        }
    }

    fn get(&self) -> DebugInfo {
        DebugInfo {
            syscalls: self.syscalls.get(),
            dropped_upcalls: self.dropped_upcalls.get(),
            timeslice_expirations: self.timeslice_expirations.get(),
            last_syscall: self.last_syscall.get(),
            stack_start: self.stack_start.get(),
            heap_start: self.heap_start.get(),
        }
    }

    fn reset(&self) {
        self.syscalls.set(0);
        self.dropped_upcalls.set(0);
        self.timeslice_expirations.set(0);
        self.last_syscall.set(None);
        self.stack_start.set(None);
        self.heap_start.set(None);
    }
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get().saturating_add(1));
}

/// A buffer of another process that this process has been given access
/// to (IPC: a client's read-write allow shared with a service). It stays
/// open only while the owner is alive and still allows exactly this range
/// in that slot; the kernel checks before every switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedBuffer {
    /// The process whose memory it is.
    pub owner: ProcessId,
    /// The driver whose read-write allow slot holds the buffer.
    pub driver: u32,
    /// The read-write allow number.
    pub allow: u32,
    /// The buffer.
    pub range: Range,
}

/// Why a process could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// The RAM block is too small for the kernel-owned area.
    NotEnoughMemory,
    /// The architecture refused the initial state.
    Fault(Fault),
    /// The slot already held a process (slots are filled once).
    SlotUsed,
}

/// One process slot. All state is in cells: the kernel, grants and drivers
/// share `&Process` and the kernel is single-threaded.
pub struct Process {
    index: Cell<usize>,
    identifier: Cell<usize>,
    state: Cell<State>,
    header: Cell<Option<TbfHeader<'static>>>,
    flash: Cell<Range>,
    flash_data: Cell<&'static [u8]>,
    /// [`binary_start`](Self::binary_start), computed when the slot is
    /// filled: it is checked on every read-only allow and buffer access in
    /// flash, and computing it copied the whole TBF header each time.
    binary_start: Cell<u32>,
    ram: MapCell<&'static mut [u8]>,
    mem: Cell<Range>,
    app_break: Cell<u32>,
    accessible_end: Cell<u32>,
    kernel_break: Cell<u32>,
    allow_high_water: Cell<u32>,
    queue: Cell<TaskQueue>,
    grant_slots: Cell<usize>,
    stored: core::cell::RefCell<StoredState>,
    restart_count: Cell<u32>,
    completion_code: Cell<Option<u32>>,
    short_id: Cell<ShortId>,
    /// Set once, when the slot is filled: the KV stack keeps references
    /// to it while a request runs.
    storage: OnceCell<StoragePermissions>,
    fault: Cell<Option<Fault>>,
    debug: DebugCells,
    shared: Cell<[Option<SharedBuffer>; MAX_SHARED]>,
    /// Whether any entry of `shared` is set (checked on every switch).
    sharing: Cell<bool>,
}

impl Default for Process {
    fn default() -> Self {
        Self::new()
    }
}

impl Process {
    /// An unused slot. Boards allocate an array of these and hand it to
    /// [`Kernel::new`](crate::Kernel::new).
    pub const fn new() -> Process {
        Process {
            index: Cell::new(0),
            identifier: Cell::new(0),
            state: Cell::new(State::Unused),
            header: Cell::new(None),
            flash: Cell::new(Range { start: 0, len: 0 }),
            flash_data: Cell::new(&[]),
            binary_start: Cell::new(0),
            ram: MapCell::empty(),
            mem: Cell::new(Range { start: 0, len: 0 }),
            app_break: Cell::new(0),
            accessible_end: Cell::new(0),
            kernel_break: Cell::new(0),
            allow_high_water: Cell::new(0),
            queue: Cell::new(TaskQueue::EMPTY),
            grant_slots: Cell::new(0),
            stored: core::cell::RefCell::new(StoredState::ZERO),
            restart_count: Cell::new(0),
            completion_code: Cell::new(None),
            short_id: Cell::new(ShortId::LocallyUnique),
            storage: OnceCell::new(),
            fault: Cell::new(None),
            debug: DebugCells::new(),
            shared: Cell::new([None; MAX_SHARED]),
            sharing: Cell::new(false),
        }
    }

    // ----- identity and inspection -------------------------------------

    /// The id of the current run, if the slot holds a process (alive or
    /// not).
    pub fn processid(&self) -> Option<ProcessId> {
        (self.state.get() != State::Unused).then(|| ProcessId {
            index: self.index.get(),
            identifier: self.identifier.get(),
        })
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state.get()
    }

    /// The TBF header.
    pub fn header(&self) -> Option<TbfHeader<'static>> {
        self.header.get()
    }

    /// The package name from the TBF, or `""`.
    pub fn name(&self) -> &'static str {
        self.header
            .get()
            .and_then(|h| h.package_name())
            .unwrap_or("")
    }

    /// The ShortId assigned at load.
    pub fn short_id(&self) -> ShortId {
        self.short_id.get()
    }

    /// The storage permissions assigned at load ([`StoragePermissions::Null`]
    /// for an unused slot). A reference that lives as long as the process
    /// slot (for the kernel's `'static` slots, as long as the program):
    /// storage layers keep it while a request runs instead of copying the
    /// set.
    pub fn storage_permissions(&self) -> &StoragePermissions {
        self.storage.get().unwrap_or(StoragePermissions::NULL)
    }

    /// How many times the process has been restarted.
    pub fn restart_count(&self) -> u32 {
        self.restart_count.get()
    }

    /// The completion code of the last exit (still visible after an
    /// exit-restart); `None` if the process has not exited or its last run
    /// ended in a fault.
    pub fn completion_code(&self) -> Option<u32> {
        self.completion_code.get()
    }

    /// The last fault, if any.
    pub fn last_fault(&self) -> Option<Fault> {
        self.fault.get()
    }

    /// Debug counters.
    pub fn debug_info(&self) -> DebugInfo {
        self.debug.get()
    }

    /// The whole TBF in flash.
    pub fn flash(&self) -> Range {
        self.flash.get()
    }

    /// The whole RAM allocation.
    pub fn memory(&self) -> Range {
        self.mem.get()
    }

    /// The current break.
    pub fn app_break(&self) -> u32 {
        self.app_break.get()
    }

    /// The end of the RAM the process may access (its break, rounded up by
    /// the memory protection unit).
    pub fn accessible_end(&self) -> u32 {
        self.accessible_end.get()
    }

    /// Start of the grant region (lowest kernel-owned address).
    pub fn kernel_break(&self) -> u32 {
        self.kernel_break.get()
    }

    /// The highest end of any buffer the process has allowed.
    pub fn allow_high_water_mark(&self) -> u32 {
        self.allow_high_water.get()
    }

    /// Number of queued upcalls.
    pub fn pending_tasks(&self) -> usize {
        self.queue.get().len()
    }

    /// Saved CPU state.
    pub fn stored_state(&self) -> StoredState {
        self.stored.try_borrow().map_or(StoredState::ZERO, |s| *s)
    }

    /// Replaces the saved CPU state (ports and tests).
    pub fn set_stored_state(&self, state: StoredState) {
        if let Ok(mut s) = self.stored.try_borrow_mut() {
            *s = state;
        }
    }

    /// Runs `f` on the saved CPU state in place (the switch and the
    /// syscall return use it: a copy of the 144-byte state each way cost
    /// hundreds of instructions per system call). `None` only if the state
    /// is already borrowed further up the stack.
    pub fn with_stored_state<R>(&self, f: impl FnOnce(&mut StoredState) -> R) -> Option<R> {
        self.stored.try_borrow_mut().ok().map(|mut s| f(&mut s))
    }

    /// The first address of the app binary (after the protected region).
    pub fn binary_start(&self) -> u32 {
        self.binary_start.get()
    }

    /// What the memory protection unit must open for this process: its
    /// flash, its accessible RAM and the buffers shared with it (as
    /// recorded; the kernel drops stale ones before each switch).
    pub fn protection(&self) -> ProcessProtection {
        let mem = self.mem.get();
        let mut p = ProcessProtection::new(
            self.flash.get(),
            Range {
                start: mem.start,
                len: self.accessible_end.get().saturating_sub(mem.start),
            },
        );
        if self.sharing.get() {
            for (out, b) in p.shared.iter_mut().zip(self.shared.get()) {
                if let Some(b) = b {
                    *out = b.range;
                }
            }
        }
        p
    }

    /// Whether any buffer of another process is open to this one.
    pub fn has_shared(&self) -> bool {
        self.sharing.get()
    }

    /// The buffers of other processes this process may access.
    pub fn shared_buffers(&self) -> [Option<SharedBuffer>; MAX_SHARED] {
        self.shared.get()
    }

    /// Records that this process may access `buffer`. A buffer already
    /// recorded for the same owner and slot is replaced. `false` (nothing
    /// changes) if all [`MAX_SHARED`] places are taken.
    pub(crate) fn share(&self, buffer: SharedBuffer) -> bool {
        let mut list = self.shared.get();
        let same_slot = |b: &SharedBuffer| {
            b.owner == buffer.owner && b.driver == buffer.driver && b.allow == buffer.allow
        };
        let place = list
            .iter()
            .position(|b| b.as_ref().is_some_and(same_slot))
            .or_else(|| list.iter().position(Option::is_none));
        match place {
            Some(i) => {
                list[i] = Some(buffer);
                self.shared.set(list);
                self.sharing.set(true);
                true
            }
            None => false,
        }
    }

    /// Keeps only the shared buffers for which `keep` holds; returns
    /// whether any was dropped.
    pub(crate) fn retain_shared(&self, keep: impl Fn(&SharedBuffer) -> bool) -> bool {
        let mut list = self.shared.get();
        let mut dropped = false;
        for b in list.iter_mut() {
            if b.as_ref().is_some_and(|b| !keep(b)) {
                *b = None;
                dropped = true;
            }
        }
        if dropped {
            self.shared.set(list);
            self.sharing.set(list.iter().any(Option::is_some));
        }
        dropped
    }

    // ----- creation, restart, termination --------------------------------

    fn grant_table_bytes(&self) -> u32 {
        // At most a few dozen grants: no overflow.
        (self.grant_slots.get() * 4) as u32
    }

    fn queue_address(&self) -> u32 {
        self.mem.get().end() - self.grant_table_bytes() - QUEUE_BYTES as u32
    }

    /// Bytes at the top of every process block the kernel owns from the
    /// start (the grant table and the upcall queue).
    pub fn kernel_overhead(grant_slots: usize) -> u32 {
        (grant_slots * 4 + QUEUE_BYTES) as u32
    }

    /// Fills an unused slot with a process and starts it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create(
        &self,
        index: usize,
        identifier: usize,
        header: TbfHeader<'static>,
        flash: (u32, &'static [u8]),
        ram: &'static mut [u8],
        ram_start: u32,
        grant_slots: usize,
        identity: (ShortId, StoragePermissions),
        boundary: &dyn UserspaceBoundary,
        protection: &dyn MemoryProtection,
    ) -> Result<(), CreateError> {
        let len = u32::try_from(ram.len()).map_err(|_| CreateError::NotEnoughMemory)?;
        if len < Self::kernel_overhead(grant_slots) || ram_start.checked_add(len).is_none() {
            return Err(CreateError::NotEnoughMemory);
        }
        let flash_len = u32::try_from(flash.1.len()).map_err(|_| CreateError::NotEnoughMemory)?;
        // The permissions are set once per slot (references to them may be
        // held): a slot is filled only while unused, and never emptied.
        self.storage
            .set(identity.1)
            .map_err(|_| CreateError::SlotUsed)?;
        self.index.set(index);
        self.header.set(Some(header));
        self.flash.set(Range {
            start: flash.0,
            len: flash_len,
        });
        self.flash_data.set(flash.1);
        self.binary_start.set(header.app_binary_start(flash.0));
        self.mem.set(Range {
            start: ram_start,
            len,
        });
        self.ram.replace(ram);
        self.grant_slots.set(grant_slots);
        self.short_id.set(identity.0);
        self.restart_count.set(0);
        self.completion_code.set(None);
        self.fault.set(None);
        self.start(identifier, boundary, protection)
            .map_err(CreateError::Fault)
    }

    /// Resets memory and registers and makes the process runnable under a
    /// new identifier. The completion code of the run that ended (if any)
    /// stays visible until the next exit.
    pub(crate) fn start(
        &self,
        identifier: usize,
        boundary: &dyn UserspaceBoundary,
        protection: &dyn MemoryProtection,
    ) -> Result<(), Fault> {
        let mem = self.mem.get();
        self.identifier.set(identifier);
        self.queue.set(TaskQueue::EMPTY);
        self.shared.set([None; MAX_SHARED]);
        self.sharing.set(false);
        self.debug.reset();
        let kernel_break = self.queue_address();
        self.kernel_break.set(kernel_break);
        let initial = mem
            .start
            .saturating_add(boundary.initial_accessible_bytes());
        let accessible = protection
            .accessible_end(mem.start, initial, kernel_break)
            .unwrap_or(mem.start);
        self.app_break.set(initial.min(accessible));
        self.accessible_end.set(accessible);
        self.allow_high_water.set(mem.start);
        let header = self.header.get();
        let flash = self.flash.get();
        let entry = EntryRegisters {
            pc: header.map_or(0, |h| h.entry_point(flash.start)),
            binary_start: self.binary_start(),
            mem_start: mem.start,
            mem_len: mem.len,
            app_break: self.app_break.get(),
        };
        let result = self
            .ram
            .map(|ram| {
                // Memory reset: the new run sees zeroed RAM, an empty grant
                // table and an empty queue.
                ram.fill(0);
                let mut memory = ProcessMemory {
                    ram,
                    start: mem.start,
                    accessible_end: accessible,
                };
                boundary.initial_state(&entry, &mut memory)
            })
            .unwrap_or(Err(Fault {
                kind: crate::platform::arch::FaultKind::Other,
                pc: entry.pc,
                address: 0,
            }));
        match result {
            Ok(state) => {
                self.set_stored_state(state);
                self.state.set(State::Runnable);
                Ok(())
            }
            Err(fault) => {
                self.fault.set(Some(fault));
                self.state.set(State::Faulted);
                Err(fault)
            }
        }
    }

    /// Ends the current run: queued upcalls and all grants vanish; the slot
    /// keeps its memory for inspection. `state` is `Terminated` or
    /// `Faulted`.
    pub(crate) fn stop(&self, state: State, completion_code: Option<u32>) {
        self.state.set(state);
        self.completion_code.set(completion_code);
        self.queue.set(TaskQueue::EMPTY);
        self.shared.set([None; MAX_SHARED]);
        self.sharing.set(false);
        let table = self.grant_table_range();
        self.ram.map(|ram| {
            if let Some(t) = ram.get_mut(table.0..table.1) {
                t.fill(0);
            }
        });
    }

    pub(crate) fn record_fault(&self, fault: Fault) {
        self.fault.set(Some(fault));
    }

    pub(crate) fn count_restart(&self) {
        self.restart_count
            .set(self.restart_count.get().saturating_add(1));
    }

    pub(crate) fn set_state(&self, state: State) {
        self.state.set(state);
    }

    /// Counts a system call of `class` naming `driver` (if it names one).
    pub(crate) fn count_syscall(&self, class: SyscallClass, driver: Option<u32>) {
        bump(&self.debug.syscalls);
        self.debug.last_syscall.set(Some((class, driver)));
    }

    /// Counts a used-up timeslice.
    pub(crate) fn count_timeslice_expiration(&self) {
        bump(&self.debug.timeslice_expirations);
    }

    /// Records the stack start the process reported (memop 10).
    pub(crate) fn set_stack_start(&self, start: u32) {
        self.debug.stack_start.set(Some(start));
    }

    /// Records the heap start the process reported (memop 11).
    pub(crate) fn set_heap_start(&self, start: u32) {
        self.debug.heap_start.set(Some(start));
    }

    // ----- memory ------------------------------------------------------

    /// Offsets into the RAM slice of `[addr, addr + len)` if it lies inside
    /// the allocation.
    pub(crate) fn ram_offsets(&self, addr: u32, len: u32) -> Option<(usize, usize)> {
        let mem = self.mem.get();
        if !mem.contains_range(addr, len) {
            return None;
        }
        let start = (addr - mem.start) as usize;
        Some((start, start + len as usize))
    }

    /// Whether `[addr, addr + len)` is app-owned RAM: inside
    /// `[mem_start, app_break)`.
    pub fn in_app_ram(&self, addr: u32, len: u32) -> bool {
        let mem = self.mem.get();
        Range {
            start: mem.start,
            len: self.app_break.get().saturating_sub(mem.start),
        }
        .contains_range(addr, len)
    }

    /// Whether `[addr, addr + len)` is inside the app's flash after the
    /// protected region (where read-only allows and upcalls may point).
    pub fn in_app_flash(&self, addr: u32, len: u32) -> bool {
        let flash = self.flash.get();
        let start = self.binary_start();
        Range {
            start,
            len: flash.end().saturating_sub(start),
        }
        .contains_range(addr, len)
    }

    /// Whether `addr` may be an upcall function: 0 (null) or in the app's
    /// flash after the protected region or in its RAM.
    pub fn valid_upcall_pointer(&self, addr: u32) -> bool {
        addr == 0 || self.in_app_flash(addr, 1) || self.in_app_ram(addr, 1)
    }

    /// Records that an allowed buffer ends at `end`: the break may not go
    /// below it any more.
    pub(crate) fn raise_allow_high_water(&self, end: u32) {
        if end > self.allow_high_water.get() {
            self.allow_high_water.set(end);
        }
    }

    /// Moves the break (memop 0). Refused with NOMEM below the allow
    /// high-water mark or `mem_start`, or if the accessible memory would
    /// reach the grant region. Growing zero-fills the new memory: from the
    /// old break to the new accessible end (with a coarse protection unit
    /// the bytes just above a lowered break stay accessible; they are the
    /// process's again only once zeroed).
    pub(crate) fn brk(
        &self,
        new_break: u32,
        protection: &dyn MemoryProtection,
    ) -> Result<(), ErrorCode> {
        let mem = self.mem.get();
        if new_break < mem.start || new_break < self.allow_high_water.get() {
            return Err(ErrorCode::NOMEM);
        }
        let limit = self.kernel_break.get();
        if new_break > limit {
            return Err(ErrorCode::NOMEM);
        }
        let accessible = protection
            .accessible_end(mem.start, new_break, limit)
            .ok_or(ErrorCode::NOMEM)?;
        let old_access = self.accessible_end.get();
        let old_break = self.app_break.get();
        let zero_from = if new_break > old_break {
            old_break.min(old_access)
        } else {
            old_access
        };
        if accessible > zero_from {
            let (a, b) = self
                .ram_offsets(zero_from, accessible - zero_from)
                .ok_or(ErrorCode::NOMEM)?;
            self.ram
                .map(|ram| ram[a..b].fill(0))
                .ok_or(ErrorCode::BUSY)?;
        }
        self.app_break.set(new_break);
        self.accessible_end.set(accessible);
        Ok(())
    }

    /// Runs `f` on the process's RAM slice; `None` if the slot is unused or
    /// the RAM is already in use further up the stack (re-entrant access).
    pub(crate) fn with_ram<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        self.ram.map(|ram| f(ram))
    }

    /// The bytes of `[addr, addr + len)` in the process's flash (its TBF).
    pub(crate) fn flash_bytes(&self, addr: u32, len: u32) -> Option<&'static [u8]> {
        let flash = self.flash.get();
        if !flash.contains_range(addr, len) {
            return None;
        }
        let start = (addr - flash.start) as usize;
        self.flash_data.get().get(start..start + len as usize)
    }

    // ----- grants ------------------------------------------------------

    fn grant_table_range(&self) -> (usize, usize) {
        let len = self.mem.get().len as usize;
        (len - self.grant_table_bytes() as usize, len)
    }

    /// Offset in `ram` (this process's RAM) of grant `slot`'s block, if
    /// allocated.
    #[inline]
    pub(crate) fn grant_block_offset(&self, ram: &[u8], slot: usize) -> Option<u32> {
        if slot >= self.grant_slots.get() {
            return None;
        }
        let at = ram.len().checked_sub((self.grant_slots.get() - slot) * 4)?;
        let b = ram.get(at..)?.first_chunk::<4>()?;
        let off = u32::from_le_bytes(*b);
        (off != 0).then_some(off)
    }

    /// Allocates `size` bytes (4-aligned) for grant `slot` below the
    /// current kernel break, zeroed. NOMEM if it would reach the memory the
    /// process can access.
    pub(crate) fn allocate_grant_block(
        &self,
        ram: &mut [u8],
        slot: usize,
        size: u32,
    ) -> Result<u32, ErrorCode> {
        if slot >= self.grant_slots.get() {
            return Err(ErrorCode::NOMEM);
        }
        let size = size.checked_add(3).ok_or(ErrorCode::NOMEM)? & !3;
        let new_break = self
            .kernel_break
            .get()
            .checked_sub(size.max(4))
            .ok_or(ErrorCode::NOMEM)?;
        if new_break < self.accessible_end.get() || new_break < self.app_break.get() {
            return Err(ErrorCode::NOMEM);
        }
        let (a, b) = self
            .ram_offsets(new_break, size.max(4))
            .ok_or(ErrorCode::NOMEM)?;
        ram[a..b].fill(0);
        let off = new_break - self.mem.get().start;
        let at = self.grant_table_range().0 + slot * 4;
        ram.get_mut(at..at + 4)
            .ok_or(ErrorCode::NOMEM)?
            .copy_from_slice(&off.to_le_bytes());
        self.kernel_break.set(new_break);
        Ok(new_break)
    }

    // ----- upcall queue ------------------------------------------------

    fn queue_range(&self) -> (usize, usize) {
        let start = (self.queue_address() - self.mem.get().start) as usize;
        (start, start + QUEUE_BYTES)
    }

    /// Runs `f` on the queue and its storage in `ram`.
    pub(crate) fn with_queue<R>(
        &self,
        ram: &mut [u8],
        f: impl FnOnce(&mut TaskQueue, &mut [u8]) -> R,
    ) -> Option<R> {
        let (a, b) = self.queue_range();
        let bytes = ram.get_mut(a..b)?;
        let mut q = self.queue.get();
        let r = f(&mut q, bytes);
        self.queue.set(q);
        Some(r)
    }

    /// Queues `task` (given this process's RAM); `false` if the queue was
    /// full and the task is lost.
    ///
    /// A null upcall for a process blocked in yield-wait with nothing
    /// queued is dropped at once (and counts as delivered): it cannot wake
    /// the process, and the process cannot wait for it any more, so it must
    /// not take room a real upcall needs. (Yield-wait drops the null
    /// upcalls at the head of the queue, so while the process waits its
    /// queue is empty or starts with a real upcall.)
    pub(crate) fn enqueue(&self, ram: &mut [u8], task: Task) -> bool {
        if task.fn_ptr == 0 && self.state.get() == State::Yielded && self.queue.get().is_empty() {
            return true;
        }
        let pushed = self
            .with_queue(ram, |q, bytes| q.push(bytes, task))
            .unwrap_or(false);
        if !pushed {
            bump(&self.debug.dropped_upcalls);
        }
        pushed
    }

    // ----- debugging -----------------------------------------------------

    /// Prints the process's identity, memory map, counters and registers.
    pub fn print(&self, out: &mut dyn fmt::Write, boundary: &dyn UserspaceBoundary) -> fmt::Result {
        let Some(pid) = self.processid() else {
            return writeln!(out, "(unused slot)");
        };
        let mem = self.mem.get();
        let flash = self.flash.get();
        let d = self.debug_info();
        writeln!(
            out,
            "process {} ({pid}): {:?}",
            crate::utilities::Quoted(self.name()),
            self.state.get()
        )?;
        writeln!(
            out,
            "  flash  {:#010x}..{:#010x}  binary at {:#010x}",
            flash.start,
            flash.end(),
            self.binary_start()
        )?;
        writeln!(
            out,
            "  ram    {:#010x}..{:#010x}  break {:#010x} (accessible to {:#010x})  grants from {:#010x}",
            mem.start,
            mem.end(),
            self.app_break.get(),
            self.accessible_end.get(),
            self.kernel_break.get()
        )?;
        writeln!(
            out,
            "  allow high-water {:#010x}  stack {:?}  heap {:?}",
            self.allow_high_water.get(),
            d.stack_start,
            d.heap_start
        )?;
        writeln!(
            out,
            "  syscalls {}  upcalls queued {}  dropped {}  timeslices expired {}  restarts {}",
            d.syscalls,
            self.queue.get().len(),
            d.dropped_upcalls,
            d.timeslice_expirations,
            self.restart_count.get()
        )?;
        match d.last_syscall {
            Some((class, Some(driver))) => {
                writeln!(out, "  last syscall {class:?} (driver {driver:#x})")?
            }
            Some((class, None)) => writeln!(out, "  last syscall {class:?}")?,
            None => {}
        }
        if let Some(f) = self.fault.get() {
            writeln!(
                out,
                "  fault {:?} at pc {:#010x}, address {:#010x}",
                f.kind, f.pc, f.address
            )?;
        }
        if let Some(code) = self.completion_code.get() {
            writeln!(out, "  exit code {code}")?;
        }
        boundary.print_state(&self.stored_state(), out)
    }
}
