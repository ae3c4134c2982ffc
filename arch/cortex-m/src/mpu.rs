//! The PMSAv7 memory protection unit (8 regions) as the kernel's
//! [`MemoryProtection`].
//!
//! A PMSAv7 region is a power of two from 32 bytes to 4 GiB, aligned to
//! its size; a region of 256 bytes or more is split into eight equal
//! subregions, each of which can be disabled. The kernel runs privileged
//! with the default memory map as background (`PRIVDEFENA`), so regions
//! only grant access to unprivileged code. Regions 0-1 open the process's
//! TBF read + execute, regions 2-3 its RAM read + write (never
//! executable), regions 4-7 the buffers of other processes shared with it
//! (IPC), one region each, read + write, never executable; unused ones
//! are off. Nothing else is ever opened.
//!
//! # How ranges are rounded
//!
//! * **Flash** (the TBF, `[start, end)`): [`cover`] finds at most two
//!   regions whose enabled subregions are *exactly* the range. elf2tab
//!   pads Cortex-M TBFs to a power of two and tools place them aligned, so
//!   that always succeeds; a TBF that cannot be covered exactly gets the
//!   covered prefix only (never more), and faults if it runs past it.
//! * **RAM**: [`place_process_ram`](MemoryProtection::place_process_ram)
//!   rounds a process's block up to a power of two `L` and aligns it to
//!   `L` (a fixed RAM address must already be so aligned, else the app is
//!   refused). The accessible part `[start, start + n)` is opened with
//!   region 2 of size `S` = the next power of two at or above `n`, whose
//!   first `n / (S/8)` subregions are enabled, and, for the remainder,
//!   region 3 of size `S/8` with its own subregions of `S/64`. So the
//!   break is rounded up to a multiple of `S/64` (of `S/8` while
//!   `S/8 < 256`, of `S` while `S < 256`):
//!   [`accessible_end`](MemoryProtection::accessible_end) returns that
//!   rounded end and refuses a break whose rounded end would reach the
//!   grant region, so the kernel-owned top of the block is never opened.
//!
//! The region arithmetic is pure and tested on the host over many
//! layouts; [`Mpu::configure`] writes the result to the hardware (ARM
//! targets only).

use kernel::platform::mpu::{MemoryProtection, ProcessProtection, MAX_SHARED};
use kernel::platform::Range;

/// Number of regions the unit has.
pub const REGIONS: usize = 8;
/// The first region of the shared buffers (one each).
pub const FIRST_SHARED: usize = 4;

const _: () = assert!(FIRST_SHARED + MAX_SHARED <= REGIONS);
/// Smallest region size.
pub const MIN_REGION: u64 = 32;
/// Smallest region size with subregions.
pub const MIN_SUBREGION_REGION: u64 = 256;

/// What a region allows unprivileged code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and execute (AP = read-only for everyone, XN clear).
    ReadExecute,
    /// Read and write, never execute (AP = full access, XN set).
    ReadWrite,
}

/// One region: base, size, disabled subregions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// Base address, aligned to the size.
    pub base: u32,
    /// log2 of the size (5 to 32); 0 means the region is off.
    pub size_log2: u8,
    /// Subregion disable bits (bit i disables subregion i).
    pub srd: u8,
}

impl Region {
    /// A disabled region.
    pub const OFF: Region = Region {
        base: 0,
        size_log2: 0,
        srd: 0,
    };

    /// Whether the region is on.
    pub fn enabled(&self) -> bool {
        self.size_log2 != 0
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        1u64 << self.size_log2
    }

    /// The address ranges this region opens, one per enabled subregion
    /// (or one for the whole region when it has no subregions).
    pub fn opened(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let size = self.size();
        let subs = if size >= MIN_SUBREGION_REGION { 8 } else { 1 };
        let sub = size / subs;
        (0..subs)
            .filter(move |i| self.enabled() && (subs == 1 || self.srd & (1 << i) == 0))
            .map(move |i| {
                let start = u64::from(self.base) + i * sub;
                (start, start + sub)
            })
    }

    /// The RBAR value selecting region `number`.
    pub fn rbar(&self, number: u32) -> u32 {
        const VALID: u32 = 1 << 4;
        (self.base & !0x1F) | VALID | (number & 0xF)
    }

    /// The RASR value with `access`.
    pub fn rasr(&self, access: Access) -> u32 {
        if !self.enabled() {
            return 0;
        }
        const ENABLE: u32 = 1;
        // Normal memory, write-back (C, B), not shareable.
        const CACHEABLE: u32 = (1 << 17) | (1 << 16);
        const XN: u32 = 1 << 28;
        let ap: u32 = match access {
            Access::ReadExecute => 0b110,
            Access::ReadWrite => 0b011,
        };
        let xn = if access == Access::ReadWrite { XN } else { 0 };
        xn | (ap << 24)
            | CACHEABLE
            | (u32::from(self.srd) << 8)
            | ((u32::from(self.size_log2) - 1) << 1)
            | ENABLE
    }
}

/// Covers `[start, end)` with at most `out.len()` regions whose enabled
/// subregions are exactly that range (greedy: each region takes the
/// longest piece it can). Returns whether the whole range is covered;
/// either way the regions written never open anything outside it.
pub fn cover(start: u32, end: u32, out: &mut [Region]) -> bool {
    out.fill(Region::OFF);
    let (mut cur, end) = (u64::from(start), u64::from(end));
    for slot in out.iter_mut() {
        if cur >= end {
            return true;
        }
        // (progress, base, log2, subregion size) of the best region.
        let mut best: Option<(u64, u64, u8, u64)> = None;
        for log2 in 5u8..=32 {
            let size = 1u64 << log2;
            let sub = if size >= MIN_SUBREGION_REGION {
                size / 8
            } else {
                size
            };
            if cur % sub != 0 {
                // Larger regions have larger subregions: none fits.
                break;
            }
            let base = cur & !(size - 1);
            let top = (base + size).min(end);
            let top = base + (top - base) / sub * sub;
            if top <= cur {
                continue;
            }
            let progress = top - cur;
            if best.is_none_or(|(p, ..)| progress > p) {
                best = Some((progress, base, log2, sub));
            }
        }
        let best = best.map(|(progress, base, log2, sub)| {
            let mut srd = 0u8;
            if (1u64 << log2) >= MIN_SUBREGION_REGION {
                for i in 0..8u64 {
                    let s = base + i * sub;
                    if s < cur || s >= cur + progress {
                        srd |= 1 << i;
                    }
                }
            }
            let base = u32::try_from(base).unwrap_or(0);
            (
                progress,
                Region {
                    base,
                    size_log2: log2,
                    srd,
                },
            )
        });
        let Some((progress, region)) = best else {
            return false;
        };
        *slot = region;
        cur += progress;
    }
    cur >= end
}

/// The granularity of the accessible end of a RAM block when `n` bytes
/// are open: see the module documentation.
fn ram_granularity(n: u64) -> u64 {
    let size = n.next_power_of_two().max(MIN_REGION);
    if size < MIN_SUBREGION_REGION {
        return size;
    }
    let sub = size / 8;
    if sub >= MIN_SUBREGION_REGION {
        sub / 8
    } else {
        sub
    }
}

/// The two RAM regions opening `[start, start + len)`, or `None` if that
/// range is not one [`accessible_end`](MemoryProtection::accessible_end)
/// gives (misaligned start or length).
pub fn ram_regions(start: u32, len: u32) -> Option<[Region; 2]> {
    let mut out = [Region::OFF; 2];
    if len == 0 {
        return Some(out);
    }
    let n = u64::from(len);
    if n % ram_granularity(n) != 0 {
        return None;
    }
    let size = n.next_power_of_two().max(MIN_REGION);
    if u64::from(start) % size != 0 {
        return None;
    }
    cover(start, start.checked_add(len)?, &mut out).then_some(out)
}

/// The PMSAv7 MPU.
#[derive(Debug, Default)]
pub struct Mpu {
    /// What the hardware holds now (nothing else writes the MPU): a switch
    /// back to the same process reprograms nothing.
    configured: core::cell::Cell<Option<ProcessProtection>>,
}

impl Mpu {
    /// The MPU (one per CPU).
    pub const fn new() -> Self {
        Mpu {
            configured: core::cell::Cell::new(None),
        }
    }

    /// The register values for `protection`: (RBAR, RASR) of the eight
    /// regions.
    pub fn regions(protection: &ProcessProtection) -> [(u32, u32); REGIONS] {
        let mut flash = [Region::OFF; 2];
        let f = protection.flash;
        let _ = cover(f.start, f.end(), &mut flash);
        let ram = ram_regions(protection.ram.start, protection.ram.len).unwrap_or([Region::OFF; 2]);
        let mut out = [(0, 0); REGIONS];
        let opened = [
            (flash[0], Access::ReadExecute),
            (flash[1], Access::ReadExecute),
            (ram[0], Access::ReadWrite),
            (ram[1], Access::ReadWrite),
        ]
        .into_iter()
        .chain(
            protection
                .shared
                .iter()
                .map(|r| (shared_region(*r).unwrap_or(Region::OFF), Access::ReadWrite)),
        );
        for (n, (slot, (region, access))) in out.iter_mut().zip(opened).enumerate() {
            *slot = (region.rbar(n as u32), region.rasr(access));
        }
        for (n, slot) in out.iter_mut().enumerate().skip(FIRST_SHARED + MAX_SHARED) {
            *slot = (Region::OFF.rbar(n as u32), 0);
        }
        out
    }
}

/// The one region that opens exactly `range`, if there is one.
pub fn shared_region(range: Range) -> Option<Region> {
    let end = range.start.checked_add(range.len)?;
    let mut one = [Region::OFF];
    (range.len != 0 && cover(range.start, end, &mut one)).then_some(one[0])
}

impl MemoryProtection for Mpu {
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        let len = min_len.max(MIN_REGION as u32).checked_next_power_of_two()?;
        let start = match fixed {
            Some(f) => f,
            None => window.start.checked_add(len - 1)? & !(len - 1),
        };
        if start % len != 0 {
            return None;
        }
        window
            .contains_range(start, len)
            .then_some(Range { start, len })
    }

    fn accessible_end(&self, mem_start: u32, brk: u32, limit: u32) -> Option<u32> {
        let n = u64::from(brk.checked_sub(mem_start)?);
        if n == 0 {
            return Some(mem_start);
        }
        let g = ram_granularity(n);
        let rounded = n.div_ceil(g) * g;
        let size = rounded.next_power_of_two().max(MIN_REGION);
        if u64::from(mem_start) % size != 0 {
            return None;
        }
        let end = u32::try_from(u64::from(mem_start) + rounded).ok()?;
        (end <= limit).then_some(end)
    }

    fn can_share(&self, range: Range) -> bool {
        shared_region(range).is_some()
    }

    fn configure(&self, protection: &ProcessProtection) {
        if self.configured.get() == Some(*protection) {
            return;
        }
        self.configured.set(Some(*protection));
        #[cfg(all(target_arch = "arm", target_os = "none"))]
        crate::switch::write_mpu(&Self::regions(protection));
        #[cfg(not(all(target_arch = "arm", target_os = "none")))]
        let _ = protection;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// Every opened byte range of `regions`, merged.
    fn opened(regions: &[Region]) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = regions.iter().flat_map(|r| r.opened()).collect();
        all.sort();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in all {
            match merged.last_mut() {
                Some(last) if last.1 >= s => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    fn check_exact(start: u32, end: u32, regions: &[Region]) {
        let want: Vec<(u64, u64)> = if start == end {
            Vec::new()
        } else {
            std::vec![(u64::from(start), u64::from(end))]
        };
        assert_eq!(
            opened(regions),
            want,
            "[{start:#x}, {end:#x}): {regions:x?}"
        );
        for r in regions.iter().filter(|r| r.enabled()) {
            assert_eq!(u64::from(r.base) % r.size(), 0, "aligned: {r:x?}");
        }
    }

    #[test]
    fn power_of_two_tbfs_take_one_region() {
        for (start, len) in [(0x4_0000, 0x800), (0x4_0800, 0x800), (0x4_2000, 0x2000)] {
            let mut out = [Region::OFF; 2];
            assert!(cover(start, start + len, &mut out));
            check_exact(start, start + len, &out);
            assert!(!out[1].enabled());
        }
    }

    #[test]
    fn cover_never_opens_beyond_the_range() {
        // Starts and lengths on 32-byte granules around the kernel/app
        // boundary: a covered range is exact; a partial cover opens only a
        // prefix of it (the kernel below 0x4_0000 is never exposed).
        let mut exact = 0;
        for start in (0x3_F000u32..0x4_1000).step_by(0x120) {
            for len in (32u32..0x3000).step_by(0x60) {
                let start = start & !31;
                let mut out = [Region::OFF; 2];
                let end = start + len;
                if cover(start, end, &mut out) {
                    exact += 1;
                    check_exact(start, end, &out);
                } else {
                    for (s, e) in opened(&out) {
                        assert!(s >= u64::from(start) && e <= u64::from(end), "{out:x?}");
                    }
                }
            }
        }
        assert!(exact > 100, "{exact}");
    }

    #[test]
    fn region_registers() {
        let r = Region {
            base: 0x4_0000,
            size_log2: 13,
            srd: 0b1100_0000,
        };
        assert_eq!(r.rbar(2), 0x4_0000 | 0x10 | 2);
        let rasr = r.rasr(Access::ReadWrite);
        assert_eq!(rasr & 1, 1, "enabled");
        assert_eq!((rasr >> 1) & 0x1F, 12, "SIZE = log2 - 1");
        assert_eq!((rasr >> 8) & 0xFF, 0b1100_0000, "SRD");
        assert_eq!((rasr >> 24) & 7, 0b011, "full access");
        assert_ne!(rasr & (1 << 28), 0, "RAM is never executable");
        let rx = r.rasr(Access::ReadExecute);
        assert_eq!((rx >> 24) & 7, 0b110, "read-only");
        assert_eq!(rx & (1 << 28), 0, "executable");
        assert_eq!(Region::OFF.rasr(Access::ReadWrite), 0);
    }

    #[test]
    fn ram_blocks_are_power_of_two_aligned() {
        let mpu = Mpu::new();
        let window = Range {
            start: 0x8_0100,
            len: 0x4_0000 - 0x100,
        };
        let b = mpu.place_process_ram(window, 0x1234, None).unwrap();
        assert_eq!(
            b,
            Range {
                start: 0x8_2000,
                len: 0x2000
            }
        );
        // Fixed: exact, if aligned to the block.
        let w = Range {
            start: 0x8_0000,
            len: 0x4_0000,
        };
        assert_eq!(
            mpu.place_process_ram(w, 0x1234, Some(0x8_4000)),
            Some(Range {
                start: 0x8_4000,
                len: 0x2000
            })
        );
        assert_eq!(mpu.place_process_ram(w, 0x1234, Some(0x8_1000)), None);
        // Too large for the window.
        assert_eq!(mpu.place_process_ram(w, 0x4_0001, None), None);
    }

    #[test]
    fn accessible_ends_are_exactly_openable_and_stay_below_the_grants() {
        let mpu = Mpu::new();
        let mut checked = 0;
        for log2 in 8..=16u32 {
            let len = 1u32 << log2;
            let start = 0x8_0000u32;
            // Grant region: the top eighth of the block, and a tight one.
            for limit in [start + len - len / 8, start + len - 4] {
                for brk in (start..=limit).step_by(((len / 97) | 4) as usize) {
                    match mpu.accessible_end(start, brk, limit) {
                        Some(end) => {
                            assert!(end >= brk && end <= limit, "{brk:#x} -> {end:#x}");
                            let regions = ram_regions(start, end - start)
                                .unwrap_or_else(|| panic!("{end:#x} not openable"));
                            check_exact(start, end, &regions);
                            checked += 1;
                        }
                        None => {
                            // Refused only when rounding would reach the
                            // grant region.
                            let n = u64::from(brk - start);
                            let g = ram_granularity(n);
                            assert!(u64::from(start) + n.div_ceil(g) * g > u64::from(limit));
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    #[test]
    fn rounding_granularity() {
        let mpu = Mpu::new();
        let s = 0x8_0000;
        assert_eq!(mpu.accessible_end(s, s, s + 0x1000), Some(s));
        // The initial 32-byte frame.
        assert_eq!(mpu.accessible_end(s, s + 32, s + 0x1000), Some(s + 32));
        // 5000 bytes: S = 8 KiB, granularity 128.
        assert_eq!(mpu.accessible_end(s, s + 5000, s + 0x2000), Some(s + 5120));
        // 700 bytes: S = 1 KiB, subregions 128 (no second level).
        assert_eq!(mpu.accessible_end(s, s + 700, s + 0x1000), Some(s + 768));
        // Rounding would reach the grants: refused.
        assert_eq!(mpu.accessible_end(s, s + 5000, s + 5100), None);
        // A start not aligned to the region: refused, never widened.
        assert_eq!(mpu.accessible_end(s + 0x100, s + 0x1100, s + 0x4000), None);
        assert_eq!(mpu.accessible_end(s, s - 4, s + 0x1000), None);
    }

    #[test]
    fn shared_buffers_take_one_exact_region_or_are_refused() {
        let mpu = Mpu::new();
        let r = |start, len| Range { start, len };
        for (range, ok) in [
            (r(0x8_0100, 0x40), true),    // a 64-byte region
            (r(0x8_0000, 0x1000), true),  // 4 KiB
            (r(0x8_0400, 0xC00), true),   // 3 of 4 subregions of 4 KiB
            (r(0x8_0010, 0x30), false),   // not on a 32-byte boundary
            (r(0x8_0000, 0x1100), false), // needs two regions
            (r(0x8_0000, 0), false),
            (r(0xFFFF_FFE0, 0x40), false),
        ] {
            assert_eq!(mpu.can_share(range), ok, "{range:x?}");
            if ok {
                let region = shared_region(range).unwrap();
                check_exact(range.start, range.end(), &[region]);
            }
        }
        let mut p = ProcessProtection::new(r(0x4_0000, 0x800), r(0x8_0000, 0x1000));
        p.shared[1] = r(0x8_4100, 0x40);
        let regs = Mpu::regions(&p);
        assert_eq!(regs[4].1, 0, "unused shared slot is off");
        assert_eq!(regs[5].0, 0x8_4100 | 0x10 | 5);
        assert_ne!(regs[5].1 & (1 << 28), 0, "never executable");
        assert_eq!((regs[5].1 >> 24) & 7, 0b011, "read-write");
        assert_eq!(regs[7], (0x10 | 7, 0));
    }

    #[test]
    fn regions_for_a_process() {
        let p = ProcessProtection::new(
            Range {
                start: 0x4_0000,
                len: 0x800,
            },
            Range {
                start: 0x8_0000,
                len: 5248,
            },
        );
        let r = Mpu::regions(&p);
        assert_eq!(r[0].0, 0x4_0000 | 0x10);
        assert_eq!(r[1].1, 0, "one flash region is enough");
        assert_eq!(r[2].0, 0x8_0000 | 0x10 | 2);
        assert_eq!(r[3].0, 0x8_1400 | 0x10 | 3);
        assert_ne!(r[3].1 & 1, 0, "a second region for the last 128 bytes");
        // A RAM range accessible_end would never give opens nothing.
        let bad = ProcessProtection {
            ram: Range {
                start: 0x8_0100,
                len: 0x1000,
            },
            ..p
        };
        assert_eq!(Mpu::regions(&bad)[2].1, 0);
        assert_eq!(Mpu::regions(&bad)[3].1, 0);
    }
}
