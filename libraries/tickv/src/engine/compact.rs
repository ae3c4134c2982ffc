//! Compaction: copy the live records of the oldest region to the head,
//! then erase it.

use super::*;

/// One compaction step: moves the tail's live records to the head, erases
/// the tail and gives it a fresh header. Returns the bytes reclaimed.
///
/// Every step first walks the tail without writing (a dry run that
/// decides liveness exactly as the step would) and goes ahead only if the bytes it reclaims are fewer
/// than `below`, and not zero unless `cross` allows a step that reclaims
/// nothing, and, with `fit`, if a record of that extent fits afterwards.
/// Otherwise it returns 0 having changed nothing, with `dry` still set.
/// The dry run leaves what the tail would reclaim in `Core::tail_gain`.
#[derive(Clone, Copy)]
pub(super) struct Compact {
    pub(super) st: CompactState,
    pub(super) victim: u32,
    pub(super) count: u32,
    /// Its `loc` and `h` are the record being moved.
    pub(super) scan: Scan,
    pub(super) relocated: u32,
    pub(super) used: u32,
    /// A 256-bit filter of the keys of the value records scanned so far in
    /// the victim: a tombstone whose key may have an older value here is
    /// carried forward (see `poll`).
    pub(super) seen: [u32; 8],
    pub(super) dry: bool,
    pub(super) cross: bool,
    pub(super) fit: u32,
    pub(super) below: u32,
    pub(super) wait: bool,
}

#[derive(Clone, Copy)]
pub(super) enum CompactState {
    Start,
    OpenFirst(Open),
    Header,
    Scanning,
    Verify(Body),
    Probe(Find),
    Place,
    OpenDst(Open),
    Copy(Copier),
    Erase(EraseInit),
}

pub(super) const NO_REC: StoredHeader = StoredHeader {
    kind: Kind::Tombstone,
    len: 0,
    key: 0,
    crc: 0,
};

impl Compact {
    /// A step that runs whatever it reclaims.
    pub(super) fn new() -> Compact {
        Compact::checked(true, 0, u32::MAX)
    }

    /// A step, checked first by a dry run (see above).
    #[inline(never)]
    pub(super) fn checked(cross: bool, fit: u32, below: u32) -> Compact {
        Compact {
            // The dry run needs no destination yet.
            st: CompactState::Header,
            victim: 0,
            count: 0,
            scan: Scan::idle(),
            relocated: 0,
            used: 0,
            seen: [0; 8],
            dry: true,
            cross,
            fit,
            below,
            wait: false,
        }
    }

    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<u32> {
        loop {
            match &mut self.st {
                CompactState::Start => {
                    self.st = if c.used == 1 {
                        // The tail is the head: move appends on first.
                        CompactState::OpenFirst(Open::new(c))
                    } else {
                        CompactState::Header
                    };
                }
                CompactState::OpenFirst(open) => {
                    tri!(open.poll(c, io, ev));
                    self.st = CompactState::Header;
                }
                CompactState::Header => {
                    self.victim = c.tail;
                    tri!(read(&mut self.wait, ev, c.addr(self.victim, 0), c.g.span));
                    self.count = match RegionHeader::decode(&c.g, io.scratch) {
                        HeaderState::Valid(h) => h.erase_count.saturating_add(1),
                        _ => c.max_erase.saturating_add(1),
                    };
                    self.scan = Scan::new(c, self.victim);
                    self.st = CompactState::Scanning;
                }
                CompactState::Scanning => match tri!(self.scan.poll(c, io, ev)) {
                    Item::Rec => {
                        let (loc, h) = (self.scan.loc, self.scan.h);
                        // Keys are hashes: their low byte will do.
                        let bit = h.key as u8 as usize;
                        let word = &mut self.seen[bit / 32];
                        let older = *word & (1 << (bit % 32)) != 0;
                        let value = h.kind == Kind::Value;
                        if value {
                            *word |= 1 << (bit % 32);
                        }
                        // A tombstone hides only older records of its key,
                        // and the victim is the oldest region: it is dropped
                        // unless an older value of the key may lie in the
                        // victim itself. Then it is carried forward (while
                        // it is the key's newest record), because an
                        // interrupted erase of the victim can destroy the
                        // tombstone and leave that value readable.
                        match c.ix.get(h.key) {
                            Some(l) if l == loc => self.st = CompactState::Place,
                            Some(_) => {}
                            None if !value && !older => {}
                            None if c.ix.complete => {
                                if !value {
                                    self.st = CompactState::Place;
                                }
                            }
                            None => self.st = CompactState::Verify(Body::new(loc, &h, false)),
                        }
                    }
                    Item::Bad(_) => {}
                    Item::End => {
                        self.used = self.scan.off.min(c.g.region) - c.g.span;
                        if self.dry {
                            // Does a record of `fit` bytes fit after the
                            // step? Copies fill the head, then at most one
                            // more region; the erase frees one. Only when
                            // the copies leave the head for the reserve
                            // must the record fit beside them.
                            let (room, free) = match c.used {
                                1 => (c.g.usable, c.free() - 1),
                                _ => (c.g.region - c.head_off, c.free()),
                            };
                            let fits = self.relocated <= room
                                || free > 1
                                || self.relocated + self.fit <= c.g.usable;
                            let gain = self.used - self.relocated;
                            c.tail_gain = Some(gain);
                            if !fits || gain >= self.below || (gain == 0 && !self.cross) {
                                return Poll::Ready(0);
                            }
                            self.dry = false;
                            self.relocated = 0;
                            self.seen = [0; 8];
                            self.st = CompactState::Start;
                            continue;
                        }
                        self.st = CompactState::Erase(EraseInit::new(
                            self.victim,
                            self.count,
                            c.next_seq,
                        ));
                        c.next_seq = seq_next(c.next_seq);
                    }
                },
                CompactState::Verify(body) => {
                    let ok = tri!(body.poll(c, io, ev));
                    self.st = if ok {
                        CompactState::Probe(Find::new(
                            c,
                            self.scan.h.key,
                            Some(self.scan.loc),
                            false,
                        ))
                    } else {
                        CompactState::Scanning
                    };
                }
                CompactState::Probe(find) => {
                    let newer = tri!(find.poll(c, io, ev));
                    self.st = if newer {
                        CompactState::Scanning
                    } else {
                        CompactState::Place
                    };
                }
                CompactState::Place => {
                    let extent = c.g.extent(self.scan.h.len);
                    if self.dry {
                        self.relocated += extent;
                        self.st = CompactState::Scanning;
                    } else if c.head_off + extent <= c.g.region {
                        #[cfg(feature = "filter")]
                        c.fl.add(c.head, self.scan.h.key);
                        self.st = CompactState::Copy(Copier {
                            src: self.scan.loc,
                            dst: c.addr(c.head, c.head_off),
                            extent,
                            pos: 0,
                            have: false,
                            wait: false,
                        });
                    } else if c.free() == 0 {
                        return ev.fail(Error::NoSpace);
                    } else {
                        self.st = CompactState::OpenDst(Open::new(c));
                    }
                }
                CompactState::OpenDst(open) => {
                    tri!(open.poll(c, io, ev));
                    self.st = CompactState::Place;
                }
                CompactState::Copy(copier) => {
                    let extent = copier.extent;
                    if let Poll::Stop = copier.poll(c, ev) {
                        if ev.err.is_some() {
                            c.close_head();
                        }
                        return Poll::Stop;
                    }
                    c.ix.relocate(self.scan.h.key, c.addr(c.head, c.head_off));
                    c.head_off += extent;
                    c.rec_bytes = c.rec_bytes.saturating_add(extent);
                    self.relocated += extent;
                    self.st = CompactState::Scanning;
                }
                CompactState::Erase(init) => {
                    let r = init.poll(c, io, ev);
                    if let (Poll::Stop, None) = (&r, ev.err) {
                        return Poll::Stop;
                    }
                    if init.erased {
                        c.tail_gain = None;
                        // The victim's records are gone (its live ones were
                        // copied): it leaves the ring even if the header
                        // program failed; opening it later re-erases it.
                        c.tail = c.g.next(c.tail);
                        c.used -= 1;
                        c.rec_bytes = c.rec_bytes.saturating_sub(self.used);
                    }
                    if let Poll::Stop = r {
                        return Poll::Stop;
                    }
                    return Poll::Ready(self.used.saturating_sub(self.relocated));
                }
            }
        }
    }
}
