//! How EasyDMA reaches memory.
//!
//! The nRF52840's peripherals with EasyDMA (UARTE, SPIM, ...) read and
//! write RAM by themselves, at a 32-bit address the driver writes into a
//! `PTR` register, for `MAXCNT` bytes. Only the Data RAM can be reached
//! (`0x2000_0000..0x2004_0000`): a pointer into flash makes the transfer
//! fail or corrupt memory, so drivers check [`in_ram`] before they start
//! one. `MAXCNT` is 16 bits wide on this chip ([`MAX_COUNT`]).
//!
//! Drivers go through the [`EasyDma`] trait: on the chip, [`Ram`] gives
//! the buffer's own address (with compiler fences around the device's
//! access); in host tests a model gives addresses in a simulated Data
//! RAM, copies what the device reads in and what it wrote back out, and
//! advances the device while a driver waits for it.

use core::sync::atomic::{compiler_fence, Ordering};

/// First address of the Data RAM.
pub const RAM_START: u32 = 0x2000_0000;
/// Bytes of Data RAM (256 KiB).
pub const RAM_SIZE: u32 = 0x4_0000;
/// The largest `MAXCNT` (16 bits on the nRF52840).
pub const MAX_COUNT: usize = 0xFFFF;

/// Whether `len` bytes at `address` lie in the Data RAM, where EasyDMA
/// can reach them.
pub fn in_ram(address: u32, len: usize) -> bool {
    let Ok(len) = u32::try_from(len) else {
        return false;
    };
    address >= RAM_START
        && address
            .checked_add(len)
            .is_some_and(|end| end <= RAM_START + RAM_SIZE)
}

/// What the CPU does while it waits for a device: on the chip a spin-loop
/// hint; a model advances the device.
pub trait Wait {
    /// One poll of a busy loop.
    fn wait(&self);
}

impl<W: Wait + ?Sized> Wait for &W {
    fn wait(&self) {
        (**self).wait()
    }
}

/// The memory of a peripheral with EasyDMA (and the waiting for it).
pub trait EasyDma: Wait {
    /// The address the device reads `buf` at; the CPU's writes to it are
    /// visible to the device from now on.
    fn device_reads(&self, buf: &[u8]) -> u32;

    /// The address the device writes `buf` at.
    fn device_writes(&self, buf: &mut [u8]) -> u32;

    /// The device has finished writing into `buf` (given to
    /// [`device_writes`](Self::device_writes) before): its bytes are visible to
    /// the CPU from now on.
    fn device_done(&self, buf: &mut [u8]);
}

impl<D: EasyDma + ?Sized> EasyDma for &D {
    fn device_reads(&self, buf: &[u8]) -> u32 {
        (**self).device_reads(buf)
    }

    fn device_writes(&self, buf: &mut [u8]) -> u32 {
        (**self).device_writes(buf)
    }

    fn device_done(&self, buf: &mut [u8]) {
        (**self).device_done(buf)
    }
}

/// The chip's own memory: a buffer's address is what the device uses.
/// On a host (64-bit addresses) every address is reported as 0, outside
/// the Data RAM, so drivers refuse to start a transfer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ram;

impl Ram {
    fn address(ptr: *const u8) -> u32 {
        u32::try_from(ptr as usize).unwrap_or(0)
    }
}

impl EasyDma for Ram {
    fn device_reads(&self, buf: &[u8]) -> u32 {
        compiler_fence(Ordering::Release);
        Ram::address(buf.as_ptr())
    }

    fn device_writes(&self, buf: &mut [u8]) -> u32 {
        compiler_fence(Ordering::Release);
        Ram::address(buf.as_ptr())
    }

    fn device_done(&self, _buf: &mut [u8]) {
        compiler_fence(Ordering::Acquire);
    }
}

impl Wait for Ram {
    fn wait(&self) {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_data_ram_is_reachable() {
        assert!(in_ram(0x2000_0000, 4));
        assert!(in_ram(0x2003_FFFC, 4));
        assert!(!in_ram(0x2003_FFFD, 4));
        assert!(!in_ram(0x1FFF_FFFF, 1));
        assert!(!in_ram(0x0004_0000, 16), "flash");
        assert!(!in_ram(0xFFFF_FFF0, 32), "no overflow");
        assert!(in_ram(0x2000_0000, 0x4_0000));
        assert!(!in_ram(0x2000_0000, 0x4_0001));
    }

    #[test]
    fn host_addresses_are_never_in_ram() {
        let mut buf = [0u8; 4];
        let a = Ram.device_writes(&mut buf);
        if core::mem::size_of::<usize>() > 4 && (buf.as_ptr() as usize) > u32::MAX as usize {
            assert_eq!(a, 0);
            assert!(!in_ram(a, 4));
        }
    }
}
