//! The QEMU test suite: which image each test boots and what it must see.
//!
//! Images are the ones `userland/build.sh` writes to `target/userland/`
//! (see `userland/layout.toml`); the kernel is the board built with its
//! `test-exit` feature, which exits QEMU when no process is left alive with
//! the number of processes that did not end cleanly as the status.

use std::time::Duration;

use crate::Expect;

/// How a test's apps are installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Install {
    /// `target/userland/<name>.bin`, packed by our `app-image` tool, loaded
    /// at the app flash area.
    Image(&'static str),
    /// The TABs `target/userland/<name>.tab`, installed by `tockloader
    /// install --board qemu_rv32_virt --flash-file` into a flash file that
    /// starts with the kernel.
    Tockloader(&'static [&'static str]),
}

/// One test.
#[derive(Clone, Debug)]
pub struct Test {
    /// Name (for selection and the log file).
    pub name: &'static str,
    /// What it checks, in a sentence.
    pub about: &'static str,
    /// The apps.
    pub install: Install,
    /// What the run must show.
    pub expect: Expect,
    /// When to give up.
    pub timeout: Duration,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Lines every healthy run shows and texts no run may show.
fn boot_lines(loaded: usize) -> Vec<String> {
    strings(&[
        "qemu_rv32_virt: kernel started",
        &format!("qemu_rv32_virt: {loaded} process(es) loaded"),
    ])
}

const NEVER: &[&str] = &["kernel panic", "not loaded"];

/// The suite.
pub fn all() -> Vec<Test> {
    let mut tests = tests();
    for t in &mut tests {
        // Every boot starts from a blank store: the kernel formats it and
        // its boot counter (a kernel-owned item) says 1.
        t.expect.counts.push(("qemu_rv32_virt: boot 1\n".into(), 1));
    }
    tests
}

fn tests() -> Vec<Test> {
    let timeout = Duration::from_secs(30);
    vec![
        Test {
            name: "hello",
            about: "one app prints a line and exits cleanly",
            install: Install::Image("hello"),
            expect: Expect {
                in_order: [
                    boot_lines(1),
                    strings(&[
                        "Hello from tockrt (app hello)",
                        "qemu_rv32_virt: all processes ended, 0 not cleanly",
                    ]),
                ]
                .concat(),
                absent: strings(NEVER),
                status: Some(0),
                ..Expect::default()
            },
            timeout,
        },
        Test {
            name: "abi",
            about: "the ABI conformance app passes every check next to another app",
            install: Install::Image("apps"),
            expect: Expect {
                in_order: [
                    boot_lines(2),
                    strings(&[" checks, 0 failed", "all processes ended, 0 not cleanly"]),
                ]
                .concat(),
                counts: vec![("Hello from tockrt (app hello)".into(), 1)],
                absent: [strings(NEVER), strings(&["FAIL "])].concat(),
                status: Some(0),
            },
            timeout,
        },
        Test {
            name: "fault",
            about: "a process touching kernel memory faults, is restarted three times, then stopped; another keeps running",
            install: Install::Image("fault_survival"),
            expect: Expect {
                in_order: [
                    boot_lines(2),
                    strings(&[
                        "faulted (LoadAccess at ",
                        "address 0x80000000): Stop",
                        "heartbeat: done",
                        "all processes ended, 1 not cleanly",
                    ]),
                ]
                .concat(),
                counts: vec![
                    ("): Restart".into(), 3),
                    ("): Stop".into(), 1),
                    ("fault: loading from kernel memory".into(), 4),
                ],
                absent: strings(NEVER),
                status: Some(1),
            },
            timeout,
        },
        Test {
            name: "preemption",
            about: "an app computing forever without a system call is preempted: another app's alarm-driven beats keep coming",
            install: Install::Image("preemption"),
            expect: Expect {
                in_order: [
                    boot_lines(2),
                    strings(&[
                        "spin: spinning forever without system calls",
                        "heartbeat 2",
                        "heartbeat 20",
                        "heartbeat: done",
                    ]),
                ]
                .concat(),
                absent: strings(NEVER),
                // The spinner never ends, so QEMU runs until the timeout.
                status: None,
                ..Expect::default()
            },
            timeout: Duration::from_secs(8),
        },
        Test {
            name: "panic",
            about: "an app's panic handler prints the message and a low-level debug alert, then exits non-zero",
            install: Install::Image("panics"),
            expect: Expect {
                in_order: [
                    boot_lines(1),
                    strings(&[
                        "deliberate panic, value 42",
                        "LowLevelDebug: App panics alert code 0x1 (panic)",
                        "all processes ended, 1 not cleanly",
                    ]),
                ]
                .concat(),
                absent: strings(NEVER),
                status: Some(1),
                ..Expect::default()
            },
            timeout,
        },
        Test {
            name: "tockloader",
            about: "apps installed with tockloader into a flash file boot and run",
            install: Install::Tockloader(&["hello", "abi_test"]),
            expect: Expect {
                in_order: [
                    boot_lines(2),
                    strings(&[" checks, 0 failed", "all processes ended, 0 not cleanly"]),
                ]
                .concat(),
                counts: vec![("Hello from tockrt (app hello)".into(), 1)],
                absent: [strings(NEVER), strings(&["FAIL "])].concat(),
                status: Some(0),
            },
            timeout,
        },
    ]
}
