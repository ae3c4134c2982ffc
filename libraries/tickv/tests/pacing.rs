//! Compaction is paced: erases follow the bytes written at every fill
//! level, a failed write never erases, and a full GC stops when the oldest
//! region has nothing to reclaim. Flash operations are counted, never time.

mod common;
use common::*;
use tickv::Error;

/// The erases per byte written that a ring of `n` regions needs at best
/// once `live` bytes are stored: every lap erases each region once and
/// makes room for the free space outside the reserve, `(n - 1) * usable -
/// live` bytes.
fn ideal_erases(n: usize, usable: usize, live: usize, written: usize) -> f64 {
    written as f64 * n as f64 / ((n - 1) * usable - live) as f64
}

/// Fills 16 x 4 KiB with 13-byte values to `percent` of its capacity, then
/// overwrites random keys `writes` times. Returns (erases, bytes
/// programmed, payload bytes written, live bytes).
fn overwrite_at(percent: usize, writes: usize) -> (u64, u64, usize, usize) {
    let g = geometry(4096, 16, 4);
    let mut s = formatted(g, 4096);
    let usable = 4096 - 12;
    let keys = (15 * usable * percent / 100) / 32;
    let mut rng = Rng::new(percent as u64);
    for k in 0..keys as u64 {
        s.set(k, &rng.bytes(13)).unwrap();
    }
    let live = s.stats().live_bytes.unwrap();
    let before = s.flash.0.counters();
    for _ in 0..writes {
        let k = rng.below(keys as u64);
        s.set(k, &rng.bytes(13)).unwrap();
    }
    let c = s.flash.0.counters().since(&before);
    (c.erases, c.program_bytes, writes * 13, live)
}

#[test]
fn a_nearly_full_store_erases_in_proportion_to_what_is_written() {
    for (percent, writes) in [(50, 2000), (88, 200), (88, 2000), (95, 2000)] {
        let (erases, programmed, payload, live) = overwrite_at(percent, writes);
        let ideal = ideal_erases(16, 4084, live, writes * 32);
        println!(
            "{percent} % live, {writes} overwrites of 13 bytes: {erases} erases (ideal {ideal:.1}), \
             {programmed} bytes programmed for {payload} bytes of payload"
        );
        assert!(
            erases as f64 <= 1.25 * ideal + 2.0,
            "{percent} %: {erases} erases against an ideal of {ideal:.1}"
        );
        // 32 bytes a record plus what compaction copies: bounded by the
        // erases, a region each.
        assert!(programmed <= writes as u64 * 32 + erases * 4096);
    }
}

/// A store full of live data but for a little garbage: a write that fails
/// for want of space erases nothing, with a complete index and with one
/// too small for the keys.
#[test]
fn a_failed_write_never_erases() {
    for slots in [512, 8] {
        let g = geometry(512, 8, 4);
        let mut s = formatted(g, slots);
        let mut rng = Rng::new(7);
        let mut k = 0u64;
        while s.set(1000 + k, &rng.bytes(40)).is_ok() {
            k += 1;
        }
        let (mut ok, mut failed, mut with_garbage) = (0, 0, 0);
        for i in 0..200u64 {
            let garbage = s.stats().reclaimable != Some(0);
            let before = s.flash.0.counters().erases;
            // Overwrites of the same size leave garbage behind; a large new
            // value needs more room than one compaction step can make.
            let r = if i % 2 == 0 {
                s.set(1000 + i % 40, &[])
            } else {
                s.set(i, &rng.bytes(300))
            };
            match r {
                Ok(()) => ok += 1,
                Err(Error::NoSpace) => {
                    failed += 1;
                    with_garbage += garbage as u32;
                    assert_eq!(
                        s.flash.0.counters().erases,
                        before,
                        "index of {slots}: write {i} failed with NoSpace after erasing"
                    );
                }
                Err(e) => panic!("write {i}: {e:?}"),
            }
        }
        println!(
            "index of {slots} entries, {k} keys: {ok} writes, {failed} NoSpace \
             ({with_garbage} with garbage in the store)"
        );
        assert!(
            with_garbage > 20,
            "the test must meet a full store with garbage"
        );
    }
}

/// Garbage only in the newest region: a full GC does not lap the store to
/// reach it.
#[test]
fn a_full_gc_stops_at_an_oldest_region_with_nothing_to_reclaim() {
    let g = geometry(4096, 16, 4);
    let mut s = formatted(g, 1024);
    let mut rng = Rng::new(3);
    let mut k = 0u64;
    while s.stats().used_regions < 6 {
        s.set(1000 + k, &rng.bytes(40)).unwrap();
        k += 1;
    }
    let before = s.flash.0.counters();
    for i in 0..10u8 {
        s.set(7, &[i; 4]).unwrap();
        let freed = s.gc_full().unwrap();
        assert_eq!(freed, 0, "nothing in the oldest region is reclaimable");
    }
    let c = s.flash.0.counters().since(&before);
    println!(
        "10 x (overwrite 4 bytes, GC) over 5 regions of other data: {} erases, {} programs",
        c.erases, c.programs
    );
    assert_eq!(c.erases, 0);
    assert!(c.programs <= 20, "{} programs", c.programs);
    // The garbage stays until the ring reaches it, and says so.
    assert!(s.stats().reclaimable > Some(0));
}
