//! Differential tests against upstream TicKV 2.0.0: images written by
//! upstream's own code, read back by `tickv::v1`, by upstream's `get_key`
//! and by a model of what was written.

mod common;

use common::*;
use tickv::v1::{self, Damage, Item, Object};
use upstream_tickv::ErrorCode;

/// Tallies of what upstream answered during a workload.
#[derive(Debug, Default)]
struct Tally {
    appended: usize,
    already_exists: usize,
    flash_full: usize,
    /// Appends that upstream's off-by-three room check accepted and then
    /// failed (nothing written, read buffer lost).
    object_too_large: usize,
    /// Appends refused although upstream's own get cannot find the key.
    stuck_appends: usize,
    /// Appends that succeeded while an older copy was still live.
    duplicate_appends: usize,
    deleted: usize,
    zeroised: usize,
    /// Invalidate or zeroise of a live key answered "not found".
    lost_deletes: usize,
    /// Zeroise of an object that ends within 11 bytes of its region's end:
    /// upstream zeroes 11 bytes too many in its buffer, fails with
    /// RegionFull and writes nothing.
    zeroise_region_full: usize,
    gc_freed: usize,
    checks: usize,
    seen: Seen,
}

/// A random workload of appends, invalidates, zeroises and garbage
/// collections on upstream, checked against our reader every few steps.
fn workload<const S: usize>(
    regions: usize,
    seed: u64,
    steps: usize,
) -> (Upstream<S>, Model, Tally) {
    let mut rng = Rng::new(seed);
    let mut up = Upstream::<S>::new(regions);
    let mut model = Model::default();
    let mut t = Tally::default();
    // A pool of keys, half of them crowded into two home regions so that
    // regions overflow into their neighbours.
    let keys: Vec<u64> = (0..40)
        .map(|i| match i % 4 {
            0 => rng.hash_at(0, regions),
            1 => rng.hash_at(regions - 1, regions),
            _ => rng.hash(),
        })
        .collect();
    let max_payload = S / 12;
    for step in 0..steps {
        let k = keys[rng.index(keys.len())];
        match rng.index(100) {
            0..=54 => {
                let len = rng.index(max_payload + 1);
                let payload = rng.bytes(len);
                let value = if rng.index(5) == 0 {
                    payload
                } else {
                    owned(rng.next() as u32, &payload)
                };
                match up.append(k, &value) {
                    Ok(()) => {
                        t.appended += 1;
                        if model.push(k, &value) {
                            t.duplicate_appends += 1;
                        }
                    }
                    Err(ErrorCode::KeyAlreadyExists) => {
                        assert!(model.has(k), "exists but never written: {k:#x}");
                        t.already_exists += 1;
                        if up.get(k) == Err(ErrorCode::KeyNotFound) {
                            t.stuck_appends += 1;
                        }
                    }
                    Err(ErrorCode::FlashFull) => t.flash_full += 1,
                    Err(ErrorCode::ObjectTooLarge) => t.object_too_large += 1,
                    Err(e) => panic!("append: {e:?}"),
                }
            }
            55..=74 => match up.invalidate(k) {
                Ok(()) => {
                    model.pop(k);
                    t.deleted += 1;
                }
                Err(ErrorCode::KeyNotFound) => {
                    if model.has(k) {
                        t.lost_deletes += 1;
                    }
                }
                Err(e) => panic!("invalidate: {e:?}"),
            },
            75..=82 => match up.zeroise(k) {
                Ok(()) => {
                    model.pop(k);
                    t.zeroised += 1;
                }
                Err(ErrorCode::KeyNotFound) => {
                    if model.has(k) {
                        t.lost_deletes += 1;
                    }
                }
                Err(ErrorCode::RegionFull) => {
                    assert!(model.has(k));
                    t.zeroise_region_full += 1;
                }
                Err(e) => panic!("zeroise: {e:?}"),
            },
            83..=89 => t.gc_freed += up.gc().expect("gc"),
            _ => {
                // One lookup, compared three ways.
                let image = up.image();
                let ours = v1::find(&image, S, k).map(|o| o.value.to_vec());
                let want = model.live().get(&k).cloned();
                assert_eq!(ours, want, "find {k:#x}");
                match up.get(k) {
                    Ok(v) => assert_eq!(Some(v), want),
                    Err(ErrorCode::KeyNotFound) => {}
                    Err(e) => panic!("get: {e:?}"),
                }
            }
        }
        if step % 20 == 19 || step + 1 == steps {
            t.seen += check(&mut up, &model);
            t.checks += 1;
        }
    }
    assert_eq!(up.raised_bits(), 0, "upstream never needs a bit raised");
    (up, model, t)
}

fn run_geometry<const S: usize>(regions: usize, seeds: std::ops::Range<u64>, steps: usize) {
    let mut total = Tally::default();
    for seed in seeds {
        let (up, _, t) = workload::<S>(regions, seed, steps);
        total.appended += t.appended;
        total.already_exists += t.already_exists;
        total.flash_full += t.flash_full;
        total.object_too_large += t.object_too_large;
        total.stuck_appends += t.stuck_appends;
        total.duplicate_appends += t.duplicate_appends;
        total.deleted += t.deleted;
        total.zeroised += t.zeroised;
        total.lost_deletes += t.lost_deletes;
        total.zeroise_region_full += t.zeroise_region_full;
        total.gc_freed += t.gc_freed;
        total.checks += t.checks;
        total.seen += t.seen;
        // Upstream's in-place deletes program bytes a second time.
        assert!(t.deleted + t.zeroised == 0 || up.word_rewrites() > 0);
    }
    eprintln!("{regions} x {S}: {total:#?}");
    // The workloads must reach the interesting states.
    assert!(total.appended > 100 && total.deleted > 20 && total.zeroised > 5);
    assert!(total.flash_full + total.already_exists > 10);
    assert!(total.seen.deleted > 0 && total.seen.zeroised > 0);
}

#[test]
fn random_workloads_3_x_4096() {
    run_geometry::<4096>(3, 1..5, 1500);
}

#[test]
fn random_workloads_8_x_2048() {
    run_geometry::<2048>(8, 10..14, 1500);
}

#[test]
fn random_workloads_4_x_1024() {
    run_geometry::<1024>(4, 20..26, 1500);
}

#[test]
fn overflow_states_are_reached_somewhere() {
    // Across small geometries the workloads hit upstream's stuck keys,
    // duplicates and its off-by-three append; the test asserts that the
    // reader handled them (inside `check`) and that they happened at all.
    let mut stuck = 0;
    let mut dups = 0;
    let mut lost = 0;
    for seed in 100..116 {
        let (_, _, t) = workload::<1024>(4, seed, 800);
        stuck += t.stuck_appends;
        dups += t.duplicate_appends;
        lost += t.seen.upstream_lost;
    }
    eprintln!("stuck appends {stuck}, duplicate appends {dups}, upstream-lost reads {lost}");
    assert!(stuck > 0, "no stuck key reached");
    assert!(lost > 0, "no key unreadable by upstream");
}

/// Upstream's stuck key (doc/tickv-v1.md): 47-byte objects fill a region
/// after 87 appends; the 88th key overflows into the next region, where
/// upstream's get and invalidate never look but its append does.
#[test]
fn stuck_key_is_found_by_our_reader() {
    const S: usize = 4096;
    let mut rng = Rng::new(47);
    let mut up = Upstream::<S>::new(3);
    // Home region 0 (the main key lives in region 1).
    let keys: Vec<u64> = (0..90).map(|_| rng.hash_at(0, 3)).collect();
    let value = |i: usize| owned(1000 + i as u32, &[i as u8; 23]);
    assert_eq!(value(0).len() + v1::MIN_OBJECT, 47);
    let mut model = Model::default();
    for (i, &k) in keys.iter().enumerate() {
        up.append(k, &value(i)).expect("append");
        model.push(k, &value(i));
    }
    let image = up.image();
    let objs = objects(&image, S);
    let in_region = |r: usize| objs.iter().filter(|o| o.region == r).count();
    assert_eq!(in_region(0), 87);
    assert_eq!(objs.iter().rfind(|o| o.region == 0).unwrap().end(), 87 * 47);
    // Keys 87.. overflowed into region 1.
    for (i, &k) in keys.iter().enumerate().skip(87) {
        let o = v1::find(&image, S, k).expect("ours finds the overflowed key");
        assert_eq!(o.region, 1);
        assert_eq!(o.value, &value(i)[..]);
        assert_eq!(o.owner.unwrap().write_id, 1000 + i as u32);
        assert_eq!(up.get(k), Err(ErrorCode::KeyNotFound), "upstream is stuck");
        assert_eq!(up.append(k, b"again"), Err(ErrorCode::KeyAlreadyExists));
        assert_eq!(up.invalidate(k), Err(ErrorCode::KeyNotFound));
        assert_eq!(up.zeroise(k), Err(ErrorCode::KeyNotFound));
    }
    let seen = check(&mut up, &model);
    assert_eq!(seen.upstream_lost, 3);

    // Free region 0 (every object deleted, then GC erases it): the stuck
    // key can be appended again and now has two live copies.
    for &k in &keys[..87] {
        up.invalidate(k).expect("invalidate");
        model.pop(k);
    }
    assert_eq!(up.gc(), Ok(S));
    let stuck = keys[87];
    up.append(stuck, b"newer copy")
        .expect("append lands in region 0");
    assert!(model.push(stuck, b"newer copy"));
    assert_eq!(up.get(stuck).as_deref(), Ok(&b"newer copy"[..]));
    let image = up.image();
    let w = v1::find(&image, S, stuck).unwrap();
    assert_eq!((w.region, w.value), (0, &b"newer copy"[..]));
    let seen = check(&mut up, &model);
    assert_eq!(seen.duplicates, 1);
    assert_eq!(seen.upstream_lost, 0);

    // Import resolves the duplicate the same way.
    let mut v2 = fresh_v2(4096, 8);
    let report = v1::import(&image, S, &mut v2).expect("import");
    assert_eq!(report.imported, 3);
    assert_eq!(report.duplicates, 1);
    // The deleted objects were erased with region 0.
    assert_eq!(report.deleted, 0);
    let got = v2_contents(&mut v2);
    assert_eq!(got, model.live());
}

/// Upstream's `append_key` checks for room with `offset + len - 4 < S`, so
/// an object that would end 1..=3 bytes past its region passes the check;
/// writing its CRC then fails with `ObjectTooLarge` and nothing is written,
/// but the read buffer is gone and the next call on that instance panics.
#[test]
fn upstream_off_by_three_append_writes_nothing() {
    const S: usize = 1024;
    let mut rng = Rng::new(3);
    let mut up = Upstream::<S>::new(4);
    let k1 = rng.hash_at(2, 4);
    let k2 = rng.hash_at(2, 4);
    // Region 2: one object of 1000 bytes; 24 left.
    up.append(k1, &vec![1; 1000 - 15]).unwrap();
    // 26 bytes of object: 1000 + 26 - 4 < 1024 passes, but 1026 > 1024.
    let before = up.image();
    assert_eq!(up.append(k2, &[2; 11]), Err(ErrorCode::ObjectTooLarge));
    assert_eq!(up.image(), before, "nothing written");
    assert!(v1::scan(&before, S).all(|i| matches!(i, Item::Object(_))));

    // On one instance the next operation panics.
    let flash = up.flash.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut buf = [0u8; S];
        let kv = upstream_tickv::TicKV::<UpFlash, S>::new(flash, &mut buf, 4 * S);
        let _ = kv.append_key(k2, &[2; 11]);
        let _ = kv.get_key(k1, &mut [0u8; 1024]);
    }));
    assert!(r.is_err(), "upstream lost its read buffer");
}

/// A value byte flipped in every live object: upstream answers
/// `InvalidCheckSum`, we report `crc_ok == false` and never return it.
#[test]
fn corrupted_values_match_upstream_checksum_errors() {
    const S: usize = 2048;
    let (up, model, _) = workload::<S>(8, 77, 600);
    let image = up.image();
    let live = model.live();
    let mut corrupted = image.clone();
    let mut targets = Vec::new();
    for o in objects(&image, S) {
        if o.is_live() && !o.value.is_empty() {
            let w = v1::find(&image, S, o.hash).unwrap();
            if (w.region, w.offset) == (o.region, o.offset) {
                corrupted[o.region * S + o.offset + v1::OBJECT_HEADER] ^= 0x10;
                targets.push(o.hash);
            }
        }
    }
    assert!(targets.len() > 5);
    let mut up2 = Upstream::<S>::from_image(&corrupted);
    for &k in &targets {
        let o = v1::scan(&corrupted, S)
            .find_map(|i| match i {
                Item::Object(o) if o.hash == k && o.valid && !o.crc_ok => Some(o),
                _ => None,
            })
            .expect("reported corrupt");
        assert_eq!(o.hash, k);
        // Ours skips the corrupt copy (an older live copy may show through).
        if let Some(w) = v1::find(&corrupted, S, k) {
            assert_ne!((w.region, w.offset), (o.region, o.offset));
            assert_ne!(Some(&w.value.to_vec()), live.get(&k));
        }
        match up2.get(k) {
            Err(ErrorCode::InvalidCheckSum) | Err(ErrorCode::KeyNotFound) => {}
            other => panic!("upstream read a corrupt value: {other:?}"),
        }
    }
}

fn region_items(image: &[u8], region_size: usize, region: usize) -> Vec<Item<'_>> {
    v1::scan_region(image, region_size, region).collect()
}

/// Single-byte corruption anywhere in an upstream image: never a panic;
/// the damage is reported as `Damage` or `crc_ok == false` (or, for a
/// flipped VALID bit, as the other validity with an intact CRC; or, for a
/// version byte turned into 0xFF, as the end of the region, which version
/// 1 cannot tell from free space). Other regions read exactly as before.
#[test]
fn single_byte_corruption_is_reported() {
    const S: usize = 2048;
    let (up, _, _) = workload::<S>(8, 5, 700);
    let image = up.image();
    let objs = objects(&image, S);
    let mut rng = Rng::new(99);
    let mut kinds = [0usize; 6];
    for trial in 0..4000 {
        // Mostly inside objects; sometimes anywhere, at the first free byte
        // of a region, exactly the VALID bit, or a version byte made 0xFF.
        let mut mask = (1 + rng.index(255)) as u8;
        let o = &objs[rng.index(objs.len())];
        let pos = match trial % 8 {
            0 => rng.index(image.len()),
            1 => {
                let r = rng.index(8);
                let free = objs
                    .iter()
                    .filter(|o| o.region == r)
                    .map(|o| o.end())
                    .max()
                    .unwrap_or(0);
                r * S + free.min(S - 1)
            }
            2 if trial % 16 == 2 => {
                mask = 0x80;
                o.region * S + o.offset + 1
            }
            2 => {
                // The version byte turned into an erased-looking 0xFF.
                mask = 0xFE;
                o.region * S + o.offset
            }
            // Half of the rest in the first 16 bytes, where the header is.
            t => {
                let span = if t % 2 == 0 {
                    o.total_len.min(16)
                } else {
                    o.total_len
                };
                o.region * S + o.offset + rng.index(span)
            }
        };
        let mut bad = image.clone();
        bad[pos] ^= mask;
        let region = pos / S;
        let rel = pos % S;
        for r in 0..8 {
            if r != region {
                assert_eq!(region_items(&image, S, r), region_items(&bad, S, r));
            }
        }
        let before = region_items(&image, S, region);
        let after = region_items(&bad, S, region);
        let hit = before.iter().position(|i| match i {
            Item::Object(o) => o.offset <= rel && rel < o.end(),
            Item::Damage(_) => false,
        });
        let Some(idx) = hit else {
            // Outside every object: only the first free byte matters.
            let free = before.last().map_or(0, |i| match i {
                Item::Object(o) => o.end(),
                Item::Damage(d) => d.offset(),
            });
            if rel == free {
                assert_eq!(&after[..before.len()], &before[..]);
                assert!(
                    matches!(after[before.len()], Item::Damage(_)),
                    "{:?}",
                    after
                );
                assert_eq!(after.len(), before.len() + 1);
                kinds[0] += 1;
            } else {
                assert_eq!(after, before);
            }
            continue;
        };
        assert_eq!(&after[..idx], &before[..idx], "objects before the hit");
        let Item::Object(orig) = before[idx] else {
            unreachable!()
        };
        let at = rel - orig.offset;
        let new = bad[pos];
        match (at, after.get(idx)) {
            (0, None) => {
                assert_eq!(new, 0xFF, "only an erased-looking version ends quietly");
                kinds[1] += 1;
            }
            (0, Some(i)) => {
                assert_eq!(
                    *i,
                    Item::Damage(Damage::BadVersion {
                        region,
                        offset: orig.offset,
                        byte: new
                    })
                );
                kinds[2] += 1;
            }
            (1, Some(Item::Object(o))) if mask == 0x80 => {
                assert_eq!(o.valid, !orig.valid);
                assert_eq!(o.crc_ok, orig.crc_ok, "a toggled VALID bit keeps the CRC");
                assert_eq!(&after[idx + 1..], &before[idx + 1..]);
                kinds[3] += 1;
            }
            (1 | 2, Some(Item::Damage(d))) => {
                assert_eq!(d.offset(), orig.offset);
                kinds[4] += 1;
            }
            (_, Some(Item::Object(o))) => {
                assert_eq!(o.offset, orig.offset);
                assert!(!o.crc_ok, "flip at +{at} of {orig:?} went unnoticed: {o:?}");
                assert!(!o.is_live());
                if at > 2 {
                    assert_eq!(&after[idx + 1..], &before[idx + 1..]);
                }
                kinds[5] += 1;
            }
            other => panic!("flip at +{at}: {other:?}"),
        }
        // Whatever else the bytes now say, no other key's value changes.
        for i in &after {
            if let Item::Object(o) = i {
                if o.is_live() {
                    let same = before.iter().any(
                        |b| matches!(b, Item::Object(p) if p.hash == o.hash && p.value == o.value),
                    );
                    assert!(same, "a live object appeared from corruption: {o:?}");
                }
            }
        }
    }
    eprintln!("corruption outcomes [free byte, quiet end, bad version, valid toggled, damage, crc]: {kinds:?}");
    assert!(kinds.iter().all(|&n| n > 0), "{kinds:?}");
}

/// Random garbage over whole stretches of an upstream image never panics,
/// and every object the reader still calls live is one upstream wrote.
#[test]
fn garbage_never_panics() {
    const S: usize = 1024;
    let (up, _, _) = workload::<S>(4, 8, 400);
    let image = up.image();
    // Garbage may set a VALID bit again, so any object once written counts.
    let written: Vec<(u64, Vec<u8>)> = objects(&image, S)
        .iter()
        .map(|o| (o.hash, o.value.to_vec()))
        .collect();
    let mut rng = Rng::new(123);
    for round in 0..3000 {
        let mut bad = image.clone();
        let start = rng.index(bad.len());
        let len = 1 + rng.index(64);
        for b in bad.iter_mut().skip(start).take(len) {
            *b = rng.next() as u8;
        }
        let mut live: Vec<Object> = Vec::new();
        for item in v1::scan(&bad, S) {
            if let Item::Object(o) = item {
                assert!(o.end() <= S);
                if o.is_live() {
                    live.push(o);
                }
            }
        }
        for o in live {
            assert!(
                written
                    .iter()
                    .any(|(k, v)| *k == o.hash && v[..] == *o.value),
                "{o:?}"
            );
        }
        let _ = v1::is_v1_store(&bad, S);
        if round % 10 == 0 {
            let mut v2 = fresh_v2(1024, 8);
            let _ = v1::import(&bad, S, &mut v2);
        }
    }
}

#[test]
fn tock_hash_matches_the_spec_vector() {
    assert_eq!(tock_hash(b"mykey"), 0x219e_0c95_28eb_4392);
}
