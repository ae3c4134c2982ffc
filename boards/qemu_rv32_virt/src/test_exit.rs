//! Test mode (the `test-exit` feature): once no process is alive, report
//! how each ended and exit QEMU with the number that did not end cleanly.

use core::fmt::Write;

use capsules_core::console::Console;
use kernel::deferred_call::DeferredCalls;
use kernel::platform::Platform;
use kernel::process::State;
use kernel::Kernel;
use qemu_rv32_virt_chip::clint::Clint;

use crate::DEFERRED_CALL_SLOTS;

/// Test mode: every process has ended. Flushes the console and exits QEMU
/// with the number of processes that did not end cleanly.
pub fn finish(
    kernel: &Kernel,
    console: &Console<'static>,
    clint0: &Clint<'static>,
    calls: &DeferredCalls<DEFERRED_CALL_SLOTS>,
    platform: &Platform<'_>,
    storage_busy: &dyn Fn() -> bool,
) -> ! {
    use kernel::hil::time::{Ticks, Time};
    let mut failed = 0;
    for p in kernel.processes() {
        let mut w = console.kernel_writer();
        let _ = match (p.state(), p.completion_code()) {
            (State::Terminated, Some(code)) => {
                write!(
                    w,
                    "qemu_rv32_virt: process '{}' exited with code {code}",
                    p.name()
                )
            }
            (State::Terminated, None) => write!(
                w,
                "qemu_rv32_virt: process '{}' ended without an exit code",
                p.name()
            ),
            (State::Faulted, _) => write!(w, "qemu_rv32_virt: process '{}' faulted", p.name()),
            _ => continue,
        };
        let _ = writeln!(w, ", {} restart(s)", p.restart_count());
        if p.state() == State::Faulted || p.completion_code() != Some(0) {
            failed += 1;
        }
    }
    let _ = writeln!(
        console.kernel_writer(),
        "qemu_rv32_virt: all processes ended, {failed} not cleanly"
    );
    // Let the storage finish (a kernel user may still be writing) and the
    // console drain, servicing interrupts and deferred calls without ever
    // sleeping; then give the UART FIFO time to empty.
    let deadline = clint0.now().into_u64().wrapping_add(10_000_000);
    while storage_busy()
        || console.kernel_pending() > 0
        || calls.has_pending()
        || platform.chip.has_pending_interrupts()
    {
        if clint0.now().into_u64() > deadline {
            break;
        }
        if platform.chip.has_pending_interrupts() {
            platform.chip.service_pending_interrupts();
        }
        calls.service_next();
    }
    let until = clint0.now().into_u64().wrapping_add(20_000);
    while clint0.now().into_u64() < until {}
    match u16::try_from(failed) {
        Ok(0) => qemu_rv32_virt_chip::test_exit::exit_success(),
        Ok(n) => qemu_rv32_virt_chip::test_exit::exit_failure(n),
        Err(_) => qemu_rv32_virt_chip::test_exit::exit_failure(u16::MAX),
    }
}
