//! Small building blocks shared by the kernel, capsules and chip drivers.
//!
//! * [`sub_slice`]: [`SubSliceMut`] and [`SubSlice`], a buffer that keeps its
//!   full extent while exposing a narrower active window. Split-phase HILs
//!   pass them down and get them back, so a layer can work on part of a
//!   buffer without losing the rest of it.
//! * [`crc32`]: the POSIX `cksum` CRC-32 (without the length suffix), used
//!   for ShortIds derived from package names and by the TicKV format.
//! * [`quoted`]: [`Escaped`] and [`Quoted`], an untrusted string (a process
//!   name) printed safely.

pub mod crc32;
pub mod quoted;
pub mod sub_slice;

pub use crc32::crc32_posix;
pub use quoted::{Escaped, Quoted};
pub use sub_slice::{SubSlice, SubSliceMut};
