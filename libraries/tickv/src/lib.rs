//! # TicKV v2
//!
//! A key-value store for NOR flash that survives a power cut at every flash
//! operation, writes each flash word at most once between erases, compacts
//! garbage incrementally (at most one erase per write) and levels wear.
//!
//! Keys are 64-bit hashes (the caller hashes its own keys); values are byte
//! strings of up to [`TicKV::max_value_len`] bytes (at least 2048 on regions
//! of 4 KiB and more).
//!
//! ## Sans-IO
//!
//! The engine never touches flash. [`TicKV::begin`] starts an operation and
//! returns a [`Step`]: either a flash request (read into, or program from, the
//! caller's scratch buffer; erase a region) or the operation's result. The
//! caller performs the request and hands its outcome to [`TicKV::resume`],
//! which returns the next step. The same code therefore runs synchronously
//! on a host ([`blocking`]) and split-phase inside a kernel, resumed from
//! flash-completion callbacks.
//!
//! ## Memory
//!
//! The engine itself is a few hundred bytes. The caller provides a scratch
//! buffer (at least 64 bytes; larger means fewer, bigger flash operations)
//! and, optionally, index storage of 12 bytes per key ([`IndexEntry`]) that
//! makes a get read exactly one record and existence checks read nothing.
//!
//! With more keys than index entries, a key the index does not hold is
//! looked up by scanning regions from the newest. Without key filters a miss
//! then reads every record header of the log. With the `filter` feature and
//! `TicKV::with_filter`, the caller gives a few bytes of RAM per region
//! (8 to 16 bits per record header a region holds) for a Bloom filter of
//! each region's keys: a get then reads about one region's record headers
//! and its record, and a miss a fraction of the log equal to the filters'
//! false-positive rate (0.5 % at 12 bits per header). The filters live in
//! RAM only (mount rebuilds them), so the flash format is the same.
//!
//! The on-flash format and the exact guarantees are documented in
//! `doc/tickv-format.md`.
//!
//! ## Features
//!
//! `inspect` (on by default): the inspection operations [`Op::NextKey`],
//! [`Op::RegionInfo`] and [`Op::NextRecord`], their outputs and the
//! matching [`blocking::Store`] methods. Firmware that never iterates over
//! keys or inspects the log can build with `default-features = false` to
//! save ROM.
//!
//! `filter` (off by default): per-region key filters, `TicKV::with_filter`
//! (about 480 bytes of ROM on Cortex-M4).

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blocking;
pub mod crc;
mod engine;
#[cfg(feature = "filter")]
mod filter;
mod format;
mod index;
pub mod v1;

pub use engine::TicKV;
pub use format::{Geometry, HeaderState, Kind, RegionHeader, MIN_SCRATCH, REC_HDR, VERSION};
pub use index::IndexEntry;

/// Which kind of flash operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashOp {
    /// A read request.
    Read,
    /// A program request.
    Program,
    /// An erase request.
    Erase,
}

/// What a flash driver reports when a request fails. The engine turns it
/// into [`Error::Flash`] naming the failed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlashFault;

/// Everything that can go wrong. No variant leaves the engine busy: after any
/// error the next operation can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Another operation is in progress.
    Busy,
    /// The store must be mounted (or formatted) first.
    NotMounted,
    /// No version-2 region header was found: the flash is blank or foreign.
    NotFormatted,
    /// The flash holds an upstream TicKV version-1 store; nothing was changed.
    V1Store,
    /// The store was formatted for another program unit or region size.
    GeometryMismatch,
    /// The geometry given to [`TicKV::new`] is not supported.
    InvalidGeometry,
    /// The scratch buffer is shorter than [`MIN_SCRATCH`].
    ScratchTooSmall,
    /// An argument is out of range, or the value buffer does not fit the
    /// operation (missing, or an input where an output is needed).
    Invalid,
    /// The value is longer than [`TicKV::max_value_len`].
    TooLarge,
    /// The key has no value.
    NotFound,
    /// `add` of a key that already has a value.
    AlreadyExists,
    /// The record does not fit even after one compaction step. A full
    /// garbage collection may make room; see `Stats::reclaimable`.
    NoSpace,
    /// The record that holds the key's value fails its checksum.
    Corrupt,
    /// A flash request failed; the store is consistent and usable.
    Flash(FlashOp),
    /// `resume` was called with no request outstanding.
    Protocol,
}

/// The next thing the caller must do for the running operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read `len` bytes at store offset `addr` into `scratch[..len]`.
    Read {
        /// Byte offset from the start of the store.
        addr: usize,
        /// Number of bytes.
        len: usize,
    },
    /// Program `scratch[..len]` at store offset `addr` (both aligned to the
    /// program unit).
    Program {
        /// Byte offset from the start of the store.
        addr: usize,
        /// Number of bytes.
        len: usize,
    },
    /// Erase region `region` (every byte becomes 0xFF).
    Erase {
        /// Region index.
        region: usize,
    },
    /// The operation finished.
    Done(Result<Output, Error>),
}

/// An operation on the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Erase every region and write fresh region headers (keeping erase
    /// counts). Not power-safe: an interrupted format must be repeated.
    Format,
    /// Build the in-RAM state from flash alone, finishing or rolling back an
    /// interrupted compaction.
    Mount,
    /// Like [`Op::Mount`], but index only the newest region: the cost then
    /// grows with the number of regions, not with what they hold. The
    /// store works at once; the index is built afterwards by [`Op::Warm`]
    /// steps (or at once by an operation that compacts). Until then a
    /// lookup the index cannot answer scans the part not yet indexed.
    #[cfg(feature = "lazy")]
    MountLazy,
    /// Index up to this many more records after [`Op::MountLazy`] (see
    /// [`TicKV::warming`](crate::TicKV::warming)); nothing once the index is
    /// built.
    #[cfg(feature = "lazy")]
    Warm(u32),
    /// Read a key's value into the output buffer.
    Get(u64),
    /// Insert or overwrite; the value is the input buffer.
    Set(u64),
    /// Insert only if the key has no value.
    Add(u64),
    /// Overwrite only if the key has a value.
    Update(u64),
    /// Remove a key's value.
    Delete(u64),
    /// Remove a key's value and compact until no byte of any of its old
    /// records remains in flash (may erase many regions).
    SecureDelete(u64),
    /// One bounded compaction step (at most one erase), unless the oldest
    /// region holds nothing to reclaim (then nothing is erased).
    GcStep,
    /// Compact until no garbage remains or the oldest region holds nothing
    /// to reclaim (at most one step per region in use, plus one).
    GcFull,
    #[cfg(feature = "walk")]
    /// The smallest live key greater than the given one (or the smallest).
    NextKey(Option<u64>),
    #[cfg(feature = "inspect")]
    /// Read one region's header.
    RegionInfo(usize),
    #[cfg(feature = "inspect")]
    /// The next record in log order (oldest region first), valid or not,
    /// starting after the cursor (or at the oldest record). For tools that
    /// inspect and check stores.
    NextRecord(Option<RecordCursor>),
}

/// What a successful operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Nothing to report.
    Done,
    /// The value's full length (the first `min(len, buffer)` bytes were copied).
    Value {
        /// Full value length in bytes.
        len: usize,
    },
    /// Bytes of garbage reclaimed by garbage collection.
    Freed(usize),
    #[cfg(feature = "walk")]
    /// The next live key and its value length.
    Key {
        /// The key.
        key: u64,
        /// Its value length.
        len: usize,
    },
    #[cfg(feature = "walk")]
    /// Iteration finished.
    NoMoreKeys,
    #[cfg(feature = "inspect")]
    /// A region's header and role.
    Region(RegionInfo),
    #[cfg(feature = "inspect")]
    /// One record and the cursor to continue the walk after it.
    Record(RecordInfo, RecordCursor),
    #[cfg(feature = "inspect")]
    /// The record walk reached the end of the log.
    EndOfRecords,
}

#[cfg(feature = "inspect")]
/// Where a record walk ([`Op::NextRecord`]) continues. Valid until the next
/// write or compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCursor {
    pub(crate) step: u32,
    pub(crate) off: u32,
    pub(crate) resync: bool,
}

#[cfg(feature = "inspect")]
/// One record (or one stretch of unparseable bytes) found by a record walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordInfo {
    /// Region index.
    pub region: usize,
    /// Offset in the region.
    pub offset: usize,
    /// Bytes it occupies (for an unparseable header: the bytes skipped).
    pub extent: usize,
    /// The decoded header, or `None` when the header is damaged or torn.
    pub header: Option<RecordHeader>,
    /// Whether the CRC over header and value matches.
    pub crc_ok: bool,
    /// Whether this record holds its key's current value: known when the
    /// index holds every key (`None` otherwise).
    pub live: Option<bool>,
}

#[cfg(feature = "inspect")]
/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Value or tombstone.
    pub kind: Kind,
    /// The key.
    pub key: u64,
    /// Value length in bytes.
    pub len: usize,
}

#[cfg(feature = "inspect")]
/// One region, as [`Op::RegionInfo`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// What the region's header says.
    pub header: HeaderState,
    /// The region's role in the store.
    pub role: Role,
}

#[cfg(feature = "inspect")]
/// A region's role in the ring of regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The region new records are appended to.
    Head,
    /// Holds records, closed for appends.
    Used,
    /// Erased, waiting to be used (one is always kept in reserve).
    Free,
}

/// The value buffer handed to every `begin`/`resume` call of an operation.
#[derive(Debug)]
pub enum ValueBuf<'a> {
    /// The operation needs no value.
    None,
    /// The value to write (set, add, update). Its length is the value length.
    In(&'a [u8]),
    /// Where a get copies the value.
    Out(&'a mut [u8]),
}

/// The buffers an operation works with; pass the same ones on every call.
#[derive(Debug)]
pub struct Io<'a> {
    /// Flash reads land here and programs come from here.
    pub scratch: &'a mut [u8],
    /// The operation's value.
    pub value: ValueBuf<'a>,
}

/// Counters kept in RAM, available at any time without flash access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Number of regions.
    pub regions: usize,
    /// Regions holding records (including the head).
    pub used_regions: usize,
    /// Bytes of live records (headers included), when known (the index holds
    /// every key).
    pub live_bytes: Option<usize>,
    /// Bytes of all records in used regions, live or not.
    pub record_bytes: usize,
    /// Bytes a full garbage collection would reclaim, when known.
    pub reclaimable: Option<usize>,
    /// Bytes writable without garbage collection (the reserve excluded).
    pub free_bytes: usize,
    /// Bytes held back so that compaction can always make progress.
    pub reserve_bytes: usize,
    /// Number of live keys, when known.
    pub keys: Option<usize>,
    /// Index entries in use and available.
    pub index_used: usize,
    /// Index capacity.
    pub index_capacity: usize,
    /// Records that failed their checksum or could not be parsed, counted by
    /// mount (includes records torn by a power cut).
    pub corrupt_records: usize,
    /// Compaction steps that failed after the write that ran them had
    /// already succeeded (the write stands; the store stays consistent).
    pub deferred_errors: usize,
    /// Largest accepted value length.
    pub max_value_len: usize,
}
