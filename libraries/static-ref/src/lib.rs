//! [`StaticRef`]: a shared reference to a memory-mapped register block,
//! for the chip drivers of every chip and architecture (the kernel core
//! itself forbids `unsafe`, so this lives apart).
//!
//! With the `fake` feature (host tests of drivers), `fake::registers`
//! backs a register block with ordinary memory the test can poke.

#![no_std]

use core::ops::Deref;
use core::ptr::NonNull;

/// A `&'static T` made from the address of a register block.
///
/// The register types of `tock-registers` use interior mutability with
/// volatile accesses, so a shared reference is all a driver needs. Creating
/// one is the only `unsafe` step: the caller promises the address really is
/// that register block.
pub struct StaticRef<T> {
    ptr: NonNull<T>,
}

impl<T> StaticRef<T> {
    /// Wraps the register block at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be non-null, aligned for `T`, and point to memory that is
    /// valid for volatile reads and writes through a shared `&T` (device
    /// registers or memory with interior mutability) for the rest of the
    /// program, and no `&mut` to it may ever exist.
    pub const unsafe fn new(ptr: *const T) -> Self {
        StaticRef {
            // SAFETY: the caller guarantees `ptr` is non-null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast_mut()) },
        }
    }
}

impl<T> Clone for StaticRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for StaticRef<T> {}

impl<T> Deref for StaticRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract: the pointer is valid and aligned for
        // shared access for the rest of the program, and never mutably
        // aliased.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> core::fmt::Debug for StaticRef<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StaticRef({:p})", self.ptr)
    }
}

/// Host tests: register blocks backed by leaked, zeroed memory that the
/// test can poke through `Cell`s while the driver uses the register view.
#[cfg(feature = "fake")]
pub mod fake {
    extern crate std;

    use super::StaticRef;
    use core::cell::Cell;
    use std::vec;

    /// A zeroed register block `T` over `Cell<W>` words (`W` gives the
    /// alignment): the driver's view and the test's view of the same memory.
    pub fn registers<T, W: Copy + Default>() -> (StaticRef<T>, &'static [Cell<W>]) {
        assert!(core::mem::align_of::<W>() >= core::mem::align_of::<T>());
        let words = core::mem::size_of::<T>().div_ceil(core::mem::size_of::<W>());
        let memory: &'static [Cell<W>] = vec![Cell::new(W::default()); words].leak();
        // SAFETY: the memory is leaked (lives forever), large enough and
        // aligned for `T`, and only ever accessed through shared references
        // to `Cell`s (interior mutability), as are the register types.
        let regs = unsafe { StaticRef::new(memory.as_ptr().cast::<T>()) };
        (regs, memory)
    }
}
