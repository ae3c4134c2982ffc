//! Running the engine against flash that answers immediately: host tools,
//! tests, benchmarks, and kernels whose flash driver is synchronous.

#[cfg(feature = "inspect")]
use crate::RegionInfo;
use crate::{Error, FlashFault, Geometry, Io, Op, Output, Stats, Step, TicKV, ValueBuf};

/// Flash that completes every request before returning.
pub trait Flash {
    /// Reads `buf.len()` bytes at store offset `addr`.
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault>;
    /// Programs `data` at store offset `addr` (aligned to the program unit).
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault>;
    /// Erases region `region`.
    fn erase(&mut self, region: usize) -> Result<(), FlashFault>;
}

impl ValueBuf<'_> {
    /// The same buffer, borrowed for one call.
    pub fn reborrow(&mut self) -> ValueBuf<'_> {
        match self {
            ValueBuf::None => ValueBuf::None,
            ValueBuf::In(v) => ValueBuf::In(v),
            ValueBuf::Out(v) => ValueBuf::Out(v),
        }
    }
}

/// Runs one operation to completion, performing each request on `flash`.
pub fn run<F: Flash + ?Sized>(
    kv: &mut TicKV,
    flash: &mut F,
    scratch: &mut [u8],
    op: Op,
    value: ValueBuf,
) -> Result<Output, Error> {
    run_bounded(kv, flash, scratch, op, value, u64::MAX).unwrap_or(Err(Error::Protocol))
}

/// Like [`run`], but gives up after `max_requests` flash requests and
/// returns `None`, leaving the operation unfinished (call
/// [`TicKV::forget`] before using the engine again). Tests and fuzzers use
/// it to turn a hang into a failure.
pub fn run_bounded<F: Flash + ?Sized>(
    kv: &mut TicKV,
    flash: &mut F,
    scratch: &mut [u8],
    op: Op,
    mut value: ValueBuf,
    max_requests: u64,
) -> Option<Result<Output, Error>> {
    let mut step = kv.begin(
        op,
        Io {
            scratch,
            value: value.reborrow(),
        },
    );
    let mut requests = 0u64;
    loop {
        let result = match step {
            Step::Done(r) => return Some(r),
            _ if requests == max_requests => return None,
            // The engine never asks for more than the scratch buffer; if it
            // did, the request fails instead of panicking.
            Step::Read { addr, len } => match scratch.get_mut(..len) {
                Some(buf) => flash.read(addr, buf),
                None => Err(FlashFault),
            },
            Step::Program { addr, len } => match scratch.get(..len) {
                Some(data) => flash.program(addr, data),
                None => Err(FlashFault),
            },
            Step::Erase { region } => flash.erase(region),
        };
        requests += 1;
        step = kv.resume(
            Io {
                scratch,
                value: value.reborrow(),
            },
            result,
        );
    }
}

/// An engine bundled with its flash and scratch buffer, with one method per
/// operation.
pub struct Store<'x, 's, F> {
    /// The engine.
    pub kv: TicKV<'x>,
    /// The flash it runs on.
    pub flash: F,
    scratch: &'s mut [u8],
}

impl<'x, 's, F: Flash> Store<'x, 's, F> {
    /// Bundles an engine, a flash and a scratch buffer (64 bytes or more).
    pub fn new(kv: TicKV<'x>, flash: F, scratch: &'s mut [u8]) -> Self {
        Store { kv, flash, scratch }
    }

    /// Takes the bundle apart again.
    pub fn into_parts(self) -> (TicKV<'x>, F, &'s mut [u8]) {
        (self.kv, self.flash, self.scratch)
    }

    /// Simulates a reboot: everything the engine holds in RAM is
    /// forgotten; mount again to continue.
    pub fn reboot(&mut self) {
        self.kv.forget();
    }

    /// Runs any operation.
    pub fn run(&mut self, op: Op, value: ValueBuf) -> Result<Output, Error> {
        run(&mut self.kv, &mut self.flash, self.scratch, op, value)
    }

    fn done(&mut self, op: Op, value: ValueBuf) -> Result<(), Error> {
        self.run(op, value).map(|_| ())
    }

    /// Erases everything and starts an empty store.
    pub fn format(&mut self) -> Result<(), Error> {
        self.done(Op::Format, ValueBuf::None)
    }

    /// Mounts the store from flash.
    pub fn mount(&mut self) -> Result<(), Error> {
        self.done(Op::Mount, ValueBuf::None)
    }

    #[cfg(feature = "lazy")]
    /// Mounts the store indexing only its newest region ([`Op::MountLazy`]);
    /// [`warm`](Self::warm) builds the rest of the index.
    pub fn mount_lazy(&mut self) -> Result<(), Error> {
        self.done(Op::MountLazy, ValueBuf::None)
    }

    #[cfg(feature = "lazy")]
    /// Indexes up to `records` more records after a lazy mount; returns
    /// whether the index is still being built.
    pub fn warm(&mut self, records: u32) -> Result<bool, Error> {
        self.done(Op::Warm(records), ValueBuf::None)?;
        Ok(self.kv.warming())
    }

    /// Copies the value into `out` and returns its full length (which may
    /// exceed `out.len()`; then only a prefix was copied).
    pub fn get(&mut self, key: u64, out: &mut [u8]) -> Result<usize, Error> {
        match self.run(Op::Get(key), ValueBuf::Out(out))? {
            Output::Value { len } => Ok(len),
            _ => Err(Error::Protocol),
        }
    }

    /// Inserts or overwrites.
    pub fn set(&mut self, key: u64, value: &[u8]) -> Result<(), Error> {
        self.done(Op::Set(key), ValueBuf::In(value))
    }

    /// Inserts only if absent.
    pub fn add(&mut self, key: u64, value: &[u8]) -> Result<(), Error> {
        self.done(Op::Add(key), ValueBuf::In(value))
    }

    /// Overwrites only if present.
    pub fn update(&mut self, key: u64, value: &[u8]) -> Result<(), Error> {
        self.done(Op::Update(key), ValueBuf::In(value))
    }

    /// Deletes.
    pub fn delete(&mut self, key: u64) -> Result<(), Error> {
        self.done(Op::Delete(key), ValueBuf::None)
    }

    /// Deletes and erases every old copy of the value.
    pub fn secure_delete(&mut self, key: u64) -> Result<(), Error> {
        self.done(Op::SecureDelete(key), ValueBuf::None)
    }

    fn freed(&mut self, op: Op) -> Result<usize, Error> {
        match self.run(op, ValueBuf::None)? {
            Output::Freed(n) => Ok(n),
            _ => Err(Error::Protocol),
        }
    }

    /// One compaction step; returns the bytes reclaimed.
    pub fn gc_step(&mut self) -> Result<usize, Error> {
        self.freed(Op::GcStep)
    }

    /// Compacts until nothing is reclaimable or the oldest region holds
    /// nothing to reclaim (see `Op::GcFull`); returns the bytes reclaimed.
    pub fn gc_full(&mut self) -> Result<usize, Error> {
        self.freed(Op::GcFull)
    }

    #[cfg(feature = "walk")]
    /// The next live key after `after` in key order, with its value length.
    pub fn next_key(&mut self, after: Option<u64>) -> Result<Option<(u64, usize)>, Error> {
        match self.run(Op::NextKey(after), ValueBuf::None)? {
            Output::Key { key, len } => Ok(Some((key, len))),
            Output::NoMoreKeys => Ok(None),
            _ => Err(Error::Protocol),
        }
    }

    #[cfg(feature = "walk")]
    /// Calls `f` for every live key in increasing order.
    pub fn for_each_key(&mut self, mut f: impl FnMut(u64, usize)) -> Result<(), Error> {
        let mut after = None;
        while let Some((k, len)) = self.next_key(after)? {
            f(k, len);
            after = Some(k);
        }
        Ok(())
    }

    #[cfg(feature = "inspect")]
    /// The next record of the log after `at` (valid or damaged), with the
    /// cursor to continue from, or `None` at the end.
    pub fn next_record(
        &mut self,
        at: Option<crate::RecordCursor>,
    ) -> Result<Option<(crate::RecordInfo, crate::RecordCursor)>, Error> {
        match self.run(Op::NextRecord(at), ValueBuf::None)? {
            Output::Record(info, cursor) => Ok(Some((info, cursor))),
            Output::EndOfRecords => Ok(None),
            _ => Err(Error::Protocol),
        }
    }

    #[cfg(feature = "inspect")]
    /// Reads one region's header and role.
    pub fn region_info(&mut self, region: usize) -> Result<RegionInfo, Error> {
        match self.run(Op::RegionInfo(region), ValueBuf::None)? {
            Output::Region(r) => Ok(r),
            _ => Err(Error::Protocol),
        }
    }

    /// Counters kept in RAM.
    pub fn stats(&self) -> Stats {
        self.kv.stats()
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.kv.geometry()
    }
}
