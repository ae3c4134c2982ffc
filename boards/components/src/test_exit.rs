//! Test mode of the QEMU boards (their `test-exit` feature): once no
//! process is alive, report how each ended and leave QEMU with the number
//! that did not end cleanly, through the board's exit device.

use core::fmt::Write;

use capsules_core::console::Console;
use kernel::hil::time::{ConvertTicks, Ticks, Time};
use kernel::platform::Platform;
use kernel::process::State;
use kernel::utilities::Escaped;
use kernel::Kernel;

/// How a board leaves QEMU with a status (0 = success).
pub type Exit = fn(u16) -> !;

/// Services interrupts and deferred calls, without ever sleeping, until
/// the storage is idle (`storage_busy`), the console has handed all the
/// kernel's output to its UART and the UART has sent it, and nothing is
/// pending; or until `patience_ms` of `clock` have passed.
pub fn settle<T: Time>(
    console: &Console<'static>,
    clock: &T,
    platform: &Platform<'_>,
    storage_busy: &dyn Fn() -> bool,
    patience_ms: u64,
) {
    let start = clock.now();
    let patience: T::Ticks = clock.ticks_from_ms(patience_ms);
    while storage_busy()
        || console.kernel_pending() > 0
        || console.is_transmitting()
        || platform.deferred.has_pending()
        || platform.chip.has_pending_interrupts()
    {
        if clock.now().wrapping_sub(start) >= patience {
            break;
        }
        if platform.chip.has_pending_interrupts() {
            platform.chip.service_pending_interrupts();
        }
        platform.deferred.service_next();
    }
}

/// Every process has ended: prints one line per process and a summary
/// (each starting with the board's `name`), lets the storage finish
/// (`storage_busy`: a first mount may still be formatting the store) and
/// the console drain for at most ten seconds of `clock`, then calls `exit`
/// with the number of processes that faulted
/// or exited with a non-zero code.
pub fn finish<T: Time>(
    name: &str,
    kernel: &Kernel,
    console: &Console<'static>,
    clock: &T,
    platform: &Platform<'_>,
    storage_busy: &dyn Fn() -> bool,
    exit: Exit,
) -> ! {
    let mut failed: u32 = 0;
    for p in kernel.processes() {
        let mut w = console.kernel_writer();
        let _ = match (p.state(), p.completion_code()) {
            (State::Terminated, Some(code)) => {
                write!(
                    w,
                    "{name}: process '{}' exited with code {code}",
                    Escaped(p.name())
                )
            }
            (State::Terminated, None) => write!(
                w,
                "{name}: process '{}' ended without an exit code",
                Escaped(p.name())
            ),
            (State::Faulted, _) => write!(w, "{name}: process '{}' faulted", Escaped(p.name())),
            _ => continue,
        };
        let _ = writeln!(w, ", {} restart(s)", p.restart_count());
        if p.state() == State::Faulted || p.completion_code() != Some(0) {
            failed += 1;
        }
    }
    let _ = writeln!(
        console.kernel_writer(),
        "{name}: all processes ended, {failed} not cleanly"
    );
    // Let the storage finish (a kernel user may still be writing) and the
    // console drain.
    settle(console, clock, platform, storage_busy, 10_000);
    let start = clock.now();
    let drain: T::Ticks = clock.ticks_from_ms(2);
    while clock.now().wrapping_sub(start) < drain {}
    exit(u16::try_from(failed).unwrap_or(u16::MAX))
}
