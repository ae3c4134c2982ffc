//! The low-level debug syscall driver, number 8: lets an app print a
//! number or report an alert with nothing but a command, for debugging
//! start-up problems before its own console works.
//!
//! # Interface summary
//!
//! | command | arguments | prints |
//! |---|---|---|
//! | 0 | | (exists: Success) |
//! | 1 | `code` | an alert line; code 1 = panic, 2 = wrong load address (libtock-rs start-up check) |
//! | 2 | `a` | one number |
//! | 3 | `a`, `b` | two numbers |
//! | other | | nothing: NOSUPPORT |
//!
//! Commands 1-3 always answer `Success` (even when the line has to be
//! dropped). There are no upcalls and no allows, so the driver needs no
//! grant: subscribe and allow to driver 8 answer `NOSUPPORT`.
//!
//! # Output format
//!
//! One line per command, numbers in lower-case hex with `0x`, ended by
//! `\n`:
//!
//! ```text
//! LowLevelDebug: App <name> alert code 0x1 (panic)
//! LowLevelDebug: App <name> alert code 0x2 (wrong load address)
//! LowLevelDebug: App <name> alert code 0x<code>
//! LowLevelDebug: App <name> prints 0x<a>
//! LowLevelDebug: App <name> prints 0x<a> 0x<b>
//! LowLevelDebug: Dropped 0x<n> entries
//! ```
//!
//! `<name>` is the app's package name from its TBF header, or `#<slot>`
//! (its process-table slot) if it has none. This follows upstream Tock's
//! lines, with the name in place of upstream's numeric app id.
//!
//! # Never blocking
//!
//! Lines go to a [`DebugSink`] the board supplies (normally the
//! [`Console`](crate::console::Console)'s kernel output). A sink takes a
//! whole line or refuses it with `BUSY` and later calls
//! [`DebugSinkClient::sink_ready`]. Meanwhile entries (not text: the app
//! name and the numbers) wait in a queue of `N` entries (8 by default);
//! when it is full, new entries are dropped and counted, and a `Dropped`
//! line appears in the output exactly where they were lost (after the
//! entries queued before them). A command never waits for the sink.
//!
//! # Board setup
//!
//! ```text
//! // LLDB: StaticCell<LowLevelDebug<'static>> (or components::low_level_debug)
//! let lldb = LLDB.init(LowLevelDebug::new(kernel, console));
//! console.set_sink_client(lldb);
//! // driver table: 8 => lldb
//! ```

use core::cell::Cell;
use core::fmt;

use kernel::process::ProcessId;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::{ErrorCode, Kernel};

/// The driver number.
pub const DRIVER_NUM: u32 = 8;

/// Command numbers.
pub mod command {
    /// Does the driver exist?
    pub const EXISTS: u32 = 0;
    /// Report an alert code (`arg0`).
    pub const ALERT: u32 = 1;
    /// Print one number (`arg0`).
    pub const PRINT1: u32 = 2;
    /// Print two numbers (`arg0`, `arg1`).
    pub const PRINT2: u32 = 3;
}

/// Alert codes with a meaning.
pub mod alert {
    /// The app panicked.
    pub const PANIC: u32 = 1;
    /// The app found itself at the wrong address (libtock-rs start-up).
    pub const WRONG_LOAD_ADDRESS: u32 = 2;
}

/// Where kernel diagnostics go when the writer must not block and must not
/// lose lines silently: a line is taken whole or refused.
pub trait DebugSink<'a> {
    /// Writes the whole formatted text, or nothing: `BUSY` if there is no
    /// room for it now (the client then hears
    /// [`sink_ready`](DebugSinkClient::sink_ready) later), `SIZE` if it can
    /// never fit.
    fn try_write_fmt(&self, args: fmt::Arguments<'_>) -> Result<(), ErrorCode>;

    /// Sets the client told when room frees up after a `BUSY`.
    fn set_sink_client(&self, client: &'a dyn DebugSinkClient);
}

/// Hears from a [`DebugSink`] that it has room again.
pub trait DebugSinkClient {
    /// Room freed up after a write was refused with `BUSY`. Called from
    /// the sink's callback context, never from inside `try_write_fmt`.
    fn sink_ready(&self);
}

/// What an entry prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Alert(u32),
    Print1(u32),
    Print2(u32, u32),
    /// The notice for entries lost at this point.
    Dropped(u32),
}

/// One queued line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    name: &'static str,
    slot: usize,
    kind: Kind,
    /// Entries dropped right after this one: a `Dropped` line follows it.
    drops_after: u32,
}

/// The app as printed: its name, or `#slot`.
struct AppName(&'static str, usize);

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            write!(f, "#{}", self.1)
        } else {
            f.write_str(self.0)
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = AppName(self.name, self.slot);
        match self.kind {
            Kind::Alert(code) => {
                write!(f, "LowLevelDebug: App {app} alert code {code:#x}")?;
                match code {
                    alert::PANIC => f.write_str(" (panic)")?,
                    alert::WRONG_LOAD_ADDRESS => f.write_str(" (wrong load address)")?,
                    _ => {}
                }
                f.write_str("\n")
            }
            Kind::Print1(a) => writeln!(f, "LowLevelDebug: App {app} prints {a:#x}"),
            Kind::Print2(a, b) => writeln!(f, "LowLevelDebug: App {app} prints {a:#x} {b:#x}"),
            Kind::Dropped(n) => writeln!(f, "LowLevelDebug: Dropped {n:#x} entries"),
        }
    }
}

/// The low-level debug driver with a queue of `N` entries; see the
/// [module docs](self).
pub struct LowLevelDebug<'a, const N: usize = 8> {
    kernel: &'a Kernel,
    sink: &'a dyn DebugSink<'a>,
    queue: [Cell<Option<Entry>>; N],
    head: Cell<usize>,
    len: Cell<usize>,
    dropped: Cell<usize>,
    /// Set while the queue is being written out (guards against re-entry).
    flushing: Cell<bool>,
}

impl<'a, const N: usize> LowLevelDebug<'a, N> {
    /// A driver printing to `sink`; `kernel` names the apps. Make the
    /// driver the sink's client ([`DebugSink::set_sink_client`]).
    pub fn new(kernel: &'a Kernel, sink: &'a dyn DebugSink<'a>) -> Self {
        const { assert!(N > 0, "LowLevelDebug needs room for one entry") };
        LowLevelDebug {
            kernel,
            sink,
            queue: [const { Cell::new(None) }; N],
            head: Cell::new(0),
            len: Cell::new(0),
            dropped: Cell::new(0),
            flushing: Cell::new(false),
        }
    }

    /// Entries dropped so far because the queue was full.
    pub fn dropped(&self) -> usize {
        self.dropped.get()
    }

    /// Lines waiting for the sink (including `Dropped` notices).
    pub fn queued(&self) -> usize {
        self.len.get()
    }

    fn at(&self, i: usize) -> &Cell<Option<Entry>> {
        &self.queue[(self.head.get() + i) % N]
    }

    fn push(&self, entry: Entry) {
        let len = self.len.get();
        if len < N {
            self.at(len).set(Some(entry));
            self.len.set(len + 1);
            return;
        }
        self.dropped.set(self.dropped.get().saturating_add(1));
        let tail = self.at(N - 1);
        if let Some(mut t) = tail.get() {
            match &mut t.kind {
                Kind::Dropped(n) => *n = n.saturating_add(1),
                _ => t.drops_after = t.drops_after.saturating_add(1),
            }
            tail.set(Some(t));
        }
    }

    /// Removes the front entry, leaving its `Dropped` notice in its place.
    fn advance(&self, front: Entry) {
        if front.drops_after > 0 {
            self.at(0).set(Some(Entry {
                kind: Kind::Dropped(front.drops_after),
                drops_after: 0,
                ..front
            }));
        } else {
            self.at(0).set(None);
            self.head.set((self.head.get() + 1) % N);
            self.len.set(self.len.get() - 1);
        }
    }

    /// Writes queued lines until the queue is empty or the sink is busy.
    fn flush(&self) {
        if self.flushing.replace(true) {
            return;
        }
        while self.len.get() > 0 {
            let Some(front) = self.at(0).get() else {
                break;
            };
            match self.sink.try_write_fmt(format_args!("{front}")) {
                Ok(()) => self.advance(front),
                Err(ErrorCode::BUSY) => break,
                // Can never be written: skip it (keeping its notice).
                Err(_) => self.advance(front),
            }
        }
        self.flushing.set(false);
    }
}

impl<const N: usize> SyscallDriver for LowLevelDebug<'_, N> {
    fn command(&self, command: u32, arg0: u32, arg1: u32, pid: ProcessId) -> CommandReturn {
        let kind = match command {
            command::EXISTS => return CommandReturn::success(),
            command::ALERT => Kind::Alert(arg0),
            command::PRINT1 => Kind::Print1(arg0),
            command::PRINT2 => Kind::Print2(arg0, arg1),
            _ => return CommandReturn::failure(ErrorCode::NOSUPPORT),
        };
        let name = self.kernel.process(pid).map_or("", |p| p.name());
        // Make room first if the sink has some.
        self.flush();
        self.push(Entry {
            name,
            slot: pid.index(),
            kind,
            drops_after: 0,
        });
        self.flush();
        CommandReturn::success()
    }
}

impl<const N: usize> DebugSinkClient for LowLevelDebug<'_, N> {
    fn sink_ready(&self) {
        self.flush();
    }
}
