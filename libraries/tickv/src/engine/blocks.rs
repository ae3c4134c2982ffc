//! Building blocks the operations share: walking a region's records,
//! reading a body, writing and copying records, opening and erasing
//! regions, finding a key.

use super::*;

/// Walks the record headers of one region, front to back.
#[derive(Clone, Copy)]
pub(super) struct Scan {
    pub(super) region: u32,
    pub(super) off: u32,
    pub(super) end: u32,
    /// Set after an unparseable header until the next good one.
    pub(super) resync: bool,
    pub(super) wait: bool,
    /// The last record returned: its flash address and header. Kept here
    /// (not in `Item`) so that `poll` returns in registers.
    pub(super) loc: u32,
    pub(super) h: StoredHeader,
}

pub(super) enum Item {
    /// A record with a well-formed header, left in `Scan::loc` and
    /// `Scan::h` (checksum unchecked).
    Rec,
    /// Erased space, or the end of the region.
    End,
    /// An unparseable header; the scan has moved past it. `true` for the
    /// first of a run: the first skip is one header span (a header torn by
    /// a power cut covers exactly that), later ones one program unit.
    Bad(bool),
}

impl Scan {
    /// A scan that has not started; replaced before use.
    pub(super) const fn idle() -> Scan {
        Scan {
            region: 0,
            off: 0,
            end: 0,
            resync: false,
            wait: false,
            loc: 0,
            h: NO_REC,
        }
    }

    pub(super) fn new(c: &Core, region: u32) -> Scan {
        let end = if region == c.head {
            c.head_off
        } else {
            c.g.region
        };
        Scan {
            region,
            off: c.g.span,
            end,
            resync: false,
            wait: false,
            loc: 0,
            h: NO_REC,
        }
    }

    /// A scan of `region` for records of `key`: one that ends at once when
    /// the region's key filter (feature `filter`) proves that none is there.
    /// (The filter of the region the index build is in is being rebuilt:
    /// it is not asked.)
    #[cfg_attr(not(feature = "filter"), allow(unused_variables))]
    pub(super) fn of(c: &mut Core, region: u32, key: u64) -> Scan {
        #[allow(unused_mut)]
        let mut s = Scan::new(c, region);
        #[cfg(feature = "filter")]
        if !c.filter_rebuilding(region) && !c.fl.may_hold(region, key) {
            s.end = 0;
        }
        s
    }

    pub(super) fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Channel) -> Poll<Item> {
        if !self.wait && self.off + REC_HDR > self.end {
            return Poll::Ready(Item::End);
        }
        tri!(read(
            &mut self.wait,
            ev,
            c.addr(self.region, self.off),
            REC_HDR
        ));
        let b = &io.scratch[..REC_HDR as usize];
        if blank(b) {
            return Poll::Ready(Item::End);
        }
        match StoredHeader::decode(b) {
            Some(h) if self.off + c.g.extent(h.len) <= c.g.region => {
                self.loc = c.addr(self.region, self.off);
                self.h = h;
                self.off += c.g.extent(h.len);
                self.resync = false;
                Poll::Ready(Item::Rec)
            }
            _ => {
                let first = !self.resync;
                self.resync = true;
                self.off += if first { c.g.first } else { c.g.unit };
                Poll::Ready(Item::Bad(first))
            }
        }
    }
}

/// Reads a record's value, checks its CRC and optionally copies it out.
#[derive(Clone, Copy)]
pub(super) struct Body {
    pub(super) addr: u32,
    pub(super) len: u32,
    pub(super) pos: u32,
    pub(super) crc: Crc32,
    pub(super) want: u32,
    pub(super) copy: bool,
    pub(super) wait: bool,
}

impl Body {
    pub(super) fn new(loc: u32, h: &StoredHeader, copy: bool) -> Body {
        Body {
            addr: loc + REC_HDR,
            len: h.len,
            pos: 0,
            crc: h.crc_start(),
            want: h.crc,
            copy,
            wait: false,
        }
    }

    pub(super) fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Channel) -> Poll<bool> {
        loop {
            if !self.wait && self.pos == self.len {
                return Poll::Ready(self.crc.finish() == self.want);
            }
            let n = (self.len - self.pos).min(c.chunk);
            tri!(read(&mut self.wait, ev, self.addr + self.pos, n));
            self.feed(io, 0, n);
        }
    }

    /// Takes the next `n` value bytes from `io.scratch[from..]`: checksums
    /// them and copies what fits into the output. `n` is at most what is
    /// left of the value.
    pub(super) fn feed(&mut self, io: &mut Io, from: usize, n: u32) {
        let data = &io.scratch[from..from + n as usize];
        self.crc.update(data);
        if self.copy {
            if let crate::ValueBuf::Out(out) = &mut io.value {
                if let Some(out) = out.get_mut(self.pos as usize..) {
                    let k = out.len().min(data.len());
                    out[..k].copy_from_slice(&data[..k]);
                }
            }
        }
        self.pos += n;
    }
}

/// Size of the program at `pos` of a record of `extent` bytes: the first
/// program covers exactly the header span, so a torn header can damage no
/// more than that.
pub(super) fn piece(c: &Core, pos: u32, extent: u32) -> u32 {
    if pos == 0 {
        c.g.first
    } else {
        (extent - pos).min(c.chunk)
    }
}

/// Programs a new record: header, value, 0xFF padding to the unit.
#[derive(Clone, Copy)]
pub(super) struct Writer {
    pub(super) dst: u32,
    pub(super) hdr: [u8; 16],
    pub(super) len: u32,
    pub(super) extent: u32,
    pub(super) pos: u32,
    pub(super) wait: bool,
}

impl Writer {
    #[inline(never)]
    pub(super) fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Channel) -> Poll<()> {
        loop {
            if !self.wait && self.pos == self.extent {
                return Poll::Ready(());
            }
            let n = piece(c, self.pos, self.extent);
            if !self.wait {
                let value: &[u8] = match &io.value {
                    ValueBuf::In(v) => v,
                    _ => &[],
                };
                for (i, b) in io.scratch[..n as usize].iter_mut().enumerate() {
                    let s = self.pos + i as u32;
                    *b = if s < REC_HDR {
                        self.hdr[s as usize]
                    } else if s - REC_HDR < self.len {
                        value.get((s - REC_HDR) as usize).copied().unwrap_or(0xFF)
                    } else {
                        0xFF
                    };
                }
            }
            tri!(program(&mut self.wait, ev, self.dst + self.pos, n));
            self.pos += n;
        }
    }
}

/// Copies a record verbatim (relocation during compaction).
#[derive(Clone, Copy)]
pub(super) struct Copier {
    pub(super) src: u32,
    pub(super) dst: u32,
    pub(super) extent: u32,
    pub(super) pos: u32,
    pub(super) have: bool,
    pub(super) wait: bool,
}

impl Copier {
    pub(super) fn poll(&mut self, c: &Core, ev: &mut Channel) -> Poll<()> {
        loop {
            if !self.wait && !self.have && self.pos == self.extent {
                return Poll::Ready(());
            }
            let n = piece(c, self.pos, self.extent);
            if !self.have {
                tri!(read(&mut self.wait, ev, self.src + self.pos, n));
                self.have = true;
            }
            tri!(program(&mut self.wait, ev, self.dst + self.pos, n));
            self.have = false;
            self.pos += n;
        }
    }
}

/// Erases a region and writes its fresh header.
#[derive(Clone, Copy)]
pub(super) struct EraseInit {
    pub(super) region: u32,
    pub(super) hdr: RegionHeader,
    pub(super) erased: bool,
    pub(super) wait: bool,
}

impl EraseInit {
    pub(super) fn new(region: u32, erase_count: u32, seq: u32) -> EraseInit {
        EraseInit {
            region,
            hdr: RegionHeader { erase_count, seq },
            erased: false,
            wait: false,
        }
    }

    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<()> {
        if !self.erased {
            // From the request on, the content of a region is unknown.
            c.recent.loc = 0;
            tri!(request(
                &mut self.wait,
                ev,
                Step::Erase {
                    region: self.region as usize
                },
                FlashOp::Erase
            ));
            self.erased = true;
            c.max_erase = c.max_erase.max(self.hdr.erase_count);
            #[cfg(feature = "filter")]
            c.fl.clear(self.region);
        }
        if !self.wait {
            self.hdr.encode(&c.g, &mut io.scratch[..c.g.span as usize]);
        }
        tri!(program(
            &mut self.wait,
            ev,
            c.addr(self.region, 0),
            c.g.span
        ));
        Poll::Ready(())
    }
}

/// Whether a region read at its start (`span + 16` bytes; `empty`: no
/// record) is ready for appends: a valid header newer than `after_seq` and
/// no record.
pub(super) fn clean(c: &Core, b: &[u8], empty: bool, after_seq: u32) -> Option<RegionHeader> {
    match RegionHeader::decode(&c.g, b) {
        HeaderState::Valid(h) if empty && seq_newer(h.seq, after_seq) => Some(h),
        _ => None,
    }
}

/// Opens the region after the head as the new head, erasing it first unless
/// it is clean. Requires a free region.
#[derive(Clone, Copy)]
pub(super) struct Open {
    pub(super) region: u32,
    pub(super) init: Option<EraseInit>,
    pub(super) wait: bool,
}

impl Open {
    pub(super) fn new(c: &Core) -> Open {
        Open {
            region: c.g.next(c.head),
            init: None,
            wait: false,
        }
    }

    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<()> {
        if self.init.is_none() {
            let empty = tri!(read_start(&mut self.wait, ev, c, io, self.region));
            if let Some(h) = clean(c, io.scratch, empty, c.head_seq) {
                self.commit(c, h.seq);
                return Poll::Ready(());
            }
            let count = match RegionHeader::decode(&c.g, io.scratch) {
                HeaderState::Valid(h) => h.erase_count.saturating_add(1),
                _ => c.max_erase.saturating_add(1),
            };
            self.init = Some(EraseInit::new(self.region, count, c.next_seq));
            c.next_seq = seq_next(c.next_seq);
        }
        if let Some(init) = &mut self.init {
            tri!(init.poll(c, io, ev));
            let seq = init.hdr.seq;
            self.commit(c, seq);
        }
        Poll::Ready(())
    }

    pub(super) fn commit(&self, c: &mut Core, seq: u32) {
        c.head = self.region;
        c.head_seq = seq;
        c.head_off = c.g.span;
        c.used += 1;
    }
}

/// Finds the newest record of `key`, scanning from the head backwards
/// (region by region; within a region the last match wins). With `after`,
/// only records newer than that location count. With `any`, records whose
/// checksum fails count too (used to locate every copy for secure delete).
#[derive(Clone, Copy)]
// Word alignment despite the u64 key (see `StoredHeader`).
#[repr(Rust, packed(4))]
pub(super) struct Find {
    pub(super) key: u64,
    pub(super) after: Option<u32>,
    /// A location that never matches (the record being written).
    pub(super) skip: Option<u32>,
    pub(super) any: bool,
    pub(super) region: u32,
    pub(super) stop: u32,
    pub(super) scan: Scan,
    /// The newest match so far, if `found`: its address and header. Read
    /// by the caller once `poll` returns `true` (kept here, not returned,
    /// so that `poll` returns in registers).
    pub(super) found: bool,
    pub(super) loc: u32,
    pub(super) h: StoredHeader,
    /// Checking the checksum of the scan's current record.
    pub(super) body: Option<Body>,
}

impl Find {
    #[inline(never)]
    pub(super) fn new(c: &mut Core, key: u64, after: Option<u32>, any: bool) -> Find {
        Find {
            key,
            after,
            skip: None,
            any,
            region: c.head,
            stop: after.map_or(c.tail, |l| c.region_of(l)),
            scan: Scan::of(c, c.head, key),
            found: false,
            loc: 0,
            h: NO_REC,
            body: None,
        }
    }

    /// A search of the part of the log the index build has not reached:
    /// the rest of the region it is in, from where it stands, then (unless
    /// `only_there`) the regions down to the tail.
    #[cfg(feature = "lazy")]
    pub(super) fn unindexed(c: &mut Core, key: u64, at: Scan, only_there: bool) -> Find {
        let mut f = Find::new(c, key, None, false);
        f.region = at.region;
        if only_there {
            f.stop = at.region;
        }
        f.scan = Scan {
            off: at.off,
            resync: at.resync,
            ..Scan::new(c, at.region)
        };
        f
    }

    /// Whether a match was found (left in `loc` and `h`).
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<bool> {
        loop {
            if let Some(body) = &mut self.body {
                let ok = tri!(body.poll(c, io, ev));
                self.body = None;
                if ok {
                    self.keep();
                }
                continue;
            }
            match tri!(self.scan.poll(c, io, ev)) {
                Item::Rec => {
                    let (loc, h) = (self.scan.loc, self.scan.h);
                    // Regions other than `after`'s are all newer than it (the
                    // scan stops there); inside it, later offsets are newer.
                    let newer = self.region != self.stop || self.after.is_none_or(|a| loc > a);
                    if h.key == self.key && newer && self.skip != Some(loc) {
                        if self.any {
                            self.keep();
                        } else {
                            self.body = Some(Body::new(loc, &h, false));
                        }
                    }
                }
                Item::Bad(_) => {}
                Item::End => {
                    if self.found || self.region == self.stop {
                        return Poll::Ready(self.found);
                    }
                    self.region = c.g.prev(self.region);
                    self.scan = Scan::of(c, self.region, self.key);
                }
            }
        }
    }

    /// Takes the scan's current record as the newest match.
    pub(super) fn keep(&mut self) {
        self.found = true;
        self.loc = self.scan.loc;
        self.h = self.scan.h;
    }
}
