//! The console driver (1) through the real system call dispatch: apps
//! scripted on the mock CPU (`kernel_mock::Harness`), the console over a
//! split-phase mock UART whose completions run from deferred calls. Every
//! register the apps see and every upcall frame is asserted, and so is
//! every byte that reaches the UART, chunk by chunk.

mod uart_mock;

use std::fmt::Write as _;

use capsules_core::console::{self, Console, ALLOW_COUNTS, DRIVER_NUM};
use kernel::hil::uart;
use kernel::platform::arch::UpcallFrame;
use kernel::platform::DebugOutput;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::process::{ProcessId, State};
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{leak, sys, Harness, Step};
use uart_mock::MockUart;

const DRV: u32 = DRIVER_NUM;
const WRITE: u32 = 1;
const READ: u32 = 2;
const ABORT: u32 = 3;

/// A test driver whose command `n` queues `arg0` bytes of value `arg1` as
/// kernel output: kernel code printing from inside a system call.
const KPRINT: u32 = 0x9001;

const OK: [u32; 4] = [128, 0, 0, 0];
const fn fails(e: ErrorCode) -> [u32; 4] {
    [0, e as u32, 0, 0]
}
/// The answer of an allow or subscribe: the previous pair.
const fn prev(a: u32, b: u32) -> [u32; 4] {
    [130, a, b, 0]
}

/// App memory, as offsets from its RAM start.
const BUF_A: u32 = 0x000;
const BUF_B: u32 = 0x100;
const RX: u32 = 0x200;
const BRK: u32 = 0x300;

struct KernelPrint(&'static Console<'static>);

impl SyscallDriver for KernelPrint {
    fn command(&self, _: u32, count: u32, byte: u32, _: ProcessId) -> CommandReturn {
        let n = self.0.kernel_write(&vec![byte as u8; count as usize]);
        CommandReturn::success_u32(n as u32)
    }
}

struct Rig {
    h: Harness,
    uart: &'static MockUart,
    console: &'static Console<'static>,
}

/// A console with a `tx`-byte chunk buffer, an `rx`-byte receive buffer and
/// a `ring`-byte kernel ring, and one app per name.
fn rig_with(names: &[&str], tx: usize, rx: usize, ring: usize) -> Rig {
    let mut h = Harness::new(names.len(), &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<console::App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let uart = MockUart::new(h.deferred);
    let slot = h.deferred.allocate().unwrap();
    let console = leak(Console::new(
        uart,
        grant,
        buffer(tx),
        buffer(rx),
        buffer(ring),
        slot,
    ));
    console.setup();
    h.drivers.add(DRIVER_NUM, console);
    h.drivers.add(KPRINT, leak(KernelPrint(console)));
    let apps: Vec<Vec<u8>> = names.iter().map(|n| TbfBuilder::app(n).build()).collect();
    assert_eq!(
        h.load(&apps, 0x4000, 0x10000),
        names.len(),
        "{:?}",
        h.load_log
    );
    Rig { h, uart, console }
}

fn rig(names: &[&str]) -> Rig {
    rig_with(names, 64, 32, 256)
}

fn buffer(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0; len].into_boxed_slice())
}

impl Rig {
    fn mem(&self, i: usize) -> u32 {
        self.h.mem_start(i)
    }

    /// The upcall function of app `i`.
    fn f(&self, i: usize) -> u32 {
        self.h.process(i).binary_start() + 8
    }

    /// Break past the buffers, `data` in buffer A, allowed as RO 1, and
    /// subscribe 1 (appdata `0xA0 + i`).
    fn write_setup(&self, i: usize, data: &[u8]) -> Vec<Step> {
        let m = self.mem(i);
        vec![
            sys::memop(0, m + BRK),
            Step::Write(m + BUF_A, data.to_vec()),
            sys::allow_ro(DRV, 1, m + BUF_A, data.len() as u32),
            sys::subscribe(DRV, 1, self.f(i), 0xA0 + i as u32),
        ]
    }

    /// The returns of [`Rig::write_setup`].
    fn write_setup_returns(&self) -> Vec<[u32; 4]> {
        vec![OK, prev(0, 0), prev(0, 0)]
    }

    fn upcalls(&self, i: usize) -> Vec<UpcallFrame> {
        self.h.cpu.upcalls(self.mem(i))
    }

    fn up(&self, i: usize, subscribe_appdata: u32, args: [u32; 3]) -> UpcallFrame {
        UpcallFrame {
            fn_ptr: self.f(i),
            args,
            appdata: subscribe_appdata,
        }
    }

    /// The write-done upcall of app `i`.
    fn written(&self, i: usize, n: u32) -> UpcallFrame {
        self.up(i, 0xA0 + i as u32, [n, 0, 0])
    }

    fn run(&self) {
        let n = self.h.run(10_000);
        assert!(n < 10_000, "the kernel did not settle");
    }
}

fn bytes(b: u8, n: usize) -> Vec<u8> {
    vec![b; n]
}

#[test]
fn exists_unknown_commands_and_no_subscribe_beyond_the_declared() {
    let r = rig(&["a"]);
    r.h.script(
        0,
        [
            sys::command(DRV, 0, 0, 0),
            sys::command(DRV, 4, 0, 0),
            sys::command(DRV, 99, 0, 0),
            sys::subscribe(DRV, 3, 0, 0),
            sys::allow_ro(DRV, 2, 0, 0),
            sys::allow_rw(DRV, 2, 0, 0),
        ],
    );
    r.run();
    assert_eq!(
        r.h.returns(0),
        vec![
            OK,
            fails(ErrorCode::NOSUPPORT),
            fails(ErrorCode::NOSUPPORT),
            [2, 10, 0, 0],
            [2, 10, 0, 0],
            [2, 10, 0, 0],
        ]
    );
}

#[test]
fn single_write() {
    let r = rig(&["a"]);
    let mut steps = r.write_setup(0, b"hello world");
    steps.extend([sys::command(DRV, WRITE, 11, 0), sys::yield_wait()]);
    r.h.script(0, steps);
    r.run();
    let mut expect = r.write_setup_returns();
    expect.push(OK);
    assert_eq!(r.h.returns(0), expect);
    assert_eq!(r.uart.text(), "hello world");
    assert_eq!(r.uart.chunk_lens(), [11]);
    assert_eq!(r.upcalls(0), [r.written(0, 11)]);
    assert!(!r.console.is_transmitting());
}

#[test]
fn write_length_is_the_smaller_of_len_and_the_allow() {
    let r = rig(&["a"]);
    let mut steps = r.write_setup(0, b"hello world");
    steps.extend([
        sys::command(DRV, WRITE, 5, 0),
        sys::yield_wait(),
        sys::command(DRV, WRITE, 1000, 0),
        sys::yield_wait(),
    ]);
    r.h.script(0, steps);
    r.run();
    assert_eq!(r.uart.text(), "hellohello world");
    assert_eq!(r.upcalls(0), [r.written(0, 5), r.written(0, 11)]);
}

#[test]
fn empty_writes_complete_with_zero() {
    let r = rig(&["a"]);
    let f = r.f(0);
    r.h.script(
        0,
        [
            sys::subscribe(DRV, 1, f, 7),
            sys::command(DRV, WRITE, 10, 0), // nothing allowed
            sys::yield_wait(),
        ],
    );
    r.run();
    assert_eq!(r.h.returns(0), [prev(0, 0), OK]);
    assert_eq!(r.upcalls(0), [r.up(0, 7, [0, 0, 0])]);
    assert!(r.uart.chunks.borrow().is_empty());
}

#[test]
fn long_write_goes_out_in_chunks_with_one_upcall() {
    let r = rig(&["a"]);
    let data: Vec<u8> = (0..150u8).collect();
    let mut steps = r.write_setup(0, &data);
    steps.extend([sys::command(DRV, WRITE, 150, 0), sys::yield_wait()]);
    r.h.script(0, steps);
    r.run();
    assert_eq!(r.uart.chunk_lens(), [64, 64, 22]);
    assert_eq!(r.uart.output(), data);
    assert_eq!(r.upcalls(0), [r.written(0, 150)]);
}

#[test]
fn a_second_write_while_one_is_pending_is_busy() {
    let r = rig(&["a"]);
    r.uart.auto.set(false);
    let mut steps = r.write_setup(0, b"abc");
    steps.extend([
        sys::command(DRV, WRITE, 3, 0),
        sys::command(DRV, WRITE, 3, 0),
        sys::yield_wait(),
        sys::command(DRV, WRITE, 2, 0),
        sys::yield_wait(),
    ]);
    r.h.script(0, steps);
    r.run();
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    let mut expect = r.write_setup_returns();
    expect.extend([OK, fails(ErrorCode::BUSY), OK]);
    assert_eq!(r.h.returns(0), expect);
    assert_eq!(r.uart.text(), "abcab");
    assert_eq!(r.upcalls(0), [r.written(0, 3), r.written(0, 2)]);
}

#[test]
fn writes_are_served_in_command_order_across_apps() {
    let r = rig(&["a", "b", "c"]);
    r.uart.auto.set(false);
    // App 0 is scheduled first but gives up its timeslice before its
    // command: apps 1 and 2 command first.
    let mut s0 = r.write_setup(0, &bytes(b'a', 100));
    s0.extend([
        Step::Timeslice,
        sys::command(DRV, WRITE, 100, 0),
        sys::yield_wait(),
    ]);
    let mut s1 = r.write_setup(1, &bytes(b'b', 20));
    s1.extend([sys::command(DRV, WRITE, 20, 0), sys::yield_wait()]);
    let mut s2 = r.write_setup(2, &bytes(b'c', 10));
    s2.extend([sys::command(DRV, WRITE, 10, 0), sys::yield_wait()]);
    r.h.script(0, s0);
    r.h.script(1, s1);
    r.h.script(2, s2);
    r.run();
    // All three commands are in; only app 1's chunk is at the UART.
    assert_eq!(r.uart.chunk_lens(), [20]);
    for i in 0..3 {
        assert_eq!(r.h.last_return(i), Some(OK), "app {i}");
    }
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    let mut expect = bytes(b'b', 20);
    expect.extend(bytes(b'c', 10));
    expect.extend(bytes(b'a', 100));
    assert_eq!(r.uart.output(), expect);
    assert_eq!(r.uart.chunk_lens(), [20, 10, 64, 36]);
    assert_eq!(r.upcalls(0), [r.written(0, 100)]);
    assert_eq!(r.upcalls(1), [r.written(1, 20)]);
    assert_eq!(r.upcalls(2), [r.written(2, 10)]);
}

#[test]
fn two_apps_writing_concurrently_each_complete_once() {
    let r = rig(&["a", "b"]);
    let mut s0 = r.write_setup(0, &bytes(b'a', 100));
    s0.extend([sys::command(DRV, WRITE, 100, 0), sys::yield_wait()]);
    let mut s1 = r.write_setup(1, &bytes(b'b', 70));
    s1.extend([sys::command(DRV, WRITE, 70, 0), sys::yield_wait()]);
    r.h.script(0, s0);
    r.h.script(1, s1);
    r.run();
    let mut expect = bytes(b'a', 100);
    expect.extend(bytes(b'b', 70));
    assert_eq!(r.uart.output(), expect);
    assert_eq!(r.uart.chunk_lens(), [64, 36, 64, 6]);
    assert_eq!(r.upcalls(0), [r.written(0, 100)]);
    assert_eq!(r.upcalls(1), [r.written(1, 70)]);
}

#[test]
fn each_chunk_is_copied_from_the_buffer_allowed_at_that_moment() {
    let r = rig(&["a"]);
    r.uart.auto.set(false);
    let m = r.mem(0);
    let b: Vec<u8> = (100..250u8).collect();
    let mut steps = r.write_setup(0, &bytes(b'a', 150));
    steps.extend([
        Step::Write(m + BUF_B, b.clone()),
        sys::command(DRV, WRITE, 150, 0),
        // The first chunk is at the UART: swap buffers.
        sys::allow_ro(DRV, 1, m + BUF_B, 150),
        sys::yield_wait(),
    ]);
    r.h.script(0, steps);
    r.run();
    assert_eq!(r.uart.chunk_lens(), [64]);
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    // The rest comes from the new buffer, at the same offset.
    let mut expect = bytes(b'a', 64);
    expect.extend(&b[64..]);
    assert_eq!(r.uart.output(), expect);
    assert_eq!(r.uart.chunk_lens(), [64, 64, 22]);
    let mut returns = r.write_setup_returns();
    returns.extend([OK, prev(m + BUF_A, 150)]);
    assert_eq!(r.h.returns(0), returns);
    assert_eq!(r.upcalls(0), [r.written(0, 150)]);
}

#[test]
fn a_shrunk_or_revoked_allow_ends_the_write_early() {
    let r = rig(&["a", "b"]);
    r.uart.auto.set(false);
    let m0 = r.mem(0);
    let mut s0 = r.write_setup(0, &bytes(b'a', 150));
    s0.extend([
        sys::command(DRV, WRITE, 150, 0),
        sys::allow_ro(DRV, 1, m0 + BUF_A, 100),
        sys::yield_wait(),
    ]);
    let m1 = r.mem(1);
    let mut s1 = r.write_setup(1, &bytes(b'b', 150));
    s1.extend([
        sys::command(DRV, WRITE, 150, 0),
        sys::allow_ro(DRV, 1, 0, 0),
        sys::yield_wait(),
    ]);
    r.h.script(0, s0);
    r.h.script(1, s1);
    r.run();
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    // App 0: 64 + the 36 bytes its shrunk buffer still has. App 1 revoked
    // its buffer before its turn came: nothing was copied.
    assert_eq!(r.uart.chunk_lens(), [64, 36]);
    assert_eq!(r.upcalls(0), [r.written(0, 100)]);
    assert_eq!(r.upcalls(1), [r.written(1, 0)]);
    assert_eq!(r.h.returns(1).last(), Some(&prev(m1 + BUF_A, 150)));
}

#[test]
fn an_allow_shrunk_below_what_was_written_ends_the_write_without_a_panic() {
    let r = rig(&["a"]);
    r.uart.auto.set(false);
    let m0 = r.mem(0);
    let mut s0 = r.write_setup(0, &bytes(b'a', 150));
    s0.extend([
        sys::command(DRV, WRITE, 150, 0),
        // After the first 64-byte chunk, the buffer no longer reaches
        // offset 64.
        sys::allow_ro(DRV, 1, m0 + BUF_A, 10),
        sys::yield_wait(),
    ]);
    r.h.script(0, s0);
    r.run();
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    assert_eq!(r.uart.chunk_lens(), [64]);
    assert_eq!(r.upcalls(0), [r.written(0, 64)]);
}

#[test]
fn an_app_restarting_mid_write_loses_its_write_and_the_next_proceeds() {
    let r = rig(&["a", "b"]);
    r.uart.auto.set(false);
    let mut s0 = r.write_setup(0, &bytes(b'a', 150));
    s0.extend([
        sys::command(DRV, WRITE, 150, 0),
        Step::Timeslice,
        sys::exit(1, 0),
    ]);
    // After the restart: a fresh write.
    s0.extend(r.write_setup(0, b"ccccc"));
    s0.extend([sys::command(DRV, WRITE, 5, 0), sys::yield_wait()]);
    let mut s1 = r.write_setup(1, &bytes(b'b', 10));
    s1.extend([sys::command(DRV, WRITE, 10, 0), sys::yield_wait()]);
    let first = r.h.pid(0);
    r.h.script(0, s0);
    r.h.script(1, s1);
    r.run();
    assert_ne!(r.h.pid(0), first, "app 0 restarted");
    assert_eq!(r.h.process(0).restart_count(), 1);
    assert_eq!(
        r.uart.chunk_lens(),
        [64],
        "the dead app's chunk is still out"
    );
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    let mut expect = bytes(b'a', 64);
    expect.extend(bytes(b'b', 10));
    expect.extend(b"ccccc");
    assert_eq!(r.uart.output(), expect);
    // Only the new run of app 0 hears about its (new) write.
    assert_eq!(r.upcalls(0), [r.written(0, 5)]);
    assert_eq!(r.upcalls(1), [r.written(1, 10)]);
    let mut returns = r.write_setup_returns();
    returns.push(OK);
    returns.extend(r.write_setup_returns());
    returns.push(OK);
    assert_eq!(r.h.returns(0), returns);
}

#[test]
fn an_app_faulting_while_queued_is_skipped() {
    let r = rig(&["a", "b", "c"]);
    r.uart.auto.set(false);
    let mut s0 = r.write_setup(0, &bytes(b'a', 10));
    s0.extend([sys::command(DRV, WRITE, 10, 0), sys::yield_wait()]);
    let mut s1 = r.write_setup(1, &bytes(b'b', 10));
    s1.extend([
        sys::command(DRV, WRITE, 10, 0),
        Step::Fault(kernel::platform::arch::FaultKind::IllegalInstruction),
    ]);
    let mut s2 = r.write_setup(2, &bytes(b'c', 10));
    s2.extend([sys::command(DRV, WRITE, 10, 0), sys::yield_wait()]);
    r.h.script(0, s0);
    r.h.script(1, s1);
    r.h.script(2, s2);
    r.run();
    assert_eq!(r.h.process(1).state(), State::Faulted);
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    let mut expect = bytes(b'a', 10);
    expect.extend(bytes(b'c', 10));
    assert_eq!(r.uart.output(), expect);
    assert!(r.upcalls(1).is_empty());
    assert_eq!(r.upcalls(2), [r.written(2, 10)]);
}

#[test]
fn a_port_that_refuses_ends_writes_with_what_was_sent() {
    let r = rig(&["a"]);
    r.uart.off.set(true);
    let mut steps = r.write_setup(0, b"hello");
    steps.extend([sys::command(DRV, WRITE, 5, 0), sys::yield_wait()]);
    r.h.script(0, steps);
    r.console.kernel_write(b"lost");
    r.run();
    assert_eq!(r.h.last_return(0), Some(OK));
    assert_eq!(r.upcalls(0), [r.written(0, 0)]);
    assert_eq!(r.console.kernel_dropped(), 4);
    assert!(!r.console.is_transmitting());
}

// ----- reads ---------------------------------------------------------------

impl Rig {
    /// Break, RW allow 1 of `len` bytes at RX, subscribe 2 (appdata
    /// `0xB0 + i`).
    fn read_setup(&self, i: usize, len: u32) -> Vec<Step> {
        let m = self.mem(i);
        vec![
            sys::memop(0, m + BRK),
            sys::allow_rw(DRV, 1, m + RX, len),
            sys::subscribe(DRV, 2, self.f(i), 0xB0 + i as u32),
        ]
    }

    fn read_done(&self, i: usize, status: u32, n: u32) -> UpcallFrame {
        self.up(i, 0xB0 + i as u32, [status, n, 0])
    }
}

#[test]
fn read_into_the_rw_allow() {
    let r = rig(&["a"]);
    let m = r.mem(0);
    let mut steps = r.read_setup(0, 16);
    steps.extend([
        sys::command(DRV, READ, 5, 0),
        sys::yield_wait(),
        Step::Read(m + RX, 6),
    ]);
    r.h.script(0, steps);
    r.run();
    assert!(r.console.is_receiving());
    r.uart.feed(b"hel");
    r.run();
    assert!(r.upcalls(0).is_empty(), "5 bytes were asked for");
    r.uart.feed(b"lo!");
    r.run();
    assert_eq!(r.h.returns(0), [OK, prev(0, 0), prev(0, 0), OK]);
    assert_eq!(r.upcalls(0), [r.read_done(0, 0, 5)]);
    assert_eq!(r.h.cpu.reads(m), [b"hello\0".to_vec()]);
    assert!(!r.console.is_receiving());
}

#[test]
fn abort_delivers_what_arrived_with_cancel() {
    let r = rig(&["a"]);
    let m = r.mem(0);
    let mut steps = r.read_setup(0, 16);
    steps.extend([
        sys::command(DRV, READ, 10, 0),
        sys::yield_no_wait(0),
        sys::command(DRV, ABORT, 0, 0),
        sys::yield_wait(),
        Step::Read(m + RX, 3),
        sys::command(DRV, ABORT, 0, 0), // nothing to abort
    ]);
    r.uart.feed(b"abc");
    r.h.script(0, steps);
    r.run();
    assert_eq!(r.h.returns(0), [OK, prev(0, 0), prev(0, 0), OK, OK, OK]);
    assert_eq!(r.upcalls(0), [r.read_done(0, ErrorCode::CANCEL as u32, 3)]);
    assert_eq!(r.h.cpu.reads(m), [b"abc".to_vec()]);
    assert_eq!(r.uart.aborts.get(), 1, "the second abort had nothing to do");
}

#[test]
fn read_refusals() {
    let r = rig(&["a", "b"]);
    let m0 = r.mem(0);
    r.h.script(
        0,
        [
            sys::memop(0, m0 + BRK),
            sys::command(DRV, READ, 4, 0), // no RW allow
            sys::allow_rw(DRV, 1, m0 + RX, 64),
            sys::command(DRV, READ, 0, 0),  // zero length
            sys::command(DRV, READ, 33, 0), // longer than the 32-byte kernel buffer
            sys::command(DRV, READ, 32, 0), // fits
            sys::command(DRV, READ, 4, 0),  // already reading
        ],
    );
    let mut s1 = r.read_setup(1, 8);
    s1.extend([
        sys::command(DRV, READ, 8, 0),  // someone else is reading
        sys::command(DRV, ABORT, 0, 0), // does not touch app 0's read
    ]);
    r.h.script(1, s1);
    r.run();
    assert_eq!(
        r.h.returns(0),
        [
            OK,
            fails(ErrorCode::SIZE),
            prev(0, 0),
            fails(ErrorCode::SIZE),
            fails(ErrorCode::SIZE),
            OK,
            fails(ErrorCode::BUSY),
        ]
    );
    assert_eq!(
        r.h.returns(1),
        [OK, prev(0, 0), prev(0, 0), fails(ErrorCode::BUSY), OK]
    );
    assert_eq!(r.uart.aborts.get(), 0);
    assert!(r.console.is_receiving());
}

#[test]
fn received_bytes_that_no_longer_fit_report_size() {
    let r = rig(&["a"]);
    let m = r.mem(0);
    let mut steps = r.read_setup(0, 16);
    steps.extend([
        sys::command(DRV, READ, 10, 0),
        sys::allow_rw(DRV, 1, m + RX, 4),
        sys::yield_wait(),
        Step::Read(m + RX, 6),
    ]);
    r.h.script(0, steps);
    r.run();
    r.uart.feed(b"0123456789");
    r.run();
    assert_eq!(r.upcalls(0), [r.read_done(0, ErrorCode::SIZE as u32, 4)]);
    assert_eq!(r.h.cpu.reads(m), [b"0123\0\0".to_vec()]);
}

#[test]
fn a_line_error_reports_the_uart_error_and_the_bytes() {
    let r = rig(&["a"]);
    let mut steps = r.read_setup(0, 16);
    steps.extend([sys::command(DRV, READ, 10, 0), sys::yield_wait()]);
    r.h.script(0, steps);
    r.run();
    r.uart.feed(b"xy");
    r.uart.line_error(uart::Error::Parity);
    r.run();
    assert_eq!(r.upcalls(0), [r.read_done(0, ErrorCode::FAIL as u32, 2)]);
}

#[test]
fn a_dead_readers_reception_is_aborted_for_the_next_reader() {
    let r = rig(&["a", "b"]);
    let m1 = r.mem(1);
    // App 0 runs first (round robin): it starts a read and exits.
    let mut s0 = r.read_setup(0, 16);
    s0.extend([sys::command(DRV, READ, 10, 0), sys::exit(0, 0)]);
    let mut s1 = r.read_setup(1, 8);
    s1.extend([
        sys::command(DRV, READ, 3, 0), // BUSY, aborts the dead reception
        sys::yield_no_wait(0),         // the abort completes meanwhile
        sys::command(DRV, READ, 3, 0), // now the port is free
        sys::yield_wait(),
        Step::Read(m1 + RX, 3),
    ]);
    r.h.script(0, s0);
    r.h.script(1, s1);
    r.run();
    assert_eq!(r.h.process(0).state(), State::Terminated);
    assert_eq!(r.uart.aborts.get(), 1);
    assert!(r.console.is_receiving(), "app 1's read");
    r.uart.feed(b"xyz");
    r.run();
    assert_eq!(
        r.h.returns(1),
        [OK, prev(0, 0), prev(0, 0), fails(ErrorCode::BUSY), OK]
    );
    assert_eq!(r.upcalls(1), [r.read_done(1, 0, 3)]);
    assert_eq!(r.h.cpu.reads(m1), [b"xyz".to_vec()]);
    assert!(r.upcalls(0).is_empty());
}

// ----- kernel output -------------------------------------------------------

/// Apps 0 and 1 each write 10 bytes (`a`, `b`); kernel code prints 100
/// bytes `k` from inside app `printer`'s system call, right after its
/// write. The UART holds app 0's chunk until both apps have run. Returns
/// the rig, once everything is sent.
fn two_writers_and_kernel_output(printer: usize) -> Rig {
    let r = rig(&["a", "b"]);
    r.uart.auto.set(false);
    let print = sys::command(KPRINT, 0, 100, u32::from(b'k'));
    for (app, byte) in [(0, b'a'), (1, b'b')] {
        let mut steps = r.write_setup(app, &bytes(byte, 10));
        steps.push(sys::command(DRV, WRITE, 10, 0));
        if app == printer {
            steps.push(print.clone());
        }
        steps.push(sys::yield_wait());
        r.h.script(app, steps);
    }
    r.run();
    assert_eq!(r.uart.chunk_lens(), [10]);
    assert_eq!(r.console.kernel_pending(), 100);
    r.uart.auto.set(true);
    r.uart.complete_tx();
    r.run();
    assert_eq!(r.upcalls(0), [r.written(0, 10)]);
    assert_eq!(r.upcalls(1), [r.written(1, 10)]);
    assert_eq!(r.console.kernel_dropped(), 0);
    r
}

#[test]
fn kernel_output_takes_its_turn_with_the_apps() {
    // Printed before app 1's write was accepted: in the order it was
    // produced, app 0, then all of the kernel's output (two chunks), then
    // app 1.
    let r = two_writers_and_kernel_output(0);
    let mut expect = bytes(b'a', 10);
    expect.extend(bytes(b'k', 100));
    expect.extend(bytes(b'b', 10));
    assert_eq!(r.uart.output(), expect);
    assert_eq!(r.uart.chunk_lens(), [10, 64, 36, 10]);
    assert_eq!(r.h.returns(0).last(), Some(&[129, 100, 0, 0]));
}

#[test]
fn kernel_output_queued_after_an_apps_write_waits_for_it() {
    let r = two_writers_and_kernel_output(1);
    let mut expect = bytes(b'a', 10);
    expect.extend(bytes(b'b', 10));
    expect.extend(bytes(b'k', 100));
    assert_eq!(r.uart.output(), expect);
    assert_eq!(r.uart.chunk_lens(), [10, 10, 64, 36]);
}

#[test]
fn kernel_writer_debug_output_and_the_boot_banner() {
    let r = rig_with(&["a"], 64, 32, 32);
    writeln!(r.console.kernel_writer(), "boot {}", 1).unwrap();
    // DebugOutput takes whole messages only.
    r.console.write_fmt(format_args!("fault {:#x}\n", 0x20u32));
    r.console.write_fmt(format_args!("{}\n", "x".repeat(20)));
    assert_eq!(r.console.kernel_pending(), 7 + 11);
    assert_eq!(r.console.kernel_dropped(), 21);
    // The streaming writer cuts.
    write!(r.console.kernel_writer(), "{}", "y".repeat(20)).unwrap();
    assert_eq!(r.console.kernel_room(), 0);
    assert_eq!(r.console.kernel_dropped(), 21 + 6);
    r.run();
    assert_eq!(
        r.uart.text(),
        format!("boot 1\nfault 0x20\n{}", "y".repeat(14))
    );
    assert_eq!(r.uart.chunk_lens(), [32]);
    assert_eq!(r.console.kernel_room(), 32);
}

#[test]
fn the_synchronous_fallback_drains_the_ring_in_order() {
    let r = rig_with(&["a"], 64, 32, 16);
    r.console.kernel_write(b"0123456789");
    r.run();
    assert_eq!(r.uart.text(), "0123456789");
    // The ring now starts at offset 10: this wraps.
    r.uart.off.set(true); // nothing goes out from here on
    assert_eq!(r.console.kernel_write(b"ABCDEFGHIJKLMNOPQ"), 16);
    let mut pieces = Vec::new();
    r.console
        .drain_kernel_output(&mut |b: &[u8]| pieces.push(b.to_vec()));
    assert_eq!(pieces, [b"ABCDEF".to_vec(), b"GHIJKLMNOP".to_vec()]);
    assert_eq!(r.console.kernel_pending(), 0);
    assert_eq!(r.console.kernel_dropped(), 1);
    r.run();
    assert_eq!(r.uart.text(), "0123456789", "nothing left to send");
}

#[test]
fn the_console_carries_the_kernels_fault_reports() {
    let r = rig(&["crashy", "b"]);
    let mut s1 = r.write_setup(1, b"still here\n");
    s1.extend([sys::command(DRV, WRITE, 11, 0), sys::yield_wait()]);
    r.h.script(
        0,
        [Step::Fault(
            kernel::platform::arch::FaultKind::IllegalInstruction,
        )],
    );
    r.h.script(1, s1);
    // The board's platform, with the console as the debug output.
    let mut platform = r.h.platform();
    platform.debug = Some(r.console);
    for _ in 0..1000 {
        if !r.h.kernel.has_ready_process() && !r.h.deferred.has_pending() {
            break;
        }
        r.h.kernel.run_once(&platform);
    }
    let text = r.uart.text();
    assert!(
        text.starts_with("process \"crashy\" faulted (IllegalInstruction at "),
        "{text:?}"
    );
    assert!(text.ends_with("): Stop\nstill here\n"), "{text:?}");
    assert_eq!(r.upcalls(1), [r.written(1, 11)]);
}

#[test]
fn grant_data_round_trips_and_zeroes_are_idle() {
    use kernel::grant::GrantData;
    assert_eq!(console::App::load(&[0; 25]), console::App::default());
    // pending, write_len 300, written 64, ticket 2^40 + 5, after 2^33 + 7
    // kernel bytes
    let mut bytes = [0u8; 25];
    bytes[0] = 1;
    bytes[1..5].copy_from_slice(&300u32.to_le_bytes());
    bytes[5..9].copy_from_slice(&64u32.to_le_bytes());
    bytes[9..17].copy_from_slice(&((1u64 << 40) + 5).to_le_bytes());
    bytes[17..25].copy_from_slice(&((1u64 << 33) + 7).to_le_bytes());
    let mut out = [0xEE; 25];
    console::App::load(&bytes).store(&mut out);
    assert_eq!(out, bytes);
    // More written than asked for cannot be: decodes as idle.
    bytes[5..9].copy_from_slice(&301u32.to_le_bytes());
    assert_eq!(console::App::load(&bytes), console::App::default());
}
