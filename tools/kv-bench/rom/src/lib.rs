//! Scaffolding shared by every size-probe program: entry point, panic
//! handler, a memory-mapped flash driver in the style of the nRF52 NVMC,
//! and a minimal `block_on`. The baseline program uses all of it, so what a
//! store program adds over the baseline is the store.
#![no_std]

use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::ptr::{read_volatile, write_volatile};
use core::task::{Context, Poll, Waker};

/// Where the store's flash area is mapped.
pub const FLASH_BASE: usize = 0x0004_0000;
/// Erase unit.
pub const REGION: usize = 4096;
/// Regions of the store (the benchmark's 1000-key geometry).
pub const REGIONS: usize = 64;

const NVMC_READY: usize = 0x4001_E400;
const NVMC_CONFIG: usize = 0x4001_E504;
const NVMC_ERASEPAGE: usize = 0x4001_E508;

fn wait_ready() {
    // SAFETY: a device register; reading it has no side effect.
    while unsafe { read_volatile(NVMC_READY as *const u32) } == 0 {}
}

/// Reads `buf.len()` bytes at store offset `addr`.
#[inline(never)]
pub fn flash_read(addr: usize, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        // SAFETY: the store's flash area is mapped at FLASH_BASE.
        *b = unsafe { read_volatile((FLASH_BASE + addr + i) as *const u8) };
    }
}

/// Programs `data` (whole 32-bit words) at store offset `addr`.
#[inline(never)]
pub fn flash_program(addr: usize, data: &[u8]) {
    // SAFETY: device registers and the mapped flash area.
    unsafe {
        write_volatile(NVMC_CONFIG as *mut u32, 1);
        for (i, w) in data.chunks(4).enumerate() {
            let mut word = [0xFFu8; 4];
            word[..w.len()].copy_from_slice(w);
            write_volatile(
                (FLASH_BASE + addr + 4 * i) as *mut u32,
                u32::from_le_bytes(word),
            );
            wait_ready();
        }
        write_volatile(NVMC_CONFIG as *mut u32, 0);
    }
}

/// Erases one region.
#[inline(never)]
pub fn flash_erase(region: usize) {
    // SAFETY: device registers.
    unsafe {
        write_volatile(NVMC_CONFIG as *mut u32, 2);
        write_volatile(
            NVMC_ERASEPAGE as *mut u32,
            (FLASH_BASE + region * REGION) as u32,
        );
        wait_ready();
        write_volatile(NVMC_CONFIG as *mut u32, 0);
    }
}

/// Polls a future to completion (the flash completes at once, so it never
/// has to sleep).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// A key the optimiser cannot see through.
pub fn key(n: u64) -> u64 {
    black_box(0x1234_5678_9abc_def0 ^ n)
}

/// A value buffer the optimiser cannot see through.
pub fn value() -> [u8; 32] {
    black_box([0x5A; 32])
}

/// Keeps a result alive.
pub fn keep<T>(t: T) {
    black_box(t);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
