//! TicKV v2 with a 1000-entry index and a 64-byte scratch buffer; with the
//! probe's `filter` feature also 128 bytes of key filter per region.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use kv_bench_rom::*;
use tickv::blocking::{Flash, Store};
use tickv::{FlashFault, Geometry, IndexEntry, TicKV};

struct Nvmc;

impl Flash for Nvmc {
    fn read(&mut self, addr: usize, buf: &mut [u8]) -> Result<(), FlashFault> {
        flash_read(addr, buf);
        Ok(())
    }
    fn program(&mut self, addr: usize, data: &[u8]) -> Result<(), FlashFault> {
        flash_program(addr, data);
        Ok(())
    }
    fn erase(&mut self, region: usize) -> Result<(), FlashFault> {
        flash_erase(region);
        Ok(())
    }
}

static mut INDEX: MaybeUninit<[IndexEntry; 1000]> = MaybeUninit::uninit();
static mut SCRATCH: [u8; 64] = [0; 64];
#[cfg(feature = "filter")]
static mut FILTER: [u8; 128 * REGIONS] = [0; 128 * REGIONS];
static mut STORE: MaybeUninit<Store<'static, 'static, Nvmc>> = MaybeUninit::uninit();

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let g = Geometry {
        region_size: REGION,
        region_count: REGIONS,
        program_unit: 4,
    };
    // SAFETY: single-threaded start-up; each static is borrowed once.
    let s = unsafe {
        let slots = addr_of_mut!(INDEX) as *mut IndexEntry;
        for i in 0..1000 {
            slots.add(i).write(IndexEntry::default());
        }
        let index = core::slice::from_raw_parts_mut(slots, 1000);
        #[cfg(not(feature = "filter"))]
        let kv = TicKV::new(g, index);
        #[cfg(feature = "filter")]
        let kv = TicKV::with_filter(g, index, &mut *addr_of_mut!(FILTER));
        let kv = kv.unwrap_or_else(|_| loop {});
        (*addr_of_mut!(STORE)).write(Store::new(kv, Nvmc, &mut *addr_of_mut!(SCRATCH)))
    };
    if s.mount().is_err() {
        keep(s.format());
    }
    keep(s.set(key(1), &value()));
    let mut out = [0u8; 32];
    keep(s.get(key(2), &mut out));
    keep(s.delete(key(3)));
    keep(s.gc_step());
    keep(out);
    loop {}
}
