//! sequential-storage 8.0.2's map with every array cache for 64 pages and
//! 1000 keys, and a 40-byte data buffer (8-byte key + 32-byte value).
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use embedded_storage_async::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashErrorKind, ReadNorFlash,
};
use kv_bench_rom::*;
use sequential_storage::cache::key_pointers::ArrayKeyPointers;
use sequential_storage::cache::page_pointers::ArrayPagePointers;
use sequential_storage::cache::page_states::ArrayPageStates;
use sequential_storage::cache::Cache;
use sequential_storage::map::{MapConfig, MapStorage};

struct Nvmc;

impl ErrorType for Nvmc {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for Nvmc {
    const READ_SIZE: usize = 1;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        flash_read(offset as usize, bytes);
        Ok(())
    }
    fn capacity(&self) -> usize {
        REGION * REGIONS
    }
}

impl NorFlash for Nvmc {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = REGION;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        for r in from as usize / REGION..to as usize / REGION {
            flash_erase(r);
        }
        Ok(())
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        flash_program(offset as usize, bytes);
        Ok(())
    }
}

impl MultiwriteNorFlash for Nvmc {}

type Key = [u8; 8];
type Caches =
    Cache<ArrayPageStates<REGIONS>, ArrayPagePointers<REGIONS>, ArrayKeyPointers<Key, 1000>, Key>;

static mut BUF: [u8; 40] = [0; 40];
static mut STORE: MaybeUninit<MapStorage<Key, Nvmc, Caches>> = MaybeUninit::uninit();

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let caches = Cache::new(
        ArrayPageStates::new(),
        ArrayPagePointers::new(),
        ArrayKeyPointers::new(),
    );
    // SAFETY: single-threaded start-up; each static is borrowed once.
    let (s, buf) = unsafe {
        (
            (*addr_of_mut!(STORE)).write(MapStorage::new(
                Nvmc,
                const { MapConfig::new(0..(REGION * REGIONS) as u32) },
                caches,
            )),
            &mut *addr_of_mut!(BUF),
        )
    };
    let v = value();
    keep(block_on(s.store_item(buf, &key(1).to_le_bytes(), &&v[..])));
    let mut out = [0u8; 32];
    if let Ok(Some(got)) = block_on(s.fetch_item::<&[u8]>(buf, &key(2).to_le_bytes())) {
        out.copy_from_slice(&got[..32.min(got.len())]);
    }
    keep(block_on(s.remove_item(buf, &key(3).to_le_bytes())));
    keep(out);
    loop {}
}
