//! The kernel object: process table, grant registry, process loading,
//! system call dispatch and the round-robin main loop.

use core::cell::Cell;
use core::fmt;

use crate::grant::{self, AllowCounts, Grant, GrantData, GrantInfo, SlotKind};
use crate::platform::arch::{
    FaultKind, ProcessMemory, SwitchReason, UpcallFrame, UserspaceBoundary,
};
use crate::platform::mpu::MemoryProtection;
use crate::platform::{Platform, Range};
use crate::policy::FaultAction;
use crate::process::task::UpcallId;
use crate::process::{CreateError, Process, ProcessId, State};
use crate::storage_permissions::{
    ShortId, ShortIdAssigner, StoragePermissions, StoragePermissionsPolicy,
};
use crate::syscall::{ExitCall, ReturnRegisters, Syscall, SyscallReturn, YieldCall};
use crate::tbf::{AppWalk, KernelVersion, Outcome, TbfHeader};
use crate::ErrorCode;

/// Most grants (drivers with per-process state) a kernel can register.
pub const MAX_GRANTS: usize = 32;

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

/// What happened to one TBF during [`Kernel::load_processes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadEvent<'a> {
    /// A process was created in slot `index`.
    Loaded {
        /// Slot in the process table.
        index: usize,
        /// Package name.
        name: &'a str,
        /// Its flash (the TBF).
        flash: Range,
        /// Its RAM block.
        ram: Range,
        /// The ShortId the board's policy gave it.
        short_id: ShortId,
        /// Its storage permissions under the board's policy.
        storage: StoragePermissions,
    },
    /// The walk skipped or refused the TBF at `address`.
    Skipped {
        /// Address of the TBF.
        address: u32,
        /// The walk's verdict.
        outcome: Outcome<'a>,
    },
    /// No RAM could be found for the app (too little left, or its fixed
    /// RAM address lies behind memory already given out).
    NoMemory {
        /// Address of the TBF.
        address: u32,
        /// Package name.
        name: &'a str,
        /// RAM it needs.
        needed: u32,
        /// Its fixed RAM address, if any.
        fixed: Option<u32>,
    },
    /// Every process slot is in use.
    NoSlot {
        /// Address of the TBF.
        address: u32,
    },
    /// The architecture refused to start the app.
    StartFailed {
        /// Address of the TBF.
        address: u32,
        /// What went wrong.
        error: CreateError,
    },
}

/// One line per event, without a board prefix or a newline, e.g.
/// `process 0 'kv' flash 0x80100000..0x8010177c ram 0x80300000..0x80300d24
/// shortid 0x5ac3a6b2 storage self-only 0x5ac3a6b2`, or `TBF at 0x80100000
/// ('kv') refused: needs kernel 3.0, this is 2.3`. Padding, which fixed
/// addresses make ordinary, prints as an empty string.
impl fmt::Display for LoadEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadEvent::Loaded {
                index,
                name,
                flash,
                ram,
                short_id,
                storage,
            } => write!(
                f,
                "process {index} '{name}' flash {:#010x}..{:#010x} ram {:#010x}..{:#010x} \
                 shortid {short_id} storage {storage}",
                flash.start,
                flash.end(),
                ram.start,
                ram.end()
            ),
            LoadEvent::Skipped { address, outcome } => {
                fn name<'h>(h: &TbfHeader<'h>) -> &'h str {
                    h.package_name().unwrap_or("")
                }
                match outcome {
                    Outcome::Padding | Outcome::Load(_) => Ok(()),
                    Outcome::Invalid(e) => {
                        write!(f, "TBF at {address:#010x} skipped: invalid header: {e}")
                    }
                    Outcome::Refused(h, why) => {
                        write!(f, "TBF at {address:#010x} ('{}') refused: {why}", name(h))
                    }
                    Outcome::Disabled(h) => {
                        write!(f, "TBF at {address:#010x} ('{}') is disabled", name(h))
                    }
                }
            }
            LoadEvent::NoMemory {
                address,
                name,
                needed,
                fixed,
            } => write!(
                f,
                "TBF at {address:#010x} ('{name}') not loaded: no room for {needed} bytes of RAM{}",
                if fixed.is_some() {
                    " at its fixed address"
                } else {
                    ""
                }
            ),
            LoadEvent::NoSlot { address } => write!(
                f,
                "TBF at {address:#010x} not loaded: every process slot is in use"
            ),
            LoadEvent::StartFailed { address, error } => {
                write!(f, "TBF at {address:#010x} not started: {error:?}")
            }
        }
    }
}

/// Board policies used while loading processes.
pub struct LoadPolicy<'a> {
    /// Assigns each process its ShortId.
    pub short_id: &'a dyn ShortIdAssigner,
    /// Decides each process's storage permissions.
    pub storage: &'a dyn StoragePermissionsPolicy,
}

/// The kernel: owns the process table and the grant registry and runs the
/// main loop. A board creates exactly one, `&'static`.
pub struct Kernel {
    processes: &'static [Process],
    grants: [Cell<Option<GrantInfo>>; MAX_GRANTS],
    grants_finalized: Cell<bool>,
    next_identifier: Cell<usize>,
    next_to_run: Cell<usize>,
}

impl Kernel {
    /// A kernel with room for `processes.len()` processes.
    pub fn new(processes: &'static [Process]) -> Kernel {
        Kernel {
            processes,
            grants: [const { Cell::new(None) }; MAX_GRANTS],
            grants_finalized: Cell::new(false),
            next_identifier: Cell::new(0),
            next_to_run: Cell::new(0),
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

    fn grant_slot(&self, driver: u32) -> Option<(usize, GrantInfo)> {
        self.grants
            .iter()
            .enumerate()
            .find_map(|(i, g)| g.get().filter(|g| g.driver == driver).map(|g| (i, g)))
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

    /// Loads every app in the app flash area `flash` (at address
    /// `flash_start`) into RAM `ram` (at `ram_start`), following the TBF
    /// loading walk. Apps are placed in flash order; an app with a fixed
    /// RAM address gets exactly that address (skipping RAM to reach it) or
    /// is not loaded. `report` hears about every TBF. Returns the number of
    /// processes created. After this call no more grants can be created.
    #[allow(clippy::too_many_arguments)]
    pub fn load_processes(
        &self,
        flash: &'static [u8],
        flash_start: u32,
        ram: &'static mut [u8],
        ram_start: u32,
        policy: &LoadPolicy<'_>,
        boundary: &dyn UserspaceBoundary,
        protection: &dyn MemoryProtection,
        report: &mut dyn FnMut(&LoadEvent<'static>),
    ) -> usize {
        self.grants_finalized.set(true);
        let grant_slots = MAX_GRANTS.min(
            self.grant_count().max(
                // Slots are indexed by registry position: size for the highest.
                self.grants
                    .iter()
                    .rposition(|g| g.get().is_some())
                    .map_or(0, |i| i + 1),
            ),
        );
        let mut rest: &'static mut [u8] = ram;
        let mut cursor = ram_start;
        let mut loaded = 0;
        for item in AppWalk::new(flash, flash_start, KERNEL_VERSION) {
            let header: TbfHeader<'static> = match item.outcome {
                Outcome::Load(h) => h,
                outcome => {
                    report(&LoadEvent::Skipped {
                        address: item.address,
                        outcome,
                    });
                    continue;
                }
            };
            let name = header.package_name().unwrap_or("");
            let Some(index) = self
                .processes
                .iter()
                .position(|p| p.state() == State::Unused)
            else {
                report(&LoadEvent::NoSlot {
                    address: item.address,
                });
                break;
            };
            let needed = header
                .minimum_ram_size()
                .saturating_add(Process::kernel_overhead(grant_slots))
                .saturating_add(boundary.initial_accessible_bytes());
            let window = Range {
                start: cursor,
                len: u32::try_from(rest.len()).unwrap_or(u32::MAX),
            };
            let fixed = header.fixed_ram_address();
            let Some(block) = protection
                .place_process_ram(window, needed, fixed)
                .filter(|b| window.contains_range(b.start, b.len) && b.len >= needed)
            else {
                report(&LoadEvent::NoMemory {
                    address: item.address,
                    name,
                    needed,
                    fixed,
                });
                continue;
            };
            let skip = (block.start - cursor) as usize;
            let (_, after) = core::mem::take(&mut rest).split_at_mut(skip);
            let (mine, after) = after.split_at_mut(block.len as usize);
            rest = after;
            cursor = block.end();
            let short_id = policy.short_id.assign(&header);
            let storage = policy.storage.permissions(&header, short_id);
            let identifier = self.new_identifier();
            match self.processes[index].create(
                index,
                identifier,
                header,
                (item.address, item.bytes),
                mine,
                block.start,
                grant_slots,
                (short_id, storage),
                boundary,
                protection,
            ) {
                Ok(()) => {
                    loaded += 1;
                    report(&LoadEvent::Loaded {
                        index,
                        name,
                        flash: Range {
                            start: item.address,
                            len: item.length,
                        },
                        ram: block,
                        short_id,
                        storage,
                    });
                }
                Err(error) => report(&LoadEvent::StartFailed {
                    address: item.address,
                    error,
                }),
            }
        }
        loaded
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
                "process {:?} faulted ({:?} at {:#010x}, address {:#010x}): {:?}\n",
                process.name(),
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
                panic!("process {:?} faulted: {:?}", process.name(), fault);
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

    // ----- system calls ------------------------------------------------

    /// Handles one system call of `process`. Returns the value to write
    /// into its registers, or `None` if nothing is written now (yield,
    /// exit).
    pub fn handle_syscall(
        &self,
        process: &Process,
        syscall: Syscall,
        platform: &Platform<'_>,
    ) -> Option<SyscallReturn> {
        process.update_debug(|d| {
            d.syscalls = d.syscalls.saturating_add(1);
            d.last_syscall = Some(syscall);
        });
        let filtered = platform.filter.filter(process, &syscall);
        match syscall {
            Syscall::Yield { which, param } => {
                self.handle_yield(process, which, param);
                None
            }
            Syscall::Exit {
                which,
                completion_code,
            } => match which {
                ExitCall::Terminate => {
                    process.stop(State::Terminated, Some(completion_code));
                    None
                }
                ExitCall::Restart => {
                    self.restart(process, Some(completion_code), platform);
                    None
                }
                ExitCall::Other(_) => Some(SyscallReturn::Failure(ErrorCode::NOSUPPORT)),
            },
            Syscall::Memop { operand, arg0 } => Some(self.memop(process, operand, arg0, platform)),
            Syscall::Command {
                driver,
                command,
                arg0,
                arg1,
            } => Some(match filtered {
                Err(e) => SyscallReturn::Failure(e),
                Ok(()) => match platform.drivers.driver(driver) {
                    None => SyscallReturn::Failure(ErrorCode::NODEVICE),
                    Some(d) => match process.processid() {
                        Some(pid) => d.command(command, arg0, arg1, pid).into_inner(),
                        None => SyscallReturn::Failure(ErrorCode::FAIL),
                    },
                },
            }),
            Syscall::Subscribe {
                driver,
                subdriver,
                upcall_ptr,
                appdata,
            } => {
                let r = filtered.and_then(|()| {
                    self.subscribe(process, driver, subdriver, (upcall_ptr, appdata), platform)
                });
                Some(match r {
                    Ok((f, d)) => SyscallReturn::subscribe_success(f, d),
                    Err(e) => SyscallReturn::subscribe_failure(e, upcall_ptr, appdata),
                })
            }
            Syscall::ReadWriteAllow {
                driver,
                allow,
                ptr,
                size,
            }
            | Syscall::ReadOnlyAllow {
                driver,
                allow,
                ptr,
                size,
            }
            | Syscall::UserspaceReadableAllow {
                driver,
                allow,
                ptr,
                size,
            } => {
                let kind = match syscall {
                    Syscall::ReadOnlyAllow { .. } => SlotKind::ReadOnly,
                    Syscall::UserspaceReadableAllow { .. } => SlotKind::UserspaceReadable,
                    _ => SlotKind::ReadWrite,
                };
                Some(self.allow(
                    process,
                    kind,
                    (driver, allow, ptr, size),
                    filtered,
                    platform,
                ))
            }
        }
    }

    fn handle_yield(&self, process: &Process, which: YieldCall, param: u32) {
        match which {
            YieldCall::NoWait => {
                let has_upcall = Self::drop_leading_null_upcalls(process);
                if param != 0 && process.in_app_ram(param, 1) {
                    if let Some((a, _)) = process.ram_offsets(param, 1) {
                        process.with_ram(|ram| ram[a] = u8::from(has_upcall));
                    }
                }
                if has_upcall {
                    process.set_state(State::Yielded);
                }
            }
            YieldCall::Wait => {
                // Null upcalls never wake a yield-wait: drop those queued
                // ahead (later ones are dropped on arrival, see
                // `Process::enqueue`).
                Self::drop_leading_null_upcalls(process);
                process.set_state(State::Yielded);
            }
            YieldCall::WaitFor { driver, subscribe } => {
                process.set_state(State::YieldedFor(UpcallId { driver, subscribe }))
            }
        }
    }

    /// Drops the null upcalls at the head of the queue of `process`;
    /// returns whether a real upcall is then first in line.
    fn drop_leading_null_upcalls(process: &Process) -> bool {
        process
            .with_ram(|ram| {
                process
                    .with_queue(ram, |q, bytes| {
                        while q.get(bytes, 0).is_some_and(|t| t.fn_ptr == 0) {
                            q.remove(bytes, 0);
                        }
                        !q.is_empty()
                    })
                    .unwrap_or(false)
            })
            .unwrap_or(false)
    }

    fn subscribe(
        &self,
        process: &Process,
        driver: u32,
        subscribe: u32,
        upcall: (u32, u32),
        platform: &Platform<'_>,
    ) -> Result<(u32, u32), ErrorCode> {
        platform.drivers.driver(driver).ok_or(ErrorCode::NODEVICE)?;
        let (slot, info) = self
            .grant_slot(driver)
            .filter(|(_, info)| subscribe < info.count(SlotKind::Upcall))
            .ok_or(ErrorCode::NOSUPPORT)?;
        if !process.valid_upcall_pointer(upcall.0) {
            return Err(ErrorCode::INVAL);
        }
        process
            .with_ram(|ram| {
                let block = grant::block_offset(process, ram, slot, &info, true)?;
                let old = grant::swap_slot(ram, block, &info, SlotKind::Upcall, subscribe, upcall)
                    .ok_or(ErrorCode::NOSUPPORT)?;
                let id = UpcallId { driver, subscribe };
                process.with_queue(ram, |q, bytes| q.retain(bytes, |t| t.id == id));
                Ok(old)
            })
            .unwrap_or(Err(ErrorCode::BUSY))
    }

    fn allow(
        &self,
        process: &Process,
        kind: SlotKind,
        (driver, allow, ptr, size): (u32, u32, u32, u32),
        filtered: Result<(), ErrorCode>,
        platform: &Platform<'_>,
    ) -> SyscallReturn {
        let r = filtered.and_then(|()| {
            platform.drivers.driver(driver).ok_or(ErrorCode::NODEVICE)?;
            let (slot, info) = self
                .grant_slot(driver)
                .filter(|(_, info)| allow < info.count(kind))
                .ok_or(ErrorCode::NOSUPPORT)?;
            let valid = size == 0
                || process.in_app_ram(ptr, size)
                || (kind == SlotKind::ReadOnly && process.in_app_flash(ptr, size));
            if !valid {
                return Err(ErrorCode::INVAL);
            }
            let old = process
                .with_ram(|ram| {
                    let block = grant::block_offset(process, ram, slot, &info, true)?;
                    grant::swap_slot(ram, block, &info, kind, allow, (ptr, size))
                        .ok_or(ErrorCode::NOSUPPORT)
                })
                .unwrap_or(Err(ErrorCode::BUSY))?;
            if size != 0 && process.in_app_ram(ptr, size) {
                process.raise_allow_high_water(ptr + size);
            }
            Ok(old)
        });
        match r {
            Ok((p, s)) => SyscallReturn::allow_success(p, s),
            Err(e) => SyscallReturn::allow_failure(e, ptr, size),
        }
    }

    fn memop(
        &self,
        process: &Process,
        op: u32,
        arg: u32,
        platform: &Platform<'_>,
    ) -> SyscallReturn {
        use SyscallReturn::{Failure, Success, SuccessU32};
        let header = process.header();
        let flash = process.flash();
        let region = |i: u32| {
            header
                .and_then(|h| h.writeable_regions().nth(i as usize))
                .map(|r| (flash.start.wrapping_add(r.offset), r.size))
        };
        match op {
            0 => match process.brk(arg, platform.protection) {
                Ok(()) => Success,
                Err(e) => Failure(e),
            },
            1 => {
                let old = process.app_break();
                let new = old.checked_add_signed(arg as i32);
                match new.map(|n| process.brk(n, platform.protection)) {
                    Some(Ok(())) => SuccessU32(old),
                    _ => Failure(ErrorCode::NOMEM),
                }
            }
            2 => SuccessU32(process.memory().start),
            3 => SuccessU32(process.memory().end()),
            4 => SuccessU32(flash.start),
            5 => SuccessU32(flash.end()),
            6 => SuccessU32(process.kernel_break()),
            7 => SuccessU32(header.map_or(0, |h| h.writeable_region_count() as u32)),
            8 => region(arg).map_or(Failure(ErrorCode::FAIL), |(s, _)| SuccessU32(s)),
            9 => region(arg).map_or(Failure(ErrorCode::FAIL), |(s, l)| {
                SuccessU32(s.wrapping_add(l))
            }),
            10 => {
                process.update_debug(|d| d.stack_start = Some(arg));
                Success
            }
            11 => {
                process.update_debug(|d| d.heap_start = Some(arg));
                Success
            }
            _ => Failure(ErrorCode::NOSUPPORT),
        }
    }

    // ----- scheduling --------------------------------------------------

    /// Whether `process` can make progress now: runnable, or blocked in a
    /// yield that a queued upcall satisfies.
    fn ready(process: &Process) -> bool {
        match process.state() {
            State::Runnable => true,
            State::Yielded => Self::find_task(process, |t| t.fn_ptr != 0, false).is_some(),
            State::YieldedFor(id) => Self::find_task(process, |t| t.id == id, false).is_some(),
            _ => false,
        }
    }

    /// Finds (and with `take`, removes) the oldest queued task matching
    /// `pred`; yield-wait drops the null upcalls in front of it.
    fn find_task(
        process: &Process,
        pred: impl Fn(&crate::process::task::Task) -> bool,
        take: bool,
    ) -> Option<crate::process::task::Task> {
        process
            .with_ram(|ram| {
                process.with_queue(ram, |q, bytes| {
                    let i = q.position(bytes, &pred)?;
                    if take {
                        q.remove(bytes, i)
                    } else {
                        q.get(bytes, i)
                    }
                })
            })
            .flatten()
            .flatten()
    }

    /// Removes the oldest real upcall for a yield-wait, dropping the null
    /// upcalls queued ahead of it.
    fn take_upcall(process: &Process) -> Option<crate::process::task::Task> {
        process
            .with_ram(|ram| {
                process.with_queue(ram, |q, bytes| {
                    q.position(bytes, |t| t.fn_ptr != 0)?;
                    loop {
                        let t = q.remove(bytes, 0)?;
                        if t.fn_ptr != 0 {
                            return Some(t);
                        }
                    }
                })
            })
            .flatten()
            .flatten()
    }

    /// Whether any process can run now.
    pub fn has_ready_process(&self) -> bool {
        self.processes.iter().any(Self::ready)
    }

    /// One pass of the main loop: service interrupts, then deferred calls,
    /// then run the next ready process (round robin) for one timeslice, or
    /// sleep if there is nothing to do.
    pub fn run_once(&self, platform: &Platform<'_>) {
        if platform.chip.has_pending_interrupts() {
            platform.chip.service_pending_interrupts();
        }
        if platform.deferred.has_pending() {
            platform.deferred.service_next();
            return;
        }
        let n = self.processes.len();
        let start = self.next_to_run.get();
        let next = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| Self::ready(&self.processes[i]));
        match next {
            Some(i) => {
                self.next_to_run.set((i + 1) % n);
                self.run_process(&self.processes[i], platform);
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
    /// work (an interrupt or deferred call) to do.
    fn run_process(&self, process: &Process, platform: &Platform<'_>) {
        platform.timer.start(platform.timeslice_us);
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
                    let mut state = process.stored_state();
                    let pushed = process
                        .with_ram(|ram| {
                            let mut memory = ProcessMemory {
                                ram,
                                start: process.memory().start,
                                accessible_end: process.accessible_end(),
                            };
                            platform
                                .boundary
                                .push_upcall(&mut state, &mut memory, &frame)
                        })
                        .unwrap_or(Err(crate::platform::arch::Fault {
                            kind: FaultKind::BadFrame,
                            pc: 0,
                            address: 0,
                        }));
                    match pushed {
                        Ok(()) => {
                            process.set_stored_state(state);
                            process.set_state(State::Runnable);
                        }
                        Err(f) => {
                            self.fault(process, f, platform);
                            break;
                        }
                    }
                }
                State::YieldedFor(id) => {
                    let Some(task) = Self::find_task(process, |t| t.id == id, true) else {
                        break;
                    };
                    let mut state = process.stored_state();
                    platform.boundary.set_syscall_return(
                        &mut state,
                        &ReturnRegisters::yield_wait_for(task.args),
                    );
                    process.set_stored_state(state);
                    process.set_state(State::Runnable);
                }
                State::Runnable => {
                    if platform.chip.has_pending_interrupts() || platform.deferred.has_pending() {
                        break;
                    }
                    if !self.switch(process, platform) {
                        break;
                    }
                }
                _ => break,
            }
            if platform.timer.expired() {
                process.update_debug(|d| {
                    d.timeslice_expirations = d.timeslice_expirations.saturating_add(1)
                });
                break;
            }
        }
        platform.timer.reset();
    }

    /// Switches to `process` once and handles why it came back. Returns
    /// whether the kernel may switch to it again in this timeslice.
    fn switch(&self, process: &Process, platform: &Platform<'_>) -> bool {
        platform.protection.configure(&process.protection());
        let mut state = process.stored_state();
        let reason = process.with_ram(|ram| {
            let mut memory = ProcessMemory {
                ram,
                start: process.memory().start,
                accessible_end: process.accessible_end(),
            };
            platform.boundary.switch_to_process(&mut state, &mut memory)
        });
        process.set_stored_state(state);
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
                        let mut state = process.stored_state();
                        platform
                            .boundary
                            .set_syscall_return(&mut state, &ret.encode());
                        process.set_stored_state(state);
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
                process.update_debug(|d| {
                    d.timeslice_expirations = d.timeslice_expirations.saturating_add(1)
                });
                false
            }
            Some(SwitchReason::Interrupted) => {
                // Ports that cannot tell the timeslice interrupt from others
                // report Interrupted; the timer knows.
                if platform.timer.expired() {
                    process.update_debug(|d| {
                        d.timeslice_expirations = d.timeslice_expirations.saturating_add(1)
                    });
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
