//! Buffers with an active window: [`SubSliceMut`] and [`SubSlice`].
//!
//! Kernel buffers are `&'static mut [u8]` that travel down a stack of
//! split-phase layers and come back in a callback. A layer often needs to
//! hand on only part of a buffer (the value after a header, the bytes not yet
//! sent), yet the owner must get the whole buffer back. A sub-slice keeps the
//! full buffer and an *active window* into it:
//!
//! * [`len`](SubSliceMut::len), [`as_slice`](SubSliceMut::as_slice) and
//!   [`as_mut_slice`](SubSliceMut::as_mut_slice) see only the window;
//! * [`slice`](SubSliceMut::slice) narrows the window, relative to the
//!   current window, and never widens it;
//! * [`reset`](SubSliceMut::reset) makes the whole buffer the window again;
//! * [`take`](SubSliceMut::take) gives the whole buffer back.
//!
//! Nothing here panics: a range that reaches past the window is clamped to
//! it, and a range whose start lies past its end gives an empty window.
//!
//! ```
//! use kernel::utilities::SubSliceMut;
//!
//! let mut storage = *b"HDR:value";
//! let mut buf = SubSliceMut::new(&mut storage);
//! buf.slice(4..); // skip the header
//! assert_eq!(buf.as_slice(), b"value");
//! assert_eq!(buf.start(), 4);
//! buf.as_mut_slice()[0] = b'V';
//! buf.slice(..100); // clamped to the window
//! assert_eq!(buf.len(), 5);
//! assert_eq!(buf.take(), b"HDR:Value");
//! ```

use core::ops::{Bound, RangeBounds};

/// Resolves `range`, taken relative to a window of `len` elements, to
/// `(start, end)` offsets within that window, clamped so that
/// `start <= end <= len`.
fn resolve<R: RangeBounds<usize>>(range: &R, len: usize) -> (usize, usize) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    }
    .min(len);
    (start.min(end), end)
}

/// A mutable buffer with an active window; see the [module docs](self).
///
/// Invariant: `start <= end <= buf.len()`.
#[derive(Debug)]
pub struct SubSliceMut<'a, T> {
    buf: &'a mut [T],
    start: usize,
    end: usize,
}

impl<'a, T> SubSliceMut<'a, T> {
    /// Wraps `buf`; the window is the whole buffer.
    pub fn new(buf: &'a mut [T]) -> Self {
        let end = buf.len();
        SubSliceMut { buf, start: 0, end }
    }

    /// Number of elements in the active window.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the active window is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Length of the whole underlying buffer.
    pub fn full_len(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the active window in the whole buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Narrows the active window to `range`, taken relative to the current
    /// window (so `slice(2..)` twice skips four elements). Bounds past the
    /// window are clamped to it; a range whose start lies past its end
    /// leaves an empty window at the (clamped) end.
    pub fn slice<R: RangeBounds<usize>>(&mut self, range: R) {
        let (start, end) = resolve(&range, self.len());
        self.end = self.start + end;
        self.start += start;
    }

    /// Makes the whole buffer the active window again.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = self.buf.len();
    }

    /// The active window.
    pub fn as_slice(&self) -> &[T] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// The active window, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.buf.get_mut(self.start..self.end).unwrap_or_default()
    }

    /// Gives back the whole buffer, whatever the window.
    pub fn take(self) -> &'a mut [T] {
        self.buf
    }
}

impl<'a, T> From<&'a mut [T]> for SubSliceMut<'a, T> {
    fn from(buf: &'a mut [T]) -> Self {
        SubSliceMut::new(buf)
    }
}

impl<'a, T, const N: usize> From<&'a mut [T; N]> for SubSliceMut<'a, T> {
    fn from(buf: &'a mut [T; N]) -> Self {
        SubSliceMut::new(buf)
    }
}

/// A shared buffer with an active window; the read-only counterpart of
/// [`SubSliceMut`]. It is `Copy`, and [`as_slice`](SubSlice::as_slice)
/// returns the window with the buffer's full lifetime.
///
/// Invariant: `start <= end <= buf.len()`.
#[derive(Clone, Copy, Debug)]
pub struct SubSlice<'a, T> {
    buf: &'a [T],
    start: usize,
    end: usize,
}

impl<'a, T> SubSlice<'a, T> {
    /// Wraps `buf`; the window is the whole buffer.
    pub fn new(buf: &'a [T]) -> Self {
        SubSlice {
            buf,
            start: 0,
            end: buf.len(),
        }
    }

    /// Number of elements in the active window.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the active window is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Length of the whole underlying buffer.
    pub fn full_len(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the active window in the whole buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Narrows the active window to `range`, relative to the current
    /// window; clamped as for [`SubSliceMut::slice`].
    pub fn slice<R: RangeBounds<usize>>(&mut self, range: R) {
        let (start, end) = resolve(&range, self.len());
        self.end = self.start + end;
        self.start += start;
    }

    /// Makes the whole buffer the active window again.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = self.buf.len();
    }

    /// The active window.
    pub fn as_slice(&self) -> &'a [T] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Gives back the whole buffer, whatever the window.
    pub fn take(self) -> &'a [T] {
        self.buf
    }
}

impl<'a, T> From<&'a [T]> for SubSlice<'a, T> {
    fn from(buf: &'a [T]) -> Self {
        SubSlice::new(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ops::Bound::{Excluded, Included, Unbounded};

    fn numbers() -> [u8; 10] {
        core::array::from_fn(|i| i as u8)
    }

    #[test]
    fn new_covers_the_whole_buffer() {
        let mut data = numbers();
        let s = SubSliceMut::new(&mut data);
        assert_eq!((s.start(), s.len(), s.full_len()), (0, 10, 10));
        assert!(!s.is_empty());
        assert_eq!(s.as_slice(), &numbers());
    }

    #[test]
    fn slices_are_relative_to_the_current_window() {
        let mut data = numbers();
        let mut s = SubSliceMut::new(&mut data);
        s.slice(2..9);
        assert_eq!(s.as_slice(), &[2, 3, 4, 5, 6, 7, 8]);
        s.slice(1..=3);
        assert_eq!(s.as_slice(), &[3, 4, 5]);
        assert_eq!((s.start(), s.len(), s.full_len()), (3, 3, 10));
        s.slice((Excluded(0), Unbounded));
        assert_eq!(s.as_slice(), &[4, 5]);
        s.slice(..1);
        assert_eq!(s.as_slice(), &[4]);
        s.reset();
        assert_eq!(s.as_slice(), &numbers());
    }

    #[test]
    fn out_of_range_requests_clamp() {
        let mut data = numbers();
        let mut s = SubSliceMut::new(&mut data);
        s.slice(4..);
        s.slice(..100);
        assert_eq!(s.as_slice(), &[4, 5, 6, 7, 8, 9]);
        s.slice(..=usize::MAX);
        assert_eq!(s.len(), 6);
        s.slice((Excluded(usize::MAX), Included(usize::MAX)));
        assert!(s.is_empty());
        assert_eq!(s.start(), 10);
        s.slice(3..);
        assert_eq!((s.start(), s.len()), (10, 0));
        assert_eq!(s.as_slice(), &[] as &[u8]);
        s.reset();
        s.slice((Included(7), Excluded(3))); // reversed: empty at the end
        assert_eq!((s.start(), s.len()), (3, 0));
        s.reset();
        s.slice(20..30);
        assert_eq!((s.start(), s.len()), (10, 0));
    }

    #[test]
    fn writes_land_in_the_window_and_take_returns_everything() {
        let mut data = [0u8; 6];
        let mut s = SubSliceMut::from(&mut data);
        s.slice(2..5);
        s.as_mut_slice().copy_from_slice(b"abc");
        s.slice(1..);
        s.as_mut_slice()[1] = b'C';
        assert_eq!(s.take(), b"\0\0abC\0");
    }

    #[test]
    fn empty_buffer() {
        let mut s = SubSliceMut::<u8>::new(&mut []);
        s.slice(1..);
        s.reset();
        assert!(s.is_empty());
        assert_eq!(s.as_mut_slice(), &mut [] as &mut [u8]);
    }

    #[test]
    fn shared_sub_slice() {
        let data = numbers();
        let mut s = SubSlice::from(&data[..]);
        s.slice(3..);
        let copy = s;
        s.slice(..=1);
        assert_eq!(s.as_slice(), &[3, 4]);
        assert_eq!(copy.as_slice(), &[3, 4, 5, 6, 7, 8, 9]);
        assert_eq!((s.start(), s.len(), s.full_len()), (3, 2, 10));
        s.slice(5..);
        assert!(s.is_empty());
        s.reset();
        assert_eq!(s.len(), 10);
        assert_eq!(s.take(), &numbers());
    }
}
