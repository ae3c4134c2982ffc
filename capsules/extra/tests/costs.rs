//! Flash operations of one key-value set and get of a 32-byte value,
//! through the whole stack as the QEMU board wires it (16 regions of
//! 256 KiB, program unit 4, 512-byte scratch, 256-entry index), counted on
//! the simulated flash. The counts are deterministic; the bounds below are
//! the budget the stack must stay within (doc/qemu.md reports the numbers).

mod kv_fakes;

use capsules_extra::kv_driver::{App, ALLOW_COUNTS, DRIVER_NUM};
use capsules_extra::kv_permissions::HEADER_SIZE;
use capsules_extra::tickv::Config;
use components::kv_stack::{KVStack, KVStackBuffers, KVStackMemory};
use flashsim::SimFlash;
use kernel::hil::kv::KVPermissions;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::storage_permissions::StoragePermissions;
use kernel_mock::flash::{MockFlash, MockStats};
use kernel_mock::Harness;
use kv_fakes::{kernel_set, leak, out, settle, sub, Done, Recorder};
use tickv::IndexEntry;

const V: usize = 503;

fn counts(s: MockStats) -> (u64, u64, u64) {
    (s.reads, s.programs, s.erases)
}

#[test]
fn one_set_and_one_get_of_32_bytes() {
    let h = Harness::new(1, &StopFaultPolicy, &AllowAll);
    let grant = h
        .kernel
        .create_grant::<App>(DRIVER_NUM, ALLOW_COUNTS)
        .unwrap();
    let flash = MockFlash::new(
        SimFlash::new(flashsim::Geometry {
            region_size: 256 * 1024,
            region_count: 16,
            program_unit: 4,
            erase_value: 0xFF,
        }),
        h.deferred,
    );
    let stack = KVStack::build(
        Box::leak(Box::new(KVStackMemory::<V>::new())),
        flash,
        h.deferred,
        grant,
        KVStackBuffers {
            scratch: kv_fakes::buffer(512),
            index: Box::leak(vec![IndexEntry::default(); 256].into_boxed_slice()),
            driver_value: kv_fakes::buffer(HEADER_SIZE + V),
        },
        Config {
            region_count: None,
            format_if_blank: true,
        },
    )
    .unwrap();
    let rec = leak(Recorder::new("kernel", None));
    let user = stack.add_kernel_user(Box::leak(Box::new(None)), rec);
    stack.mount().unwrap();
    settle(h.deferred);

    let value = [0x5A; 32];
    // The first set creates the key; the measured one overwrites it (the
    // steady state of an app updating its data).
    kernel_set(h.deferred, user, rec, b"bench-key", &value);

    flash.clear_log();
    kernel_set(h.deferred, user, rec, b"bench-key", &value);
    let set = counts(flash.stats());
    println!("set: {:?}", flash.log());

    flash.clear_log();
    assert!(user
        .get(sub(b"bench-key"), out(32), StoragePermissions::KERNEL)
        .is_ok());
    settle(h.deferred);
    let get = counts(flash.stats());
    println!("get: {:?}", flash.log());
    match rec.take().as_slice() {
        [Done::Get(Ok(()), _, v, 32)] => assert_eq!(v, &value),
        other => panic!("unexpected {other:?}"),
    }

    println!(
        "one set of 32 bytes (overwrite): {} reads, {} programs, {} erases",
        set.0, set.1, set.2
    );
    println!(
        "one get of 32 bytes: {} reads, {} programs, {} erases",
        get.0, get.1, get.2
    );
    // A get reads one record, found through the index, in one read: the
    // engine knows its length (it wrote it last), so its header and value
    // come together (no search).
    assert_eq!(get, (1, 0, 0), "get {get:?}");
    // A set first reads the stored record for its owner header (header and
    // value in one read, as for the get: the CRC covers both); the engine
    // knows the size of the record it replaces from that read, so it reads
    // nothing more; and one record is appended: its first 16 bytes, then
    // the rest.
    assert!(set.0 <= 1, "set reads {set:?}");
    assert!(set.1 <= 2, "set programs {set:?}");
    assert_eq!(set.2, 0, "a set in a store with room erases nothing");
}
