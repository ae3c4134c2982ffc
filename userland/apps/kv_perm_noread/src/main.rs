//! Storage permissions, no read. TBF storage TLV: write id 103, reads 104
//! only, modifies 103 (elf2tab `--write_id 103 --read_ids 104
//! --access_ids 103`). It may not read the owner's items (101), and not
//! even its own: the TLV does not list 103 for reading, and a write id is
//! not implicitly readable.
//!
//! It cannot tell a missing item from an unreadable one (both answer
//! `NOSUPPORT`, by design), so it first waits (bounded) for
//! `perm/nomodify-saw-a`, which `kv_perm_nomodify` (id 104, readable here)
//! writes after it has read the owner's `perm/a`: from then on `perm/a`
//! exists, and a `NOSUPPORT` for it means "not readable". Then: get of the
//! owner's items, and update, delete and set of `perm/a`, answer
//! `NOSUPPORT`; its own item it may create, overwrite and delete but not
//! read. The kernel's item is out of reach. Lines `kv_perm_noread: ok
//! <check>` / `... FAIL ...`, then `kv_perm_noread: <n> checks of <declared>, <k>
//! failed`; exit code = failures.

#![no_std]
#![no_main]

use kvtest::perm::{A_KEY, A_MAX_KEY, NOMODIFY_SAW_A, WAIT_MS, WAIT_TRIES};
use kvtest::{kernel_item_checks, wait_for_key, Report, NOT_FOUND};
use tockrt::kv;

tockrt::main!(main);

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_perm_noread: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 17;
fn main() -> u32 {
    let mut r = Report::prefixed("kv_perm_noread");
    let mut buf = [0u8; 64];
    r.kv(
        "kv_perm_nomodify's marker appears",
        wait_for_key(NOMODIFY_SAW_A, &mut buf, WAIT_TRIES, WAIT_MS),
        Ok(3),
    );

    r.kv("get perm/a", kv::get(A_KEY, &mut buf), Err(NOT_FOUND));
    r.kv("length of perm/a", kv::value_len(A_KEY), Err(NOT_FOUND));
    r.kv(
        "get perm/a-max",
        kv::get(A_MAX_KEY, &mut buf),
        Err(NOT_FOUND),
    );
    r.kv(
        "update perm/a",
        kv::update(A_KEY, b"noread was here"),
        Err(NOT_FOUND),
    );
    r.kv(
        "set perm/a",
        kv::set(A_KEY, b"noread was here"),
        Err(NOT_FOUND),
    );
    r.kv("delete perm/a", kv::delete(A_KEY), Err(NOT_FOUND));

    let own = b"perm/noread";
    r.kv("set own item", kv::set(own, b"103's"), Ok(()));
    r.kv(
        "get own item (not readable)",
        kv::get(own, &mut buf),
        Err(NOT_FOUND),
    );
    r.kv(
        "add own item (exists)",
        kv::add(own, b"again"),
        Err(NOT_FOUND),
    );
    r.kv(
        "update own item",
        kv::update(own, b"103's, updated"),
        Ok(()),
    );
    r.kv("delete own item", kv::delete(own), Ok(()));
    r.kv("delete own item again", kv::delete(own), Err(NOT_FOUND));

    kernel_item_checks(&mut r, true);
    r.finish(CHECKS)
}
