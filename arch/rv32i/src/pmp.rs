//! Physical Memory Protection for processes.
//!
//! Entries in top-of-range (TOR) mode describe a process:
//!
//! | entry | address register | configuration |
//! |---|---|---|
//! | 0 | flash start | off (only the base for entry 1) |
//! | 1 | flash end | TOR, read + execute |
//! | 2 | RAM start | off (base for entry 3) |
//! | 3 | end of accessible RAM | TOR, read + write |
//! | 4 + 2k | start of shared buffer k | off (base) |
//! | 5 + 2k | end of shared buffer k | TOR, read + write |
//!
//! for k below [`MAX_SHARED`] (4: entries 4-11, `pmpcfg1` and `pmpcfg2`;
//! QEMU's `virt` and most cores have 16). Shared buffers are the IPC
//! buffers of other processes (`kernel::ipc`); an unused pair is off.
//!
//! No other entry is enabled, so a user-mode access anywhere else faults
//! ("no entry matches" fails for U-mode once any entry is implemented). The
//! entries are not locked, so machine mode (the kernel) is unaffected.
//! With the `epmp-mml` feature (Smepmp machine-mode lockdown, Earl Grey)
//! the configuration is written at each switch to user mode and cleared
//! at each trap, and the kernel's own regions are locked entries 12-15
//! ([`kernel_entries`]). TOR
//! has 4-byte granularity on QEMU's `virt` and on most cores, which is what
//! [`WordGranularProtection`] assumes for placement, breaks and sharing.

use core::cell::Cell;

use kernel::platform::mpu::{
    MemoryProtection, ProcessProtection, WordGranularProtection, MAX_SHARED,
};
use kernel::platform::Range;

/// `A` field: top of range.
const TOR: u8 = 1 << 3;
const R: u8 = 1 << 0;
const W: u8 = 1 << 1;
const X: u8 = 1 << 2;

/// Entries 0-3, the process's own flash and RAM: `pmpcfg0` and
/// `pmpaddr0..3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PmpBase {
    /// `pmpcfg0`: one configuration byte per entry, entry 0 lowest.
    pub cfg0: u32,
    /// `pmpaddr0..3`: addresses shifted right by 2.
    pub addr: [u32; 4],
}

impl PmpBase {
    /// Equality without a call to `memcmp` (`==` on the struct compiles to
    /// one, a byte loop on this target: about 160 instructions on every
    /// switch).
    fn same(&self, other: &PmpBase) -> bool {
        let mut diff = self.cfg0 ^ other.cfg0;
        for (a, b) in self.addr.iter().zip(&other.addr) {
            diff |= a ^ b;
        }
        diff == 0
    }
}

/// Entries 4-11, the shared buffers: `pmpcfg1`, `pmpcfg2` and
/// `pmpaddr4..11`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PmpShared {
    /// `pmpcfg1`, `pmpcfg2`.
    pub cfg: [u32; 2],
    /// `pmpaddr4..11`, shifted right by 2.
    pub addr: [u32; 2 * MAX_SHARED],
}

impl PmpShared {
    /// Every shared entry off.
    pub const OFF: PmpShared = PmpShared {
        cfg: [0; 2],
        addr: [0; 2 * MAX_SHARED],
    };
}

/// The values of every PMP register a process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PmpConfig {
    /// Entries 0-3.
    pub base: PmpBase,
    /// Entries 4-11.
    pub shared: PmpShared,
}

fn entry_pair(range: Range, perms: u8) -> (u8, [u32; 2]) {
    let start = range.start & !3;
    let end = range.end() & !3;
    if end <= start {
        return (0, [0, 0]);
    }
    (TOR | perms, [start >> 2, end >> 2])
}

/// Entries 0-3 for a process's flash (read + execute) and RAM (read +
/// write).
pub fn base_for(flash: Range, ram: Range) -> PmpBase {
    let (flash_cfg, flash_addr) = entry_pair(flash, R | X);
    let (ram_cfg, ram_addr) = entry_pair(ram, R | W);
    PmpBase {
        cfg0: u32::from_le_bytes([0, flash_cfg, 0, ram_cfg]),
        addr: [flash_addr[0], flash_addr[1], ram_addr[0], ram_addr[1]],
    }
}

/// Entries 4-11 for the shared buffers (read + write; empty ones off).
pub fn shared_for(shared: &[Range; MAX_SHARED]) -> PmpShared {
    let mut bytes = [0u8; 2 * MAX_SHARED];
    let mut addr = [0u32; 2 * MAX_SHARED];
    for (k, range) in shared.iter().enumerate() {
        let (cfg, pair) = entry_pair(*range, R | W);
        bytes[2 * k + 1] = cfg;
        addr[2 * k..2 * k + 2].copy_from_slice(&pair);
    }
    PmpShared {
        cfg: [
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        ],
        addr,
    }
}

/// The PMP configuration that opens exactly `protection` to user mode.
///
/// Ranges are truncated to whole words (the kernel only hands out
/// word-aligned ranges and shares only whole words); an empty range leaves
/// its entry off.
pub fn config_for(protection: &ProcessProtection) -> PmpConfig {
    PmpConfig {
        base: base_for(protection.flash, protection.ram),
        shared: shared_for(&protection.shared),
    }
}

/// The PMP as the kernel's `MemoryProtection`. It remembers what it
/// wrote and rewrites only the group of entries that changes: a switch
/// between processes that share nothing touches entries 0-3 only, and
/// none if the same process resumes.
#[derive(Debug, Default)]
pub struct Pmp {
    base: Cell<Option<PmpBase>>,
    shared: Cell<Option<PmpShared>>,
    /// Whether the shared entries are known to be all off (the common
    /// case, checked without comparing them).
    shared_off: Cell<bool>,
}

impl Pmp {
    /// A PMP driver; nothing is configured until the first process runs.
    pub const fn new() -> Pmp {
        Pmp {
            base: Cell::new(None),
            shared: Cell::new(None),
            shared_off: Cell::new(false),
        }
    }

    /// The configuration written last (for diagnostics).
    pub fn current(&self) -> Option<PmpConfig> {
        Some(PmpConfig {
            base: self.base.get()?,
            shared: self.shared.get()?,
        })
    }
}

impl MemoryProtection for Pmp {
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        WordGranularProtection::place(window, min_len, fixed)
    }

    fn accessible_end(&self, mem_start: u32, brk: u32, limit: u32) -> Option<u32> {
        WordGranularProtection.accessible_end(mem_start, brk, limit)
    }

    fn can_share(&self, range: Range) -> bool {
        WordGranularProtection::word_aligned(range)
    }

    fn configure(&self, protection: &ProcessProtection) {
        let base = base_for(protection.flash, protection.ram);
        if !self.base.get().is_some_and(|b| b.same(&base)) {
            #[cfg(all(target_arch = "riscv32", target_os = "none"))]
            crate::trap::write_pmp_base(&base);
            self.base.set(Some(base));
        }
        let nothing_shared = protection.shared.iter().all(|r| r.len == 0);
        if nothing_shared && self.shared_off.get() {
            return;
        }
        let shared = shared_for(&protection.shared);
        if self.shared.get() != Some(shared) {
            #[cfg(all(target_arch = "riscv32", target_os = "none"))]
            crate::trap::write_pmp_shared(&shared);
            self.shared.set(Some(shared));
        }
        self.shared_off.set(nothing_shared);
    }
}

/// `A` field: naturally aligned power-of-two region.
const NAPOT: u8 = 3 << 3;
/// Lock bit: the entry applies to machine mode and cannot change before
/// reset.
const L: u8 = 1 << 7;

/// `mseccfg` bits of Smepmp (CSR `0x747`).
pub mod mseccfg {
    /// Machine-mode lockdown: locked entries become machine-only,
    /// unlocked ones user-only.
    pub const MML: u32 = 1 << 0;
    /// Machine-mode whitelist policy: a machine-mode access no entry
    /// matches is denied.
    pub const MMWP: u32 = 1 << 1;
    /// Rule-locking bypass.
    pub const RLB: u32 = 1 << 2;
}

/// A region of the kernel's own (code, data, devices) for a locked PMP
/// entry: a power of two of at least 8 bytes, aligned to its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelRegion {
    /// First byte.
    pub start: u32,
    /// Bytes (a power of two, at least 8).
    pub size: u32,
    /// Machine mode may read.
    pub read: bool,
    /// Machine mode may write.
    pub write: bool,
    /// Machine mode may execute.
    pub execute: bool,
}

impl KernelRegion {
    /// The `pmpaddr` value of the region in NAPOT mode, if it is one.
    pub fn napot_address(&self) -> Option<u32> {
        let valid = self.size.is_power_of_two() && self.size >= 8;
        (valid && self.start.is_multiple_of(self.size))
            .then(|| (self.start | (self.size / 2 - 1)) >> 2)
    }

    /// The configuration byte: locked, NAPOT, with the region's rights.
    pub fn config(&self) -> u8 {
        L | NAPOT
            | if self.read { R } else { 0 }
            | if self.write { W } else { 0 }
            | if self.execute { X } else { 0 }
    }
}

/// PMP entries 12-15 for up to four kernel regions, locked (so they bind
/// machine mode), NAPOT (so they do not depend on the process entries
/// before them). Processes use entries 0-11 only. Under Smepmp
/// machine-mode lockdown (`mseccfg.MML`) locked entries bind machine mode
/// only; without it their rights apply to user mode too, so use them only
/// with `MML` and the `epmp-mml` feature (the process's entries, user-only
/// under `MML`, are then on only while it runs, and the kernel reaches
/// process memory through these regions). `None` if a region is not a
/// naturally aligned power of two or there are more than four.
pub fn kernel_entries(regions: &[KernelRegion]) -> Option<(u32, [u32; 4])> {
    if regions.len() > 4 {
        return None;
    }
    let mut cfg = [0u8; 4];
    let mut addr = [0u32; 4];
    for (i, region) in regions.iter().enumerate() {
        addr[i] = region.napot_address()?;
        cfg[i] = region.config();
    }
    Some((u32::from_le_bytes(cfg), addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_regions_are_locked_napot_entries() {
        let flash = KernelRegion {
            start: 0x2000_0000,
            size: 0x10_0000,
            read: true,
            write: false,
            execute: true,
        };
        let ram = KernelRegion {
            start: 0x1000_0000,
            size: 0x2_0000,
            read: true,
            write: true,
            execute: false,
        };
        assert_eq!(flash.napot_address(), Some(0x0801_FFFF));
        assert_eq!(ram.napot_address(), Some(0x0400_3FFF));
        let (cfg, addr) = kernel_entries(&[flash, ram]).unwrap();
        assert_eq!(cfg, 0x0000_9B9D);
        assert_eq!(addr, [0x0801_FFFF, 0x0400_3FFF, 0, 0]);
        let odd = KernelRegion {
            start: 0x1000_0100,
            size: 0x2_0000,
            ..ram
        };
        assert_eq!(kernel_entries(&[odd]), None, "not aligned to its size");
        assert_eq!(kernel_entries(&[KernelRegion { size: 12, ..ram }]), None);
        assert_eq!(kernel_entries(&[ram; 5]), None, "four at most");
    }

    #[test]
    fn flash_rx_and_ram_rw() {
        let p = ProcessProtection::new(
            Range {
                start: 0x8010_0000,
                len: 0x1_0000,
            },
            Range {
                start: 0x8030_0000,
                len: 0x800,
            },
        );
        let c = config_for(&p);
        assert_eq!(c.base.cfg0, 0x0B00_0D00);
        assert_eq!(
            c.base.addr,
            [
                0x8010_0000 >> 2,
                0x8011_0000 >> 2,
                0x8030_0000 >> 2,
                0x8030_0800 >> 2
            ]
        );
        assert_eq!(c.shared, PmpShared::OFF);
    }

    #[test]
    fn empty_ram_leaves_the_entry_off() {
        let p = ProcessProtection::new(
            Range {
                start: 0x8010_0000,
                len: 0x100,
            },
            Range {
                start: 0x8030_0000,
                len: 0,
            },
        );
        let c = config_for(&p);
        assert_eq!(c.base.cfg0, 0x0000_0D00);
        assert_eq!(c.base.addr[2..], [0, 0]);
        assert_eq!(c.shared, PmpShared::OFF);
    }

    #[test]
    fn configure_remembers() {
        let pmp = Pmp::new();
        assert_eq!(pmp.current(), None);
        let p = ProcessProtection::new(Range { start: 0, len: 8 }, Range { start: 16, len: 8 });
        pmp.configure(&p);
        assert_eq!(pmp.current(), Some(config_for(&p)));
    }

    #[test]
    fn shared_buffers_get_read_write_pairs_from_entry_4() {
        let mut p = ProcessProtection::new(
            Range {
                start: 0x8010_0000,
                len: 0x100,
            },
            Range {
                start: 0x8030_0000,
                len: 0x800,
            },
        );
        p.shared[0] = Range {
            start: 0x8031_0100,
            len: 0x100,
        };
        p.shared[3] = Range {
            start: 0x8032_0000,
            len: 4,
        };
        let c = config_for(&p);
        // Entries 5 and 11 are TOR read + write; 7 and 9 (unused) are off.
        assert_eq!(c.base.cfg0, 0x0B00_0D00);
        assert_eq!(c.shared.cfg, [0x0000_0B00, 0x0B00_0000]);
        assert_eq!(c.shared.addr[..2], [0x8031_0100 >> 2, 0x8031_0200 >> 2]);
        assert_eq!(c.shared.addr[2..6], [0; 4]);
        assert_eq!(c.shared.addr[6..], [0x8032_0000 >> 2, 0x8032_0004 >> 2]);
        // The unit remembers both groups; dropping the buffers turns the
        // shared entries off again.
        let pmp = Pmp::new();
        pmp.configure(&p);
        assert_eq!(pmp.current(), Some(c));
        pmp.configure(&ProcessProtection::new(p.flash, p.ram));
        assert_eq!(pmp.current().map(|c| c.shared), Some(PmpShared::OFF));
    }

    #[test]
    fn only_whole_words_are_shared() {
        let pmp = Pmp::new();
        let r = |start, len| Range { start, len };
        assert!(pmp.can_share(r(0x8031_0100, 0x100)));
        assert!(pmp.can_share(r(0x8031_0104, 4)));
        for (start, len) in [
            (0x8031_0101, 4),
            (0x8031_0100, 6),
            (0x8031_0100, 0),
            (0xFFFF_FFFC, 4),
        ] {
            assert!(!pmp.can_share(r(start, len)), "{start:#x}+{len}");
        }
    }
}
