//! Random power cuts: torn programs and torn erases at random points of a
//! write workload, then a remount from flash and a check of every key.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use flashsim::Tear;

use crate::device::{new_flash, Shared};
use crate::stores::{self, Kind, Kv};
use crate::workloads::{make_keys, value, Rng, Sizes, REGION, UNIT};

/// Regions of the power-cut flash.
pub const REGIONS: usize = 16;
/// Keys of the power-cut workload.
pub const KEYS: usize = 64;
/// Operations of the power-cut workload.
pub const OPS: usize = 2050;
/// Value lengths of the power-cut workload.
pub const SIZES: Sizes = Sizes::Mixed(100);

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs a panic hook that stays silent while a store runs under
/// `catch_unwind` here, and reports every other panic as usual.
pub fn install_quiet_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            default(info);
        }
    }));
}

/// Runs `f`, turning a panic into `Err` with its message.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into())
    })
}

/// One write of the workload: key index and the version written (0 is a
/// delete).
#[derive(Clone, Copy, Debug)]
struct Op {
    key: usize,
    version: u32,
}

fn script(seed: u64) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    // Every key starts at version 1.
    let mut issued = vec![1u32; KEYS];
    let mut ops: Vec<Op> = (0..KEYS).map(|key| Op { key, version: 1 }).collect();
    while ops.len() < OPS {
        let key = rng.below(KEYS as u64) as usize;
        let version = if rng.below(100) < 20 {
            0
        } else {
            issued[key] += 1;
            issued[key]
        };
        ops.push(Op { key, version });
    }
    ops
}

fn apply(s: &mut dyn Kv, keys: &[u64], op: Op) -> Result<(), String> {
    if op.version == 0 {
        s.delete(keys[op.key])
    } else {
        s.set(keys[op.key], &value(op.key, op.version, SIZES))
    }
}

/// What happened to one store over all cuts.
#[derive(Clone, Debug, Default)]
pub struct CutResult {
    /// Cuts tried.
    pub cuts: usize,
    /// Cuts after which every key held an allowed value and the store
    /// took a new write.
    pub correct: usize,
    /// Cuts after which some key held a wrong value or was missing.
    pub lost: usize,
    /// Cuts after which mounting failed with an error.
    pub mount_errors: usize,
    /// Cuts after which the store panicked during recovery or checking.
    pub recovery_panics: usize,
    /// Cuts after which reads failed with an error.
    pub read_errors: usize,
    /// Cuts after which a write after recovery failed.
    pub write_after_failed: usize,
    /// Panics of the store inside the operation that lost power (a reset
    /// follows a power cut anyway; counted for information).
    pub panics_at_cut: usize,
    /// Programs/erases in one uninterrupted run of the workload.
    pub mutations: u64,
    /// Operations that failed without a power cut in that run.
    pub errors_without_cut: usize,
    /// The first few failures.
    pub examples: Vec<String>,
}

/// A new store instance of `kind` on `flash`, mounted; a panic becomes an
/// error.
pub fn fresh(kind: Kind, flash: &Shared, keys: usize) -> Result<Box<dyn Kv>, String> {
    guarded(|| {
        let mut s = stores::open(kind, flash, keys);
        s.remount().map(|_| s)
    })?
}

/// `cuts` random power cuts in the workload on `kind`.
pub fn run(kind: Kind, cuts: usize, seed: u64) -> CutResult {
    let ops = script(seed);
    let keys = make_keys(KEYS, seed ^ 0xC0FFEE);
    let flash = new_flash(REGION, REGIONS, UNIT);
    drop(stores::formatted(kind, &flash, KEYS));
    let base = flash.borrow().sim.snapshot();
    let mut res = CutResult {
        cuts,
        ..CutResult::default()
    };

    // One uninterrupted run measures the workload's mutations.
    let m0 = flash.borrow().sim.mutations();
    let mut s = fresh(kind, &flash, KEYS).expect("mount of a formatted store");
    for &op in &ops {
        if !matches!(guarded(|| apply(&mut *s, &keys, op)), Ok(Ok(()))) {
            res.errors_without_cut += 1;
        }
    }
    res.mutations = flash.borrow().sim.mutations() - m0;
    drop(s);

    let mut rng = Rng::new(seed.wrapping_add(77));
    for i in 0..cuts {
        // Stratified: one cut in each of `cuts` equal slices of the run.
        let lo = res.mutations * i as u64 / cuts as u64;
        let hi = (res.mutations * (i as u64 + 1) / cuts as u64).max(lo + 1);
        let at = lo + rng.below(hi - lo);
        let tear = match rng.below(10) {
            0 => Tear::Before,
            1..=5 => Tear::Partial(rng.below(64) as usize),
            _ => Tear::Partial(rng.below(REGION as u64) as usize),
        };
        if let Err(why) = one_cut(kind, &flash, &base, &ops, &keys, at, tear, &mut res) {
            if res.examples.len() < 3 {
                res.examples
                    .push(format!("cut after {at} mutations, {tear:?}: {why}"));
            }
        }
    }
    res
}

/// One cut; returns why it failed, if it did.
#[allow(clippy::too_many_arguments)]
fn one_cut(
    kind: Kind,
    flash: &Shared,
    base: &flashsim::Snapshot,
    ops: &[Op],
    keys: &[u64],
    at: u64,
    tear: Tear,
    res: &mut CutResult,
) -> Result<(), String> {
    flash.borrow_mut().sim.restore(base);
    flash.borrow_mut().sim.power_on();
    let mut s =
        fresh(kind, flash, KEYS).map_err(|e| format!("harness: mount before the cut: {e}"))?;
    // Per key: the acknowledged state, and the other states allowed
    // (writes that failed or were cut).
    let mut ack = vec![0u32; KEYS];
    let mut allowed: Vec<Vec<u32>> = vec![Vec::new(); KEYS];
    flash.borrow_mut().sim.cut_power_after(at, tear);
    for &op in ops {
        let r = guarded(|| apply(&mut *s, keys, op));
        let powered = flash.borrow().sim.is_powered();
        match r {
            Ok(Ok(())) => {
                ack[op.key] = op.version;
                allowed[op.key].clear();
            }
            Ok(Err(_)) => allowed[op.key].push(op.version),
            Err(_) if !powered => {
                res.panics_at_cut += 1;
                allowed[op.key].push(op.version);
            }
            Err(p) => {
                // A panic with power on is a failure of its own.
                res.recovery_panics += 1;
                return Err(format!("panic before the cut: {p}"));
            }
        }
        if !powered {
            break;
        }
    }
    drop(s);
    flash.borrow_mut().sim.power_on();

    let mut s = match guarded(|| {
        let mut s = stores::open(kind, flash, KEYS);
        s.remount().map(|_| s)
    }) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            res.mount_errors += 1;
            return Err(format!("mount: {e}"));
        }
        Err(p) => {
            res.recovery_panics += 1;
            return Err(format!("panic in mount: {p}"));
        }
    };
    let mut buf = vec![0u8; 256];
    for (i, &k) in keys.iter().enumerate() {
        let got = match guarded(|| s.get(k, &mut buf)) {
            Ok(Ok(g)) => g,
            Ok(Err(e)) => {
                res.read_errors += 1;
                return Err(format!("get key {i}: {e}"));
            }
            Err(p) => {
                res.recovery_panics += 1;
                return Err(format!("panic in get: {p}"));
            }
        };
        let matches = |v: u32| match (v, got) {
            (0, None) => true,
            (0, Some(_)) | (_, None) => false,
            (v, Some(n)) => {
                let want = value(i, v, SIZES);
                n == want.len() && buf[..n] == want[..]
            }
        };
        if !matches(ack[i]) && !allowed[i].iter().any(|&v| matches(v)) {
            res.lost += 1;
            return Err(format!(
                "key {i}: acknowledged version {}, other allowed {:?}, read {:?}",
                ack[i], allowed[i], got
            ));
        }
    }
    // The store must take a new write after recovery.
    let v = value(0, u32::MAX, SIZES);
    let ok = guarded(|| {
        s.set(keys[0], &v)
            .and_then(|_| s.get(keys[0], &mut buf))
            .map(|g| g == Some(v.len()) && buf[..v.len()] == v[..])
    });
    if !matches!(ok, Ok(Ok(true))) {
        res.write_after_failed += 1;
        return Err(format!("write after recovery: {ok:?}"));
    }
    res.correct += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_starts_with_every_key_and_has_deletes() {
        let ops = script(1);
        assert_eq!(ops.len(), OPS);
        assert!(ops[..KEYS]
            .iter()
            .enumerate()
            .all(|(i, o)| o.key == i && o.version == 1));
        assert!(ops.iter().any(|o| o.version == 0));
    }

    #[test]
    fn guarded_catches_panics() {
        assert_eq!(guarded(|| 3), Ok(3));
        let r: Result<(), String> = guarded(|| panic!("boom"));
        assert_eq!(r, Err("boom".to_string()));
    }

    #[test]
    fn our_engine_survives_a_few_cuts() {
        let r = run(Kind::Ours, 20, 3);
        assert_eq!(r.correct, 20, "{r:?}");
    }
}
