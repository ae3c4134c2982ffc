//! A flash error at every flash operation of every kind of write: exactly
//! one error result naming the failed operation, the engine idle, the store
//! consistent before and after a remount, and the next write succeeding.

mod common;
use common::*;
use tickv::{Error, FlashOp};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Read,
    Program,
    Erase,
}

#[test]
fn an_error_at_every_flash_operation_is_reported_and_survived() {
    let g = geometry(1024, 6, 4);
    let mut rng = Rng::new(11);
    let cmds = workload(&mut rng, 400, 12, 90, true);
    let mut s = store(g, 64, 64, sim(g));
    s.format().unwrap();
    let mut model = Model::new();
    let (mut cases, mut by_kind) = (0u64, [0u64; 3]);
    for (i, cmd) in cmds.iter().enumerate() {
        let (want, after) = cmd.expect(&model);
        let snap = s.flash.0.snapshot();
        // Dry run: how many operations of each kind does this command do?
        s.reboot();
        s.mount().unwrap();
        let c0 = s.flash.0.counters();
        let got = cmd.run(&mut s);
        let c = s.flash.0.counters().since(&c0);
        let ok_result = got;
        for (kind, n) in [
            (Kind::Read, c.reads),
            (Kind::Program, c.programs),
            (Kind::Erase, c.erases),
        ] {
            for nth in 0..n {
                cases += 1;
                by_kind[kind as usize] += 1;
                s.flash.0.restore(&snap);
                s.reboot();
                s.mount().unwrap();
                match kind {
                    Kind::Read => s.flash.0.fail_nth_read(nth),
                    Kind::Program => s.flash.0.fail_nth_program(nth),
                    Kind::Erase => s.flash.0.fail_nth_erase(nth),
                }
                let r = cmd.run(&mut s);
                let expect = match kind {
                    Kind::Read => FlashOp::Read,
                    Kind::Program => FlashOp::Program,
                    Kind::Erase => FlashOp::Erase,
                };
                assert_eq!(
                    r,
                    Err(Error::Flash(expect)),
                    "op {i} {cmd:?} {kind:?} #{nth}"
                );
                assert!(!s.kv.busy());
                s.flash.0.clear_faults();
                // Consistent right away, without a remount.
                check_old_or_new(&mut s, &model, &after, cmd.key(), i);
                // The store keeps accepting writes, and what it acknowledged
                // after the fault survives a remount.
                s.set(0xABCD, b"next").unwrap();
                s.reboot();
                s.mount().unwrap();
                check_old_or_new(&mut s, &model, &after, cmd.key(), i);
                assert_eq!(
                    read(&mut s, 0xABCD).unwrap(),
                    b"next",
                    "op {i} {kind:?} #{nth}"
                );
            }
        }
        // Continue the workload from the fault-free outcome.
        s.flash.0.restore(&snap);
        s.reboot();
        s.mount().unwrap();
        assert_eq!(cmd.run(&mut s), ok_result);
        if ok_result != Err(Error::NoSpace) {
            assert_eq!(ok_result, want, "op {i} {cmd:?}");
            model = after;
        }
    }
    println!(
        "flash faults: {cases} injected ({} reads, {} programs, {} erases), all reported and survived",
        by_kind[0], by_kind[1], by_kind[2]
    );
    assert!(by_kind.iter().all(|&n| n > 20));
}

/// Every key holds its value from before the command, or (only the
/// command's own key) from after it.
fn check_old_or_new(
    s: &mut tickv::blocking::Store<Sim>,
    old: &Model,
    new: &Model,
    inflight: Option<u64>,
    i: usize,
) {
    let mut keys: Vec<u64> = old.keys().chain(new.keys()).copied().collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let got = read(s, k);
        if got.as_ref() == old.get(&k) {
            continue;
        }
        assert!(
            Some(k) == inflight && got.as_ref() == new.get(&k),
            "op {i}: key {k:#x} is neither old nor new"
        );
    }
}

#[test]
fn writes_after_a_failed_compaction_erase_survive_a_remount() {
    // A compaction that copied into the last free region and then failed to
    // erase its victim leaves no region free: the head holds copies that
    // mount rolls back. Writes acknowledged after that must not land there.
    let g = geometry(1024, 3, 4);
    let mut s = store(g, 64, 64, sim(g));
    s.format().unwrap();
    let mut model = Model::new();
    // 13 live 76-byte records fill region 0 (1008 usable bytes).
    for k in 0..13u64 {
        let v = vec![k as u8; 60];
        s.set(k, &v).unwrap();
        model.insert(k, v);
    }
    // A 216-byte record opens region 1 (nothing is dead yet, so nothing is
    // compacted). Overwriting key 0 then makes garbage, and a compaction
    // step must move 12 live records (912 bytes) out of region 0 while
    // region 1 has 640 bytes left: it copies into region 2, the last free
    // one, and its erase of region 0 fails.
    s.set(100, &[9; 200]).unwrap();
    model.insert(100, vec![9; 200]);
    s.set(0, &[1; 60]).unwrap();
    model.insert(0, vec![1; 60]);
    s.flash.0.fail_nth_erase(0);
    let r = s.gc_step();
    s.flash.0.clear_faults();
    assert_eq!(r, Err(Error::Flash(FlashOp::Erase)));
    assert_eq!(
        s.stats().used_regions,
        3,
        "the scenario needs no free region"
    );
    for j in 0..4u64 {
        let v = vec![j as u8; 30];
        s.set(0x1000 + j, &v).unwrap();
        model.insert(0x1000 + j, v);
    }
    s.reboot();
    s.mount().unwrap();
    check_model(&mut s, &model);
}
