//! The operations: get, put (set, add, update, delete), garbage
//! collection and format.

use super::*;

/// Reads the header of the record the index points at.
pub(super) fn indexed_header(io: &Io, key: u64) -> Option<StoredHeader> {
    StoredHeader::decode(&io.scratch[..REC_HDR as usize]).filter(|h| h.key == key)
}

#[derive(Clone, Copy)]
#[repr(Rust, packed(4))]
pub(super) struct Get {
    pub(super) key: u64,
    pub(super) st: GetState,
    pub(super) wait: bool,
}

#[derive(Clone, Copy)]
pub(super) enum GetState {
    Lookup,
    /// The search, and the index entry that answers if it finds nothing.
    Find(Find, Option<u32>),
    Header(u32),
    Body(Body),
}

impl Get {
    #[inline(never)]
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        loop {
            match &mut self.st {
                // Each state is written in place: a state built by a
                // `match` and then moved costs a copy of the largest one.
                // The common case (a built index that holds the key) first,
                // without the lookup of a lazy mount's build and its search
                // state.
                GetState::Lookup => match c.ix.get(self.key) {
                    Some(loc) if !c.warming() => self.st = GetState::Header(loc),
                    None if c.indexed_all() => return ev.fail(Error::NotFound),
                    #[cfg(not(feature = "lazy"))]
                    _ => self.st = GetState::Find(Find::new(c, self.key, None, false), None),
                    #[cfg(feature = "lazy")]
                    _ => match c.lookup(self.key) {
                        Known::Value(loc) => self.st = GetState::Header(loc),
                        Known::Absent => return ev.fail(Error::NotFound),
                        Known::Scan(f, entry) => self.st = GetState::Find(f, entry),
                    },
                },
                GetState::Find(f, entry) => {
                    if tri!(f.poll(c, io, ev)) {
                        if f.h.kind != Kind::Value {
                            return ev.fail(Error::NotFound);
                        }
                        self.st = GetState::Body(Body::new(f.loc, &f.h, true))
                    } else {
                        // The entry a search past the index falls back on.
                        #[cfg(feature = "lazy")]
                        if let Some(loc) = entry.filter(|&l| !c.is_tomb(l)) {
                            self.st = GetState::Header(loc);
                            continue;
                        }
                        #[cfg(not(feature = "lazy"))]
                        let _ = entry;
                        return ev.fail(Error::NotFound);
                    }
                }
                GetState::Header(loc) => {
                    let loc = *loc;
                    // The header alone, or with the value when the engine
                    // knows its length (the record it last read or wrote):
                    // then a value that fits the scratch costs one read.
                    let n = c
                        .known_len(loc)
                        .map_or(REC_HDR, |len| (REC_HDR + len).min(c.chunk));
                    tri!(read(&mut self.wait, ev, loc, n));
                    match indexed_header(io, self.key) {
                        Some(h) if h.kind == Kind::Value => {
                            // Built in place (a moved one is a copy), then
                            // given the value bytes read with the header.
                            self.st = GetState::Body(Body::new(loc, &h, true));
                            if let GetState::Body(b) = &mut self.st {
                                b.feed(io, REC_HDR as usize, (n - REC_HDR).min(h.len));
                            }
                        }
                        _ => return ev.fail(Error::Corrupt),
                    }
                }
                GetState::Body(b) => {
                    if !tri!(b.poll(c, io, ev)) {
                        return ev.fail(Error::Corrupt);
                    }
                    c.recent = Recent {
                        loc: b.addr - REC_HDR,
                        len: b.len,
                    };
                    return Poll::Ready(Output::Value {
                        len: b.len as usize,
                    });
                }
            }
        }
    }
}

/// Whether a write requires the key to exist, to be absent, or neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Any,
    Absent,
    Present,
}

/// Set, add, update, delete and secure delete: append one record.
#[derive(Clone, Copy)]
#[repr(Rust, packed(4))]
pub(super) struct Put {
    pub(super) key: u64,
    pub(super) mode: Mode,
    pub(super) kind: Kind,
    pub(super) secure: bool,
    pub(super) len: u32,
    pub(super) crc: u32,
    /// Whether the key has a value (and, from the index, its extent).
    pub(super) old: Option<u32>,
    /// The live bytes this write supersedes: what the live byte count
    /// holds for the key (without the feature, `old`'s extent).
    #[cfg(feature = "lazy")]
    pub(super) live_old: u32,
    pub(super) gc_done: bool,
    pub(super) steps: u32,
    pub(super) st: PutState,
    pub(super) wait: bool,
}

#[derive(Clone, Copy)]
pub(super) enum PutState {
    Lookup,
    /// The search, and the index entry that answers if it finds nothing.
    Find(Find, Option<u32>),
    /// Reading the header of the record the live byte count holds for the
    /// key (an index entry that a newer, not yet indexed record hides).
    #[cfg(feature = "lazy")]
    Counted(u32),
    /// Finishing the index first (a compaction or a secure delete needs
    /// it); then the lookup again.
    #[cfg(feature = "lazy")]
    Warm(Warm),
    OldHeader(u32),
    Check,
    SecureFind(Find),
    Space,
    Open(Open),
    /// Compaction steps: before the write (`steps` is 0), or after it, the
    /// one that housekeeping asks for or those of a secure delete (`steps`
    /// left).
    Gc(Compact),
    Write(Writer),
}

impl Put {
    pub(super) fn new(key: u64, mode: Mode, kind: Kind, secure: bool, value: &[u8]) -> Put {
        let h = StoredHeader {
            kind,
            len: value.len() as u32,
            key,
            crc: 0,
        };
        let mut crc = h.crc_start();
        crc.update(value);
        Put {
            key,
            mode,
            kind,
            secure,
            len: value.len() as u32,
            crc: crc.finish(),
            old: None,
            #[cfg(feature = "lazy")]
            live_old: 0,
            gc_done: false,
            steps: 0,
            st: PutState::Lookup,
            wait: false,
        }
    }

    /// The key's value, from the index, takes `extent` bytes: the live
    /// bytes this write supersedes.
    fn supersede(&mut self, extent: u32) {
        self.old = Some(extent);
        #[cfg(feature = "lazy")]
        {
            self.live_old = extent;
        }
    }

    #[inline(never)]
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        let extent = c.g.extent(self.len);
        loop {
            match &mut self.st {
                PutState::Lookup => {
                    self.old = None;
                    #[cfg(feature = "lazy")]
                    {
                        self.live_old = 0;
                    }
                    // A secure delete, and a write that will need a
                    // compaction (see `Space`), finish the index first:
                    // both compact, and compaction decides liveness with
                    // the index.
                    #[cfg(feature = "lazy")]
                    if c.warming() && (self.secure || c.free() == 0 || c.space() < extent) {
                        self.st = PutState::Warm(Warm::new(c, u32::MAX));
                        continue;
                    }
                    // Each state is written in place (see `Get::poll`).
                    match c.ix.get(self.key) {
                        Some(loc) if !c.warming() => self.st = PutState::OldHeader(loc),
                        None if c.indexed_all() => self.st = PutState::Check,
                        #[cfg(not(feature = "lazy"))]
                        _ => self.st = PutState::Find(Find::new(c, self.key, None, false), None),
                        #[cfg(feature = "lazy")]
                        _ => match c.lookup(self.key) {
                            Known::Value(loc) => self.st = PutState::OldHeader(loc),
                            Known::Absent => self.st = PutState::Check,
                            Known::Scan(f, entry) => self.st = PutState::Find(f, entry),
                        },
                    }
                }
                PutState::Find(f, entry) => {
                    let entry = *entry;
                    let found = tri!(f.poll(c, io, ev));
                    if found && f.h.kind == Kind::Value {
                        self.old = Some(c.g.extent(f.h.len));
                    }
                    self.st = PutState::Check;
                    #[cfg(not(feature = "lazy"))]
                    let _ = entry;
                    #[cfg(feature = "lazy")]
                    match entry.filter(|&l| !c.is_tomb(l)) {
                        _ if found && !c.warming() => self.live_old = self.old.unwrap_or(0),
                        // Found past the index while it is built: the build
                        // will pass that record over (this write is newer),
                        // but the entry it hides is counted.
                        Some(loc) if found => self.st = PutState::Counted(loc),
                        Some(loc) => self.st = PutState::OldHeader(loc),
                        None => {}
                    }
                }
                #[cfg(feature = "lazy")]
                PutState::Warm(w) => {
                    tri!(w.poll(c, io, ev));
                    self.st = PutState::Lookup;
                }
                PutState::OldHeader(loc) => {
                    // The old record's size, known without a read if the
                    // engine read or wrote it last.
                    let len = match c.known_len(*loc) {
                        None => {
                            tri!(read(&mut self.wait, ev, *loc, REC_HDR));
                            // A damaged old record must not make the key
                            // unwritable: it still exists, only its size is
                            // unknown.
                            indexed_header(io, self.key).map(|h| h.len)
                        }
                        known => known,
                    };
                    self.supersede(len.map_or(0, |l| c.g.extent(l)));
                    self.st = PutState::Check;
                }
                #[cfg(feature = "lazy")]
                PutState::Counted(loc) => {
                    tri!(read(&mut self.wait, ev, *loc, REC_HDR));
                    self.live_old = indexed_header(io, self.key).map_or(0, |h| c.g.extent(h.len));
                    self.st = PutState::Check;
                }
                PutState::Check => {
                    match (self.mode, self.old.is_some()) {
                        (Mode::Absent, true) => return ev.fail(Error::AlreadyExists),
                        (Mode::Present, false) => return ev.fail(Error::NotFound),
                        _ => {}
                    }
                    self.st = PutState::Space;
                }
                PutState::Space => {
                    // With no free region the head holds a compaction's
                    // copies that mount would roll back: finish that
                    // compaction before appending anything.
                    let finish = c.free() == 0;
                    if !self.gc_done && (finish || (c.dead() != Some(0) && c.space() < extent)) {
                        // Unless it finishes a compaction, the step runs
                        // only if the record then fits: a write that fails
                        // erases nothing.
                        self.gc_done = true;
                        self.st = PutState::Gc(Compact::checked(finish, extent, u32::MAX));
                        continue;
                    }
                    if finish {
                        return ev.fail(Error::NoSpace);
                    }
                    if c.head_off + extent <= c.g.region {
                        let h = StoredHeader {
                            kind: self.kind,
                            len: self.len,
                            key: self.key,
                            crc: self.crc,
                        };
                        // Before the first byte is programmed: a torn
                        // record is in its region's filter too.
                        #[cfg(feature = "filter")]
                        c.fl.add(c.head, self.key);
                        self.st = PutState::Write(Writer {
                            dst: c.addr(c.head, c.head_off),
                            hdr: h.encode(),
                            len: self.len,
                            extent,
                            pos: 0,
                            wait: false,
                        });
                    } else if c.free() >= 2 {
                        self.st = PutState::Open(Open::new(c));
                    } else {
                        return ev.fail(Error::NoSpace);
                    }
                }
                PutState::Open(o) => {
                    tri!(o.poll(c, io, ev));
                    self.st = PutState::Space;
                }
                PutState::Gc(g) => {
                    if let Poll::Stop = g.poll(c, io, ev) {
                        // After the write it is durable: a failure of a
                        // housekeeping step does not undo it. It is
                        // counted, and the store stays consistent.
                        if self.steps == 0 || self.secure || ev.err.take().is_none() {
                            return Poll::Stop;
                        }
                        c.deferred_errors = c.deferred_errors.saturating_add(1);
                        return Poll::Ready(Output::Done);
                    }
                    if self.steps == 0 {
                        self.st = PutState::Space;
                        continue;
                    }
                    self.steps -= 1;
                    if self.steps == 0 {
                        return Poll::Ready(Output::Done);
                    }
                    *g = Compact::new();
                }
                PutState::Write(w) => {
                    if let Poll::Stop = w.poll(c, io, ev) {
                        if ev.err.is_some() {
                            // Part of the record may be programmed: never
                            // append to this region again.
                            c.close_head();
                        }
                        return Poll::Stop;
                    }
                    let loc = c.addr(c.head, c.head_off);
                    c.head_off += extent;
                    c.rec_bytes = c.rec_bytes.saturating_add(extent);
                    #[cfg(feature = "lazy")]
                    let superseded = self.live_old;
                    #[cfg(not(feature = "lazy"))]
                    let superseded = self.old.unwrap_or(0);
                    c.apply(self.key, self.kind, loc, self.len, superseded);
                    if !self.secure {
                        match c.early_gc(extent) {
                            Some(below) if !self.gc_done => {
                                self.steps = 1;
                                self.st = PutState::Gc(Compact::checked(true, 0, below));
                                continue;
                            }
                            _ => return Poll::Ready(Output::Done),
                        }
                    }
                    // Find the newest region still holding any record of
                    // the key other than this tombstone (found after the
                    // write, so copies a compaction just made count too).
                    let mut f = Find::new(c, self.key, None, true);
                    f.skip = Some(loc);
                    self.st = PutState::SecureFind(f);
                }
                PutState::SecureFind(f) => {
                    let found = tri!(f.poll(c, io, ev));
                    let t = c.region_of(f.loc);
                    // Compact every region up to and including it.
                    self.steps = match c.g.dist(c.tail, t) {
                        d if found && d < c.used => d + 1,
                        _ => 0,
                    };
                    if self.steps == 0 {
                        return Poll::Ready(Output::Done);
                    }
                    self.st = PutState::Gc(Compact::new());
                }
            }
        }
    }
}

/// Garbage collection: one step, or until nothing is reclaimable or the
/// oldest region holds nothing to reclaim.
#[derive(Clone, Copy)]
pub(super) struct Gc {
    pub(super) left: u32,
    pub(super) freed: u32,
    pub(super) step: Option<Compact>,
    /// Finishing the index first (started on the first poll).
    #[cfg(feature = "lazy")]
    pub(super) warm: Option<Warm>,
}

impl Gc {
    #[inline(never)]
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        #[cfg(feature = "lazy")]
        if c.warming() {
            let w = self.warm.get_or_insert_with(|| Warm::new(c, u32::MAX));
            tri!(w.poll(c, io, ev));
        }
        loop {
            if let Some(step) = &mut self.step {
                self.freed = self.freed.saturating_add(tri!(step.poll(c, io, ev)));
                // A step that found nothing to reclaim in the oldest region
                // (its dry run) changed nothing: stop there.
                let skipped = step.dry;
                self.step = None;
                if skipped {
                    return Poll::Ready(Output::Freed(self.freed as usize));
                }
            }
            // Stop when nothing is dead, or after `left` steps: one for a
            // GC step, one for each region that held records when a full GC
            // started.
            if c.dead() == Some(0) || self.left == 0 {
                return Poll::Ready(Output::Freed(self.freed as usize));
            }
            self.left -= 1;
            // Steps over a tail that reclaims nothing only while space is
            // short, to reach the garbage beyond it.
            self.step = Some(Compact::checked(c.space() < c.g.usable, 0, u32::MAX));
        }
    }
}

/// Format: erase every region and write headers, starting the ring at the
/// least-worn region.
#[derive(Clone, Copy)]
pub(super) struct Format {
    pub(super) survey: bool,
    pub(super) i: u32,
    pub(super) start: u32,
    pub(super) least: u32,
    pub(super) init: Option<EraseInit>,
    pub(super) wait: bool,
}

impl Format {
    #[inline(never)]
    pub(super) fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Channel) -> Poll<Output> {
        loop {
            if let Some(init) = &mut self.init {
                tri!(init.poll(c, io, ev));
                self.init = None;
                self.i += 1;
            }
            if self.i == c.g.count {
                if !self.survey {
                    break;
                }
                self.survey = false;
                self.i = 0;
            }
            let r = if self.survey {
                self.i
            } else {
                (self.start + self.i) % c.g.count
            };
            tri!(read(&mut self.wait, ev, c.addr(r, 0), c.g.span));
            let count = match RegionHeader::decode(&c.g, io.scratch) {
                HeaderState::Valid(h) => h.erase_count,
                _ => 0,
            };
            if self.survey {
                if count < self.least {
                    self.least = count;
                    self.start = r;
                }
                self.i += 1;
            } else {
                self.init = Some(EraseInit::new(r, count.saturating_add(1), self.i));
            }
        }
        c.head = self.start;
        c.tail = self.start;
        c.head_seq = 0;
        c.head_off = c.g.span;
        c.used = 1;
        c.next_seq = c.g.count;
        c.ix.clear();
        #[cfg(feature = "lazy")]
        {
            c.warm = None;
        }
        c.rec_bytes = 0;
        c.live_bytes = 0;
        c.corrupt = 0;
        c.mounted = true;
        Poll::Ready(Output::Done)
    }
}
