//! One interface over every store under test, and the factory that builds
//! each of them on a shared, metered flash.

use crate::device::Shared;

mod ekv_store;
mod ours;
mod seq;
mod upstream;

/// What every store offers the workloads. Keys are 64-bit numbers (8 bytes
/// on flash for every store); errors are the store's own, formatted.
pub trait Kv {
    /// Erases the flash and starts an empty store.
    fn format(&mut self) -> Result<(), String>;
    /// Forgets every bit of RAM state, as a reset would, and mounts again
    /// from flash alone.
    fn remount(&mut self) -> Result<(), String>;
    /// Writes a key that the caller knows is absent (stores with a cheaper
    /// path for that use it).
    fn insert(&mut self, key: u64, value: &[u8]) -> Result<(), String> {
        self.set(key, value)
    }
    /// Inserts or overwrites.
    fn set(&mut self, key: u64, value: &[u8]) -> Result<(), String>;
    /// Copies the value into `out`; `None` when the key has no value.
    fn get(&mut self, key: u64, out: &mut [u8]) -> Result<Option<usize>, String>;
    /// Removes the key's value (absent keys are not an error).
    fn delete(&mut self, key: u64) -> Result<(), String>;
    /// Bytes of RAM the store needs, by part, on the host (x86_64).
    fn ram(&self) -> Vec<(&'static str, usize)>;
}

/// The `ram()` part naming the largest future of one operation (async
/// stores only): stack, not static RAM.
pub const FUTURE: &str = "largest operation future (stack)";

/// The stores under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Our TicKV v2 with a RAM index of one entry per key.
    Ours,
    /// Our TicKV v2 without an index.
    OursNoIndex,
    /// Our TicKV v2 with per-region key filters (beside any index).
    OursFilter,
    /// Upstream `tickv` 2.0.0.
    Upstream,
    /// `sequential-storage` 8.0.2 without caches.
    SeqUncached,
    /// `sequential-storage` 8.0.2 with all array caches.
    SeqCached,
    /// `ekv` 1.0.0, one transaction per operation.
    Ekv,
}

/// Every store of every table, in table order.
pub const ALL: [Kind; 6] = [
    Kind::Ours,
    Kind::OursNoIndex,
    Kind::Upstream,
    Kind::SeqUncached,
    Kind::SeqCached,
    Kind::Ekv,
];

/// Where a store goes in a table: the variant with key filters (measured
/// beyond the index only) right after our other two.
pub fn position(k: Kind) -> usize {
    match ALL.iter().position(|&x| x == k) {
        Some(i) if i >= 2 => i + 1,
        Some(i) => i,
        None => 2,
    }
}

impl Kind {
    /// The name used in tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "tickv v2 (index)",
            Kind::OursNoIndex => "tickv v2 (no index)",
            Kind::OursFilter => "tickv v2 (key filters)",
            Kind::Upstream => "tickv 2.0.0 (upstream)",
            Kind::SeqUncached => "sequential-storage (no cache)",
            Kind::SeqCached => "sequential-storage (all caches)",
            Kind::Ekv => "ekv 1.0.0",
        }
    }

    /// A short name for file names and chart legends.
    pub fn short(self) -> &'static str {
        match self {
            Kind::Ours => "ours+index",
            Kind::OursNoIndex => "ours",
            Kind::OursFilter => "ours+filter",
            Kind::Upstream => "upstream",
            Kind::SeqUncached => "s-s",
            Kind::SeqCached => "s-s+cache",
            Kind::Ekv => "ekv",
        }
    }
}

/// Builds an (unformatted, unmounted) store of `kind` on `flash`, with RAM
/// structures sized for `keys` keys. The flash must have 4 KiB regions and
/// a 4-byte program unit (the compile-time geometry of the peers).
pub fn open(kind: Kind, flash: &Shared, keys: usize) -> Box<dyn Kv> {
    match kind {
        Kind::Ours => Box::new(ours::Ours::new(flash, keys)),
        Kind::OursNoIndex => Box::new(ours::Ours::new(flash, 0)),
        Kind::OursFilter => Box::new(ours::Ours::with_filter(
            flash,
            keys,
            ours::FILTER_PER_REGION,
        )),
        Kind::Upstream => Box::new(upstream::Upstream::new(flash)),
        Kind::SeqUncached => seq::uncached(flash),
        Kind::SeqCached => seq::cached(flash, keys),
        Kind::Ekv => Box::new(ekv_store::Ekv::new(flash)),
    }
}

/// Builds a store and formats the flash for it.
pub fn formatted(kind: Kind, flash: &Shared, keys: usize) -> Box<dyn Kv> {
    let mut s = open(kind, flash, keys);
    s.format()
        .unwrap_or_else(|e| panic!("{}: format: {e}", kind.name()));
    s
}

pub use ekv_store::EKV_TUNING;
pub use ours::{FILTER_PER_REGION, SCRATCH as OURS_SCRATCH};
pub use seq::cache_ram;
pub use upstream::MAIN_KEY_HASH;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::new_flash;

    #[test]
    fn every_adapter_round_trips_a_key() {
        for kind in ALL {
            let flash = new_flash(4096, 16, 4);
            let mut s = formatted(kind, &flash, 100);
            let mut out = [0u8; 64];
            let key = 0x0123_4567_89ab_cdef;
            assert_eq!(s.get(key, &mut out), Ok(None), "{kind:?}");
            s.insert(key, b"first value").unwrap();
            s.set(key, b"second").unwrap();
            assert_eq!(s.get(key, &mut out), Ok(Some(6)), "{kind:?}");
            assert_eq!(&out[..6], b"second");
            s.remount().unwrap();
            assert_eq!(s.get(key, &mut out), Ok(Some(6)), "{kind:?} after remount");
            assert_eq!(&out[..6], b"second");
            s.delete(key).unwrap();
            assert_eq!(s.get(key, &mut out), Ok(None), "{kind:?} after delete");
            s.remount().unwrap();
            assert_eq!(s.get(key, &mut out), Ok(None), "{kind:?} delete persists");
            assert!(!s.ram().is_empty());
        }
    }
}
