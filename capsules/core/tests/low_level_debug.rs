//! The low-level debug driver (8) through the real system call dispatch:
//! its lines printed through the console's kernel output over the mock
//! UART, and its queue and drop accounting against a sink the test
//! controls.

mod uart_mock;

use std::cell::{Cell, RefCell};
use std::fmt;

use capsules_core::console::{self, Console};
use capsules_core::low_level_debug::{self, DebugSink, DebugSinkClient, LowLevelDebug};
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{leak, sys, Harness, TestDriver, DRV as TEST_DRV};
use uart_mock::MockUart;

const DRV: u32 = low_level_debug::DRIVER_NUM;
const ALERT: u32 = 1;
const PRINT1: u32 = 2;
const PRINT2: u32 = 3;

const OK: [u32; 4] = [128, 0, 0, 0];

struct Rig {
    h: Harness,
    uart: &'static MockUart,
    console: &'static Console<'static>,
    lldb: &'static LowLevelDebug<'static>,
}

/// Console (64-byte chunks, a `ring`-byte kernel ring) and the driver
/// printing through it, with `apps` loaded.
fn rig(apps: &[TbfBuilder], ring: usize) -> Rig {
    let mut h = Harness::new(apps.len(), &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<console::App>(console::DRIVER_NUM, console::ALLOW_COUNTS)
        .unwrap();
    let uart = MockUart::new(h.deferred);
    let slot = h.deferred.allocate().unwrap();
    let console = leak(Console::new(
        uart,
        grant,
        buffer(64),
        buffer(16),
        buffer(ring),
        slot,
    ));
    console.setup();
    let lldb = leak(LowLevelDebug::new(h.kernel, console));
    console.set_sink_client(lldb);
    h.drivers.add(console::DRIVER_NUM, console);
    h.drivers.add(DRV, lldb);
    let images: Vec<Vec<u8>> = apps.iter().map(TbfBuilder::build).collect();
    assert_eq!(
        h.load(&images, 0x4000, 0x10000),
        apps.len(),
        "{:?}",
        h.load_log
    );
    Rig {
        h,
        uart,
        console,
        lldb,
    }
}

fn buffer(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0; len].into_boxed_slice())
}

fn run(h: &Harness) {
    assert!(h.run(10_000) < 10_000, "the kernel did not settle");
}

#[test]
fn numbers_and_alerts_are_printed_one_line_each() {
    let r = rig(&[TbfBuilder::app("blink")], 256);
    r.h.script(
        0,
        [
            sys::command(DRV, PRINT1, 0x2a, 0),
            sys::command(DRV, PRINT2, 1, 0xdead_beef),
            sys::command(DRV, ALERT, 1, 0),
            sys::command(DRV, ALERT, 2, 0),
            sys::command(DRV, ALERT, 7, 0),
            sys::command(DRV, 0, 0, 0),
            sys::command(DRV, 4, 0, 0),
            sys::subscribe(DRV, 0, 0, 0),
            sys::allow_ro(DRV, 0, 0, 0),
        ],
    );
    run(&r.h);
    assert_eq!(
        r.h.returns(0),
        [
            OK,
            OK,
            OK,
            OK,
            OK,
            OK,
            [0, ErrorCode::NOSUPPORT as u32, 0, 0],
            [2, ErrorCode::NOSUPPORT as u32, 0, 0],
            [2, ErrorCode::NOSUPPORT as u32, 0, 0],
        ]
    );
    assert_eq!(
        r.uart.text(),
        "LowLevelDebug: App blink prints 0x2a\n\
         LowLevelDebug: App blink prints 0x1 0xdeadbeef\n\
         LowLevelDebug: App blink alert code 0x1 (panic)\n\
         LowLevelDebug: App blink alert code 0x2 (wrong load address)\n\
         LowLevelDebug: App blink alert code 0x7\n"
    );
    assert_eq!((r.lldb.queued(), r.lldb.dropped()), (0, 0));
}

#[test]
fn an_app_without_a_name_is_named_by_its_slot() {
    let nameless = TbfBuilder::new()
        .program(0x10, 0x20, 4096, 7)
        .kernel_version(2, 0)
        .binary(0x80);
    let r = rig(&[TbfBuilder::app("first"), nameless], 256);
    r.h.script(1, [sys::command(DRV, PRINT1, 5, 0)]);
    r.h.script(0, [sys::command(DRV, PRINT1, 6, 0)]);
    run(&r.h);
    assert_eq!(
        r.uart.text(),
        "LowLevelDebug: App first prints 0x6\n\
         LowLevelDebug: App #1 prints 0x5\n"
    );
}

#[test]
fn a_full_console_ring_delays_lines_but_loses_none() {
    // Room for one line at a time.
    let r = rig(&[TbfBuilder::app("kv")], 48);
    r.uart.auto.set(false);
    r.h.script(0, (0..6).map(|i| sys::command(DRV, PRINT1, i, 0)));
    run(&r.h);
    // Line 0 is at the UART, line 1 in the ring, 2-5 wait in the driver.
    assert_eq!(r.h.returns(0), vec![OK; 6]);
    assert_eq!(r.uart.chunk_lens(), [33]);
    assert_eq!(r.console.kernel_pending(), 33);
    assert_eq!(r.lldb.queued(), 4);
    r.uart.auto.set(true);
    r.uart.complete_tx();
    run(&r.h);
    let expect: String = (0..6)
        .map(|i| format!("LowLevelDebug: App kv prints {i:#x}\n"))
        .collect();
    assert_eq!(r.uart.text(), expect);
    assert_eq!((r.lldb.queued(), r.lldb.dropped()), (0, 0));
    assert_eq!(r.console.kernel_dropped(), 0);
}

/// A sink that takes `budget` lines, then answers BUSY.
struct Sink {
    budget: Cell<usize>,
    lines: RefCell<Vec<String>>,
    client: Cell<Option<&'static dyn DebugSinkClient>>,
}

impl DebugSink<'static> for Sink {
    fn try_write_fmt(&self, args: fmt::Arguments<'_>) -> Result<(), ErrorCode> {
        if self.budget.get() == 0 {
            return Err(ErrorCode::BUSY);
        }
        self.budget.set(self.budget.get() - 1);
        self.lines.borrow_mut().push(fmt::format(args));
        Ok(())
    }

    fn set_sink_client(&self, client: &'static dyn DebugSinkClient) {
        self.client.set(Some(client));
    }
}

impl Sink {
    /// Gives the sink room for `lines` more and tells the client.
    fn release(&self, lines: usize) {
        self.budget.set(lines);
        self.client.get().unwrap().sink_ready();
    }

    fn take(&self) -> Vec<String> {
        self.lines.take()
    }
}

#[test]
fn a_full_queue_drops_entries_and_says_where() {
    let mut h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let test_driver = TestDriver::install(&h, TEST_DRV);
    let sink = leak(Sink {
        budget: Cell::new(0),
        lines: RefCell::new(Vec::new()),
        client: Cell::new(None),
    });
    let lldb: &'static LowLevelDebug<'static, 4> = leak(LowLevelDebug::new(h.kernel, sink));
    sink.set_sink_client(lldb);
    h.drivers.add(DRV, lldb);
    assert_eq!(
        h.load(&[TbfBuilder::app("app").build()], 0x4000, 0x10000),
        1
    );
    let f = h.process(0).binary_start() + 8;
    let mut steps = vec![sys::subscribe(TEST_DRV, 0, f, 0)];
    steps.extend((1..=6).map(|i| sys::command(DRV, PRINT1, i, 0)));
    // Woken by the test below.
    steps.extend([sys::yield_wait(), sys::command(DRV, PRINT1, 7, 0)]);
    h.script(0, steps);
    run(&h);
    // 1-4 queued, 5 and 6 dropped; every command answered at once.
    assert_eq!(h.returns(0)[1..], vec![OK; 6]);
    assert_eq!((lldb.queued(), lldb.dropped()), (4, 2));
    assert!(sink.take().is_empty());

    sink.release(2);
    let line = |i: u32| format!("LowLevelDebug: App app prints {i:#x}\n");
    assert_eq!(sink.take(), [line(1), line(2)]);
    assert_eq!(lldb.queued(), 2);

    // The app prints once more while the sink is still busy.
    test_driver
        .grant
        .enter(h.pid(0), |_, kd| kd.schedule_upcall(0, [0; 3]))
        .unwrap()
        .unwrap();
    run(&h);
    assert_eq!(h.last_return(0), Some(OK));
    assert_eq!(lldb.queued(), 3);

    // The notice sits exactly where the entries were lost.
    sink.release(10);
    assert_eq!(
        sink.take(),
        [
            line(3),
            line(4),
            "LowLevelDebug: Dropped 0x2 entries\n".to_string(),
            line(7),
        ]
    );
    assert_eq!((lldb.queued(), lldb.dropped()), (0, 2));
}
