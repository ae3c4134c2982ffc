//! The workloads of `doc/peers.md` §3 and §5, run on one store at a time.

use std::time::{Duration, Instant};

use crate::device::{new_flash, Cost, Shared};
use crate::powercut::{fresh, guarded};
use crate::stats::Phase;
use crate::stores::{self, Kind, Kv};

/// Region size of every flash in the benchmark (the peers' compile-time
/// page size).
pub const REGION: usize = 4096;
/// Program unit of every flash in the benchmark.
pub const UNIT: usize = 4;
/// Key plus value bytes of one fixed-size update (8 + 32).
pub const PAYLOAD: usize = 40;
/// A phase of the long workloads stops after this many failed operations
/// (a store that fails every write would otherwise scan the whole flash
/// for each of them).
pub const MAX_ERRORS: u64 = 1000;

pub use flashsim::Rng;

/// `n` distinct random keys, never 0 or `u64::MAX` (upstream TicKV asserts
/// on those).
pub fn make_keys(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    let mut seen = std::collections::HashSet::new();
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let k = rng.next();
        if k != 0 && k != u64::MAX && seen.insert(k) {
            keys.push(k);
        }
    }
    keys
}

/// Value lengths of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sizes {
    /// Every value has this length.
    Fixed(usize),
    /// Lengths uniform in `1..=max`.
    Mixed(usize),
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Version `version` (1, 2, ...) of the value of key number `key`: a pure
/// function, so the model only keeps version numbers.
pub fn value(key: usize, version: u32, sizes: Sizes) -> Vec<u8> {
    let seed = mix(((key as u64) << 32) | version as u64);
    let len = match sizes {
        Sizes::Fixed(n) => n,
        Sizes::Mixed(max) => 1 + (seed % max as u64) as usize,
    };
    let mut out = Vec::with_capacity(len);
    let mut s = seed;
    while out.len() < len {
        s = mix(s);
        out.extend_from_slice(&s.to_le_bytes()[..(len - out.len()).min(8)]);
    }
    out
}

/// What a write phase does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Write keys known to be absent.
    Insert,
    /// Overwrite.
    Set,
    /// Delete.
    Delete,
}

/// A store under a workload, with a model of what it must return.
pub struct Runner {
    /// Which store.
    pub kind: Kind,
    /// The store.
    pub s: Box<dyn Kv>,
    /// Its flash.
    pub flash: Shared,
    /// The workload's keys.
    pub keys: Vec<u64>,
    /// Per key: version last acknowledged (0: no value).
    ack: Vec<u32>,
    /// Per key: version of a write that failed since (old or new is fine).
    pending: Vec<Option<u32>>,
    /// Per key: the last version handed out.
    issued: Vec<u32>,
    sizes: Sizes,
    /// Phases run so far.
    pub phases: Vec<Phase>,
    buf: Vec<u8>,
    /// A phase stops after this many errors.
    pub max_errors: u64,
    /// Keys the store's RAM structures are sized for.
    ram_keys: usize,
}

impl Runner {
    /// A freshly formatted store of `kind` on `regions` x 4 KiB with RAM
    /// structures sized for `ram_keys` keys.
    pub fn new(
        kind: Kind,
        regions: usize,
        keys: Vec<u64>,
        sizes: Sizes,
        ram_keys: usize,
    ) -> Runner {
        let flash = new_flash(REGION, regions, UNIT);
        let s = stores::formatted(kind, &flash, ram_keys);
        let n = keys.len();
        Runner {
            kind,
            s,
            flash,
            keys,
            ack: vec![0; n],
            pending: vec![None; n],
            issued: vec![0; n],
            sizes,
            phases: Vec::new(),
            buf: vec![0; 4096],
            max_errors: MAX_ERRORS,
            ram_keys,
        }
    }

    fn cost(&self) -> Cost {
        self.flash.borrow().cost()
    }

    /// Runs one operation; a panic becomes an error, counted in the phase,
    /// and the store is mounted again, as after a reset.
    fn guard<T>(
        &mut self,
        ph: &mut Phase,
        f: impl FnOnce(&mut dyn Kv) -> Result<T, String>,
    ) -> Result<T, String> {
        match guarded(|| f(&mut *self.s)) {
            Ok(r) => r,
            Err(p) => {
                ph.panics += 1;
                // A store that panicked may hold broken state: build a new one.
                if let Ok(s) = fresh(self.kind, &self.flash, self.ram_keys) {
                    self.s = s;
                }
                Err(format!("panic: {p}"))
            }
        }
    }

    /// Writes (or deletes) the keys with the given indexes, in order.
    pub fn writes(&mut self, name: &str, order: &[usize], how: Write) -> &Phase {
        let mut ph = Phase::new(name);
        for &i in order {
            if ph.errors >= self.max_errors {
                ph.aborted = true;
                break;
            }
            let (version, v) = match how {
                Write::Delete => (0, Vec::new()),
                _ => {
                    self.issued[i] += 1;
                    (self.issued[i], value(i, self.issued[i], self.sizes))
                }
            };
            let k = self.keys[i];
            let before = self.cost();
            let r = self.guard(&mut ph, |s| match how {
                Write::Insert => s.insert(k, &v),
                Write::Set => s.set(k, &v),
                Write::Delete => s.delete(k),
            });
            ph.record(self.cost().since(&before));
            match r {
                Ok(()) => {
                    self.ack[i] = version;
                    self.pending[i] = None;
                }
                Err(e) => {
                    self.pending[i] = Some(version);
                    ph.error(e);
                }
            }
        }
        self.phases.push(ph);
        self.phases.last().expect("phase")
    }

    /// Reads the keys with the given indexes and checks each value.
    pub fn reads(&mut self, name: &str, order: &[usize]) -> &Phase {
        let mut ph = Phase::new(name);
        for &i in order {
            if ph.errors >= self.max_errors {
                ph.aborted = true;
                break;
            }
            let before = self.cost();
            let k = self.keys[i];
            let mut buf = std::mem::take(&mut self.buf);
            let r = self.guard(&mut ph, |s| s.get(k, &mut buf));
            self.buf = buf;
            ph.record(self.cost().since(&before));
            match r {
                Ok(got) => {
                    let ok = |ver: u32| match (ver, got) {
                        (0, None) => true,
                        (0, Some(_)) | (_, None) => false,
                        (v, Some(n)) => {
                            let want = value(i, v, self.sizes);
                            n == want.len() && self.buf[..n] == want[..]
                        }
                    };
                    if !ok(self.ack[i]) && !self.pending[i].is_some_and(ok) {
                        ph.wrong += 1;
                    }
                }
                Err(e) => ph.error(e),
            }
        }
        self.phases.push(ph);
        self.phases.last().expect("phase")
    }

    /// Looks up keys that were never written.
    pub fn misses(&mut self, name: &str, absent: &[u64]) -> &Phase {
        let mut ph = Phase::new(name);
        for &k in absent {
            let before = self.cost();
            let mut buf = std::mem::take(&mut self.buf);
            let r = self.guard(&mut ph, |s| s.get(k, &mut buf));
            self.buf = buf;
            ph.record(self.cost().since(&before));
            match r {
                Ok(None) => {}
                Ok(Some(_)) => ph.wrong += 1,
                Err(e) => ph.error(e),
            }
        }
        self.phases.push(ph);
        self.phases.last().expect("phase")
    }

    /// Reboots the store and mounts it from flash.
    pub fn remount(&mut self, name: &str) -> &Phase {
        let mut ph = Phase::new(name);
        let before = self.cost();
        let r = self.s.remount();
        ph.record(self.cost().since(&before));
        if let Err(e) = r {
            ph.error(e);
        }
        self.phases.push(ph);
        self.phases.last().expect("phase")
    }
}

/// The result of one workload on one store.
pub struct Run {
    /// Which store.
    pub kind: Kind,
    /// Regions of the flash.
    pub regions: usize,
    /// Keys of the workload.
    pub keys: usize,
    /// The phases, in order.
    pub phases: Vec<Phase>,
    /// Erases per region at the end.
    pub erase_counts: Vec<u32>,
    /// The store's RAM by part (host sizes).
    pub ram: Vec<(&'static str, usize)>,
    /// Wall-clock time of the run on this machine.
    pub wall: Duration,
}

impl Run {
    fn from(r: Runner, regions: usize, started: Instant) -> Run {
        let erase_counts = r.flash.borrow().sim.erase_counts().to_vec();
        Run {
            kind: r.kind,
            regions,
            keys: r.keys.len(),
            ram: r.s.ram(),
            phases: r.phases,
            erase_counts,
            wall: started.elapsed(),
        }
    }

    /// The phase with this name.
    pub fn phase(&self, name: &str) -> &Phase {
        self.phases
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no phase {name}"))
    }
}

/// Phase names of the peer workload.
pub mod peer {
    /// Insert 1000 keys.
    pub const INSERT: &str = "insert 1000";
    /// Read every key.
    pub const READ1: &str = "read all";
    /// Reboot and mount.
    pub const REMOUNT: &str = "remount";
    /// Read every key after the remount.
    pub const READ2: &str = "read all after remount";
    /// 10 rounds of 1000 updates.
    pub const UPDATES: &str = "10,000 updates";
    /// Read every key after the updates.
    pub const READ3: &str = "read all after updates";
    /// Delete every key.
    pub const DELETE: &str = "delete all";
}

/// `doc/peers.md`'s workload, exactly: 64 x 4 KiB, program unit 4, 1000
/// keys x 32 B: insert, read all, remount, read all, 10 rounds of 1000
/// updates in shuffled order, read all, delete all.
pub fn peer_workload(kind: Kind) -> Run {
    let started = Instant::now();
    let n = 1000;
    let mut r = Runner::new(kind, 64, make_keys(n, 1), Sizes::Fixed(32), n);
    r.max_errors = u64::MAX;
    let all: Vec<usize> = (0..n).collect();
    r.writes(peer::INSERT, &all, Write::Insert);
    r.reads(peer::READ1, &all);
    r.remount(peer::REMOUNT);
    r.reads(peer::READ2, &all);
    let mut rng = Rng::new(2);
    let mut order = Vec::with_capacity(10 * n);
    for _ in 0..10 {
        let mut round = all.clone();
        rng.shuffle(&mut round);
        order.extend(round);
    }
    r.writes(peer::UPDATES, &order, Write::Set);
    r.reads(peer::READ3, &all);
    r.writes(peer::DELETE, &all, Write::Delete);
    Run::from(r, 64, started)
}

/// Phase names of the scaling workload.
pub mod scale {
    /// Insert N keys.
    pub const INSERT: &str = "insert";
    /// Read every key.
    pub const HITS: &str = "get (hit)";
    /// Read N keys that were never written.
    pub const MISSES: &str = "get (miss)";
    /// Reboot and mount.
    pub const MOUNT: &str = "mount";
    /// Read every key right after the mount.
    pub const COLD: &str = "cold read all";
    /// Update churn.
    pub const CHURN: &str = "update churn";
    /// Read every key after the churn.
    pub const AFTER: &str = "read all after churn";
    /// Delete every key.
    pub const DELETE: &str = "delete";
    /// Read every deleted key.
    pub const GONE: &str = "get after delete";
}

/// Regions used for `n` keys.
pub fn regions_for(n: usize) -> usize {
    match n {
        0..=100 => 16,
        101..=1000 => 64,
        _ => 256,
    }
}

/// Updates of the churn for a flash of `regions` regions: enough fixed-size
/// payload (key + value) to fill the whole flash `factor` times.
pub fn churn_updates(regions: usize, factor: usize) -> usize {
    (factor * regions * REGION).div_ceil(PAYLOAD)
}

/// Insert N; hits; misses; remount and cold read; update churn of
/// `factor` x the flash size; read all; delete all; read again.
pub fn scaling(kind: Kind, n: usize, factor: usize) -> Run {
    let started = Instant::now();
    let regions = regions_for(n);
    let keys = make_keys(2 * n, 10 + n as u64);
    let absent = keys[n..].to_vec();
    let mut r = Runner::new(kind, regions, keys[..n].to_vec(), Sizes::Fixed(32), n);
    let all: Vec<usize> = (0..n).collect();
    r.writes(scale::INSERT, &all, Write::Insert);
    r.reads(scale::HITS, &all);
    r.misses(scale::MISSES, &absent);
    r.remount(scale::MOUNT);
    r.reads(scale::COLD, &all);
    let updates = churn_updates(regions, factor);
    let mut rng = Rng::new(20 + n as u64);
    let mut order = Vec::with_capacity(updates + n);
    while order.len() < updates {
        let mut round = all.clone();
        rng.shuffle(&mut round);
        order.extend(round);
    }
    order.truncate(updates);
    r.writes(scale::CHURN, &order, Write::Set);
    r.reads(scale::AFTER, &all);
    r.writes(scale::DELETE, &all, Write::Delete);
    r.reads(scale::GONE, &all);
    Run::from(r, regions, started)
}

/// Phase names of the mixed-size workload.
pub mod mixed {
    /// Insert the keys.
    pub const INSERT: &str = "insert";
    /// Read every key.
    pub const READ: &str = "read all";
    /// 10 rounds of updates with new lengths.
    pub const UPDATES: &str = "updates";
    /// Read every key after the updates.
    pub const AFTER: &str = "read all after updates";
    /// Delete every key.
    pub const DELETE: &str = "delete all";
}

/// Keys of the mixed-size workload.
pub const MIXED_KEYS: usize = 200;
/// Largest value of the mixed-size workload.
pub const MIXED_MAX: usize = 512;

/// 200 keys with values of 1..=512 bytes on 64 x 4 KiB: insert, read, 10
/// rounds of updates (each with a new length), read, delete.
pub fn mixed_sizes(kind: Kind) -> Run {
    let started = Instant::now();
    let n = MIXED_KEYS;
    let mut r = Runner::new(kind, 64, make_keys(n, 3), Sizes::Mixed(MIXED_MAX), n);
    let all: Vec<usize> = (0..n).collect();
    r.writes(mixed::INSERT, &all, Write::Insert);
    r.reads(mixed::READ, &all);
    let mut rng = Rng::new(4);
    let mut order = Vec::new();
    for _ in 0..10 {
        let mut round = all.clone();
        rng.shuffle(&mut round);
        order.extend(round);
    }
    r.writes(mixed::UPDATES, &order, Write::Set);
    r.reads(mixed::AFTER, &all);
    r.writes(mixed::DELETE, &all, Write::Delete);
    Run::from(r, 64, started)
}

/// How many keys a store holds at a fixed flash size.
pub struct Space {
    /// Which store.
    pub kind: Kind,
    /// Inserts acknowledged before the first failure.
    pub stored: usize,
    /// Of those, keys that read back correctly afterwards.
    pub readable: usize,
    /// The error that ended the inserts (None: the cap was reached).
    pub stop: Option<String>,
}

/// Upper bound of the space test (more than fits in 64 x 4 KiB).
pub const SPACE_CAP: usize = 12_000;
/// Regions of the space test.
pub const SPACE_REGIONS: usize = 64;

/// Inserts distinct keys with 32-byte values into 64 x 4 KiB until the
/// store refuses one.
pub fn space(kind: Kind) -> Space {
    let keys = make_keys(SPACE_CAP, 5);
    let mut r = Runner::new(kind, SPACE_REGIONS, keys.clone(), Sizes::Fixed(32), 8192);
    let mut stored = 0;
    let mut stop = None;
    for (i, &k) in keys.iter().enumerate() {
        match r.s.insert(k, &value(i, 1, Sizes::Fixed(32))) {
            Ok(()) => stored += 1,
            Err(e) => {
                stop = Some(e);
                break;
            }
        }
    }
    let mut out = [0u8; 64];
    let readable = (0..stored)
        .filter(|&i| {
            matches!(r.s.get(keys[i], &mut out), Ok(Some(32)))
                && out[..32] == value(i, 1, Sizes::Fixed(32))[..]
        })
        .count();
    Space {
        kind,
        stored,
        readable,
        stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_deterministic_and_sized() {
        assert_eq!(value(3, 7, Sizes::Fixed(32)), value(3, 7, Sizes::Fixed(32)));
        assert_ne!(value(3, 7, Sizes::Fixed(32)), value(3, 8, Sizes::Fixed(32)));
        assert_eq!(value(1, 1, Sizes::Fixed(32)).len(), 32);
        for v in 1..200 {
            let n = value(9, v, Sizes::Mixed(512)).len();
            assert!((1..=512).contains(&n));
        }
    }

    #[test]
    fn keys_are_distinct_and_valid() {
        let k = make_keys(1000, 1);
        let set: std::collections::HashSet<_> = k.iter().collect();
        assert_eq!(set.len(), 1000);
        assert!(k.iter().all(|&k| k != 0 && k != u64::MAX));
    }

    #[test]
    fn churn_covers_the_flash_ten_times() {
        assert_eq!(churn_updates(64, 10), 65_536);
        assert!(churn_updates(16, 10) * PAYLOAD >= 10 * 16 * REGION);
    }

    #[test]
    fn runner_detects_a_wrong_value() {
        let mut r = Runner::new(Kind::Ours, 16, make_keys(4, 9), Sizes::Fixed(32), 4);
        r.writes("w", &[0, 1, 2, 3], Write::Insert);
        assert_eq!(r.reads("r", &[0, 1, 2, 3]).wrong, 0);
        // Change key 2 behind the model's back.
        let k = r.keys[2];
        r.s.set(k, b"not the model's value").unwrap();
        assert_eq!(r.reads("r2", &[0, 1, 2, 3]).wrong, 1);
        r.writes("d", &[2], Write::Delete);
        assert_eq!(r.reads("r3", &[2]).wrong, 0);
    }
}
