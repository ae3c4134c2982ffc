//! Console, driver 1: writes and reads on the board's console.
//!
//! | | number | meaning |
//! |---|---|---|
//! | command | 1 | write `arg0` bytes from read-only allow 1 |
//! | command | 2 | read `arg0` bytes into read-write allow 1 |
//! | command | 3 | abort a read |
//! | subscribe | 1 | write done: (bytes written, 0, 0) |
//! | subscribe | 2 | read done: (status, bytes read, 0) |
//!
//! [`print!`](crate::print) and [`println!`](crate::println) format into
//! a fixed buffer on the stack (no heap) and write it out when it is full
//! and at the end; a line shorter than the buffer goes out in one write.

use core::fmt;

use crate::share::{self, UpcallRecord};
use crate::syscall::{command, yield_wait_for, ErrorCode, SyscallReturn};

/// Driver number.
pub const DRIVER: u32 = 1;
/// Read-only allow with the bytes to write.
pub const ALLOW_WRITE: u32 = 1;
/// Read-write allow for the bytes read.
pub const ALLOW_READ: u32 = 1;
/// Upcall when a write is done.
pub const SUBSCRIBE_WRITE: u32 = 1;
/// Upcall when a read is done.
pub const SUBSCRIBE_READ: u32 = 2;
/// Command: write.
pub const COMMAND_WRITE: u32 = 1;
/// Command: read.
pub const COMMAND_READ: u32 = 2;
/// Command: abort a read.
pub const COMMAND_ABORT: u32 = 3;

/// Bytes [`print!`](crate::print) buffers before writing.
pub const LINE_BUFFER: usize = 128;

/// Whether the console driver is present (command 0).
pub fn exists() -> bool {
    command(DRIVER, 0, 0, 0) == SyscallReturn::Success
}

/// Writes all of `bytes` and waits until the console has taken them.
/// Returns the number written (`bytes.len()`), or the first error.
pub fn write(bytes: &[u8]) -> Result<usize, ErrorCode> {
    let mut done = 0;
    while done < bytes.len() {
        match write_some(&bytes[done..])? {
            0 => return Err(ErrorCode::Fail),
            n => done += n,
        }
    }
    Ok(done)
}

/// One write command: returns what the completion upcall says was written.
fn write_some(bytes: &[u8]) -> Result<usize, ErrorCode> {
    let done = UpcallRecord::new();
    share::allow_ro(DRIVER, ALLOW_WRITE, bytes, || {
        share::subscribe(DRIVER, SUBSCRIBE_WRITE, &done, || {
            command(DRIVER, COMMAND_WRITE, bytes.len() as u32, 0).to_result()?;
            let [written, _, _] = share::wait_for_upcall(&done);
            Ok(written as usize)
        })?
    })?
}

/// Reads into `buf` and waits for the read to finish; returns how many
/// bytes arrived.
pub fn read(buf: &mut [u8]) -> Result<usize, ErrorCode> {
    let len = buf.len() as u32;
    let done = UpcallRecord::new();
    share::allow_rw(DRIVER, ALLOW_READ, buf, || {
        share::subscribe(DRIVER, SUBSCRIBE_READ, &done, || {
            command(DRIVER, COMMAND_READ, len, 0).to_result()?;
            let [status, count, _] = share::wait_for_upcall(&done);
            ErrorCode::from_status(status)?;
            Ok(count as usize)
        })?
    })?
}

/// A [`fmt::Write`] that collects text in a stack buffer of `N` bytes and
/// writes it to the console when full and on [`LineWriter::flush`] (and
/// when dropped).
pub struct LineWriter<const N: usize = LINE_BUFFER> {
    buf: [u8; N],
    len: usize,
    error: Option<ErrorCode>,
}

impl<const N: usize> LineWriter<N> {
    /// An empty writer.
    pub const fn new() -> Self {
        LineWriter {
            buf: [0; N],
            len: 0,
            error: None,
        }
    }

    /// Writes out what is buffered. Returns the first error any write met.
    pub fn flush(&mut self) -> Result<(), ErrorCode> {
        if self.len > 0 {
            if let Err(e) = write(&self.buf[..self.len]) {
                self.error.get_or_insert(e);
            }
            self.len = 0;
        }
        self.error.map_or(Ok(()), Err)
    }
}

impl<const N: usize> Default for LineWriter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for LineWriter<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == N {
                let _ = self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

impl<const N: usize> Drop for LineWriter<N> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Used by [`print!`](crate::print).
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>, newline: bool) {
    let mut w = LineWriter::<LINE_BUFFER>::new();
    let _ = fmt::Write::write_fmt(&mut w, args);
    if newline {
        let _ = fmt::Write::write_str(&mut w, "\n");
    }
    let _ = w.flush();
}

/// Prints to the console, like `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::_print(::core::format_args!($($arg)*), false)
    };
}

/// Prints a line to the console, like `std::println!`.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::_print(::core::format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::console::_print(::core::format_args!($($arg)*), true)
    };
}

/// The panic handler's line: a fixed buffer (longer messages are cut) that
/// is written with yield-wait-for, so that no other upcall runs while the
/// process is panicking.
pub(crate) struct PanicLine {
    buf: [u8; 160],
    len: usize,
}

impl PanicLine {
    pub(crate) const fn new() -> PanicLine {
        PanicLine {
            buf: [0; 160],
            len: 0,
        }
    }

    /// Ends the line and writes it, best effort.
    pub(crate) fn finish(mut self) {
        let end = self.len.min(self.buf.len() - 1);
        self.buf[end] = b'\n';
        let line = &self.buf[..=end];
        let _ = share::allow_ro(DRIVER, ALLOW_WRITE, line, || {
            // A write of ours may still be in progress (we may have panicked
            // in the middle of one): wait for it once and try again.
            for _ in 0..2 {
                match command(DRIVER, COMMAND_WRITE, line.len() as u32, 0) {
                    SyscallReturn::Failure(ErrorCode::Busy) => {
                        yield_wait_for(DRIVER, SUBSCRIBE_WRITE);
                    }
                    r if r.is_success() => {
                        yield_wait_for(DRIVER, SUBSCRIBE_WRITE);
                        return;
                    }
                    _ => return,
                }
            }
        });
    }
}

impl fmt::Write for PanicLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            // Keep the last byte for the newline.
            if self.len + 1 < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}
