//! kv_store over the TicKV capsule over a split-phase mock flash: every KV
//! operation and error code, then a flash error injected at every flash
//! operation of a set / update / delete / garbage collection, and a power
//! cut at every program and erase of a set, each followed by a remount
//! through a fresh stack.

mod tickv_support;

use std::collections::BTreeMap;

use capsules_core::siphash::tickv_key;
use flashsim::{SimError, Snapshot};
use kernel::hil::kv::{KVSystem, Namespace, KV};
use kernel::ErrorCode;
use kernel_mock::flash::Kind;
use tickv_support::{as_request, buf, check_flash, fail_like, key_buf, Done, Opts, Stack, TEARS};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A key and the values it may hold.
type Open = (Vec<u8>, [Option<Vec<u8>>; 2]);

fn mounted(opts: Opts) -> Stack {
    let s = Stack::new(opts, None);
    s.mount().unwrap();
    s
}

#[test]
fn get_set_add_update_delete() {
    let s = mounted(Opts::default());
    assert_eq!(s.get(b"color", 8), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.set(b"color", b"blue"), Ok(()));
    assert_eq!(s.get(b"color", 8), Ok((b"blue".to_vec(), 4)));
    assert_eq!(s.set(b"color", b"green"), Ok(()));
    assert_eq!(s.value(b"color"), Some(b"green".to_vec()));
    assert_eq!(s.add(b"color", b"red"), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.value(b"color"), Some(b"green".to_vec()));
    assert_eq!(s.add(b"shape", b"round"), Ok(()));
    assert_eq!(s.update(b"shape", b"square"), Ok(()));
    assert_eq!(s.value(b"shape"), Some(b"square".to_vec()));
    assert_eq!(s.update(b"size", b"big"), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.value(b"size"), None);
    assert_eq!(s.delete(b"size"), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.delete(b"shape"), Ok(()));
    assert_eq!(s.value(b"shape"), None);
    assert_eq!(s.delete(b"shape"), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.add(b"shape", b"oval"), Ok(()));
    assert_eq!(s.value(b"shape"), Some(b"oval".to_vec()));
    assert_eq!((s.accepted.get(), s.refused.get()), (18, 0));
    check_flash(&s);
}

/// `same_key_next` lets the next request reuse the stored key of the last
/// one (the permission layer's check, then its write). The test breaks
/// the promise on purpose (another key follows it) to see where the hash
/// came from: reused once in the same namespace, never otherwise.
#[test]
fn the_same_key_promise_reuses_the_hash_once_and_only_in_its_namespace() {
    let s = mounted(Opts::default());
    assert_eq!(s.set(b"alpha", b"1"), Ok(()));
    // Reused: the set of "beta" lands on the stored key of "alpha".
    assert_eq!(s.get(b"alpha", 8), Ok((b"1".to_vec(), 1)));
    s.store.same_key_next();
    assert_eq!(s.set(b"beta", b"2"), Ok(()));
    assert_eq!(s.value(b"alpha"), Some(b"2".to_vec()));
    assert_eq!(s.value(b"beta"), None);
    // For the next request only: the get of "alpha" reuses the key of
    // the last request ("beta", absent); the one after it hashes again.
    s.store.same_key_next();
    assert_eq!(s.value(b"alpha"), None);
    assert_eq!(s.value(b"alpha"), Some(b"2".to_vec()));
    assert_eq!(s.set(b"beta", b"3"), Ok(()));
    assert_eq!(s.value(b"beta"), Some(b"3".to_vec()));
    // A refused request uses the promise up.
    s.store.same_key_next();
    assert_eq!(s.set(b"", b"x"), Err(ErrorCode::INVAL));
    assert_eq!(s.set(b"gamma", b"4"), Ok(()));
    assert_eq!(s.value(b"gamma"), Some(b"4".to_vec()));
    // So does a garbage collection.
    assert_eq!(s.get(b"alpha", 8), Ok((b"2".to_vec(), 1)));
    s.store.same_key_next();
    assert!(s.gc().is_ok());
    assert_eq!(s.set(b"delta", b"5"), Ok(()));
    assert_eq!(s.value(b"delta"), Some(b"5".to_vec()));
    // Another namespace: the key is hashed again, into that namespace.
    assert_eq!(s.get(b"alpha", 8), Ok((b"2".to_vec(), 1)));
    s.store.set_namespace(Namespace::Kernel);
    s.store.same_key_next();
    assert_eq!(s.set(b"alpha", b"k"), Ok(()));
    assert_eq!(s.value(b"alpha"), Some(b"k".to_vec()));
    s.store.set_namespace(Namespace::Apps);
    assert_eq!(s.value(b"alpha"), Some(b"2".to_vec()));
    // Delete honours it too.
    s.store.same_key_next();
    assert_eq!(s.delete(b"epsilon"), Ok(()));
    assert_eq!(s.value(b"alpha"), None);
    check_flash(&s);
}

/// The store remembers the bytes of the last key it hashed and finds that
/// key's hash again by comparing them. The test changes the hasher's key
/// (which no board does after setup) to see where a hash came from: a
/// remembered key still finds its value under the old hash.
#[test]
fn the_last_hashed_key_is_remembered_with_its_hash() {
    let s = mounted(Opts::default());
    let other: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    assert_eq!(s.set(b"alpha", b"1"), Ok(()));
    s.hasher.set_key(other);
    // Remembered: no new hash, the old stored key.
    assert_eq!(s.get(b"alpha", 8), Ok((b"1".to_vec(), 1)));
    // Another key is hashed (with the new key) and replaces the memory.
    assert_eq!(s.get(b"beta", 8), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.get(b"alpha", 8), Err(ErrorCode::NOSUPPORT));
    // The same bytes in the other namespace are hashed again, into it: an
    // app's stored key never serves a kernel request.
    s.hasher.set_key([0; 16]);
    assert_eq!(s.get(b"beta", 8), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.get(b"alpha", 8), Ok((b"1".to_vec(), 1)));
    s.store.set_namespace(Namespace::Kernel);
    assert_eq!(s.get(b"alpha", 8), Err(ErrorCode::NOSUPPORT));
    assert_eq!(s.set(b"alpha", b"k"), Ok(()));
    s.store.set_namespace(Namespace::Apps);
    assert_eq!(s.get(b"alpha", 8), Ok((b"1".to_vec(), 1)));
    // A prefix or an extension of the remembered key is another key.
    assert_eq!(s.set(b"alph", b"2"), Ok(()));
    assert_eq!(s.set(b"alphab", b"3"), Ok(()));
    assert_eq!(s.get(b"alpha", 8), Ok((b"1".to_vec(), 1)));
    assert_eq!(s.get(b"alph", 8), Ok((b"2".to_vec(), 1)));
    // Keys longer than the memory holds are hashed every time.
    let long = [b'L'; capsules_extra::kv_store::MEMO_KEY_MAX + 1];
    assert_eq!(s.set(&long, b"4"), Ok(()));
    s.hasher.set_key(other);
    assert_eq!(s.get(&long, 8), Err(ErrorCode::NOSUPPORT));
    // The longest remembered key is remembered.
    s.hasher.set_key([0; 16]);
    let longest = &long[..capsules_extra::kv_store::MEMO_KEY_MAX];
    assert_eq!(s.set(longest, b"5"), Ok(()));
    s.hasher.set_key(other);
    assert_eq!(s.get(longest, 8), Ok((b"5".to_vec(), 1)));
    s.hasher.set_key([0; 16]);
    check_flash(&s);
}

#[test]
fn short_buffers_get_the_prefix_and_the_full_length() {
    let s = mounted(Opts::default());
    s.set(b"k", b"0123456789").unwrap();
    let d = s
        .call(|| {
            s.store
                .get(buf(b"k", 0, 0), buf(&[0; 4], 3, 2))
                .map_err(|(_, _, c)| c)
        })
        .unwrap();
    match d {
        Done::Get {
            result,
            data,
            full_len,
            whole,
            ..
        } => {
            assert_eq!(result, Err(ErrorCode::SIZE));
            assert_eq!(full_len, 10);
            assert_eq!(data, b"0123");
            // Copied to the start of the window; nothing outside it touched.
            assert_eq!(
                whole,
                [0xA5, 0xA5, 0xA5, b'0', b'1', b'2', b'3', 0x5A, 0x5A]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.get(b"k", 10), Ok((b"0123456789".to_vec(), 10)));
    // An empty window still learns the length.
    assert_eq!(s.get(b"k", 0), Err(ErrorCode::SIZE));
}

#[test]
fn keys_are_the_window_hashed_with_siphash() {
    let s = mounted(Opts::default());
    // The helpers put filler bytes around the key window; the value must be
    // found under the hash of the window alone.
    s.set(b"mykey", b"hello").unwrap();
    s.direct();
    let d = s
        .call(|| {
            let k: &'static mut [u8; 8] = Box::leak(Box::new(tickv_key(b"mykey").to_be_bytes()));
            s.tickv
                .get_value(k, buf(&[0; 8], 0, 0))
                .map_err(|(_, _, c)| c)
        })
        .unwrap();
    assert!(matches!(d, Done::Value { result: Ok(()), ref data, .. } if data == b"hello"));
}

#[test]
fn refused_requests() {
    let s = mounted(Opts::default());
    // Empty key.
    assert_eq!(s.set(b"", b"v"), Err(ErrorCode::INVAL));
    assert_eq!(s.get(b"", 4), Err(ErrorCode::INVAL));
    assert_eq!(s.delete(b""), Err(ErrorCode::INVAL));
    // Too large a value: refused after hashing, in the callback.
    let max = s.tickv.max_value_len();
    assert_eq!(s.set(b"big", &vec![0; max + 1]), Err(ErrorCode::SIZE));
    assert_eq!(s.set(b"big", &vec![0; max]), Ok(()));
    // One operation at a time.
    as_request(|| {
        s.store
            .set(buf(b"a", 0, 0), buf(b"1", 0, 0))
            .map_err(|e| e.2)
            .unwrap();
        let (k, v, code) = s
            .store
            .get(buf(b"a", 1, 0), buf(&[0; 4], 2, 0))
            .unwrap_err();
        assert_eq!(code, ErrorCode::BUSY);
        assert_eq!((k.start(), k.len(), v.start(), v.len()), (1, 1, 2, 4));
        assert_eq!(
            s.store.delete(buf(b"a", 0, 0)).map_err(|e| e.1),
            Err(ErrorCode::BUSY)
        );
        assert_eq!(s.store.garbage_collect(), Err(ErrorCode::BUSY));
        assert!(s.store.busy());
    });
    let before = s.rec.done.borrow().len();
    s.settle();
    assert_eq!(s.rec.done.borrow().len(), before + 1);
    assert_eq!(s.rec.done.borrow().last().unwrap().result(), Ok(()));
    assert!(!s.store.busy());
    assert_eq!(s.value(b"a"), Some(b"1".to_vec()));
}

#[test]
fn a_full_store_is_nomem_and_gc_makes_room() {
    let s = mounted(Opts::default());
    let mut n = 0u32;
    let code = loop {
        match s.add(&n.to_le_bytes(), &[n as u8; 90]) {
            Ok(()) => n += 1,
            Err(code) => break code,
        }
        assert!(n < 1000);
    };
    assert_eq!(code, ErrorCode::NOMEM);
    assert_eq!(s.set(&0u32.to_le_bytes(), &[1; 90]), Err(ErrorCode::NOMEM));
    for i in 0..n / 2 {
        s.delete(&i.to_le_bytes()).unwrap();
    }
    // The deletes' own compaction steps reclaim part of the space; the GC
    // reclaims what is left in the oldest regions. Together they make room
    // for as many values again, but for the tombstones' share.
    let freed = s.gc().unwrap();
    assert!(freed > 0);
    // It stopped at an oldest region with nothing to reclaim.
    assert_eq!(s.gc(), Ok(0));
    let mut refill = 0u32;
    while s.add(&(5000 + refill).to_le_bytes(), &[2; 90]) == Ok(()) {
        refill += 1;
    }
    assert!(
        refill + 1 >= n / 2,
        "{refill} of {} values fit again",
        n / 2
    );
    for i in n / 2..n {
        assert_eq!(s.value(&i.to_le_bytes()), Some(vec![i as u8; 90]));
    }
    check_flash(&s);
}

#[test]
fn a_mount_failure_reaches_kv_clients() {
    let o = Opts {
        config: capsules_extra::tickv::Config {
            region_count: None,
            format_if_blank: false,
        },
        ..Opts::default()
    };
    let s = Stack::new(o, None);
    // Not mounted yet: the request is accepted, then fails with the mount.
    assert_eq!(s.set(b"k", b"v"), Err(ErrorCode::NODEVICE));
    assert!(s.accepted.get() == 1 && s.refused.get() == 0);
    // Then the lower layer refuses at once: the key is hashed in the
    // request (software SipHash), so the refusal is synchronous.
    assert_eq!(s.get(b"k", 4), Err(ErrorCode::NODEVICE));
    assert!(s.accepted.get() == 1 && s.refused.get() == 1);
    assert_eq!(s.store.garbage_collect(), Err(ErrorCode::NODEVICE));
}

// ---------------------------------------------------------------------
// Fault injection and power cuts
// ---------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Cmd {
    Set(Vec<u8>, Vec<u8>),
    Update(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Gc,
}

impl Cmd {
    fn run(&self, s: &Stack) -> Result<(), ErrorCode> {
        match self {
            Cmd::Set(k, v) => s.set(k, v),
            Cmd::Update(k, v) => s.update(k, v),
            Cmd::Delete(k) => s.delete(k),
            Cmd::Gc => s.gc().map(|_| ()),
        }
    }

    /// The values the command's key may hold afterwards if it may or may
    /// not have taken effect.
    fn allowed(&self, model: &Model) -> Option<Open> {
        match self {
            Cmd::Set(k, v) | Cmd::Update(k, v) => {
                Some((k.clone(), [model.get(k).cloned(), Some(v.clone())]))
            }
            Cmd::Delete(k) => Some((k.clone(), [model.get(k).cloned(), None])),
            Cmd::Gc => None,
        }
    }

    fn apply(&self, model: &mut Model) {
        match self {
            Cmd::Set(k, v) | Cmd::Update(k, v) => {
                model.insert(k.clone(), v.clone());
            }
            Cmd::Delete(k) => {
                model.remove(k);
            }
            Cmd::Gc => {}
        }
    }
}

/// Checks that `s` holds `model`, except that the key of `cmd` may hold its
/// value from before or after `cmd`.
fn check(s: &Stack, model: &Model, cmd: &Cmd) -> Option<Vec<u8>> {
    let open = cmd.allowed(model);
    for (k, v) in model {
        if open.as_ref().is_some_and(|(key, _)| key == k) {
            continue;
        }
        assert_eq!(s.value(k).as_ref(), Some(v), "key {k:?}");
    }
    open.and_then(|(k, allowed)| {
        let got = s.value(&k);
        assert!(
            allowed.contains(&got),
            "key {k:?} holds {got:?}, allowed {allowed:?}"
        );
        got
    })
}

/// A store with history: 60 writes over 6 keys (so compaction has run and
/// garbage is left), one key deleted.
fn base(opts: Opts) -> (Snapshot, Model) {
    let s = mounted(opts);
    let mut model = Model::new();
    for i in 0..60usize {
        let k = format!("key{}", i % 6).into_bytes();
        let v = vec![i as u8; 10 + (i * 7) % 50];
        s.set(&k, &v).unwrap();
        model.insert(k, v);
    }
    s.delete(b"key5").unwrap();
    model.remove(b"key5".as_slice());
    check_flash(&s);
    (s.flash.snapshot(), model)
}

/// From the base, the first set (of a sequence) that erases a region while
/// it runs: the snapshot and model just before it, and the command.
fn compacting_set(opts: Opts) -> (Snapshot, Model, Cmd) {
    let (image, mut model) = base(opts);
    let s = Stack::new(opts, Some(&image));
    s.mount().unwrap();
    for i in 0..200usize {
        let before = (s.flash.snapshot(), model.clone());
        let cmd = Cmd::Set(
            format!("key{}", i % 4).into_bytes(),
            vec![0xC0 | (i as u8 & 0xF); 70],
        );
        s.flash.clear_log();
        cmd.run(&s).unwrap();
        cmd.apply(&mut model);
        if s.flash.log().iter().any(|op| op.kind() == Kind::Erase) {
            return (before.0, before.1, cmd);
        }
    }
    panic!("no set erased a region");
}

/// Injects a flash error at each flash operation of `cmd` in turn.
fn fault_sweep(opts: Opts, image: &Snapshot, model: &Model, cmd: &Cmd) -> usize {
    let trial = Stack::new(opts, Some(image));
    trial.mount().unwrap();
    trial.flash.clear_log();
    cmd.run(&trial)
        .expect("the command succeeds without faults");
    let log = trial.flash.log();
    assert!(!log.is_empty());
    eprintln!("fault sweep {cmd:?}: {} flash operations", log.len());
    for (j, op) in log.iter().enumerate() {
        let s = Stack::new(opts, Some(image));
        s.mount().unwrap();
        fail_like(s.flash, &log, j);
        let deferred = s.tickv.stats().unwrap().deferred_errors;
        let before = s.flash.stats().failed;
        // Exactly one completion (checked by `call`), with an error unless
        // the fault hit a compaction step run after the write was durable.
        let result = cmd.run(&s);
        assert_eq!(
            s.flash.stats().failed,
            before + 1,
            "op {j} {op:?}: the fault fired"
        );
        assert_eq!(s.flash.last_sim_error(), Some(SimError::Injected));
        match result {
            Err(ErrorCode::FAIL) => {}
            Ok(()) => assert_eq!(
                s.tickv.stats().unwrap().deferred_errors,
                deferred + 1,
                "op {j} {op:?}: success despite a fault"
            ),
            Err(e) => panic!("op {j} {op:?}: unexpected {e:?}"),
        }
        // The capsule is idle and works.
        assert!(!s.tickv.busy() && !s.store.busy());
        let got = check(&s, model, cmd);
        s.set(b"next", b"operation").unwrap();
        check_flash(&s);
        // The store is consistent after a reboot, and agrees with what was
        // read before it.
        let r = s.reboot(opts);
        assert_eq!(
            check(&r, model, cmd),
            got,
            "op {j} {op:?}: value changed by the remount"
        );
        assert_eq!(r.value(b"next"), Some(b"operation".to_vec()));
        r.set(b"after", b"reboot").unwrap();
        check_flash(&r);
    }
    log.len()
}

/// Cuts the power at each program and erase of `cmd` in turn (torn in
/// several ways), then reboots on the flash as the cut left it.
fn power_cut_sweep(opts: Opts, image: &Snapshot, model: &Model, cmd: &Cmd) -> u64 {
    let trial = Stack::new(opts, Some(image));
    trial.mount().unwrap();
    let start = trial.flash.sim().mutations();
    cmd.run(&trial).expect("the command succeeds without a cut");
    let mutations = trial.flash.sim().mutations() - start;
    assert!(mutations > 0);
    eprintln!("power-cut sweep {cmd:?}: {mutations} programs/erases");
    for k in 0..mutations {
        for tear in TEARS {
            let s = Stack::new(opts, Some(image));
            s.mount().unwrap();
            s.flash.sim_mut().cut_power_after(k, tear);
            // One completion; after the cut every flash request fails.
            match cmd.run(&s) {
                Ok(()) | Err(ErrorCode::FAIL) => {}
                Err(e) => panic!("cut {k} {tear:?}: unexpected {e:?}"),
            }
            assert!(
                !s.flash.sim().is_powered(),
                "cut {k} {tear:?} never happened"
            );
            assert!(!s.tickv.busy());
            let r = s.reboot(opts);
            let got = check(&r, model, cmd);
            // The rebooted store takes new writes without programming a
            // torn word again.
            if let Some((key, _)) = cmd.allowed(model) {
                r.set(&key, b"rewritten").unwrap();
                assert_eq!(r.value(&key), Some(b"rewritten".to_vec()));
                let _ = got;
            }
            r.set(b"after", b"cut").unwrap();
            assert_eq!(r.value(b"after"), Some(b"cut".to_vec()));
            check_flash(&r);
        }
    }
    mutations
}

#[test]
fn a_flash_error_at_every_operation_of_set_update_delete_and_gc() {
    let opts = Opts::default();
    let (image, model) = base(opts);
    let cmds = [
        Cmd::Set(b"key1".to_vec(), vec![0x11; 33]),
        Cmd::Set(b"new key".to_vec(), vec![0x22; 5]),
        Cmd::Update(b"key2".to_vec(), vec![0x33; 48]),
        Cmd::Delete(b"key3".to_vec()),
        Cmd::Gc,
    ];
    for cmd in &cmds {
        let ops = fault_sweep(opts, &image, &model, cmd);
        assert!(ops >= 2, "{cmd:?}: {ops}");
    }
    // A set that compacts (erases) while it runs.
    let (image, model, cmd) = compacting_set(opts);
    fault_sweep(opts, &image, &model, &cmd);
}

#[test]
fn a_flash_error_at_every_operation_without_an_index() {
    let opts = Opts {
        index: 0,
        ..Opts::default()
    };
    let (image, model) = base(opts);
    for cmd in [
        Cmd::Set(b"key1".to_vec(), vec![0x44; 20]),
        Cmd::Delete(b"key0".to_vec()),
        Cmd::Gc,
    ] {
        fault_sweep(opts, &image, &model, &cmd);
    }
}

#[test]
fn a_power_cut_at_every_program_and_erase_of_a_set() {
    let opts = Opts::default();
    let (image, model) = base(opts);
    for cmd in [
        Cmd::Set(b"key1".to_vec(), vec![0x55; 40]),
        Cmd::Set(b"fresh".to_vec(), vec![0x66; 12]),
        Cmd::Update(b"key4".to_vec(), vec![0x77; 3]),
        Cmd::Delete(b"key2".to_vec()),
    ] {
        power_cut_sweep(opts, &image, &model, &cmd);
    }
    let (image, model, cmd) = compacting_set(opts);
    let mutations = power_cut_sweep(opts, &image, &model, &cmd);
    assert!(mutations >= 3, "{mutations}");
}

#[test]
fn a_power_cut_during_gc_and_without_an_index() {
    let opts = Opts {
        index: 0,
        ..Opts::default()
    };
    let (image, model) = base(opts);
    power_cut_sweep(
        opts,
        &image,
        &model,
        &Cmd::Set(b"key3".to_vec(), vec![0x88; 25]),
    );
    power_cut_sweep(
        Opts::default(),
        &base(Opts::default()).0,
        &base(Opts::default()).1,
        &Cmd::Gc,
    );
}

#[test]
fn the_stack_over_a_flash_mux_survives_faults() {
    let opts = Opts {
        mux: true,
        ..Opts::default()
    };
    let (image, model) = base(opts);
    fault_sweep(
        opts,
        &image,
        &model,
        &Cmd::Set(b"key0".to_vec(), vec![0x99; 30]),
    );
}

/// Uses the KVSystem trait (so the import is exercised in this file).
#[test]
fn generate_key_through_the_stack() {
    let s = mounted(Opts::default());
    s.direct();
    let d = s
        .call(|| {
            s.tickv
                .generate_key(buf(b"mykey", 0, 0), key_buf())
                .map_err(|e| e.2)
        })
        .unwrap();
    assert!(matches!(d, Done::Key(Ok(()), _, k) if u64::from_be_bytes(k) == 0x219e_0c95_28eb_4392));
}

/// What a key may hold: every value it could have after the operations so
/// far (`None` = absent). A failed write widens the set; a read narrows it.
type Possible = BTreeMap<Vec<u8>, Vec<Option<Vec<u8>>>>;

fn possible(p: &Possible, k: &[u8]) -> Vec<Option<Vec<u8>>> {
    p.get(k).cloned().unwrap_or_else(|| vec![None])
}

/// Random operations with random flash faults and reboots, against a model
/// that tracks what each key may hold.
#[test]
fn random_workload_with_faults_and_reboots() {
    let mut rng = flashsim::Rng::new(2024);
    for (round, index) in [32usize, 4, 0].into_iter().enumerate() {
        let opts = Opts {
            index,
            mux: round == 1,
            scratch: 64 + 32 * round,
            ..Opts::default()
        };
        let mut s = mounted(opts);
        let mut p = Possible::new();
        let keys: Vec<Vec<u8>> = (0..8).map(|i| format!("k{i}").into_bytes()).collect();
        let (mut fails, mut reboots) = (0, 0);
        for step in 0..600 {
            let k = keys[rng.index(keys.len())].clone();
            let len = rng.index(60);
            let v = rng.bytes(len);
            let before = possible(&p, &k);
            let faulty = rng.chance(8);
            if faulty {
                let mut sim = s.flash.sim_mut();
                match rng.below(3) {
                    0 => sim.fail_nth_read(rng.below(4)),
                    1 => sim.fail_nth_program(rng.below(3)),
                    _ => sim.fail_nth_erase(0),
                }
            }
            let what = rng.below(7);
            let r = match what {
                0 | 1 => s.set(&k, &v),
                2 => s.add(&k, &v),
                3 => s.update(&k, &v),
                4 => s.delete(&k),
                5 => s.get(&k, 64).map(|(got, _)| {
                    assert!(before.contains(&Some(got.clone())), "step {step}: {got:?}");
                    p.insert(k.clone(), vec![Some(got)]);
                }),
                _ => s.gc().map(|_| ()),
            };
            let after: Option<Option<Vec<u8>>> = match what {
                0 | 1 => Some(Some(v.clone())),
                2 | 3 => Some(Some(v.clone())),
                4 => Some(None),
                _ => None,
            };
            match (what, r) {
                (5, Err(ErrorCode::NOSUPPORT)) => {
                    assert!(before.contains(&None), "step {step}");
                    p.insert(k.clone(), vec![None]);
                }
                (_, Ok(())) => {
                    if let Some(a) = after {
                        if what == 2 {
                            assert!(before.contains(&None), "step {step}: add succeeded");
                        }
                        if what == 3 || what == 4 {
                            assert!(before.iter().any(Option::is_some), "step {step}");
                        }
                        p.insert(k.clone(), vec![a]);
                    }
                }
                (2, Err(ErrorCode::NOSUPPORT)) => {
                    assert!(before.iter().any(Option::is_some), "step {step}");
                    p.insert(
                        k.clone(),
                        before.into_iter().filter(Option::is_some).collect(),
                    );
                }
                (3 | 4, Err(ErrorCode::NOSUPPORT)) => {
                    assert!(before.contains(&None), "step {step}");
                    p.insert(k.clone(), vec![None]);
                }
                (_, Err(ErrorCode::NOMEM)) => {
                    s.gc().unwrap();
                }
                (_, Err(ErrorCode::FAIL)) => {
                    assert!(faulty, "step {step}: FAIL without a fault");
                    fails += 1;
                    if let Some(a) = after {
                        let mut both = before.clone();
                        if !both.contains(&a) {
                            both.push(a);
                        }
                        p.insert(k.clone(), both);
                    }
                }
                (_, Err(e)) => panic!("step {step}: op {what} gave {e:?}"),
            }
            s.flash.sim_mut().clear_faults();
            check_flash(&s);
            if rng.chance(3) {
                reboots += 1;
                s = s.reboot(opts);
            }
        }
        eprintln!("round {round}: {fails} operations failed on a fault, {reboots} reboots");
        assert!(fails > 10 && reboots > 5);
        // Every key holds one of its possible values after a final reboot.
        let r = s.reboot(opts);
        for k in &keys {
            let got = r.value(k);
            assert!(possible(&p, k).contains(&got), "{k:?}: {got:?}");
        }
    }
}
