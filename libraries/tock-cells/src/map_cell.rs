//! [`MapCell`]: an optional owned value worked on through closures.

use core::cell::RefCell;

/// A slot that may own a value of type `T`, shared through `&self`.
///
/// `MapCell` is for state that is not `Copy` (a struct, an array, a state
/// machine) and that a component needs to update from `&self` methods. The
/// value is reached through closures: [`map`](Self::map) gives the closure
/// a `&mut T` to the value where it lies (nothing is copied: a state
/// machine of a few hundred bytes is not moved in and out on every call,
/// which cost the KV stack thousands of instructions per request). While
/// the closure runs the cell counts as empty, so a nested call on the same
/// cell gets `None` instead of a second, aliasing
/// reference.
///
/// Moving the value in and out is a plain memory copy; for large values
/// that copy is the price of needing no `unsafe` code and no run-time
/// borrow flag.
pub struct MapCell<T> {
    /// Borrowed mutably while a closure runs on the value: every other
    /// access then sees an empty cell.
    slot: RefCell<Option<T>>,
}

impl<T> MapCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        MapCell {
            slot: RefCell::new(Some(value)),
        }
    }

    /// A cell holding nothing.
    pub const fn empty() -> Self {
        MapCell {
            slot: RefCell::new(None),
        }
    }

    /// Whether the cell holds a value (`false` while a closure runs on it).
    pub fn is_some(&self) -> bool {
        self.slot.try_borrow().is_ok_and(|v| v.is_some())
    }

    /// Whether the cell holds nothing.
    pub fn is_none(&self) -> bool {
        !self.is_some()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&self) -> Option<T> {
        self.slot.try_borrow_mut().ok()?.take()
    }

    /// Stores `value`, dropping the one held before. Inside a closure on
    /// this cell, `value` is dropped (the value being worked on stays).
    pub fn put(&self, value: T) {
        if let Ok(mut slot) = self.slot.try_borrow_mut() {
            *slot = Some(value);
        }
    }

    /// Stores `value` and returns the one held before. Inside a closure on
    /// this cell, `value` is dropped and `None` returned.
    pub fn replace(&self, value: T) -> Option<T> {
        self.slot.try_borrow_mut().ok()?.replace(value)
    }

    /// Runs `f` on the value in place; `None` if the cell is empty (or a
    /// closure already runs on it).
    pub fn map<F, R>(&self, f: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> R,
    {
        let mut slot = self.slot.try_borrow_mut().ok()?;
        slot.as_mut().map(f)
    }

    /// [`map`](Self::map), or `default` if the cell is empty.
    pub fn map_or<F, R>(&self, default: R, f: F) -> R
    where
        F: FnOnce(&mut T) -> R,
    {
        self.map(f).unwrap_or(default)
    }

    /// [`map`](Self::map), or `default()` if the cell is empty.
    pub fn map_or_else<D, F, R>(&self, default: D, f: F) -> R
    where
        D: FnOnce() -> R,
        F: FnOnce(&mut T) -> R,
    {
        self.map(f).unwrap_or_else(default)
    }

    /// [`map`](Self::map) with a closure that may itself return nothing.
    pub fn and_then<F, R>(&self, f: F) -> Option<R>
    where
        F: FnOnce(&mut T) -> Option<R>,
    {
        self.map(f).flatten()
    }

    /// Runs `modify` on the value, or stores `make()` if there is none.
    pub fn modify_or_replace<F, G>(&self, modify: F, make: G)
    where
        F: FnOnce(&mut T),
        G: FnOnce() -> T,
    {
        if self.map(modify).is_none() {
            self.put(make());
        }
    }
}

impl<T> Default for MapCell<T> {
    /// An empty cell.
    fn default() -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::MapCell;
    use std::rc::Rc;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn new_holds_the_value() {
        let cell = MapCell::new(String::from("abc"));
        assert!(cell.is_some());
        assert!(!cell.is_none());
        assert_eq!(cell.take().as_deref(), Some("abc"));
        assert!(cell.is_none());
    }

    #[test]
    fn empty_and_default_hold_nothing() {
        let cell: MapCell<Vec<u8>> = MapCell::empty();
        assert!(cell.is_none());
        assert!(!cell.is_some());
        assert_eq!(cell.take(), None);

        let cell: MapCell<Vec<u8>> = MapCell::default();
        assert!(cell.is_none());
    }

    #[test]
    fn take_empties_the_cell() {
        let cell = MapCell::new(vec![1, 2, 3]);
        assert_eq!(cell.take(), Some(vec![1, 2, 3]));
        assert_eq!(cell.take(), None);
        assert!(cell.is_none());
    }

    #[test]
    fn put_stores_and_drops_the_old_value() {
        let first = Rc::new(1);
        let cell = MapCell::empty();
        cell.put(Rc::clone(&first));
        assert!(cell.is_some());
        assert_eq!(Rc::strong_count(&first), 2);
        cell.put(Rc::new(2));
        // The first value was dropped by the second put.
        assert_eq!(Rc::strong_count(&first), 1);
        assert_eq!(cell.map(|v| **v), Some(2));
    }

    #[test]
    fn replace_returns_the_previous_value() {
        let cell = MapCell::empty();
        assert_eq!(cell.replace(String::from("one")), None);
        assert_eq!(cell.replace(String::from("two")).as_deref(), Some("one"));
        assert_eq!(cell.take().as_deref(), Some("two"));
    }

    #[test]
    fn map_mutates_in_place_and_puts_back() {
        let cell = MapCell::new(vec![1u32]);
        assert_eq!(
            cell.map(|v| {
                v.push(2);
                v.len()
            }),
            Some(2)
        );
        assert!(cell.is_some());
        assert_eq!(cell.take(), Some(vec![1, 2]));
    }

    #[test]
    fn map_on_empty_does_not_call_closure() {
        let cell: MapCell<u32> = MapCell::empty();
        let mut called = false;
        assert_eq!(cell.map(|_| called = true), None);
        assert!(!called);
    }

    #[test]
    fn nested_map_sees_an_empty_cell() {
        let cell = MapCell::new(vec![10u32]);
        let outer = cell.map(|v| {
            assert!(cell.is_none());
            assert!(!cell.is_some());
            assert_eq!(cell.map(|w| w.push(999)), None);
            assert_eq!(cell.take(), None);
            v.push(11);
            v.len()
        });
        assert_eq!(outer, Some(2));
        // The value is back and only the outer closure changed it.
        assert!(cell.is_some());
        assert_eq!(cell.take(), Some(vec![10, 11]));
    }

    #[test]
    fn put_inside_map_is_dropped_on_return() {
        let intruder = Rc::new(0u32);
        let cell = MapCell::new(Rc::new(1u32));
        cell.map(|_| cell.put(Rc::clone(&intruder)));
        assert_eq!(Rc::strong_count(&intruder), 1);
        assert_eq!(cell.map(|v| **v), Some(1));
    }

    #[test]
    fn a_panic_unwinding_out_of_map_leaves_the_value_and_a_usable_cell() {
        // (Targets abort on panic; on the host the value stays where it
        // was, and the cell works again.)
        use std::panic::{catch_unwind, AssertUnwindSafe};

        let tracker = Rc::new(());
        let cell = MapCell::new(Rc::clone(&tracker));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            cell.map(|_| panic!("closure failed"));
        }));
        assert!(outcome.is_err());
        assert!(cell.is_some());
        assert_eq!(Rc::strong_count(&tracker), 2);
        assert_eq!(cell.map(|v| Rc::strong_count(v)), Some(2));
    }

    #[test]
    fn map_or_and_map_or_else() {
        let full = MapCell::new(4u32);
        let empty: MapCell<u32> = MapCell::empty();

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
        assert_eq!(full.take(), Some(4));
    }

    #[test]
    fn and_then_flattens() {
        let full = MapCell::new(vec![5u8, 6]);
        let empty: MapCell<Vec<u8>> = MapCell::empty();

        assert_eq!(full.and_then(|v| v.first().copied()), Some(5));
        assert_eq!(full.and_then(|v| v.get(10).copied()), None);
        assert!(full.is_some());
        assert_eq!(empty.and_then(|v| v.pop()), None);
    }

    #[test]
    fn modify_or_replace_modifies_when_full() {
        let cell = MapCell::new(1u32);
        let mut made = false;
        cell.modify_or_replace(
            |v| *v += 1,
            || {
                made = true;
                50
            },
        );
        assert!(!made);
        assert_eq!(cell.take(), Some(2));
    }

    #[test]
    fn modify_or_replace_fills_when_empty() {
        let cell = MapCell::empty();
        let mut modified = false;
        cell.modify_or_replace(|_| modified = true, || 50u32);
        assert!(!modified);
        assert_eq!(cell.take(), Some(50));
    }
}
