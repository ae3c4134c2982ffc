//! Upstream tickv 2.0.0 with its 4 KiB region buffer.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;

use kv_bench_rom::*;
use upstream_tickv::error_codes::ErrorCode;
use upstream_tickv::flash_controller::FlashController;
use upstream_tickv::TicKV;

struct Nvmc;

impl FlashController<REGION> for Nvmc {
    fn read_region(&self, region: usize, buf: &mut [u8; REGION]) -> Result<(), ErrorCode> {
        flash_read(region * REGION, buf);
        Ok(())
    }
    fn write(&self, address: usize, buf: &[u8]) -> Result<(), ErrorCode> {
        flash_program(address, buf);
        Ok(())
    }
    fn erase_region(&self, region: usize) -> Result<(), ErrorCode> {
        flash_erase(region);
        Ok(())
    }
}

static mut BUF: [u8; REGION] = [0; REGION];
static mut STORE: MaybeUninit<TicKV<'static, Nvmc, REGION>> = MaybeUninit::uninit();

#[no_mangle]
pub extern "C" fn _start() -> ! {
    // SAFETY: single-threaded start-up; each static is borrowed once.
    let s = unsafe {
        (*addr_of_mut!(STORE)).write(TicKV::new(Nvmc, &mut *addr_of_mut!(BUF), REGION * REGIONS))
    };
    keep(s.initialise(key(0)));
    keep(s.invalidate_key(key(1)));
    keep(s.append_key(key(1), &value()));
    let mut out = [0u8; 32];
    keep(s.get_key(key(2), &mut out));
    keep(s.garbage_collect());
    keep(out);
    loop {}
}
