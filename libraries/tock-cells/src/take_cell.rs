//! [`TakeCell`]: a slot for an optional mutable reference.

use core::cell::Cell;

/// A slot that may hold a `&'a mut T`, shared through `&self`.
///
/// The typical use is a buffer that a driver owns between operations: the
/// driver takes the reference out of the cell to give it to the hardware
/// (or to a lower layer) and puts it back when the operation completes.
/// Because the cell only ever gives the reference away by moving it out,
/// there is never more than one live `&mut T`.
///
/// `T` may be unsized, so `TakeCell<'a, [u8]>` holds a byte buffer of any
/// length.
///
/// The closure-taking methods ([`map`](Self::map) and friends) move the
/// reference out of the cell for as long as the closure runs and put it
/// back afterwards. While the closure runs, the cell looks empty to any
/// code that reaches it, so a nested call on the same cell gets `None`.
pub struct TakeCell<'a, T: 'a + ?Sized> {
    slot: Cell<Option<&'a mut T>>,
}

impl<'a, T: ?Sized> TakeCell<'a, T> {
    /// Creates a cell that holds `value`.
    pub const fn new(value: &'a mut T) -> Self {
        TakeCell {
            slot: Cell::new(Some(value)),
        }
    }

    /// Creates a cell that holds nothing.
    pub const fn empty() -> Self {
        TakeCell {
            slot: Cell::new(None),
        }
    }

    /// Returns `true` if the cell holds nothing (including while a closure
    /// passed to [`map`](Self::map) is working on the contents).
    pub fn is_none(&self) -> bool {
        !self.is_some()
    }

    /// Returns `true` if the cell holds a reference.
    pub fn is_some(&self) -> bool {
        let current = self.slot.take();
        let present = current.is_some();
        self.slot.set(current);
        present
    }

    /// Moves the reference out of the cell, leaving it empty.
    pub fn take(&self) -> Option<&'a mut T> {
        self.slot.take()
    }

    /// Stores `value` in the cell. Whatever the cell held before is
    /// discarded; use [`replace`](Self::replace) to get it back instead.
    pub fn put(&self, value: Option<&'a mut T>) {
        self.slot.set(value);
    }

    /// Stores `value` in the cell and returns what it held before.
    pub fn replace(&self, value: &'a mut T) -> Option<&'a mut T> {
        self.slot.replace(Some(value))
    }

    /// Runs `f` on the contents, if any, and returns its result.
    ///
    /// The reference is moved out of the cell while `f` runs and put back
    /// when `f` returns, so calls on this cell from inside `f` see it as
    /// empty. Anything stored into the cell from inside `f` is overwritten
    /// when the original reference is put back.
    ///
    /// If `f` panics, the reference is not put back and the cell stays
    /// empty.
    pub fn map<F, R>(&self, f: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> R,
    {
        let value = self.slot.take()?;
        let result = f(&mut *value);
        self.slot.set(Some(value));
        Some(result)
    }

    /// Like [`map`](Self::map), but returns `default` if the cell is empty.
    pub fn map_or<F, R>(&self, default: R, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.map(f).unwrap_or(default)
    }

    /// Like [`map`](Self::map), but calls `default` to produce the result
    /// if the cell is empty.
    pub fn map_or_else<D, F, R>(&self, default: D, f: F) -> R
    where
        D: FnOnce() -> R,
        F: FnOnce(&mut T) -> R,
    {
        self.map(f).unwrap_or_else(default)
    }

    /// Like [`map`](Self::map), for closures that themselves return an
    /// `Option`; the two levels of `Option` are flattened.
    pub fn and_then<F, R>(&self, f: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> Option<R>,
    {
        self.map(f).flatten()
    }

    /// If the cell holds a reference, runs `modify` on it (as with
    /// [`map`](Self::map)); otherwise stores the reference returned by
    /// `make`.
    pub fn modify_or_replace<F, G>(&self, modify: F, make: G)
    where
        F: FnOnce(&mut T),
        G: FnOnce() -> &'a mut T,
    {
        if self.map(modify).is_none() {
            self.slot.set(Some(make()));
        }
    }
}

impl<T: ?Sized> Default for TakeCell<'_, T> {
    /// An empty cell.
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::TakeCell;

    #[test]
    fn new_holds_the_reference() {
        let mut value = 7u32;
        let cell = TakeCell::new(&mut value);
        assert!(cell.is_some());
        assert!(!cell.is_none());
        assert_eq!(cell.take().map(|v| *v), Some(7));
    }

    #[test]
    fn empty_and_default_hold_nothing() {
        let cell: TakeCell<'_, u32> = TakeCell::empty();
        assert!(cell.is_none());
        assert!(!cell.is_some());
        assert!(cell.take().is_none());

        let cell: TakeCell<'_, u32> = TakeCell::default();
        assert!(cell.is_none());
    }

    #[test]
    fn take_leaves_the_cell_empty() {
        let mut value = 1u8;
        let cell = TakeCell::new(&mut value);
        let taken = cell.take().expect("cell was full");
        *taken = 2;
        assert!(cell.is_none());
        assert!(cell.take().is_none());
        assert_eq!(value, 2);
    }

    #[test]
    fn put_stores_and_clears() {
        let mut a = 10i32;
        let mut b = 20i32;
        let cell = TakeCell::empty();
        cell.put(Some(&mut a));
        assert!(cell.is_some());
        // Putting over an occupied cell discards the old reference.
        cell.put(Some(&mut b));
        assert_eq!(cell.map(|v| *v), Some(20));
        cell.put(None);
        assert!(cell.is_none());
    }

    #[test]
    fn replace_returns_the_previous_reference() {
        let mut a = 1u16;
        let mut b = 2u16;
        let cell = TakeCell::empty();
        assert!(cell.replace(&mut a).is_none());
        let old = cell.replace(&mut b).expect("held a");
        assert_eq!(*old, 1);
        *old = 100;
        assert_eq!(cell.map(|v| *v), Some(2));
        assert_eq!(a, 100);
    }

    #[test]
    fn map_mutates_in_place_and_puts_back() {
        let mut value = 5u32;
        let cell = TakeCell::new(&mut value);
        assert_eq!(
            cell.map(|v| {
                *v += 1;
                *v * 2
            }),
            Some(12)
        );
        assert!(cell.is_some());
        assert_eq!(cell.map(|v| *v), Some(6));
        assert_eq!(value, 6);
    }

    #[test]
    fn map_on_empty_does_not_call_closure() {
        let cell: TakeCell<'_, u32> = TakeCell::empty();
        let mut called = false;
        assert_eq!(cell.map(|_| called = true), None);
        assert!(!called);
    }

    #[test]
    fn nested_map_sees_an_empty_cell() {
        let mut value = 3u32;
        let cell = TakeCell::new(&mut value);
        let outer = cell.map(|v| {
            assert!(cell.is_none());
            assert!(!cell.is_some());
            let inner = cell.map(|w| {
                *w = 999;
                *w
            });
            assert_eq!(inner, None);
            assert!(cell.take().is_none());
            *v += 1;
            *v
        });
        assert_eq!(outer, Some(4));
        // The value is back in place and was only changed by the outer
        // closure.
        assert!(cell.is_some());
        assert_eq!(cell.map(|v| *v), Some(4));
    }

    #[test]
    fn put_inside_map_is_overwritten_on_return() {
        let mut a = 1u32;
        let mut b = 2u32;
        let cell = TakeCell::new(&mut a);
        let b_ref = &mut b;
        cell.map(|_| cell.put(Some(b_ref)));
        assert_eq!(cell.map(|v| *v), Some(1));
    }

    #[test]
    fn panic_in_map_leaves_cell_empty() {
        use std::panic::{catch_unwind, AssertUnwindSafe};

        let mut value = 1u32;
        let cell = TakeCell::new(&mut value);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            cell.map(|_| panic!("closure failed"));
        }));
        assert!(outcome.is_err());
        assert!(cell.is_none());
    }

    #[test]
    fn map_or_and_map_or_else() {
        let mut value = 4u32;
        let full = TakeCell::new(&mut value);
        let empty: TakeCell<'_, u32> = TakeCell::empty();

        assert_eq!(full.map_or(0, |v| *v * 10), 40);
        assert_eq!(empty.map_or(0, |v| *v * 10), 0);

        assert_eq!(full.map_or_else(|| 0, |v| *v + 1), 5);
        let mut default_called = false;
        assert_eq!(
            empty.map_or_else(
                || {
                    default_called = true;
                    77
                },
                |v| *v
            ),
            77
        );
        assert!(default_called);
        // The full cell still holds its value.
        assert!(full.is_some());
    }

    #[test]
    fn and_then_flattens() {
        let mut value = 9u32;
        let full = TakeCell::new(&mut value);
        let empty: TakeCell<'_, u32> = TakeCell::empty();

        assert_eq!(full.and_then(|v| v.checked_sub(1)), Some(8));
        assert_eq!(full.and_then(|v| v.checked_sub(100)), None);
        assert!(full.is_some());
        assert_eq!(empty.and_then(|v| Some(*v)), None);
    }

    #[test]
    fn modify_or_replace_modifies_when_full() {
        let mut value = 1u32;
        let mut spare = 50u32;
        let cell = TakeCell::new(&mut value);
        cell.modify_or_replace(|v| *v += 1, || &mut spare);
        assert_eq!(cell.map(|v| *v), Some(2));
        assert_eq!(spare, 50);
    }

    #[test]
    fn modify_or_replace_fills_when_empty() {
        let mut spare = 50u32;
        let cell = TakeCell::empty();
        let mut modified = false;
        cell.modify_or_replace(|_| modified = true, || &mut spare);
        assert!(!modified);
        assert_eq!(cell.map(|v| *v), Some(50));
    }

    #[test]
    fn unsized_slices_work() {
        let mut buf = [0u8; 4];
        let cell: TakeCell<'_, [u8]> = TakeCell::new(&mut buf);
        assert_eq!(cell.map(|b| b.len()), Some(4));
        cell.map(|b| b.copy_from_slice(&[1, 2, 3, 4]));
        let taken = cell.take().expect("buffer present");
        assert_eq!(taken, &[1, 2, 3, 4]);
        cell.put(Some(&mut taken[..2]));
        assert_eq!(cell.map(|b| b.len()), Some(2));
    }
}
