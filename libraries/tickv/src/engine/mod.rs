//! The engine: in-RAM state plus one state machine per operation.
//!
//! Every machine is written in the same shape: `poll` is called with the
//! [`Channel`] holding the outcome of the request it issued last and either
//! returns its result ([`Poll::Ready`]) or stops ([`Poll::Stop`]) with the
//! next request or an error left in the channel. A machine that delegates
//! to a child machine forwards the channel to it; the innermost machine
//! that issued the request consumes the outcome. Machines are plain data,
//! so the whole operation lives in the engine between calls.
//!
//! The files: `poll` (the protocol and the request helpers), `state` (the
//! persistent in-RAM [`Core`]), `blocks` (scan, body, writer, copier,
//! erase, open, find), `compact`, `ops` (get, put, gc, format), `mount`,
//! `inspect` (tools only), and here the driver: [`TicKV`] and the
//! operation in progress.
//!
//! The store is a ring of regions. Records are appended to the *head*
//! region; when it is full the next region of the ring is opened. The oldest
//! region (the *tail*) is compacted by copying its live records to the head
//! and erasing it. Order in the ring is age: a later record of a key
//! supersedes an earlier one, so no record is ever modified in place.

use crate::crc::Crc32;
use crate::format::{
    blank, seq_newer, seq_next, Geometry, HeaderState, Kind, Layout, RegionHeader, StoredHeader,
    REC_HDR,
};
use crate::index::{Index, IndexEntry};
use crate::{Error, FlashFault, FlashOp, Io, Op, Output, Stats, Step, ValueBuf, MIN_SCRATCH};
#[cfg(feature = "inspect")]
use crate::{RecordCursor, RecordHeader, RecordInfo, RegionInfo, Role};

/// Propagates a stop (pending request or error) from a child poll.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Poll::Stop => return Poll::Stop,
            Poll::Ready(v) => v,
        }
    };
}

mod blocks;
mod compact;
#[cfg(feature = "walk")]
mod inspect;
mod mount;
mod ops;
mod poll;
mod state;
#[cfg(feature = "lazy")]
mod warm;

use self::blocks::*;
use self::compact::*;
#[cfg(feature = "walk")]
use self::inspect::*;
use self::mount::*;
use self::ops::*;
use self::poll::*;
use self::state::*;
#[cfg(feature = "lazy")]
use self::warm::*;

/// The operation in progress, with its machine.
#[derive(Clone, Copy)]
enum Running {
    Idle,
    Format(Format),
    Mount(Mount),
    #[cfg(feature = "lazy")]
    Warm(Warm),
    Get(Get),
    Put(Put),
    Gc(Gc),
    #[cfg(feature = "walk")]
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
        let g = crate::format::Layout::new(&geometry)?;
        Ok(TicKV {
            c: Core::fresh(g, Index::new(index)),
            run: Running::Idle,
        })
    }

    /// Like [`TicKV::new`], with RAM for per-region key filters (feature
    /// `filter`): `filter.len() / region_count` bytes per region (the
    /// remainder unused; fewer bytes than regions turns the filters off).
    /// A get of a key the index does not hold, and a miss, then scan only
    /// the regions whose filter may hold the key, newest first; so do
    /// compaction's liveness checks and secure delete. With `b` bytes per
    /// region holding `n` record headers, a region's filter answers "may
    /// hold" for an absent key with a chance of about
    /// `(1 - e^(-5n / 8b))^5`: 2.2 % at 8 bits per record, 0.14 % at 16.
    /// The filters live in RAM only and are rebuilt by every mount.
    #[cfg(feature = "filter")]
    pub fn with_filter(
        geometry: Geometry,
        index: &'x mut [IndexEntry],
        filter: &'x mut [u8],
    ) -> Result<TicKV<'x>, Error> {
        let mut kv = TicKV::new(geometry, index)?;
        kv.c.fl = crate::filter::Filter::new(filter, kv.c.g.count);
        Ok(kv)
    }

    /// Bytes of key filter per region (0 without filters).
    #[cfg(feature = "filter")]
    pub fn filter_per_region(&self) -> usize {
        self.c.fl.per_region()
    }

    /// Forgets everything held in RAM, as a reboot would: the engine is
    /// unmounted and idle, with its geometry, index and filter storage kept.
    pub fn forget(&mut self) {
        let ix = core::mem::replace(&mut self.c.ix, Index::new(&mut []));
        #[cfg(feature = "filter")]
        let fl = core::mem::take(&mut self.c.fl);
        self.c = Core::fresh(self.c.g, ix);
        #[cfg(feature = "filter")]
        {
            self.c.fl = fl;
        }
        self.run = Running::Idle;
    }

    /// Gives the index storage back (for example to build a fresh engine
    /// after a simulated reboot).
    pub fn into_index(self) -> &'x mut [IndexEntry] {
        self.c.ix.into_slots()
    }

    /// Gives the index and the filter storage back.
    #[cfg(feature = "filter")]
    pub fn into_buffers(self) -> (&'x mut [IndexEntry], &'x mut [u8]) {
        (self.c.ix.into_slots(), self.c.fl.into_bits())
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

    /// Whether the index is still being built after a lazy mount (feature
    /// `lazy`: `Op::MountLazy`); run `Op::Warm` steps while nothing else is
    /// to be done. Always `false` without the feature.
    pub fn warming(&self) -> bool {
        self.c.warming()
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
            live_bytes: c.indexed_all().then_some(c.live_bytes as usize),
            record_bytes: c.rec_bytes as usize,
            reclaimable: dead,
            free_bytes: (c.g.region - c.head_off) as usize
                + free_regions.saturating_sub(1) * usable,
            reserve_bytes: free_regions.min(1) * usable,
            keys: c.indexed_all().then_some(c.ix.len()),
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
        let needs_mount = match op {
            Op::Format | Op::Mount => false,
            #[cfg(feature = "lazy")]
            Op::MountLazy => false,
            _ => true,
        };
        if needs_mount && !c.mounted {
            return Step::Done(Err(Error::NotMounted));
        }
        if !needs_mount {
            c.tail_gain = None;
        }
        let max_value = c.g.max_value as usize;
        // Each operation's state is built where it lives, in `self.run`:
        // built aside and moved in, the largest (a write's) cost a copy of
        // some 260 bytes on every request.
        let (mode, kind, secure) = match op {
            Op::Set(_) => (Mode::Any, Kind::Value, false),
            Op::Add(_) => (Mode::Absent, Kind::Value, false),
            Op::Update(_) => (Mode::Present, Kind::Value, false),
            Op::Delete(_) => (Mode::Present, Kind::Tombstone, false),
            Op::SecureDelete(_) => (Mode::Present, Kind::Tombstone, true),
            _ => {
                let run = &mut self.run;
                match op {
                    Op::Format => {
                        c.mounted = false;
                        *run = Running::Format(Format {
                            survey: true,
                            i: 0,
                            start: 0,
                            least: u32::MAX,
                            init: None,
                            wait: false,
                        });
                    }
                    Op::Mount => start_mount(c, run, false),
                    #[cfg(feature = "lazy")]
                    Op::MountLazy => start_mount(c, run, true),
                    #[cfg(feature = "lazy")]
                    Op::Warm(records) => *run = Running::Warm(Warm::new(c, records)),
                    Op::Get(key) => match io.value {
                        ValueBuf::Out(_) => {
                            *run = Running::Get(Get {
                                key,
                                st: GetState::Lookup,
                                wait: false,
                            })
                        }
                        _ => return Step::Done(Err(Error::Invalid)),
                    },
                    Op::GcStep | Op::GcFull => {
                        *run = Running::Gc(Gc {
                            left: if op == Op::GcFull { c.used + 1 } else { 1 },
                            freed: 0,
                            step: None,
                            // Compaction needs the whole index.
                            #[cfg(feature = "lazy")]
                            warm: None,
                        })
                    }
                    #[cfg(feature = "walk")]
                    Op::NextKey(after) => {
                        *run = Running::Next(Next {
                            after,
                            st: NextState::Start,
                            wait: false,
                        })
                    }
                    #[cfg(feature = "inspect")]
                    Op::RegionInfo(r) if r < c.g.count as usize => {
                        *run = Running::Region(Region {
                            region: r as u32,
                            wait: false,
                        })
                    }
                    #[cfg(feature = "inspect")]
                    Op::RegionInfo(_) => return Step::Done(Err(Error::Invalid)),
                    #[cfg(feature = "inspect")]
                    Op::NextRecord(at) => *run = Running::Walk(Walk::new(c, at)),
                    // The writes were matched above; never reached.
                    Op::Set(_)
                    | Op::Add(_)
                    | Op::Update(_)
                    | Op::Delete(_)
                    | Op::SecureDelete(_) => return Step::Done(Err(Error::Protocol)),
                }
                return self.drive(io, None);
            }
        };
        let value: &[u8] = match (&io.value, kind) {
            (ValueBuf::In(v), Kind::Value) => v,
            (_, Kind::Tombstone) => &[],
            _ => return Step::Done(Err(Error::Invalid)),
        };
        if value.len() > max_value {
            return Step::Done(Err(Error::TooLarge));
        }
        self.run = Running::Put(Put::new(key_of(op), mode, kind, secure, value));
        self.drive(io, None)
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
        let mut ev = Channel {
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
            #[cfg(feature = "lazy")]
            Running::Warm(m) => m.poll(c, io, &mut ev).map(|()| Output::Done),
            Running::Get(m) => m.poll(c, io, &mut ev),
            Running::Put(m) => m.poll(c, io, &mut ev),
            Running::Gc(m) => m.poll(c, io, &mut ev),
            #[cfg(feature = "walk")]
            Running::Next(m) => m.poll(c, io, &mut ev),
            #[cfg(feature = "inspect")]
            Running::Region(m) => m.poll(c, io, &mut ev),
            #[cfg(feature = "inspect")]
            Running::Walk(m) => m.poll(c, io, &mut ev),
        };
        let done = match p {
            Poll::Stop => {
                if let Some(e) = ev.err {
                    self.run = Running::Idle;
                    return Step::Done(Err(e));
                }
                return ev.req;
            }
            Poll::Ready(out) => Ok(out),
        };
        self.run = Running::Idle;
        Step::Done(done)
    }
}

/// Starts a mount (`lazy`: indexing the head only).
fn start_mount(c: &mut Core, run: &mut Running, lazy: bool) {
    c.mounted = false;
    c.max_erase = 0;
    c.recent.loc = 0;
    *run = Running::Mount(Mount::new(lazy));
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
