//! A lazy mount (`Op::MountLazy`) reads a bounded amount however much the
//! store holds, and the store answers at once; `Op::Warm` steps build the
//! rest of the index. (Feature `lazy`.)
#![cfg(feature = "lazy")]

mod common;
use common::*;

/// A store of 16 x 4 KiB holding `keys` keys, each written twice (so that
/// old versions lie in older regions), then rebooted (unmounted).
fn filled(keys: u64) -> tickv::blocking::Store<'static, 'static, Sim> {
    let g = geometry(4096, 16, 4);
    let mut s = store(g, 512, 64, sim(g));
    s.format().unwrap();
    for round in 0..2u8 {
        for k in 0..keys {
            s.set(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), &[round; 20])
                .unwrap();
        }
    }
    s.reboot();
    s
}

fn reads(s: &tickv::blocking::Store<Sim>) -> u64 {
    s.flash.0.counters().reads
}

#[test]
fn a_lazy_mount_reads_per_region_not_per_record() {
    let mut bounds = Vec::new();
    for keys in [10u64, 100, 200] {
        let mut s = filled(keys);
        let before = reads(&s);
        s.mount().unwrap();
        let full = reads(&s) - before;
        s.reboot();
        let before = reads(&s);
        s.mount_lazy().unwrap();
        let lazy = reads(&s) - before;
        // Two reads per region (survey and walk), the head's header, and
        // the head's records (header and value each).
        let regions = s.kv.geometry().region_count as u64;
        let head_records = 4084 / 40 + 1;
        assert!(
            lazy <= 2 * regions + 1 + 2 * head_records + 1,
            "{keys} keys: {lazy} reads"
        );
        bounds.push((keys, full, lazy));
        // Every key reads back before the index is built.
        assert!(s.kv.warming() || keys == 10);
        for k in 0..keys {
            assert_eq!(
                read(&mut s, k.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                Some(vec![1; 20])
            );
        }
        // Built in steps; then every get is one indexed record.
        while s.warm(16).unwrap() {}
        let before = reads(&s);
        for k in 0..keys {
            assert_eq!(
                read(&mut s, k.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                Some(vec![1; 20])
            );
        }
        assert_eq!(
            reads(&s) - before,
            2 * keys,
            "{keys} keys: reads once built"
        );
        assert_eq!(s.stats().keys, Some(keys as usize));
    }
    println!("(keys, full mount reads, lazy mount reads): {bounds:?}");
    // The full mount grows with the records; the lazy one does not.
    assert!(bounds[2].1 > 4 * bounds[0].1, "{bounds:?}");
    assert!(
        bounds[2].2 <= bounds[0].2 + 2 * (4084 / 40 + 1),
        "{bounds:?}"
    );
}

#[test]
fn warm_on_a_built_index_does_nothing_and_writes_nothing() {
    let mut s = filled(100);
    s.mount_lazy().unwrap();
    let programs = s.flash.0.counters().programs;
    while s.warm(7).unwrap() {}
    assert!(!s.kv.warming());
    let before = reads(&s);
    assert!(!s.warm(100).unwrap());
    assert_eq!(reads(&s), before);
    assert_eq!(s.flash.0.counters().programs, programs);
}

#[test]
fn a_compaction_while_warming_finishes_the_index_first() {
    let mut s = filled(200);
    s.mount_lazy().unwrap();
    assert!(s.kv.warming());
    s.gc_full().unwrap();
    assert!(!s.kv.warming());
    for k in 0..200u64 {
        assert_eq!(
            read(&mut s, k.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            Some(vec![1; 20])
        );
    }
}
