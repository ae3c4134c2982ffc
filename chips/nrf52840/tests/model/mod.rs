//! What the register models share: register blocks in memory the test
//! reads and writes by offset, a simulated Data RAM that EasyDMA reaches,
//! interrupt-enable bookkeeping, and the list of rule violations.
//!
//! A model sees the driver's register writes between driver actions: the
//! harness calls the model's `step` after every call into the driver (a
//! synchronous driver waiting for its device calls `EasyDma::wait`,
//! which steps the devices registered with the [`SimRam`]). Events are
//! set by the model, tasks are cleared by it when it acts on them.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use capsules_extra::kv_driver;
use capsules_extra::tickv::Config;
use components::boot_counter::BootCounterMemory;
use components::console::ConsoleMemory;
use components::kv_stack::{driver_value_len, KVStack, KVStackBuffers, KVStackMemory};
use kernel::hil::flash::{Error, Flash, FlashClient};
use kernel_mock::Harness;
use nrf52840::dma::{EasyDma, Wait, RAM_SIZE, RAM_START};
use nrf52840::StaticRef;
use static_ref::fake;

/// The mock UART the board-stack tests print on.
#[path = "../../../../capsules/core/tests/uart_mock/mod.rs"]
pub mod uart_mock;

/// Leaks `t` (test objects live for the whole test, like the kernel's).
pub fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

/// A `&'static mut` buffer holding `data`.
pub fn buffer(data: &[u8]) -> &'static mut [u8] {
    Box::leak(data.to_vec().into_boxed_slice())
}

/// A register block in memory: the driver's typed view and the model's
/// view by byte offset.
#[derive(Clone, Copy)]
pub struct Block {
    mem: &'static [Cell<u32>],
}

impl Block {
    /// A zeroed block of type `T`.
    pub fn new<T>() -> (StaticRef<T>, Block) {
        let (regs, mem) = fake::registers::<T, u32>();
        (regs, Block { mem })
    }

    /// The register at byte `offset`.
    pub fn get(&self, offset: usize) -> u32 {
        self.mem[offset / 4].get()
    }

    /// Sets the register at byte `offset`.
    pub fn set(&self, offset: usize, value: u32) {
        self.mem[offset / 4].set(value)
    }

    /// Reads a task register and clears it: whether it was triggered.
    pub fn take_task(&self, offset: usize) -> bool {
        let triggered = self.get(offset) != 0;
        self.set(offset, 0);
        triggered
    }
}

/// `INTENSET` / `INTENCLR` at `set` and `set + 4`: write-one registers
/// the model folds into its own enable mask at each step.
pub struct Inten {
    enabled: Cell<u32>,
    at: usize,
}

impl Inten {
    /// The pair at byte offset `set` (usually `0x304`).
    pub fn new(at: usize) -> Inten {
        Inten {
            enabled: Cell::new(0),
            at,
        }
    }

    /// Applies what the driver wrote since the last step (clears first:
    /// step between a driver's clearing and its setting of a bit).
    pub fn fold(&self, regs: Block) -> u32 {
        let set = regs.get(self.at);
        let clear = regs.get(self.at + 4);
        regs.set(self.at, 0);
        regs.set(self.at + 4, 0);
        self.enabled.set((self.enabled.get() & !clear) | set);
        self.enabled.get()
    }

    /// The mask.
    pub fn get(&self) -> u32 {
        self.enabled.get()
    }
}

/// Rule violations a model found.
#[derive(Default)]
pub struct Violations(RefCell<Vec<String>>);

impl Violations {
    /// Records one.
    pub fn add(&self, what: impl Into<String>) {
        self.0.borrow_mut().push(what.into());
    }

    /// All so far.
    pub fn all(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    /// Asserts there were none.
    pub fn assert_none(&self) {
        assert_eq!(self.all(), Vec::<String>::new(), "rule violations");
    }
}

/// The Data RAM as EasyDMA sees it: buffers the driver hands over are
/// given addresses in `0x2000_0000..0x2004_0000` and copied in (for the
/// device to read) or back (what the device wrote).
pub struct SimRam {
    mem: RefCell<Vec<u8>>,
    next: Cell<u32>,
    /// Host buffer address -> (bus address, length) of buffers the device
    /// writes.
    writes: RefCell<HashMap<usize, (u32, usize)>>,
    /// Fault: every buffer is placed at this address (e.g. in flash).
    pub place_at: Cell<Option<u32>>,
    /// Devices stepped while a driver waits.
    devices: RefCell<Vec<&'static dyn Fn()>>,
    /// Waits so far.
    pub waits: Cell<u64>,
}

impl SimRam {
    /// An empty RAM, leaked.
    pub fn new() -> &'static SimRam {
        leak(SimRam {
            mem: RefCell::new(vec![0; RAM_SIZE as usize]),
            next: Cell::new(RAM_START + 0x100),
            writes: RefCell::new(HashMap::new()),
            place_at: Cell::new(None),
            devices: RefCell::new(Vec::new()),
            waits: Cell::new(0),
        })
    }

    /// Steps `device` on every wait.
    pub fn add_device(&self, device: &'static dyn Fn()) {
        self.devices.borrow_mut().push(device);
    }

    fn allocate(&self, len: usize) -> u32 {
        if let Some(at) = self.place_at.get() {
            return at;
        }
        let len = (len as u32).div_ceil(4) * 4;
        let mut at = self.next.get();
        if at + len > RAM_START + RAM_SIZE {
            at = RAM_START + 0x100;
        }
        self.next.set(at + len);
        at
    }

    /// `len` bytes at bus address `at` (none outside the RAM).
    pub fn read(&self, at: u32, len: usize) -> Option<Vec<u8>> {
        let start = at.checked_sub(RAM_START)? as usize;
        self.mem
            .borrow()
            .get(start..start + len)
            .map(<[u8]>::to_vec)
    }

    /// Writes `data` at bus address `at`; false outside the RAM.
    pub fn write(&self, at: u32, data: &[u8]) -> bool {
        let Some(start) = at.checked_sub(RAM_START).map(|s| s as usize) else {
            return false;
        };
        match self.mem.borrow_mut().get_mut(start..start + data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

impl Wait for SimRam {
    fn wait(&self) {
        self.waits.set(self.waits.get() + 1);
        let devices = self.devices.borrow().clone();
        devices.iter().for_each(|d| d());
    }
}

impl EasyDma for SimRam {
    fn device_reads(&self, buf: &[u8]) -> u32 {
        let at = self.allocate(buf.len());
        self.write(at, buf);
        at
    }

    fn device_writes(&self, buf: &mut [u8]) -> u32 {
        let at = self.allocate(buf.len());
        self.write(at, buf);
        self.writes
            .borrow_mut()
            .insert(buf.as_ptr() as usize, (at, buf.len()));
        at
    }

    fn device_done(&self, buf: &mut [u8]) {
        let Some((at, len)) = self.writes.borrow_mut().remove(&(buf.as_ptr() as usize)) else {
            panic!("device_done for a buffer never given to the device");
        };
        let n = len.min(buf.len());
        if let Some(data) = self.read(at, n) {
            buf[..n].copy_from_slice(&data);
        }
    }
}

/// A finished read: the data and the outcome.
pub type ReadDone = (Vec<u8>, Result<(), Error>);

/// Records every flash callback.
#[derive(Default)]
pub struct FlashRecorder {
    /// Reads.
    pub reads: RefCell<Vec<ReadDone>>,
    /// Programs' outcomes.
    pub programs: RefCell<Vec<Result<(), Error>>>,
    /// Erases: the unit and the outcome.
    pub erases: RefCell<Vec<(u32, Result<(), Error>)>>,
}

impl FlashClient for FlashRecorder {
    fn read_done(&self, buf: &'static mut [u8], len: usize, result: Result<(), Error>) {
        self.reads.borrow_mut().push((buf[..len].to_vec(), result));
    }
    fn program_done(&self, _buf: &'static mut [u8], _len: usize, result: Result<(), Error>) {
        self.programs.borrow_mut().push(result);
    }
    fn erase_done(&self, unit: u32, result: Result<(), Error>) {
        self.erases.borrow_mut().push((unit, result));
    }
}

/// Boots the board's storage over `flash` on the mock kernel `h`: the
/// console (on a mock UART), the key-value stack as the boards configure
/// it (`components::standard`: every erase unit, a blank store formatted)
/// and the kernel's boot counter, printing as `dk`. Then runs `tick` (the
/// device's time) and a deferred call at a time until the counter printed
/// `dk: boot <boot>` and the store and `busy` are idle.
pub fn boot_counter_boot(
    h: &Harness,
    flash: &'static dyn Flash<'static>,
    boot: u32,
    tick: impl Fn(),
    busy: impl Fn() -> bool,
) {
    const V: usize = kv_driver::UPSTREAM_VALUE_MAX;
    fn mem<T>(t: T) -> &'static mut T {
        Box::leak(Box::new(t))
    }
    let uart = uart_mock::MockUart::new(h.deferred);
    let console =
        components::console::console(mem(ConsoleMemory::<256>::new()), uart, h.kernel, h.deferred)
            .expect("console");
    let grant = h
        .kernel
        .create_grant::<kv_driver::App>(kv_driver::DRIVER_NUM, kv_driver::ALLOW_COUNTS)
        .expect("key-value grant");
    let kv = KVStack::build(
        mem(KVStackMemory::<V>::new()),
        flash,
        h.deferred,
        grant,
        KVStackBuffers {
            scratch: mem([0; 512]),
            index: mem([tickv::IndexEntry::EMPTY; 64]),
            driver_value: mem([0; driver_value_len(V)]),
        },
        Config {
            region_count: None,
            format_if_blank: true,
        },
    )
    .expect("key-value stack");
    let (counter, user) =
        components::boot_counter::boot_counter(mem(BootCounterMemory::new()), "dk", console, &kv);
    let _ = kv.mount();
    counter.start();
    let line = format!("dk: boot {boot}");
    let mut steps = 0;
    while !uart.text().contains(&line) || user.is_busy() || busy() {
        tick();
        h.deferred.service_next();
        steps += 1;
        assert!(steps < 2_000_000, "boot {boot}: {:?}", uart.text());
    }
}
