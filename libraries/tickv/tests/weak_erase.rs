//! Interrupted erases that leave a region weakly erased (each programmed
//! bit independently back to 1, the region header intact or not) or full
//! of random bytes never bring a deleted key back, and never lose a live
//! one.
//!
//! The case that matters: the compaction victim holds both a key's old
//! value and its tombstone. Compaction copies neither (the value is dead),
//! and if the victim's erase is cut so that the tombstone fails its CRC
//! while the value survives, the value must not count after the next
//! mount.

mod common;
use common::*;
use flashsim::Tear;
use tickv::Error;

const DELETED: u64 = 0xDE1E_7ED0_0000_0001;
const LIVE: u64 = 0x0A11_7E00_0000_0002;

/// Every way the victim's erase is torn: weak with a few or many bits
/// flipping back, header kept (12 bytes) or not, and random bytes.
fn tears() -> Vec<Tear> {
    let mut t = Vec::new();
    for seed in 0..150u64 {
        for ones in [1, 3, 16, 128] {
            for keep in [0, 12] {
                t.push(Tear::Weak { seed, keep, ones });
            }
        }
        t.push(Tear::Random(seed));
    }
    t
}

/// Cuts power inside the victim erase of a compaction step whose victim
/// holds `DELETED`'s old value and tombstone, and checks the store after
/// a remount, for every tear; then again with the cut inside the erase
/// that the recovery itself performs next (chained cuts).
fn victim_erase_cuts(index_slots: usize) -> (usize, usize) {
    let g = geometry(512, 4, 4);
    let mut s = store(g, index_slots, 64, sim(g));
    s.format().unwrap();
    s.set(DELETED, &[0x11; 40]).unwrap();
    s.set(LIVE, &[0x22; 24]).unwrap();
    s.delete(DELETED).unwrap();
    let snap = s.flash.0.snapshot();
    let m0 = s.flash.0.mutations();
    s.reboot();
    s.mount().unwrap();
    assert!(s.gc_step().unwrap() > 0, "the step reclaims the old value");
    let erase = s
        .flash
        .0
        .erase_mutations()
        .last()
        .expect("the step erases")
        .0
        - m0;

    let (mut cuts, mut bad, mut chained_cuts) = (0, 0, 0);
    for tear in tears() {
        cuts += 1;
        s.flash.0.restore(&snap);
        s.reboot();
        s.mount().unwrap();
        s.flash.0.cut_power_after(erase, tear);
        assert!(matches!(s.gc_step(), Err(Error::Flash(_))));
        s.flash.0.power_on();
        let verdict = (|| -> Result<(), String> {
            let chained = s.flash.0.snapshot();
            s.reboot();
            s.mount().map_err(|e| format!("mount: {e:?}"))?;
            check(&mut s)?;
            // What the recovery erases next: mount, a write, GC steps.
            s.flash.0.restore(&chained);
            let (m, before) = (s.flash.0.mutations(), s.flash.0.erase_mutations().len());
            s.reboot();
            recover(&mut s).map_err(|e| format!("recovery: {e:?}"))?;
            check(&mut s)?;
            if let Some(&(e, _)) = s.flash.0.erase_mutations()[before..].first() {
                // A second cut, inside the first erase of the recovery.
                chained_cuts += 1;
                s.flash.0.restore(&chained);
                s.reboot();
                s.flash.0.cut_power_after(e - m, tear);
                let _ = recover(&mut s);
                s.flash.0.power_on();
                s.reboot();
                s.mount()
                    .map_err(|e| format!("mount after a chained cut: {e:?}"))?;
                check(&mut s)?;
            }
            Ok(())
        })();
        if let Err(why) = verdict {
            bad += 1;
            if bad <= 5 {
                println!("  {tear:?}: {why}");
            }
        }
    }
    assert!(chained_cuts > cuts / 2, "only {chained_cuts} chained cuts");
    (cuts, bad)
}

/// Mount, a write and GC steps: what a store does after a reset.
fn recover(s: &mut tickv::blocking::Store<Sim>) -> Result<(), Error> {
    s.mount()?;
    s.set(0x5EED, b"probe")?;
    for _ in 0..4 {
        s.gc_step()?;
    }
    Ok(())
}
fn check(s: &mut tickv::blocking::Store<Sim>) -> Result<(), String> {
    if let Some(v) = read(s, DELETED) {
        return Err(format!("the deleted key is back ({} bytes)", v.len()));
    }
    if read(s, LIVE).as_deref() != Some(&[0x22; 24][..]) {
        return Err("the live key is lost".into());
    }
    Ok(())
}

#[test]
fn an_interrupted_erase_never_resurrects_a_deleted_key() {
    for (name, slots) in [("index", 16), ("no index", 0)] {
        let (cuts, bad) = victim_erase_cuts(slots);
        println!(
            "weak and random erase tears, {name}: {cuts} cuts, {} ok",
            cuts - bad
        );
        assert_eq!(bad, 0, "{name}: {bad} of {cuts} cuts went wrong");
    }
}
