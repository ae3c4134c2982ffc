//! Random operation sequences checked against a BTreeMap model, over several
//! geometries, program units, index sizes and scratch sizes, with remounts
//! (full, or lazy with the index built in steps between the operations).

mod common;
use common::*;
use tickv::Error;

/// `Op::MountLazy` (feature `lazy`; the tests that ask for it need it).
fn mount_lazy(s: &mut tickv::blocking::Store<Sim>) {
    #[cfg(feature = "lazy")]
    s.mount_lazy().unwrap();
    #[cfg(not(feature = "lazy"))]
    panic!(
        "lazy mounts need the `lazy` feature ({:?})",
        s.stats().regions
    );
}

#[allow(clippy::too_many_arguments)]
fn run_model(
    seed: u64,
    region: usize,
    count: usize,
    unit: usize,
    slots: usize,
    scratch: usize,
    ops: usize,
    fill: usize,
    filter: usize,
    lazy: bool,
) {
    let g = geometry(region, count, unit);
    let mut rng = Rng::new(seed);
    let new_store = || {
        if filter == 0 {
            store(g, slots, scratch, sim(g))
        } else {
            #[cfg(not(feature = "filter"))]
            unreachable!("key filters need the `filter` feature");
            #[cfg(feature = "filter")]
            filtered_store(g, slots, filter, scratch, sim(g))
        }
    };
    let mut s = new_store();
    s.format().unwrap();
    let mut lazy_mounts = 0;
    let max_len = (s.kv.max_value_len()).min(region / 4);
    let span = 12usize.next_multiple_of(unit);
    let usable = region - span;
    let extent = |len: usize| (16 + len).next_multiple_of(unit);
    // Size the key set so that the store runs around half full.
    let keys = ((count - 1) * usable * fill / 100 / extent(max_len / 2)).clamp(2, 60) as u64;
    let cmds = workload(&mut rng, ops, keys, max_len, true);
    let mut model = Model::new();
    let mut no_space = 0;
    for (i, cmd) in cmds.iter().enumerate() {
        // Built: the same accounting as a full mount of this flash.
        #[cfg(feature = "lazy")]
        if s.kv.warming() && rng.chance(50) && !s.warm(rng.below(12) as u32).unwrap() && slots >= 40
        {
            let mut full = new_store();
            full.flash.0.restore(&s.flash.0.snapshot());
            full.mount().unwrap();
            assert_eq!(
                s.stats(),
                full.stats(),
                "seed {seed} op {i}: stats once built"
            );
        }
        let (want, after) = cmd.expect(&model);
        let mut got = cmd.run(&mut s);
        if got == Err(Error::NoSpace) {
            // The contract: one compaction step did not make room; after a
            // full collection the write succeeds unless live data really
            // fills the store.
            no_space += 1;
            s.gc_full().unwrap();
            got = cmd.run(&mut s);
            let live: usize = after.values().map(|v| extent(v.len())).sum();
            let roomy =
                live + extent(max_len) <= (count.saturating_sub(3)) * (usable - extent(max_len));
            if got == Err(Error::NoSpace) {
                assert!(
                    !roomy,
                    "seed {seed} op {i}: NoSpace after gc_full with live {live}"
                );
                check_model(&mut s, &model);
                continue;
            }
        }
        assert_eq!(got, want, "seed {seed} op {i} {cmd:?}");
        model = after;
        if rng.chance(3) {
            check_model(&mut s, &model);
        }
        let lazy_now = lazy && rng.chance(3);
        if lazy_now {
            s.reboot();
            mount_lazy(&mut s);
            lazy_mounts += 1;
            check_model(&mut s, &model);
        } else if rng.chance(2) {
            let (before, built) = (s.stats(), !s.kv.warming());
            s.reboot();
            s.mount().unwrap();
            let after = s.stats();
            if slots >= 40 && built {
                // Accounting kept in RAM equals what mount rebuilds from flash.
                assert_eq!(after, before, "seed {seed} op {i}: stats after remount");
            }
            check_model(&mut s, &model);
        }
        // Strict mode would have failed any second program of a word; the
        // simulator also counts rewrites in non-strict mode.
        assert_eq!(s.flash.0.counters().word_rewrites, 0);
    }
    check_model(&mut s, &model);
    println!(
        "seed {seed}: {ops} ops, {keys} keys, {no_space} NoSpace answers, {lazy_mounts} lazy mounts"
    );
}

#[test]
fn model_unit4_full_index() {
    for seed in 0..6 {
        run_model(seed, 4096, 8, 4, 64, 64, 1500, 50, 0, false);
    }
}

#[test]
fn model_every_program_unit() {
    for (i, unit) in [1usize, 2, 4, 8, 16, 32].into_iter().enumerate() {
        run_model(100 + i as u64, 2048, 6, unit, 64, 96, 1200, 50, 0, false);
    }
}

#[test]
fn model_without_index_and_with_a_partial_index() {
    for seed in 0..3 {
        run_model(200 + seed, 1024, 10, 4, 0, 64, 600, 50, 0, false);
        run_model(300 + seed, 1024, 10, 8, 12, 64, 600, 50, 0, false);
    }
}

#[test]
fn model_small_regions_large_scratch() {
    for seed in 0..4 {
        run_model(400 + seed, 256, 24, 4, 64, 4096, 1500, 50, 0, false);
        run_model(500 + seed, 512, 3, 2, 64, 128, 1500, 50, 0, false);
        run_model(600 + seed, 1024, 2, 4, 64, 64, 800, 50, 0, false);
    }
}

#[test]
fn model_near_full_stores() {
    // Live data around 80-90% of capacity: NoSpace answers happen, and each
    // must be followed by success after a full collection unless the store
    // really is full.
    for seed in 0..4 {
        run_model(700 + seed, 1024, 8, 4, 64, 64, 1500, 85, 0, false);
        run_model(800 + seed, 4096, 6, 8, 64, 256, 800, 80, 0, false);
    }
}

#[cfg(feature = "filter")]
#[test]
fn model_with_key_filters() {
    // Filters of 1, 4 and 32 bytes per region (many false positives, some,
    // few) with no index, a partial index and a full one.
    for seed in 0..3 {
        run_model(900 + seed, 1024, 10, 4, 0, 64, 600, 50, 1, false);
        run_model(910 + seed, 1024, 10, 8, 12, 64, 600, 50, 4, false);
        run_model(920 + seed, 1024, 10, 4, 6, 64, 800, 85, 32, false);
        run_model(930 + seed, 4096, 8, 4, 64, 64, 800, 50, 32, false);
    }
}

#[cfg(feature = "lazy")]
#[test]
fn model_with_lazy_mounts() {
    // Lazy mounts, the index built a few records at a time between the
    // operations: a full index, none, a partial one, small regions, a
    // store near full (its compactions finish the index first).
    for seed in 0..3 {
        run_model(1000 + seed, 4096, 8, 4, 64, 64, 1500, 50, 0, true);
        run_model(1010 + seed, 1024, 10, 4, 0, 64, 600, 50, 0, true);
        run_model(1020 + seed, 1024, 10, 8, 12, 64, 600, 50, 0, true);
        run_model(1030 + seed, 256, 24, 1, 64, 64, 1200, 50, 0, true);
        run_model(1040 + seed, 1024, 8, 4, 64, 64, 1500, 85, 0, true);
    }
}

#[cfg(all(feature = "filter", feature = "lazy"))]
#[test]
fn model_with_lazy_mounts_and_key_filters() {
    for seed in 0..3 {
        run_model(1100 + seed, 1024, 10, 4, 0, 64, 600, 50, 4, true);
        run_model(1110 + seed, 1024, 10, 4, 64, 64, 800, 50, 32, true);
    }
}
