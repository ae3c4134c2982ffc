//! Reads a value provisioned from the host. The app has no storage TLV and
//! no ShortId TLV, so the board gives it self-only permissions under the
//! CRC-32 (POSIX `cksum` variant) of its package name `kv_host`:
//! ShortId 519585874 (`0x1ef8_4052`). The host writes the value with that
//! owner:
//!
//! ```text
//! tickv --image store.img --preset qemu set --owner 519585874 provisioned "hello from the host"
//! ```
//!
//! and the app prints it:
//!
//! ```text
//! kv_host: provisioned = "hello from the host" (19 bytes)
//! ```
//!
//! (escaped, at most 48 bytes shown, then `...`) and exits 0; if the key is
//! missing or not readable it prints `kv_host: provisioned: NOSUPPORT` (or
//! another error) and exits with the error's number.

#![no_std]
#![no_main]

use kvtest::Bytes;
use tockrt::kv::{self, KvError, VALUE_MAX};
use tockrt::println;

tockrt::main!(main);

fn main() -> Result<(), KvError> {
    let mut buf = [0u8; VALUE_MAX];
    match kv::get(b"provisioned", &mut buf) {
        Ok(n) => {
            println!("kv_host: provisioned = {} ({n} bytes)", Bytes(&buf[..n]));
            Ok(())
        }
        Err(e) => {
            println!("kv_host: provisioned: {e}");
            Err(e)
        }
    }
}
