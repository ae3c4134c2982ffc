//! Physical Memory Protection for processes.
//!
//! Four entries in top-of-range (TOR) mode describe a process:
//!
//! | entry | address register | configuration |
//! |---|---|---|
//! | 0 | flash start | off (only the base for entry 1) |
//! | 1 | flash end | TOR, read + execute |
//! | 2 | RAM start | off (base for entry 3) |
//! | 3 | end of accessible RAM | TOR, read + write |
//!
//! No other entry is enabled, so a user-mode access anywhere else faults
//! ("no entry matches" fails for U-mode once any entry is implemented). The
//! entries are not locked, so machine mode (the kernel) is unaffected. TOR
//! has 4-byte granularity on QEMU's `virt` and on most cores, which is what
//! [`WordGranularProtection`] assumes for placement and breaks.

use core::cell::Cell;

use kernel::platform::mpu::{MemoryProtection, ProcessProtection, WordGranularProtection};
use kernel::platform::Range;

/// `A` field: top of range.
const TOR: u8 = 1 << 3;
const R: u8 = 1 << 0;
const W: u8 = 1 << 1;
const X: u8 = 1 << 2;

/// The values of `pmpcfg0` (entries 0-3) and `pmpaddr0..3` for one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PmpConfig {
    /// `pmpcfg0`: one configuration byte per entry, entry 0 lowest.
    pub cfg0: u32,
    /// `pmpaddr0..3`: addresses shifted right by 2.
    pub addr: [u32; 4],
}

fn entry_pair(range: Range, perms: u8) -> (u8, [u32; 2]) {
    let start = range.start & !3;
    let end = range.end() & !3;
    if end <= start {
        return (0, [0, 0]);
    }
    (TOR | perms, [start >> 2, end >> 2])
}

/// The PMP configuration that opens exactly `protection` to user mode.
///
/// Ranges are truncated to whole words (the kernel only hands out
/// word-aligned ranges); an empty range leaves its entry off.
pub fn config_for(protection: &ProcessProtection) -> PmpConfig {
    let (flash_cfg, flash_addr) = entry_pair(protection.flash, R | X);
    let (ram_cfg, ram_addr) = entry_pair(protection.ram, R | W);
    PmpConfig {
        cfg0: u32::from_le_bytes([0, flash_cfg, 0, ram_cfg]),
        addr: [flash_addr[0], flash_addr[1], ram_addr[0], ram_addr[1]],
    }
}

/// The PMP as the kernel's `MemoryProtection`.
#[derive(Debug, Default)]
pub struct Pmp {
    last: Cell<Option<PmpConfig>>,
}

impl Pmp {
    /// A PMP driver; nothing is configured until the first process runs.
    pub const fn new() -> Pmp {
        Pmp {
            last: Cell::new(None),
        }
    }

    /// The configuration written last (for diagnostics).
    pub fn current(&self) -> Option<PmpConfig> {
        self.last.get()
    }
}

impl MemoryProtection for Pmp {
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        WordGranularProtection::place(window, min_len, fixed)
    }

    fn accessible_end(&self, mem_start: u32, brk: u32, limit: u32) -> Option<u32> {
        WordGranularProtection.accessible_end(mem_start, brk, limit)
    }

    fn configure(&self, protection: &ProcessProtection) {
        let config = config_for(protection);
        if self.last.get() == Some(config) {
            return;
        }
        #[cfg(all(target_arch = "riscv32", target_os = "none"))]
        crate::trap::write_pmp(&config);
        self.last.set(Some(config));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_rx_and_ram_rw() {
        let p = ProcessProtection {
            flash: Range {
                start: 0x8010_0000,
                len: 0x1_0000,
            },
            ram: Range {
                start: 0x8030_0000,
                len: 0x800,
            },
        };
        let c = config_for(&p);
        assert_eq!(c.cfg0, 0x0B00_0D00);
        assert_eq!(
            c.addr,
            [
                0x8010_0000 >> 2,
                0x8011_0000 >> 2,
                0x8030_0000 >> 2,
                0x8030_0800 >> 2
            ]
        );
    }

    #[test]
    fn empty_ram_leaves_the_entry_off() {
        let p = ProcessProtection {
            flash: Range {
                start: 0x8010_0000,
                len: 0x100,
            },
            ram: Range {
                start: 0x8030_0000,
                len: 0,
            },
        };
        let c = config_for(&p);
        assert_eq!(c.cfg0, 0x0000_0D00);
        assert_eq!(c.addr[2..], [0, 0]);
    }

    #[test]
    fn configure_remembers() {
        let pmp = Pmp::new();
        assert_eq!(pmp.current(), None);
        let p = ProcessProtection {
            flash: Range { start: 0, len: 8 },
            ram: Range { start: 16, len: 8 },
        };
        pmp.configure(&p);
        assert_eq!(pmp.current(), Some(config_for(&p)));
    }
}
