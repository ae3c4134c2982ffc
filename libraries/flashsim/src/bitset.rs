//! A fixed-size set of flags packed into `u64` words, with range operations
//! that work a whole word at a time.

/// Fixed-length bitset. Bit `i` lives in `words[i / 64]` at position `i % 64`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BitSet {
    words: Vec<u64>,
    len: usize,
}

/// Calls `f(word_index, mask)` for every storage word overlapped by the bit
/// range `[start, end)`, where `mask` selects the bits of that word that lie
/// inside the range.
#[inline]
fn for_each_mask(start: usize, end: usize, mut f: impl FnMut(usize, u64)) {
    let mut i = start;
    while i < end {
        let lo = i % 64;
        let n = (64 - lo).min(end - i);
        let mask = if n == 64 {
            u64::MAX
        } else {
            ((1u64 << n) - 1) << lo
        };
        f(i / 64, mask);
        i += n;
    }
}

impl BitSet {
    /// A set of `len` flags, all clear.
    pub(crate) fn new(len: usize) -> BitSet {
        BitSet {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Whether flag `i` is set. Panics if `i >= len`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        self.words[i / 64] & (1u64 << (i % 64)) != 0
    }

    /// Sets flag `i`. Panics if `i >= len`.
    #[inline]
    pub(crate) fn set(&mut self, i: usize) {
        assert!(i < self.len, "bit index {i} out of range {}", self.len);
        self.words[i / 64] |= 1u64 << (i % 64);
    }

    /// Sets every flag in `[start, end)`.
    pub(crate) fn set_range(&mut self, start: usize, end: usize) {
        debug_assert!(start <= end && end <= self.len);
        let words = &mut self.words;
        for_each_mask(start, end, |w, m| words[w] |= m);
    }

    /// Clears every flag in `[start, end)`.
    pub(crate) fn clear_range(&mut self, start: usize, end: usize) {
        debug_assert!(start <= end && end <= self.len);
        let words = &mut self.words;
        for_each_mask(start, end, |w, m| words[w] &= !m);
    }

    /// Whether any flag in `[start, end)` is set.
    pub(crate) fn any_in_range(&self, start: usize, end: usize) -> bool {
        debug_assert!(start <= end && end <= self.len);
        let mut any = false;
        for_each_mask(start, end, |w, m| any |= self.words[w] & m != 0);
        any
    }

    /// Number of set flags.
    pub(crate) fn count_ones(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Overwrites this set with `other`, which must have the same length.
    /// Does not allocate.
    pub(crate) fn copy_from(&mut self, other: &BitSet) {
        assert_eq!(self.len, other.len, "bitset length mismatch");
        self.words.copy_from_slice(&other.words);
    }
}

#[cfg(test)]
mod tests {
    use super::BitSet;

    /// Reference model: one bool per flag.
    fn model_check(set: &BitSet, model: &[bool]) {
        for (i, &b) in model.iter().enumerate() {
            assert_eq!(set.get(i), b, "bit {i}");
        }
        assert_eq!(set.count_ones(), model.iter().filter(|&&b| b).count());
    }

    #[test]
    fn ranges_match_a_bool_model() {
        let len = 300;
        let mut set = BitSet::new(len);
        let mut model = vec![false; len];
        // Deterministic pseudo-random ranges, crossing word boundaries.
        let mut x: u32 = 12345;
        let mut next = |bound: usize| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 8) as usize % bound
        };
        for round in 0..2000 {
            let a = next(len + 1);
            let b = next(len + 1);
            let (s, e) = (a.min(b), a.max(b));
            let expect_any = model[s..e].iter().any(|&b| b);
            assert_eq!(
                set.any_in_range(s, e),
                expect_any,
                "round {round} any [{s},{e})"
            );
            if round % 2 == 0 {
                set.set_range(s, e);
                model[s..e].iter_mut().for_each(|b| *b = true);
            } else {
                set.clear_range(s, e);
                model[s..e].iter_mut().for_each(|b| *b = false);
            }
            model_check(&set, &model);
        }
    }

    #[test]
    fn full_words_and_empty_ranges() {
        let mut set = BitSet::new(128);
        set.set_range(0, 128);
        assert_eq!(set.count_ones(), 128);
        set.clear_range(64, 64);
        assert_eq!(set.count_ones(), 128);
        assert!(!set.any_in_range(5, 5));
        set.clear_range(0, 64);
        assert!(!set.any_in_range(0, 64));
        assert!(set.any_in_range(63, 65));
        set.set(3);
        assert!(set.get(3));
        let mut other = BitSet::new(128);
        other.copy_from(&set);
        assert!(other == set);
    }
}
