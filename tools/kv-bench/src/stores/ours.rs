//! Our engine (TicKV v2) through `tickv::blocking::Store`.

use tickv::blocking::{Flash, Store};
use tickv::{Error, FlashFault, Geometry, IndexEntry, TicKV};

use crate::device::Shared;

/// Scratch buffer handed to the engine (its minimum; one 32-byte value and
/// its 16-byte header fit in one read).
pub const SCRATCH: usize = 64;

/// Key filter bytes per region of the variant with filters: 12 bits per
/// record slot of a 4 KiB region of 32-byte values (85 records).
pub const FILTER_PER_REGION: usize = 128;

/// The metered flash seen through the engine's blocking-flash trait.
pub struct OurFlash(Shared);

impl Flash for OurFlash {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        self.0.borrow_mut().read(addr, buf).map_err(|_| FlashFault)
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        self.0
            .borrow_mut()
            .program(addr, data)
            .map_err(|_| FlashFault)
    }
    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        self.0.borrow_mut().erase(region).map_err(|_| FlashFault)
    }
}

/// The engine with an index of `index_len` entries (0: none).
pub struct Ours {
    store: Store<'static, 'static, OurFlash>,
    index_len: usize,
    filter_len: usize,
}

/// A write that runs out of space fails without erasing anything (the
/// engine runs at most one compaction step in a write, and only if the
/// record then fits): then, while anything may be reclaimable, the caller
/// collects one step and tries again, at most once per region.
fn with_gc(
    store: &mut Store<'static, 'static, OurFlash>,
    op: impl Fn(&mut Store<'static, 'static, OurFlash>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut tries = store.stats().regions;
    loop {
        match op(store) {
            Err(Error::NoSpace) if tries > 0 && store.stats().reclaimable != Some(0) => {
                tries -= 1;
                store.gc_step()?;
            }
            r => return r,
        }
    }
}

fn text(e: Error) -> String {
    format!("{e:?}")
}

impl Ours {
    /// A store on `flash`; the index and scratch buffers live as long as the
    /// program (the benchmark builds a bounded number of stores).
    pub fn new(flash: &Shared, index_len: usize) -> Ours {
        Ours::with_filter(flash, index_len, 0)
    }

    /// The same with `per_region` bytes of key filter per region.
    pub fn with_filter(flash: &Shared, index_len: usize, per_region: usize) -> Ours {
        let (region_size, region_count, program_unit) = {
            let m = flash.borrow();
            (m.region_size(), m.regions(), m.unit())
        };
        let g = Geometry {
            region_size,
            region_count,
            program_unit,
        };
        let index: &'static mut [IndexEntry] =
            Box::leak(vec![IndexEntry::default(); index_len].into_boxed_slice());
        let scratch: &'static mut [u8] = Box::leak(vec![0u8; SCRATCH].into_boxed_slice());
        let filter_len = per_region * region_count;
        let filter: &'static mut [u8] = Box::leak(vec![0u8; filter_len].into_boxed_slice());
        let kv = TicKV::with_filter(g, index, filter).expect("geometry");
        Ours {
            store: Store::new(kv, OurFlash(flash.clone()), scratch),
            index_len,
            filter_len,
        }
    }
}

impl super::Kv for Ours {
    fn format(&mut self) -> Result<(), String> {
        self.store.format().map_err(text)
    }
    fn remount(&mut self) -> Result<(), String> {
        self.store.reboot();
        self.store.mount().map_err(text)
    }
    fn set(&mut self, key: u64, value: &[u8]) -> Result<(), String> {
        with_gc(&mut self.store, |s| s.set(key, value)).map_err(text)
    }
    fn get(&mut self, key: u64, out: &mut [u8]) -> Result<Option<usize>, String> {
        match self.store.get(key, out) {
            Ok(n) => Ok(Some(n)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(text(e)),
        }
    }
    fn delete(&mut self, key: u64) -> Result<(), String> {
        match with_gc(&mut self.store, |s| s.delete(key)) {
            Ok(()) | Err(Error::NotFound) => Ok(()),
            Err(e) => Err(text(e)),
        }
    }
    fn ram(&self) -> Vec<(&'static str, usize)> {
        vec![
            // kv-bench builds the engine with its `filter` feature, which
            // adds the filter's slice and size to the state.
            (
                "engine state (with the `filter` feature)",
                std::mem::size_of::<TicKV>(),
            ),
            ("scratch", SCRATCH),
            ("index", self.index_len * std::mem::size_of::<IndexEntry>()),
            ("key filters", self.filter_len),
        ]
    }
}
