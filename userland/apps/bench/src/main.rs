//! Measures with the `instret` counter, which QEMU counts exactly when run
//! with `-icount shift=0` (the board lets user mode read it):
//!
//! * `bench: main after <n> instructions`: instructions since reset when
//!   `main` starts (kernel boot, process loading, this app's start-up);
//! * `bench: command <n> instructions`: one command round trip (trap,
//!   dispatch to a driver, return), averaged over many;
//! * `bench: yield-no-wait <n> instructions`: one yield that finds nothing
//!   to do;
//! * `bench: kv set <n> instructions` / `bench: kv get <n> instructions`:
//!   one key-value set and get of a 32-byte value, from the command to the
//!   completion upcall (all kernel layers, the TicKV engine and the pflash
//!   driver; the first set also formats nothing: the store is mounted).
//!
//! Counts include the loop and the wrappers around each call; they are
//! upper bounds of the kernel's own cost. The measurements start once the
//! kernel's start-up work on the store is over (a KV get waits for it).

#![no_std]
#![no_main]

use tockrt::{kv, println, syscall};

tockrt::main!(main);

/// Instructions retired since reset (64-bit, read consistently).
fn instret() -> u64 {
    loop {
        let (hi, lo, hi2): (u32, u32, u32);
        // SAFETY: reads three user-readable counter CSRs; no memory access.
        unsafe {
            core::arch::asm!(
                "rdinstreth {0}",
                "rdinstret {1}",
                "rdinstreth {2}",
                out(reg) hi,
                out(reg) lo,
                out(reg) hi2,
                options(nomem, nostack)
            );
        }
        if hi == hi2 {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Average instructions of `f` over `n` runs.
fn per_call(n: u32, mut f: impl FnMut()) -> u64 {
    let start = instret();
    for _ in 0..n {
        f();
    }
    (instret() - start) / u64::from(n)
}

fn main() -> u32 {
    println!("bench: main after {} instructions", instret());
    // The kernel's own start-up work (mounting the store, formatting a
    // blank one, its boot counter) runs beside processes: the kernel lets a
    // ready process in after every few deferred calls. Wait until it is
    // done, so that the figures below count only what they name: a KV
    // request queues behind the kernel's, so its completion means the
    // store is idle.
    let mut warm = [0u8; 1];
    let _ = kv::get(b"bench-warm-up", &mut warm);
    let command = per_call(1000, || {
        let _ = syscall::command(1, 0, 0, 0);
    });
    println!("bench: command {command} instructions");
    let yield_no_wait = per_call(1000, || {
        let _ = syscall::yield_no_wait();
    });
    println!("bench: yield-no-wait {yield_no_wait} instructions");

    let value = [0x5Au8; 32];
    let mut buf = [0u8; 32];
    let key = b"bench-key";
    // The first write of a key creates it; measure an overwrite, the
    // steady state.
    if kv::set(key, &value).is_err() {
        println!("bench: FAIL kv set");
        return 1;
    }
    let start = instret();
    let set = kv::set(key, &value);
    let set_cost = instret() - start;
    let start = instret();
    let got = kv::get(key, &mut buf);
    let get_cost = instret() - start;
    match (set, got) {
        (Ok(()), Ok(32)) if buf == value => {
            println!("bench: kv set {set_cost} instructions");
            println!("bench: kv get {get_cost} instructions");
            0
        }
        (s, g) => {
            println!("bench: FAIL kv: set {:?}, get {:?}", s.is_ok(), g.ok());
            1
        }
    }
}
