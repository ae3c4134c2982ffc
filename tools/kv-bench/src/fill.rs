//! Two workloads of issue 13: steady overwrites at fixed fill levels
//! (erases per KiB written against the ideal of a ring), and gets and
//! misses when the keys outnumber the RAM index (or cache) entries.

use crate::stats::Phase;
use crate::stores::Kind;
use crate::workloads::{make_keys, value, Rng, Runner, Sizes, Write, PAYLOAD};

/// Regions of the fill-level flash (16 x 4 KiB).
pub const FILL_REGIONS: usize = 16;
/// Live data, in percent of what the store holds at most.
pub const FILL_LEVELS: [usize; 5] = [50, 80, 90, 95, 99];
/// The stores compared at every fill level.
pub const FILL_STORES: [Kind; 2] = [Kind::Ours, Kind::SeqCached];
/// Overwrites measured, in multiples of the store's capacity (after as
/// many again unmeasured, to reach a steady state).
pub const FILL_LAPS: usize = 2;

/// One store at one fill level.
pub struct Fill {
    /// Which store.
    pub kind: Kind,
    /// Live data in percent of the capacity.
    pub percent: usize,
    /// Keys the store holds at most (32-byte values, inserted until one
    /// is refused).
    pub capacity: usize,
    /// Live keys during the overwrites.
    pub keys: usize,
    /// The measured overwrites.
    pub phase: Phase,
}

impl Fill {
    /// Payload bytes (key and value) of the measured writes.
    pub fn payload(&self) -> u64 {
        self.phase.ops * PAYLOAD as u64
    }

    /// Erases per KiB of payload written.
    pub fn erases_per_kib(&self) -> f64 {
        self.phase.total.c.erases as f64 * 1024.0 / self.payload().max(1) as f64
    }

    /// Bytes programmed per byte of payload.
    pub fn amplification(&self) -> f64 {
        self.phase.total.c.program_bytes as f64 / self.payload().max(1) as f64
    }

    /// The ideal erases per KiB of payload for this store: a ring erases
    /// each of its regions once a lap, and a lap makes room for the free
    /// space, `(capacity - live keys)` records' worth.
    pub fn ideal_per_kib(&self) -> f64 {
        let free = (self.capacity - self.keys).max(1) * PAYLOAD;
        1024.0 * FILL_REGIONS as f64 / free as f64
    }
}

/// Keys with 32-byte values a fresh store of `kind` on 16 x 4 KiB accepts
/// before it refuses one.
pub fn capacity(kind: Kind) -> usize {
    let cap = 4000;
    let keys = make_keys(cap, 31);
    let mut r = Runner::new(kind, FILL_REGIONS, keys.clone(), Sizes::Fixed(32), cap);
    let mut n = 0;
    while n < cap && r.s.insert(keys[n], &value(n, 1, Sizes::Fixed(32))).is_ok() {
        n += 1;
    }
    n
}

/// Fills a store to `percent` of `capacity` and overwrites random keys:
/// `FILL_LAPS` capacities' worth unmeasured, then as many measured.
pub fn fill(kind: Kind, percent: usize, capacity: usize) -> Fill {
    let n = capacity * percent / 100;
    let mut r = Runner::new(
        kind,
        FILL_REGIONS,
        make_keys(n, 32),
        Sizes::Fixed(32),
        capacity,
    );
    r.max_errors = u64::MAX;
    let all: Vec<usize> = (0..n).collect();
    r.writes("fill", &all, Write::Insert);
    let mut rng = Rng::new(33 + percent as u64);
    let mut order = |len: usize| -> Vec<usize> { (0..len).map(|_| rng.index(n)).collect() };
    let warm = order(FILL_LAPS * capacity);
    r.writes("warm-up", &warm, Write::Set);
    let measured = order(FILL_LAPS * capacity);
    let phase = r.writes("overwrites", &measured, Write::Set).clone();
    let check = r.reads("read all", &all);
    let mut phase = phase;
    phase.wrong = check.wrong;
    Fill {
        kind,
        percent,
        capacity,
        keys: n,
        phase,
    }
}

/// Keys of the beyond-the-index workload (on 64 x 4 KiB).
pub const BEYOND_KEYS: usize = 1000;
/// Regions of the beyond-the-index workload.
pub const BEYOND_REGIONS: usize = 64;
/// The stores and their RAM index or cache entries: 1x, 2x and 10x more
/// keys than entries, and none.
pub const BEYOND: [(Kind, usize); 12] = [
    (Kind::Ours, 1000),
    (Kind::Ours, 500),
    (Kind::Ours, 100),
    (Kind::OursNoIndex, 0),
    (Kind::OursFilter, 1000),
    (Kind::OursFilter, 500),
    (Kind::OursFilter, 100),
    (Kind::OursFilter, 0),
    (Kind::Upstream, 0),
    (Kind::SeqCached, 1000),
    (Kind::SeqCached, 500),
    (Kind::SeqCached, 100),
];

/// Gets and misses with fewer entries than keys.
pub struct Beyond {
    /// Which store.
    pub kind: Kind,
    /// RAM index or key-cache entries.
    pub entries: usize,
    /// Gets of every key (after a remount).
    pub hits: Phase,
    /// Gets of as many keys that were never written.
    pub misses: Phase,
}

/// Inserts 1000 keys, overwrites each twice (so the log is longer than
/// the live data), remounts, reads every key once (unmeasured), then gets
/// every key and 1000 absent keys.
pub fn beyond(kind: Kind, entries: usize) -> Beyond {
    let n = BEYOND_KEYS;
    let keys = make_keys(2 * n, 40);
    let mut r = Runner::new(
        kind,
        BEYOND_REGIONS,
        keys[..n].to_vec(),
        Sizes::Fixed(32),
        entries,
    );
    let all: Vec<usize> = (0..n).collect();
    r.writes("insert", &all, Write::Insert);
    let mut rng = Rng::new(41);
    for _ in 0..2 {
        let mut round = all.clone();
        rng.shuffle(&mut round);
        r.writes("update", &round, Write::Set);
    }
    r.remount("remount");
    // A first pass fills the caches that fill lazily (sequential-storage's).
    r.reads("warm-up", &all);
    let hits = r.reads("hits", &all).clone();
    let misses = r.misses("misses", &keys[n..]).clone();
    Beyond {
        kind,
        entries,
        hits,
        misses,
    }
}
