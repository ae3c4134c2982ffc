//! Storage permissions, a pure reader. TBF storage TLV: no write id (0),
//! reads 101 (the owner's id), modifies nothing (elf2tab `--write_id 0
//! --read_ids 101`).
//!
//! Waits (bounded) for the owner's marker `perm/a-ready`, then reads the
//! owner's items in full, in part and by length, and fails to change
//! them: set/add/update are refused at command time (`INVAL`: no write
//! id), delete answers `NOSUPPORT` (no modify permission); the items are
//! unchanged afterwards. The kernel's item is out of reach. Lines
//! `kv_perm_reader: ok <check>` / `... FAIL ...`, then `kv_perm_reader: <n>
//! checks of <declared>, <k> failed`; exit code = failures.

#![no_std]
#![no_main]

use kvtest::perm::{self, A_KEY, A_MAX_KEY, A_VALUE, READY_KEY, WAIT_MS, WAIT_TRIES};
use kvtest::{kernel_item_checks, wait_for_key, Report, NOT_FOUND};
use tockrt::kv::{self, KvError, VALUE_MAX};
use tockrt::ErrorCode;

tockrt::main!(main);

const NO_WRITE_ID: KvError = KvError::Rejected(ErrorCode::Inval);

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_perm_reader: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 22;
fn main() -> u32 {
    let mut r = Report::prefixed("kv_perm_reader");
    let mut buf = [0u8; VALUE_MAX];
    r.kv(
        "the owner's marker appears",
        wait_for_key(READY_KEY, &mut buf, WAIT_TRIES, WAIT_MS),
        Ok(5),
    );

    r.kv("get perm/a", kv::get(A_KEY, &mut buf), Ok(A_VALUE.len()));
    r.bytes("perm/a value", &buf[..A_VALUE.len()], A_VALUE);
    let max = perm::a_max_value();
    r.kv(
        "get perm/a-max (503 bytes)",
        kv::get(A_MAX_KEY, &mut buf),
        Ok(VALUE_MAX),
    );
    r.bytes("perm/a-max value", &buf, &max);
    let mut short = [0u8; 5];
    r.kv(
        "get perm/a into 5 bytes",
        kv::get(A_KEY, &mut short),
        Err(KvError::Size {
            full_len: A_VALUE.len(),
        }),
    );
    r.bytes("perm/a prefix", &short, &A_VALUE[..5]);
    r.kv(
        "length of perm/a-max",
        kv::value_len(A_MAX_KEY),
        Ok(VALUE_MAX),
    );

    r.kv(
        "set perm/a",
        kv::set(A_KEY, b"reader was here"),
        Err(NO_WRITE_ID),
    );
    r.kv(
        "add perm/a",
        kv::add(A_KEY, b"reader was here"),
        Err(NO_WRITE_ID),
    );
    r.kv(
        "update perm/a",
        kv::update(A_KEY, b"reader was here"),
        Err(NO_WRITE_ID),
    );
    r.kv(
        "set a new key",
        kv::set(b"perm/reader", b"mine"),
        Err(NO_WRITE_ID),
    );
    r.kv("delete perm/a", kv::delete(A_KEY), Err(NOT_FOUND));
    r.kv("delete perm/a-max", kv::delete(A_MAX_KEY), Err(NOT_FOUND));
    r.kv(
        "get perm/a afterwards",
        kv::get(A_KEY, &mut buf),
        Ok(A_VALUE.len()),
    );
    r.bytes("perm/a unchanged", &buf[..A_VALUE.len()], A_VALUE);
    r.kv(
        "a new key was not created",
        kv::get(b"perm/reader", &mut buf),
        Err(NOT_FOUND),
    );

    kernel_item_checks(&mut r, false);
    r.kv("gc needs a write id", kv::gc(), Err(NO_WRITE_ID));
    r.finish(CHECKS)
}
