//! A mock architecture and board for host tests of the kernel and its
//! capsules.
//!
//! The mock CPU runs scripted processes: each process has a queue of
//! [`Step`]s (system calls, memory accesses, faults) that the mock
//! [`MockBoundary`] plays back whenever the kernel switches to it. Process
//! memory accesses are checked against the range the kernel opened with
//! [`MemoryProtection::configure`], so a test can show that a process
//! cannot reach kernel-owned memory. Register state is plain data: tests
//! read syscall results from the saved registers exactly as userspace would
//! see them.
//!
//! [`Harness`] puts it together: a kernel with process slots, an app flash
//! area built from [`tbf::TbfBuilder`] objects, a RAM window, a driver
//! table, and a loop that runs the kernel until nothing is left to do.

pub mod driver;
pub mod elf2tab;
pub mod flash;
pub mod tbf;

pub use driver::{TestDriver, COUNTS, DRV};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::fmt;

use kernel::deferred_call::DeferredCalls;
use kernel::platform::arch::{
    EntryRegisters, Fault, FaultKind, ProcessMemory, StoredState, SwitchReason, UpcallFrame,
    UserspaceBoundary,
};
use kernel::platform::chip::{Chip, SchedulerTimer};
use kernel::platform::mpu::{MemoryProtection, ProcessProtection, WordGranularProtection};
use kernel::platform::{DebugOutput, Platform, Range};
use kernel::policy::{ProcessFaultPolicy, SyscallFilter};
use kernel::process::{Process, ProcessId};
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::syscall::ReturnRegisters;
use kernel::syscall_driver::{SyscallDriver, SyscallDriverLookup};
use kernel::{AppMemory, Kernel, LoadEvent, LoadPolicy};
use rv32i::Rv32i;

/// Index of `r0` (`a0`) in the saved state; `r1`..`r3` follow. The mock
/// keeps rv32i's register file and uses rv32i's own code for entry
/// registers, syscall returns, upcall frames and trap decoding: only the
/// running of a process is scripted.
pub const R0: usize = rv32i::context::A0;
/// Index of the program counter.
pub const PC: usize = rv32i::context::PC;
/// Index of the return address (link register / `ra`).
pub const LR: usize = rv32i::context::RA;
/// Index of the stack pointer.
pub const SP: usize = rv32i::context::SP;
/// A saved-state word rv32i does not use: the mock keeps the process's RAM
/// start there to attribute events to processes.
const TAG: usize = rv32i::context::MTVAL + 1;
/// `mcause` the mock records for a scripted fault (not an ecall, so the
/// reported pc is the faulting one).
const SCRIPTED_FAULT: u32 = 0xFFFF;

/// One thing a scripted process does when it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Traps with a system call: class and `[r0, r1, r2, r3]`.
    Syscall(u8, [u32; 4]),
    /// Stores `bytes` at `addr` (faults if the memory is not accessible).
    Write(u32, Vec<u8>),
    /// Loads `len` bytes at `addr` into the read log (faults if not
    /// accessible).
    Read(u32, u32),
    /// Asks the mock protection unit whether `[addr, addr + len)` is open
    /// for writing right now (own RAM or a shared buffer), without
    /// touching it; logs [`Event::Probe`].
    Probe(u32, u32),
    /// Faults with this kind.
    Fault(FaultKind),
    /// Runs out of its timeslice.
    Timeslice,
    /// Is interrupted.
    Interrupt,
}

/// Convenience constructors for common system calls.
pub mod sys {
    use super::Step;

    /// Yield no-wait with the flag at `flag` (0 = none).
    pub fn yield_no_wait(flag: u32) -> Step {
        Step::Syscall(0, [0, flag, 0, 0])
    }
    /// Yield wait.
    pub fn yield_wait() -> Step {
        Step::Syscall(0, [1, 0, 0, 0])
    }
    /// Yield wait-for (driver, subscribe).
    pub fn yield_wait_for(driver: u32, subscribe: u32) -> Step {
        Step::Syscall(0, [2, driver, subscribe, 0])
    }
    /// Subscribe.
    pub fn subscribe(driver: u32, n: u32, f: u32, data: u32) -> Step {
        Step::Syscall(1, [driver, n, f, data])
    }
    /// Command.
    pub fn command(driver: u32, n: u32, a: u32, b: u32) -> Step {
        Step::Syscall(2, [driver, n, a, b])
    }
    /// Read-write allow.
    pub fn allow_rw(driver: u32, n: u32, ptr: u32, len: u32) -> Step {
        Step::Syscall(3, [driver, n, ptr, len])
    }
    /// Read-only allow.
    pub fn allow_ro(driver: u32, n: u32, ptr: u32, len: u32) -> Step {
        Step::Syscall(4, [driver, n, ptr, len])
    }
    /// Userspace-readable allow.
    pub fn allow_ur(driver: u32, n: u32, ptr: u32, len: u32) -> Step {
        Step::Syscall(7, [driver, n, ptr, len])
    }
    /// Memop.
    pub fn memop(op: u32, arg: u32) -> Step {
        Step::Syscall(5, [op, arg, 0, 0])
    }
    /// Exit (0 terminate, 1 restart).
    pub fn exit(which: u32, code: u32) -> Step {
        Step::Syscall(6, [which, code, 0, 0])
    }
}

/// Something the mock CPU observed, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The process starting at RAM `mem_start` was started with `entry`.
    Started {
        /// RAM start of the process.
        mem_start: u32,
        /// Its entry registers.
        entry: EntryRegisters,
    },
    /// An upcall frame was pushed.
    Upcall {
        /// RAM start of the process.
        mem_start: u32,
        /// The frame.
        frame: UpcallFrame,
    },
    /// A syscall returned.
    Returned {
        /// RAM start of the process.
        mem_start: u32,
        /// The values the return wrote, `r0` first, padded with zeros to
        /// four (the variant number in `r0` says how many are real).
        regs: [u32; 4],
        /// `r0`-`r3` as the process sees them afterwards: the registers
        /// the return wrote, the others as the process passed them.
        seen: [u32; 4],
    },
    /// A [`Step::Read`] loaded these bytes.
    Read {
        /// RAM start of the process.
        mem_start: u32,
        /// What was read.
        bytes: Vec<u8>,
    },
    /// A [`Step::Probe`] asked about a range.
    Probe {
        /// RAM start of the process.
        mem_start: u32,
        /// The range asked about.
        addr: u32,
        /// Its length.
        len: u32,
        /// Whether it was open for writing.
        open: bool,
    },
    /// A memory access was refused (the mock MPU raised a fault).
    AccessFault {
        /// RAM start of the process.
        mem_start: u32,
        /// Faulting address.
        address: u32,
    },
}

/// The mock CPU and memory protection unit.
#[derive(Default)]
pub struct MockBoundary {
    scripts: RefCell<HashMap<u32, VecDeque<Step>>>,
    events: RefCell<Vec<Event>>,
    protection: Cell<Option<ProcessProtection>>,
    /// Bytes accessible before the first instruction (0 = RISC-V style,
    /// 32 = Cortex-M style).
    pub initial_accessible: Cell<u32>,
    /// The break's granularity in bytes, like a coarse MPU (`None`: 4
    /// bytes, like RISC-V PMP).
    pub granularity: Cell<Option<u32>>,
    /// Switches performed.
    pub switches: Cell<u32>,
}

impl MockBoundary {
    /// Appends steps to the script of the process whose RAM starts at
    /// `mem_start`.
    pub fn script(&self, mem_start: u32, steps: impl IntoIterator<Item = Step>) {
        self.scripts
            .borrow_mut()
            .entry(mem_start)
            .or_default()
            .extend(steps);
    }

    /// Steps not yet played for the process at `mem_start`.
    pub fn remaining(&self, mem_start: u32) -> usize {
        self.scripts.borrow().get(&mem_start).map_or(0, |s| s.len())
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    /// Removes and returns every event so far.
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.borrow_mut())
    }

    /// `r0`-`r3` as the process at `mem_start` saw them after each of its
    /// syscall returns, in order: the written registers, and the unused
    /// ones as the process passed them.
    pub fn seen(&self, mem_start: u32) -> Vec<[u32; 4]> {
        self.returned(mem_start, |_, seen| seen)
    }

    /// The values every syscall return of the process at `mem_start`
    /// wrote, in order, padded with zeros to four (see
    /// [`Event::Returned`]).
    pub fn returns(&self, mem_start: u32) -> Vec<[u32; 4]> {
        self.returned(mem_start, |regs, _| regs)
    }

    /// One of the two views of every return of the process at `mem_start`.
    fn returned(&self, mem_start: u32, pick: fn([u32; 4], [u32; 4]) -> [u32; 4]) -> Vec<[u32; 4]> {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Returned {
                    mem_start: m,
                    regs,
                    seen,
                } if *m == mem_start => Some(pick(*regs, *seen)),
                _ => None,
            })
            .collect()
    }

    /// The upcall frames pushed onto the process at `mem_start`.
    pub fn upcalls(&self, mem_start: u32) -> Vec<UpcallFrame> {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Upcall {
                    mem_start: m,
                    frame,
                } if *m == mem_start => Some(*frame),
                _ => None,
            })
            .collect()
    }

    /// What the [`Step::Probe`]s of the process at `mem_start` found:
    /// `(addr, len, open)`.
    pub fn probes(&self, mem_start: u32) -> Vec<(u32, u32, bool)> {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Probe {
                    mem_start: m,
                    addr,
                    len,
                    open,
                } if *m == mem_start => Some((*addr, *len, *open)),
                _ => None,
            })
            .collect()
    }

    /// The bytes loaded by [`Step::Read`]s of the process at `mem_start`.
    pub fn reads(&self, mem_start: u32) -> Vec<Vec<u8>> {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Read {
                    mem_start: m,
                    bytes,
                } if *m == mem_start => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }

    fn log(&self, e: Event) {
        self.events.borrow_mut().push(e);
    }

    fn check_access(&self, memory: &ProcessMemory<'_>, addr: u32, len: u32) -> Option<usize> {
        let open = self.protection.get()?;
        let ram_ok = open.ram.contains_range(addr, len)
            && addr >= memory.start
            && addr.checked_add(len)? <= memory.accessible_end;
        ram_ok.then(|| (addr - memory.start) as usize)
    }
}

impl UserspaceBoundary for MockBoundary {
    fn initial_state(
        &self,
        entry: &EntryRegisters,
        memory: &mut ProcessMemory<'_>,
    ) -> Result<StoredState, Fault> {
        let mut s = Rv32i.initial_state(entry, memory)?;
        s.words[TAG] = memory.start;
        self.log(Event::Started {
            mem_start: memory.start,
            entry: *entry,
        });
        Ok(s)
    }

    fn initial_accessible_bytes(&self) -> u32 {
        self.initial_accessible.get()
    }

    fn set_syscall_return(&self, state: &mut StoredState, ret: &ReturnRegisters) {
        Rv32i.set_syscall_return(state, ret);
        let mut seen = [0u32; 4];
        seen.copy_from_slice(&state.words[R0..R0 + 4]);
        let mut regs = [0u32; 4];
        ret.apply_to(&mut regs);
        self.log(Event::Returned {
            mem_start: state.words[TAG],
            regs,
            seen,
        });
    }

    fn push_upcall(
        &self,
        state: &mut StoredState,
        memory: &mut ProcessMemory<'_>,
        frame: &UpcallFrame,
    ) -> Result<(), Fault> {
        Rv32i.push_upcall(state, memory, frame)?;
        self.log(Event::Upcall {
            mem_start: memory.start,
            frame: *frame,
        });
        Ok(())
    }

    fn switch_to_process(
        &self,
        state: &mut StoredState,
        memory: &mut ProcessMemory<'_>,
    ) -> SwitchReason {
        self.switches.set(self.switches.get() + 1);
        state.words[TAG] = memory.start;
        // A trap the way rv32i's trap vector records it: class in a4,
        // arguments in a0-a3, mcause 8 (ecall); rv32i's decoder does the
        // rest (and moves the pc past the ecall).
        let ecall = |state: &mut StoredState, class: u8, args: [u32; 4]| {
            state.words[R0..R0 + 4].copy_from_slice(&args);
            state.words[rv32i::context::A4] = u32::from(class);
            state.words[rv32i::context::MCAUSE] = 8;
            rv32i::context::decode_trap(state)
        };
        loop {
            let step = self
                .scripts
                .borrow_mut()
                .get_mut(&memory.start)
                .and_then(|s| s.pop_front());
            let fault = |state: &mut StoredState, kind, address| {
                state.words[rv32i::context::MCAUSE] = SCRIPTED_FAULT;
                SwitchReason::Fault(Fault {
                    kind,
                    pc: state.words[PC],
                    address,
                })
            };
            match step {
                // An exhausted script blocks in yield-wait forever.
                None => return ecall(state, 0, [1, 0, 0, 0]),
                Some(Step::Syscall(class, args)) => return ecall(state, class, args),
                Some(Step::Write(addr, bytes)) => {
                    match self.check_access(memory, addr, bytes.len() as u32) {
                        Some(off) => memory.ram[off..off + bytes.len()].copy_from_slice(&bytes),
                        None => {
                            self.log(Event::AccessFault {
                                mem_start: memory.start,
                                address: addr,
                            });
                            return fault(state, FaultKind::StoreAccess, addr);
                        }
                    }
                }
                Some(Step::Probe(addr, len)) => {
                    let open = self.protection.get().is_some_and(|p| p.writable(addr, len));
                    self.log(Event::Probe {
                        mem_start: memory.start,
                        addr,
                        len,
                        open,
                    });
                }
                Some(Step::Read(addr, len)) => match self.check_access(memory, addr, len) {
                    Some(off) => self.log(Event::Read {
                        mem_start: memory.start,
                        bytes: memory.ram[off..off + len as usize].to_vec(),
                    }),
                    None => {
                        self.log(Event::AccessFault {
                            mem_start: memory.start,
                            address: addr,
                        });
                        return fault(state, FaultKind::LoadAccess, addr);
                    }
                },
                Some(Step::Fault(kind)) => return fault(state, kind, 0),
                Some(Step::Timeslice) => return SwitchReason::TimesliceExpired,
                Some(Step::Interrupt) => return SwitchReason::Interrupted,
            }
        }
    }

    fn program_counter(&self, state: &StoredState) -> u32 {
        Rv32i.program_counter(state)
    }

    fn print_state(&self, state: &StoredState, out: &mut dyn fmt::Write) -> fmt::Result {
        Rv32i.print_state(state, out)
    }
}

impl MemoryProtection for MockBoundary {
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        WordGranularProtection::place(window, min_len, fixed)
    }

    fn accessible_end(&self, mem_start: u32, brk: u32, limit: u32) -> Option<u32> {
        match self.granularity.get() {
            None => WordGranularProtection.accessible_end(mem_start, brk, limit),
            Some(g) => {
                let n = brk.checked_sub(mem_start)?;
                let end = mem_start.checked_add(n.div_ceil(g).checked_mul(g)?)?;
                (end <= limit).then_some(end)
            }
        }
    }

    fn can_share(&self, range: Range) -> bool {
        WordGranularProtection::word_aligned(range)
    }

    fn configure(&self, protection: &ProcessProtection) {
        self.protection.set(Some(*protection));
    }
}

/// A chip whose interrupts are raised by tests.
#[derive(Default)]
pub struct MockChip {
    /// Whether an interrupt is pending.
    pub pending: Cell<bool>,
    /// Times the kernel slept.
    pub sleeps: Cell<u32>,
    /// Times interrupts were serviced.
    pub serviced: Cell<u32>,
}

impl Chip for MockChip {
    fn has_pending_interrupts(&self) -> bool {
        self.pending.get()
    }
    fn service_pending_interrupts(&self) {
        self.pending.set(false);
        self.serviced.set(self.serviced.get() + 1);
    }
    fn sleep(&self) {
        self.sleeps.set(self.sleeps.get() + 1);
    }
}

/// A scheduler timer that expires after a set number of checks.
///
/// With `slice` at `None` (the default) it never expires, like
/// [`kernel::platform::chip::NoTimeslice`]. With `Some(n)`, a timeslice ends
/// when the kernel asks [`SchedulerTimer::expired`] for the `n`-th time
/// (the kernel asks once after each system call or upcall it handles).
#[derive(Default)]
pub struct MockTimer {
    /// Checks a timeslice lasts; `None`: forever.
    pub slice: Cell<Option<u32>>,
    /// Timeslices started.
    pub starts: Cell<u32>,
    /// The lengths (µs) the timeslices were started with, in order.
    pub lengths: std::cell::RefCell<Vec<u32>>,
    left: Cell<Option<u32>>,
}

impl SchedulerTimer for MockTimer {
    fn start(&self, us: u32) {
        self.starts.set(self.starts.get() + 1);
        self.lengths.borrow_mut().push(us);
        self.left.set(self.slice.get());
    }
    fn reset(&self) {
        self.left.set(None);
    }
    fn expired(&self) -> bool {
        match self.left.get() {
            None => false,
            Some(n) => {
                let n = n.saturating_sub(1);
                self.left.set(Some(n));
                n == 0
            }
        }
    }
}

/// Collects kernel diagnostics in a string.
#[derive(Default)]
pub struct DebugLog(pub RefCell<String>);

impl DebugOutput for DebugLog {
    fn write_fmt(&self, args: fmt::Arguments<'_>) {
        use std::fmt::Write;
        let _ = self.0.borrow_mut().write_fmt(args);
    }
}

/// A driver table backed by a map.
#[derive(Default)]
pub struct Drivers(pub RefCell<Vec<(u32, &'static dyn SyscallDriver)>>);

impl Drivers {
    /// Adds a driver.
    pub fn add(&self, num: u32, driver: &'static dyn SyscallDriver) {
        self.0.borrow_mut().push((num, driver));
    }
}

impl SyscallDriverLookup for Drivers {
    fn driver(&self, num: u32) -> Option<&dyn SyscallDriver> {
        self.0
            .borrow()
            .iter()
            .find(|(n, _)| *n == num)
            .map(|(_, d)| *d)
    }
}

/// Leaks `value` to get a `&'static` (tests only).
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// A kernel on the mock platform, ready for processes to be loaded.
pub struct Harness {
    /// The kernel.
    pub kernel: &'static Kernel,
    /// The mock CPU / MPU.
    pub cpu: &'static MockBoundary,
    /// The mock chip.
    pub chip: &'static MockChip,
    /// The scheduler timer (never expires unless told to).
    pub timer: &'static MockTimer,
    /// The driver table.
    pub drivers: &'static Drivers,
    /// Deferred calls.
    pub deferred: &'static DeferredCalls<16>,
    /// Diagnostics.
    pub debug: &'static DebugLog,
    /// The fault policy.
    pub fault_policy: &'static dyn ProcessFaultPolicy,
    /// The syscall filter.
    pub filter: &'static dyn SyscallFilter,
    /// Load events, as text.
    pub load_log: Vec<String>,
    /// Load events of the last [`Harness::load`].
    pub load_events: Vec<LoadEvent<'static>>,
}

/// Where the harness puts the app flash area.
pub const FLASH_START: u32 = 0x4000_0000;
/// Where the harness puts process RAM.
pub const RAM_START: u32 = 0x2000_0000;

impl Harness {
    /// A kernel with `slots` process slots, the given fault policy and
    /// syscall filter. Register grants with `harness.kernel.create_grant`
    /// and drivers with `harness.drivers.add` before [`Harness::load`].
    pub fn new(
        slots: usize,
        fault_policy: &'static dyn ProcessFaultPolicy,
        filter: &'static dyn SyscallFilter,
    ) -> Harness {
        let processes: &'static [Process] = Box::leak(
            (0..slots)
                .map(|_| Process::new())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        Harness {
            kernel: leak(Kernel::new(processes)),
            cpu: leak(MockBoundary::default()),
            chip: leak(MockChip::default()),
            timer: leak(MockTimer::default()),
            drivers: leak(Drivers::default()),
            deferred: leak(DeferredCalls::new()),
            debug: leak(DebugLog::default()),
            fault_policy,
            filter,
            load_log: Vec::new(),
            load_events: Vec::new(),
        }
    }

    /// The platform view the kernel loop needs.
    pub fn platform(&self) -> Platform<'_> {
        Platform {
            drivers: self.drivers,
            filter: self.filter,
            fault_policy: self.fault_policy,
            boundary: self.cpu,
            protection: self.cpu,
            chip: self.chip,
            timer: self.timer,
            deferred: self.deferred,
            timeslice_us: 10_000,
            debug: Some(self.debug),
        }
    }

    /// Loads the TBFs `apps` (concatenated, padded with erased flash to
    /// `flash_len`) into `ram_len` bytes of RAM, with the default policies
    /// (ShortId from the TLV else the package-name CRC; storage TLV else
    /// self-only). Returns the number of processes.
    pub fn load(&mut self, apps: &[Vec<u8>], flash_len: usize, ram_len: usize) -> usize {
        let policy = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
        self.load_with(apps, flash_len, ram_len, &policy)
    }

    /// [`Harness::load`] with the board policy `policy` (credentials,
    /// unsigned apps, identities).
    pub fn load_with(
        &mut self,
        apps: &[Vec<u8>],
        flash_len: usize,
        ram_len: usize,
        policy: &LoadPolicy<'_>,
    ) -> usize {
        let mut flash: Vec<u8> = apps.concat();
        flash.resize(flash_len.max(flash.len()), 0xFF);
        let flash: &'static [u8] = Box::leak(flash.into_boxed_slice());
        let ram: &'static mut [u8] = Box::leak(vec![0u8; ram_len].into_boxed_slice());
        let mut events = Vec::new();
        let memory = AppMemory {
            flash,
            flash_start: FLASH_START,
            ram,
            ram_start: RAM_START,
        };
        let n =
            self.kernel
                .load_processes(memory, policy, self.cpu, self.cpu, &mut |e: &LoadEvent<
                    'static,
                >| {
                    events.push(*e)
                });
        self.load_log = events.iter().map(|e| format!("{e:?}")).collect();
        self.load_events = events;
        n
    }

    /// The process in slot `index`.
    pub fn process(&self, index: usize) -> &'static Process {
        self.kernel
            .processes()
            .nth(index)
            .expect("no such process slot")
    }

    /// The id of the process in slot `index`.
    pub fn pid(&self, index: usize) -> ProcessId {
        self.process(index).processid().expect("slot is unused")
    }

    /// RAM start of the process in slot `index` (the key of its script).
    pub fn mem_start(&self, index: usize) -> u32 {
        self.process(index).memory().start
    }

    /// Appends steps to the script of the process in slot `index`.
    pub fn script(&self, index: usize, steps: impl IntoIterator<Item = Step>) {
        self.cpu.script(self.mem_start(index), steps);
    }

    /// Runs the kernel loop until no process is ready and no deferred call
    /// is pending (or `max` iterations pass). Returns the iterations run.
    pub fn run(&self, max: usize) -> usize {
        let platform = self.platform();
        for i in 0..max {
            if !self.kernel.has_ready_process()
                && !kernel::platform::DeferredCallService::has_pending(self.deferred)
                && !self.chip.pending.get()
            {
                return i;
            }
            self.kernel.run_once(&platform);
        }
        max
    }

    /// The values the syscall returns of the process in slot `index`
    /// wrote, zero-padded to four registers.
    pub fn returns(&self, index: usize) -> Vec<[u32; 4]> {
        self.cpu.returns(self.mem_start(index))
    }

    /// `r0`-`r3` as the process in slot `index` saw them after each
    /// syscall return (unused registers keep what it passed).
    pub fn seen(&self, index: usize) -> Vec<[u32; 4]> {
        self.cpu.seen(self.mem_start(index))
    }

    /// The last syscall return seen by the process in slot `index`.
    pub fn last_return(&self, index: usize) -> Option<[u32; 4]> {
        self.returns(index).last().copied()
    }
}
