//! The drivers every board of this project offers, wired in one call:
//! console (1), alarm (0), low-level debug (8), IPC (0x10000) and the
//! key-value stack (0x50003) with the kernel's boot counter, plus the
//! syscall driver table that maps the numbers to them.
//!
//! A board gives its hardware ([`Hardware`]: a UART, an alarm, a flash,
//! its memory protection) and statically allocated memory
//! ([`StandardMemory`], the KV buffers), and gets the [`Standard`] set
//! back; it then loads its processes (`crate::loading`) and runs the
//! kernel. Every component must be built before the processes are
//! loaded (grants).

use capsules_core::alarm::{self, AlarmDriver};
use capsules_core::console::{self, Console, ConsoleUart};
use capsules_core::low_level_debug::{self, LowLevelDebug};
use capsules_extra::kv_driver::{self, KVStoreDriver};
use capsules_extra::tickv::Config;
use capsules_extra::virtual_kv::KVUser;
use kernel::deferred_call::DeferredCalls;
use kernel::hil::flash::Flash;
use kernel::hil::time::Alarm;
use kernel::ipc::{self, Ipc};
use kernel::platform::mpu::MemoryProtection;
use kernel::syscall_driver::{SyscallDriver, SyscallDriverLookup};
use kernel::Kernel;

use crate::boot_counter::{BootCounter, BootCounterMemory};
use crate::console::ConsoleMemory;
use crate::kv_stack::{KVStack, KVStackBuffers, KVStackError, KVStackMemory};
use crate::ComponentError;

/// Entries of the low-level debug driver's queue.
pub const LLDB_QUEUE: usize = 8;

/// The syscall drivers of a standard board.
pub struct Drivers<A: Alarm<'static> + 'static, const VALUE_MAX: usize> {
    /// Console (1).
    pub console: &'static Console<'static>,
    /// Alarm (0).
    pub alarm: &'static AlarmDriver<'static, A>,
    /// Low-level debug (8).
    pub lldb: &'static LowLevelDebug<'static, LLDB_QUEUE>,
    /// Key-value (0x50003).
    pub kv: &'static KVStoreDriver<'static, VALUE_MAX>,
    /// IPC (0x10000).
    pub ipc: &'static Ipc,
}

impl<A: Alarm<'static> + 'static, const VALUE_MAX: usize> SyscallDriverLookup
    for Drivers<A, VALUE_MAX>
{
    fn driver(&self, driver: u32) -> Option<&dyn SyscallDriver> {
        match driver {
            console::DRIVER_NUM => Some(self.console),
            alarm::DRIVER_NUM => Some(self.alarm),
            low_level_debug::DRIVER_NUM => Some(self.lldb),
            kv_driver::DRIVER_NUM => Some(self.kv),
            ipc::DRIVER_NUM => Some(self.ipc),
            _ => None,
        }
    }
}

/// The memory of a standard board's components, `&'static mut` from a
/// `static_cell::StaticCell`.
pub struct StandardMemory<
    A: Alarm<'static> + 'static,
    const KERNEL_OUT: usize,
    const VALUE_MAX: usize,
> {
    console: ConsoleMemory<KERNEL_OUT>,
    alarm: Option<AlarmDriver<'static, A>>,
    lldb: Option<LowLevelDebug<'static, LLDB_QUEUE>>,
    ipc: Option<Ipc>,
    kv: KVStackMemory<VALUE_MAX>,
    boot_counter: BootCounterMemory,
    drivers: Option<Drivers<A, VALUE_MAX>>,
}

impl<A: Alarm<'static> + 'static, const KERNEL_OUT: usize, const VALUE_MAX: usize>
    StandardMemory<A, KERNEL_OUT, VALUE_MAX>
{
    /// Empty memory, for [`build`].
    pub const fn new() -> Self {
        StandardMemory {
            console: ConsoleMemory::new(),
            alarm: None,
            lldb: None,
            ipc: None,
            kv: KVStackMemory::new(),
            boot_counter: BootCounterMemory::new(),
            drivers: None,
        }
    }
}

impl<A: Alarm<'static> + 'static, const KERNEL_OUT: usize, const VALUE_MAX: usize> Default
    for StandardMemory<A, KERNEL_OUT, VALUE_MAX>
{
    fn default() -> Self {
        Self::new()
    }
}

/// What the board's chip provides.
pub struct Hardware<A: Alarm<'static> + 'static> {
    /// The console's UART.
    pub uart: &'static dyn ConsoleUart<'static>,
    /// The alarm driver's clock.
    pub alarm: &'static A,
    /// The store's flash.
    pub flash: &'static dyn Flash<'static>,
    /// The memory protection IPC shares buffers through.
    pub protection: &'static dyn MemoryProtection,
    /// Process slots (IPC's grant has a slot per process).
    pub processes: u8,
}

/// The built set.
pub struct Standard<A: Alarm<'static> + 'static, const VALUE_MAX: usize> {
    /// The syscall drivers (the platform's `SyscallDriverLookup`).
    pub drivers: &'static Drivers<A, VALUE_MAX>,
    /// The console (kernel output, the platform's debug output).
    pub console: &'static Console<'static>,
    /// The key-value stack.
    pub kv: KVStack<VALUE_MAX>,
    /// The boot counter (start it once interrupts are on).
    pub counter: &'static BootCounter,
    /// The boot counter's user of the store (busy while it writes).
    pub counter_user: &'static KVUser<'static>,
}

/// Why [`build`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandardError {
    /// A component could not be built.
    Component(ComponentError),
    /// The key-value stack refused its configuration.
    KVStack(KVStackError),
}

impl From<ComponentError> for StandardError {
    fn from(e: ComponentError) -> Self {
        StandardError::Component(e)
    }
}

/// Builds the standard drivers of board `name` over `hw` (see the
/// [module docs](self)); the store is not mounted yet.
pub fn build<
    A: Alarm<'static> + 'static,
    const N: usize,
    const KERNEL_OUT: usize,
    const VALUE_MAX: usize,
>(
    name: &'static str,
    memory: &'static mut StandardMemory<A, KERNEL_OUT, VALUE_MAX>,
    kernel: &'static Kernel,
    calls: &'static DeferredCalls<N>,
    hw: Hardware<A>,
    buffers: KVStackBuffers,
    config: Config,
) -> Result<Standard<A, VALUE_MAX>, StandardError> {
    let StandardMemory {
        console,
        alarm,
        lldb,
        ipc,
        kv,
        boot_counter,
        drivers,
    } = memory;
    let console = crate::console::console(console, hw.uart, kernel, calls)?;
    let alarm = crate::alarm::alarm(alarm, hw.alarm, kernel)?;
    let lldb = crate::low_level_debug::low_level_debug(lldb, kernel, console);
    let ipc = crate::ipc::ipc(ipc, kernel, hw.processes, hw.protection)?;
    let grant = kernel
        .create_grant::<kv_driver::App>(kv_driver::DRIVER_NUM, kv_driver::ALLOW_COUNTS)
        .map_err(ComponentError::from)?;
    let kv = KVStack::build(kv, hw.flash, calls, grant, buffers, config)
        .map_err(StandardError::KVStack)?;
    let (counter, counter_user) =
        crate::boot_counter::boot_counter(boot_counter, name, console, &kv);
    let drivers: &'static Drivers<A, VALUE_MAX> = drivers.insert(Drivers {
        console,
        alarm,
        lldb,
        kv: kv.driver,
        ipc,
    });
    Ok(Standard {
        drivers,
        console,
        kv,
        counter,
        counter_user,
    })
}
