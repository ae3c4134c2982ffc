//! The rules of the userspace ABI (spec §2-5 and §8) that the kernel core
//! implements and `process.rs` does not already show: loading through
//! `Kernel::load_processes`, the Cortex-M initial break, stale process ids,
//! the permissions filter, storage identity, fault policies, scheduling,
//! and the corners of yield, allow, subscribe and exit. Every assertion is
//! on exact values: registers, states, ids, addresses.

mod common;

use std::cell::{Cell, RefCell};
use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};

use common::TbfBuilder;
use kernel::credentials::Trust;
use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::grant::GrantError;
use kernel::platform::arch::FaultKind;
use kernel::platform::mpu::ProcessProtection;
use kernel::platform::Range;
use kernel::policy::{
    AllowAll, PanicFaultPolicy, ProcessFaultPolicy, RestartWithThreshold, StopFaultPolicy,
    SyscallFilter, TbfPermissionsFilter,
};
use kernel::process::task::UpcallId;
use kernel::process::{Process, ProcessId, State};
use kernel::storage_permissions::{ShortId, StoragePermissions};
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::tbf::{KernelVersion, Outcome, Refusal, TbfError};
use kernel::utilities::crc32_posix;
use kernel::{CreateGrantError, LoadEvent};
use kernel_mock::{
    leak, sys, Event, Harness, MockBoundary, MockChip, Step, TestDriver, COUNTS, DRV, FLASH_START,
    PC, R0, RAM_START,
};

/// RAM every `TbfBuilder::app` needs with one grant registered: its
/// minimum (4096) plus the grant table and the upcall queue.
fn app_ram() -> u32 {
    4096 + Process::kernel_overhead(1)
}

/// `header_size` of a built TBF.
fn header_size(tbf: &[u8]) -> u32 {
    u32::from(u16::from_le_bytes([tbf[2], tbf[3]]))
}

/// Flash address of each TBF when `tbfs` are laid out from `FLASH_START`.
fn flash_addresses(tbfs: &[Vec<u8>]) -> Vec<u32> {
    tbfs.iter()
        .scan(FLASH_START, |at, t| {
            let here = *at;
            *at += t.len() as u32;
            Some(here)
        })
        .collect()
}

/// A harness with `slots` slots and the test driver, with `tbfs` loaded
/// into 0x4000 bytes of flash and `ram` bytes of RAM.
fn load_with(
    slots: usize,
    policy: &'static dyn ProcessFaultPolicy,
    filter: &'static dyn SyscallFilter,
    tbfs: &[Vec<u8>],
    ram: usize,
) -> (Harness, &'static TestDriver) {
    let (mut h, d) = Harness::with_test_driver(slots, policy, filter);
    h.load(tbfs, 0x4000, ram);
    (h, d)
}

/// A plain `TbfBuilder::app` per name.
fn named_tbfs(names: &[&str]) -> Vec<Vec<u8>> {
    names.iter().map(|n| TbfBuilder::app(n).build()).collect()
}

/// Plain apps with these names, stop-on-fault, no filter.
fn apps(names: &[&str]) -> (Harness, &'static TestDriver) {
    let (h, d) = load_with(4, &StopFaultPolicy, &AllowAll, &named_tbfs(names), 0x10000);
    assert_eq!(h.load_events.len(), names.len(), "{:?}", h.load_log);
    (h, d)
}

/// Loads plain apps with these names into an already set-up harness;
/// returns it and the number of processes.
fn apps_into(mut h: Harness, names: &[&str]) -> (Harness, usize) {
    let n = h.load(&named_tbfs(names), 0x4000, 0x10000);
    (h, n)
}

/// Plays `steps` as the process in slot 0, runs the kernel until nothing
/// is left to do and returns every syscall return that process saw.
fn run_script(h: &Harness, steps: impl IntoIterator<Item = Step>) -> Vec<[u32; 4]> {
    h.script(0, steps);
    h.run(100);
    h.returns(0)
}

/// An upcall function inside the app's flash (after the protected region).
fn upcall_fn(h: &Harness, slot: usize) -> u32 {
    h.process(slot).binary_start() + 8
}

/// A package name is the app's to choose: the kernel's messages print it
/// escaped, so a name cannot clear the screen or fake a line of the log.
#[test]
fn hostile_package_names_are_printed_escaped() {
    let hostile = "x\u{1b}[2J\nkernel: ok'\\";
    let (h, _) = apps(&[hostile]);
    let line = h.load_events[0].to_string();
    assert!(
        line.starts_with("process 0 'x\\x1b[2J\\x0akernel: ok\\x27\\x5c' flash "),
        "{line}"
    );
    assert!(line.bytes().all(|b| (b' '..=b'~').contains(&b)), "{line}");
}

/// An app requiring kernel `major.minor` (and nothing else unusual).
fn app_for_kernel(name: &str, major: u16, minor: u16) -> TbfBuilder {
    TbfBuilder::new()
        .program(0x10, 0x20, 4096, 7)
        .name(name)
        .kernel_version(major, minor)
        .binary(0x80)
}

/// The `Loaded` event of the TBF `tbf` at `at`, given RAM `(start, len)`.
fn loaded(
    index: usize,
    name: &'static str,
    at: u32,
    tbf: &[u8],
    (start, len): (u32, u32),
) -> LoadEvent<'static> {
    // The harness's policies: ShortId = crc32 of the name, self-only
    // storage under it.
    let id = NonZeroU32::new(crc32_posix(name.as_bytes())).unwrap();
    LoadEvent::Loaded {
        index,
        name,
        flash: Range {
            start: at,
            len: tbf.len() as u32,
        },
        ram: Range { start, len },
        short_id: ShortId::Fixed(id),
        storage: StoragePermissions::SelfOnly(id),
        trust: Trust::Unverified,
    }
}

// ----- loading ------------------------------------------------------------

#[test]
fn fixed_ram_addresses_are_honoured_exactly_and_in_order() {
    let fixed_b = RAM_START + 0x4000;
    let behind = RAM_START + 0x2000;
    let tbfs = vec![
        TbfBuilder::app("a").build(),
        TbfBuilder::app("b").fixed(fixed_b, 0xFFFF_FFFF).build(),
        TbfBuilder::app("c").build(),
        // Lies behind RAM already given to "c": apps must be ordered by RAM.
        TbfBuilder::app("d").fixed(behind, 0xFFFF_FFFF).build(),
        TbfBuilder::app("e").build(),
    ];
    let at = flash_addresses(&tbfs);
    let (h, _) = load_with(5, &StopFaultPolicy, &AllowAll, &tbfs, 0x10000);
    let need = app_ram();
    let c_start = fixed_b + need;
    assert_eq!(
        h.load_events,
        vec![
            loaded(0, "a", at[0], &tbfs[0], (RAM_START, need)),
            loaded(1, "b", at[1], &tbfs[1], (fixed_b, need)),
            loaded(2, "c", at[2], &tbfs[2], (c_start, need)),
            LoadEvent::NoMemory {
                address: at[3],
                name: "d",
                needed: need,
                fixed: Some(behind),
            },
            loaded(3, "e", at[4], &tbfs[4], (c_start + need, need)),
        ]
    );
    assert_eq!(h.process(1).memory().start, fixed_b);
    // The process really starts there: a1 is its RAM start.
    assert_eq!(h.process(1).stored_state().words[R0 + 1], fixed_b);
    assert_eq!(h.process(4).state(), State::Unused);
}

#[test]
fn padding_disabled_and_corrupt_tbfs_are_skipped() {
    let tbfs = vec![
        TbfBuilder::padding(64).build(),
        TbfBuilder::app("off").flags(0).build(),
        TbfBuilder::app("bad").corrupt_checksum().build(),
        TbfBuilder::app("ok").build(),
    ];
    let at = flash_addresses(&tbfs);
    let (h, _) = load_with(4, &StopFaultPolicy, &AllowAll, &tbfs, 0x10000);
    let ev = &h.load_events;
    assert_eq!(ev.len(), 4, "{:?}", h.load_log);
    assert_eq!(
        ev[0],
        LoadEvent::Skipped {
            address: FLASH_START,
            outcome: Outcome::Padding
        }
    );
    assert!(
        matches!(ev[1], LoadEvent::Skipped { address, outcome: Outcome::Disabled(hd) }
            if address == at[1] && hd.package_name() == Some("off")),
        "{:?}",
        ev[1]
    );
    assert!(
        matches!(ev[2], LoadEvent::Skipped {
            address,
            outcome: Outcome::Invalid(TbfError::ChecksumMismatch { stored, computed }),
        } if address == at[2] && stored == computed ^ 0x0100_0000),
        "{:?}",
        ev[2]
    );
    assert_eq!(
        ev[3],
        loaded(0, "ok", at[3], &tbfs[3], (RAM_START, app_ram()))
    );
    assert_eq!(h.process(0).name(), "ok");
    assert_eq!(h.process(1).state(), State::Unused);
}

#[test]
fn no_two_processes_share_a_shortid() {
    // A second app with the same package name (the same crc32 ShortId),
    // and one claiming the first app's id in a ShortId TLV, are refused
    // with a clear line; an app with another id still loads after them.
    let first_id = crc32_posix(b"victim");
    let tbfs = vec![
        TbfBuilder::app("victim").build(),
        TbfBuilder::app("victim").build(),
        TbfBuilder::app("forger").short_id(first_id).build(),
        TbfBuilder::app("other").build(),
    ];
    let at = flash_addresses(&tbfs);
    let (h, _) = load_with(4, &StopFaultPolicy, &AllowAll, &tbfs, 0x10000);
    let ev = &h.load_events;
    assert_eq!(ev.len(), 4, "{:?}", h.load_log);
    let id = ShortId::Fixed(NonZeroU32::new(first_id).unwrap());
    for (i, name) in [(1, "victim"), (2, "forger")] {
        assert_eq!(
            ev[i],
            LoadEvent::DuplicateShortId {
                address: at[i],
                name,
                short_id: id,
                holder: 0,
            }
        );
        assert_eq!(
            ev[i].to_string(),
            format!(
                "TBF at {:#010x} ('{name}') refused: shortid {first_id:#010x} is already process 0's",
                at[i]
            )
        );
    }
    assert!(matches!(ev[0], LoadEvent::Loaded { index: 0, .. }));
    // The refused apps took no slot and no RAM: "other" is process 1.
    assert!(matches!(
        ev[3],
        LoadEvent::Loaded {
            index: 1,
            name: "other",
            ..
        }
    ));
    assert_eq!(h.kernel.process_ids().count(), 2);
}

#[test]
fn apps_for_another_kernel_or_flash_address_are_refused() {
    // The right fixed flash address is the binary start: TBF start + header
    // size + protected trailer (0x20). The TLV's size does not depend on
    // its value, so a first build tells the header size.
    let probe = TbfBuilder::app("here").fixed(0xFFFF_FFFF, 0).build();
    let mut tbfs = vec![
        TbfBuilder::new()
            .program(0x10, 0x20, 4096, 7)
            .name("nokv")
            .binary(0x80)
            .build(),
        app_for_kernel("k3", 3, 0).build(),
        app_for_kernel("k24", 2, 4).build(),
        app_for_kernel("k1", 1, 0).build(),
        TbfBuilder::app("there")
            .fixed(0xFFFF_FFFF, 0x1234_5678)
            .build(),
    ];
    let here_at = flash_addresses(&tbfs).last().unwrap() + tbfs.last().unwrap().len() as u32;
    let binary = here_at + header_size(&probe) + 0x20;
    tbfs.push(TbfBuilder::app("here").fixed(0xFFFF_FFFF, binary).build());
    let at = flash_addresses(&tbfs);
    assert_eq!(at[5], here_at);
    let (h, _) = load_with(4, &StopFaultPolicy, &AllowAll, &tbfs, 0x10000);
    let ev = &h.load_events;
    assert_eq!(ev.len(), 6, "{:?}", h.load_log);
    let refusal = |e: &LoadEvent<'static>| match *e {
        LoadEvent::Skipped {
            address,
            outcome: Outcome::Refused(_, why),
        } => Some((address, why)),
        _ => None,
    };
    let ours = KernelVersion::new(2, 3);
    assert_eq!(kernel::KERNEL_VERSION, ours);
    let incompatible = |major, minor| Refusal::IncompatibleKernel {
        required: KernelVersion::new(major, minor),
        kernel: ours,
    };
    assert_eq!(refusal(&ev[0]), Some((at[0], Refusal::NoKernelVersion)));
    assert_eq!(refusal(&ev[1]), Some((at[1], incompatible(3, 0))));
    assert_eq!(refusal(&ev[2]), Some((at[2], incompatible(2, 4))));
    // The load report says what was asked for and what this kernel is.
    assert_eq!(
        ev[1].to_string(),
        format!(
            "TBF at {:#010x} ('k3') refused: needs kernel 3.0, this is 2.3",
            at[1]
        )
    );
    assert_eq!(
        ev[2].to_string(),
        format!(
            "TBF at {:#010x} ('k24') refused: needs kernel 2.4, this is 2.3",
            at[2]
        )
    );
    assert_eq!(refusal(&ev[3]), Some((at[3], incompatible(1, 0))));
    assert_eq!(
        refusal(&ev[4]),
        Some((
            at[4],
            Refusal::WrongFlashAddress {
                fixed: 0x1234_5678,
                actual: at[4] + header_size(&tbfs[4]) + 0x20,
            }
        ))
    );
    assert_eq!(
        ev[5],
        loaded(0, "here", at[5], &tbfs[5], (RAM_START, app_ram()))
    );
    assert_eq!(h.process(0).binary_start(), binary);
}

/// The kernel is 2.3: apps requiring any 2.x up to it load (libtock-rs
/// packs 2.0 or 2.1, libtock-c 2.2, upstream master is 2.3).
#[test]
fn apps_for_kernel_2_0_to_2_3_load() {
    let tbfs: Vec<_> = (0..=3)
        .map(|minor| app_for_kernel(&format!("k2{minor}"), 2, minor).build())
        .collect();
    let (h, _) = load_with(4, &StopFaultPolicy, &AllowAll, &tbfs, 0x10000);
    let loaded = h
        .load_events
        .iter()
        .filter(|e| matches!(e, LoadEvent::Loaded { .. }))
        .count();
    assert_eq!(loaded, 4, "{:?}", h.load_log);
}

#[test]
fn more_apps_than_slots_stops_loading() {
    let tbfs = named_tbfs(&["a", "b", "c", "d"]);
    let at = flash_addresses(&tbfs);
    let (mut h, _) = Harness::with_test_driver(2, &StopFaultPolicy, &AllowAll);
    assert_eq!(h.load(&tbfs, 0x4000, 0x10000), 2);
    let need = app_ram();
    assert_eq!(
        h.load_events,
        vec![
            loaded(0, "a", at[0], &tbfs[0], (RAM_START, need)),
            loaded(1, "b", at[1], &tbfs[1], (RAM_START + need, need)),
            LoadEvent::NoSlot { address: at[2] },
        ]
    );
}

#[test]
fn an_app_without_enough_ram_is_not_loaded_but_smaller_ones_are() {
    let tiny = TbfBuilder::new()
        .program(0x10, 0x20, 0, 1)
        .name("tiny")
        .kernel_version(2, 0)
        .binary(0x80)
        .build();
    let tbfs = vec![TbfBuilder::app("big").build(), tiny];
    let at = flash_addresses(&tbfs);
    let (mut h, _) = Harness::with_test_driver(4, &StopFaultPolicy, &AllowAll);
    assert_eq!(h.load(&tbfs, 0x4000, 4000), 1);
    let overhead = Process::kernel_overhead(1);
    assert_eq!(
        h.load_events,
        vec![
            LoadEvent::NoMemory {
                address: at[0],
                name: "big",
                needed: app_ram(),
                fixed: None,
            },
            loaded(0, "tiny", at[1], &tbfs[1], (RAM_START, overhead)),
        ]
    );
}

#[test]
fn grants_can_only_be_registered_once_and_before_loading() {
    let (h, _) = Harness::with_test_driver(2, &StopFaultPolicy, &AllowAll);
    assert_eq!(
        h.kernel.create_grant::<()>(DRV, COUNTS).err(),
        Some(CreateGrantError::Duplicate)
    );
    let (h, _) = apps_into(h, &["a"]);
    assert_eq!(
        h.kernel.create_grant::<()>(DRV + 1, COUNTS).err(),
        Some(CreateGrantError::TooLate)
    );
}

#[test]
fn cortex_m_start_opens_32_bytes_for_the_initial_frame() {
    let (h, _) = Harness::with_test_driver(2, &StopFaultPolicy, &AllowAll);
    h.cpu.initial_accessible.set(32);
    let (h, n) = apps_into(h, &["m"]);
    assert_eq!(n, 1);
    let p = h.process(0);
    let m = p.memory().start;
    assert_eq!(m, RAM_START);
    // The 32 bytes come on top of what the app asked for.
    assert_eq!(p.memory().len, app_ram() + 32);
    assert_eq!(p.app_break(), m + 32);
    assert_eq!(p.stored_state().words[R0 + 3], m + 32, "a3 = initial break");
    assert_eq!(
        p.protection(),
        ProcessProtection::new(p.flash(), Range { start: m, len: 32 })
    );
    h.script(
        0,
        [
            Step::Write(m, vec![0xA5; 32]),
            Step::Read(m + 28, 4),
            Step::Write(m + 32, vec![1]),
        ],
    );
    h.run(100);
    assert_eq!(h.cpu.reads(m), vec![vec![0xA5; 4]]);
    assert_eq!(p.state(), State::Faulted);
    let fault = p.last_fault().unwrap();
    assert_eq!(
        (fault.kind, fault.address),
        (FaultKind::StoreAccess, m + 32)
    );
}

// ----- stale ids and restarts ---------------------------------------------

/// Restarts the only process (by `restart`, under `policy`) and checks that
/// its old id is dead and that grants, subscriptions and queued upcalls did
/// not survive.
fn restart_forgets_everything(
    policy: &'static dyn ProcessFaultPolicy,
    restart: Step,
    completion_code: Option<u32>,
) {
    let tbfs = [TbfBuilder::app("phoenix").build()];
    let (h, d) = load_with(2, policy, &AllowAll, &tbfs, 0x10000);
    let old = h.pid(0);
    let m = h.mem_start(0);
    let f = upcall_fn(&h, 0);
    h.script(
        0,
        [
            sys::memop(0, m + 64),
            sys::allow_rw(DRV, 0, m + 32, 8),
            sys::subscribe(DRV, 0, f, 0xA),
            sys::command(DRV, 1, 0, 10), // a real upcall, queued
            sys::command(DRV, 4, 0, 0),  // 2 commands so far
            restart,
            // --- the new run ---
            sys::command(DRV, 4, 0, 0),  // grant data starts over: 1
            sys::command(DRV, 1, 0, 20), // subscription gone: null upcall
            // The old upcall (10, 1, 7) would come first if it had survived.
            sys::yield_wait_for(DRV, 0),
            sys::command(DRV, 1, 0, 30),
            sys::yield_no_wait(0), // a null upcall: dropped, nothing runs
        ],
    );
    h.run(100);
    let p = h.process(0);
    assert_eq!(
        h.returns(0),
        vec![
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [128, 0, 0, 0],
            [129, 2, 0, 0],
            [129, 1, 0, 0],
            [128, 0, 0, 0],
            [20, 2, 7, 0],
            [128, 0, 0, 0],
        ]
    );
    assert!(h.cpu.upcalls(m).is_empty());
    assert_eq!(p.pending_tasks(), 0);
    assert_eq!(
        p.state(),
        State::Yielded,
        "blocked at the end of its script"
    );
    assert_eq!(p.restart_count(), 1);
    assert_eq!(p.completion_code(), completion_code);
    assert_eq!(p.allow_high_water_mark(), m, "reset with the memory");
    // Started twice, with the same entry registers.
    let starts: Vec<Event> = h
        .cpu
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Started { .. }))
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0], starts[1]);
    // The old id is dead everywhere; the new one is live.
    let new = h.pid(0);
    assert_ne!(new, old);
    assert_eq!(new.index(), old.index());
    assert!(h.kernel.process(old).is_none());
    assert!(h.kernel.process(new).is_some());
    assert_eq!(h.kernel.process_ids().collect::<Vec<_>>(), vec![new]);
    assert_eq!(
        d.grant.enter(old, |_, _| ()),
        Err(GrantError::NoSuchProcess)
    );
    assert_eq!(
        d.grant.enter_existing(old, |_, _| ()),
        Err(GrantError::NoSuchProcess)
    );
    let mut visited = Vec::new();
    assert_eq!(d.grant.each(|pid, data, _| visited.push((pid, *data))), 1);
    assert_eq!(visited, vec![(new, [3, 0])]);
}

#[test]
fn exit_restart_gives_a_new_id_and_forgets_grants_and_upcalls() {
    restart_forgets_everything(&StopFaultPolicy, sys::exit(1, 3), Some(3));
}

#[test]
fn fault_restart_gives_a_new_id_and_forgets_grants_and_upcalls() {
    restart_forgets_everything(
        leak(RestartWithThreshold { threshold: 1 }),
        Step::Fault(FaultKind::IllegalInstruction),
        None,
    );
}

// ----- the permissions filter ---------------------------------------------

#[test]
fn permissions_tlv_filters_commands_but_not_subscribe_or_allow() {
    const OTHER: u32 = DRV + 1;
    let limited = TbfBuilder::app("limited")
        .permissions(&[(DRV, 0, 0b1_0001), (DRV, 1, 1 << (70 - 64))])
        .build();
    let tbfs = [limited, TbfBuilder::app("free").build()];
    let (mut h, _) = Harness::with_test_driver(2, &StopFaultPolicy, &TbfPermissionsFilter);
    TestDriver::install(&h, OTHER);
    assert_eq!(h.load(&tbfs, 0x4000, 0x10000), 2, "{:?}", h.load_log);
    let nodevice = [0, 11, 0, 0];
    h.script(
        0,
        [
            sys::command(DRV, 0, 0, 0),
            sys::command(DRV, 4, 0, 0),
            sys::command(DRV, 1, 0, 0),  // not listed
            sys::command(DRV, 70, 0, 0), // listed (offset 1, bit 6): the driver answers
            sys::command(DRV, 6, 0, 0),  // bit 6 of offset 0 is clear
            sys::command(OTHER, 0, 0, 0),
            sys::command(0x1234, 0, 0, 0),
            sys::subscribe(OTHER, 0, 0, 0),
            sys::allow_rw(OTHER, 0, 0, 0),
            sys::allow_ro(OTHER, 0, 0, 0),
            sys::allow_ur(OTHER, 0, 0, 0),
            sys::command(DRV, 4, 0, 0), // filtered commands never reached it
        ],
    );
    h.script(
        1,
        [
            sys::command(DRV, 1, 0, 0),
            sys::command(DRV, 6, 0, 0),
            sys::command(OTHER, 0, 0, 0),
            sys::command(DRV, 70, 0, 0),
        ],
    );
    h.run(100);
    assert_eq!(
        h.returns(0),
        vec![
            [128, 0, 0, 0],
            [129, 2, 0, 0],
            nodevice,
            [0, 10, 0, 0],
            nodevice,
            nodevice,
            nodevice,
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [129, 4, 0, 0],
        ]
    );
    assert_eq!(
        h.returns(1),
        vec![
            [128, 0, 0, 0],
            [129, 1, 0, 0],
            [128, 0, 0, 0],
            [0, 10, 0, 0]
        ]
    );
}

// ----- storage identity ----------------------------------------------------

#[test]
fn storage_identity_comes_from_the_default_policies() {
    let tbfs = [
        TbfBuilder::app("kv").build(),
        TbfBuilder::app("sid").short_id(0x1234).build(),
        TbfBuilder::app("stor")
            .storage(5, &[5, 6, 0], &[5, 0])
            .build(),
        TbfBuilder::new()
            .program(0x10, 0x20, 4096, 7)
            .kernel_version(2, 0)
            .binary(0x80)
            .build(),
    ];
    let (h, _) = load_with(4, &StopFaultPolicy, &AllowAll, &tbfs, 0x10000);
    assert_eq!(h.load_events.len(), 4, "{:?}", h.load_log);
    let id = |n: u32| NonZeroU32::new(n).unwrap();

    let kv = h.process(0);
    assert_eq!(kv.short_id(), ShortId::Fixed(id(2_626_414_913)));
    assert_eq!(
        *kv.storage_permissions(),
        StoragePermissions::SelfOnly(id(2_626_414_913))
    );
    let p = kv.storage_permissions();
    assert_eq!(p.write_id(), Some(2_626_414_913));
    assert!(p.check_read_permission(2_626_414_913) && p.check_modify_permission(2_626_414_913));
    assert!(!p.check_read_permission(0x1234) && !p.check_modify_permission(5));

    let sid = h.process(1);
    assert_eq!(sid.short_id(), ShortId::Fixed(id(0x1234)));
    assert_eq!(
        *sid.storage_permissions(),
        StoragePermissions::SelfOnly(id(0x1234))
    );

    let stor = h.process(2);
    assert_eq!(
        stor.short_id(),
        ShortId::Fixed(id(crc32_posix(b"stor"))),
        "no ShortId TLV: crc32 of the name"
    );
    let p = stor.storage_permissions();
    assert_eq!(p.write_id(), Some(5));
    let probes = [0, 5, 6, 7, crc32_posix(b"stor")];
    assert_eq!(
        probes.map(|o| p.check_read_permission(o)),
        [false, true, true, false, false]
    );
    assert_eq!(
        probes.map(|o| p.check_modify_permission(o)),
        [false, true, false, false, false]
    );

    let anonymous = h.process(3);
    assert_eq!(anonymous.short_id(), ShortId::LocallyUnique);
    assert_eq!(*anonymous.storage_permissions(), StoragePermissions::Null);
    assert_eq!(anonymous.storage_permissions().write_id(), None);

    // The load report names each app's identity and permissions.
    let lines: Vec<String> = h.load_events.iter().map(|e| e.to_string()).collect();
    let tails = [
        "shortid 0x9c8be941 storage self-only 0x9c8be941".to_string(),
        "shortid 0x00001234 storage self-only 0x00001234".to_string(),
        format!(
            "shortid {:#010x} storage write 0x5 read [0x5 0x6 0x0] modify [0x5 0x0]",
            crc32_posix(b"stor")
        ),
        "shortid locally-unique storage none".to_string(),
    ];
    for (line, tail) in lines.iter().zip(&tails) {
        assert!(line.starts_with("process "), "{line}");
        assert!(
            line.ends_with(tail.as_str()),
            "{line} should end with {tail}"
        );
    }
    assert_eq!(2_626_414_913u32, 0x9c8b_e941);

    // Nobody reads or modifies the kernel's items (owner id 0).
    for p in h.kernel.processes() {
        let perms = p.storage_permissions();
        assert!(!perms.check_read_permission(0), "{}", p.name());
        assert!(!perms.check_modify_permission(0), "{}", p.name());
    }
}

// ----- fault policies --------------------------------------------------------

#[test]
#[should_panic(expected = "process \"crash\" faulted")]
fn panic_fault_policy_panics_the_kernel() {
    let tbfs = [TbfBuilder::app("crash").build()];
    let (h, _) = load_with(2, &PanicFaultPolicy, &AllowAll, &tbfs, 0x10000);
    h.script(0, [Step::Fault(FaultKind::IllegalInstruction)]);
    h.run(100);
}

#[test]
fn panic_dump_reports_the_fault_and_every_process() {
    let tbfs = [
        TbfBuilder::app("crash").build(),
        TbfBuilder::app("calm").build(),
    ];
    let (h, _) = load_with(2, &PanicFaultPolicy, &AllowAll, &tbfs, 0x10000);
    h.script(
        0,
        [
            sys::command(DRV, 0, 0, 0),
            Step::Fault(FaultKind::IllegalInstruction),
        ],
    );
    let entry = h.process(0).header().unwrap().entry_point(FLASH_START);
    let r = catch_unwind(AssertUnwindSafe(|| h.run(100)));
    let msg = r.expect_err("the kernel panics");
    let msg = msg.downcast_ref::<String>().expect("a formatted panic");
    assert!(msg.starts_with("process \"crash\" faulted: Fault"), "{msg}");
    let dump = h.debug.0.borrow().clone();
    let mut lines = dump.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "process \"crash\" faulted (IllegalInstruction at {:#010x}, address 0x00000000): Panic",
                entry + 4
            )
            .as_str()
        )
    );
    let crash = h.process(0);
    let calm = h.process(1);
    assert_eq!(crash.state(), State::Faulted);
    for line in [
        format!(
            "process \"crash\" ({}): Faulted",
            crash.processid().unwrap()
        ),
        format!(
            "  ram    {:#010x}..{:#010x}",
            crash.memory().start,
            crash.memory().end()
        ),
        format!("process \"calm\" ({}): Runnable", calm.processid().unwrap()),
        format!(
            "  ram    {:#010x}..{:#010x}",
            calm.memory().start,
            calm.memory().end()
        ),
        "  fault IllegalInstruction".to_string(),
    ] {
        assert!(dump.contains(&line), "{line:?} missing from\n{dump}");
    }
}

#[test]
fn stop_policy_keeps_the_process_faulted_and_others_running() {
    let (h, d) = apps(&["bad", "good"]);
    let bad = h.pid(0);
    h.script(
        0,
        [
            sys::command(DRV, 0, 0, 0),
            Step::Fault(FaultKind::IllegalInstruction),
            sys::command(DRV, 0, 0, 0),
        ],
    );
    h.script(
        1,
        [
            sys::command(DRV, 4, 0, 0),
            Step::Timeslice,
            sys::command(DRV, 4, 0, 0),
            Step::Timeslice,
            sys::command(DRV, 4, 0, 0),
        ],
    );
    h.run(100);
    let p = h.process(0);
    assert_eq!(p.state(), State::Faulted);
    assert_eq!(p.processid(), Some(bad), "kept for inspection");
    assert!(h.kernel.process(bad).is_none());
    assert_eq!(
        d.grant.enter(bad, |_, _| ()),
        Err(GrantError::NoSuchProcess)
    );
    assert_eq!(h.returns(0), vec![[128, 0, 0, 0]]);
    assert_eq!(h.cpu.remaining(h.mem_start(0)), 1, "never ran again");
    let entry = p.header().unwrap().entry_point(FLASH_START);
    assert_eq!(
        p.last_fault().map(|f| (f.kind, f.pc)),
        Some((FaultKind::IllegalInstruction, entry + 4))
    );
    assert_eq!(
        h.returns(1),
        vec![[129, 1, 0, 0], [129, 2, 0, 0], [129, 3, 0, 0]]
    );
    assert_eq!(
        *h.debug.0.borrow(),
        format!(
            "process \"bad\" faulted (IllegalInstruction at {:#010x}, address 0x00000000): Stop\n",
            entry + 4
        )
    );
}

// ----- scheduling ------------------------------------------------------------

/// `(process RAM start, r1)` of every syscall return, in order: who ran when.
fn return_order(h: &Harness) -> Vec<(u32, u32)> {
    h.cpu
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Returned {
                mem_start, regs, ..
            } => Some((mem_start, regs[1])),
            _ => None,
        })
        .collect()
}

#[test]
fn round_robin_alternates_and_counts_expired_timeslices() {
    let (h, _) = apps(&["a", "b"]);
    let round = [
        sys::command(DRV, 4, 0, 0),
        Step::Timeslice,
        sys::command(DRV, 4, 0, 0),
        Step::Timeslice,
        sys::command(DRV, 4, 0, 0),
    ];
    h.script(0, round.clone());
    h.script(1, round);
    h.run(100);
    let (a, b) = (h.mem_start(0), h.mem_start(1));
    let order = return_order(&h);
    assert_eq!(order, vec![(a, 1), (b, 1), (a, 2), (b, 2), (a, 3), (b, 3)]);
    for i in 0..2 {
        assert_eq!(h.process(i).debug_info().timeslice_expirations, 2);
        assert_eq!(
            h.process(i).debug_info().syscalls,
            4,
            "3 commands + the final yield"
        );
    }
}

#[test]
fn the_scheduler_timer_preempts_a_busy_process() {
    let (h, _) = apps(&["a", "b"]);
    // Each timeslice lasts two handled system calls.
    h.timer.slice.set(Some(2));
    let busy: Vec<Step> = (0..4).map(|_| sys::command(DRV, 4, 0, 0)).collect();
    h.script(0, busy.clone());
    h.script(1, busy);
    h.run(100);
    let (a, b) = (h.mem_start(0), h.mem_start(1));
    let order = return_order(&h);
    assert_eq!(
        order,
        vec![
            (a, 1),
            (a, 2),
            (b, 1),
            (b, 2),
            (a, 3),
            (a, 4),
            (b, 3),
            (b, 4)
        ]
    );
    for i in 0..2 {
        assert_eq!(h.process(i).debug_info().timeslice_expirations, 2);
    }
    // Two full slices and a last one ending in the final yield, each.
    assert_eq!(h.timer.starts.get(), 6);
}

/// A driver that makes kernel work: command 1 sets its deferred call,
/// command 2 raises an interrupt. The deferred call records how many
/// process switches had happened when it ran.
struct KernelWork {
    call: DeferredCall,
    chip: &'static MockChip,
    cpu: &'static MockBoundary,
    ran_after_switches: RefCell<Vec<u32>>,
}

const WORK: u32 = 0x9100;

impl SyscallDriver for KernelWork {
    fn command(&self, command: u32, _: u32, _: u32, _: ProcessId) -> CommandReturn {
        match command {
            0 => {}
            1 => self.call.set(),
            2 => self.chip.pending.set(true),
            _ => return CommandReturn::failure(kernel::ErrorCode::NOSUPPORT),
        }
        CommandReturn::success()
    }
}

impl DeferredCallClient for KernelWork {
    fn handle_deferred_call(&self) {
        self.ran_after_switches
            .borrow_mut()
            .push(self.cpu.switches.get());
    }
}

fn with_kernel_work(names: &[&str]) -> (Harness, &'static KernelWork) {
    let (h, _) = Harness::with_test_driver(4, &StopFaultPolicy, &AllowAll);
    let call = h.deferred.allocate().unwrap();
    let work = leak(KernelWork {
        call,
        chip: h.chip,
        cpu: h.cpu,
        ran_after_switches: RefCell::new(Vec::new()),
    });
    call.set_client(work);
    h.drivers.add(WORK, work);
    let (h, n) = apps_into(h, names);
    assert_eq!(n, names.len());
    (h, work)
}

#[test]
fn a_deferred_call_runs_before_the_next_process() {
    let (h, work) = with_kernel_work(&["a", "b"]);
    h.script(0, [sys::command(WORK, 1, 0, 0), sys::command(DRV, 4, 0, 0)]);
    h.script(1, [sys::command(DRV, 4, 0, 0)]);
    let platform = h.platform();
    // 1: "a" sets the deferred call and loses the CPU at once.
    h.kernel.run_once(&platform);
    assert_eq!(h.returns(0), vec![[128, 0, 0, 0]]);
    assert!(work.call.is_pending());
    assert!(work.ran_after_switches.borrow().is_empty());
    // 2: the deferred call, and nothing else.
    h.kernel.run_once(&platform);
    assert_eq!(*work.ran_after_switches.borrow(), vec![1]);
    assert_eq!(h.cpu.switches.get(), 1);
    // 3: then "b" (round robin), 4: then "a" again.
    h.kernel.run_once(&platform);
    assert_eq!(h.returns(1), vec![[129, 1, 0, 0]]);
    assert_eq!(h.returns(0).len(), 1);
    h.kernel.run_once(&platform);
    assert_eq!(h.returns(0), vec![[128, 0, 0, 0], [129, 1, 0, 0]]);
    assert_eq!(h.chip.sleeps.get(), 0);
}

/// Kernel work that schedules itself again `left` times: a long chain of
/// split-phase steps (like a KV request's flash operations).
struct Chain {
    call: DeferredCall,
    cpu: &'static MockBoundary,
    left: Cell<u32>,
    ran_after_switches: RefCell<Vec<u32>>,
}

impl DeferredCallClient for Chain {
    fn handle_deferred_call(&self) {
        self.ran_after_switches
            .borrow_mut()
            .push(self.cpu.switches.get());
        if self.left.get() > 0 {
            self.left.set(self.left.get() - 1);
            self.call.set();
        }
    }
}

#[test]
fn a_chain_of_deferred_work_cannot_starve_a_ready_process() {
    let (h, _) = Harness::with_test_driver(4, &StopFaultPolicy, &AllowAll);
    let call = h.deferred.allocate().unwrap();
    let chain = leak(Chain {
        call,
        cpu: h.cpu,
        left: Cell::new(200),
        ran_after_switches: RefCell::new(Vec::new()),
    });
    call.set_client(chain);
    let (h, n) = apps_into(h, &["spinner"]);
    assert_eq!(n, 1);
    // The spinner computes: each step is a timeslice's worth of work.
    h.script(0, (0..100).map(|_| Step::Timeslice));
    chain.call.set();
    h.run(10_000);
    let ran = chain.ran_after_switches.borrow();
    assert_eq!(ran.len(), 201);
    // At boot the ready process runs before the kernel's pending work.
    assert_eq!(ran[0], 1, "{ran:?}");
    // Between two of the spinner's timeslices, at most DEFERRED_BUDGET
    // steps of the chain ran (without the budget: all 201 before it ran).
    let mut longest = 0;
    let mut streak = 0;
    for w in ran.windows(2) {
        streak = if w[0] == w[1] { streak + 1 } else { 1 };
        longest = longest.max(streak);
    }
    assert_eq!(longest, kernel::DEFERRED_BUDGET as usize, "{ran:?}");
    assert!(ran[200] >= 200 / kernel::DEFERRED_BUDGET, "{ran:?}");
    // While the chain waited, the spinner got short slices (the board's
    // 10 ms cut by SHORT_SLICE_DIVISOR); once it was done, full ones.
    let lengths = h.timer.lengths.borrow();
    let short = 10_000 / kernel::SHORT_SLICE_DIVISOR;
    let shorts = lengths.iter().take_while(|&&l| l == short).count();
    assert!(
        shorts >= 200 / kernel::DEFERRED_BUDGET as usize,
        "{lengths:?}"
    );
    assert!(
        lengths[shorts..].iter().all(|&l| l == 10_000),
        "{lengths:?}"
    );
}

#[test]
fn a_process_let_in_between_bursts_keeps_its_short_slice() {
    let (h, _) = Harness::with_test_driver(4, &StopFaultPolicy, &AllowAll);
    let call = h.deferred.allocate().unwrap();
    let chain = leak(Chain {
        call,
        cpu: h.cpu,
        left: Cell::new(20),
        ran_after_switches: RefCell::new(Vec::new()),
    });
    call.set_client(chain);
    let (h, n) = apps_into(h, &["starter"]);
    assert_eq!(n, 1);
    // An app starting up beside the kernel's background work (a store's
    // mount): five quick system calls, then it waits.
    h.script(
        0,
        (0..5)
            .map(|_| sys::command(DRV, 4, 0, 0))
            .chain([sys::yield_wait()]),
    );
    chain.call.set();
    h.run(10_000);
    let ran = chain.ran_after_switches.borrow();
    assert_eq!(ran.len(), 21);
    // The work that was already waiting did not cut the app's slice at
    // each call: all five calls and the yield (six switches) came before
    // its first step (without the rule: one switch, then a burst).
    assert_eq!(ran[0], 6, "{ran:?}");
    assert_eq!(h.returns(0).len(), 5);
}

#[test]
fn pending_interrupts_are_serviced_before_processes_continue() {
    let (h, _) = with_kernel_work(&["a", "b"]);
    h.script(0, [sys::command(WORK, 2, 0, 0), sys::command(DRV, 4, 0, 0)]);
    h.script(1, [Step::Interrupt, sys::command(DRV, 4, 0, 0)]);
    let platform = h.platform();
    // "a" raises an interrupt: its timeslice ends right after the call.
    h.kernel.run_once(&platform);
    assert_eq!(h.returns(0), vec![[128, 0, 0, 0]]);
    assert!(h.chip.pending.get());
    assert_eq!(h.chip.serviced.get(), 0);
    // Next pass: the interrupt first, then "b", which is interrupted at once.
    h.kernel.run_once(&platform);
    assert_eq!(h.chip.serviced.get(), 1);
    assert!(!h.chip.pending.get());
    assert!(h.returns(1).is_empty());
    assert_eq!(h.process(1).state(), State::Runnable);
    h.run(100);
    assert_eq!(h.returns(0), vec![[128, 0, 0, 0], [129, 1, 0, 0]]);
    assert_eq!(h.returns(1), vec![[129, 1, 0, 0]]);
    // An interrupt pending before anything runs is serviced too.
    h.chip.pending.set(true);
    h.kernel.run_once(&platform);
    assert_eq!(h.chip.serviced.get(), 2);
}

#[test]
fn the_kernel_sleeps_only_when_nothing_is_ready() {
    let (h, d) = apps(&["a"]);
    let f = upcall_fn(&h, 0);
    h.script(0, [sys::subscribe(DRV, 0, f, 9), sys::yield_wait()]);
    h.run(100);
    let p = h.process(0);
    assert_eq!(p.state(), State::Yielded);
    assert_eq!(h.chip.sleeps.get(), 0);
    let platform = h.platform();
    h.kernel.run_once(&platform);
    h.kernel.run_once(&platform);
    assert_eq!(h.chip.sleeps.get(), 2);
    // A driver (say, from an interrupt) schedules an upcall: no sleep, the
    // process runs it.
    d.grant
        .enter(h.pid(0), |_, kd| kd.schedule_upcall(0, [1, 2, 3]))
        .unwrap()
        .unwrap();
    assert!(h.kernel.has_ready_process());
    h.kernel.run_once(&platform);
    assert_eq!(h.chip.sleeps.get(), 2);
    let ups = h.cpu.upcalls(h.mem_start(0));
    assert_eq!(ups.len(), 1);
    assert_eq!(
        (ups[0].fn_ptr, ups[0].args, ups[0].appdata),
        (f, [1, 2, 3], 9)
    );
}

// ----- yield -------------------------------------------------------------------

#[test]
fn yield_no_wait_never_writes_a_flag_outside_the_process() {
    let (h, d) = apps(&["a", "b"]);
    let (ma, mb) = (h.mem_start(0), h.mem_start(1));
    let f = upcall_fn(&h, 0);
    // Allocate "a"'s grant now: its first word is upcall 0's function, in
    // kernel-owned memory at the kernel break.
    d.grant.enter(h.pid(0), |_, _| ()).unwrap();
    let slot = h.process(0).kernel_break();
    h.script(
        0,
        [
            Step::Timeslice, // let "b" write its byte first
            sys::subscribe(DRV, 0, f, 1),
            sys::command(DRV, 1, 0, 5),
            sys::yield_no_wait(mb), // another process's RAM
            sys::command(DRV, 1, 0, 6),
            sys::yield_no_wait(slot), // the kernel's part of its own block
            sys::command(DRV, 1, 0, 7),
            sys::yield_no_wait(0xFFFF_FFFF), // would wrap
            sys::command(DRV, 1, 0, 8),
            sys::yield_no_wait(0), // no flag
            sys::command(DRV, 1, 0, 9),
            sys::yield_no_wait(0),
        ],
    );
    h.script(
        1,
        [
            sys::memop(0, mb + 16),
            Step::Write(mb, vec![0xAB]),
            Step::Timeslice,
            Step::Read(mb, 1),
        ],
    );
    h.run(100);
    assert_eq!(h.cpu.reads(mb), vec![vec![0xAB]]);
    let a = h.process(0);
    assert_eq!(a.last_fault(), None);
    assert_eq!(a.state(), State::Yielded);
    let ups = h.cpu.upcalls(ma);
    assert_eq!(
        ups.iter()
            .map(|u| (u.fn_ptr, u.args[0]))
            .collect::<Vec<_>>(),
        vec![(f, 5), (f, 6), (f, 7), (f, 8), (f, 9)],
        "one upcall per yield; the subscription was not overwritten by a flag"
    );
}

#[test]
fn yield_wait_and_no_wait_drop_null_upcalls() {
    let (h, _) = apps(&["a"]);
    let m = h.mem_start(0);
    let f = upcall_fn(&h, 0);
    h.script(
        0,
        [
            sys::memop(0, m + 16),
            Step::Write(m + 4, vec![0xEE]),
            sys::subscribe(DRV, 0, f, 1),
            sys::command(DRV, 1, 1, 50), // upcall 1 was never subscribed: null
            sys::command(DRV, 1, 0, 51),
            sys::yield_wait(), // runs 51, drops the null upcall ahead of it
            sys::command(DRV, 1, 1, 52),
            sys::yield_no_wait(m + 4), // only a null upcall: flag 0, dropped
            Step::Read(m + 4, 1),
            sys::yield_wait_for(DRV, 1), // nothing left to satisfy it
        ],
    );
    h.run(100);
    let p = h.process(0);
    let ups = h.cpu.upcalls(m);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].args, [51, 2, 7]);
    assert_eq!(h.cpu.reads(m), vec![vec![0]]);
    assert_eq!(
        p.state(),
        State::YieldedFor(UpcallId {
            driver: DRV,
            subscribe: 1
        })
    );
    assert_eq!(p.pending_tasks(), 0);
}

#[test]
fn null_upcalls_never_crowd_out_the_upcall_a_yield_wait_needs() {
    let (h, d) = apps(&["a"]);
    let m = h.mem_start(0);
    let f = upcall_fn(&h, 0);
    // Ten null upcalls (subscribe 1 was never subscribed) fill the queue
    // while the process runs: it could still wait for them.
    h.script(0, [sys::subscribe(DRV, 0, f, 1)]);
    h.script(0, (0..10).map(|i| sys::command(DRV, 1, 1, i)));
    h.script(0, [sys::yield_wait()]);
    h.run(100);
    let p = h.process(0);
    assert_eq!(h.returns(0)[10], [128, 0, 0, 0], "the tenth fits");
    assert_eq!(p.state(), State::Yielded);
    // Yield-wait dropped them; null upcalls arriving while it waits are
    // dropped too, and the real one still finds room.
    assert_eq!(p.pending_tasks(), 0);
    let pid = h.pid(0);
    for i in 0..12 {
        assert_eq!(
            d.grant.enter(pid, |_, kd| kd.schedule_upcall(1, [i, 0, 0])),
            Ok(Ok(()))
        );
    }
    assert_eq!(p.pending_tasks(), 0);
    assert_eq!(
        d.grant
            .enter(pid, |_, kd| kd.schedule_upcall(0, [77, 0, 0])),
        Ok(Ok(()))
    );
    h.run(100);
    let ups = h.cpu.upcalls(m);
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].args, [77, 0, 0]);
    assert_eq!(p.debug_info().dropped_upcalls, 0);
}

#[test]
fn yield_wait_for_returns_a_queued_real_upcall_as_values() {
    let (h, _) = apps(&["a"]);
    let m = h.mem_start(0);
    let f = upcall_fn(&h, 0);
    h.script(
        0,
        [
            sys::subscribe(DRV, 0, f, 1),
            sys::subscribe(DRV, 1, f + 4, 2),
            sys::command(DRV, 1, 1, 40),
            sys::command(DRV, 1, 0, 41),
            sys::command(DRV, 1, 0, 42),
            sys::yield_wait_for(DRV, 0), // the oldest (DRV, 0) event: 41
            sys::command(DRV, 4, 0, 0),
            // Then yield-wait (the script's end): the rest, oldest first.
        ],
    );
    h.run(100);
    let r = h.returns(0);
    assert_eq!(&r[5..], &[[41, 2, 7, 0], [129, 4, 0, 0]]);
    let ups: Vec<(u32, [u32; 3], u32)> = h
        .cpu
        .upcalls(m)
        .iter()
        .map(|u| (u.fn_ptr, u.args, u.appdata))
        .collect();
    assert_eq!(ups, vec![(f + 4, [40, 1, 7], 2), (f, [42, 3, 7], 1)]);
    assert_eq!(h.process(0).pending_tasks(), 0);
}

#[test]
fn yield_wait_for_wakes_on_an_upcall_another_process_causes() {
    let (h, _) = apps(&["waiter", "notifier"]);
    let f = upcall_fn(&h, 0);
    h.script(
        0,
        [
            sys::subscribe(DRV, 0, f, 0xAB),
            sys::yield_wait_for(DRV, 0),
            sys::command(DRV, 4, 0, 0),
        ],
    );
    h.script(1, [sys::command(DRV, 6, 0, 99)]);
    let platform = h.platform();
    h.kernel.run_once(&platform);
    let waiting = State::YieldedFor(UpcallId {
        driver: DRV,
        subscribe: 0,
    });
    assert_eq!(h.process(0).state(), waiting);
    h.kernel.run_once(&platform);
    assert_eq!(
        h.returns(1),
        vec![[129, 1, 0, 0]],
        "one other process notified"
    );
    h.run(100);
    // The function was not called: its arguments came back as values.
    assert_eq!(
        h.returns(0),
        vec![[130, 0, 0, 0], [99, 1, 6, 0], [129, 1, 0, 0]]
    );
    assert!(h.cpu.upcalls(h.mem_start(0)).is_empty());
    assert_eq!(h.process(0).pending_tasks(), 0);
}

// ----- allow and subscribe -----------------------------------------------------

#[test]
fn read_only_allow_of_flash_reaches_the_driver() {
    let tbf = TbfBuilder::app("a").build();
    let (h, _) = load_with(
        2,
        &StopFaultPolicy,
        &AllowAll,
        std::slice::from_ref(&tbf),
        0x10000,
    );
    let bin = h.process(0).binary_start();
    let off = (bin - FLASH_START) as usize;
    let sum: u32 = tbf[off..off + 16].iter().map(|&b| u32::from(b)).sum();
    assert_ne!(sum, 0);
    assert_eq!(
        run_script(
            &h,
            [
                sys::allow_ro(DRV, 0, bin, 16),
                sys::command(DRV, 2, 0, 0),
                sys::allow_ro(DRV, 0, 0, 0),
                sys::command(DRV, 2, 0, 0),
            ]
        ),
        vec![
            [130, 0, 0, 0],
            [130, sum, 16, 0],
            [130, bin, 16, 0],
            [130, 0, 0, 0]
        ]
    );
}

#[test]
fn overlapping_read_write_and_read_only_allows_share_bytes() {
    let (h, _) = apps(&["a"]);
    let m = h.mem_start(0);
    assert_eq!(
        run_script(
            &h,
            [
                sys::memop(0, m + 64),
                Step::Write(m + 16, vec![1, 2, 3, 4, 5, 6, 7, 8]),
                sys::allow_ro(DRV, 0, m + 16, 8),
                sys::allow_rw(DRV, 0, m + 12, 8), // overlaps the first half
                sys::command(DRV, 2, 0, 0),
                sys::command(DRV, 3, 0, 9),
                sys::command(DRV, 2, 0, 0),
                Step::Read(m + 12, 12),
            ]
        ),
        vec![
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            [130, 36, 8, 0],
            [129, 8, 0, 0],
            [130, 9 * 4 + 5 + 6 + 7 + 8, 8, 0],
        ]
    );
    assert_eq!(
        h.cpu.reads(m),
        vec![vec![9, 9, 9, 9, 9, 9, 9, 9, 5, 6, 7, 8]]
    );
}

#[test]
fn the_allow_high_water_mark_bounds_brk() {
    let (h, _) = apps(&["a"]);
    let p = h.process(0);
    let m = h.mem_start(0);
    let bin = p.binary_start();
    assert_eq!(p.allow_high_water_mark(), m);
    h.script(
        0,
        [
            sys::memop(0, m + 128),
            sys::allow_rw(DRV, 0, m + 40, 8),
            sys::memop(0, m + 47),
            sys::memop(0, m + 48),
            sys::memop(0, m + 128),
            sys::allow_rw(DRV, 1, m + 16, 4), // lower: the mark stays
            sys::allow_rw(DRV, 0, 0, 0),      // revoking does not lower it
            sys::memop(0, m + 47),
            sys::allow_ur(DRV, 0, m + 96, 4),
            sys::allow_ro(DRV, 1, bin, 4), // flash: not RAM, no mark
            sys::memop(0, m + 99),
            sys::memop(0, m + 100),
            sys::memop(1, (-4i32) as u32), // sbrk below the mark
        ],
    );
    h.run(100);
    let nomem = [0, 9, 0, 0];
    assert_eq!(
        h.returns(0),
        vec![
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            nomem,
            [128, 0, 0, 0],
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            [130, m + 40, 8, 0],
            nomem,
            [130, 0, 0, 0],
            [130, 0, 0, 0],
            nomem,
            [128, 0, 0, 0],
            nomem,
        ]
    );
    assert_eq!(p.allow_high_water_mark(), m + 100);
    assert_eq!(p.app_break(), m + 100);
}

#[test]
fn subscribe_accepts_ram_below_the_break_and_nothing_beyond() {
    let (h, _) = apps(&["a", "b"]);
    let p = h.process(0);
    let m = h.mem_start(0);
    let flash_end = p.flash().end();
    let other_ram = h.mem_start(1);
    assert_eq!(
        run_script(
            &h,
            [
                sys::memop(0, m + 64),
                sys::subscribe(DRV, 0, m + 60, 1),
                sys::subscribe(DRV, 0, m + 64, 2), // just beyond the break
                sys::subscribe(DRV, 1, flash_end - 1, 3),
                sys::subscribe(DRV, 1, flash_end, 4), // the next app's TBF
                sys::subscribe(DRV, 1, other_ram, 5),
                // Failures left the subscriptions alone.
                sys::subscribe(DRV, 0, 0, 0),
                sys::subscribe(DRV, 1, 0, 0),
            ]
        ),
        vec![
            [128, 0, 0, 0],
            [130, 0, 0, 0],
            [2, 6, m + 64, 2],
            [130, 0, 0, 0],
            [2, 6, flash_end, 4],
            [2, 6, other_ram, 5],
            [130, m + 60, 1, 0],
            [130, flash_end - 1, 3, 0],
        ]
    );
}

// ----- exit and inspection -----------------------------------------------------

#[test]
fn a_terminated_process_is_never_scheduled_again() {
    let (h, d) = apps(&["a", "b"]);
    let a = h.pid(0);
    h.script(
        0,
        [
            sys::command(DRV, 0, 0, 0),
            sys::exit(0, 7),
            sys::command(DRV, 0, 0, 0),
        ],
    );
    h.script(1, [Step::Timeslice, sys::command(DRV, 6, 0, 1)]);
    h.run(100);
    let p = h.process(0);
    assert_eq!(p.state(), State::Terminated);
    assert_eq!(p.completion_code(), Some(7));
    assert_eq!(h.returns(0), vec![[128, 0, 0, 0]]);
    assert_eq!(h.cpu.remaining(h.mem_start(0)), 1);
    // Its grant is gone: nobody can notify it.
    assert_eq!(h.returns(1), vec![[129, 0, 0, 0]]);
    assert_eq!(d.grant.enter(a, |_, _| ()), Err(GrantError::NoSuchProcess));
    assert!(h.kernel.process(a).is_none());
    assert_eq!(h.kernel.process_ids().collect::<Vec<_>>(), vec![h.pid(1)]);
    let switches = h.cpu.switches.get();
    let platform = h.platform();
    for _ in 0..3 {
        h.kernel.run_once(&platform);
    }
    assert_eq!(h.cpu.switches.get(), switches);
    assert_eq!(h.chip.sleeps.get(), 3);
}

#[test]
fn process_print_shows_identity_state_and_memory() {
    let (h, _) = apps(&["one"]);
    let m = h.mem_start(0);
    h.script(0, [sys::memop(0, m + 64), sys::command(DRV, 0, 0, 0)]);
    h.run(100);
    let p = h.process(0);
    assert_eq!(
        p.protection(),
        ProcessProtection::new(p.flash(), Range { start: m, len: 64 })
    );
    let mut out = String::new();
    p.print(&mut out, h.cpu).unwrap();
    let flash = p.flash();
    for line in [
        format!("process \"one\" ({}): Yielded", h.pid(0)),
        format!(
            "  flash  {:#010x}..{:#010x}  binary at {:#010x}",
            flash.start,
            flash.end(),
            p.binary_start()
        ),
        format!(
            "  ram    {:#010x}..{:#010x}  break {:#010x} (accessible to {:#010x})  grants from {:#010x}",
            m,
            p.memory().end(),
            m + 64,
            m + 64,
            p.kernel_break()
        ),
        format!(" pc {:#010x} ", p.stored_state().words[PC]),
    ] {
        assert!(out.contains(&line), "{line:?} missing from\n{out}");
    }
    assert!(out.contains("syscalls 3"), "{out}");
}
