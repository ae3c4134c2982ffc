//! The console syscall driver, number 1: text output and input for apps
//! over one UART, shared with the kernel's own diagnostic output.
//!
//! # Interface summary
//!
//! | | number | |
//! |---|---|---|
//! | command | 0 | exists: Success |
//! | command | 1 | write(len): send `min(len, length of RO allow 1)` bytes of RO allow 1 |
//! | command | 2 | read(len): receive `min(len, length of RW allow 1)` bytes into RW allow 1 |
//! | command | 3 | abort the caller's read |
//! | other | | NOSUPPORT |
//! | subscribe | 1 | write done: `(bytes written, 0, 0)` |
//! | subscribe | 2 | read done: `(status, bytes received, 0)` |
//! | read-only allow | 1 | what to write |
//! | read-write allow | 1 | where reads go |
//!
//! The grant declares 3 upcalls, 2 read-only and 2 read-write allow slots
//! ([`ALLOW_COUNTS`]), as upstream Tock does: numbers 0 exist but are
//! unused.
//!
//! # Writes
//!
//! * Command 1 answers `Success` when the write is accepted, `BUSY` if the
//!   app already has a write pending (one per app), `NOMEM` if its grant
//!   cannot be allocated. Every accepted write ends in exactly one upcall
//!   `(bytes written, 0, 0)` on subscribe 1 (unless the app dies first).
//! * The length is fixed when the command is accepted: `min(len, length
//!   of RO allow 1 at that moment)`. A zero length (or no allow) is
//!   accepted and completes with `(0, 0, 0)` when its turn comes.
//! * Writes are served **first come, first served across apps**, each
//!   write to its end before the next starts, so the output of two apps
//!   never interleaves within one write. The order is a ticket taken when
//!   the command is accepted and kept in the app's grant ([`App`]).
//! * Bytes are copied chunk by chunk from the app's buffer into the
//!   kernel's transmit buffer (its length is the chunk size; 64-256 bytes
//!   is typical) just before each chunk is handed to the UART. RO allow 1
//!   is looked up afresh for every chunk, at the same offset: an app may
//!   re-allow mid-write. If the allowed buffer is shorter than the offset
//!   reached (revoked or shrunk), the write ends there and the upcall
//!   reports the bytes actually written. A UART error also ends the write
//!   with the bytes written so far.
//! * An app that exits, faults or restarts loses its pending write (it
//!   lives in its grant); a chunk already at the UART finishes and is
//!   dropped, and the next write proceeds. A restarted app starts clean.
//!
//! # Reads
//!
//! * One read at a time across all apps (upstream behaviour). Command 2
//!   answers `Success` when the UART accepted the reception; `BUSY` while
//!   another read is in flight; `SIZE` if `min(len, length of RW allow
//!   1)` is 0 or larger than the kernel's receive buffer.
//! * The upcall on subscribe 2 is `(status, count, 0)`: the received bytes
//!   are copied into RW allow 1 as it is *at completion*; `count` is the
//!   number copied. Status 0 on success, `CANCEL` after an abort (with the
//!   bytes received so far), `SIZE` if the allow shrank and bytes were
//!   lost, and the UART's error (`FAIL` if it gave none) after a line error
//!   (parity, framing, overrun...), again with the bytes received.
//! * Command 3 aborts the caller's own read and answers `Success` (also
//!   when the caller has no read in flight: nothing happens). Other apps'
//!   reads are not touched.
//! * If the reader dies, its reception keeps the UART until another app
//!   asks to read: that request answers `BUSY` and aborts the dead app's
//!   reception, so the next attempt succeeds.
//!
//! # Kernel output
//!
//! Kernel code (the board's boot banner, fault reports, the panic handler,
//! [`LowLevelDebug`](crate::low_level_debug::LowLevelDebug)) prints through
//! the same UART queue. Its bytes go into a ring buffer the board supplies
//! (a few hundred bytes to a few KiB) and are sent in chunks, in the order
//! output was produced: kernel bytes queued before an app's write was
//! accepted go before that write (whole messages, even across chunks), and
//! kernel bytes queued after it wait for it. So the boot banner comes
//! before what the first app prints, however early the app runs, and
//! neither side can starve the other (the kernel's part ahead of a write is
//! bounded by the ring). Kernel output never
//! blocks: what does not fit is dropped and counted
//! ([`Console::kernel_dropped`]). Ways in:
//!
//! * [`Console::kernel_writer`]: a [`core::fmt::Write`] for `write!` /
//!   `writeln!` (streaming: each piece that does not fit is cut);
//! * [`DebugOutput`] (`kernel::platform`): whole messages or nothing, so
//!   the console can be the kernel's `Platform::debug` output for fault
//!   reports;
//! * [`DebugSink`]: whole messages or `BUSY` plus a callback once room
//!   frees up, for clients that queue and retry (low-level debug);
//! * [`Console::kernel_write`]: raw bytes.
//!
//! Kernel output is started from the console's [`DeferredCall`], never
//! from inside the caller, so all of these may be used from any context
//! (inside a grant, inside a UART callback).
//!
//! **Synchronous fallback.** A panic handler cannot wait for interrupts or
//! deferred calls: [`Console::drain_kernel_output`] hands every byte still
//! in the ring to a function the board supplies (typically a polling write
//! to the UART registers) and empties the ring. A chunk already at the
//! UART is not repeated.
//!
//! # Board setup
//!
//! `components::console` (`boards/components`) does all of this from one
//! `StaticCell`; by hand it is:
//!
//! ```text
//! let grant = kernel.create_grant::<console::App>(console::DRIVER_NUM, console::ALLOW_COUNTS)?;
//! let slot = deferred_calls.allocate()?;
//! // CONSOLE: StaticCell<Console>; TX, RX: StaticCell<[u8; 64]>; OUT: StaticCell<[u8; 1024]>
//! let console = CONSOLE.init(Console::new(
//!     uart,                  // hil::uart::Transmit + Receive (or a mux user)
//!     grant,
//!     TX.init([0; 64]),      // transmit buffer = chunk size
//!     RX.init([0; 64]),      // receive buffer = longest read
//!     OUT.init([0; 1024]),   // kernel output ring
//!     slot,
//! ));
//! console.setup(); // binds the UART clients and the deferred call
//! // driver table: 1 => console; Platform::debug: Some(console)
//! writeln!(console.kernel_writer(), "booting").ok();
//! ```

use core::cell::Cell;
use core::fmt;

use kernel::deferred_call::{DeferredCall, DeferredCallClient};
use kernel::errorcode::status_code;
use kernel::grant::{AllowCounts, Grant, GrantData};
use kernel::hil::uart::{self, Receive, ReceiveClient, Transmit, TransmitClient};
use kernel::platform::DebugOutput;
use kernel::process::ProcessId;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::ErrorCode;
use tock_cells::{OptionalCell, TakeCell};

use crate::low_level_debug::{DebugSink, DebugSinkClient};

/// The driver number.
pub const DRIVER_NUM: u32 = 1;

/// The upcall and allow slots of the driver's grant.
pub const ALLOW_COUNTS: AllowCounts = AllowCounts {
    upcalls: 3,
    read_only: 2,
    read_write: 2,
    userspace_readable: 0,
};

/// Command numbers.
pub mod command {
    /// Does the driver exist?
    pub const EXISTS: u32 = 0;
    /// Write `arg0` bytes of read-only allow 1.
    pub const WRITE: u32 = 1;
    /// Read `arg0` bytes into read-write allow 1.
    pub const READ: u32 = 2;
    /// Abort the caller's read.
    pub const ABORT_READ: u32 = 3;
}

/// Subscribe numbers.
pub mod upcall {
    /// A write finished: `(bytes written, 0, 0)`.
    pub const WRITE_DONE: u32 = 1;
    /// A read finished: `(status, bytes received, 0)`.
    pub const READ_DONE: u32 = 2;
}

/// Read-only allow numbers.
pub mod ro_allow {
    /// The bytes to write.
    pub const WRITE: u32 = 1;
}

/// Read-write allow numbers.
pub mod rw_allow {
    /// Where received bytes go.
    pub const READ: u32 = 1;
}

/// What the console needs from a serial port: both halves of a
/// [`uart`] port (implemented for everything that has
/// them, so a chip's UART or a virtual UART of a mux both fit).
pub trait ConsoleUart<'a>: Transmit<'a> + Receive<'a> {}

impl<'a, U: Transmit<'a> + Receive<'a> + ?Sized> ConsoleUart<'a> for U {}

/// The console's data in each app's grant: the app's one pending write.
///
/// Encoded as (little-endian), 25 bytes:
///
/// ```text
/// 0       1 if a write is pending, else 0
/// 1..5    write length (u32), fixed when the command was accepted
/// 5..9    bytes written so far (u32)
/// 9..17   ticket (u64): the order apps' writes are served in
/// 17..25  kernel output bytes queued before the write was accepted (u64,
///         counted since boot): those go first
/// ```
///
/// Zeroes decode to "no write pending".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct App {
    pending: bool,
    write_len: u32,
    written: u32,
    ticket: u64,
    after_kernel: u64,
}

impl GrantData for App {
    const SIZE: usize = 25;

    fn load(b: &[u8]) -> Self {
        if b.len() < Self::SIZE {
            return App::default();
        }
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let u64_at = |at: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(v)
        };
        let app = App {
            pending: b[0] != 0,
            write_len: u32_at(1),
            written: u32_at(5),
            ticket: u64_at(9),
            after_kernel: u64_at(17),
        };
        if app.written > app.write_len {
            // Only a kernel bug could store this (grants are not
            // accessible to apps): treat it as idle.
            return App::default();
        }
        app
    }

    fn store(&self, b: &mut [u8]) {
        if b.len() < Self::SIZE {
            return;
        }
        b[0] = u8::from(self.pending);
        b[1..5].copy_from_slice(&self.write_len.to_le_bytes());
        b[5..9].copy_from_slice(&self.written.to_le_bytes());
        b[9..17].copy_from_slice(&self.ticket.to_le_bytes());
        b[17..25].copy_from_slice(&self.after_kernel.to_le_bytes());
    }
}

/// Whose bytes are at the UART, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    App(ProcessId, usize),
    Kernel(usize),
}

/// A byte ring over a `&'static mut [u8]`.
struct Ring {
    buf: TakeCell<'static, [u8]>,
    capacity: usize,
    head: Cell<usize>,
    len: Cell<usize>,
    /// Bytes that have left the ring (sent or drained) since boot.
    gone: Cell<u64>,
}

impl Ring {
    fn new(buf: &'static mut [u8]) -> Ring {
        Ring {
            capacity: buf.len(),
            buf: TakeCell::new(buf),
            head: Cell::new(0),
            len: Cell::new(0),
            gone: Cell::new(0),
        }
    }

    fn len(&self) -> usize {
        self.len.get()
    }

    fn free(&self) -> usize {
        self.capacity - self.len.get()
    }

    /// Bytes that have left the ring since boot.
    fn gone(&self) -> u64 {
        self.gone.get()
    }

    /// Bytes queued since boot: those gone and those waiting.
    fn queued(&self) -> u64 {
        self.gone.get() + self.len.get() as u64
    }

    /// Appends the prefix of `bytes` that fits; returns its length.
    fn push(&self, bytes: &[u8]) -> usize {
        self.buf
            .map(|buf| {
                let n = bytes.len().min(self.capacity - self.len.get());
                let mut at = (self.head.get() + self.len.get()) % self.capacity.max(1);
                for &b in &bytes[..n] {
                    buf[at] = b;
                    at = (at + 1) % self.capacity;
                }
                self.len.set(self.len.get() + n);
                n
            })
            .unwrap_or(0)
    }

    /// Moves up to `dst.len()` bytes from the front into `dst`.
    fn pop_into(&self, dst: &mut [u8]) -> usize {
        self.buf
            .map(|buf| {
                let n = dst.len().min(self.len.get());
                let mut at = self.head.get();
                for d in &mut dst[..n] {
                    *d = buf[at];
                    at = (at + 1) % self.capacity;
                }
                self.head.set(at % self.capacity.max(1));
                self.len.set(self.len.get() - n);
                self.gone.set(self.gone.get() + n as u64);
                n
            })
            .unwrap_or(0)
    }

    /// Hands the contents to `out` (in at most two pieces) and empties the
    /// ring.
    fn drain(&self, out: &mut dyn FnMut(&[u8])) {
        self.buf.map(|buf| {
            let (head, len) = (self.head.get(), self.len.get());
            let first = len.min(self.capacity - head);
            if first > 0 {
                out(&buf[head..head + first]);
            }
            if len > first {
                out(&buf[..len - first]);
            }
            self.head.set(0);
            self.len.set(0);
            self.gone.set(self.gone.get() + len as u64);
        });
    }
}

/// Counts the bytes a formatting would produce.
struct Counter(usize);

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

fn measure(args: fmt::Arguments<'_>) -> usize {
    let mut c = Counter(0);
    let _ = fmt::write(&mut c, args);
    c.0
}

/// The console driver; see the [module docs](self).
pub struct Console<'a> {
    uart: &'a dyn ConsoleUart<'a>,
    apps: Grant<App>,
    tx_buffer: TakeCell<'static, [u8]>,
    rx_buffer: TakeCell<'static, [u8]>,
    /// Whose chunk is at the UART.
    tx_in_progress: OptionalCell<Sender>,
    /// The app whose read is at the UART.
    rx_in_progress: OptionalCell<ProcessId>,
    /// The ticket the next app write gets; 64 bits never wrap.
    next_ticket: Cell<u64>,
    kernel_out: Ring,
    kernel_dropped: Cell<usize>,
    sink_client: OptionalCell<&'a dyn DebugSinkClient>,
    /// A [`DebugSink`] write was refused for lack of room.
    sink_waiting: Cell<bool>,
    deferred: DeferredCall,
}

impl<'a> Console<'a> {
    /// A console over `uart`, with its grant (created with
    /// [`ALLOW_COUNTS`] for [`DRIVER_NUM`]), a transmit buffer (its length
    /// is the chunk size), a receive buffer (its length is the longest
    /// read), the kernel output ring and a deferred call. Then call
    /// [`Console::setup`] (or make the console the UART's transmit and
    /// receive client and the deferred call's client yourself).
    ///
    /// # Panics
    ///
    /// If `tx_buffer` is empty: a board configuration error, found at boot.
    pub fn new(
        uart: &'a dyn ConsoleUart<'a>,
        apps: Grant<App>,
        tx_buffer: &'static mut [u8],
        rx_buffer: &'static mut [u8],
        kernel_buffer: &'static mut [u8],
        deferred: DeferredCall,
    ) -> Console<'a> {
        assert!(!tx_buffer.is_empty(), "console: empty transmit buffer");
        Console {
            uart,
            apps,
            tx_buffer: TakeCell::new(tx_buffer),
            rx_buffer: TakeCell::new(rx_buffer),
            tx_in_progress: OptionalCell::empty(),
            rx_in_progress: OptionalCell::empty(),
            next_ticket: Cell::new(0),
            kernel_out: Ring::new(kernel_buffer),
            kernel_dropped: Cell::new(0),
            sink_client: OptionalCell::empty(),
            sink_waiting: Cell::new(false),
            deferred,
        }
    }

    /// Makes the console the client of its UART (both halves) and of its
    /// deferred call.
    pub fn setup(&'static self) {
        self.deferred.set_client(self);
        self.uart.set_transmit_client(self);
        self.uart.set_receive_client(self);
    }

    /// Whether a chunk (an app's or the kernel's) is at the UART.
    pub fn is_transmitting(&self) -> bool {
        self.tx_in_progress.is_some()
    }

    /// Whether an app's read is at the UART.
    pub fn is_receiving(&self) -> bool {
        self.rx_in_progress.is_some()
    }

    fn take_ticket(&self) -> u64 {
        let t = self.next_ticket.get();
        self.next_ticket.set(t.wrapping_add(1));
        t
    }

    // ----- kernel output ------------------------------------------------

    /// Queues `bytes` of kernel output; returns how many fit (the rest is
    /// dropped and counted).
    pub fn kernel_write(&self, bytes: &[u8]) -> usize {
        let n = self.kernel_out.push(bytes);
        self.count_dropped(bytes.len() - n);
        self.kernel_bytes_added();
        n
    }

    /// A [`fmt::Write`] into the kernel output (each piece that does not
    /// fit is cut and counted as dropped; writing never fails).
    pub fn kernel_writer(&self) -> KernelWriter<'_, 'a> {
        KernelWriter { console: self }
    }

    /// Bytes of kernel output dropped so far for lack of room.
    pub fn kernel_dropped(&self) -> usize {
        self.kernel_dropped.get()
    }

    /// Bytes of kernel output waiting in the ring.
    pub fn kernel_pending(&self) -> usize {
        self.kernel_out.len()
    }

    /// Room left in the kernel output ring, in bytes.
    pub fn kernel_room(&self) -> usize {
        self.kernel_out.free()
    }

    /// The synchronous fallback for panic handlers: hands all kernel output
    /// still in the ring to `out` (in order, in at most two pieces) and
    /// empties the ring. A chunk already at the UART is not included.
    pub fn drain_kernel_output(&self, out: &mut dyn FnMut(&[u8])) {
        self.kernel_out.drain(out);
    }

    fn count_dropped(&self, n: usize) {
        self.kernel_dropped
            .set(self.kernel_dropped.get().saturating_add(n));
    }

    /// Formats `args` into the ring if all of it fits; `Err(len)` if not.
    fn push_whole(&self, args: fmt::Arguments<'_>) -> Result<(), usize> {
        let len = measure(args);
        if len > self.kernel_out.free() {
            return Err(len);
        }
        let _ = fmt::write(&mut RingWriter(&self.kernel_out), args);
        self.kernel_bytes_added();
        Ok(())
    }

    /// Has new kernel output started from the deferred call.
    fn kernel_bytes_added(&self) {
        if self.kernel_out.len() > 0 && self.tx_in_progress.is_none() {
            self.deferred.set();
        }
    }

    /// Tells a waiting [`DebugSink`] client that room freed up.
    fn notify_sink(&self) {
        if self.sink_waiting.get() && self.kernel_out.free() > 0 {
            self.sink_waiting.set(false);
            self.sink_client.map(|c| c.sink_ready());
        }
    }

    // ----- transmission -------------------------------------------------

    /// The oldest waiting writer: the kernel output or an app. Kernel
    /// bytes queued before the oldest app write was accepted go before it;
    /// kernel bytes queued later wait for it.
    fn oldest(&self) -> Option<Sender> {
        let mut app: Option<(u64, u64, ProcessId)> = None;
        self.apps.each(|pid, a, _| {
            if a.pending && app.is_none_or(|(t, _, _)| a.ticket < t) {
                app = Some((a.ticket, a.after_kernel, pid));
            }
        });
        let kernel = self.kernel_out.len() > 0;
        match app {
            Some((_, after, _)) if kernel && self.kernel_out.gone() < after => {
                Some(Sender::Kernel(0))
            }
            Some((_, _, pid)) => Some(Sender::App(pid, 0)),
            None => kernel.then_some(Sender::Kernel(0)),
        }
    }

    /// Starts the next chunk if the UART is free, completing (with their
    /// upcall) writes that have nothing left to send.
    fn start_next(&self) {
        while self.tx_in_progress.is_none() {
            let Some(next) = self.oldest() else {
                return;
            };
            let Some(buf) = self.tx_buffer.take() else {
                return;
            };
            match next {
                Sender::Kernel(_) => {
                    let n = self.kernel_out.pop_into(buf);
                    if n == 0 {
                        self.tx_buffer.replace(buf);
                        continue;
                    }
                    self.tx_in_progress.set(Sender::Kernel(n));
                    if let Err((_, buf)) = self.uart.transmit_buffer(buf, n) {
                        // Refused (the port is off): the chunk is lost.
                        self.tx_in_progress.clear();
                        self.tx_buffer.replace(buf);
                        self.count_dropped(n);
                        self.deferred.set();
                    }
                }
                Sender::App(pid, _) => {
                    let chunk = self.apps.enter(pid, |app, kd| {
                        if !app.pending {
                            return 0;
                        }
                        let offset = app.written as usize;
                        let remaining = (app.write_len - app.written) as usize;
                        let n = kd
                            .with_read_only(ro_allow::WRITE, |data| {
                                // The app may have re-allowed a shorter
                                // buffer: it may not reach `offset` at all.
                                let n = remaining
                                    .min(data.len().saturating_sub(offset))
                                    .min(buf.len());
                                match (data.get(offset..offset + n), buf.get_mut(..n)) {
                                    (Some(src), Some(dst)) => {
                                        dst.copy_from_slice(src);
                                        n
                                    }
                                    _ => 0,
                                }
                            })
                            .unwrap_or(0);
                        if n == 0 {
                            // Done, or the buffer no longer reaches this far.
                            app.pending = false;
                            let _ = kd.schedule_upcall(upcall::WRITE_DONE, [app.written, 0, 0]);
                        }
                        n
                    });
                    match chunk {
                        Ok(n) if n > 0 => {
                            self.tx_in_progress.set(Sender::App(pid, n));
                            if let Err((_, buf)) = self.uart.transmit_buffer(buf, n) {
                                self.tx_in_progress.clear();
                                self.tx_buffer.replace(buf);
                                self.end_write(pid, 0, true);
                            }
                        }
                        Ok(_) => {
                            self.tx_buffer.replace(buf);
                        }
                        Err(_) => {
                            // Cannot happen (`each` only lists processes it
                            // could enter); retry later rather than spin.
                            self.tx_buffer.replace(buf);
                            self.deferred.set();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Counts `sent` bytes of `pid`'s write; completes it if all its bytes
    /// are out or `failed`.
    fn end_write(&self, pid: ProcessId, sent: usize, failed: bool) {
        let _ = self.apps.enter(pid, |app, kd| {
            if !app.pending {
                return;
            }
            app.written = app.written.saturating_add(sent as u32).min(app.write_len);
            if failed || app.written >= app.write_len {
                app.pending = false;
                let _ = kd.schedule_upcall(upcall::WRITE_DONE, [app.written, 0, 0]);
            }
        });
    }

    fn write(&self, pid: ProcessId, len: u32) -> Result<(), ErrorCode> {
        self.apps
            .enter(pid, |app, kd| {
                if app.pending {
                    return Err(ErrorCode::BUSY);
                }
                let allowed = u32::try_from(kd.read_only_len(ro_allow::WRITE)).unwrap_or(u32::MAX);
                *app = App {
                    pending: true,
                    write_len: len.min(allowed),
                    written: 0,
                    ticket: self.take_ticket(),
                    after_kernel: self.kernel_out.queued(),
                };
                Ok(())
            })
            .map_err(ErrorCode::from)??;
        self.start_next();
        Ok(())
    }

    // ----- reception ----------------------------------------------------

    fn read(&self, pid: ProcessId, len: u32) -> Result<(), ErrorCode> {
        if let Some(reader) = self.rx_in_progress.get() {
            if reader != pid && self.apps.enter(reader, |_, _| ()).is_err() {
                // The reader died: free the UART for the next attempt.
                let _ = self.uart.receive_abort();
            }
            return Err(ErrorCode::BUSY);
        }
        let capacity = self.rx_buffer.map(|b| b.len()).ok_or(ErrorCode::BUSY)?;
        let allowed = self
            .apps
            .enter(pid, |_, kd| kd.read_write_len(rw_allow::READ))?;
        let n = allowed.min(len as usize);
        if n == 0 || n > capacity {
            return Err(ErrorCode::SIZE);
        }
        let buf = self.rx_buffer.take().ok_or(ErrorCode::BUSY)?;
        self.rx_in_progress.set(pid);
        self.uart.receive_buffer(buf, n).map_err(|(e, buf)| {
            self.rx_in_progress.clear();
            self.rx_buffer.replace(buf);
            e
        })
    }

    fn abort_read(&self, pid: ProcessId) {
        if self.rx_in_progress.contains(&pid) {
            let _ = self.uart.receive_abort();
        }
    }
}

/// Kernel output as a [`fmt::Write`]; from [`Console::kernel_writer`].
pub struct KernelWriter<'c, 'a> {
    console: &'c Console<'a>,
}

impl fmt::Write for KernelWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.console.kernel_write(s.as_bytes());
        Ok(())
    }
}

/// Formats straight into a ring (the caller checked the room).
struct RingWriter<'r>(&'r Ring);

impl fmt::Write for RingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.push(s.as_bytes());
        Ok(())
    }
}

impl DebugOutput for Console<'_> {
    /// Queues the whole message, or drops the whole message (counting its
    /// bytes) if the ring lacks room for it.
    fn write_fmt(&self, args: fmt::Arguments<'_>) {
        if let Err(len) = self.push_whole(args) {
            self.count_dropped(len);
        }
    }
}

impl<'a> DebugSink<'a> for Console<'a> {
    /// `SIZE` if the message is longer than the whole ring, `BUSY` if it
    /// does not fit now (the client hears
    /// [`sink_ready`](DebugSinkClient::sink_ready) once room frees up).
    fn try_write_fmt(&self, args: fmt::Arguments<'_>) -> Result<(), ErrorCode> {
        match self.push_whole(args) {
            Ok(()) => Ok(()),
            Err(len) if len > self.kernel_out.capacity => Err(ErrorCode::SIZE),
            Err(_) => {
                self.sink_waiting.set(true);
                Err(ErrorCode::BUSY)
            }
        }
    }

    fn set_sink_client(&self, client: &'a dyn DebugSinkClient) {
        self.sink_client.set(client);
    }
}

impl SyscallDriver for Console<'_> {
    fn command(&self, command: u32, arg0: u32, _arg1: u32, pid: ProcessId) -> CommandReturn {
        let result = match command {
            command::EXISTS => Ok(()),
            command::WRITE => self.write(pid, arg0),
            command::READ => self.read(pid, arg0),
            command::ABORT_READ => {
                self.abort_read(pid);
                Ok(())
            }
            _ => Err(ErrorCode::NOSUPPORT),
        };
        match result {
            Ok(()) => CommandReturn::success(),
            Err(e) => CommandReturn::failure(e),
        }
    }
}

impl TransmitClient for Console<'_> {
    fn transmitted_buffer(&self, buf: &'static mut [u8], len: usize, rcode: Result<(), ErrorCode>) {
        self.tx_buffer.replace(buf);
        match self.tx_in_progress.take() {
            Some(Sender::App(pid, chunk)) => self.end_write(pid, len.min(chunk), rcode.is_err()),
            Some(Sender::Kernel(chunk)) if rcode.is_err() => {
                self.count_dropped(chunk.saturating_sub(len));
            }
            Some(Sender::Kernel(_)) | None => {}
        }
        self.start_next();
        self.notify_sink();
    }
}

impl ReceiveClient for Console<'_> {
    fn received_buffer(
        &self,
        buf: &'static mut [u8],
        len: usize,
        rcode: Result<(), ErrorCode>,
        error: uart::Error,
    ) {
        if let Some(pid) = self.rx_in_progress.take() {
            let got = &buf[..len.min(buf.len())];
            let _ = self.apps.enter(pid, |_, kd| {
                let copied = kd
                    .with_read_write(rw_allow::READ, |dst| {
                        let n = dst.len().min(got.len());
                        dst[..n].copy_from_slice(&got[..n]);
                        n
                    })
                    .unwrap_or(0);
                let status = match (error, rcode) {
                    (uart::Error::None | uart::Error::Aborted, _) if copied < got.len() => {
                        Err(ErrorCode::SIZE)
                    }
                    (uart::Error::None | uart::Error::Aborted, r) => r,
                    (_, Err(e)) => Err(e),
                    (_, Ok(())) => Err(ErrorCode::FAIL),
                };
                let _ =
                    kd.schedule_upcall(upcall::READ_DONE, [status_code(status), copied as u32, 0]);
            });
        }
        self.rx_buffer.replace(buf);
    }
}

impl DeferredCallClient for Console<'_> {
    fn handle_deferred_call(&self) {
        self.start_next();
        self.notify_sink();
    }
}
