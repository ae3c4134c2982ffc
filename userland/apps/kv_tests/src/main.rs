//! Checks the key-value driver (`0x50003`) command by command against its
//! reference (`doc/syscalls/50003_key_value.md`): at least the cases of
//! upstream's C KV unit tests, plus the limits, the error kinds (refused
//! at command time or reported by the upcall), and a fill of the store
//! across regions with overwrites and a garbage collection.
//!
//! One line per check, `ok <check>` or `FAIL <check>: got ..., want ...`,
//! then `kv_tests: <n> checks of <declared>, <k> failed`; the exit code is the number of
//! failures. The app has no storage TLV: it runs with self-only
//! permissions under its ShortId (CRC-32 of `kv_tests`). Its keys start
//! with `kvt/`; it deletes what it created, so it can run again on the
//! same store.

#![no_std]
#![no_main]

use kvtest::many::Fill;
use kvtest::{fill, Report, NOT_FOUND};
use tockrt::kv::{self, KvError, KEY_MAX, VALUE_MAX};
use tockrt::{alarm, ErrorCode};

tockrt::main!(main);

/// Refused at command time with `SIZE`.
const REJECT_SIZE: KvError = KvError::Rejected(ErrorCode::Size);
/// Refused at command time with `INVAL`.
const REJECT_INVAL: KvError = KvError::Rejected(ErrorCode::Inval);

/// The key most checks use.
const KEY: &[u8] = b"kvt/key";

/// A value far over the limit, in flash (a read-only allow may point there).
static HUGE: [u8; 3000] = [0x5a; 3000];

/// The fill: 64 keys `kvt/many/NNN` of 200 to 503 bytes, written twice
/// (about 40 KB; the first values become garbage). What fits in about
/// 10 s on QEMU; `kv_stress` writes more than 1 MiB.
const FILL: Fill = Fill {
    prefix: *b"kvt/",
    keys: 64,
    passes: 2,
};

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_tests: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 97;
fn main() -> u32 {
    let mut r = Report::new("kv_tests");
    let start = alarm::now().unwrap_or(0);

    r.that("exists", kv::exists(), "false", "true");
    set_get(&mut r);
    short_buffer(&mut r);
    key_limits(&mut r);
    value_limits(&mut r);
    missing_keys(&mut r);
    add(&mut r);
    update(&mut r);
    delete(&mut r);
    add_update_set(&mut r);
    empty_values(&mut r);
    max_values(&mut r);
    gc(&mut r);
    kvtest::many::run(&mut r, &FILL);

    if let (Ok(now), Ok(hz)) = (alarm::now(), alarm::frequency()) {
        let ms = u64::from(now.wrapping_sub(start)) * 1000 / u64::from(hz);
        r.say(format_args!("kv_tests: took {ms} ms"));
    }
    r.finish(CHECKS)
}

/// `len` bytes `0, 1, 2, ...` (wrapping) plus `add`.
fn counting(buf: &mut [u8], add: u8) -> &[u8] {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(add);
    }
    buf
}

fn set_get(r: &mut Report) {
    let mut v = [0u8; 45];
    let value = counting(&mut v, 0);
    r.kv("set/get: set 45 bytes", kv::set(KEY, value), Ok(()));
    let mut buf = [0u8; VALUE_MAX];
    r.kv("set/get: get", kv::get(KEY, &mut buf), Ok(45));
    r.bytes("set/get: value", &buf[..45], value);
    r.kv("set/get: length query", kv::value_len(KEY), Ok(45));
}

fn short_buffer(r: &mut Report) {
    let mut v = [0u8; 10];
    let value = counting(&mut v, 0);
    r.kv("short buffer: set 10 bytes", kv::set(KEY, value), Ok(()));
    let mut buf = [0xeeu8; 8];
    r.kv(
        "short buffer: get into 2 bytes",
        kv::get(KEY, &mut buf[..2]),
        Err(KvError::Size { full_len: 10 }),
    );
    r.bytes(
        "short buffer: prefix copied",
        &buf,
        b"\x00\x01\xee\xee\xee\xee\xee\xee",
    );
    r.kv(
        "short buffer: get into 0 bytes",
        kv::get(KEY, &mut []),
        Err(KvError::Size { full_len: 10 }),
    );
    let mut exact = [0u8; 10];
    r.kv(
        "short buffer: get into 10 bytes",
        kv::get(KEY, &mut exact),
        Ok(10),
    );
    r.bytes("short buffer: exact value", &exact, value);
    let mut big = [0xeeu8; 20];
    r.kv(
        "short buffer: get into 20 bytes",
        kv::get(KEY, &mut big),
        Ok(10),
    );
    r.bytes(
        "short buffer: bytes after the value untouched",
        &big[10..],
        &[0xee; 10],
    );
}

fn key_limits(r: &mut Report) {
    let mut long = [b'k'; 200];
    long[..4].copy_from_slice(b"kvt/");
    let k65 = &long[..KEY_MAX + 1];
    let mut buf = [0u8; 16];
    r.kv(
        "key of 65 bytes: get",
        kv::get(k65, &mut buf),
        Err(REJECT_SIZE),
    );
    r.kv("key of 65 bytes: set", kv::set(k65, b"V"), Err(REJECT_SIZE));
    r.kv("key of 65 bytes: add", kv::add(k65, b"V"), Err(REJECT_SIZE));
    r.kv(
        "key of 65 bytes: update",
        kv::update(k65, b"V"),
        Err(REJECT_SIZE),
    );
    r.kv("key of 65 bytes: delete", kv::delete(k65), Err(REJECT_SIZE));
    r.kv(
        "key of 200 bytes: get",
        kv::get(&long, &mut buf),
        Err(REJECT_SIZE),
    );
    r.kv(
        "key of 200 bytes: set",
        kv::set(&long, b"V"),
        Err(REJECT_SIZE),
    );

    let k64 = &long[..KEY_MAX];
    r.kv("key of 64 bytes: set", kv::set(k64, b"sixty-four"), Ok(()));
    r.kv("key of 64 bytes: get", kv::get(k64, &mut buf), Ok(10));
    r.bytes("key of 64 bytes: value", &buf[..10], b"sixty-four");
    r.kv("key of 64 bytes: delete", kv::delete(k64), Ok(()));

    r.kv("empty key: get", kv::get(b"", &mut buf), Err(REJECT_INVAL));
    r.kv("empty key: set", kv::set(b"", b"V"), Err(REJECT_INVAL));
    r.kv("empty key: delete", kv::delete(b""), Err(REJECT_INVAL));
}

fn value_limits(r: &mut Report) {
    let key = b"kvt/too-long";
    let v504 = &HUGE[..VALUE_MAX + 1];
    r.kv(
        "value of 504 bytes: set",
        kv::set(key, v504),
        Err(REJECT_SIZE),
    );
    r.kv(
        "value of 504 bytes: add",
        kv::add(key, v504),
        Err(REJECT_SIZE),
    );
    r.kv(
        "value of 504 bytes: update",
        kv::update(key, v504),
        Err(REJECT_SIZE),
    );
    r.kv(
        "value of 3000 bytes: set",
        kv::set(key, &HUGE),
        Err(REJECT_SIZE),
    );
    let mut buf = [0u8; 4];
    r.kv(
        "value too long: nothing stored",
        kv::get(key, &mut buf),
        Err(NOT_FOUND),
    );
}

fn missing_keys(r: &mut Report) {
    let mut buf = [0u8; 64];
    for key in [
        &b"kvt/missing/UOR_knaOI#@GUab"[..],
        b"kvt/missing/HKANfdlksiqiov",
    ] {
        r.kv("missing key: get", kv::get(key, &mut buf), Err(NOT_FOUND));
        r.kv(
            "missing key: length query",
            kv::value_len(key),
            Err(NOT_FOUND),
        );
        r.kv("missing key: update", kv::update(key, b"x"), Err(NOT_FOUND));
        r.kv("missing key: delete", kv::delete(key), Err(NOT_FOUND));
    }
    r.kv(
        "missing key: update created nothing",
        kv::get(b"kvt/missing/UOR_knaOI#@GUab", &mut buf),
        Err(NOT_FOUND),
    );
}

fn add(r: &mut Report) {
    let _ = kv::delete(KEY);
    let mut v = [0u8; 10];
    let value = counting(&mut v, 0);
    r.kv("add: new key", kv::add(KEY, value), Ok(()));
    let mut buf = [0u8; 32];
    r.kv("add: get", kv::get(KEY, &mut buf), Ok(10));
    r.bytes("add: value", &buf[..10], value);
    r.kv("add: existing key", kv::add(KEY, b"other"), Err(NOT_FOUND));
    r.kv(
        "add: existing key unchanged",
        kv::get(KEY, &mut buf),
        Ok(10),
    );
    r.bytes("add: existing value unchanged", &buf[..10], value);
}

fn update(r: &mut Report) {
    let mut v = [0u8; 10];
    r.kv("update: set", kv::set(KEY, counting(&mut v, 0)), Ok(()));
    let mut w = [0u8; 10];
    for (i, b) in w.iter_mut().enumerate() {
        *b = 10 - i as u8;
    }
    r.kv("update: existing key", kv::update(KEY, &w), Ok(()));
    let mut buf = [0u8; 100];
    r.kv("update: get", kv::get(KEY, &mut buf), Ok(10));
    r.bytes("update: new value", &buf[..10], &w);

    r.kv("update: delete first", kv::delete(KEY), Ok(()));
    r.kv("update: missing key", kv::update(KEY, &w), Err(NOT_FOUND));
    r.kv(
        "update: missing key stays missing",
        kv::get(KEY, &mut buf),
        Err(NOT_FOUND),
    );
}

fn delete(r: &mut Report) {
    let mut v = [0u8; 10];
    r.kv("delete: set", kv::set(KEY, counting(&mut v, 0)), Ok(()));
    r.kv("delete: existing key", kv::delete(KEY), Ok(()));
    let mut buf = [0u8; 100];
    r.kv(
        "delete: get after delete",
        kv::get(KEY, &mut buf),
        Err(NOT_FOUND),
    );
    r.kv("delete: twice", kv::delete(KEY), Err(NOT_FOUND));
    r.kv("delete: add after delete", kv::add(KEY, b"again"), Ok(()));
    r.kv("delete: get after re-add", kv::get(KEY, &mut buf), Ok(5));
    r.bytes("delete: re-added value", &buf[..5], b"again");
}

fn add_update_set(r: &mut Report) {
    let _ = kv::delete(KEY);
    let mut v = [0u8; 30];
    r.kv(
        "add/update/set: add 30 bytes",
        kv::add(KEY, counting(&mut v, 0)),
        Ok(()),
    );
    let mut w = [0u8; 15];
    r.kv(
        "add/update/set: update 15 bytes",
        kv::update(KEY, counting(&mut w, 10)),
        Ok(()),
    );
    r.kv("add/update/set: set 2 bytes", kv::set(KEY, b"HI"), Ok(()));
    let mut buf = [0u8; 100];
    r.kv("add/update/set: get", kv::get(KEY, &mut buf), Ok(2));
    r.bytes("add/update/set: value", &buf[..2], b"HI");
}

fn empty_values(r: &mut Report) {
    let mut buf = [0xeeu8; 8];
    r.kv("empty value: set", kv::set(KEY, b""), Ok(()));
    r.kv("empty value: get", kv::get(KEY, &mut buf), Ok(0));
    r.bytes("empty value: buffer untouched", &buf, &[0xee; 8]);
    r.kv(
        "empty value: get into 0 bytes",
        kv::get(KEY, &mut []),
        Ok(0),
    );
    r.kv("empty value: length query", kv::value_len(KEY), Ok(0));
    r.kv(
        "empty value: update to 3 bytes",
        kv::update(KEY, b"abc"),
        Ok(()),
    );
    r.kv(
        "empty value: update back to empty",
        kv::update(KEY, b""),
        Ok(()),
    );
    r.kv(
        "empty value: get after update",
        kv::get(KEY, &mut buf),
        Ok(0),
    );
    r.kv("empty value: delete", kv::delete(KEY), Ok(()));
    r.kv("empty value: add", kv::add(KEY, b""), Ok(()));
    r.kv("empty value: get after add", kv::get(KEY, &mut buf), Ok(0));
    r.kv("empty value: delete again", kv::delete(KEY), Ok(()));
}

fn max_values(r: &mut Report) {
    let key = b"kvt/max";
    let mut v = [0u8; VALUE_MAX];
    fill(&mut v, 503);
    r.kv("503-byte value: set", kv::set(key, &v), Ok(()));
    let mut buf = [0u8; VALUE_MAX + 16];
    r.kv("503-byte value: get", kv::get(key, &mut buf), Ok(VALUE_MAX));
    r.bytes("503-byte value: value", &buf[..VALUE_MAX], &v);
    r.kv(
        "503-byte value: get into 502 bytes",
        kv::get(key, &mut buf[..VALUE_MAX - 1]),
        Err(KvError::Size {
            full_len: VALUE_MAX,
        }),
    );
    let mut w = [0u8; VALUE_MAX];
    fill(&mut w, 504);
    r.kv("503-byte value: update", kv::update(key, &w), Ok(()));
    r.kv(
        "503-byte value: get after update",
        kv::get(key, &mut buf),
        Ok(VALUE_MAX),
    );
    r.bytes("503-byte value: updated value", &buf[..VALUE_MAX], &w);
    r.kv("503-byte value: delete", kv::delete(key), Ok(()));
    let _ = kv::delete(KEY);
}

fn gc(r: &mut Report) {
    r.kv("gc: on a quiet store", kv::gc(), Ok(()));
}
