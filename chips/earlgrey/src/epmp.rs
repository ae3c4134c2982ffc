//! The kernel's ePMP (Smepmp) setup on Earl Grey.
//!
//! Ibex implements Smepmp. At boot the kernel locks PMP entries 12-14
//! over what it uses itself and sets `mseccfg.MML | MMWP`:
//!
//! | entry | region | machine mode | user mode |
//! |---|---|---|---|
//! | 12 | embedded flash, 1 MiB at `0x2000_0000` (kernel code, apps, store) | read, execute | none |
//! | 13 | main SRAM, 128 KiB at `0x1000_0000` | read, write | none |
//! | 14 | peripherals, 256 MiB at `0x4000_0000` | read, write | none |
//!
//! With machine-mode lockdown (`MML`) locked entries bind machine mode
//! only and unlocked ones user mode only; with whitelisting (`MMWP`) a
//! machine-mode access outside every entry faults. The locked entries
//! cannot change before reset, and none is writable and executable. A
//! process's own entries (0-11, `rv32i::pmp`, unlocked: user only) are
//! switched on only while it runs (the arch crate's `epmp-mml` feature:
//! the switch writes them just before `mret`, the trap entry clears them),
//! so the kernel reaches a process's memory (allow buffers, TBF headers)
//! through its own regions, and a process reaches nothing but its own.

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

/// The `mseccfg` bits the kernel sets: machine-mode lockdown and
/// whitelisting.
pub const MSECCFG: u32 = mseccfg::MML | mseccfg::MMWP;

/// `pmpcfg3` and `pmpaddr12..15` for [`KERNEL_REGIONS`].
pub fn kernel_pmp() -> (u32, [u32; 4]) {
    // The regions are constants checked by the tests below.
    kernel_entries(&KERNEL_REGIONS).unwrap_or((0, [0; 4]))
}

/// Locks the kernel's regions and turns on machine-mode lockdown and
/// whitelisting (RISC-V targets only). Call once, first thing at boot,
/// in a kernel built with `rv32i`'s `epmp-mml` feature (the process
/// entries must be off in machine mode).
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
        assert_eq!(MSECCFG, mseccfg::MML | mseccfg::MMWP);
    }
}
