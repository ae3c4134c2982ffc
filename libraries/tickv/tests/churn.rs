//! The peer-comparison workload (doc/peers.md) with the targets,
//! and wear levelling under long churn with cold data.

mod common;
use common::*;
use flashsim::Counters;

fn kib(b: u64) -> f64 {
    b as f64 / 1024.0
}

fn row(name: &str, c: &Counters) {
    println!(
        "| {name:<24} | {:>9.1} | {:>7} | {:>9.1} | {:>8} | {:>6} | {:>8} |",
        kib(c.read_bytes),
        c.reads,
        kib(c.program_bytes),
        c.programs,
        c.erases,
        c.word_rewrites
    );
}

#[test]
fn peer_workload_meets_the_targets() {
    // 64 x 4 KiB, program unit 4, 1000 keys x 32-byte values, a full index.
    let g = geometry(4096, 64, 4);
    let mut s = store(g, 1000, 64, sim(g));
    s.format().unwrap();
    let mut rng = Rng::new(42);
    let keys: Vec<u64> = (0..1000).map(|_| rng.next()).collect();
    let mut vals: Vec<Vec<u8>> = keys.iter().map(|_| rng.bytes(32)).collect();
    let mut out = [0u8; 32];
    let mut read_all = |s: &mut tickv::blocking::Store<Sim>, vals: &Vec<Vec<u8>>| {
        let c0 = s.flash.0.counters();
        for (k, v) in keys.iter().zip(vals) {
            assert_eq!(s.get(*k, &mut out), Ok(32));
            assert_eq!(&out[..], &v[..]);
        }
        s.flash.0.counters().since(&c0)
    };
    println!("| phase                    | KiB read  |   reads | KiB prog  | programs | erases | rewrites |");
    println!("|---|---|---|---|---|---|---|");

    s.flash.0.reset_counters();
    for (k, v) in keys.iter().zip(&vals) {
        s.set(*k, v).unwrap();
    }
    row("insert 1000", &s.flash.0.counters());
    let read1 = read_all(&mut s, &vals);
    row("read all (index)", &read1);

    let c0 = s.flash.0.counters();
    s.reboot();
    s.mount().unwrap();
    row("remount", &s.flash.0.counters().since(&c0));
    let read2 = read_all(&mut s, &vals);
    row("read all after remount", &read2);

    // 10 rounds: every key once per round, in a fresh random order.
    let c0 = s.flash.0.counters();
    let mut worst_erases = 0;
    let mut order: Vec<usize> = (0..keys.len()).collect();
    for _ in 0..10 {
        rng.shuffle(&mut order);
        for &i in &order {
            vals[i] = rng.bytes(32);
            let before = s.flash.0.counters().erases;
            s.set(keys[i], &vals[i]).unwrap();
            worst_erases = worst_erases.max(s.flash.0.counters().erases - before);
        }
    }
    let churn = s.flash.0.counters().since(&c0);
    row("10,000 updates", &churn);
    let read3 = read_all(&mut s, &vals);
    row("read all after churn", &read3);

    let c0 = s.flash.0.counters();
    for k in &keys {
        s.delete(*k).unwrap();
    }
    row("delete all", &s.flash.0.counters().since(&c0));
    assert_eq!(s.next_key(None), Ok(None));
    let counts = s.flash.0.erase_counts();
    println!(
        "erase counts per region after the workload: min {} max {}; worst erases in one update: {worst_erases}",
        counts.iter().min().unwrap(),
        counts.iter().max().unwrap()
    );

    // Targets: no worse than sequential-storage with caches (doc/peers.md).
    assert_eq!(s.flash.0.counters().word_rewrites, 0);
    assert!(
        kib(churn.program_bytes) <= 470.0,
        "programmed {:.1} KiB",
        kib(churn.program_bytes)
    );
    assert!(churn.erases <= 67, "{} erases", churn.erases);
    for r in [read1, read2, read3] {
        assert!(
            kib(r.read_bytes) <= 56.0,
            "read {:.1} KiB",
            kib(r.read_bytes)
        );
        assert_eq!(
            r.read_bytes,
            1000 * 48,
            "exactly one 48-byte record per get"
        );
    }
    assert!(worst_erases <= 1);
}

#[test]
fn wear_stays_level_under_long_churn_with_cold_data() {
    // 16 x 4 KiB; 150 cold keys written once, 60 hot keys rewritten until
    // 100 x the capacity has been programmed.
    let g = geometry(4096, 16, 4);
    let mut s = store(g, 256, 64, sim(g));
    s.format().unwrap();
    let mut rng = Rng::new(7);
    let cold: Vec<Vec<u8>> = (0..150).map(|_| rng.bytes(60)).collect();
    for (k, v) in cold.iter().enumerate() {
        s.set(k as u64, v).unwrap();
    }
    let capacity = (16 * 4096) as u64;
    let mut hot = vec![Vec::new(); 60];
    while s.flash.0.counters().program_bytes < 100 * capacity {
        let i = rng.below(60) as usize;
        let n = rng.below(100) as usize;
        hot[i] = rng.bytes(n);
        let before = s.flash.0.counters().erases;
        s.set(1000 + i as u64, &hot[i]).unwrap();
        assert!(s.flash.0.counters().erases - before <= 1);
    }
    let counts = s.flash.0.erase_counts().to_vec();
    let mean = counts.iter().sum::<u32>() as f64 / counts.len() as f64;
    let max = *counts.iter().max().unwrap();
    let min = *counts.iter().min().unwrap();
    println!("erase counts after 100x capacity: min {min} mean {mean:.1} max {max}");
    // The ring erases regions in order, so at any moment every count is
    // within one of every other: the cold data moves with the ring instead
    // of pinning its regions.
    assert!(max - min <= 1, "erase counts {counts:?}");
    assert!(min >= 100, "100x the capacity was programmed: {counts:?}");
    // The counts kept in the region headers are the real ones.
    for (r, &n) in counts.iter().enumerate() {
        match s.region_info(r).unwrap().header {
            tickv::HeaderState::Valid(h) => assert_eq!(h.erase_count, n, "region {r}"),
            other => panic!("region {r}: {other:?}"),
        }
    }
    // Every cold key still holds what was written once, before the churn
    // moved it around the ring about a hundred times.
    for (k, v) in cold.iter().enumerate() {
        assert_eq!(read(&mut s, k as u64).as_ref(), Some(v), "cold key {k}");
    }
    for (i, v) in hot.iter().enumerate() {
        if !v.is_empty() {
            assert_eq!(read(&mut s, 1000 + i as u64).as_ref(), Some(v));
        }
    }
    assert!(s.stats().keys.unwrap() >= 150);
}
