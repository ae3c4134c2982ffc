//! Storage permissions, the owner. TBF storage TLV: write id 101, reads
//! and modifies 101 (elf2tab `--write_id 101 --read_ids 101 --access_ids
//! 101`; its own write id is listed explicitly, as the TLV semantics
//! require).
//!
//! It stores, first thing and without waiting for anyone, the items the
//! other `kv_perm_*` apps of the `kv_perms` image read or must fail to
//! change (`perm/doomed`, `perm/a`, `perm/a-max`), then the marker
//! `perm/a-ready` they wait for; then it checks its own rights and that
//! the kernel's item is out of reach. Lines `kv_perm_owner: ok <check>` /
//! `kv_perm_owner: FAIL <check>: ...`, then `kv_perm_owner: <n> checks of <declared>, <k>
//! failed`; exit code = failures.

#![no_std]
#![no_main]

use kvtest::perm::{self, A_KEY, A_MAX_KEY, A_VALUE, DOOMED_KEY, DOOMED_VALUE, READY_KEY};
use kvtest::{kernel_item_checks, Report, NOT_FOUND};
use tockrt::kv::{self, VALUE_MAX};

tockrt::main!(main);

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_perm_owner: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 21;
fn main() -> u32 {
    let mut r = Report::prefixed("kv_perm_owner");
    // The shared items first: the others start waiting for them at once.
    r.kv("set perm/doomed", kv::set(DOOMED_KEY, DOOMED_VALUE), Ok(()));
    r.kv("set perm/a", kv::set(A_KEY, A_VALUE), Ok(()));
    let max = perm::a_max_value();
    r.kv(
        "set perm/a-max (503 bytes)",
        kv::set(A_MAX_KEY, &max),
        Ok(()),
    );
    r.kv("set perm/a-ready", kv::set(READY_KEY, b"ready"), Ok(()));

    // Its own rights on its own items.
    let mut buf = [0u8; VALUE_MAX];
    r.kv("get perm/a", kv::get(A_KEY, &mut buf), Ok(A_VALUE.len()));
    r.bytes("perm/a value", &buf[..A_VALUE.len()], A_VALUE);
    r.kv(
        "get perm/a-max",
        kv::get(A_MAX_KEY, &mut buf),
        Ok(VALUE_MAX),
    );
    r.bytes("perm/a-max value", &buf, &max);
    r.kv("add perm/a (exists)", kv::add(A_KEY, b"no"), Err(NOT_FOUND));
    r.kv(
        "update perm/a (same value)",
        kv::update(A_KEY, A_VALUE),
        Ok(()),
    );

    let tmp = b"perm/a-tmp";
    let _ = kv::delete(tmp); // left over if an earlier boot was cut short
    r.kv("add perm/a-tmp", kv::add(tmp, b"one"), Ok(()));
    r.kv("update perm/a-tmp", kv::update(tmp, b"two"), Ok(()));
    r.kv("get perm/a-tmp", kv::get(tmp, &mut buf), Ok(3));
    r.bytes("perm/a-tmp value", &buf[..3], b"two");
    r.kv("delete perm/a-tmp", kv::delete(tmp), Ok(()));
    r.kv("delete perm/a-tmp again", kv::delete(tmp), Err(NOT_FOUND));

    kernel_item_checks(&mut r, true);
    r.kv("gc", kv::gc(), Ok(()));
    r.finish(CHECKS)
}
