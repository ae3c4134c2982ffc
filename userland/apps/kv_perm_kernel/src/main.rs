//! Storage permissions, an attempt on the kernel's item. TBF storage TLV:
//! write id 106, reads and modifies 0 and 106 (elf2tab `--write_id 106
//! --read_ids 0 106 --access_ids 0 106`): its headers claim the kernel's
//! id 0, which no app may ever use.
//!
//! The board keeps its boot count in a kernel-owned item under
//! `kernel-boot-count`: get, a length query, update and delete of it all
//! answer `NOSUPPORT` (listing 0 grants nothing). Set and add of the
//! kernel's key are not tried: before the board has written its item
//! (first boot on a blank store) they would create it, owned by 106. Its
//! own items (id 106) work as usual, which shows the TLV was taken. Lines `kv_perm_kernel: ok
//! <check>` / `... FAIL ...`, then `kv_perm_kernel: <n> checks of <declared>, <k>
//! failed`; exit code = failures.

#![no_std]
#![no_main]

use kvtest::{kernel_item_checks, Report, NOT_FOUND};
use tockrt::kv;

tockrt::main!(main);

/// How many checks this app makes: the one place the number is written
/// (a run with another count fails; the QEMU runner requires
/// `kv_perm_kernel: <n> checks of <n>, 0 failed`).
const CHECKS: u32 = 13;
fn main() -> u32 {
    let mut r = Report::prefixed("kv_perm_kernel");
    kernel_item_checks(&mut r, true);

    let own = b"perm/kernel-app";
    let mut buf = [0u8; 16];
    r.kv("set own item", kv::set(own, b"106's"), Ok(()));
    r.kv("get own item", kv::get(own, &mut buf), Ok(5));
    r.bytes("own item value", &buf[..5], b"106's");
    r.kv("delete own item", kv::delete(own), Ok(()));
    r.kv("own item gone", kv::get(own, &mut buf), Err(NOT_FOUND));

    // Once more, after the board has surely written its item (the own
    // item's requests queued behind the board's at boot).
    kernel_item_checks(&mut r, true);
    r.finish(CHECKS)
}
