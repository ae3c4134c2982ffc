//! Exit codes through both exit calls. The first run stores a marker (its
//! own key-value item) and calls exit-restart with code 7; the kernel
//! starts it again from scratch; the second run finds the marker, deletes
//! it and calls exit-terminate with code 3. The test kernel then reports
//! `process 'exits' exited with code 3, 1 restart(s)`.
//!
//! Prints `exits: first run, exit-restart 7`, then `exits: restarted,
//! exit-terminate 3`; on a key-value error it prints `exits: FAIL ...` and
//! exits with the error's number.

#![no_std]
#![no_main]

use tockrt::kv::{self, KvError};
use tockrt::println;
use tockrt::syscall::{exit_restart, exit_terminate};

tockrt::main!(main);

const MARKER: &[u8] = b"exits-restarted";

fn main() -> Result<(), KvError> {
    let mut buf = [0u8; 4];
    match kv::get(MARKER, &mut buf) {
        Err(e) if e.is_not_found() => {
            kv::set(MARKER, b"1").inspect_err(|e| println!("exits: FAIL set: {e}"))?;
            println!("exits: first run, exit-restart 7");
            exit_restart(7)
        }
        Ok(_) => {
            kv::delete(MARKER).inspect_err(|e| println!("exits: FAIL delete: {e}"))?;
            println!("exits: restarted, exit-terminate 3");
            exit_terminate(3)
        }
        Err(e) => {
            println!("exits: FAIL get: {e}");
            Err(e)
        }
    }
}
