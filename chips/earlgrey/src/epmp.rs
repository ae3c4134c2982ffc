//! The kernel's ePMP (Smepmp) setup on Earl Grey.
//!
//! Ibex implements Smepmp. The kernel locks PMP entries 12-15 over what
//! it uses itself, so they bind machine mode too, and sets
//! `mseccfg.MMWP`: from then on a machine-mode access outside those
//! regions faults, instead of being allowed by default.
//!
//! | entry | region | machine mode |
//! |---|---|---|
//! | 12 | embedded flash, 1 MiB at `0x2000_0000` (kernel code, apps, store) | read, execute |
//! | 13 | main SRAM, 128 KiB at `0x1000_0000` | read, write |
//! | 14 | peripherals, 256 MiB at `0x4000_0000` | read, write |
//!
//! Process entries (0-11, `rv32i::pmp`) stay unlocked: they bind user
//! mode only, and since entries are matched in order, an access to a
//! process's memory matches its unlocked entry and the kernel keeps full
//! access to it (for allow buffers). `mseccfg.MML` (machine-mode lockdown)
//! is not set: under it an unlocked entry would deny the kernel a
//! process's memory. Locked entries cannot change before reset, which is
//! what "kernel regions locked" means on this chip; no entry is writable
//! and executable for the kernel.

use rv32i::pmp::{kernel_entries, mseccfg, KernelRegion};

use crate::map;

/// The kernel's regions, in entry order (12, 13, 14).
pub const KERNEL_REGIONS: [KernelRegion; 3] = [
    KernelRegion {
        start: map::FLASH_BASE as u32,
        size: map::FLASH_SIZE,
        read: true,
        write: false,
        execute: true,
    },
    KernelRegion {
        start: map::RAM_BASE as u32,
        size: map::RAM_SIZE,
        read: true,
        write: true,
        execute: false,
    },
    KernelRegion {
        start: map::MMIO_BASE as u32,
        size: map::MMIO_SIZE,
        read: true,
        write: true,
        execute: false,
    },
];

/// The `mseccfg` bits the kernel sets.
pub const MSECCFG: u32 = mseccfg::MMWP;

/// `pmpcfg3` and `pmpaddr12..15` for [`KERNEL_REGIONS`].
pub fn kernel_pmp() -> (u32, [u32; 4]) {
    // The regions are constants checked by the tests below.
    kernel_entries(&KERNEL_REGIONS).unwrap_or((0, [0; 4]))
}

/// Locks the kernel's regions and turns on machine-mode whitelisting.
/// Call once, early at boot, before any process runs (RISC-V targets
/// only).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub fn lock_kernel_regions() {
    let (cfg3, addr) = kernel_pmp();
    rv32i::trap::write_pmp_kernel(cfg3, &addr);
    rv32i::trap::set_mseccfg(MSECCFG);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_regions_encode_as_locked_napot_entries() {
        let (cfg3, addr) = kernel_pmp();
        // Locked NAPOT: R+X, R+W, R+W; entry 15 off.
        assert_eq!(cfg3, 0x009B_9B9D);
        assert_eq!(addr, [0x0801_FFFF, 0x0400_3FFF, 0x11FF_FFFF, 0]);
        assert!(KERNEL_REGIONS.iter().all(|r| !(r.write && r.execute)));
        assert_eq!(MSECCFG & mseccfg::MML, 0);
    }
}
