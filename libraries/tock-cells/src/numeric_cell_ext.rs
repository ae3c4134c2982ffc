//! [`NumericCellExt`]: counter arithmetic on integer `Cell`s.

use core::cell::Cell;

/// Arithmetic helpers for a [`Cell`] holding a primitive integer.
///
/// Updating a counter held in a `Cell` otherwise takes a `get` and a `set`
/// at every call site (`c.set(c.get() + 1)`). This trait shortens that to
/// `c.increment()`.
///
/// All operations use **wrapping** (modular) arithmetic: adding past the
/// maximum value continues from the minimum and subtracting below the
/// minimum continues from the maximum. They never panic, in debug or
/// release builds. Code that must detect overflow should use `get`,
/// `checked_add` and `set` itself.
///
/// Implemented for `Cell<T>` for every primitive integer type: `u8`, `u16`,
/// `u32`, `u64`, `u128`, `usize`, `i8`, `i16`, `i32`, `i64`, `i128` and
/// `isize`.
pub trait NumericCellExt<T> {
    /// Adds `value` to the contents, wrapping on overflow.
    fn add(&self, value: T);

    /// Subtracts `value` from the contents, wrapping on overflow.
    fn subtract(&self, value: T);

    /// Adds one to the contents, wrapping on overflow.
    fn increment(&self);

    /// Subtracts one from the contents, wrapping on overflow.
    fn decrement(&self);

    /// Adds one to the contents (wrapping on overflow) and returns the
    /// value the cell held before. Handy for handing out sequence numbers.
    fn get_and_increment(&self) -> T;
}

macro_rules! impl_numeric_cell_ext {
    ($($int:ty),* $(,)?) => {
        $(
            impl NumericCellExt<$int> for Cell<$int> {
                fn add(&self, value: $int) {
                    self.set(self.get().wrapping_add(value));
                }

                fn subtract(&self, value: $int) {
                    self.set(self.get().wrapping_sub(value));
                }

                fn increment(&self) {
                    self.add(1);
                }

                fn decrement(&self) {
                    self.subtract(1);
                }

                fn get_and_increment(&self) -> $int {
                    let old = self.get();
                    self.set(old.wrapping_add(1));
                    old
                }
            }
        )*
    };
}

impl_numeric_cell_ext!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

#[cfg(test)]
mod tests {
    use super::NumericCellExt;
    use core::cell::Cell;

    #[test]
    fn add_and_subtract() {
        let c = Cell::new(10usize);
        c.add(5);
        assert_eq!(c.get(), 15);
        c.subtract(7);
        assert_eq!(c.get(), 8);
    }

    #[test]
    fn increment_and_decrement() {
        let c = Cell::new(0u32);
        c.increment();
        c.increment();
        assert_eq!(c.get(), 2);
        c.decrement();
        assert_eq!(c.get(), 1);
    }

    #[test]
    fn get_and_increment_returns_the_old_value() {
        let c = Cell::new(41u16);
        assert_eq!(c.get_and_increment(), 41);
        assert_eq!(c.get_and_increment(), 42);
        assert_eq!(c.get(), 43);
    }

    #[test]
    fn unsigned_values_wrap() {
        let c = Cell::new(u8::MAX);
        c.increment();
        assert_eq!(c.get(), 0);
        c.decrement();
        assert_eq!(c.get(), u8::MAX);

        let c = Cell::new(250u8);
        c.add(10);
        assert_eq!(c.get(), 4);
        c.subtract(5);
        assert_eq!(c.get(), 255);

        let c = Cell::new(u16::MAX);
        assert_eq!(c.get_and_increment(), u16::MAX);
        assert_eq!(c.get(), 0);

        let c = Cell::new(0u32);
        c.decrement();
        assert_eq!(c.get(), u32::MAX);

        let c = Cell::new(u64::MAX - 1);
        c.add(3);
        assert_eq!(c.get(), 1);

        let c = Cell::new(0usize);
        c.subtract(2);
        assert_eq!(c.get(), usize::MAX - 1);

        let c = Cell::new(u128::MAX);
        c.increment();
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn signed_values_wrap() {
        let c = Cell::new(i32::MAX);
        c.increment();
        assert_eq!(c.get(), i32::MIN);
        c.decrement();
        assert_eq!(c.get(), i32::MAX);

        let c = Cell::new(-3isize);
        c.add(5);
        assert_eq!(c.get(), 2);
        c.subtract(10);
        assert_eq!(c.get(), -8);

        let c = Cell::new(isize::MIN);
        c.subtract(1);
        assert_eq!(c.get(), isize::MAX);

        let c = Cell::new(i8::MIN);
        c.add(-1);
        assert_eq!(c.get(), i8::MAX);

        let c = Cell::new(i16::MAX);
        assert_eq!(c.get_and_increment(), i16::MAX);
        assert_eq!(c.get(), i16::MIN);

        let c = Cell::new(i64::MIN);
        c.decrement();
        assert_eq!(c.get(), i64::MAX);

        let c = Cell::new(i128::MAX);
        c.add(2);
        assert_eq!(c.get(), i128::MIN + 1);
    }
}
