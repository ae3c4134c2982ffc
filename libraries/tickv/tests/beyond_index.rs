//! Past the RAM index (issue 13, item 4): with ten times more keys than
//! index entries, gets and misses read a bounded number of records, the same
//! bound however long the log has grown, thanks to the per-region key
//! filters (feature `filter`). Without them a miss reads every record header
//! of the log.
#![cfg(feature = "filter")]

mod common;
use common::*;
use tickv::Error;

const REGION: usize = 4096;
const REGIONS: usize = 64;
const KEYS: usize = 1000;
const ENTRIES: usize = 100;
/// 12 bits per record slot of a region of 32-byte values.
const FILTER: usize = 128;
/// Record headers a region holds: 85 records of 16 + 32 bytes.
const PER_REGION: f64 = ((REGION - 12) / 48) as f64;

struct Costs {
    regions_in_use: usize,
    reads_per_get: f64,
    reads_per_miss: f64,
}

/// Writes every key `rounds` times, remounts, then measures a get of every
/// key and of as many absent keys.
fn costs(rounds: usize, filter: usize) -> Costs {
    let g = geometry(REGION, REGIONS, 4);
    let mut s = filtered_store(g, ENTRIES, filter, 64, sim(g));
    s.format().unwrap();
    let mut rng = Rng::new(13);
    let keys: Vec<u64> = (0..2 * KEYS).map(|_| rng.next()).collect();
    let (present, absent) = keys.split_at(KEYS);
    let value = |round: usize, k: u64| -> Vec<u8> {
        let mut v = k.to_le_bytes().repeat(4);
        v[0] = round as u8;
        v
    };
    for round in 0..rounds {
        for &k in present {
            let mut r = s.set(k, &value(round, k));
            if r == Err(Error::NoSpace) {
                s.gc_full().unwrap();
                r = s.set(k, &value(round, k));
            }
            r.unwrap();
        }
    }
    s.reboot();
    s.mount().unwrap();
    let regions_in_use = s.stats().used_regions;
    let reads = |s: &mut tickv::blocking::Store<Sim>| s.flash.0.counters().reads;
    let before = reads(&mut s);
    for &k in present {
        assert_eq!(read(&mut s, k), Some(value(rounds - 1, k)), "key {k:#x}");
    }
    let gets = reads(&mut s) - before;
    let before = reads(&mut s);
    for &k in absent {
        assert_eq!(read(&mut s, k), None, "absent key {k:#x}");
    }
    let misses = reads(&mut s) - before;
    Costs {
        regions_in_use,
        reads_per_get: gets as f64 / KEYS as f64,
        reads_per_miss: misses as f64 / KEYS as f64,
    }
}

#[test]
fn gets_and_misses_past_the_index_are_bounded_whatever_the_log_length() {
    // One round: a log of 12 regions; three: 36; six: the store fills and
    // compacts (some 60 regions in use).
    for rounds in [1, 3, 6] {
        let c = costs(rounds, FILTER);
        println!(
            "{rounds} rounds, {} regions in use: {:.1} reads per get, {:.1} per miss",
            c.regions_in_use, c.reads_per_get, c.reads_per_miss
        );
        // A miss reads under half a region's headers on average; a get the
        // headers of about one region plus its record (most keys are not
        // indexed), however many regions the log spans.
        assert!(
            c.reads_per_miss <= PER_REGION / 2.0,
            "{rounds} rounds: {:.1} reads per miss",
            c.reads_per_miss
        );
        assert!(
            c.reads_per_get <= PER_REGION + 16.0,
            "{rounds} rounds: {:.1} reads per get",
            c.reads_per_get
        );
    }
}

#[test]
fn without_filter_storage_a_miss_still_reads_the_whole_log() {
    // The filter is optional: with no bytes for it, lookups scan as before
    // (the contrast the test above is about).
    let c = costs(3, 0);
    assert!(
        c.reads_per_miss >= PER_REGION * (c.regions_in_use - 1) as f64,
        "{:.1} reads per miss over {} regions",
        c.reads_per_miss,
        c.regions_in_use
    );
}
