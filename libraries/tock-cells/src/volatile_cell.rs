//! [`VolatileCell`]: a value accessed only with volatile loads and stores.

// This is the one module in the crate that needs `unsafe`: a volatile
// access goes through a raw pointer.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::ptr;

/// A value that is always read and written with volatile accesses.
///
/// The compiler assumes ordinary memory only changes when the program
/// writes it, so it may merge, reorder or drop loads and stores. That is
/// wrong for memory-mapped hardware registers, whose contents change on
/// their own and whose reads and writes have side effects. Every
/// [`get`](Self::get) on a `VolatileCell` is a real load and every
/// [`set`](Self::set) a real store, issued in program order relative to
/// other volatile accesses.
///
/// The type is `#[repr(transparent)]`, so it has exactly the layout of `T`.
/// A register block can therefore be described as a `#[repr(C)]` struct of
/// `VolatileCell` fields and placed over the register address (creating
/// that reference is the caller's own `unsafe` step).
///
/// `VolatileCell` is not `Sync`; it offers no atomicity or ordering with
/// respect to other threads or cores.
#[repr(transparent)]
pub struct VolatileCell<T> {
    value: UnsafeCell<T>,
}

impl<T: Copy> VolatileCell<T> {
    /// Creates a cell holding `value`.
    pub const fn new(value: T) -> Self {
        VolatileCell {
            value: UnsafeCell::new(value),
        }
    }

    /// Reads the value with a volatile load.
    pub fn get(&self) -> T {
        // SAFETY: `UnsafeCell::get` yields a non-null, aligned pointer to an initialised `T` inside
        // `self`, which the `&self` borrow keeps alive for the whole call. The cell never hands out
        // references to its contents and is `!Sync`, so no `&mut T` or concurrent write can overlap
        // this read. `T: Copy` means returning a bitwise copy creates no duplicate ownership.
        unsafe { ptr::read_volatile(self.value.get()) }
    }

    /// Writes `value` with a volatile store.
    pub fn set(&self, value: T) {
        // SAFETY: the pointer from `UnsafeCell::get` is non-null, aligned and valid for writes for
        // as long as `&self` lives, and `UnsafeCell` permits mutation through a shared reference.
        // No reference to the contents ever escapes the cell and the cell is `!Sync`, so nothing
        // else reads or writes it during this store. `T: Copy` has no destructor, so overwriting
        // the old value without dropping it is correct.
        unsafe { ptr::write_volatile(self.value.get(), value) }
    }
}

#[cfg(test)]
mod tests {
    use super::VolatileCell;
    use core::mem::{align_of, size_of};

    #[test]
    fn get_returns_the_initial_value() {
        let cell = VolatileCell::new(0xdead_beefu32);
        assert_eq!(cell.get(), 0xdead_beef);
        // Reading does not change the value.
        assert_eq!(cell.get(), 0xdead_beef);
    }

    #[test]
    fn set_then_get() {
        let cell = VolatileCell::new(0u16);
        cell.set(0x1234);
        assert_eq!(cell.get(), 0x1234);
        cell.set(0);
        assert_eq!(cell.get(), 0);
    }

    #[test]
    fn works_with_compound_copy_values() {
        #[derive(Clone, Copy, Debug, PartialEq)]
        struct Pair {
            a: u8,
            b: i64,
        }
        let cell = VolatileCell::new(Pair { a: 1, b: -1 });
        cell.set(Pair { a: 2, b: 7 });
        assert_eq!(cell.get(), Pair { a: 2, b: 7 });
    }

    #[test]
    fn layout_is_transparent() {
        assert_eq!(size_of::<VolatileCell<u32>>(), size_of::<u32>());
        assert_eq!(align_of::<VolatileCell<u32>>(), align_of::<u32>());
        assert_eq!(size_of::<VolatileCell<u8>>(), size_of::<u8>());
        assert_eq!(size_of::<VolatileCell<u64>>(), size_of::<u64>());
    }

    #[test]
    fn register_block_over_plain_memory() {
        #[repr(C)]
        struct Registers {
            control: VolatileCell<u32>,
            status: VolatileCell<u32>,
        }
        let regs = Registers {
            control: VolatileCell::new(0),
            status: VolatileCell::new(0),
        };
        regs.control.set(0b101);
        regs.status.set(regs.control.get() << 1);
        assert_eq!(regs.control.get(), 0b101);
        assert_eq!(regs.status.get(), 0b1010);
    }
}
