//! Exhaustive power-cut sweep: a cut before and inside every program and
//! erase of a workload, with torn variants, then a remount from flash alone.
//!
//! Set `TICKV_SOAK=1` (or run `make soak`) for a longer sweep over more
//! geometries and seeds.

mod common;
use common::*;
use flashsim::Tear;
use tickv::blocking::Store;
use tickv::Error;

/// Where a cut lands and how it tears the operation it interrupts: not at
/// all, after one byte, within a record header (one byte short of its CRC),
/// mid-chunk, and most of a region (for erases; a program is then complete
/// but power still fails).
const TEARS: [Tear; 5] = [
    Tear::Before,
    Tear::Partial(1),
    Tear::Partial(15),
    Tear::Partial(37),
    Tear::Partial(2100),
];

/// How an erase, and only an erase, is torn besides `TEARS`: weakly (each
/// programmed bit back to 1 with a chance of 1, 16 or 128 in 256, the
/// region header kept or not) and into random bytes. The seed is the cut's
/// number.
fn erase_tears(seed: u64) -> [Tear; 7] {
    let weak = |keep, ones| Tear::Weak { seed, keep, ones };
    [
        weak(0, 1),
        weak(12, 1),
        weak(0, 16),
        weak(12, 16),
        weak(0, 128),
        weak(12, 128),
        Tear::Random(seed),
    ]
}

/// Whether a region image holds a value record of some key followed by a
/// tombstone of the same key (format of `doc/tickv-format.md`; the walk
/// stops at the first header that does not decode).
fn value_then_tombstone(region: &[u8], unit: usize) -> bool {
    let up = |n: usize| n.div_ceil(unit) * unit;
    let mut off = up(12);
    let mut values = std::collections::HashSet::new();
    while off + 16 <= region.len() {
        let meta = u16::from_be_bytes([region[off], region[off + 1]]);
        let inv = u16::from_be_bytes([region[off + 2], region[off + 3]]);
        if meta != !inv {
            return false;
        }
        let key = u64::from_le_bytes(region[off + 4..off + 12].try_into().unwrap());
        match meta >> 13 {
            1 => {
                values.insert(key);
            }
            2 if values.contains(&key) => return true,
            2 => {}
            _ => return false,
        }
        off += up(16 + (meta & 0x1FFF) as usize);
    }
    false
}

struct Sweep {
    cuts: u64,
    ok: u64,
    /// Cuts with a weak or random erase tear.
    erase_cuts: u64,
    /// Erases of the workload whose region held a key's value and, after
    /// it, its tombstone.
    victims: u64,
}

fn sweep(
    seed: u64,
    region: usize,
    count: usize,
    unit: usize,
    ops: usize,
    keys: u64,
    max_len: usize,
) -> Sweep {
    let g = geometry(region, count, unit);
    sweep_on(seed, store(g, 256, 64, sim(g)), ops, keys, max_len, false)
}

/// Mounts before the `i`th command: fully, or (`lazy`) indexing only the
/// newest region and then a few records more (how many depends on `i`,
/// so that the reference run and the cut runs see the same store).
fn mount(s: &mut Store<Sim>, lazy: bool, i: usize) {
    if lazy {
        #[cfg(feature = "lazy")]
        {
            s.mount_lazy().unwrap();
            s.warm((i * 7 % 13) as u32).unwrap();
        }
        #[cfg(not(feature = "lazy"))]
        unreachable!("lazy mounts need the `lazy` feature ({i})");
    } else {
        s.mount().unwrap();
    }
}

/// The sweep on a given (unformatted) store; with `lazy`, every mount is
/// lazy and the commands (and the checks after a cut) run while the index
/// is being built.
fn sweep_on(
    seed: u64,
    mut s: Store<Sim>,
    ops: usize,
    keys: u64,
    max_len: usize,
    lazy: bool,
) -> Sweep {
    let g = s.kv.geometry();
    let (region, count, unit) = (g.region_size, g.region_count, g.program_unit);
    let mut rng = Rng::new(seed);
    let cmds = workload(&mut rng, ops, keys, max_len, true);
    s.format().unwrap();

    // Reference run. Each command starts from a fresh mount, exactly as the
    // sweep will, and we remember the flash before it and the model.
    let mut snaps = Vec::with_capacity(ops);
    let mut models = Vec::with_capacity(ops + 1);
    let mut counts = Vec::with_capacity(ops);
    let mut erases_at = Vec::with_capacity(ops);
    let mut victims = 0;
    let mut model = Model::new();
    let mut gc_runs = 0u64;
    for (i, cmd) in cmds.iter().enumerate() {
        s.reboot();
        mount(&mut s, lazy, i);
        snaps.push(s.flash.0.snapshot());
        models.push(model.clone());
        let before = s.flash.0.mutations();
        let logged = s.flash.0.erase_mutations().len();
        let erases = s.flash.0.counters().erases;
        let (want, after) = cmd.expect(&model);
        let got = cmd.run(&mut s);
        if got != Err(Error::NoSpace) {
            assert_eq!(got, want, "reference run: {cmd:?}");
            model = after;
        }
        gc_runs += s.flash.0.counters().erases - erases;
        counts.push(s.flash.0.mutations() - before);
        let snap = snaps.last().unwrap().image();
        let mut at = Vec::new();
        for &(m, r) in &s.flash.0.erase_mutations()[logged..] {
            at.push(m - before);
            victims += value_then_tombstone(&snap[r * region..][..region], unit) as u64;
        }
        erases_at.push(at);
    }
    models.push(model);
    let total: u64 = counts.iter().sum();
    println!(
        "  {count} x {region} B, unit {unit}: {ops} ops, {total} programs+erases, {gc_runs} erases"
    );
    assert!(gc_runs >= 20, "the workload must make GC run many times");

    let probe = 0x5EED_0000_0000_0001u64;
    let mut result = Sweep {
        cuts: 0,
        ok: 0,
        erase_cuts: 0,
        victims,
    };
    let mut failures = 0;
    for (i, cmd) in cmds.iter().enumerate() {
        for j in 0..counts[i] {
            let mut tears = TEARS.to_vec();
            if erases_at[i].contains(&j) {
                tears.extend(erase_tears(result.cuts));
                result.erase_cuts += 7;
            }
            for tear in tears {
                result.cuts += 1;
                s.flash.0.restore(&snaps[i]);
                s.reboot();
                mount(&mut s, lazy, i);
                s.flash.0.cut_power_after(j, tear);
                let r = cmd.run(&mut s);
                s.flash.0.power_on();
                let verdict = (|| -> Result<(), String> {
                    // An error means old or new; Ok means the write was
                    // durable before the cut hit its follow-up compaction.
                    let must_be_new = match r {
                        Err(Error::Flash(_)) => false,
                        Ok(()) => true,
                        other => return Err(format!("interrupted op returned {other:?}")),
                    };
                    s.reboot();
                    #[cfg(feature = "lazy")]
                    if lazy {
                        s.mount_lazy().map_err(|e| format!("lazy mount: {e:?}"))?;
                    } else {
                        s.mount().map_err(|e| format!("mount: {e:?}"))?;
                    }
                    #[cfg(not(feature = "lazy"))]
                    s.mount().map_err(|e| format!("mount: {e:?}"))?;
                    let (old, new) = (&models[i], &models[i + 1]);
                    let inflight = cmd.key();
                    let mut keys: Vec<u64> = old.keys().chain(new.keys()).copied().collect();
                    keys.sort();
                    keys.dedup();
                    let mut listed = Vec::new();
                    s.for_each_key(|k, _| listed.push(k))
                        .map_err(|e| format!("iterate: {e:?}"))?;
                    for k in keys {
                        #[cfg(feature = "lazy")]
                        if lazy {
                            s.warm(2).map_err(|e| format!("warm: {e:?}"))?;
                        }
                        let got = read(&mut s, k);
                        let is_new = Some(k) == inflight && got.as_ref() == new.get(&k);
                        let ok = if must_be_new && Some(k) == inflight {
                            is_new
                        } else {
                            got.as_ref() == old.get(&k) || is_new
                        };
                        if !ok {
                            return Err(format!(
                                "key {k:#x}: got {:?} bytes",
                                got.map(|v| v.len())
                            ));
                        }
                        if got.is_some() != listed.contains(&k) {
                            return Err(format!("key {k:#x}: iteration disagrees"));
                        }
                    }
                    if listed
                        .iter()
                        .any(|k| !old.contains_key(k) && !new.contains_key(k))
                    {
                        return Err("iteration lists a key that never existed".into());
                    }
                    // The store keeps working. A full store answers NoSpace
                    // (a write runs at most one compaction step); a full
                    // GC then makes room if anything is reclaimable.
                    let mut r = s.set(probe, b"after the cut");
                    if r == Err(Error::NoSpace) && s.stats().reclaimable != Some(0) {
                        s.gc_full().map_err(|e| format!("gc: {e:?}"))?;
                        r = s.set(probe, b"after the cut");
                    }
                    r.map_err(|e| format!("probe set: {e:?}"))?;
                    if read(&mut s, probe).as_deref() != Some(&b"after the cut"[..]) {
                        return Err("probe get".into());
                    }
                    Ok(())
                })();
                match verdict {
                    Ok(()) => result.ok += 1,
                    Err(why) => {
                        failures += 1;
                        if failures <= 10 {
                            println!(
                                "  FAIL op {i} {} cut after {j} ops, {tear:?}: {why}",
                                cmd.describe()
                            );
                        }
                    }
                }
            }
        }
    }
    result
}

#[cfg(not(feature = "mutation-no-rollback"))]
#[test]
fn power_cut_sweep() {
    let soak = std::env::var_os("TICKV_SOAK").is_some();
    let mut configs = vec![
        // Every configuration is required (each is asserted on its own).
        // 16 x 4 KiB, >= 2000 operations, GC many times.
        (1, 4096, 16, 4, 2000, 100, 260),
        // Odd program units, small regions: more region turnover per op.
        // The 12 x 512 B one is what notices a missing mount rollback (see
        // `the_sweep_catches_a_missing_rollback`); the big one does not.
        (2, 1024, 8, 32, 500, 24, 260),
        (3, 512, 12, 1, 500, 20, 260),
        // OpenTitan Earl Grey's flash: 2 KiB pages, 8-byte ECC words
        // programmed once (chips/lowrisc's flash_ctrl).
        (4, 2048, 8, 8, 500, 20, 260),
    ];
    if soak {
        for seed in 10..16 {
            configs.push((seed, 4096, 16, 8, 3000, 120, 300));
            configs.push((seed + 100, 2048, 6, 16, 1500, 20, 400));
            configs.push((seed + 200, 1024, 3, 4, 1500, 6, 200));
        }
    }
    let (mut cuts, mut ok, mut erase_cuts, mut victims) = (0, 0, 0, 0);
    for (seed, region, count, unit, ops, keys, max_len) in configs {
        let r = sweep(seed, region, count, unit, ops, keys, max_len);
        assert_eq!(
            r.ok, r.cuts,
            "configuration {seed} ({count} x {region} B, unit {unit}): {} of {} cuts recovered",
            r.ok, r.cuts
        );
        assert!(
            r.victims > 0,
            "configuration {seed}: no erased region held a value and its tombstone"
        );
        cuts += r.cuts;
        ok += r.ok;
        erase_cuts += r.erase_cuts;
        victims += r.victims;
    }
    println!(
        "power-cut sweep: {cuts} cuts, {ok} ok ({erase_cuts} of them weak or random erase tears; \
         {victims} erased regions held a value and its tombstone)"
    );
    assert_eq!(ok, cuts);
}

/// The sweep with a partial index and per-region key filters (feature
/// `filter`): lookups of unindexed keys, compaction's liveness checks and
/// secure delete then skip the regions whose filter rules the key out, and
/// mount rebuilds the filters after every cut.
#[cfg(all(feature = "filter", not(feature = "mutation-no-rollback")))]
#[test]
fn power_cut_sweep_with_key_filters() {
    let (mut cuts, mut ok) = (0, 0);
    // (seed, region, count, unit, ops, keys, max_len, index, filter bytes
    // per region)
    for (seed, region, count, unit, ops, keys, max_len, index, filter) in [
        (21, 512, 12, 1, 500, 20, 260, 4, 8),
        (22, 2048, 8, 8, 500, 40, 200, 8, 16),
    ] {
        let g = geometry(region, count, unit);
        let s = filtered_store(g, index, filter, 64, sim(g));
        let r = sweep_on(seed, s, ops, keys, max_len, false);
        assert_eq!(r.ok, r.cuts, "configuration {seed}");
        cuts += r.cuts;
        ok += r.ok;
    }
    println!("power-cut sweep with key filters: {cuts} cuts, {ok} ok");
}

/// The sweep with every mount lazy: each command runs while the index is
/// still being built (a few records of it done), and each cut is checked
/// by reads interleaved with index-building steps. The write that needs a
/// compaction finishes the index first; the others run beside it.
#[cfg(all(feature = "lazy", not(feature = "mutation-no-rollback")))]
#[test]
fn power_cut_sweep_lazy_mount() {
    let (mut cuts, mut ok) = (0, 0);
    for (seed, region, count, unit, ops, keys, max_len, index) in [
        (31, 1024, 8, 4, 400, 24, 260, 256),
        (32, 512, 12, 1, 400, 20, 260, 8),
        (33, 2048, 8, 8, 300, 40, 200, 0),
    ] {
        let g = geometry(region, count, unit);
        let r = sweep_on(seed, store(g, index, 64, sim(g)), ops, keys, max_len, true);
        assert_eq!(r.ok, r.cuts, "configuration {seed}");
        cuts += r.cuts;
        ok += r.ok;
    }
    // With key filters and a partial index: the filter of the region being
    // indexed is rebuilt while lookups go on.
    #[cfg(feature = "filter")]
    {
        let g = geometry(512, 12, 1);
        let s = filtered_store(g, 4, 8, 64, sim(g));
        let r = sweep_on(34, s, 400, 20, 260, true);
        assert_eq!(r.ok, r.cuts, "configuration 34");
        cuts += r.cuts;
        ok += r.ok;
    }
    println!("power-cut sweep with lazy mounts: {cuts} cuts, {ok} ok");
}

/// The mutation test: built with the engine's `mutation-no-rollback`
/// feature (`make test` does), mount no longer rolls back an interrupted
/// compaction, and the sweep's small configuration must notice.
#[cfg(feature = "mutation-no-rollback")]
#[test]
fn the_sweep_catches_a_missing_rollback() {
    let r = sweep(3, 512, 12, 1, 500, 20, 260);
    println!(
        "without the rollback: {} of {} cuts recovered",
        r.ok, r.cuts
    );
    assert!(
        r.ok < r.cuts,
        "the sweep did not notice that mount's rollback is disabled"
    );
}
