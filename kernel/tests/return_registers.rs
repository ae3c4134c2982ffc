//! The return-register convention, through the real syscall dispatch: a
//! return writes `r0` and the registers its variant uses, and every other
//! register keeps the value the process passed in. libtock-rs depends on
//! it (its memop and exit wrappers declare only r0-r1 clobbered; its
//! start-up keeps a pointer in r2 across a memop), so each class and
//! variant a process can reach is checked here with distinctive values in
//! the unused registers.

mod common;

use common::TbfBuilder;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel_mock::{sys, Harness, Step, DRV};

/// Distinctive values for argument registers the call does not use.
const A2: u32 = 0xA2A2_0002;
const A3: u32 = 0xA3A3_0003;

/// One app loaded, with the test driver.
fn one_app() -> Harness {
    let (mut h, _) = Harness::with_test_driver(2, &StopFaultPolicy, &AllowAll);
    let apps = [TbfBuilder::app("regs").build()];
    assert_eq!(h.load(&apps, 0x1000, 0x10000), 1, "{:?}", h.load_log);
    h
}

/// Runs `steps` in the app of `h`; what it saw in r0-r3 after each return.
fn run(h: &Harness, steps: impl IntoIterator<Item = Step>) -> Vec<[u32; 4]> {
    h.script(0, steps);
    h.run(200);
    h.seen(0)
}

/// One app runs `steps`.
fn seen_after(steps: impl IntoIterator<Item = Step>) -> (Harness, Vec<[u32; 4]>) {
    let h = one_app();
    let seen = run(&h, steps);
    (h, seen)
}

#[test]
fn every_command_variant_writes_only_its_registers() {
    // Command 5 answers variant `arg0`; arg1 carries a distinctive value
    // into r3.
    let (_, seen) = seen_after(
        [
            sys::command(0x1234, 7, A2, A3),
            sys::command(DRV, 0, A2, A3),
        ]
        .into_iter()
        .chain((0..10).map(|v| sys::command(DRV, 5, v, A3))),
    );
    assert_eq!(
        seen,
        vec![
            [0, 11, A2, A3],   // Failure(NODEVICE): r0-r1
            [128, 0, A2, A3],  // Success: r0; r1 keeps the command number 0
            [0, 2, 0, A3],     // Failure: r0-r1
            [1, 7, 11, A3],    // Failure + u32: r0-r2
            [2, 1, 12, 13],    // Failure + 2 u32
            [3, 9, 2, 1],      // Failure + u64
            [128, 5, 4, A3],   // Success: r1 and r2 keep 5 and arg0
            [129, 21, 5, A3],  // Success + u32: r0-r1
            [130, 22, 23, A3], // Success + 2 u32: r0-r2
            [131, 4, 3, A3],   // Success + u64: r0-r2
            [132, 24, 25, 26], // Success + 3 u32
            [133, 27, 6, 5],   // Success + u32 + u64
        ]
    );
}

#[test]
fn memop_and_exit_write_r0_r1_at_most() {
    let (h, seen) = seen_after([
        Step::Syscall(5, [2, 0xA1A1_0001, A2, A3]), // RAM start: Success + u32
        Step::Syscall(5, [10, 0x1234, A2, A3]),     // debug hint: Success
        Step::Syscall(5, [12, 1, A2, A3]),          // unknown: Failure
        Step::Syscall(5, [8, 0, A2, A3]),           // absent region: Failure
        Step::Syscall(5, [0, 0x10, A2, A3]),        // brk below RAM: Failure
        Step::Syscall(6, [2, 7, A2, A3]),           // exit 2: Failure
    ]);
    let ram = h.mem_start(0);
    assert_eq!(
        seen,
        vec![
            [129, ram, A2, A3],
            [128, 0x1234, A2, A3],
            [0, 10, A2, A3],
            [0, 1, A2, A3],
            [0, 9, A2, A3],
            [0, 10, A2, A3],
        ]
    );
}

#[test]
fn allow_and_subscribe_success_keep_r3() {
    let h = one_app();
    let ram = h.mem_start(0);
    let f = h.process(0).binary_start() + 8;
    let seen = run(
        &h,
        [
            sys::memop(0, ram + 0x100),
            sys::allow_ro(DRV, 0, ram, 16),
            sys::allow_rw(DRV, 0, ram + 16, 8),
            sys::allow_ur(DRV, 0, ram + 32, 4),
            sys::subscribe(DRV, 0, f, 0x5A5A),
            sys::allow_ro(DRV, 9, ram, 16), // not declared: Failure + 2 u32
        ],
    );
    assert_eq!(
        seen,
        vec![
            [128, ram + 0x100, 0, 0],
            // Success + 2 u32 (the previous buffer or upcall: none) writes
            // r0-r2; r3 keeps the size or app data passed in.
            [130, 0, 0, 16],
            [130, 0, 0, 8],
            [130, 0, 0, 4],
            [130, 0, 0, 0x5A5A],
            [2, 10, ram, 16],
        ]
    );
}

#[test]
fn yields_write_nothing_but_wait_for_writes_r0_r2() {
    let (_, seen) = seen_after([
        // Nothing queued: a yield-no-wait returns with every register as
        // it was (no flag byte: r1 = 0).
        Step::Syscall(0, [0, 0, A2, A3]),
        sys::command(DRV, 1, 1, 50), // queue null upcall 1: (50, 1 command, 7)
        Step::Syscall(0, [2, DRV, 1, A3]),
    ]);
    // The no-wait wrote nothing, so only the command and the wait-for
    // returned.
    assert_eq!(seen, vec![[128, 1, 1, 50], [50, 1, 7, A3]]);
}
