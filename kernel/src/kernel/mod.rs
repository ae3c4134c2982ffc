//! The kernel object: process table, grant registry, faults and restarts,
//! and the round-robin main loop. Process loading is in [`loading`], the
//! system call dispatch (one function per class) in `dispatch`.

mod dispatch;
pub mod loading;

use core::cell::Cell;
use core::fmt;

use crate::grant::{self, AllowCounts, Grant, GrantData, GrantInfo, SlotKind};
use crate::platform::arch::{
    FaultKind, ProcessMemory, SwitchReason, UpcallFrame, UserspaceBoundary,
};
use crate::platform::{Platform, Range};
use crate::policy::FaultAction;
use crate::process::task::{Task, TaskQueue, UpcallId};
use crate::process::{Process, ProcessId, State};
use crate::syscall::{ReturnRegisters, Syscall};
use crate::tbf::KernelVersion;
use crate::utilities::Quoted;

/// Most grants (drivers with per-process state) a kernel can register.
pub const MAX_GRANTS: usize = 32;

/// Most deferred calls the main loop serves in a row while a process is
/// ready to run: then a process runs before more deferred work, so a long
/// chain of split-phase work (a KV request's flash steps) cannot starve
/// processes. Interrupts are always served first. A process run because
/// the budget ran out while deferred work waits gets a timeslice cut by
/// [`SHORT_SLICE_DIVISOR`], so a computing process cannot slow kernel work
/// down to a crawl either.
pub const DEFERRED_BUDGET: u32 = 8;

/// The timeslice of a process run between two bursts of deferred work is
/// the board's timeslice divided by this.
pub const SHORT_SLICE_DIVISOR: u32 = 10;

/// The version of the userspace ABI this kernel implements (apps declare
/// the version they need in their TBF). 2.3 is what upstream Tock master
/// declares; apps requiring any 2.x up to it load (libtock-rs packs 2.0 or
/// 2.1, libtock-c 2.2).
pub const KERNEL_VERSION: KernelVersion = KernelVersion::new(2, 3);

/// Why a grant could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateGrantError {
    /// Processes have been loaded already; their grant tables are sized.
    TooLate,
    /// The driver already has a grant.
    Duplicate,
    /// [`MAX_GRANTS`] grants exist.
    TableFull,
}

/// The kernel: owns the process table and the grant registry and runs the
/// main loop. A board creates exactly one, `&'static`.
pub struct Kernel {
    processes: &'static [Process],
    grants: [Cell<Option<GrantInfo>>; MAX_GRANTS],
    grants_finalized: Cell<bool>,
    /// The registry slot [`Kernel::grant_slot`] found last: looked at
    /// first, since a process's calls come in runs to one driver (a KV
    /// request's allows, subscribe, command and their undoing).
    last_grant: Cell<usize>,
    next_identifier: Cell<usize>,
    next_to_run: Cell<usize>,
    /// Slots from the first up to the last one a process was ever created
    /// in: the scheduler looks no further (boards have room for more
    /// processes than they usually load).
    slots_used: Cell<usize>,
    /// Deferred calls served since a process last ran.
    deferred_streak: Cell<u32>,
    /// The process run (id, accessible end) the protection unit was last
    /// configured for, when that run had no shared buffers: resuming it
    /// unchanged needs no reconfiguration.
    configured_for: Cell<Option<(ProcessId, u32)>>,
}

impl Kernel {
    /// A kernel with room for `processes.len()` processes.
    pub fn new(processes: &'static [Process]) -> Kernel {
        Kernel {
            processes,
            grants: [const { Cell::new(None) }; MAX_GRANTS],
            grants_finalized: Cell::new(false),
            last_grant: Cell::new(0),
            next_identifier: Cell::new(0),
            next_to_run: Cell::new(0),
            slots_used: Cell::new(0),
            // As if a burst of deferred calls had just ended: at boot the
            // processes run first, before the kernel's background work
            // (mounting or checking a store can take many bursts).
            deferred_streak: Cell::new(DEFERRED_BUDGET),
            configured_for: Cell::new(None),
        }
    }

    // ----- grants ------------------------------------------------------

    /// Registers the grant of driver `driver`. Must happen before
    /// [`Kernel::load_processes`].
    pub fn create_grant<T: GrantData>(
        &'static self,
        driver: u32,
        counts: AllowCounts,
    ) -> Result<Grant<T>, CreateGrantError> {
        if self.grants_finalized.get() {
            return Err(CreateGrantError::TooLate);
        }
        if self.grant_slot(driver).is_some() {
            return Err(CreateGrantError::Duplicate);
        }
        let slot = self
            .grants
            .iter()
            .position(|g| g.get().is_none())
            .ok_or(CreateGrantError::TableFull)?;
        let grant = Grant::new(self, slot, driver, counts);
        self.grants[slot].set(Some(GrantInfo {
            driver,
            counts,
            data_size: T::SIZE as u32,
        }));
        Ok(grant)
    }

    /// The registry slot and record of the grant of `driver`: the slot
    /// found last if it is that driver's (grants are never removed, so a
    /// driver keeps its slot), else a search of the registry.
    #[inline(always)]
    fn grant_slot(&self, driver: u32) -> Option<(usize, GrantInfo)> {
        let last = self.last_grant.get();
        match self.grants.get(last).and_then(Cell::get) {
            Some(info) if info.driver == driver => Some((last, info)),
            _ => self.find_grant_slot(driver),
        }
    }

    /// [`Kernel::grant_slot`] by a search of the registry, remembering
    /// the slot found.
    #[cold]
    #[inline(never)]
    fn find_grant_slot(&self, driver: u32) -> Option<(usize, GrantInfo)> {
        let found = self
            .grants
            .iter()
            .enumerate()
            .find_map(|(i, g)| g.get().filter(|g| g.driver == driver).map(|g| (i, g)));
        if let Some((i, _)) = found {
            self.last_grant.set(i);
        }
        found
    }

    /// The read-write buffer live process `pid` allows to `driver` in
    /// slot `n`, if there is one inside its own memory.
    pub(crate) fn read_write_allow(&self, pid: ProcessId, driver: u32, n: u32) -> Option<Range> {
        let process = self.process(pid)?;
        let (slot, info) = self.grant_slot(driver)?;
        let (addr, len) = process
            .with_ram(|ram| {
                let block = grant::block_offset(process, ram, slot, &info, false).ok()?;
                grant::read_slot(ram, block, &info, SlotKind::ReadWrite, n)
            })
            .flatten()?;
        (len != 0 && process.in_app_ram(addr, len)).then_some(Range { start: addr, len })
    }

    /// Drops the shared buffers of `process` whose owner has died or
    /// restarted, or no longer allows exactly that buffer in that slot.
    fn drop_stale_shared(&self, process: &Process) {
        if !process.has_shared() {
            return;
        }
        process
            .retain_shared(|b| self.read_write_allow(b.owner, b.driver, b.allow) == Some(b.range));
    }

    fn grant_count(&self) -> usize {
        self.grants.iter().filter(|g| g.get().is_some()).count()
    }

    // ----- processes ---------------------------------------------------

    /// The live process `pid` names, or `None` if the id is stale (the
    /// process exited, faulted or restarted since) or invalid.
    pub fn process(&self, pid: ProcessId) -> Option<&Process> {
        let p = self.processes.get(pid.index())?;
        (p.processid() == Some(pid) && p.state().is_alive()).then_some(p)
    }

    /// Every process slot, in table order.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.processes.iter()
    }

    /// The ids of the live processes.
    pub fn process_ids(&self) -> impl Iterator<Item = ProcessId> + '_ {
        self.processes
            .iter()
            .filter(|p| p.state().is_alive())
            .filter_map(Process::processid)
    }

    fn new_identifier(&self) -> usize {
        let id = self.next_identifier.get();
        self.next_identifier.set(id.wrapping_add(1));
        id
    }

    /// Ends the current run of `process` with `completion_code` (`None`
    /// after a fault) and restarts it under a new id (memory reset, started
    /// from its entry point).
    fn restart(&self, process: &Process, completion_code: Option<u32>, platform: &Platform<'_>) {
        process.stop(State::Terminated, completion_code);
        process.count_restart();
        let _ = process.start(
            self.new_identifier(),
            platform.boundary,
            platform.protection,
        );
    }

    /// Applies the board's fault policy to a process that faulted.
    fn fault(
        &self,
        process: &Process,
        fault: crate::platform::arch::Fault,
        platform: &Platform<'_>,
    ) {
        process.record_fault(fault);
        let action = platform.fault_policy.action(process);
        if let Some(out) = platform.debug {
            out.write_fmt(format_args!(
                "process {} faulted ({:?} at {:#010x}, address {:#010x}): {:?}\n",
                Quoted(process.name()),
                fault.kind,
                fault.pc,
                fault.address,
                action
            ));
        }
        match action {
            FaultAction::Restart => self.restart(process, None, platform),
            FaultAction::Stop => process.stop(State::Faulted, None),
            FaultAction::Panic => {
                process.stop(State::Faulted, None);
                self.panic_dump(platform);
                panic!("process {} faulted: {:?}", Quoted(process.name()), fault);
            }
        }
    }

    /// Prints the state of every process to the platform's debug output.
    pub fn panic_dump(&self, platform: &Platform<'_>) {
        if let Some(out) = platform.debug {
            let mut w = DebugAdapter(out);
            let _ = self.print_processes(&mut w, platform.boundary);
        }
    }

    /// Prints every process's state.
    pub fn print_processes(
        &self,
        out: &mut dyn fmt::Write,
        boundary: &dyn UserspaceBoundary,
    ) -> fmt::Result {
        for p in self.processes.iter().filter(|p| p.state() != State::Unused) {
            p.print(out, boundary)?;
        }
        Ok(())
    }

    // ----- scheduling --------------------------------------------------

    /// Whether `process` can make progress now: runnable, or blocked in a
    /// yield that a queued upcall satisfies.
    fn ready(process: &Process) -> bool {
        match process.state() {
            State::Runnable => true,
            // The common case while deferred work runs (a process waiting
            // for its request): nothing queued, so no need to look at the
            // queue in the process's memory.
            State::Yielded | State::YieldedFor(_) if process.pending_tasks() == 0 => false,
            State::Yielded => Self::on_queue(process, |q, b| q.first_real(b).is_some()),
            State::YieldedFor(id) => Self::on_queue(process, |q, b| q.first_of(b, id).is_some()),
            _ => false,
        }
    }

    /// Runs `f` on the upcall queue of `process`; `false` if its memory is
    /// unavailable.
    fn on_queue(process: &Process, f: impl FnOnce(&mut TaskQueue, &mut [u8]) -> bool) -> bool {
        process
            .with_ram(|ram| process.with_queue(ram, f))
            .flatten()
            .unwrap_or(false)
    }

    /// Removes the oldest queued upcall `id`, for a yield-wait-for: its
    /// arguments.
    fn take_args(process: &Process, id: UpcallId) -> Option<[u32; 3]> {
        process
            .with_ram(|ram| process.with_queue(ram, |q, bytes| q.take_args_of(bytes, id)))
            .flatten()
            .flatten()
    }

    /// Removes the oldest real upcall for a yield-wait, dropping the null
    /// upcalls queued ahead of it.
    fn take_upcall(process: &Process) -> Option<Task> {
        process
            .with_ram(|ram| process.with_queue(ram, |q, bytes| q.take_real(bytes)))
            .flatten()
            .flatten()
    }

    /// Whether any process can run now.
    pub fn has_ready_process(&self) -> bool {
        self.used_slots().iter().any(Self::ready)
    }

    /// The process slots in use or used before (a prefix of the table).
    fn used_slots(&self) -> &'static [Process] {
        let used = self.slots_used.get();
        self.processes.get(..used).unwrap_or(self.processes)
    }

    /// Notes that slot `index` holds a process.
    pub(crate) fn slot_used(&self, index: usize) {
        self.slots_used.set(self.slots_used.get().max(index + 1));
    }

    /// One pass of the main loop: service interrupts, then one deferred
    /// call, or run the next ready process (round robin) for one timeslice,
    /// or sleep if there is nothing to do. Deferred calls go first, but after
    /// [`DEFERRED_BUDGET`] of them in a row a ready process runs once.
    pub fn run_once(&self, platform: &Platform<'_>) {
        if platform.chip.has_pending_interrupts() {
            platform.chip.service_pending_interrupts();
        }
        if platform.deferred.has_pending() {
            let streak = self.deferred_streak.get();
            if streak < DEFERRED_BUDGET || !self.has_ready_process() {
                // No process was ready at the end of a burst: this call
                // starts the next burst. Readiness is asked once a burst,
                // not on every deferred call of a long stretch of kernel
                // work (a mount: about a sixth of its instructions).
                let streak = if streak < DEFERRED_BUDGET {
                    streak + 1
                } else {
                    1
                };
                self.deferred_streak.set(streak);
                platform.deferred.service_next();
                return;
            }
        }
        // A process let in while deferred work waits gets a short slice.
        let short = self.deferred_streak.get() >= DEFERRED_BUDGET;
        self.deferred_streak.set(0);
        let slots = self.used_slots();
        let n = slots.len();
        let start = self.next_to_run.get();
        let next = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| Self::ready(&slots[i]));
        match next {
            Some(i) => {
                self.next_to_run.set((i + 1) % n);
                let (slice, waited) = if short {
                    (
                        (platform.timeslice_us / SHORT_SLICE_DIVISOR).max(1),
                        platform.deferred.pending(),
                    )
                } else {
                    (platform.timeslice_us, 0)
                };
                self.run_process(&slots[i], platform, slice, waited);
            }
            None => {
                if !platform.chip.has_pending_interrupts() {
                    platform.chip.sleep();
                }
            }
        }
    }

    /// Runs the main loop forever.
    pub fn run_forever(&self, platform: &Platform<'_>) -> ! {
        loop {
            self.run_once(platform);
        }
    }

    /// Runs `process` until it blocks, its timeslice ends or the kernel has
    /// work (an interrupt or deferred call) to do; it is switched to at
    /// least once, whatever work is pending.
    ///
    /// The deferred calls in `waited` (a mask of slots) do not end the
    /// run: a process let in after a burst of deferred work keeps its short
    /// slice while that work waits, and only new work or an interrupt cuts
    /// it. Otherwise each of its system calls would let another burst run
    /// first (at boot on a blank store: a burst of the store's blank check
    /// after every call the app makes while starting).
    fn run_process(
        &self,
        process: &Process,
        platform: &Platform<'_>,
        timeslice_us: u32,
        waited: u64,
    ) {
        platform.timer.start(timeslice_us);
        let mut switched = false;
        loop {
            match process.state() {
                State::Yielded => {
                    let Some(task) = Self::take_upcall(process) else {
                        break;
                    };
                    let frame = UpcallFrame {
                        fn_ptr: task.fn_ptr,
                        args: task.args,
                        appdata: task.appdata,
                    };
                    // In place: the saved state is 144 bytes, and a copy
                    // out and back cost about 500 instructions an upcall.
                    let pushed = process
                        .with_stored_state(|state| {
                            process.with_ram(|ram| {
                                let mut memory = ProcessMemory {
                                    ram,
                                    start: process.memory().start,
                                    accessible_end: process.accessible_end(),
                                };
                                platform.boundary.push_upcall(state, &mut memory, &frame)
                            })
                        })
                        .flatten()
                        .unwrap_or(Err(crate::platform::arch::Fault {
                            kind: FaultKind::BadFrame,
                            pc: 0,
                            address: 0,
                        }));
                    match pushed {
                        Ok(()) => {
                            process.set_state(State::Runnable);
                        }
                        Err(f) => {
                            self.fault(process, f, platform);
                            break;
                        }
                    }
                }
                State::YieldedFor(id) => {
                    let Some(args) = Self::take_args(process, id) else {
                        break;
                    };
                    let ret = ReturnRegisters::yield_wait_for(args);
                    process.with_stored_state(|state| {
                        platform.boundary.set_syscall_return(state, &ret)
                    });
                    process.set_state(State::Runnable);
                }
                State::Runnable => {
                    // (The mask only when work waits: it is two registers on
                    // rv32, and this runs on every system call.)
                    let kernel_work = platform.chip.has_pending_interrupts()
                        || (platform.deferred.has_pending()
                            && platform.deferred.pending() & !waited != 0);
                    if switched && kernel_work {
                        break;
                    }
                    switched = true;
                    if !self.switch(process, platform) {
                        break;
                    }
                }
                _ => break,
            }
            if platform.timer.expired() {
                process.count_timeslice_expiration();
                break;
            }
        }
        platform.timer.reset();
    }

    /// Switches to `process` once and handles why it came back. Returns
    /// whether the kernel may switch to it again in this timeslice.
    fn switch(&self, process: &Process, platform: &Platform<'_>) -> bool {
        self.drop_stale_shared(process);
        // The same run of the same process, with the same break and no
        // shared buffers, resumes under the configuration it left with.
        let this_run = process
            .processid()
            .filter(|_| !process.has_shared())
            .map(|pid| (pid, process.accessible_end()));
        if this_run.is_none() || this_run != self.configured_for.get() {
            platform.protection.configure(&process.protection());
            self.configured_for.set(this_run);
        }
        let reason = process
            .with_ram(|ram| {
                let mut memory = ProcessMemory {
                    ram,
                    start: process.memory().start,
                    accessible_end: process.accessible_end(),
                };
                process.with_stored_state(|state| {
                    platform.boundary.switch_to_process(state, &mut memory)
                })
            })
            .flatten();
        match reason {
            None => false,
            Some(SwitchReason::Syscall { class, args }) => match Syscall::decode(class, args) {
                Err(_) => {
                    let pc = platform.boundary.program_counter(&process.stored_state());
                    self.fault(
                        process,
                        crate::platform::arch::Fault {
                            kind: FaultKind::BadSyscall,
                            pc,
                            address: 0,
                        },
                        platform,
                    );
                    false
                }
                Ok(syscall) => {
                    if let Some(ret) = self.handle_syscall(process, syscall, platform) {
                        let ret = ret.encode();
                        process.with_stored_state(|state| {
                            platform.boundary.set_syscall_return(state, &ret)
                        });
                    }
                    // A yield keeps the timeslice: if an upcall is ready the
                    // loop delivers it at once; otherwise the loop ends.
                    process.state().is_alive()
                }
            },
            Some(SwitchReason::Fault(f)) => {
                self.fault(process, f, platform);
                false
            }
            Some(SwitchReason::TimesliceExpired) => {
                process.count_timeslice_expiration();
                false
            }
            Some(SwitchReason::Interrupted) => {
                // Ports that cannot tell the timeslice interrupt from others
                // report Interrupted; the timer knows.
                if platform.timer.expired() {
                    process.count_timeslice_expiration();
                }
                false
            }
        }
    }
}

struct DebugAdapter<'a>(&'a dyn crate::platform::DebugOutput);

impl fmt::Write for DebugAdapter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_fmt(format_args!("{s}"));
        Ok(())
    }
}
