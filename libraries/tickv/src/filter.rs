//! The optional per-region key filter (feature `filter`): one small Bloom
//! filter per region, in RAM the caller provides, holding the key of every
//! record header in the region. A lookup the index cannot answer scans only
//! the regions whose filter may hold the key, so a miss reads about
//! `false positive rate x regions` regions' headers instead of the whole
//! log, and a get about one region.
//!
//! The filters are RAM only: mount rebuilds them from the record headers it
//! reads anyway; an append or a compaction copy adds its key before the
//! first byte is programmed; an erase clears its region's filter. A filter
//! therefore never lacks the key of a record in its region (it may hold
//! keys that are no longer there), whatever a power cut interrupts.

/// Bit positions set per key. Five suits the sizes a region's filter is
/// given in practice (8 to 24 bits per record of the region): about 2.2 %,
/// 0.14 % and 0.02 % false positives (`(1 - e^(-5n/m))^5` for `n`
/// records on `m` bits).
const PROBES: usize = 5;

/// Largest filter kept per region, in bytes (so bit numbers fit 32 bits).
const MAX_PER_REGION: usize = 1 << 20;

/// The murmur3 finaliser: every input bit moves every output bit.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// Sets every byte of `s` to `value` with a loop the compiler does not
/// turn into a call of the byte-wise `memset`, which nothing else in the
/// engine needs (it would add some 200 bytes of ROM).
fn set_all(s: &mut [u8], value: u8) {
    for b in s {
        *b = core::hint::black_box(value);
    }
}

/// The filters: `per` bytes per region of the caller's slice. The default
/// has no storage: every region may hold every key.
#[derive(Default)]
pub(crate) struct Filter<'x> {
    bits: &'x mut [u8],
    /// Bytes per region; 0 turns the filter off (every region may hold
    /// every key).
    per: usize,
}

impl<'x> Filter<'x> {
    /// Splits `bits` evenly between `regions` (the remainder is unused).
    pub fn new(bits: &'x mut [u8], regions: u32) -> Self {
        let per = (bits.len() / regions.max(1) as usize).min(MAX_PER_REGION);
        Filter { bits, per }
    }

    /// Bytes per region.
    pub fn per_region(&self) -> usize {
        self.per
    }

    /// Sets (`set`) or tests `key`'s bits in `region`'s filter; returns
    /// whether every one was set before. One function for both, out of
    /// line: it is the filter's ROM.
    #[inline(never)]
    fn probe(&mut self, region: u32, key: u64, set: bool) -> bool {
        // Keys are meant to be hashes, but tests and tools use small
        // numbers: mix them (32-bit operations, cheap on the targets) so
        // that every bit of the key moves every probe.
        let hi = (key >> 32) as u32;
        let mut a = mix(key as u32 ^ mix(hi));
        let b = mix(a ^ hi) | 1;
        // Double hashing; each 32-bit probe is scaled onto the region's
        // bits (a multiply, not a division).
        let nbits = (self.per * 8) as u64;
        let base = region as usize * self.per;
        let mut all = self.per != 0;
        for _ in 0..PROBES {
            let bit = ((a as u64 * nbits) >> 32) as usize;
            a = a.wrapping_add(b);
            let m = 1 << (bit % 8);
            if let Some(byte) = self.bits.get_mut(base + bit / 8) {
                all &= *byte & m != 0;
                if set {
                    *byte |= m;
                }
            }
        }
        all
    }

    /// Records that `region` may hold a record of `key`. Out of line: it is
    /// called from three places.
    #[inline(never)]
    pub fn add(&mut self, region: u32, key: u64) {
        if self.per != 0 {
            self.probe(region, key, true);
        }
    }

    /// False only if `region` holds no record of `key`.
    pub fn may_hold(&mut self, region: u32, key: u64) -> bool {
        self.per == 0 || self.probe(region, key, false)
    }

    /// Forgets every key of `region` (it was erased).
    pub fn clear(&mut self, region: u32) {
        let base = region as usize * self.per;
        if let Some(s) = self.bits.get_mut(base..base + self.per) {
            set_all(s, 0);
        }
    }

    /// Forgets every key of every region (before mount rebuilds them).
    pub fn clear_all(&mut self) {
        set_all(self.bits, 0);
    }

    /// Makes every region's filter answer "may hold" for every key (before
    /// a lazy mount's build rebuilds them, region by region).
    #[cfg(feature = "lazy")]
    pub fn fill_all(&mut self) {
        set_all(self.bits, 0xFF);
    }

    /// The storage, for a caller that takes the engine apart.
    pub fn into_bits(self) -> &'x mut [u8] {
        self.bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_every_added_key_and_forgets_on_clear() {
        let mut bits = [0u8; 3 * 16 + 5];
        let mut f = Filter::new(&mut bits, 3);
        assert_eq!(f.per_region(), 17);
        for k in 0..20u64 {
            f.add(1, k * 7919);
        }
        assert!((0..20u64).all(|k| f.may_hold(1, k * 7919)));
        // Other regions stay empty; a region's filter stays in its bytes.
        assert!((0..20u64).all(|k| !f.may_hold(0, k * 7919) && !f.may_hold(2, k * 7919)));
        let false_hits = (1000..3000u64).filter(|&k| f.may_hold(1, k)).count();
        assert!(false_hits < 200, "{false_hits} false positives in 2000");
        f.clear(1);
        assert!((0..20u64).all(|k| !f.may_hold(1, k * 7919)));
        f.add(2, 5);
        f.clear_all();
        assert!(!f.may_hold(2, 5));
        #[cfg(feature = "lazy")]
        {
            f.fill_all();
            assert!((0..3).all(|r| (0..100u64).all(|k| f.may_hold(r, k))));
        }
    }

    #[test]
    fn no_storage_means_every_region_may_hold_every_key() {
        let mut bits = [0u8; 2];
        let mut f = Filter::new(&mut bits, 4);
        f.add(3, 1);
        f.clear(3);
        assert!(f.may_hold(3, 99) && f.may_hold(0, 1));
        assert!(Filter::default().may_hold(0, 0));
    }
}
