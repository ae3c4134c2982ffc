//! Key iteration (the `walk` feature) and the inspection operations for
//! tools (region info, the record walk; the `inspect` feature).

use super::*;

/// Iteration in key order.
#[cfg(feature = "walk")]
#[derive(Clone, Copy)]
pub(super) struct Next {
    pub(super) after: Option<u64>,
    pub(super) st: NextState,
    pub(super) wait: bool,
}

#[cfg(feature = "walk")]
#[derive(Clone, Copy)]
pub(super) enum NextState {
    Start,
    Header(u64, u32),
    Sweep { scan: Scan, best: Option<u64> },
    Check(Find, u64),
}

#[cfg(feature = "walk")]
impl Next {
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        loop {
            match &mut self.st {
                NextState::Start => {
                    self.st = if c.indexed_all() {
                        match c.ix.next_after(self.after) {
                            None => return Poll::Ready(Output::NoMoreKeys),
                            Some((k, loc)) => NextState::Header(k, loc),
                        }
                    } else {
                        NextState::Sweep {
                            scan: Scan::new(c, c.tail),
                            best: None,
                        }
                    };
                }
                NextState::Header(k, loc) => {
                    let (k, loc) = (*k, *loc);
                    tri!(read(&mut self.wait, ev, loc, REC_HDR));
                    return match indexed_header(io, k) {
                        Some(h) => Poll::Ready(Output::Key {
                            key: k,
                            len: h.len as usize,
                        }),
                        None => ev.fail(Error::Corrupt),
                    };
                }
                // Without a complete index: find the smallest key above
                // `after` among all records, then check that it is live.
                NextState::Sweep { scan, best } => match tri!(scan.poll(c, io, ev)) {
                    Item::Rec => {
                        let h = scan.h;
                        if self.after.is_none_or(|a| h.key > a) && best.is_none_or(|b| h.key < b) {
                            *best = Some(h.key);
                        }
                    }
                    Item::Bad(_) => {}
                    Item::End => {
                        if scan.region != c.head {
                            *scan = Scan::new(c, c.g.next(scan.region));
                        } else {
                            match *best {
                                None => return Poll::Ready(Output::NoMoreKeys),
                                Some(k) => {
                                    self.st = NextState::Check(Find::new(c, k, None, false), k)
                                }
                            }
                        }
                    }
                },
                NextState::Check(f, k) => {
                    let k = *k;
                    match tri!(f.poll(c, io, ev)) {
                        true if f.h.kind == Kind::Value => {
                            return Poll::Ready(Output::Key {
                                key: k,
                                len: f.h.len as usize,
                            })
                        }
                        _ => {
                            self.after = Some(k);
                            self.st = NextState::Start;
                        }
                    }
                }
            }
        }
    }
}

/// Reads one region's header.
#[cfg(feature = "inspect")]
#[derive(Clone, Copy)]
pub(super) struct Region {
    pub(super) region: u32,
    pub(super) wait: bool,
}

#[cfg(feature = "inspect")]
impl Region {
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        tri!(read(&mut self.wait, ev, c.addr(self.region, 0), c.g.span));
        let role = if self.region == c.head {
            Role::Head
        } else if c.g.dist(c.tail, self.region) < c.used {
            Role::Used
        } else {
            Role::Free
        };
        Poll::Ready(Output::Region(RegionInfo {
            header: RegionHeader::decode(&c.g, io.scratch),
            role,
        }))
    }
}

/// The record walk: one record per operation.
#[cfg(feature = "inspect")]
#[derive(Clone, Copy)]
pub(super) struct Walk {
    pub(super) step: u32,
    /// Its `loc` and `h` are the record whose checksum `body` checks.
    pub(super) scan: Scan,
    pub(super) body: Option<Body>,
}

#[cfg(feature = "inspect")]
impl Walk {
    pub(super) fn new(c: &Core, at: Option<RecordCursor>) -> Walk {
        let cur = at.unwrap_or(RecordCursor {
            step: 0,
            off: c.g.span,
            resync: false,
        });
        let region = (c.tail + cur.step.min(c.g.count)) % c.g.count;
        let mut scan = Scan::new(c, region);
        scan.off = cur.off;
        scan.resync = cur.resync;
        Walk {
            step: cur.step,
            scan,
            body: None,
        }
    }

    pub(super) fn cursor(&self) -> RecordCursor {
        RecordCursor {
            step: self.step,
            off: self.scan.off,
            resync: self.scan.resync,
        }
    }

    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        loop {
            if let Some(body) = &mut self.body {
                let crc_ok = tri!(body.poll(c, io, ev));
                let (loc, h) = (self.scan.loc, self.scan.h);
                let live = match h.kind {
                    Kind::Value if crc_ok => c.indexed_all().then(|| c.ix.get(h.key) == Some(loc)),
                    _ => Some(false),
                };
                let info = RecordInfo {
                    region: self.scan.region as usize,
                    offset: (loc - c.addr(self.scan.region, 0)) as usize,
                    extent: c.g.extent(h.len) as usize,
                    header: Some(RecordHeader {
                        kind: h.kind,
                        key: h.key,
                        len: h.len as usize,
                    }),
                    crc_ok,
                    live,
                };
                return Poll::Ready(Output::Record(info, self.cursor()));
            }
            if self.step >= c.used {
                return Poll::Ready(Output::EndOfRecords);
            }
            let before = self.scan.off;
            match tri!(self.scan.poll(c, io, ev)) {
                Item::Rec => self.body = Some(Body::new(self.scan.loc, &self.scan.h, false)),
                Item::Bad(_) => {
                    let info = RecordInfo {
                        region: self.scan.region as usize,
                        offset: before as usize,
                        extent: (self.scan.off - before) as usize,
                        header: None,
                        crc_ok: false,
                        live: Some(false),
                    };
                    return Poll::Ready(Output::Record(info, self.cursor()));
                }
                Item::End => {
                    self.step += 1;
                    if self.step < c.used {
                        self.scan = Scan::new(c, (c.tail + self.step) % c.g.count);
                    }
                }
            }
        }
    }
}
