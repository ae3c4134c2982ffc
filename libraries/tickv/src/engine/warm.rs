//! Building the index, newest region first: the last part of a mount, or,
//! after a lazy mount, steps run between other operations.
//!
//! Newest first, the first record found of a key is its newest one, except
//! within one region, where records are read front to back and a later one
//! replaces the entry of an earlier one. An entry from another region is
//! newer than anything the build can still find (the build only moves
//! towards the tail, and writes append at the head), so such records are
//! passed over. A tombstone leaves a marker in the index while older
//! regions remain to be indexed; the markers go once the tail is done.

use super::*;

/// Indexes records where `Core::warm` stands, up to a number of records.
#[derive(Clone, Copy)]
pub(super) struct Warm {
    /// Records still to index in this run (`u32::MAX`: no limit).
    pub(super) left: u32,
    /// The region being indexed and the next record in it.
    pub(super) scan: Scan,
    /// Whether to go on to the next region (towards the tail) when one
    /// ends; `false` for the head, which mount finishes itself.
    pub(super) onward: bool,
    /// More than one unparseable header in a row was met in this region.
    pub(super) damaged: bool,
    pub(super) st: WarmState,
    pub(super) wait: bool,
}

#[derive(Clone, Copy)]
pub(super) enum WarmState {
    Records,
    /// Checking the checksum of the scan's record.
    Verify(Body),
    /// Reading the header of an earlier record of the same key in this
    /// region, which the scan's record replaces (for the live byte count).
    Superseded(u32),
}

impl Warm {
    /// Indexes from where the build stands, at most `left` records.
    pub(super) fn new(c: &Core, left: u32) -> Warm {
        Warm::region(c.warm.unwrap_or(Scan::idle()), left, true)
    }

    /// Indexes the records of `scan`'s region from its position.
    pub(super) fn region(scan: Scan, left: u32, onward: bool) -> Warm {
        Warm {
            left,
            scan,
            onward,
            damaged: false,
            st: WarmState::Records,
            wait: false,
        }
    }

    /// Ready when the run's records are done, when the build is finished,
    /// or (not `onward`) when the region ends.
    #[inline(never)]
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<()> {
        loop {
            match &mut self.st {
                WarmState::Records => {
                    if self.left == 0 || (self.onward && c.warm.is_none()) {
                        return Poll::Ready(());
                    }
                    #[cfg(feature = "filter")]
                    let region = self.scan.region;
                    #[cfg(feature = "filter")]
                    if self.scan.off == c.g.span && !self.scan.resync && !self.scan.wait {
                        // The region's filter is rebuilt from here (and not
                        // asked until it is: see `Scan::of`).
                        c.fl.clear(region);
                    }
                    match tri!(self.scan.poll(c, io, ev)) {
                        Item::Rec => {
                            // Every well-formed header, valid or not: secure
                            // delete looks for damaged copies too.
                            #[cfg(feature = "filter")]
                            c.fl.add(region, self.scan.h.key);
                            self.st =
                                WarmState::Verify(Body::new(self.scan.loc, &self.scan.h, false));
                        }
                        Item::Bad(first) => {
                            if first {
                                c.corrupt = c.corrupt.saturating_add(1);
                            } else {
                                self.damaged = true;
                            }
                            self.done(c);
                        }
                        Item::End => {
                            if !self.onward {
                                return Poll::Ready(());
                            }
                            self.region_done(c);
                        }
                    }
                }
                WarmState::Verify(body) => {
                    let ok = tri!(body.poll(c, io, ev));
                    self.st = WarmState::Records;
                    if !ok {
                        c.corrupt = c.corrupt.saturating_add(1);
                        self.done(c);
                        continue;
                    }
                    match c.ix.get(self.scan.h.key) {
                        // Newer: from a region indexed before this one.
                        Some(e) if c.region_of(e) != self.scan.region => {}
                        Some(e) if !c.is_tomb(e) => {
                            self.st = WarmState::Superseded(e);
                            continue;
                        }
                        _ => self.place(c, 0),
                    }
                    self.done(c);
                }
                WarmState::Superseded(old) => {
                    tri!(read(&mut self.wait, ev, *old, REC_HDR));
                    let key = self.scan.h.key;
                    let old = indexed_header(io, key).map_or(0, |h| c.g.extent(h.len));
                    self.place(c, old);
                    self.st = WarmState::Records;
                    self.done(c);
                }
            }
        }
    }

    /// Makes the index and the live byte count reflect the scan's record,
    /// the newest of its key so far, replacing one of `old` live bytes.
    fn place(&self, c: &mut Core, old: u32) {
        let (loc, h) = (self.scan.loc, self.scan.h);
        let extent = c.g.extent(h.len);
        c.live_bytes = c.live_bytes.saturating_sub(old);
        match h.kind {
            Kind::Value => {
                c.ix.set(h.key, loc);
                c.live_bytes = c.live_bytes.saturating_add(extent);
            }
            // Older regions remain: keep the key marked deleted.
            Kind::Tombstone if self.scan.region != c.tail => {
                c.ix.set(h.key, c.tomb(self.scan.region))
            }
            Kind::Tombstone => c.ix.remove(h.key),
        }
    }

    /// One more record done: the build stands after it.
    fn done(&mut self, c: &mut Core) {
        self.left = self.left.saturating_sub(1);
        if self.onward {
            c.warm = Some(self.scan);
        }
    }

    /// The region is indexed: on to the next older one, or finished.
    fn region_done(&mut self, c: &mut Core) {
        let end = self.scan.off.min(c.g.region);
        c.rec_bytes = c.rec_bytes.saturating_add(end - c.g.span);
        if self.scan.region == c.tail {
            let region = c.g.region;
            c.ix.retain(|loc| !loc.is_multiple_of(region));
            c.warm = None;
        } else {
            self.scan = Scan::new(c, c.g.prev(self.scan.region));
            self.damaged = false;
            c.warm = Some(self.scan);
        }
    }
}
