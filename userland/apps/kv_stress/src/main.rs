//! The long fill of the key-value store: 160 keys `kvs/many/NNN` of 200
//! to 503 bytes, written 90 times over (about 4.6 MB of values, more than
//! the board's 16 x 256 KiB store: the head goes round the whole ring of
//! regions, every region is compacted and erased again, and all but the
//! last values become garbage), each write followed by a read of another key; then
//! every key read back, a garbage collection (which compacts the regions
//! full of garbage), every key read back again, every other key
//! overwritten, everything read back, and all deleted.
//!
//! The same checks as the end of `kv_tests`, with twenty times the data:
//! on QEMU's emulated pflash this takes minutes, so it is an app of its
//! own. Lines `ok <check>` / `FAIL <check>: ...`, then `kv_stress: <n>
//! checks of <declared>, <k> failed` and the time taken; exit code = failures. No
//! storage TLV: self-only under its ShortId (CRC-32 of `kv_stress`).

#![no_std]
#![no_main]

use kvtest::many::{self, Fill};
use kvtest::Report;
use tockrt::alarm;

tockrt::main!(main);

const FILL: Fill = Fill {
    prefix: *b"kvs/",
    keys: 160,
    passes: 90,
};

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_stress: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 10;
fn main() -> u32 {
    let mut r = Report::new("kv_stress");
    let start = alarm::now().unwrap_or(0);
    many::run(&mut r, &FILL);
    if let (Ok(now), Ok(hz)) = (alarm::now(), alarm::frequency()) {
        let ms = u64::from(now.wrapping_sub(start)) * 1000 / u64::from(hz);
        r.say(format_args!("kv_stress: took {ms} ms"));
    }
    r.finish(CHECKS)
}
