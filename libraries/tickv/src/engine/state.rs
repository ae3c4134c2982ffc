//! The persistent in-RAM state: geometry, index, head and tail of the
//! ring, counters.

use super::*;

/// What the index tells about a key while it is built.
#[cfg(feature = "lazy")]
pub(super) enum Known {
    /// Its newest record is at this address (a value record, unless the
    /// flash was damaged since).
    Value(u32),
    /// It has no value.
    Absent,
    /// Unknown: scan with this search; if it finds nothing, the key's
    /// record is this index entry (a value, or a tombstone marker), if any.
    Scan(Find, Option<u32>),
}

/// A record this engine last read whole or wrote: the one at `loc` has a
/// value of `len` bytes (none if `loc` is 0, a region header, where no
/// record can be).
#[derive(Clone, Copy)]
pub(super) struct Recent {
    pub(super) loc: u32,
    pub(super) len: u32,
}

/// The persistent in-RAM state.
pub(super) struct Core<'x> {
    pub(super) g: Layout,
    pub(super) ix: Index<'x>,
    /// Per-region key filters (empty unless the caller gave storage).
    #[cfg(feature = "filter")]
    pub(super) fl: crate::filter::Filter<'x>,
    pub(super) mounted: bool,
    /// Region records are appended to, the next free offset in it, and its
    /// sequence number.
    pub(super) head: u32,
    pub(super) head_off: u32,
    pub(super) head_seq: u32,
    /// Oldest region holding records, and the number of regions from the
    /// tail to the head inclusive.
    pub(super) tail: u32,
    pub(super) used: u32,
    /// Sequence number the next erased region gets.
    pub(super) next_seq: u32,
    /// Largest erase count seen: the estimate for a region whose count was lost.
    pub(super) max_erase: u32,
    /// Bytes of records in used regions, and of live value records.
    pub(super) rec_bytes: u32,
    pub(super) live_bytes: u32,
    pub(super) corrupt: u32,
    /// Failures of compaction steps run after a write had succeeded.
    pub(super) deferred_errors: u32,
    /// Bytes moved per flash request (scratch length rounded to the unit).
    pub(super) chunk: u32,
    /// The value record the last successful get read whole, or the last
    /// write or mount applied: the next get of its key reads it in one
    /// request, and the next write of its key skips reading its header.
    /// Flash is written once between erases, so what it says about `loc`
    /// holds until a region is erased; then it is forgotten (and at every
    /// mount, which may find other flash content).
    pub(super) recent: Recent,
    /// What compacting the tail would reclaim, from the last dry run since
    /// the tail last changed. Records that were dead stay dead until then,
    /// so it is a lower bound.
    pub(super) tail_gain: Option<u32>,
    /// While the index is being built after a lazy mount (newest region
    /// first): where the build stands, the region being indexed and the
    /// next record in it. The regions newer than it, and its records before
    /// that point, are indexed; the rest of it and the regions down to the
    /// tail are not yet. Meanwhile a tombstone is indexed as a marker (the
    /// address of its region's start, where no record can be) so that
    /// older records of its key, found later, stay hidden. `None`: every
    /// used region is indexed (as far as the index has room).
    #[cfg(feature = "lazy")]
    pub(super) warm: Option<Scan>,
}

impl<'x> Core<'x> {
    pub(super) fn fresh(g: Layout, ix: Index<'x>) -> Core<'x> {
        Core {
            g,
            ix,
            #[cfg(feature = "filter")]
            fl: Default::default(),
            mounted: false,
            head: 0,
            head_off: g.region,
            head_seq: 0,
            tail: 0,
            used: 1,
            next_seq: 0,
            max_erase: 0,
            rec_bytes: 0,
            live_bytes: 0,
            corrupt: 0,
            deferred_errors: 0,
            chunk: 0,
            recent: Recent { loc: 0, len: 0 },
            tail_gain: None,
            #[cfg(feature = "lazy")]
            warm: None,
        }
    }

    /// Whether the index is being built after a lazy mount.
    pub(super) fn warming(&self) -> bool {
        #[cfg(feature = "lazy")]
        return self.warm.is_some();
        #[cfg(not(feature = "lazy"))]
        false
    }

    /// Whether `region`'s key filter is being rebuilt (by the index build),
    /// so that it must not be asked.
    #[cfg(feature = "filter")]
    pub(super) fn filter_rebuilding(&self, region: u32) -> bool {
        #[cfg(feature = "lazy")]
        return self.warm.is_some_and(|w| w.region == region);
        #[cfg(not(feature = "lazy"))]
        {
            let _ = region;
            false
        }
    }

    /// The index marker of a tombstone in `region` during the build.
    #[cfg(feature = "lazy")]
    pub(super) fn tomb(&self, region: u32) -> u32 {
        self.addr(region, 0)
    }

    /// Whether an index location is a tombstone marker (a region's start:
    /// records start after the region header).
    #[cfg(feature = "lazy")]
    pub(super) fn is_tomb(&self, loc: u32) -> bool {
        loc.is_multiple_of(self.g.region)
    }

    /// Whether the index holds every live key: complete, and built.
    pub(super) fn indexed_all(&self) -> bool {
        self.ix.complete && !self.warming()
    }

    /// What the index says about `key`, or the scan that finds out, while
    /// the index is built (otherwise the index answers, or a scan of the
    /// whole log if it lacks room).
    #[cfg(feature = "lazy")]
    #[inline(never)]
    pub(super) fn lookup(&mut self, key: u64) -> Known {
        let entry = self.ix.get(key);
        let Some(w) = self.warm else {
            return match entry {
                Some(loc) => Known::Value(loc),
                None if self.ix.complete => Known::Absent,
                None => Known::Scan(Find::new(self, key, None, false), None),
            };
        };
        match entry {
            // From a region the build has finished, or from a write since
            // the mount: nothing unindexed can be newer.
            Some(loc) if self.region_of(loc) != w.region => {
                if self.is_tomb(loc) {
                    Known::Absent
                } else {
                    Known::Value(loc)
                }
            }
            // A key left out of a full index may be anywhere.
            _ if !self.ix.complete => Known::Scan(Find::new(self, key, None, false), None),
            // If the region being built holds the entry, only its records
            // not yet indexed can be newer (then the entry answers);
            // without one, the key is in the part not yet indexed, or
            // nowhere.
            _ => Known::Scan(Find::unindexed(self, key, w, entry.is_some()), entry),
        }
    }

    pub(super) fn free(&self) -> u32 {
        self.g.count - self.used
    }

    pub(super) fn addr(&self, region: u32, off: u32) -> u32 {
        self.g.addr(region, off)
    }

    pub(super) fn region_of(&self, loc: u32) -> u32 {
        loc / self.g.region
    }

    /// The value length of the record at `loc`, if the engine knows it
    /// without reading (see `recent`).
    pub(super) fn known_len(&self, loc: u32) -> Option<u32> {
        (self.recent.loc == loc).then_some(self.recent.len)
    }

    pub(super) fn dead(&self) -> Option<u32> {
        self.indexed_all()
            .then(|| self.rec_bytes.saturating_sub(self.live_bytes))
    }

    /// Bytes writable without touching the reserve region.
    pub(super) fn space(&self) -> u32 {
        (self.g.region - self.head_off) + self.free().saturating_sub(1) * self.g.usable
    }

    /// Whether a write of `extent` bytes that needed no compaction should
    /// run a step after its record is written, and the bound on what that
    /// step may reclaim (see `Compact`). Compaction is otherwise left until
    /// a write needs the space, when the oldest region has had the longest
    /// time to turn into garbage. But a write runs at most one step, and a
    /// step on a tail of live data makes no room: with less than a region
    /// of space left and garbage in the store, a tail is compacted at once,
    /// one step per write, if it would reclaim less than a quarter of its
    /// share of the free space (`(N - 1) * usable - live` over `N`), so
    /// that the ring moves past cold data to the garbage beyond while
    /// writes still fit. Not when that quarter is no larger than this
    /// record: a store that full moves its ring only on demand (a tail
    /// short of garbage there is more likely to gain some than to be cold).
    pub(super) fn early_gc(&self, extent: u32) -> Option<u32> {
        // Never while the index is being built: compaction decides
        // liveness with the index.
        if self.space() >= self.g.usable
            || self.used < 2
            || self.dead() == Some(0)
            || self.warming()
        {
            return None;
        }
        let live = if self.ix.complete {
            self.live_bytes
        } else {
            self.rec_bytes
        };
        let share = ((self.g.count - 1) * self.g.usable).saturating_sub(live) / self.g.count;
        let below = share / 4;
        (below > extent && self.tail_gain.is_none_or(|g| g < below)).then_some(below)
    }

    /// Makes the index and the live byte count reflect a new record of
    /// `key` at `loc`, with a value of `len` bytes, superseding `old` live
    /// bytes; a value record becomes `recent`.
    #[inline(never)]
    pub(super) fn apply(&mut self, key: u64, kind: Kind, loc: u32, len: u32, old: u32) {
        self.live_bytes = self.live_bytes.saturating_sub(old);
        match kind {
            Kind::Value => {
                self.ix.set(key, loc);
                self.live_bytes = self.live_bytes.saturating_add(self.g.extent(len));
                self.recent = Recent { loc, len };
            }
            // While the index is built, older records of the key may still
            // be found: mark it deleted instead.
            #[cfg(feature = "lazy")]
            Kind::Tombstone if self.warming() => self.ix.set(key, self.tomb(self.region_of(loc))),
            Kind::Tombstone => self.ix.remove(key),
        }
    }

    /// Appending stopped in the head (after a write failure or damage).
    pub(super) fn close_head(&mut self) {
        self.rec_bytes = self.rec_bytes.saturating_add(self.g.region - self.head_off);
        self.head_off = self.g.region;
    }
}
