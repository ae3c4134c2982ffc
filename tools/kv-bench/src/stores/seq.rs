//! `sequential-storage` 8.0.2's map, over an `embedded-storage-async`
//! adapter of the metered flash, driven by `pollster::block_on`.

use std::ops::Range;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use flashsim::SimError;
use pollster::block_on;
use sequential_storage::cache::key_pointers::ArrayKeyPointers;
use sequential_storage::cache::page_pointers::ArrayPagePointers;
use sequential_storage::cache::page_states::ArrayPageStates;
use sequential_storage::cache::{Cache, CacheImpl};
use sequential_storage::map::{MapConfig, MapStorage};

use super::FUTURE;
use crate::device::Shared;

type Key = [u8; 8];

/// A flash error as `embedded-storage` sees it.
#[derive(Debug)]
pub struct SsError(pub SimError);

impl NorFlashError for SsError {
    fn kind(&self) -> NorFlashErrorKind {
        match self.0 {
            SimError::OutOfRange => NorFlashErrorKind::OutOfBounds,
            SimError::Misaligned => NorFlashErrorKind::NotAligned,
            _ => NorFlashErrorKind::Other,
        }
    }
}

/// The metered flash as an async NOR flash: byte reads, 4-byte writes,
/// 4 KiB erases. It is declared multi-write so that the map's
/// `remove_item` (which zeroes an item's CRC in place) can be used; the
/// simulator counts those second programs in `word_rewrites`.
pub struct SsFlash(Shared);

impl ErrorType for SsFlash {
    type Error = SsError;
}

impl ReadNorFlash for SsFlash {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), SsError> {
        self.0
            .borrow_mut()
            .read(offset as usize, bytes)
            .map_err(SsError)
    }
    fn capacity(&self) -> usize {
        let m = self.0.borrow();
        m.region_size() * m.regions()
    }
}

impl NorFlash for SsFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), SsError> {
        let mut m = self.0.borrow_mut();
        for r in from as usize / 4096..to as usize / 4096 {
            m.erase(r).map_err(SsError)?;
        }
        Ok(())
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), SsError> {
        self.0
            .borrow_mut()
            .program(offset as usize, bytes)
            .map_err(SsError)
    }
}

impl MultiwriteNorFlash for SsFlash {}

/// Key slots of the key-pointer cache for a workload of `keys` keys.
pub const fn key_slots(keys: usize) -> usize {
    match keys {
        0..=100 => 100,
        // Half the keys of the beyond-the-index workload.
        500 => 500,
        101..=1000 => 1000,
        1001..=5000 => 5000,
        _ => 8192,
    }
}

/// The (page count, key slots) pairs the cached variant is built for.
macro_rules! instances {
    ($m:ident) => {
        $m!(
            (16, 100),
            (16, 1000),
            (16, 5000),
            (64, 100),
            (64, 500),
            (64, 1000),
            (64, 8192),
            (256, 5000)
        )
    };
}

type Cached<const P: usize, const K: usize> =
    Cache<ArrayPageStates<P>, ArrayPagePointers<P>, ArrayKeyPointers<Key, K>, Key>;

/// Bytes of the all-caches object for `pages` pages and `keys` keys.
pub fn cache_ram(pages: usize, keys: usize) -> usize {
    macro_rules! size {
        ($(($p:literal, $k:literal)),*) => {{
            $( if pages == $p && key_slots(keys) == $k {
                return std::mem::size_of::<Cached<$p, $k>>();
            } )*
            panic!("no cache instance for {pages} pages and {keys} keys")
        }};
    }
    instances!(size)
}

/// The map with cache type `C`.
pub struct Seq<C: CacheImpl<Key>> {
    map: Option<MapStorage<Key, SsFlash, C>>,
    range: Range<u32>,
    fresh_cache: fn() -> C,
    buf: Vec<u8>,
    cache_bytes: usize,
    /// Largest future of one operation seen (it lives on the caller's stack).
    future: usize,
}

fn text<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

impl<C: CacheImpl<Key> + 'static> Seq<C> {
    fn new(flash: &Shared, fresh_cache: fn() -> C, cache_bytes: usize) -> Seq<C> {
        let size = {
            let m = flash.borrow();
            (m.region_size() * m.regions()) as u32
        };
        let range = 0..size;
        let config = MapConfig::try_new(range.clone()).expect("map config");
        Seq {
            map: Some(MapStorage::new(
                SsFlash(flash.clone()),
                config,
                fresh_cache(),
            )),
            range,
            fresh_cache,
            // Key plus the largest value any workload uses, word-rounded.
            buf: vec![0u8; 8 + 1024 + 8],
            cache_bytes,
            future: 0,
        }
    }

    fn map(&mut self) -> &mut MapStorage<Key, SsFlash, C> {
        self.map.as_mut().expect("map")
    }

    /// Rebuilds the map around the same flash with an empty cache.
    fn rebuild(&mut self) {
        let (flash, _) = self.map.take().expect("map").destroy();
        let config = MapConfig::try_new(self.range.clone()).expect("map config");
        self.map = Some(MapStorage::new(flash, config, (self.fresh_cache)()));
    }
}

impl<C: CacheImpl<Key> + 'static> super::Kv for Seq<C> {
    fn format(&mut self) -> Result<(), String> {
        block_on(self.map().erase_all()).map_err(text)?;
        self.rebuild();
        Ok(())
    }
    fn remount(&mut self) -> Result<(), String> {
        // The map mounts lazily: nothing to read until the first operation.
        self.rebuild();
        Ok(())
    }
    fn set(&mut self, key: u64, value: &[u8]) -> Result<(), String> {
        let mut buf = std::mem::take(&mut self.buf);
        let k = key.to_le_bytes();
        let fut = self.map().store_item(&mut buf, &k, &value);
        let size = std::mem::size_of_val(&fut);
        let r = block_on(fut);
        self.future = self.future.max(size);
        self.buf = buf;
        r.map_err(text)
    }
    fn get(&mut self, key: u64, out: &mut [u8]) -> Result<Option<usize>, String> {
        let mut buf = std::mem::take(&mut self.buf);
        let k = key.to_le_bytes();
        let fut = self.map().fetch_item::<&[u8]>(&mut buf, &k);
        let size = std::mem::size_of_val(&fut);
        let r = match block_on(fut) {
            Ok(Some(v)) => {
                let n = v.len().min(out.len());
                out[..n].copy_from_slice(&v[..n]);
                Ok(Some(v.len()))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(text(e)),
        };
        self.future = self.future.max(size);
        self.buf = buf;
        r
    }
    fn delete(&mut self, key: u64) -> Result<(), String> {
        let mut buf = std::mem::take(&mut self.buf);
        let k = key.to_le_bytes();
        let fut = self.map().remove_item(&mut buf, &k);
        let size = std::mem::size_of_val(&fut);
        let r = block_on(fut);
        self.future = self.future.max(size);
        self.buf = buf;
        r.map_err(text)
    }
    fn ram(&self) -> Vec<(&'static str, usize)> {
        let total = std::mem::size_of::<MapStorage<Key, SsFlash, C>>();
        vec![
            ("MapStorage state", total - self.cache_bytes),
            ("caches", self.cache_bytes),
            ("data buffer (8 B key + 32 B value)", 40),
            (FUTURE, self.future),
        ]
    }
}

type UncachedT = Cache<
    sequential_storage::cache::Uncached,
    sequential_storage::cache::Uncached,
    sequential_storage::cache::Uncached,
    Key,
>;

/// The map without caches.
pub fn uncached(flash: &Shared) -> Box<dyn super::Kv> {
    Box::new(Seq::<UncachedT>::new(flash, Cache::new_uncached, 0))
}

fn cached_with<const P: usize, const K: usize>(flash: &Shared) -> Box<dyn super::Kv> {
    fn fresh<const P: usize, const K: usize>() -> Cached<P, K> {
        Cache::new(
            ArrayPageStates::new(),
            ArrayPagePointers::new(),
            ArrayKeyPointers::new(),
        )
    }
    Box::new(Seq::<Cached<P, K>>::new(
        flash,
        fresh::<P, K>,
        std::mem::size_of::<Cached<P, K>>(),
    ))
}

/// The map with every array cache: page states, page pointers, and key
/// pointers for the workload's keys.
pub fn cached(flash: &Shared, keys: usize) -> Box<dyn super::Kv> {
    let pages = flash.borrow().regions();
    macro_rules! pick {
        ($(($p:literal, $k:literal)),*) => {{
            $( if pages == $p && key_slots(keys) == $k {
                return cached_with::<$p, $k>(flash);
            } )*
            panic!("no cache instance for {pages} pages and {keys} keys")
        }};
    }
    instances!(pick)
}
