//! Interior-mutability cells for a kernel that has no heap.
//!
//! In the kernel every component (a capsule, a chip driver, the board
//! setup code) is allocated once, statically, and lives for the rest of
//! execution. Components find each other through plain shared references
//! (`&'a Component`), so they form a graph in which many parties may point
//! at the same object. Rust does not allow a `&mut` to coexist with those
//! `&` references, which means any state a component changes after boot
//! has to live inside a cell that allows mutation through `&self`.
//!
//! The standard library's [`core::cell::Cell`] covers small `Copy` values.
//! This crate adds the shapes that come up again and again in drivers:
//!
//! * [`TakeCell`] holds an optional `&'a mut T`, typically a buffer that is
//!   handed down to hardware and handed back when an operation completes.
//! * [`MapCell`] owns an optional value that is not `Copy` and lets a
//!   closure work on it in place.
//! * [`OptionalCell`] is a `Cell<Option<T>>` for `Copy` values with the
//!   `Option` helpers one would expect.
//! * [`NumericCellExt`] adds counter arithmetic (`add`, `increment`, ...)
//!   to `Cell`s of the primitive integer types.
//! * [`VolatileCell`] wraps a value that must be accessed with volatile
//!   loads and stores, such as a memory-mapped register.
//!
//! # Usage rules
//!
//! The kernel is single-threaded and event driven: work happens in
//! callbacks that run to completion. The cells are designed for that world.
//! A value is borrowed from a cell only for the duration of one method call
//! (usually a closure passed to `map`) and is never held across calls or
//! across a callback boundary. None of the cells is `Sync`.
//!
//! Borrowing is re-entrancy safe rather than checked at run time like
//! `RefCell`: while a closure is working on the contents of a [`TakeCell`]
//! or [`MapCell`], the cell is empty. A nested call that reaches the same
//! cell (for example, through a callback that fires synchronously) simply
//! sees nothing there and gets `None` back, instead of aliasing the value
//! or panicking.
//!
//! # Example
//!
//! A driver that lends its buffer to a lower layer and gets it back later:
//!
//! ```
//! use core::cell::Cell;
//! use tock_cells::{NumericCellExt, OptionalCell, TakeCell};
//!
//! struct Uart<'a> {
//!     tx_buffer: TakeCell<'a, [u8]>,
//!     pending_len: OptionalCell<usize>,
//!     sent: Cell<u32>,
//! }
//!
//! impl<'a> Uart<'a> {
//!     /// Starts a transmission; fails if the buffer is already lent out.
//!     fn transmit(&self, message: &[u8]) -> Option<&'a mut [u8]> {
//!         let buffer = self.tx_buffer.take()?;
//!         buffer[..message.len()].copy_from_slice(message);
//!         self.pending_len.set(message.len());
//!         Some(buffer) // handed to the hardware
//!     }
//!
//!     /// Called when the hardware is done with the buffer.
//!     fn transmit_done(&self, buffer: &'a mut [u8]) {
//!         self.tx_buffer.replace(buffer);
//!         self.pending_len.clear();
//!         self.sent.increment();
//!     }
//! }
//!
//! let mut storage = [0u8; 16];
//! let uart = Uart {
//!     tx_buffer: TakeCell::new(&mut storage),
//!     pending_len: OptionalCell::empty(),
//!     sent: Cell::new(0),
//! };
//!
//! let lent = uart.transmit(b"hi").unwrap();
//! assert!(uart.tx_buffer.is_none());
//! assert!(uart.transmit(b"again").is_none()); // buffer is busy
//! assert_eq!(uart.pending_len.get(), Some(2));
//!
//! uart.transmit_done(lent);
//! assert_eq!(uart.tx_buffer.map(|b| &b[..2] == b"hi"), Some(true));
//! assert_eq!(uart.sent.get(), 1);
//! ```
//!
//! Apart from [`VolatileCell`], which needs volatile pointer accesses, the
//! crate contains no `unsafe` code; the other cells are thin layers over
//! `Cell<Option<_>>`.

#![no_std]
#![deny(unsafe_code)]

mod map_cell;
mod numeric_cell_ext;
mod optional_cell;
mod take_cell;
mod volatile_cell;

pub use map_cell::MapCell;
pub use numeric_cell_ext::NumericCellExt;
pub use optional_cell::OptionalCell;
pub use take_cell::TakeCell;
pub use volatile_cell::VolatileCell;
