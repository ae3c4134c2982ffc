//! Checks `kv_writer`'s keys after a reboot (for power-cut tests). TBF
//! storage TLV: no write id (0), reads 201, `kv_writer`'s id, modifies
//! nothing (elf2tab `--write_id 0 --read_ids 201`): it cannot change what
//! it checks.
//!
//! Reads the keys `writer/0` .. `writer/7`, validates every value (format
//! and checksum: `kvtest::workload`) and prints one line per key, then
//! checks the invariant of the workload: with `M` the highest sequence
//! number found, key `i` holds the largest `s <= M` with `s % 8 == i`
//! (missing if there is none):
//!
//! ```text
//! check: key <i> seq <s>           (or: check: key <i> missing)
//! check: key <i> BAD <why>         a value that is not a valid record
//! check: BAD key <i> holds <s>, want <e>   the invariant does not hold
//! check: ok <M>                    all good (M = 0: no key at all); exit 0
//! check: BAD <n> problems          otherwise; exit 1
//! ```
//!
//! Together with the last `ack <seq>` kv_writer printed before the cut
//! (`S`), a host test checks `M == S` or `M == S + 1` (the write in flight
//! landed): then every acknowledged write is present or superseded, the
//! in-flight key holds the old or the new value, and nothing else changed.

#![no_std]
#![no_main]

use kvtest::workload::{self, K, VALUE_LEN_MAX};
use tockrt::kv::{self, KvError};
use tockrt::println;

tockrt::main!(main);

fn main() -> u32 {
    let mut buf = [0u8; VALUE_LEN_MAX];
    let mut found = [None; K as usize];
    let mut problems = 0u32;
    for i in 0..K {
        match kv::get(&workload::key(i), &mut buf) {
            Ok(n) => match workload::parse(i, &buf[..n]) {
                Ok(seq) => {
                    println!("check: key {i} seq {seq}");
                    found[i as usize] = Some(seq);
                }
                Err(why) => {
                    println!("check: key {i} BAD {why}");
                    problems += 1;
                }
            },
            Err(e) if e.is_not_found() => println!("check: key {i} missing"),
            Err(KvError::Size { full_len }) => {
                println!("check: key {i} BAD value of {full_len} bytes");
                problems += 1;
            }
            Err(e) => {
                println!("check: key {i} BAD unreadable: {e}");
                problems += 1;
            }
        }
    }
    let max = found.iter().flatten().copied().max().unwrap_or(0);
    // The invariant only means something when every value is a record.
    let bad_values = problems;
    for i in 0..K {
        let want = workload::expected_seq(i, max);
        let got = found[i as usize];
        if bad_values == 0 && got != want {
            problems += 1;
            println!("check: BAD key {i} holds {}, want {}", Seq(got), Seq(want));
        }
    }
    if problems == 0 {
        println!("check: ok {max}");
        0
    } else {
        println!("check: BAD {problems} problems");
        1
    }
}

/// A sequence number, or `missing`.
struct Seq(Option<u32>);

impl core::fmt::Display for Seq {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(s) => write!(f, "seq {s}"),
            None => f.write_str("missing"),
        }
    }
}
