//! The engine: in-RAM state plus one state machine per operation.
//!
//! Every machine is written in the same shape: `poll` is called with the
//! outcome of the request it issued last (`ev`) and either returns its
//! result (`P::Ok`) or stops (`P::Stop`) with the next request or an error
//! left in `ev`. A machine
//! that delegates to a child machine forwards `ev` to it; the innermost
//! machine that issued the request consumes it. Machines are plain data, so
//! the whole operation lives in the engine between calls.
//!
//! The store is a ring of regions. Records are appended to the *head*
//! region; when it is full the next region of the ring is opened. The oldest
//! region (the *tail*) is compacted by copying its live records to the head
//! and erasing it. Order in the ring is age: a later record of a key
//! supersedes an earlier one, so no record is ever modified in place.

use crate::crc::Crc32;
use crate::format::{
    blank, seq_newer, seq_next, Geo, Geometry, HeaderState, Kind, RecHdr, RegionHeader, REC_HDR,
};
use crate::index::{Index, IndexEntry};
use crate::{Error, FlashFault, FlashOp, Io, Op, Output, Stats, Step, ValueBuf, MIN_SCRATCH};
#[cfg(feature = "inspect")]
use crate::{RecordCursor, RecordHeader, RecordInfo, RegionInfo, Role};

/// The channel between `drive` and the machines: the outcome of the last
/// request going in; the next request, or the error that ends the
/// operation, coming out. Keeping both here (not in `P`) keeps every `P`
/// small, so stopping a machine and its parents moves no data.
struct Ev {
    outcome: Option<Result<(), FlashFault>>,
    /// The pending request, as `drive` hands it to the caller.
    req: Step,
    err: Option<Error>,
}

impl Ev {
    /// Ends the operation with `e`.
    fn fail<T>(&mut self, e: Error) -> P<T> {
        self.err = Some(e);
        P::Stop
    }
}

enum P<T> {
    /// Stopped: a request is pending (`Ev::req`) or the operation failed
    /// (`Ev::err` is set).
    Stop,
    Ok(T),
}

/// Propagates a stop (pending request or error) from a child poll.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            P::Stop => return P::Stop,
            P::Ok(v) => v,
        }
    };
}

/// Issues one request, or consumes its outcome on the next poll. Kept out
/// of line (with `read` and `program`): the machines call it from some
/// twenty places.
#[inline(never)]
fn request(wait: &mut bool, ev: &mut Ev, req: Step, what: FlashOp) -> P<()> {
    if !*wait {
        *wait = true;
        ev.req = req;
        return P::Stop;
    }
    *wait = false;
    match ev.outcome.take() {
        Some(Ok(())) => P::Ok(()),
        Some(Err(FlashFault)) => ev.fail(Error::Flash(what)),
        None => ev.fail(Error::Protocol),
    }
}

#[inline(never)]
fn read(wait: &mut bool, ev: &mut Ev, addr: u32, len: u32) -> P<()> {
    let (addr, len) = (addr as usize, len as usize);
    request(wait, ev, Step::Read { addr, len }, FlashOp::Read)
}

#[inline(never)]
fn program(wait: &mut bool, ev: &mut Ev, addr: u32, len: u32) -> P<()> {
    let (addr, len) = (addr as usize, len as usize);
    request(wait, ev, Step::Program { addr, len }, FlashOp::Program)
}

/// Reads the start of region `r` (its header and first record slot) and
/// returns whether the first record slot is blank (no record yet). Shared by
/// mount's passes and `Open`.
#[inline(never)]
fn read_start(wait: &mut bool, ev: &mut Ev, c: &Core, io: &Io, r: u32) -> P<bool> {
    tri!(read(wait, ev, c.addr(r, 0), c.g.span + REC_HDR));
    let span = c.g.span as usize;
    P::Ok(
        io.scratch
            .get(span..span + REC_HDR as usize)
            .is_some_and(blank),
    )
}

/// The persistent in-RAM state.
pub(crate) struct Core<'x> {
    g: Geo,
    ix: Index<'x>,
    mounted: bool,
    /// Region records are appended to, the next free offset in it, and its
    /// sequence number.
    head: u32,
    head_off: u32,
    head_seq: u32,
    /// Oldest region holding records, and the number of regions from the
    /// tail to the head inclusive.
    tail: u32,
    used: u32,
    /// Sequence number the next erased region gets.
    next_seq: u32,
    /// Largest erase count seen: the estimate for a region whose count was lost.
    max_erase: u32,
    /// Bytes of records in used regions, and of live value records.
    rec_bytes: u32,
    live_bytes: u32,
    corrupt: u32,
    /// Failures of compaction steps run after a write had succeeded.
    deferred_errors: u32,
    /// Bytes moved per flash request (scratch length rounded to the unit).
    chunk: u32,
}

impl<'x> Core<'x> {
    fn fresh(g: Geo, ix: Index<'x>) -> Core<'x> {
        Core {
            g,
            ix,
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
        }
    }

    fn free(&self) -> u32 {
        self.g.count - self.used
    }

    fn addr(&self, region: u32, off: u32) -> u32 {
        self.g.addr(region, off)
    }

    fn region_of(&self, loc: u32) -> u32 {
        loc / self.g.region
    }

    fn dead(&self) -> Option<u32> {
        self.ix
            .complete
            .then(|| self.rec_bytes.saturating_sub(self.live_bytes))
    }

    /// Bytes writable without touching the reserve region.
    fn space(&self) -> u32 {
        (self.g.region - self.head_off) + self.free().saturating_sub(1) * self.g.usable
    }

    /// Whether a write that needed no compaction should run one step after
    /// its record is written: once less than a region of space is left while
    /// the tail still holds live records. Compacting such a tail gains little,
    /// so it is done early, one step per write, while the remaining space
    /// absorbs the writes. A tail of garbage is left until space runs out, so
    /// that pure churn erases no earlier than it must.
    fn wants_early_gc(&self) -> bool {
        self.space() < self.g.usable
            && self.used > 1
            && self.dead() != Some(0)
            && (!self.ix.complete || self.ix.any_in(self.g.addr(self.tail, 0), self.g.region))
    }

    /// Makes the index and the live byte count reflect a new record of
    /// `key` at `loc`, taking `extent` bytes, superseding one of `old` bytes.
    #[inline(never)]
    fn apply(&mut self, key: u64, kind: Kind, loc: u32, extent: u32, old: Option<u32>) {
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
    fn close_head(&mut self) {
        self.rec_bytes = self.rec_bytes.saturating_add(self.g.region - self.head_off);
        self.head_off = self.g.region;
    }
}

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

/// Walks the record headers of one region, front to back.
#[derive(Clone, Copy)]
struct Scan {
    region: u32,
    off: u32,
    end: u32,
    /// Set after an unparseable header until the next good one.
    resync: bool,
    wait: bool,
    /// The last record returned: its flash address and header. Kept here
    /// (not in `Item`) so that `poll` returns in registers.
    loc: u32,
    h: RecHdr,
}

enum Item {
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
    const fn idle() -> Scan {
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

    fn new(c: &Core, region: u32) -> Scan {
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

    fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Ev) -> P<Item> {
        if !self.wait && self.off + REC_HDR > self.end {
            return P::Ok(Item::End);
        }
        tri!(read(
            &mut self.wait,
            ev,
            c.addr(self.region, self.off),
            REC_HDR
        ));
        let b = &io.scratch[..REC_HDR as usize];
        if blank(b) {
            return P::Ok(Item::End);
        }
        match RecHdr::decode(b) {
            Some(h) if self.off + c.g.extent(h.len) <= c.g.region => {
                self.loc = c.addr(self.region, self.off);
                self.h = h;
                self.off += c.g.extent(h.len);
                self.resync = false;
                P::Ok(Item::Rec)
            }
            _ => {
                let first = !self.resync;
                self.resync = true;
                self.off += if first { c.g.first } else { c.g.unit };
                P::Ok(Item::Bad(first))
            }
        }
    }
}

/// Reads a record's value, checks its CRC and optionally copies it out.
#[derive(Clone, Copy)]
struct Body {
    addr: u32,
    len: u32,
    pos: u32,
    crc: Crc32,
    want: u32,
    copy: bool,
    wait: bool,
}

impl Body {
    fn new(loc: u32, h: &RecHdr, copy: bool) -> Body {
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

    fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Ev) -> P<bool> {
        loop {
            if !self.wait && self.pos == self.len {
                return P::Ok(self.crc.finish() == self.want);
            }
            let n = (self.len - self.pos).min(c.chunk);
            tri!(read(&mut self.wait, ev, self.addr + self.pos, n));
            let data = &io.scratch[..n as usize];
            self.crc.update(data);
            if self.copy {
                if let crate::ValueBuf::Out(out) = &mut io.value {
                    let p = self.pos as usize;
                    if p < out.len() {
                        let k = (out.len() - p).min(n as usize);
                        out[p..p + k].copy_from_slice(&data[..k]);
                    }
                }
            }
            self.pos += n;
        }
    }
}

/// Size of the program at `pos` of a record of `extent` bytes: the first
/// program covers exactly the header span, so a torn header can damage no
/// more than that.
fn piece(c: &Core, pos: u32, extent: u32) -> u32 {
    if pos == 0 {
        c.g.first
    } else {
        (extent - pos).min(c.chunk)
    }
}

/// Programs a new record: header, value, 0xFF padding to the unit.
#[derive(Clone, Copy)]
struct Writer {
    dst: u32,
    hdr: [u8; 16],
    len: u32,
    extent: u32,
    pos: u32,
    wait: bool,
}

impl Writer {
    #[inline(never)]
    fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Ev) -> P<()> {
        loop {
            if !self.wait && self.pos == self.extent {
                return P::Ok(());
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
struct Copier {
    src: u32,
    dst: u32,
    extent: u32,
    pos: u32,
    have: bool,
    wait: bool,
}

impl Copier {
    fn poll(&mut self, c: &Core, ev: &mut Ev) -> P<()> {
        loop {
            if !self.wait && !self.have && self.pos == self.extent {
                return P::Ok(());
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
struct EraseInit {
    region: u32,
    hdr: RegionHeader,
    erased: bool,
    wait: bool,
}

impl EraseInit {
    fn new(region: u32, erase_count: u32, seq: u32) -> EraseInit {
        EraseInit {
            region,
            hdr: RegionHeader { erase_count, seq },
            erased: false,
            wait: false,
        }
    }

    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<()> {
        if !self.erased {
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
        P::Ok(())
    }
}

/// Whether a region read at its start (`span + 16` bytes; `empty`: no
/// record) is ready for appends: a valid header newer than `after_seq` and
/// no record.
fn clean(c: &Core, b: &[u8], empty: bool, after_seq: u32) -> Option<RegionHeader> {
    match RegionHeader::decode(&c.g, b) {
        HeaderState::Valid(h) if empty && seq_newer(h.seq, after_seq) => Some(h),
        _ => None,
    }
}

/// Opens the region after the head as the new head, erasing it first unless
/// it is clean. Requires a free region.
#[derive(Clone, Copy)]
struct Open {
    region: u32,
    init: Option<EraseInit>,
    wait: bool,
}

impl Open {
    fn new(c: &Core) -> Open {
        Open {
            region: c.g.next(c.head),
            init: None,
            wait: false,
        }
    }

    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<()> {
        if self.init.is_none() {
            let empty = tri!(read_start(&mut self.wait, ev, c, io, self.region));
            if let Some(h) = clean(c, io.scratch, empty, c.head_seq) {
                self.commit(c, h.seq);
                return P::Ok(());
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
        P::Ok(())
    }

    fn commit(&self, c: &mut Core, seq: u32) {
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
// Word alignment despite the u64 key (see `RecHdr`).
#[repr(Rust, packed(4))]
struct Find {
    key: u64,
    after: Option<u32>,
    /// A location that never matches (the record being written).
    skip: Option<u32>,
    any: bool,
    region: u32,
    stop: u32,
    scan: Scan,
    /// The newest match so far, if `found`: its address and header. Read
    /// by the caller once `poll` returns `true` (kept here, not returned,
    /// so that `poll` returns in registers).
    found: bool,
    loc: u32,
    h: RecHdr,
    /// Checking the checksum of the scan's current record.
    body: Option<Body>,
}

impl Find {
    #[inline(never)]
    fn new(c: &Core, key: u64, after: Option<u32>, any: bool) -> Find {
        Find {
            key,
            after,
            skip: None,
            any,
            region: c.head,
            stop: after.map_or(c.tail, |l| c.region_of(l)),
            scan: Scan::new(c, c.head),
            found: false,
            loc: 0,
            h: NO_REC,
            body: None,
        }
    }

    /// Whether a match was found (left in `loc` and `h`).
    fn poll(&mut self, c: &Core, io: &mut Io, ev: &mut Ev) -> P<bool> {
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
                        return P::Ok(self.found);
                    }
                    self.region = c.g.prev(self.region);
                    self.scan = Scan::new(c, self.region);
                }
            }
        }
    }

    /// Takes the scan's current record as the newest match.
    fn keep(&mut self) {
        self.found = true;
        self.loc = self.scan.loc;
        self.h = self.scan.h;
    }
}

/// One compaction step: moves the tail's live records to the head, erases
/// the tail and gives it a fresh header. Returns the bytes reclaimed.
#[derive(Clone, Copy)]
struct Compact {
    st: CSt,
    victim: u32,
    count: u32,
    /// Its `loc` and `h` are the record being moved.
    scan: Scan,
    relocated: u32,
    used: u32,
    wait: bool,
}

#[derive(Clone, Copy)]
enum CSt {
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

const NO_REC: RecHdr = RecHdr {
    kind: Kind::Tombstone,
    len: 0,
    key: 0,
    crc: 0,
};

impl Compact {
    #[inline(never)]
    fn new() -> Compact {
        Compact {
            st: CSt::Start,
            victim: 0,
            count: 0,
            scan: Scan::idle(),
            relocated: 0,
            used: 0,
            wait: false,
        }
    }

    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<u32> {
        loop {
            match &mut self.st {
                CSt::Start => {
                    self.st = if c.used == 1 {
                        // The tail is the head: move appends on first.
                        CSt::OpenFirst(Open::new(c))
                    } else {
                        CSt::Header
                    };
                }
                CSt::OpenFirst(open) => {
                    tri!(open.poll(c, io, ev));
                    self.st = CSt::Header;
                }
                CSt::Header => {
                    self.victim = c.tail;
                    tri!(read(&mut self.wait, ev, c.addr(self.victim, 0), c.g.span));
                    self.count = match RegionHeader::decode(&c.g, io.scratch) {
                        HeaderState::Valid(h) => h.erase_count.saturating_add(1),
                        _ => c.max_erase.saturating_add(1),
                    };
                    self.scan = Scan::new(c, self.victim);
                    self.st = CSt::Scanning;
                }
                CSt::Scanning => match tri!(self.scan.poll(c, io, ev)) {
                    Item::Rec => {
                        let (loc, h) = (self.scan.loc, self.scan.h);
                        if h.kind == Kind::Value {
                            match c.ix.get(h.key) {
                                Some(l) if l == loc => self.st = CSt::Place,
                                Some(_) => {}
                                None if c.ix.complete => {}
                                None => self.st = CSt::Verify(Body::new(loc, &h, false)),
                            }
                        }
                        // Tombstones are dropped: the tail is the oldest
                        // region, so nothing older remains for them to hide.
                    }
                    Item::Bad(_) => {}
                    Item::End => {
                        self.used = self.scan.off.min(c.g.region) - c.g.span;
                        self.st = CSt::Erase(EraseInit::new(self.victim, self.count, c.next_seq));
                        c.next_seq = seq_next(c.next_seq);
                    }
                },
                CSt::Verify(body) => {
                    let ok = tri!(body.poll(c, io, ev));
                    self.st = if ok {
                        CSt::Probe(Find::new(c, self.scan.h.key, Some(self.scan.loc), false))
                    } else {
                        CSt::Scanning
                    };
                }
                CSt::Probe(find) => {
                    let newer = tri!(find.poll(c, io, ev));
                    self.st = if newer { CSt::Scanning } else { CSt::Place };
                }
                CSt::Place => {
                    let extent = c.g.extent(self.scan.h.len);
                    if c.head_off + extent <= c.g.region {
                        self.st = CSt::Copy(Copier {
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
                        self.st = CSt::OpenDst(Open::new(c));
                    }
                }
                CSt::OpenDst(open) => {
                    tri!(open.poll(c, io, ev));
                    self.st = CSt::Place;
                }
                CSt::Copy(copier) => {
                    let extent = copier.extent;
                    if let P::Stop = copier.poll(c, ev) {
                        if ev.err.is_some() {
                            c.close_head();
                        }
                        return P::Stop;
                    }
                    c.ix.relocate(self.scan.h.key, c.addr(c.head, c.head_off));
                    c.head_off += extent;
                    c.rec_bytes = c.rec_bytes.saturating_add(extent);
                    self.relocated += extent;
                    self.st = CSt::Scanning;
                }
                CSt::Erase(init) => {
                    let r = init.poll(c, io, ev);
                    if let (P::Stop, None) = (&r, ev.err) {
                        return P::Stop;
                    }
                    if init.erased {
                        // The victim's records are gone (its live ones were
                        // copied): it leaves the ring even if the header
                        // program failed; opening it later re-erases it.
                        c.tail = c.g.next(c.tail);
                        c.used -= 1;
                        c.rec_bytes = c.rec_bytes.saturating_sub(self.used);
                    }
                    if let P::Stop = r {
                        return P::Stop;
                    }
                    return P::Ok(self.used.saturating_sub(self.relocated));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

/// Reads the header of the record the index points at.
fn indexed_header(io: &Io, key: u64) -> Option<RecHdr> {
    RecHdr::decode(&io.scratch[..REC_HDR as usize]).filter(|h| h.key == key)
}

#[derive(Clone, Copy)]
#[repr(Rust, packed(4))]
struct Get {
    key: u64,
    st: GSt,
    wait: bool,
}

#[derive(Clone, Copy)]
enum GSt {
    Lookup,
    Find(Find),
    Header(u32),
    Body(Body),
}

impl Get {
    #[inline(never)]
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        loop {
            match &mut self.st {
                GSt::Lookup => {
                    self.st = match c.ix.get(self.key) {
                        Some(loc) => GSt::Header(loc),
                        None if c.ix.complete => return ev.fail(Error::NotFound),
                        None => GSt::Find(Find::new(c, self.key, None, false)),
                    }
                }
                GSt::Find(f) => {
                    if !tri!(f.poll(c, io, ev)) || f.h.kind != Kind::Value {
                        return ev.fail(Error::NotFound);
                    }
                    self.st = GSt::Body(Body::new(f.loc, &f.h, true))
                }
                GSt::Header(loc) => {
                    let loc = *loc;
                    tri!(read(&mut self.wait, ev, loc, REC_HDR));
                    match indexed_header(io, self.key) {
                        Some(h) if h.kind == Kind::Value => {
                            self.st = GSt::Body(Body::new(loc, &h, true))
                        }
                        _ => return ev.fail(Error::Corrupt),
                    }
                }
                GSt::Body(b) => {
                    let len = b.len as usize;
                    return if tri!(b.poll(c, io, ev)) {
                        P::Ok(Output::Value { len })
                    } else {
                        ev.fail(Error::Corrupt)
                    };
                }
            }
        }
    }
}

/// Whether a write requires the key to exist, to be absent, or neither.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Any,
    Absent,
    Present,
}

/// Set, add, update, delete and secure delete: append one record.
#[derive(Clone, Copy)]
#[repr(Rust, packed(4))]
struct Put {
    key: u64,
    mode: Mode,
    kind: Kind,
    secure: bool,
    len: u32,
    crc: u32,
    old: Option<u32>,
    gc_done: bool,
    steps: u32,
    st: PSt,
    wait: bool,
}

#[derive(Clone, Copy)]
enum PSt {
    Lookup,
    Find(Find),
    OldHeader(u32),
    Check,
    SecureFind(Find),
    Space,
    Open(Open),
    Gc(Compact),
    Write(Writer),
    Early(Compact),
    Secure(Compact),
}

impl Put {
    fn new(key: u64, mode: Mode, kind: Kind, secure: bool, value: &[u8]) -> Put {
        let h = RecHdr {
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
            gc_done: false,
            steps: 0,
            st: PSt::Lookup,
            wait: false,
        }
    }

    #[inline(never)]
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        let extent = c.g.extent(self.len);
        loop {
            match &mut self.st {
                PSt::Lookup => {
                    self.st = match c.ix.get(self.key) {
                        Some(loc) => PSt::OldHeader(loc),
                        None if c.ix.complete => PSt::Check,
                        None => PSt::Find(Find::new(c, self.key, None, false)),
                    };
                }
                PSt::Find(f) => {
                    if tri!(f.poll(c, io, ev)) && f.h.kind == Kind::Value {
                        self.old = Some(c.g.extent(f.h.len));
                    }
                    self.st = PSt::Check;
                }
                PSt::OldHeader(loc) => {
                    tri!(read(&mut self.wait, ev, *loc, REC_HDR));
                    // A damaged old record must not make the key unwritable:
                    // it still exists, only its size is unknown.
                    self.old = Some(indexed_header(io, self.key).map_or(0, |h| c.g.extent(h.len)));
                    self.st = PSt::Check;
                }
                PSt::Check => {
                    match (self.mode, self.old.is_some()) {
                        (Mode::Absent, true) => return ev.fail(Error::AlreadyExists),
                        (Mode::Present, false) => return ev.fail(Error::NotFound),
                        _ => {}
                    }
                    self.st = PSt::Space;
                }
                PSt::Space => {
                    // With no free region the head holds a compaction's
                    // copies that mount would roll back: finish that
                    // compaction before appending anything.
                    let finish = c.free() == 0;
                    if !self.gc_done && (finish || (c.dead() != Some(0) && c.space() < extent)) {
                        self.gc_done = true;
                        self.st = PSt::Gc(Compact::new());
                        continue;
                    }
                    if finish {
                        return ev.fail(Error::NoSpace);
                    }
                    if c.head_off + extent <= c.g.region {
                        let h = RecHdr {
                            kind: self.kind,
                            len: self.len,
                            key: self.key,
                            crc: self.crc,
                        };
                        self.st = PSt::Write(Writer {
                            dst: c.addr(c.head, c.head_off),
                            hdr: h.encode(),
                            len: self.len,
                            extent,
                            pos: 0,
                            wait: false,
                        });
                    } else if c.free() >= 2 {
                        self.st = PSt::Open(Open::new(c));
                    } else {
                        return ev.fail(Error::NoSpace);
                    }
                }
                PSt::Open(o) => {
                    tri!(o.poll(c, io, ev));
                    self.st = PSt::Space;
                }
                PSt::Gc(g) => {
                    tri!(g.poll(c, io, ev));
                    self.st = PSt::Space;
                }
                PSt::Write(w) => {
                    if let P::Stop = w.poll(c, io, ev) {
                        if ev.err.is_some() {
                            // Part of the record may be programmed: never
                            // append to this region again.
                            c.close_head();
                        }
                        return P::Stop;
                    }
                    let loc = c.addr(c.head, c.head_off);
                    c.head_off += extent;
                    c.rec_bytes = c.rec_bytes.saturating_add(extent);
                    c.apply(self.key, self.kind, loc, extent, self.old);
                    if !self.secure {
                        if self.gc_done || !c.wants_early_gc() {
                            return P::Ok(Output::Done);
                        }
                        self.gc_done = true;
                        self.st = PSt::Early(Compact::new());
                        continue;
                    }
                    // Find the newest region still holding any record of
                    // the key other than this tombstone (found after the
                    // write, so copies a compaction just made count too).
                    let mut f = Find::new(c, self.key, None, true);
                    f.skip = Some(loc);
                    self.st = PSt::SecureFind(f);
                }
                PSt::SecureFind(f) => {
                    let found = tri!(f.poll(c, io, ev));
                    let t = c.region_of(f.loc);
                    // Compact every region up to and including it.
                    self.steps = match c.g.dist(c.tail, t) {
                        d if found && d < c.used => d + 1,
                        _ => 0,
                    };
                    if self.steps == 0 {
                        return P::Ok(Output::Done);
                    }
                    self.st = PSt::Secure(Compact::new());
                }
                PSt::Early(g) => {
                    // The write is already durable: a failure of this
                    // housekeeping step does not undo it. It is counted, and
                    // the store stays consistent.
                    if let P::Stop = g.poll(c, io, ev) {
                        if ev.err.take().is_none() {
                            return P::Stop;
                        }
                        c.deferred_errors = c.deferred_errors.saturating_add(1);
                    }
                    return P::Ok(Output::Done);
                }
                PSt::Secure(g) => {
                    tri!(g.poll(c, io, ev));
                    self.steps -= 1;
                    if self.steps == 0 {
                        return P::Ok(Output::Done);
                    }
                    *g = Compact::new();
                }
            }
        }
    }
}

/// Garbage collection: one step, or until nothing is reclaimable.
#[derive(Clone, Copy)]
struct Gc {
    full: bool,
    left: u32,
    freed: u32,
    step: Option<Compact>,
}

impl Gc {
    #[inline(never)]
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        loop {
            if let Some(step) = &mut self.step {
                self.freed = self.freed.saturating_add(tri!(step.poll(c, io, ev)));
                self.step = None;
                if !self.full {
                    return P::Ok(Output::Freed(self.freed as usize));
                }
            }
            // With exact accounting stop when nothing is dead; without it,
            // compact each region that held records when the GC started.
            let more = match c.dead() {
                Some(d) => d > 0,
                None => true,
            };
            if !more || self.left == 0 {
                return P::Ok(Output::Freed(self.freed as usize));
            }
            self.left -= 1;
            self.step = Some(Compact::new());
        }
    }
}

/// Iteration in key order.
#[cfg(feature = "inspect")]
#[derive(Clone, Copy)]
struct Next {
    after: Option<u64>,
    st: NSt,
    wait: bool,
}

#[cfg(feature = "inspect")]
#[derive(Clone, Copy)]
enum NSt {
    Start,
    Header(u64, u32),
    Sweep { scan: Scan, best: Option<u64> },
    Check(Find, u64),
}

#[cfg(feature = "inspect")]
impl Next {
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        loop {
            match &mut self.st {
                NSt::Start => {
                    self.st = if c.ix.complete {
                        match c.ix.next_after(self.after) {
                            None => return P::Ok(Output::NoMoreKeys),
                            Some((k, loc)) => NSt::Header(k, loc),
                        }
                    } else {
                        NSt::Sweep {
                            scan: Scan::new(c, c.tail),
                            best: None,
                        }
                    };
                }
                NSt::Header(k, loc) => {
                    let (k, loc) = (*k, *loc);
                    tri!(read(&mut self.wait, ev, loc, REC_HDR));
                    return match indexed_header(io, k) {
                        Some(h) => P::Ok(Output::Key {
                            key: k,
                            len: h.len as usize,
                        }),
                        None => ev.fail(Error::Corrupt),
                    };
                }
                // Without a complete index: find the smallest key above
                // `after` among all records, then check that it is live.
                NSt::Sweep { scan, best } => match tri!(scan.poll(c, io, ev)) {
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
                                None => return P::Ok(Output::NoMoreKeys),
                                Some(k) => self.st = NSt::Check(Find::new(c, k, None, false), k),
                            }
                        }
                    }
                },
                NSt::Check(f, k) => {
                    let k = *k;
                    match tri!(f.poll(c, io, ev)) {
                        true if f.h.kind == Kind::Value => {
                            return P::Ok(Output::Key {
                                key: k,
                                len: f.h.len as usize,
                            })
                        }
                        _ => {
                            self.after = Some(k);
                            self.st = NSt::Start;
                        }
                    }
                }
            }
        }
    }
}

/// Format: erase every region and write headers, starting the ring at the
/// least-worn region.
#[derive(Clone, Copy)]
struct Format {
    survey: bool,
    i: u32,
    start: u32,
    least: u32,
    init: Option<EraseInit>,
    wait: bool,
}

impl Format {
    #[inline(never)]
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
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
        c.rec_bytes = 0;
        c.live_bytes = 0;
        c.corrupt = 0;
        c.mounted = true;
        P::Ok(Output::Done)
    }
}

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
#[derive(Clone, Copy)]
struct Mount {
    st: MSt,
    i: u32,
    wait: bool,
    // pass 1
    head: Option<(u32, RegionHeader)>,
    damaged_head: Option<u32>,
    empty: Option<(u32, RegionHeader)>,
    any_valid: bool,
    v1: bool,
    other: bool,
    max_seq: u32,
    // pass 2
    tail_valid: bool,
    promoted: bool,
    // pass 3
    region: u32,
    /// Its `loc` and `h` are the record being checked and applied.
    scan: Scan,
    closed: bool,
}

#[derive(Clone, Copy)]
enum MSt {
    Survey,
    Walk,
    Peek(u32),
    Copies {
        head: Scan,
        tail: Scan,
        /// Looking for a copy of `head.h` in the tail.
        want: bool,
        torn: bool,
        /// Checking the checksum of `head`'s current record.
        check: Option<Body>,
    },
    Rollback(EraseInit),
    RegionHeader,
    Records,
    Verify(Body),
    Superseded(u32),
}

impl Mount {
    #[inline(never)]
    fn new() -> Mount {
        Mount {
            st: MSt::Survey,
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
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        loop {
            match &mut self.st {
                MSt::Survey => {
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
                MSt::Walk => {
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
                        self.st = MSt::Peek(r);
                        continue;
                    }
                    c.tail = r;
                    self.tail_valid = valid;
                    tri!(self.walk_done(c));
                }
                MSt::Peek(r) => {
                    let r = *r;
                    if tri!(read_start(&mut self.wait, ev, c, io, c.g.next(r))) {
                        // Followed by free space: it is the newest region,
                        // its header damaged. It becomes the (closed) head.
                        c.head = r;
                        self.promoted = true;
                        self.st = MSt::Walk;
                    } else {
                        // Followed by used regions: the oldest, half erased.
                        c.tail = r;
                        self.tail_valid = false;
                        tri!(self.walk_done(c));
                    }
                }
                MSt::Copies {
                    head,
                    tail,
                    want,
                    torn,
                    check,
                } => {
                    // Is every valid record in the head an identical copy
                    // of a tail record, in order, with at most one torn copy
                    // at the end?
                    let copies = loop {
                        if let Some(body) = check {
                            let valid = tri!(body.poll(c, io, ev));
                            if valid {
                                *want = true;
                            } else {
                                *torn = true;
                            }
                            *check = None;
                            continue;
                        }
                        if *want {
                            match tri!(tail.poll(c, io, ev)) {
                                Item::Rec if tail.h == head.h => *want = false,
                                Item::Rec | Item::Bad(_) => {}
                                Item::End => break false,
                            }
                            continue;
                        }
                        match tri!(head.poll(c, io, ev)) {
                            Item::Rec if !*torn => {
                                *check = Some(Body::new(head.loc, &head.h, false))
                            }
                            Item::Bad(true) if !*torn => *torn = true,
                            Item::End => break true,
                            _ => break false,
                        }
                    };
                    if copies {
                        let count = self
                            .head
                            .filter(|(r, _)| *r == c.head)
                            .map_or(c.max_erase, |(_, h)| h.erase_count)
                            .saturating_add(1);
                        self.st = MSt::Rollback(EraseInit::new(c.head, count, c.next_seq));
                        c.next_seq = seq_next(c.next_seq);
                    } else {
                        // Not an interrupted compaction: erase nothing.
                        self.start_scan(c);
                    }
                }
                MSt::Rollback(init) => {
                    tri!(init.poll(c, io, ev));
                    c.head = c.g.prev(c.head);
                    c.used -= 1;
                    self.start_scan(c);
                }
                MSt::RegionHeader => {
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
                    self.st = MSt::Records;
                }
                MSt::Records => match tri!(self.scan.poll(c, io, ev)) {
                    Item::Rec => {
                        self.st = MSt::Verify(Body::new(self.scan.loc, &self.scan.h, false));
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
                            c.mounted = true;
                            return P::Ok(Output::Done);
                        }
                        self.region = c.g.next(self.region);
                        self.st = MSt::RegionHeader;
                    }
                },
                MSt::Verify(body) => {
                    let ok = tri!(body.poll(c, io, ev));
                    self.st = MSt::Records;
                    if !ok {
                        c.corrupt = c.corrupt.saturating_add(1);
                        continue;
                    }
                    if let Some(old) = c.ix.get(self.scan.h.key) {
                        self.st = MSt::Superseded(old);
                    } else {
                        self.apply(c, None);
                    }
                }
                MSt::Superseded(old) => {
                    tri!(read(&mut self.wait, ev, *old, REC_HDR));
                    let old = indexed_header(io, self.scan.h.key).map_or(0, |h| c.g.extent(h.len));
                    self.apply(c, Some(old));
                    self.st = MSt::Records;
                }
            }
        }
    }

    /// Applies a verified record to the index and the live byte count.
    fn apply(&self, c: &mut Core, old: Option<u32>) {
        let (loc, h) = (self.scan.loc, self.scan.h);
        c.apply(h.key, h.kind, loc, c.g.extent(h.len), old);
    }

    fn survey_done(&mut self, c: &mut Core, ev: &mut Ev) -> P<()> {
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
        self.st = MSt::Walk;
        P::Ok(())
    }

    fn walk_done(&mut self, c: &mut Core) -> P<()> {
        c.used = c.g.count - self.i;
        if c.used == c.g.count && self.tail_valid {
            // No free region and an intact tail: a compaction was cut while
            // copying into the reserve. Roll it back (erase the head) only
            // after checking that the head holds nothing but copies.
            let scan = |region| Scan {
                end: c.g.region,
                ..Scan::new(c, region)
            };
            self.st = MSt::Copies {
                head: scan(c.head),
                tail: scan(c.tail),
                want: false,
                torn: false,
                check: None,
            };
            return P::Ok(());
        }
        self.start_scan(c);
        P::Ok(())
    }

    fn start_scan(&mut self, c: &mut Core) {
        // While scanning, the head's end is not known yet: scan it fully.
        c.head_off = c.g.region;
        self.region = c.tail;
        self.st = MSt::RegionHeader;
    }
}

/// Reads one region's header.
#[cfg(feature = "inspect")]
#[derive(Clone, Copy)]
struct Region {
    region: u32,
    wait: bool,
}

#[cfg(feature = "inspect")]
impl Region {
    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        tri!(read(&mut self.wait, ev, c.addr(self.region, 0), c.g.span));
        let role = if self.region == c.head {
            Role::Head
        } else if c.g.dist(c.tail, self.region) < c.used {
            Role::Used
        } else {
            Role::Free
        };
        P::Ok(Output::Region(RegionInfo {
            header: RegionHeader::decode(&c.g, io.scratch),
            role,
        }))
    }
}

/// The record walk: one record per operation.
#[cfg(feature = "inspect")]
#[derive(Clone, Copy)]
struct Walk {
    step: u32,
    /// Its `loc` and `h` are the record whose checksum `body` checks.
    scan: Scan,
    body: Option<Body>,
}

#[cfg(feature = "inspect")]
impl Walk {
    fn new(c: &Core, at: Option<RecordCursor>) -> Walk {
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

    fn cursor(&self) -> RecordCursor {
        RecordCursor {
            step: self.step,
            off: self.scan.off,
            resync: self.scan.resync,
        }
    }

    fn poll(&mut self, c: &mut Core, io: &mut Io, ev: &mut Ev) -> P<Output> {
        loop {
            if let Some(body) = &mut self.body {
                let crc_ok = tri!(body.poll(c, io, ev));
                let (loc, h) = (self.scan.loc, self.scan.h);
                let live = match h.kind {
                    Kind::Value if crc_ok => c.ix.complete.then(|| c.ix.get(h.key) == Some(loc)),
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
                return P::Ok(Output::Record(info, self.cursor()));
            }
            if self.step >= c.used {
                return P::Ok(Output::EndOfRecords);
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
                    return P::Ok(Output::Record(info, self.cursor()));
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

#[derive(Clone, Copy)]
enum Running {
    Idle,
    Format(Format),
    Mount(Mount),
    Get(Get),
    Put(Put),
    Gc(Gc),
    #[cfg(feature = "inspect")]
    Next(Next),
    #[cfg(feature = "inspect")]
    Region(Region),
    #[cfg(feature = "inspect")]
    Walk(Walk),
}

/// A TicKV store: the engine state for one flash area.
///
/// ```
/// use tickv::{blocking::{Flash, Store}, Geometry, IndexEntry, TicKV, FlashFault};
///
/// struct Ram(Vec<u8>);
/// impl Flash for Ram {
///     fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
///         buf.copy_from_slice(&self.0[addr..addr + buf.len()]);
///         Ok(())
///     }
///     fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
///         for (d, s) in self.0[addr..].iter_mut().zip(data) { *d &= *s; }
///         Ok(())
///     }
///     fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
///         self.0[region * 4096..][..4096].fill(0xFF);
///         Ok(())
///     }
/// }
///
/// let geometry = Geometry { region_size: 4096, region_count: 4, program_unit: 4 };
/// let mut index = [IndexEntry::default(); 32];
/// let mut scratch = [0u8; 64];
/// let kv = TicKV::new(geometry, &mut index).unwrap();
/// let mut store = Store::new(kv, Ram(vec![0xFF; 4 * 4096]), &mut scratch);
/// store.format().unwrap();
/// store.set(7, b"seven").unwrap();
/// let mut out = [0u8; 16];
/// assert_eq!(store.get(7, &mut out), Ok(5));
/// assert_eq!(&out[..5], b"seven");
/// ```
pub struct TicKV<'x> {
    c: Core<'x>,
    run: Running,
}

impl<'x> TicKV<'x> {
    /// An unmounted engine for `geometry`, with optional index storage
    /// (an empty slice for none).
    pub fn new(geometry: Geometry, index: &'x mut [IndexEntry]) -> Result<TicKV<'x>, Error> {
        let g = crate::format::Geo::new(&geometry)?;
        Ok(TicKV {
            c: Core::fresh(g, Index::new(index)),
            run: Running::Idle,
        })
    }

    /// Forgets everything held in RAM, as a reboot would: the engine is
    /// unmounted and idle, with its geometry and index storage kept.
    pub fn forget(&mut self) {
        let ix = core::mem::replace(&mut self.c.ix, Index::new(&mut []));
        self.c = Core::fresh(self.c.g, ix);
        self.run = Running::Idle;
    }

    /// Gives the index storage back (for example to build a fresh engine
    /// after a simulated reboot).
    pub fn into_index(self) -> &'x mut [IndexEntry] {
        self.c.ix.into_slots()
    }

    /// The geometry this engine was created for.
    pub fn geometry(&self) -> Geometry {
        Geometry {
            region_size: self.c.g.region as usize,
            region_count: self.c.g.count as usize,
            program_unit: self.c.g.unit as usize,
        }
    }

    /// Bytes at the start of every region taken by its header (16 rounded
    /// up to the program unit); records start here.
    pub fn header_span(&self) -> usize {
        self.c.g.span as usize
    }

    /// Bytes a record with a value of `len` bytes occupies in flash.
    pub fn record_extent(&self, len: usize) -> usize {
        self.c.g.extent(len.min(u32::MAX as usize - 64) as u32) as usize
    }

    /// The largest value the store accepts.
    pub fn max_value_len(&self) -> usize {
        self.c.g.max_value as usize
    }

    /// Whether an operation is in progress.
    pub fn busy(&self) -> bool {
        !matches!(self.run, Running::Idle)
    }

    /// Whether the store is mounted.
    pub fn mounted(&self) -> bool {
        self.c.mounted
    }

    /// Counters kept in RAM.
    pub fn stats(&self) -> Stats {
        let c = &self.c;
        let usable = c.g.usable as usize;
        let dead = c.dead().map(|d| d as usize);
        let free_regions = c.free() as usize;
        Stats {
            regions: c.g.count as usize,
            used_regions: c.used as usize,
            live_bytes: c.ix.complete.then_some(c.live_bytes as usize),
            record_bytes: c.rec_bytes as usize,
            reclaimable: dead,
            free_bytes: (c.g.region - c.head_off) as usize
                + free_regions.saturating_sub(1) * usable,
            reserve_bytes: free_regions.min(1) * usable,
            keys: c.ix.complete.then_some(c.ix.len()),
            index_used: c.ix.len(),
            index_capacity: c.ix.capacity(),
            corrupt_records: c.corrupt as usize,
            deferred_errors: c.deferred_errors as usize,
            max_value_len: c.g.max_value as usize,
        }
    }

    /// Starts `op` and returns its first step. While another operation runs
    /// this returns `Done(Err(Busy))` and changes nothing.
    pub fn begin(&mut self, op: Op, io: Io) -> Step {
        if self.busy() {
            return Step::Done(Err(Error::Busy));
        }
        if io.scratch.len() < MIN_SCRATCH {
            return Step::Done(Err(Error::ScratchTooSmall));
        }
        let c = &mut self.c;
        c.chunk = (io.scratch.len().min(1 << 20) as u32) & !(c.g.unit - 1);
        let needs_mount = !matches!(op, Op::Format | Op::Mount);
        if needs_mount && !c.mounted {
            return Step::Done(Err(Error::NotMounted));
        }
        let max_value = c.g.max_value as usize;
        let write = |mode, kind, secure| -> Result<Running, Error> {
            let value: &[u8] = match (&io.value, kind) {
                (ValueBuf::In(v), Kind::Value) => v,
                (_, Kind::Tombstone) => &[],
                _ => return Err(Error::Invalid),
            };
            if value.len() > max_value {
                return Err(Error::TooLarge);
            }
            Ok(Running::Put(Put::new(
                key_of(op),
                mode,
                kind,
                secure,
                value,
            )))
        };
        let run = match op {
            Op::Format => {
                c.mounted = false;
                Ok(Running::Format(Format {
                    survey: true,
                    i: 0,
                    start: 0,
                    least: u32::MAX,
                    init: None,
                    wait: false,
                }))
            }
            Op::Mount => {
                c.mounted = false;
                c.max_erase = 0;
                Ok(Running::Mount(Mount::new()))
            }
            Op::Get(key) => match io.value {
                ValueBuf::Out(_) => Ok(Running::Get(Get {
                    key,
                    st: GSt::Lookup,
                    wait: false,
                })),
                _ => Err(Error::Invalid),
            },
            Op::Set(_) => write(Mode::Any, Kind::Value, false),
            Op::Add(_) => write(Mode::Absent, Kind::Value, false),
            Op::Update(_) => write(Mode::Present, Kind::Value, false),
            Op::Delete(_) => write(Mode::Present, Kind::Tombstone, false),
            Op::SecureDelete(_) => write(Mode::Present, Kind::Tombstone, true),
            Op::GcStep | Op::GcFull => Ok(Running::Gc(Gc {
                full: op == Op::GcFull,
                left: if op == Op::GcFull { c.used + 1 } else { 1 },
                freed: 0,
                step: None,
            })),
            #[cfg(feature = "inspect")]
            Op::NextKey(after) => Ok(Running::Next(Next {
                after,
                st: NSt::Start,
                wait: false,
            })),
            #[cfg(feature = "inspect")]
            Op::RegionInfo(r) if r < c.g.count as usize => Ok(Running::Region(Region {
                region: r as u32,
                wait: false,
            })),
            #[cfg(feature = "inspect")]
            Op::RegionInfo(_) => Err(Error::Invalid),
            #[cfg(feature = "inspect")]
            Op::NextRecord(at) => Ok(Running::Walk(Walk::new(c, at))),
        };
        match run {
            Ok(run) => {
                self.run = run;
                self.drive(io, None)
            }
            Err(e) => Step::Done(Err(e)),
        }
    }

    /// Continues the running operation with the outcome of the request the
    /// last step asked for.
    pub fn resume(&mut self, io: Io, result: Result<(), FlashFault>) -> Step {
        if !self.busy() {
            return Step::Done(Err(Error::Protocol));
        }
        self.drive(io, Some(result))
    }

    fn drive(&mut self, mut io: Io, outcome: Option<Result<(), FlashFault>>) -> Step {
        let mut ev = Ev {
            outcome,
            req: Step::Erase { region: 0 },
            err: None,
        };
        // The operation is polled where it lives: its state is never copied.
        let c = &mut self.c;
        let io = &mut io;
        let p = match &mut self.run {
            Running::Idle => ev.fail(Error::Protocol),
            Running::Format(m) => m.poll(c, io, &mut ev),
            Running::Mount(m) => m.poll(c, io, &mut ev),
            Running::Get(m) => m.poll(c, io, &mut ev),
            Running::Put(m) => m.poll(c, io, &mut ev),
            Running::Gc(m) => m.poll(c, io, &mut ev),
            #[cfg(feature = "inspect")]
            Running::Next(m) => m.poll(c, io, &mut ev),
            #[cfg(feature = "inspect")]
            Running::Region(m) => m.poll(c, io, &mut ev),
            #[cfg(feature = "inspect")]
            Running::Walk(m) => m.poll(c, io, &mut ev),
        };
        let done = match p {
            P::Stop => {
                if let Some(e) = ev.err {
                    self.run = Running::Idle;
                    return Step::Done(Err(e));
                }
                return ev.req;
            }
            P::Ok(out) => Ok(out),
        };
        self.run = Running::Idle;
        Step::Done(done)
    }
}

fn key_of(op: Op) -> u64 {
    match op {
        Op::Get(k)
        | Op::Set(k)
        | Op::Add(k)
        | Op::Update(k)
        | Op::Delete(k)
        | Op::SecureDelete(k) => k,
        _ => 0,
    }
}
