//! What a memory protection port implements: RISC-V PMP, Cortex-M MPU.

use super::Range;

/// How many buffers of other processes one process can be given access
/// to at a time (IPC shares a client's buffer with a service). Every port
/// must be able to open this many extra read-write ranges; see
/// [`MemoryProtection::can_share`] for the shapes it accepts.
pub const MAX_SHARED: usize = 4;

/// What the memory protection unit opens to one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessProtection {
    /// Read + execute: the whole TBF.
    pub flash: Range,
    /// Read + write: `[mem_start, accessible_end)`.
    pub ram: Range,
    /// Read + write: buffers of other processes shared with this one
    /// (empty ranges are unused). Each passed
    /// [`MemoryProtection::can_share`] when it was shared.
    pub shared: [Range; MAX_SHARED],
}

impl ProcessProtection {
    /// Flash and RAM only, nothing shared.
    pub const fn new(flash: Range, ram: Range) -> ProcessProtection {
        ProcessProtection {
            flash,
            ram,
            shared: [Range { start: 0, len: 0 }; MAX_SHARED],
        }
    }

    /// Whether `[addr, addr + len)` is open for writing: inside the RAM
    /// range or inside one shared range.
    pub fn writable(&self, addr: u32, len: u32) -> bool {
        self.ram.contains_range(addr, len)
            || self
                .shared
                .iter()
                .any(|r| r.len != 0 && r.contains_range(addr, len))
    }
}

/// Memory protection (RISC-V PMP, Cortex-M MPU).
///
/// The kernel asks where process RAM may go and how far a break may reach,
/// and hands over the ranges to open before each switch. Ports with coarse
/// granularity (power-of-two regions, subregions) round here; the kernel
/// never assumes more than it is told.
pub trait MemoryProtection {
    /// Places a process RAM block of at least `min_len` bytes inside
    /// `window`, starting exactly at `fixed` when given. Returns the block
    /// (its start may be later than `window.start` for alignment) or `None`
    /// if it does not fit.
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range>;

    /// The end of the accessible RAM if the break is set to `brk` in a block
    /// starting at `mem_start`: `brk` itself or rounded up to the unit's
    /// granularity. `None` if that would reach beyond `limit` (the start of
    /// the grant region), which refuses the break.
    fn accessible_end(&self, mem_start: u32, brk: u32, limit: u32) -> Option<u32>;

    /// Whether the unit can open exactly `range` (no byte more) as an
    /// extra read-write region of another process. A range it would have
    /// to round (and so expose neighbouring memory) is refused; the
    /// kernel then shares nothing.
    fn can_share(&self, range: Range) -> bool;

    /// Opens exactly `protection` to userspace (and nothing else) for the
    /// next switch.
    fn configure(&self, protection: &ProcessProtection);
}

/// A protection unit with 4-byte granularity and no placement constraints
/// (what RISC-V PMP in TOR mode offers).
#[derive(Clone, Copy, Debug, Default)]
pub struct WordGranularProtection;

impl WordGranularProtection {
    /// Whether `range` is a non-empty run of whole words (what a unit of
    /// 4-byte granularity can open exactly).
    pub fn word_aligned(range: Range) -> bool {
        range.len != 0
            && range.start.is_multiple_of(4)
            && range.len.is_multiple_of(4)
            && range.start.checked_add(range.len).is_some()
    }

    /// Place and round at 4-byte granularity (shared by ports without
    /// tighter constraints).
    pub fn place(window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        let start = match fixed {
            Some(f) => f,
            None => window.start.checked_add(3)? & !3,
        };
        if start % 4 != 0 {
            return None;
        }
        let len = min_len.checked_add(3)? & !3;
        let block = Range { start, len };
        (window.contains_range(start, len)).then_some(block)
    }
}

impl MemoryProtection for WordGranularProtection {
    fn place_process_ram(&self, window: Range, min_len: u32, fixed: Option<u32>) -> Option<Range> {
        Self::place(window, min_len, fixed)
    }

    fn accessible_end(&self, _mem_start: u32, brk: u32, limit: u32) -> Option<u32> {
        let end = brk.checked_add(3)? & !3;
        (end <= limit).then_some(end)
    }

    fn can_share(&self, range: Range) -> bool {
        Self::word_aligned(range)
    }

    fn configure(&self, _: &ProcessProtection) {}
}
