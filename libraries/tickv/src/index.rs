//! The optional RAM index: a sorted array of (key, location) pairs in storage
//! the caller provides. With it, a get reads exactly one record and existence
//! checks read nothing. Without room for every key it degrades to a partial
//! index and lookups of unindexed keys scan flash.

/// One index slot: 12 bytes, 4-byte aligned (the key is split so that the
/// entry does not need 8-byte alignment and padding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IndexEntry {
    key_lo: u32,
    key_hi: u32,
    loc: u32,
}

impl IndexEntry {
    /// An unused slot, for `const` initialisers (a board's index can then
    /// live in `.bss`).
    pub const EMPTY: IndexEntry = IndexEntry {
        key_lo: 0,
        key_hi: 0,
        loc: 0,
    };

    fn key(&self) -> u64 {
        ((self.key_hi as u64) << 32) | self.key_lo as u64
    }
}

/// The index proper: entries `[..len]` of the caller's slice, sorted by key.
pub(crate) struct Index<'x> {
    slots: &'x mut [IndexEntry],
    len: usize,
    /// True while every live key is in the index, so that a miss proves the
    /// key is absent.
    pub complete: bool,
}

impl<'x> Index<'x> {
    pub fn new(slots: &'x mut [IndexEntry]) -> Self {
        Index {
            slots,
            len: 0,
            complete: false,
        }
    }

    pub fn into_slots(self) -> &'x mut [IndexEntry] {
        self.slots
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.complete = true;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn search(&self, key: u64) -> Result<usize, usize> {
        self.slots[..self.len].binary_search_by(|e| e.key().cmp(&key))
    }

    /// Location of the newest record of `key`, if indexed.
    pub fn get(&self, key: u64) -> Option<u32> {
        self.search(key).ok().map(|i| self.slots[i].loc)
    }

    /// Records that `key`'s newest record is at `loc`. When the index is
    /// full the key is left out and the index stops being complete.
    pub fn set(&mut self, key: u64, loc: u32) {
        match self.search(key) {
            Ok(i) => self.slots[i].loc = loc,
            Err(i) => {
                if self.len == self.slots.len() {
                    self.complete = false;
                    return;
                }
                // Append, then bubble into place: adjacent swaps keep the
                // code small (no memmove in a no_std build).
                self.slots[self.len] = IndexEntry {
                    key_lo: key as u32,
                    key_hi: (key >> 32) as u32,
                    loc,
                };
                for j in (i..self.len).rev() {
                    self.slots.swap(j, j + 1);
                }
                self.len += 1;
            }
        }
    }

    /// Updates the location of an indexed key; unindexed keys stay out.
    pub fn relocate(&mut self, key: u64, loc: u32) {
        if let Ok(i) = self.search(key) {
            self.slots[i].loc = loc;
        }
    }

    pub fn remove(&mut self, key: u64) {
        if let Ok(i) = self.search(key) {
            for j in i..self.len - 1 {
                self.slots.swap(j, j + 1);
            }
            self.len -= 1;
        }
    }

    /// Keeps only the entries whose location satisfies `keep`, in order.
    #[cfg(feature = "lazy")]
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let mut n = 0;
        for i in 0..self.len {
            let e = self.slots[i];
            if keep(e.loc) {
                // Field by field: a whole-entry copy onto a slot that may be
                // the same one compiles to a call of `memmove` (some 1.5 KiB
                // of ROM that nothing else in the engine needs).
                let d = &mut self.slots[n];
                d.key_lo = e.key_lo;
                d.key_hi = e.key_hi;
                d.loc = e.loc;
                n += 1;
            }
        }
        self.len = n;
    }

    /// The smallest indexed key greater than `after` (or the smallest of all).
    #[cfg(feature = "walk")]
    pub fn next_after(&self, after: Option<u64>) -> Option<(u64, u32)> {
        let i = match after {
            None => 0,
            Some(k) => match self.search(k) {
                Ok(i) => i + 1,
                Err(i) => i,
            },
        };
        self.slots[..self.len].get(i).map(|e| (e.key(), e.loc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_twelve_bytes() {
        assert_eq!(core::mem::size_of::<IndexEntry>(), 12);
    }

    #[test]
    fn sorted_insert_update_remove_and_overflow() {
        let mut slots = [IndexEntry::default(); 3];
        let mut ix = Index::new(&mut slots);
        ix.clear();
        ix.set(u64::MAX, 1);
        ix.set(0, 2);
        ix.set(1 << 40, 3);
        assert!(ix.complete);
        #[cfg(feature = "walk")]
        {
            assert_eq!(ix.next_after(None), Some((0, 2)));
            assert_eq!(ix.next_after(Some(0)), Some((1 << 40, 3)));
            assert_eq!(ix.next_after(Some(5)), Some((1 << 40, 3)));
            assert_eq!(ix.next_after(Some(u64::MAX)), None);
        }
        ix.set(0, 9);
        assert_eq!(ix.get(0), Some(9));
        ix.set(7, 4);
        assert!(
            !ix.complete,
            "a key that does not fit makes the index partial"
        );
        assert_eq!(ix.get(7), None);
        ix.remove(1 << 40);
        assert_eq!(ix.len(), 2);
        ix.relocate(u64::MAX, 11);
        ix.relocate(12345, 11);
        assert_eq!(ix.get(u64::MAX), Some(11));
        assert_eq!(ix.get(12345), None);
    }
}
