//! IPC (driver 0x10000) through the real system call dispatch: discovery
//! by package name, service and client notifications, and the sharing of
//! a client's buffer with a service through the protection unit (opened
//! on notification, closed when the client re-allows, revokes, exits,
//! faults or restarts). The mock CPU's `Step::Probe` asks the protection
//! unit the kernel configured whether a range is open to the running
//! process.

use kernel::ipc::{self, Ipc, DRIVER_NUM as IPC};
use kernel::platform::arch::FaultKind;
use kernel::platform::mpu::MAX_SHARED;
use kernel::policy::{AllowAll, RestartWithThreshold, StopFaultPolicy};
use kernel::process::Process;
use kernel::ErrorCode;
use kernel_mock::tbf::TbfBuilder;
use kernel_mock::{leak, sys, Harness, Step};

const SUCCESS: u32 = 128;
const SUCCESS_U32: u32 = 129;
const FAILURE: u32 = 0;

/// Where each app keeps the name it discovers, and its shared buffer
/// (256-aligned in process RAM, which the harness starts aligned).
const NAME: u32 = 0x100;
const BUF: u32 = 0x200;
const BRK: u32 = 0x800;

fn ok_u32(v: u32) -> [u32; 4] {
    [SUCCESS_U32, v, 0, 0]
}

fn fails(e: ErrorCode) -> [u32; 4] {
    [FAILURE, e as u32, 0, 0]
}

/// A kernel with the IPC driver and `names` loaded in slots 0, 1, ...
fn rig(names: &[&str], restart: bool) -> Harness {
    let policy: &'static dyn kernel::policy::ProcessFaultPolicy = if restart {
        leak(RestartWithThreshold { threshold: 5 })
    } else {
        &StopFaultPolicy
    };
    let slots = names.len().max(2) + 1;
    let mut h = Harness::new(slots, policy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<()>(IPC, ipc::allow_counts(slots as u8))
        .unwrap();
    let driver = leak(Ipc::new(h.kernel, grant, h.cpu));
    h.drivers.add(IPC, driver);
    let tbfs: Vec<Vec<u8>> = names.iter().map(|n| TbfBuilder::app(n).build()).collect();
    let ram = (8192 + Process::kernel_overhead(1) as usize) * slots;
    assert_eq!(h.load(&tbfs, 0x8000, ram), names.len(), "{:?}", h.load_log);
    h
}

/// The steps that look `name` up (RO allow 0, command 1).
fn discover(h: &Harness, app: usize, name: &str) -> Vec<Step> {
    let m = h.mem_start(app);
    vec![
        Step::Write(m + NAME, name.as_bytes().to_vec()),
        sys::allow_ro(IPC, 0, m + NAME, name.len() as u32),
        sys::command(IPC, 1, 0, 0),
    ]
}

fn upcall_fn(h: &Harness, app: usize) -> u32 {
    h.process(app).binary_start() + 8
}

/// The `(args)` of every upcall `app` received.
fn upcall_args(h: &Harness, app: usize) -> Vec<[u32; 3]> {
    h.cpu
        .upcalls(h.mem_start(app))
        .iter()
        .map(|u| u.args)
        .collect()
}

fn probes(h: &Harness, app: usize) -> Vec<bool> {
    h.cpu.probes(h.mem_start(app)).iter().map(|p| p.2).collect()
}

#[test]
fn discovery_by_package_name() {
    let h = rig(&["org.tockos.unit_test", "runner", "gone"], false);
    // "gone" exits at once (the runner gives up its first timeslice so
    // that it does): a name of a process that is not alive is not found.
    h.script(2, [sys::exit(0, 0)]);
    let m = h.mem_start(1);
    let mut steps = vec![Step::Timeslice, sys::memop(0, m + BRK)];
    steps.extend(discover(&h, 1, "org.tockos.unit_test"));
    steps.extend(discover(&h, 1, "runner"));
    steps.extend(discover(&h, 1, "org.tockos.unit_tes"));
    steps.extend(discover(&h, 1, "gone"));
    // No name allowed: INVAL. An unknown command: NOSUPPORT. 0 exists.
    steps.extend([
        sys::allow_ro(IPC, 0, 0, 0),
        sys::command(IPC, 1, 0, 0),
        sys::command(IPC, 4, 0, 0),
        sys::command(IPC, 0, 0, 0),
    ]);
    h.script(1, steps);
    h.run(100);
    let commands: Vec<[u32; 4]> = h
        .returns(1)
        .into_iter()
        .filter(|r| r[0] == SUCCESS_U32 || r[0] == FAILURE || r[0] == SUCCESS)
        .collect();
    assert_eq!(
        commands,
        [
            [SUCCESS, 0, 0, 0], // memop
            ok_u32(0),
            ok_u32(1),
            fails(ErrorCode::NODEVICE),
            fails(ErrorCode::NODEVICE),
            fails(ErrorCode::INVAL),
            fails(ErrorCode::NOSUPPORT),
            [SUCCESS, 0, 0, 0],
        ]
    );
}

/// Service in slot 0 (subscribes its own id 0), client in slot 1: one
/// request and its answer; each script ends there (more steps can be
/// appended). Returns the client's buffer address.
fn service_and_client(h: &Harness, client_buffer_len: u32) -> u32 {
    let (ms, mc) = (h.mem_start(0), h.mem_start(1));
    let mut service = vec![sys::memop(0, ms + BRK)];
    service.extend(discover(h, 0, "service"));
    service.extend([
        sys::subscribe(IPC, 0, upcall_fn(h, 0), 0x5E),
        sys::yield_wait(),
        // The client's request arrived: its buffer is open to the service.
        Step::Probe(mc + BUF, client_buffer_len),
        // Beyond the buffer, the client's memory stays closed.
        Step::Probe(mc + BUF + client_buffer_len, 4),
        Step::Probe(mc + BUF - 4, 4),
        sys::command(IPC, 3, 1, 0),
    ]);
    h.script(0, service);
    let mut client = vec![sys::memop(0, mc + BRK)];
    client.extend(discover(h, 1, "service"));
    client.extend([
        sys::subscribe(IPC, 0, upcall_fn(h, 1), 0xC1),
        sys::allow_rw(IPC, 0, mc + BUF, client_buffer_len),
        sys::command(IPC, 2, 0, 0),
        sys::yield_wait(),
    ]);
    h.script(1, client);
    mc + BUF
}

#[test]
fn notifications_carry_the_buffer_and_open_exactly_it() {
    let h = rig(&["service", "client"], false);
    let buf = service_and_client(&h, 256);
    h.run(200);
    // The service's upcall is on its own id 0: (client id, len, ptr).
    assert_eq!(upcall_args(&h, 0), [[1, 256, buf]]);
    assert_eq!(probes(&h, 0), [true, false, false]);
    // The client's answer is on the service's id 0: (service id, 0, 0),
    // since the service shares nothing with it.
    assert_eq!(upcall_args(&h, 1), [[0, 0, 0]]);
    let upcalls = h.cpu.upcalls(h.mem_start(0));
    assert_eq!(upcalls[0].appdata, 0x5E);
    // The service never gets a window onto the client's memory beyond the
    // buffer: the protection the kernel last configured for it (or for
    // the client) shares exactly [buf, buf + 256).
    let shared = h.process(0).shared_buffers();
    assert_eq!(shared.iter().flatten().count(), 1);
    let b = shared[0].expect("shared");
    assert_eq!((b.range.start, b.range.len), (buf, 256));
    assert_eq!(b.owner, h.pid(1));
}

/// After the first exchange, the client does `then` and notifies the
/// service again; the service probes the old buffer.
fn after_first_exchange(then: Vec<Step>) -> (Harness, u32) {
    let h = rig(&["service", "client"], false);
    let buf = service_and_client(&h, 256);
    h.script(0, [sys::yield_wait(), Step::Probe(buf, 256)]);
    let mut more = then;
    more.extend([sys::command(IPC, 2, 0, 0), sys::yield_wait()]);
    h.script(1, more);
    h.run(300);
    (h, buf)
}

#[test]
fn re_allowing_or_revoking_closes_the_old_buffer() {
    let mc = |h: &Harness| h.mem_start(1);
    // Revoked: the next notification carries nothing and the old buffer
    // is closed before the service runs again.
    let (h, _) = after_first_exchange(vec![sys::allow_rw(IPC, 0, 0, 0)]);
    assert_eq!(upcall_args(&h, 0), [[1, 256, mc(&h) + BUF], [1, 0, 0]]);
    assert_eq!(probes(&h, 0), [true, false, false, false]);
    assert!(h.process(0).shared_buffers().iter().all(Option::is_none));
    // Re-allowed at another place: the new one is open, the old one not.
    let h = rig(&["service", "client"], false);
    let buf = service_and_client(&h, 256);
    let other = h.mem_start(1) + 0x400;
    h.script(
        0,
        [
            sys::yield_wait(),
            Step::Probe(buf, 256),
            Step::Probe(other, 64),
        ],
    );
    h.script(
        1,
        [
            sys::allow_rw(IPC, 0, other, 64),
            sys::command(IPC, 2, 0, 0),
            sys::yield_wait(),
        ],
    );
    h.run(300);
    assert_eq!(upcall_args(&h, 0), [[1, 256, buf], [1, 64, other]]);
    assert_eq!(probes(&h, 0), [true, false, false, false, true]);
}

#[test]
fn a_dead_or_restarted_client_takes_its_buffer_back() {
    for (how, restart) in [
        (sys::exit(0, 0), false),
        (Step::Fault(FaultKind::IllegalInstruction), false),
        (sys::exit(1, 0), true),
        (Step::Fault(FaultKind::IllegalInstruction), true),
    ] {
        let h = rig(&["service", "client", "waker"], restart);
        let buf = service_and_client(&h, 256);
        let client = h.pid(1);
        // After its answer the service also tells the waker, and waits.
        h.script(
            0,
            [
                sys::command(IPC, 3, 2, 0),
                sys::yield_wait(),
                Step::Probe(buf, 256),
            ],
        );
        // The client gets its answer and dies (or restarts)...
        h.script(1, [how.clone()]);
        // ... then the waker, told after the client, wakes the service,
        // which looks at the old buffer again.
        let mw = h.mem_start(2);
        h.script(
            2,
            [
                sys::memop(0, mw + BRK),
                sys::subscribe(IPC, 0, upcall_fn(&h, 2), 0),
                sys::yield_wait(),
                sys::command(IPC, 2, 0, 0),
            ],
        );
        h.run(500);
        // The client is gone, or runs again under a new id.
        assert!(h.kernel.process(client).is_none(), "{how:?}");
        assert_eq!(upcall_args(&h, 0), [[1, 256, buf], [2, 0, 0]], "{how:?}");
        assert_eq!(probes(&h, 0), [true, false, false, false], "{how:?}");
        assert!(h.process(0).shared_buffers().iter().all(Option::is_none));
    }
}

#[test]
fn bad_targets_are_refused_and_nothing_is_queued() {
    let h = rig(&["service", "client", "gone"], false);
    h.script(2, [sys::exit(0, 0)]);
    let mc = h.mem_start(1);
    h.script(
        1,
        [
            Step::Timeslice,
            sys::memop(0, mc + BRK),
            sys::command(IPC, 2, 1, 0),  // itself
            sys::command(IPC, 3, 1, 0),  // itself
            sys::command(IPC, 2, 2, 0),  // exited
            sys::command(IPC, 3, 2, 0),  // exited
            sys::command(IPC, 2, 3, 0),  // empty slot
            sys::command(IPC, 2, 99, 0), // no such slot
            sys::command(IPC, 2, u32::MAX, 0),
        ],
    );
    h.run(100);
    let inval = fails(ErrorCode::INVAL);
    assert_eq!(h.returns(1)[1..], [inval; 7]);
    assert!(h.cpu.upcalls(h.mem_start(0)).is_empty());
}

#[test]
fn a_buffer_that_cannot_be_opened_exactly_is_not_shared() {
    // 6 bytes: not whole words. The service is told (client, 0, 0) and
    // its probe finds nothing open.
    let h = rig(&["service", "client"], false);
    let buf = service_and_client(&h, 6);
    h.run(200);
    assert_eq!(upcall_args(&h, 0), [[1, 0, 0]]);
    assert_eq!(probes(&h, 0), [false, false, false]);
    let _ = buf;
}

#[test]
fn a_buffer_in_the_grant_region_can_never_be_allowed() {
    let h = rig(&["service", "client"], false);
    let p = h.process(1);
    let mc = h.mem_start(1);
    let top = p.memory().end();
    h.script(
        0,
        [
            sys::subscribe(IPC, 0, upcall_fn(&h, 0), 0),
            sys::yield_wait(),
        ],
    );
    h.script(
        1,
        [
            sys::memop(0, mc + BRK),
            // The kernel-owned top of the block (grant table, queue).
            sys::allow_rw(IPC, 0, top - 64, 64),
            // Straddling the break.
            sys::allow_rw(IPC, 0, mc + BRK - 8, 16),
            sys::command(IPC, 2, 0, 0),
        ],
    );
    h.run(100);
    let r = h.returns(1);
    assert_eq!(r[1][0], 2, "allow into the grant region: FailureU32U32");
    assert_eq!(r[1][1], ErrorCode::INVAL as u32);
    assert_eq!(r[2][0], 2, "allow across the break");
    // The notification still goes out, with no buffer.
    assert_eq!(r[3], [SUCCESS, 0, 0, 0]);
    assert_eq!(upcall_args(&h, 0), [[1, 0, 0]]);
}

#[test]
fn a_service_holds_at_most_max_shared_buffers() {
    let names = ["service", "c1", "c2", "c3", "c4", "c5"];
    let h = rig(&names, false);
    assert!(names.len() - 1 > MAX_SHARED);
    let ms = h.mem_start(0);
    h.script(
        0,
        [
            sys::memop(0, ms + BRK),
            sys::subscribe(IPC, 0, upcall_fn(&h, 0), 0),
        ],
    );
    for c in 1..names.len() {
        let m = h.mem_start(c);
        h.script(
            c,
            [
                sys::memop(0, m + BRK),
                sys::allow_rw(IPC, 0, m + BUF, 256),
                sys::command(IPC, 2, 0, 0),
            ],
        );
    }
    h.run(300);
    let got = upcall_args(&h, 0);
    assert_eq!(got.len(), names.len() - 1, "{got:?}");
    let shared = got.iter().filter(|a| a[1] == 256).count();
    assert_eq!(shared, MAX_SHARED);
    let refused: Vec<&[u32; 3]> = got.iter().filter(|a| a[1] == 0).collect();
    assert_eq!(refused.len(), names.len() - 1 - MAX_SHARED);
    assert_eq!(refused[0][2], 0, "no pointer without access");
}
