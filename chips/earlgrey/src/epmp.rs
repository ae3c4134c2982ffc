//! The kernel's ePMP (Smepmp) regions on Earl Grey, and why the board
//! does not lock them yet.
//!
//! Ibex implements Smepmp. The intended setup locks PMP entries 12-15
//! over what the kernel uses itself, so they bind machine mode, and sets
//! `mseccfg.MMWP`, so that a machine-mode access outside them faults:
//!
//! | entry | region | machine mode |
//! |---|---|---|
//! | 12 | embedded flash, 1 MiB at `0x2000_0000` (kernel code, apps, store) | read, execute |
//! | 13 | main SRAM, 128 KiB at `0x1000_0000` | read, write |
//! | 14 | peripherals, 256 MiB at `0x4000_0000` | read, write |
//!
//! [`kernel_pmp`] computes those entries (host-tested) and
//! `lock_kernel_regions` (RISC-V targets) writes them. **The board does not call it**:
//! without machine-mode lockdown (`mseccfg.MML`) a locked entry's rights
//! apply to user mode as well, so these regions would give every process
//! the whole flash, all of SRAM and every peripheral. With `MML` set,
//! locked entries are machine-only and unlocked ones user-only, which
//! protects the kernel, but then the kernel cannot read the running
//! process's own memory (its allow buffers, which are often in its flash)
//! through that process's user-only entries: the arch crate
//! (`rv32i::pmp`) would have to encode process RAM as a shared region and
//! switch process entries off while the kernel runs. Until it does,
//! processes are confined by the ordinary PMP entries 0-11 (as on QEMU
//! `virt`) and the kernel is not protected from itself.

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

/// Locks the kernel's regions and turns on machine-mode whitelisting
/// (RISC-V targets only). Not safe to use before the arch crate supports
/// `mseccfg.MML`: see the [module docs](self).
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
