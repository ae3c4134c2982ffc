//! The persistent in-RAM state: geometry, index, head and tail of the
//! ring, counters.

use super::*;

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
    /// What compacting the tail would reclaim, from the last dry run since
    /// the tail last changed. Records that were dead stay dead until then,
    /// so it is a lower bound.
    pub(super) tail_gain: Option<u32>,
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
            tail_gain: None,
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

    pub(super) fn dead(&self) -> Option<u32> {
        self.ix
            .complete
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
        if self.space() >= self.g.usable || self.used < 2 || self.dead() == Some(0) {
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
    /// `key` at `loc`, taking `extent` bytes, superseding one of `old` bytes.
    #[inline(never)]
    pub(super) fn apply(&mut self, key: u64, kind: Kind, loc: u32, extent: u32, old: Option<u32>) {
        self.live_bytes = self.live_bytes.saturating_sub(old.unwrap_or(0));
        match kind {
            Kind::Value => {
                self.ix.set(key, loc);
                self.live_bytes = self.live_bytes.saturating_add(extent);
            }
            Kind::Tombstone => self.ix.remove(key),
        }
    }

    /// Appending stopped in the head (after a write failure or damage).
    pub(super) fn close_head(&mut self) {
        self.rec_bytes = self.rec_bytes.saturating_add(self.g.region - self.head_off);
        self.head_off = self.g.region;
    }
}
