//! Storage permissions, read but no modify. TBF storage TLV: write id 104,
//! reads 101 (the owner) and 104, modifies 104 only (elf2tab `--write_id
//! 104 --read_ids 101 104 --access_ids 104`).
//!
//! Waits (bounded) for the owner's marker `perm/a-ready`, reads the
//! owner's item, and fails to change it: set, add, update and delete all
//! answer `NOSUPPORT` (it has a write id, so nothing is refused at command
//! time; the owner check fails), and the item is unchanged. Its own items
//! it may create, read, overwrite and delete. Then it writes the marker
//! `perm/nomodify-saw-a` (owned by 104) that `kv_perm_noread` waits for.
//! The kernel's item is out of reach. Lines `kv_perm_nomodify: ok <check>`
//! / `... FAIL ...`, then `kv_perm_nomodify: <n> checks of <declared>, <k> failed`; exit
//! code = failures.

#![no_std]
#![no_main]

use kvtest::perm::{A_KEY, A_VALUE, NOMODIFY_SAW_A, READY_KEY, WAIT_MS, WAIT_TRIES};
use kvtest::{kernel_item_checks, wait_for_key, Report, NOT_FOUND};
use tockrt::kv;

tockrt::main!(main);

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_perm_nomodify: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 21;
fn main() -> u32 {
    let mut r = Report::prefixed("kv_perm_nomodify");
    let mut buf = [0u8; 64];
    r.kv(
        "the owner's marker appears",
        wait_for_key(READY_KEY, &mut buf, WAIT_TRIES, WAIT_MS),
        Ok(5),
    );
    r.kv("get perm/a", kv::get(A_KEY, &mut buf), Ok(A_VALUE.len()));
    r.bytes("perm/a value", &buf[..A_VALUE.len()], A_VALUE);

    r.kv(
        "set perm/a",
        kv::set(A_KEY, b"nomodify was here"),
        Err(NOT_FOUND),
    );
    r.kv(
        "update perm/a",
        kv::update(A_KEY, b"nomodify was here"),
        Err(NOT_FOUND),
    );
    r.kv(
        "add perm/a (exists)",
        kv::add(A_KEY, b"nomodify was here"),
        Err(NOT_FOUND),
    );
    r.kv("delete perm/a", kv::delete(A_KEY), Err(NOT_FOUND));
    r.kv(
        "get perm/a afterwards",
        kv::get(A_KEY, &mut buf),
        Ok(A_VALUE.len()),
    );
    r.bytes("perm/a unchanged", &buf[..A_VALUE.len()], A_VALUE);

    let own = b"perm/nomodify";
    r.kv("set own item", kv::set(own, b"104's"), Ok(()));
    r.kv("get own item", kv::get(own, &mut buf), Ok(5));
    r.bytes("own item value", &buf[..5], b"104's");
    r.kv(
        "update own item",
        kv::update(own, b"104's, updated"),
        Ok(()),
    );
    r.kv("get own item after update", kv::get(own, &mut buf), Ok(14));
    r.kv("delete own item", kv::delete(own), Ok(()));
    r.kv("own item gone", kv::get(own, &mut buf), Err(NOT_FOUND));

    r.kv(
        "set perm/nomodify-saw-a (for kv_perm_noread)",
        kv::set(NOMODIFY_SAW_A, b"yes"),
        Ok(()),
    );
    kernel_item_checks(&mut r, true);
    r.finish(CHECKS)
}
