//! The kernel core on the mock architecture: loading, every system call
//! class, upcalls, grants, faults and scheduling, asserted register by
//! register.

mod common;

use common::TbfBuilder;
use kernel::grant::GrantError;
use kernel::platform::arch::FaultKind;
use kernel::policy::{AllowAll, RestartWithThreshold, StopFaultPolicy};
use kernel::process::{ProcessId, State};
use kernel_mock::{leak, sys, Harness, Step, TestDriver, DRV, FLASH_START, RAM_START};

/// A harness with the test driver registered.
fn harness_with(
    policy: &'static dyn kernel::policy::ProcessFaultPolicy,
) -> (Harness, &'static TestDriver) {
    Harness::with_test_driver(4, policy, &AllowAll)
}

/// Two plain apps loaded.
fn two_apps() -> (Harness, &'static TestDriver) {
    let (mut h, d) = harness_with(&StopFaultPolicy);
    let apps = [
        TbfBuilder::app("one").build(),
        TbfBuilder::app("two").build(),
    ];
    assert_eq!(h.load(&apps, 0x1000, 0x10000), 2, "{:?}", h.load_log);
    (h, d)
}

fn app_header_size() -> u32 {
    let bytes = TbfBuilder::app("one").build();
    u32::from(u16::from_le_bytes([bytes[2], bytes[3]]))
}

#[test]
fn entry_registers_follow_the_spec() {
    let (h, _) = two_apps();
    let p = h.process(0);
    let s = p.stored_state().words;
    let hs = app_header_size();
    // pc = TBF start + header size + init_fn_offset (0x10)
    assert_eq!(s[kernel_mock::PC], FLASH_START + hs + 0x10);
    // a0 = binary start = TBF start + header size + protected trailer (0x20)
    let a = kernel_mock::R0;
    assert_eq!(s[a], FLASH_START + hs + 0x20);
    assert_eq!(s[a + 1], RAM_START);
    assert_eq!(s[a + 2], p.memory().len);
    // RISC-V style: the initial break is the RAM start.
    assert_eq!(s[a + 3], RAM_START);
    assert_eq!(p.app_break(), RAM_START);
    // The second app's RAM follows the first's.
    assert_eq!(h.process(1).memory().start, p.memory().end());
    assert!(p.memory().len >= 4096);
}

#[test]
fn command_unknown_driver_unknown_command_and_every_variant() {
    let (h, _) = two_apps();
    h.script(
        0,
        [
            sys::command(0x1234, 0, 0, 0),
            sys::command(DRV, 0, 0, 0),
            sys::command(DRV, 99, 0, 0),
        ],
    );
    h.script(0, (0..10).map(|v| sys::command(DRV, 5, v, 0)));
    h.run(100);
    assert_eq!(
        h.returns(0),
        vec![
            [0, 11, 0, 0],
            [128, 0, 0, 0],
            [0, 10, 0, 0],
            [0, 2, 0, 0],
            [1, 7, 11, 0],
            [2, 1, 12, 13],
            [3, 9, 2, 1],
            [128, 0, 0, 0],
            [129, 21, 0, 0],
            [130, 22, 23, 0],
            [131, 4, 3, 0],
            [132, 24, 25, 26],
            [133, 27, 6, 5],
        ]
    );
}

#[test]
fn subscribe_returns_previous_and_validates() {
    let (h, _) = two_apps();
    let p = h.process(0);
    let f = p.binary_start() + 8; // inside the app's flash
    h.script(
        0,
        [
            sys::subscribe(DRV, 0, f, 5),
            sys::subscribe(DRV, 0, f + 4, 6),
            sys::subscribe(DRV, 0, 0, 0),
            sys::subscribe(0x1234, 0, f, 1),
            sys::subscribe(DRV, 2, f, 1),
            sys::subscribe(DRV, 1, FLASH_START, 1), // in the protected header
            sys::subscribe(DRV, 1, 0x1000, 1),      // outside the process
        ],
    );
    h.run(100);
    assert_eq!(
        h.returns(0),
        vec![
            [130, 0, 0, 0],
            [130, f, 5, 0],
            [130, f + 4, 6, 0],
            [2, 11, f, 1],
            [2, 10, f, 1],
            [2, 6, FLASH_START, 1],
            [2, 6, 0x1000, 1],
        ]
    );
}

#[test]
fn grant_lookups_alternating_between_drivers_use_each_drivers_slots() {
    // The kernel remembers the grant it found last: calls that alternate
    // between two drivers (and one with no grant) must still reach each
    // driver's own slots.
    let (mut h, _) = harness_with(&StopFaultPolicy);
    let other = DRV + 1;
    TestDriver::install(&h, other);
    assert_eq!(
        h.load(&[TbfBuilder::app("one").build()], 0x1000, 0x10000),
        1
    );
    let f = h.process(0).binary_start() + 8;
    let buf = RAM_START + 0x100;
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 0x200),
            sys::subscribe(DRV, 0, f, 1),
            sys::subscribe(other, 0, f + 4, 2),
            sys::subscribe(0x1234, 0, f, 9),
            sys::subscribe(DRV, 0, f + 8, 3),
            sys::allow_rw(other, 1, buf, 4),
            sys::allow_rw(DRV, 1, buf, 8),
            sys::subscribe(other, 0, 0, 0),
            sys::allow_rw(other, 1, 0, 0),
            sys::allow_rw(DRV, 1, 0, 0),
        ],
    );
    h.run(100);
    assert_eq!(
        h.returns(0),
        vec![
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [2, 11, f, 9],
            [130, f, 1, 0],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [130, f + 4, 2, 0],
            [130, buf, 4, 0],
            [130, buf, 8, 0],
        ]
    );
}

#[test]
fn upcalls_are_delivered_in_order_one_per_yield() {
    let (h, _) = two_apps();
    let f = h.process(0).binary_start() + 8;
    h.script(
        0,
        [
            sys::subscribe(DRV, 0, f, 0xAA),
            sys::command(DRV, 1, 0, 100),
            sys::command(DRV, 1, 0, 101),
            sys::yield_wait(),
        ],
    );
    h.run(100);
    let ups = h.cpu.upcalls(h.mem_start(0));
    assert_eq!(
        ups.len(),
        2,
        "one upcall per yield; the script then yields again"
    );
    assert_eq!(ups[0].fn_ptr, f);
    assert_eq!(ups[0].args, [100, 1, 7]);
    assert_eq!(ups[0].appdata, 0xAA);
    assert_eq!(ups[1].args, [101, 2, 7]);
}

#[test]
fn subscribe_purges_pending_upcalls() {
    let (h, _) = two_apps();
    let f = h.process(0).binary_start() + 8;
    h.script(
        0,
        [
            sys::subscribe(DRV, 0, f, 1),
            sys::subscribe(DRV, 1, f, 2),
            sys::command(DRV, 1, 0, 10),
            sys::command(DRV, 1, 1, 11),
            sys::command(DRV, 1, 0, 12),
            sys::subscribe(DRV, 0, f + 4, 3),
        ],
    );
    h.run(100);
    let ups = h.cpu.upcalls(h.mem_start(0));
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!(ups[0].args[0], 11);
}

#[test]
fn yield_no_wait_reports_through_the_flag() {
    let (h, _) = two_apps();
    let f = h.process(0).binary_start() + 8;
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 64),
            sys::yield_no_wait(RAM_START + 10),
            Step::Read(RAM_START + 10, 1),
            sys::subscribe(DRV, 0, f, 1),
            sys::command(DRV, 1, 0, 5),
            sys::yield_no_wait(RAM_START + 11),
            Step::Read(RAM_START + 11, 1),
        ],
    );
    h.run(100);
    let m = h.mem_start(0);
    assert_eq!(h.cpu.reads(m), vec![vec![0], vec![1]]);
    assert_eq!(h.cpu.upcalls(m).len(), 1);
}

#[test]
fn yield_wait_for_returns_the_arguments_without_calling() {
    let (h, _) = two_apps();
    let f = h.process(0).binary_start() + 8;
    h.script(
        0,
        [
            sys::subscribe(DRV, 0, f, 1),
            sys::command(DRV, 1, 1, 50), // upcall 1 (null): queued for wait-for
            sys::command(DRV, 1, 0, 51), // upcall 0: not the one waited for
            sys::yield_wait_for(DRV, 1),
        ],
    );
    h.run(100);
    let m = h.mem_start(0);
    assert_eq!(h.last_return(0), Some([50, 1, 7, 0]));
    assert!(h.cpu.upcalls(m).is_empty() || h.cpu.upcalls(m)[0].args[0] == 51);
}

#[test]
fn null_upcalls_do_not_wake_yield_wait() {
    let (h, _) = two_apps();
    h.script(0, [sys::command(DRV, 1, 0, 1), sys::yield_wait()]);
    h.run(100);
    assert_eq!(h.process(0).state(), State::Yielded);
    assert!(h.cpu.upcalls(h.mem_start(0)).is_empty());
}

#[test]
fn the_queue_holds_ten_and_drops_the_rest() {
    let (h, _) = two_apps();
    let f = h.process(0).binary_start() + 8;
    h.script(0, [sys::subscribe(DRV, 0, f, 1)]);
    h.script(0, (0..12).map(|i| sys::command(DRV, 1, 0, i)));
    h.run(100);
    let p = h.process(0);
    assert_eq!(h.returns(0)[11], [0, 9, 0, 0], "11th upcall: queue full");
    assert_eq!(p.debug_info().dropped_upcalls, 2);
    let ups = h.cpu.upcalls(h.mem_start(0));
    let firsts: Vec<u32> = ups.iter().map(|u| u.args[0]).collect();
    assert_eq!(firsts, (0..10).collect::<Vec<_>>());
}

#[test]
fn allow_rules() {
    let (h, _) = two_apps();
    let p = h.process(0);
    let bin = p.binary_start();
    let flash_end = p.flash().end();
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 256),
            sys::allow_rw(DRV, 0, RAM_START + 16, 32),
            sys::allow_rw(DRV, 0, RAM_START + 64, 8),
            sys::allow_rw(DRV, 0, RAM_START + 250, 8), // crosses the break
            sys::allow_rw(DRV, 0, bin, 8),             // flash is not RW
            sys::allow_rw(DRV, 0, 0xFFFF_FFF0, 0x20),  // wraps
            sys::allow_rw(DRV, 0, 0xDEAD_0000, 0),     // size 0: any address
            sys::allow_rw(DRV, 2, RAM_START, 4),       // number not declared
            sys::allow_rw(0x1234, 0, RAM_START, 4),    // no such driver
            sys::allow_ro(DRV, 0, bin, flash_end - bin), // flash after the protected region
            sys::allow_ro(DRV, 1, FLASH_START, 4),     // the header: protected
            sys::allow_ro(DRV, 1, RAM_START, 16),
            sys::allow_ur(DRV, 0, RAM_START, 16),
            sys::allow_ur(DRV, 1, RAM_START, 16),
        ],
    );
    h.run(100);
    assert_eq!(
        h.returns(0),
        vec![
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            [130, RAM_START + 16, 32, 0],
            [2, 6, RAM_START + 250, 8],
            [2, 6, bin, 8],
            [2, 6, 0xFFFF_FFF0, 0x20],
            [130, RAM_START + 64, 8, 0],
            [2, 10, RAM_START, 4],
            [2, 11, RAM_START, 4],
            [130, 0, 0, 0],
            [2, 6, FLASH_START, 4],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [2, 10, RAM_START, 16],
        ]
    );
}

#[test]
fn drivers_see_allowed_buffers_and_recheck_them() {
    let (h, _) = two_apps();
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 256),
            Step::Write(RAM_START + 16, vec![1, 2, 3, 4]),
            sys::allow_ro(DRV, 0, RAM_START + 16, 4),
            sys::command(DRV, 2, 0, 0),
            sys::allow_rw(DRV, 1, RAM_START + 32, 8),
            sys::command(DRV, 3, 1, 0x5A),
            Step::Read(RAM_START + 32, 8),
            sys::allow_rw(DRV, 1, 0, 0),
            sys::command(DRV, 3, 1, 0x77),
            sys::command(DRV, 3, 7, 0),
        ],
    );
    h.run(100);
    let r = h.returns(0);
    assert_eq!(r[2], [130, 10, 4, 0]);
    assert_eq!(r[4], [129, 8, 0, 0]);
    assert_eq!(h.cpu.reads(h.mem_start(0)), vec![vec![0x5A; 8]]);
    assert_eq!(r[6], [129, 0, 0, 0], "revoked buffer reads as empty");
    assert_eq!(r[7], [0, 10, 0, 0], "undeclared allow number");
}

#[test]
fn memops_answer_the_layout() {
    let (h, _) = two_apps();
    let p = h.process(0);
    h.script(
        0,
        (2..=11)
            .map(|op| sys::memop(op, 0))
            .chain([sys::memop(12, 0)]),
    );
    h.run(100);
    let mem = p.memory();
    let flash = p.flash();
    assert_eq!(
        h.returns(0),
        vec![
            [129, mem.start, 0, 0],
            [129, mem.end(), 0, 0],
            [129, flash.start, 0, 0],
            [129, flash.end(), 0, 0],
            [129, p.kernel_break(), 0, 0],
            [129, 0, 0, 0],
            [0, 1, 0, 0],
            [0, 1, 0, 0],
            [128, 0, 0, 0],
            [128, 0, 0, 0],
            [0, 10, 0, 0],
        ]
    );
}

#[test]
fn writeable_flash_regions_are_reported() {
    let (mut h, _) = harness_with(&StopFaultPolicy);
    let app = TbfBuilder::app("w")
        .regions(&[(0x100, 0x200), (0x400, 0x80)])
        .binary(0x600)
        .build();
    assert_eq!(h.load(&[app], 0x1000, 0x10000), 1, "{:?}", h.load_log);
    h.script(
        0,
        [
            sys::memop(7, 0),
            sys::memop(8, 1),
            sys::memop(9, 1),
            sys::memop(8, 2),
        ],
    );
    h.run(100);
    assert_eq!(
        h.returns(0),
        vec![
            [129, 2, 0, 0],
            [129, FLASH_START + 0x400, 0, 0],
            [129, FLASH_START + 0x480, 0, 0],
            [0, 1, 0, 0],
        ]
    );
}

#[test]
fn brk_limits_and_zero_fill() {
    let (h, _) = two_apps();
    let p = h.process(0);
    let kb = p.kernel_break();
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 64),
            Step::Write(RAM_START + 60, vec![9, 9, 9, 9]),
            sys::memop(1, (-32i32) as u32), // sbrk shrinks, answers old break
            sys::memop(1, 32),
            Step::Read(RAM_START + 60, 4), // zero-filled again
            sys::allow_rw(DRV, 0, RAM_START + 40, 8),
            sys::memop(0, RAM_START + 44), // below the allow high-water mark
            sys::memop(0, RAM_START - 4),  // below the RAM start
            sys::memop(0, kb + 4),         // into the grant region
            sys::memop(0, kb),             // exactly up to it
        ],
    );
    h.run(100);
    let r = h.returns(0);
    assert_eq!(r[0], [128, 0, 0, 0]);
    assert_eq!(r[1], [129, RAM_START + 64, 0, 0]);
    assert_eq!(r[2], [129, RAM_START + 32, 0, 0]);
    assert_eq!(h.cpu.reads(h.mem_start(0)), vec![vec![0; 4]]);
    assert_eq!(r[4], [0, 9, 0, 0]);
    assert_eq!(r[5], [0, 9, 0, 0]);
    // The allow grant block moved the kernel break down.
    assert_eq!(r[6], [0, 9, 0, 0]);
    assert!(p.kernel_break() < kb);
    assert_eq!(
        r[7],
        [0, 9, 0, 0],
        "break up to the old grant start now overlaps a grant"
    );
}

/// With a coarse protection unit (an MPU's subregions) the bytes just
/// above a lowered break stay accessible; growing the break again must
/// still hand them back zeroed.
#[test]
fn regrown_memory_is_zeroed_under_coarse_protection() {
    let (h, _) = two_apps();
    h.cpu.granularity.set(Some(256));
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 64),
            Step::Write(RAM_START + 60, vec![9, 9, 9, 9]),
            sys::memop(1, (-32i32) as u32),
            // Still accessible (rounded to 256 bytes): the write lands.
            Step::Write(RAM_START + 40, vec![7, 7, 7, 7]),
            sys::memop(1, 32),
            Step::Read(RAM_START + 60, 4),
            Step::Read(RAM_START + 40, 4),
        ],
    );
    h.run(100);
    let r = h.returns(0);
    assert_eq!(
        r[1],
        [129, RAM_START + 64, 0, 0],
        "sbrk answers the old break"
    );
    assert_eq!(r[2], [129, RAM_START + 32, 0, 0]);
    assert_eq!(
        h.cpu.reads(h.mem_start(0)),
        vec![vec![0; 4], vec![0; 4]],
        "both zeroed by the regrow"
    );
}

#[test]
fn processes_cannot_touch_memory_beyond_their_break() {
    let (h, _) = two_apps();
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 64),
            Step::Write(RAM_START + 64, vec![1]),
        ],
    );
    h.script(1, [sys::command(DRV, 0, 0, 0)]);
    h.run(100);
    assert_eq!(h.process(0).state(), State::Faulted);
    assert_eq!(
        h.process(0).last_fault().map(|f| f.kind),
        Some(FaultKind::StoreAccess)
    );
    // The other process kept running.
    assert_eq!(h.returns(1), vec![[128, 0, 0, 0]]);
}

#[test]
fn exit_terminate_and_restart() {
    let (h, d) = two_apps();
    let first = h.pid(0);
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 64),
            Step::Write(RAM_START, vec![7; 4]),
            sys::command(DRV, 0, 0, 0),
            sys::exit(1, 3),
        ],
    );
    h.script(
        0,
        [
            sys::memop(0, RAM_START + 64),
            Step::Read(RAM_START, 4),
            sys::command(DRV, 4, 0, 0),
            sys::exit(9, 0),
            sys::exit(0, 42),
        ],
    );
    h.run(100);
    let p = h.process(0);
    assert_eq!(p.state(), State::Terminated);
    assert_eq!(p.completion_code(), Some(42));
    assert_eq!(p.restart_count(), 1);
    let m = h.mem_start(0);
    // Memory was reset by the restart; grant data started over.
    assert_eq!(h.cpu.reads(m), vec![vec![0; 4]]);
    let r = h.returns(0);
    assert_eq!(r[r.len() - 2], [129, 1, 0, 0]);
    assert_eq!(r[r.len() - 1], [0, 10, 0, 0], "exit 9: NOSUPPORT");
    // Both pids are stale now.
    assert!(h.kernel.process(first).is_none());
    assert_eq!(
        d.grant.enter(first, |_, _| ()),
        Err(GrantError::NoSuchProcess)
    );
}

#[test]
fn restart_policy_has_a_threshold() {
    let (mut h, _) = harness_with(leak(RestartWithThreshold { threshold: 2 }));
    assert_eq!(
        h.load(&[TbfBuilder::app("crash").build()], 0x1000, 0x10000),
        1
    );
    let pids: Vec<ProcessId> = vec![h.pid(0)];
    h.script(
        0,
        (0..5).map(|_| Step::Fault(FaultKind::IllegalInstruction)),
    );
    h.run(100);
    let p = h.process(0);
    assert_eq!(p.restart_count(), 2);
    assert_eq!(p.state(), State::Faulted);
    assert_eq!(
        h.cpu.remaining(h.mem_start(0)),
        2,
        "stopped after the third fault"
    );
    assert_ne!(p.processid(), Some(pids[0]));
    // The cause survives the restarts.
    assert_eq!(
        p.last_fault().map(|f| f.kind),
        Some(FaultKind::IllegalInstruction)
    );
}

#[test]
fn unknown_class_and_bad_yield_fault() {
    let (h, _) = two_apps();
    h.script(0, [Step::Syscall(8, [0; 4])]);
    h.script(1, [Step::Syscall(0, [3, 0, 0, 0])]);
    h.run(100);
    for i in 0..2 {
        assert_eq!(h.process(i).state(), State::Faulted);
        // The fault names the trapping instruction: the entry point, since
        // it is the first thing each process does.
        let kernel_mock::Event::Started { entry, .. } = h.cpu.events()[i] else {
            panic!("process {i} was not started first");
        };
        assert_eq!(
            h.process(i).last_fault().map(|f| (f.kind, f.pc)),
            Some((FaultKind::BadSyscall, entry.pc))
        );
    }
}

#[test]
fn grants_allocate_on_first_use_and_run_out() {
    let (mut h, d) = harness_with(&StopFaultPolicy);
    // An app with almost no RAM: its grant region holds nothing.
    let tiny = TbfBuilder::new()
        .program(0x10, 0x20, 0, 1)
        .name("tiny")
        .kernel_version(2, 0)
        .binary(0x80);
    assert_eq!(
        h.load(
            &[tiny.build(), TbfBuilder::app("big").build()],
            0x1000,
            0x10000
        ),
        2,
        "{:?}",
        h.load_log
    );
    assert_eq!(
        d.grant.enter(h.pid(0), |_, _| ()),
        Err(GrantError::NoMemory)
    );
    h.script(
        0,
        [sys::subscribe(DRV, 0, 0, 0), sys::allow_rw(DRV, 0, 0, 0)],
    );
    h.run(100);
    assert_eq!(h.returns(0), vec![[2, 9, 0, 0], [2, 9, 0, 0]]);
    let big = h.process(1);
    let before = big.kernel_break();
    assert_eq!(
        d.grant.enter_existing(h.pid(1), |_, _| ()),
        Err(GrantError::NotAllocated)
    );
    d.grant.enter(h.pid(1), |data, _| data[1] = 77).unwrap();
    assert!(big.kernel_break() < before);
    assert_eq!(d.grant.enter(h.pid(1), |data, _| data[1]), Ok(77));
    // Re-entering the same process is refused; another one is fine.
    let nested = d
        .grant
        .enter(h.pid(1), |_, _| d.grant.enter(h.pid(1), |_, _| ()));
    assert_eq!(nested, Ok(Err(GrantError::AlreadyEntered)));
    assert_eq!(d.grant.each(|_, _, _| ()), 1);
}

#[test]
fn grant_memory_is_not_accessible_to_the_process() {
    let (h, d) = two_apps();
    d.grant.enter(h.pid(0), |_, _| ()).unwrap();
    let kb = h.process(0).kernel_break();
    h.script(0, [sys::memop(0, kb), Step::Write(kb, vec![0xFF])]);
    h.run(100);
    assert_eq!(h.process(0).state(), State::Faulted);
}
