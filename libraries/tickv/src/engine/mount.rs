//! Mount: rebuild the in-RAM state from flash alone, recovering from a
//! power cut at any point.

use super::*;

/// Mount: three passes over flash.
///
/// 1. Read every region's header and first record slot: the head is the
///    newest region holding records.
/// 2. Walk forward from the head over regions without records (the free
///    arc); the first region with records is the tail. If no region is free,
///    a compaction was interrupted while copying into the last free region:
///    that region holds only copies, so it is erased (rolled back).
/// 3. Scan every record from tail to head, checking checksums, building the
///    index and the byte counts, and finding where appending resumes.
///
/// A lazy mount (feature `lazy`) replaces pass 3: it scans the head's
/// records only, and leaves the other regions to index-building steps
/// (`Warm`), newest first.
#[derive(Clone, Copy)]
pub(super) struct Mount {
    /// Index only the head (`Op::MountLazy`; always false without the
    /// feature).
    #[cfg_attr(not(feature = "lazy"), allow(dead_code))]
    pub(super) lazy: bool,
    pub(super) st: MountState,
    pub(super) i: u32,
    pub(super) wait: bool,
    // pass 1
    pub(super) head: Option<(u32, RegionHeader)>,
    pub(super) damaged_head: Option<u32>,
    pub(super) empty: Option<(u32, RegionHeader)>,
    pub(super) any_valid: bool,
    pub(super) v1: bool,
    pub(super) other: bool,
    pub(super) max_seq: u32,
    // pass 2
    pub(super) tail_valid: bool,
    pub(super) promoted: bool,
    // pass 3
    pub(super) region: u32,
    /// Its `loc` and `h` are the record being checked and applied.
    pub(super) scan: Scan,
    pub(super) closed: bool,
}

#[derive(Clone, Copy)]
pub(super) enum MountState {
    Survey,
    Walk,
    Peek(u32),
    Copies {
        head: Scan,
        tail: Scan,
        /// Looking for a copy of `head.h` in the tail.
        want: bool,
        /// Checking the checksum of `head`'s current record, or with
        /// `orig` of its original in the tail.
        check: Option<Body>,
        orig: bool,
    },
    Rollback(EraseInit),
    RegionHeader,
    Records,
    Verify(Body),
    Superseded(u32),
    /// Lazy: the head's records.
    #[cfg(feature = "lazy")]
    Head(Warm),
}

impl Mount {
    #[inline(never)]
    pub(super) fn new(lazy: bool) -> Mount {
        Mount {
            lazy,
            st: MountState::Survey,
            i: 0,
            wait: false,
            head: None,
            damaged_head: None,
            empty: None,
            any_valid: false,
            v1: false,
            other: false,
            max_seq: 0,
            tail_valid: false,
            promoted: false,
            region: 0,
            scan: Scan::idle(),
            closed: false,
        }
    }

    #[inline(never)]
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        loop {
            match &mut self.st {
                MountState::Survey => {
                    if self.i == c.g.count {
                        tri!(self.survey_done(c, ev));
                        continue;
                    }
                    let r = self.i;
                    let records = !tri!(read_start(&mut self.wait, ev, c, io, r));
                    match RegionHeader::decode(&c.g, io.scratch) {
                        HeaderState::Valid(h) => {
                            if !self.any_valid || seq_newer(h.seq, self.max_seq) {
                                self.max_seq = h.seq;
                            }
                            self.any_valid = true;
                            c.max_erase = c.max_erase.max(h.erase_count);
                            if records && self.head.is_none_or(|(_, b)| seq_newer(h.seq, b.seq)) {
                                self.head = Some((r, h));
                            }
                            if !records && self.empty.is_none_or(|(_, b)| seq_newer(b.seq, h.seq)) {
                                self.empty = Some((r, h));
                            }
                        }
                        HeaderState::V1 => self.v1 = true,
                        HeaderState::OtherGeometry => self.other = true,
                        HeaderState::Blank | HeaderState::Invalid => {
                            if records {
                                self.damaged_head = Some(r);
                            }
                        }
                    }
                    self.i += 1;
                }
                MountState::Walk => {
                    // `i` counts free regions found after the head so far.
                    let r = (c.head + 1 + self.i) % c.g.count;
                    if r == c.head {
                        c.tail = c.head;
                        tri!(self.walk_done(c));
                        continue;
                    }
                    if tri!(read_start(&mut self.wait, ev, c, io, r)) {
                        self.i += 1;
                        continue;
                    }
                    let valid = matches!(
                        RegionHeader::decode(&c.g, io.scratch),
                        HeaderState::Valid(_)
                    );
                    if !valid && self.i == 0 && !self.promoted && c.g.next(r) != c.head {
                        // Records right after the head under a damaged
                        // header: the real head (newer than the one chosen)
                        // or a tail whose erase was cut. Tell by what
                        // follows it.
                        self.st = MountState::Peek(r);
                        continue;
                    }
                    c.tail = r;
                    self.tail_valid = valid;
                    tri!(self.walk_done(c));
                }
                MountState::Peek(r) => {
                    let r = *r;
                    if tri!(read_start(&mut self.wait, ev, c, io, c.g.next(r))) {
                        // Followed by free space: it is the newest region,
                        // its header damaged. It becomes the (closed) head.
                        c.head = r;
                        self.promoted = true;
                        self.st = MountState::Walk;
                    } else {
                        // Followed by used regions: the oldest, half erased.
                        c.tail = r;
                        self.tail_valid = false;
                        tri!(self.walk_done(c));
                    }
                }
                MountState::Copies {
                    head,
                    tail,
                    want,
                    check,
                    orig,
                } => {
                    // Is every valid record in the head an identical copy
                    // of a valid tail record, in order? Records that fail
                    // their CRC, or do not decode, stand for nothing: a
                    // copy torn by the cut, or one damaged by an
                    // interrupted rollback.
                    let copies = loop {
                        if let Some(body) = check {
                            let valid = tri!(body.poll(c, io, ev));
                            *check = None;
                            if *orig {
                                // A copy counts only with its original
                                // intact: an erase that began may have
                                // damaged the tail without its header.
                                *orig = false;
                                if !valid {
                                    break false;
                                }
                                *want = false;
                            } else {
                                *want = valid;
                            }
                            continue;
                        }
                        if *want {
                            match tri!(tail.poll(c, io, ev)) {
                                Item::Rec if tail.h == head.h => {
                                    *check = Some(Body::new(tail.loc, &tail.h, false));
                                    *orig = true;
                                }
                                Item::Rec | Item::Bad(_) => {}
                                Item::End => break false,
                            }
                            continue;
                        }
                        match tri!(head.poll(c, io, ev)) {
                            Item::Rec => *check = Some(Body::new(head.loc, &head.h, false)),
                            Item::Bad(_) => {}
                            Item::End => break true,
                        }
                    };
                    // The mutation feature exists to prove the power-cut
                    // sweep notices when this rollback is missing.
                    if copies && !cfg!(feature = "mutation-no-rollback") {
                        let count = self
                            .head
                            .filter(|(r, _)| *r == c.head)
                            .map_or(c.max_erase, |(_, h)| h.erase_count)
                            .saturating_add(1);
                        self.st = MountState::Rollback(EraseInit::new(c.head, count, c.next_seq));
                        c.next_seq = seq_next(c.next_seq);
                    } else {
                        // Not an interrupted compaction: erase nothing.
                        self.start_scan(c);
                    }
                }
                MountState::Rollback(init) => {
                    tri!(init.poll(c, io, ev));
                    c.head = c.g.prev(c.head);
                    c.used -= 1;
                    self.start_scan(c);
                }
                #[cfg(feature = "lazy")]
                MountState::Head(w) => {
                    tri!(w.poll(c, io, ev));
                    // As below: damage beyond one torn header closes it.
                    self.closed |= w.damaged;
                    self.scan = w.scan;
                    self.st = MountState::Records;
                }
                MountState::RegionHeader => {
                    tri!(read(&mut self.wait, ev, c.addr(self.region, 0), c.g.span));
                    match RegionHeader::decode(&c.g, io.scratch) {
                        HeaderState::Valid(h) => {
                            if self.region == c.head {
                                c.head_seq = h.seq;
                            }
                        }
                        _ => {
                            if self.region == c.head {
                                self.closed = true;
                            }
                        }
                    }
                    self.scan = Scan {
                        end: c.g.region,
                        ..Scan::new(c, self.region)
                    };
                    self.st = MountState::Records;
                    #[cfg(feature = "lazy")]
                    if self.lazy {
                        // Its records are indexed as the build indexes a
                        // region; `Records` then sees the end at once.
                        self.st = MountState::Head(Warm::region(self.scan, u32::MAX, false));
                    }
                }
                MountState::Records => match tri!(self.scan.poll(c, io, ev)) {
                    Item::Rec => {
                        // Every well-formed header, valid or not: secure
                        // delete looks for damaged copies too.
                        #[cfg(feature = "filter")]
                        c.fl.add(self.region, self.scan.h.key);
                        self.st = MountState::Verify(Body::new(self.scan.loc, &self.scan.h, false));
                    }
                    Item::Bad(first) => {
                        if first {
                            c.corrupt = c.corrupt.saturating_add(1);
                        } else if self.region == c.head {
                            // More than one torn header's worth of damage:
                            // where erased space starts is unknown, so never
                            // append to this region again.
                            self.closed = true;
                        }
                    }
                    Item::End => {
                        let end = self.scan.off.min(c.g.region);
                        c.rec_bytes = c.rec_bytes.saturating_add(end - c.g.span);
                        if self.region == c.head {
                            c.head_off = end;
                            if self.closed {
                                c.close_head();
                            }
                            // A rollback may have taken a number already.
                            if !seq_newer(c.next_seq, self.max_seq) {
                                c.next_seq = seq_next(self.max_seq);
                            }
                            #[cfg(feature = "lazy")]
                            if self.lazy && c.head != c.tail {
                                c.warm = Some(Scan::new(c, c.g.prev(c.head)));
                            }
                            c.mounted = true;
                            return Poll::Ready(Output::Done);
                        }
                        self.region = c.g.next(self.region);
                        self.st = MountState::RegionHeader;
                    }
                },
                MountState::Verify(body) => {
                    let ok = tri!(body.poll(c, io, ev));
                    self.st = MountState::Records;
                    if !ok {
                        c.corrupt = c.corrupt.saturating_add(1);
                        continue;
                    }
                    if let Some(old) = c.ix.get(self.scan.h.key) {
                        self.st = MountState::Superseded(old);
                    } else {
                        self.apply(c, None);
                    }
                }
                MountState::Superseded(old) => {
                    tri!(read(&mut self.wait, ev, *old, REC_HDR));
                    let old = indexed_header(io, self.scan.h.key).map_or(0, |h| c.g.extent(h.len));
                    self.apply(c, Some(old));
                    self.st = MountState::Records;
                }
            }
        }
    }

    /// Applies a verified record to the index and the live byte count.
    pub(super) fn apply(&self, c: &mut Core, old: Option<u32>) {
        let (loc, h) = (self.scan.loc, self.scan.h);
        c.apply(h.key, h.kind, loc, h.len, old.unwrap_or(0));
    }

    pub(super) fn survey_done(&mut self, c: &mut Core, ev: &mut Channel) -> Poll<()> {
        if !self.any_valid {
            return ev.fail(if self.other {
                Error::GeometryMismatch
            } else if self.v1 {
                Error::V1Store
            } else {
                Error::NotFormatted
            });
        }
        c.ix.clear();
        #[cfg(feature = "lazy")]
        {
            c.warm = None;
        }
        #[cfg(feature = "filter")]
        c.fl.clear_all();
        // Lazy: until a region is indexed, its filter may hold any key.
        #[cfg(all(feature = "filter", feature = "lazy"))]
        if self.lazy {
            c.fl.fill_all();
        }
        c.rec_bytes = 0;
        c.live_bytes = 0;
        c.corrupt = 0;
        c.next_seq = seq_next(self.max_seq);
        if let Some((r, h)) = self.head {
            c.head = r;
            c.head_seq = h.seq;
        } else if let Some(r) = self.damaged_head {
            c.head = r;
            c.head_seq = 0;
        } else if let Some((r, h)) = self.empty {
            c.head = r;
            c.head_seq = h.seq;
        }
        self.i = 0;
        self.st = MountState::Walk;
        Poll::Ready(())
    }

    pub(super) fn walk_done(&mut self, c: &mut Core) -> Poll<()> {
        c.used = c.g.count - self.i;
        if c.used == c.g.count && self.tail_valid {
            // No free region and an intact tail: a compaction was cut while
            // copying into the reserve. Roll it back (erase the head) only
            // after checking that the head holds nothing but copies.
            let scan = |region| Scan {
                end: c.g.region,
                ..Scan::new(c, region)
            };
            self.st = MountState::Copies {
                head: scan(c.head),
                tail: scan(c.tail),
                want: false,
                check: None,
                orig: false,
            };
            return Poll::Ready(());
        }
        self.start_scan(c);
        Poll::Ready(())
    }

    pub(super) fn start_scan(&mut self, c: &mut Core) {
        // While scanning, the head's end is not known yet: scan it fully.
        c.head_off = c.g.region;
        self.region = c.tail;
        #[cfg(feature = "lazy")]
        if self.lazy {
            self.region = c.head;
            // Free regions hold no record (opening one erases it or finds
            // it empty).
            #[cfg(feature = "filter")]
            for k in 1..=c.free() {
                c.fl.clear((c.head + k) % c.g.count);
            }
        }
        self.st = MountState::RegionHeader;
    }
}
