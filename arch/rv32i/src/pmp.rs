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
//! entries are not locked, so machine mode (the kernel) is unaffected. TOR
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

/// The PMP entries a process uses.
pub const ENTRIES: usize = 4 + 2 * MAX_SHARED;

/// The values of `pmpcfg0..2` and `pmpaddr0..11` for one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PmpConfig {
    /// `pmpcfg0..`: one configuration byte per entry, entry 0 lowest.
    pub cfg: [u32; ENTRIES / 4],
    /// `pmpaddr0..`: addresses shifted right by 2.
    pub addr: [u32; ENTRIES],
}

impl PmpConfig {
    /// Whether the entries of the shared buffers (4 and up) differ.
    pub fn shared_differs(&self, other: &PmpConfig) -> bool {
        self.cfg[1..] != other.cfg[1..] || self.addr[4..] != other.addr[4..]
    }
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
/// word-aligned ranges and shares only whole words); an empty range leaves
/// its entry off.
pub fn config_for(protection: &ProcessProtection) -> PmpConfig {
    let mut bytes = [0u8; ENTRIES];
    let mut addr = [0u32; ENTRIES];
    let ranges = [(protection.flash, R | X), (protection.ram, R | W)]
        .into_iter()
        .chain(protection.shared.iter().map(|r| (*r, R | W)));
    for (k, (range, perms)) in ranges.enumerate() {
        let (cfg, pair) = entry_pair(range, perms);
        bytes[2 * k + 1] = cfg;
        addr[2 * k..2 * k + 2].copy_from_slice(&pair);
    }
    let mut cfg = [0u32; ENTRIES / 4];
    for (word, chunk) in cfg.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    PmpConfig { cfg, addr }
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

    fn can_share(&self, range: Range) -> bool {
        WordGranularProtection::word_aligned(range)
    }

    fn configure(&self, protection: &ProcessProtection) {
        let config = config_for(protection);
        let last = self.last.get();
        if last == Some(config) {
            return;
        }
        // Most switches involve no shared buffer: then only entries 0-3
        // are written.
        let with_shared = last.is_none_or(|l| l.shared_differs(&config));
        #[cfg(all(target_arch = "riscv32", target_os = "none"))]
        crate::trap::write_pmp(&config, with_shared);
        let _ = with_shared;
        self.last.set(Some(config));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(c.cfg, [0x0B00_0D00, 0, 0]);
        assert_eq!(
            c.addr[..4],
            [
                0x8010_0000 >> 2,
                0x8011_0000 >> 2,
                0x8030_0000 >> 2,
                0x8030_0800 >> 2
            ]
        );
        assert_eq!(c.addr[4..], [0; 8]);
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
        assert_eq!(c.cfg, [0x0000_0D00, 0, 0]);
        assert_eq!(c.addr[2..], [0; 10]);
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
        assert_eq!(c.cfg, [0x0B00_0D00, 0x0000_0B00, 0x0B00_0000]);
        assert_eq!(c.addr[4..6], [0x8031_0100 >> 2, 0x8031_0200 >> 2]);
        assert_eq!(c.addr[6..10], [0; 4]);
        assert_eq!(c.addr[10..], [0x8032_0000 >> 2, 0x8032_0004 >> 2]);
        assert!(c.shared_differs(&config_for(&ProcessProtection::new(p.flash, p.ram))));
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
