//! The key-value demo (what `make run` shows): counts its own boots in the
//! store, keeps a greeting from its first boot and a message from its
//! previous boot, and shows a temporary key come and go. Boot it twice on
//! the same store and the second boot prints what the first stored:
//!
//! ```text
//! kv_demo: boot 2
//! kv_demo: greeting = "hello from boot 1"
//! kv_demo: last message = "written by boot 1", now "written by boot 2"
//! kv_demo: temp key: add ok, update ok, get "second", delete ok, get -> NOSUPPORT
//! kv_demo: done
//! ```
//!
//! On the first boot the greeting line ends with ` (stored now)` and the
//! last message is `(none)`. Exit code 0, or the error's number after a
//! `kv_demo: error ...` line.
//!
//! The app has no storage TLV, so the board gives it self-only
//! permissions under its ShortId (the CRC-32 of `kv_demo`): its keys are
//! its own and no other app sees them.

#![no_std]
#![no_main]

use tockrt::kv::{self, KvError};
use tockrt::println;

tockrt::main!(main);

/// The boot count: a u32, little-endian.
const BOOTS: &[u8] = b"boot count";
/// Written on the first boot only (add).
const GREETING: &[u8] = b"greeting";
/// Overwritten on every boot.
const LAST: &[u8] = b"last message";
/// Added, updated and deleted on every boot.
const TEMP: &[u8] = b"temp";

/// Prints `kv_demo: error <what>: <error>` and passes the error on.
fn step<T>(what: &str, r: Result<T, KvError>) -> Result<T, KvError> {
    if let Err(e) = &r {
        println!("kv_demo: error {what}: {e}");
    }
    r
}

/// Text of a value (its bytes are ours, always ASCII).
fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("<not UTF-8>")
}

/// Formats `prefix` then `n` in decimal into `buf`; returns the bytes.
fn message<'a>(buf: &'a mut [u8; 32], prefix: &str, n: u32) -> &'a [u8] {
    let mut len = prefix.len();
    buf[..len].copy_from_slice(prefix.as_bytes());
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = n;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in digits[..count].iter().rev() {
        buf[len] = d;
        len += 1;
    }
    &buf[..len]
}

fn main() -> Result<(), KvError> {
    if !kv::exists() {
        println!("kv_demo: error: no key-value driver");
        return Err(KvError::Rejected(tockrt::ErrorCode::NoDevice));
    }

    // The boot count: missing means this is the first boot.
    let mut count = [0u8; 4];
    let boots = match kv::get(BOOTS, &mut count) {
        Ok(4) => u32::from_le_bytes(count),
        Ok(_) | Err(KvError::Size { .. }) => {
            println!("kv_demo: boot count is not 4 bytes, starting again");
            0
        }
        Err(e) if e.is_not_found() => 0,
        Err(e) => return step("reading the boot count", Err(e)),
    };
    let boot = boots.wrapping_add(1);
    step(
        "storing the boot count",
        kv::set(BOOTS, &boot.to_le_bytes()),
    )?;
    println!("kv_demo: boot {boot}");

    // The greeting: stored once, read back on every later boot.
    let mut buf = [0u8; 64];
    match kv::get(GREETING, &mut buf) {
        Ok(n) => println!("kv_demo: greeting = \"{}\"", text(&buf[..n])),
        Err(e) if e.is_not_found() => {
            let mut m = [0u8; 32];
            let greeting = message(&mut m, "hello from boot ", boot);
            step("adding the greeting", kv::add(GREETING, greeting))?;
            let n = step("reading the greeting", kv::get(GREETING, &mut buf))?;
            println!("kv_demo: greeting = \"{}\" (stored now)", text(&buf[..n]));
        }
        Err(e) => return step("reading the greeting", Err(e)),
    }

    // The last message: what the previous boot wrote, then ours.
    let mut m = [0u8; 32];
    let now = message(&mut m, "written by boot ", boot);
    match kv::get(LAST, &mut buf) {
        Ok(n) => println!(
            "kv_demo: last message = \"{}\", now \"{}\"",
            text(&buf[..n]),
            text(now)
        ),
        Err(e) if e.is_not_found() => {
            println!("kv_demo: last message = (none), now \"{}\"", text(now));
        }
        Err(e) => return step("reading the last message", Err(e)),
    }
    step("storing the last message", kv::set(LAST, now))?;

    // A temporary key: add, update, read, delete, and it is gone.
    let _ = kv::delete(TEMP); // left over if an earlier boot was cut short
    step("adding the temp key", kv::add(TEMP, b"first"))?;
    step("updating the temp key", kv::update(TEMP, b"second"))?;
    let n = step("reading the temp key", kv::get(TEMP, &mut buf))?;
    step("deleting the temp key", kv::delete(TEMP))?;
    let after = match kv::get(TEMP, &mut buf) {
        Ok(_) => "still there!",
        Err(e) if e.is_not_found() => "NOSUPPORT",
        Err(_) => "error",
    };
    println!(
        "kv_demo: temp key: add ok, update ok, get \"{}\", delete ok, get -> {after}",
        text(&buf[..n])
    );
    println!("kv_demo: done");
    Ok(())
}
