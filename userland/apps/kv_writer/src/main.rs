//! An endless, checkable key-value update workload for power-cut tests.
//! TBF storage TLV: write id 201, reads and modifies 201 (elf2tab
//! `--write_id 201 --read_ids 201 --access_ids 201`); `kv_check` reads the
//! same items.
//!
//! [`K`] keys `writer/0` .. `writer/7`; write `seq` stores the record of
//! `seq` (format: `kvtest::workload`) under key `seq % K`. At start it
//! reads every key and resumes after the highest valid sequence number:
//!
//! ```text
//! writer: key <i> seq <s>          (or: writer: key <i> missing / BAD <why>)
//! writer: resuming at seq <n>
//! ack <n>                          after the kernel confirmed write n
//! ack <n+1>
//! ...
//! ```
//!
//! `ack <seq>` is printed only after the completion upcall reported
//! success, and the next write starts only after the line is out. So when
//! QEMU is killed, every acknowledged write must be in the store, the one
//! write after the last ack may or may not be, and nothing else may have
//! changed. A write that fails prints `writer: seq <n> failed: <error>` and
//! is retried after 50 ms. The app never exits.

#![no_std]
#![no_main]

use kvtest::workload::{self, K, VALUE_LEN_MAX};
use tockrt::kv::{self, KvError};
use tockrt::{alarm, println};

tockrt::main!(main);

fn main() {
    let mut buf = [0u8; VALUE_LEN_MAX];
    let mut max = 0u32;
    for i in 0..K {
        match kv::get(&workload::key(i), &mut buf) {
            Ok(n) => match workload::parse(i, &buf[..n]) {
                Ok(seq) => {
                    println!("writer: key {i} seq {seq}");
                    max = max.max(seq);
                }
                Err(why) => println!("writer: key {i} BAD {why}"),
            },
            Err(KvError::Size { full_len }) => {
                println!("writer: key {i} BAD value of {full_len} bytes");
            }
            Err(e) if e.is_not_found() => println!("writer: key {i} missing"),
            Err(e) => println!("writer: key {i} unreadable: {e}"),
        }
    }
    let mut seq = max.wrapping_add(1).max(1);
    println!("writer: resuming at seq {seq}");
    loop {
        let value = workload::value(&mut buf, seq);
        match kv::set(&workload::key(seq % K), value) {
            Ok(()) => {
                println!("ack {seq}");
                seq = seq.wrapping_add(1).max(1);
            }
            Err(e) => {
                println!("writer: seq {seq} failed: {e}");
                let _ = alarm::sleep_ms(50);
            }
        }
    }
}
