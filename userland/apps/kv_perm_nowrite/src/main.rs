//! Storage permissions, no write. TBF storage TLV: write id 0 (may not
//! create or overwrite anything), reads and modifies 101, the owner's id
//! (elf2tab `--write_id 0 --read_ids 101 --access_ids 101`).
//!
//! Set, add and update are refused at command time with `INVAL`, whatever
//! the key (new, the owner's, or the kernel's). Delete needs no write id:
//! it deletes the owner's `perm/doomed` (the owner writes it anew on every
//! boot, first thing), after waiting (bounded) for the owner's marker
//! `perm/a-ready`. It reads the owner's item. Lines `kv_perm_nowrite: ok
//! <check>` / `... FAIL ...`, then `kv_perm_nowrite: <n> checks of <declared>, <k>
//! failed`; exit code = failures.

#![no_std]
#![no_main]

use kvtest::perm::{A_KEY, A_VALUE, DOOMED_KEY, DOOMED_VALUE, READY_KEY, WAIT_MS, WAIT_TRIES};
use kvtest::{kernel_item_checks, wait_for_key, Report, NOT_FOUND};
use tockrt::kv::{self, KvError};
use tockrt::ErrorCode;

tockrt::main!(main);

const NO_WRITE_ID: KvError = KvError::Rejected(ErrorCode::Inval);

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_perm_nowrite: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 21;
fn main() -> u32 {
    let mut r = Report::prefixed("kv_perm_nowrite");
    let mut buf = [0u8; 64];
    // Refused before anything is looked up: no need to wait for the owner.
    let new = b"perm/nowrite";
    r.kv("set a new key", kv::set(new, b"x"), Err(NO_WRITE_ID));
    r.kv("add a new key", kv::add(new, b"x"), Err(NO_WRITE_ID));
    r.kv("update a new key", kv::update(new, b"x"), Err(NO_WRITE_ID));
    r.kv("set an empty value", kv::set(new, b""), Err(NO_WRITE_ID));

    r.kv(
        "the owner's marker appears",
        wait_for_key(READY_KEY, &mut buf, WAIT_TRIES, WAIT_MS),
        Ok(5),
    );
    r.kv("get perm/a", kv::get(A_KEY, &mut buf), Ok(A_VALUE.len()));
    r.bytes("perm/a value", &buf[..A_VALUE.len()], A_VALUE);
    r.kv(
        "set perm/a",
        kv::set(A_KEY, b"nowrite was here"),
        Err(NO_WRITE_ID),
    );
    r.kv(
        "update perm/a",
        kv::update(A_KEY, b"nowrite was here"),
        Err(NO_WRITE_ID),
    );
    r.kv(
        "get perm/a afterwards",
        kv::get(A_KEY, &mut buf),
        Ok(A_VALUE.len()),
    );
    r.bytes("perm/a unchanged", &buf[..A_VALUE.len()], A_VALUE);

    r.kv(
        "get perm/doomed",
        kv::get(DOOMED_KEY, &mut buf),
        Ok(DOOMED_VALUE.len()),
    );
    r.kv(
        "delete perm/doomed (modify 101)",
        kv::delete(DOOMED_KEY),
        Ok(()),
    );
    r.kv(
        "perm/doomed gone",
        kv::get(DOOMED_KEY, &mut buf),
        Err(NOT_FOUND),
    );
    r.kv(
        "delete perm/doomed again",
        kv::delete(DOOMED_KEY),
        Err(NOT_FOUND),
    );
    r.kv(
        "a new key was not created",
        kv::get(new, &mut buf),
        Err(NOT_FOUND),
    );

    kernel_item_checks(&mut r, false);
    r.kv("gc needs a write id", kv::gc(), Err(NO_WRITE_ID));
    r.finish(CHECKS)
}
