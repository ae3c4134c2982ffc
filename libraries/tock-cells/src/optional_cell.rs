//! [`OptionalCell`]: a `Cell<Option<T>>` with `Option`-style helpers.

use core::cell::Cell;

/// A cell that may hold a `Copy` value.
///
/// This is a `Cell<Option<T>>` with the helpers one would reach for on an
/// `Option`. It suits small values that are naturally absent some of the
/// time: a client reference registered after boot, the id of the process
/// that owns a peripheral, a pending request. Every read returns a copy, so
/// no borrow of the contents ever escapes the cell and the closures given
/// to [`map`](Self::map) and friends receive the value itself.
///
/// Unlike [`TakeCell`](crate::TakeCell) and [`MapCell`](crate::MapCell),
/// reading does not empty the cell: a nested call from inside a closure
/// sees the same value.
pub struct OptionalCell<T> {
    value: Cell<Option<T>>,
}

impl<T: Copy> OptionalCell<T> {
    /// Creates a cell that holds `value`.
    pub const fn new(value: T) -> Self {
        OptionalCell {
            value: Cell::new(Some(value)),
        }
    }

    /// Creates a cell that holds nothing.
    pub const fn empty() -> Self {
        OptionalCell {
            value: Cell::new(None),
        }
    }

    /// Stores `value` in the cell, discarding any previous value.
    pub fn set(&self, value: T) {
        self.value.set(Some(value));
    }

    /// Stores `value` (which may be `None`) in the cell, discarding any
    /// previous value.
    pub fn insert(&self, value: Option<T>) {
        self.value.set(value);
    }

    /// Stores `value` in the cell and returns the previous value.
    pub fn replace(&self, value: T) -> Option<T> {
        self.value.replace(Some(value))
    }

    /// Empties the cell.
    pub fn clear(&self) {
        self.value.set(None);
    }

    /// Returns `true` if the cell holds a value.
    pub fn is_some(&self) -> bool {
        self.value.get().is_some()
    }

    /// Returns `true` if the cell holds nothing.
    pub fn is_none(&self) -> bool {
        self.value.get().is_none()
    }

    /// Returns a copy of the contents, leaving the cell unchanged.
    pub fn get(&self) -> Option<T> {
        self.value.get()
    }

    /// Returns the contents and empties the cell.
    pub fn take(&self) -> Option<T> {
        self.value.take()
    }

    /// Calls `f` with a copy of the value, if any, and returns its result.
    pub fn map<F, R>(&self, f: F) -> Option<R>
    where
        F: FnOnce(T) -> R,
    {
        self.value.get().map(f)
    }

    /// Like [`map`](Self::map), but returns `default` if the cell is empty.
    pub fn map_or<F, R>(&self, default: R, f: F) -> R
    where
        F: FnOnce(T) -> R,
    {
        self.value.get().map_or(default, f)
    }

    /// Like [`map`](Self::map), but calls `default` to produce the result
    /// if the cell is empty.
    pub fn map_or_else<D, F, R>(&self, default: D, f: F) -> R
    where
        D: FnOnce() -> R,
        F: FnOnce(T) -> R,
    {
        self.value.get().map_or_else(default, f)
    }

    /// Like [`map`](Self::map), for closures that themselves return an
    /// `Option`; the two levels of `Option` are flattened.
    pub fn and_then<F, R>(&self, f: F) -> Option<R>
    where
        F: FnOnce(T) -> Option<R>,
    {
        self.value.get().and_then(f)
    }

    /// Returns a copy of the value, or `default` if the cell is empty.
    pub fn unwrap_or(&self, default: T) -> T {
        self.value.get().unwrap_or(default)
    }

    /// Returns a copy of the value, or calls `default` if the cell is
    /// empty.
    pub fn unwrap_or_else<D>(&self, default: D) -> T
    where
        D: FnOnce() -> T,
    {
        self.value.get().unwrap_or_else(default)
    }

    /// Returns `true` if the cell holds a value equal to `expected`.
    pub fn contains(&self, expected: &T) -> bool
    where
        T: PartialEq,
    {
        self.value.get().as_ref() == Some(expected)
    }
}

impl<T: Copy> Default for OptionalCell<T> {
    /// An empty cell.
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::OptionalCell;

    #[test]
    fn new_and_empty() {
        let full = OptionalCell::new(3u8);
        assert!(full.is_some());
        assert!(!full.is_none());
        assert_eq!(full.get(), Some(3));

        let empty: OptionalCell<u8> = OptionalCell::empty();
        assert!(empty.is_none());
        assert!(!empty.is_some());
        assert_eq!(empty.get(), None);

        let default: OptionalCell<u8> = OptionalCell::default();
        assert!(default.is_none());
    }

    #[test]
    fn set_overwrites() {
        let cell = OptionalCell::empty();
        cell.set(1u32);
        assert_eq!(cell.get(), Some(1));
        cell.set(2);
        assert_eq!(cell.get(), Some(2));
    }

    #[test]
    fn insert_accepts_some_and_none() {
        let cell = OptionalCell::new(1u32);
        cell.insert(Some(5));
        assert_eq!(cell.get(), Some(5));
        cell.insert(None);
        assert!(cell.is_none());
    }

    #[test]
    fn replace_returns_the_previous_value() {
        let cell = OptionalCell::empty();
        assert_eq!(cell.replace(10i16), None);
        assert_eq!(cell.replace(-4), Some(10));
        assert_eq!(cell.get(), Some(-4));
    }

    #[test]
    fn clear_empties() {
        let cell = OptionalCell::new('x');
        cell.clear();
        assert!(cell.is_none());
        assert_eq!(cell.get(), None);
    }

    #[test]
    fn get_does_not_empty_but_take_does() {
        let cell = OptionalCell::new(42usize);
        assert_eq!(cell.get(), Some(42));
        assert_eq!(cell.get(), Some(42));
        assert_eq!(cell.take(), Some(42));
        assert!(cell.is_none());
        assert_eq!(cell.take(), None);
    }

    #[test]
    fn map_passes_a_copy_and_keeps_the_value() {
        let full = OptionalCell::new(6u32);
        let empty: OptionalCell<u32> = OptionalCell::empty();
        assert_eq!(full.map(|v| v * 7), Some(42));
        assert_eq!(full.get(), Some(6));
        let mut called = false;
        assert_eq!(empty.map(|_| called = true), None);
        assert!(!called);
    }

    #[test]
    fn nested_access_sees_the_value() {
        let cell = OptionalCell::new(2u32);
        let seen = cell.map(|outer| cell.map(|inner| outer + inner));
        assert_eq!(seen, Some(Some(4)));
        // A change made inside the closure sticks.
        cell.map(|v| cell.set(v + 1));
        assert_eq!(cell.get(), Some(3));
    }

    #[test]
    fn map_or_and_map_or_else() {
        let full = OptionalCell::new(4u32);
        let empty: OptionalCell<u32> = OptionalCell::empty();
        assert_eq!(full.map_or(0, |v| v + 1), 5);
        assert_eq!(empty.map_or(0, |v| v + 1), 0);
        assert_eq!(full.map_or_else(|| 0, |v| v * 2), 8);
        assert_eq!(empty.map_or_else(|| 99, |v| v * 2), 99);
    }

    #[test]
    fn and_then_flattens() {
        let full = OptionalCell::new(10u8);
        let empty: OptionalCell<u8> = OptionalCell::empty();
        assert_eq!(full.and_then(|v| v.checked_add(5)), Some(15));
        assert_eq!(full.and_then(|v| v.checked_add(250)), None);
        assert_eq!(empty.and_then(Some), None);
    }

    #[test]
    fn unwrap_or_and_unwrap_or_else() {
        let full = OptionalCell::new(1u64);
        let empty: OptionalCell<u64> = OptionalCell::empty();
        assert_eq!(full.unwrap_or(9), 1);
        assert_eq!(empty.unwrap_or(9), 9);
        assert_eq!(full.unwrap_or_else(|| 9), 1);
        let mut called = false;
        assert_eq!(
            empty.unwrap_or_else(|| {
                called = true;
                8
            }),
            8
        );
        assert!(called);
    }

    #[test]
    fn contains_compares_with_the_value() {
        let cell = OptionalCell::new(5i32);
        assert!(cell.contains(&5));
        assert!(!cell.contains(&6));
        cell.clear();
        assert!(!cell.contains(&5));
    }

    #[test]
    fn works_with_shared_references() {
        let target = [1u8, 2, 3];
        let cell: OptionalCell<&[u8]> = OptionalCell::empty();
        cell.set(&target);
        assert_eq!(cell.map(|s| s.len()), Some(3));
        assert_eq!(cell.get(), Some(&target[..]));
    }
}
