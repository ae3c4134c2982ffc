//! Keeps a secret in the key-value store, to show what app credentials
//! buy. Its TBF is signed with the repository's test key and carries a
//! storage TLV (write and read id 0x5160); on the kernel built with
//! `secure-apps`, which trusts that key, the signed TBF gets that identity
//! and an unsigned copy of the same TBF gets none.
//!
//! ```text
//! kv_signed: no secret yet
//! kv_signed: stored the secret
//! ```
//!
//! on its first boot; later boots print `kv_signed: the secret is "..."`.
//! An unsigned copy prints `kv_signed: no secret yet` (the secret is not
//! its to read: absent, as for any value it may not read) and then
//! `kv_signed: cannot store: rejected INVAL` (no write id). Exits 0 either
//! way: the console lines are the result.

#![no_std]
#![no_main]

use tockrt::kv::{self, KvError};
use tockrt::println;

tockrt::main!(main);

const KEY: &[u8] = b"signed/secret";
const SECRET: &[u8] = b"only for the signed app";

fn main() -> Result<(), KvError> {
    let mut buf = [0u8; 64];
    match kv::get(KEY, &mut buf) {
        Ok(n) => {
            let text = core::str::from_utf8(&buf[..n]).unwrap_or("<not UTF-8>");
            println!("kv_signed: the secret is \"{text}\"");
            return Ok(());
        }
        Err(_) => println!("kv_signed: no secret yet"),
    }
    match kv::set(KEY, SECRET) {
        Ok(()) => println!("kv_signed: stored the secret"),
        Err(e) => println!("kv_signed: cannot store: {e}"),
    }
    Ok(())
}
