//! Loading the processes the way the QEMU boards do, under the board's
//! [`LoadPolicy`] (theirs: ShortIds from the TBF, else the CRC-32 of the
//! package name; storage permissions from the TBF's storage TLV, else
//! self-only under the ShortId), with one console line per TBF of the
//! walk.

use core::fmt::Write;

use capsules_core::console::Console;
use kernel::platform::arch::UserspaceBoundary;
use kernel::platform::mpu::MemoryProtection;
use kernel::storage_permissions::{TlvElseCrc, TlvElseSelfOnlyPolicy};
use kernel::tbf::Outcome;
use kernel::{AppMemory, Kernel, LoadEvent, LoadPolicy};

/// Loads the processes in `memory` under `policy` and reports each TBF on
/// `console` as `name: <event>`; returns how many were loaded.
pub fn load_processes(
    name: &str,
    kernel: &'static Kernel,
    console: &Console<'static>,
    memory: AppMemory,
    policy: &LoadPolicy<'_>,
    boundary: &dyn UserspaceBoundary,
    protection: &dyn MemoryProtection,
) -> usize {
    let loaded = kernel.load_processes(memory, policy, boundary, protection, &mut |event| {
        // Padding between fixed-address apps is expected: no line.
        if !matches!(
            event,
            LoadEvent::Skipped {
                outcome: Outcome::Padding,
                ..
            }
        ) {
            let _ = writeln!(console.kernel_writer(), "{name}: {event}");
        }
    });
    let _ = writeln!(
        console.kernel_writer(),
        "{name}: {loaded} process(es) loaded"
    );
    loaded
}

/// [`load_processes`] under the boards' development policy: identities
/// and storage permissions taken from the TBF's header TLVs as they are
/// (ShortId TLV, else the CRC-32 of the package name; storage TLV, else
/// self-only), no credentials checked: upstream Tock's default.
pub fn load_with_development_policy(
    name: &str,
    kernel: &'static Kernel,
    console: &Console<'static>,
    memory: AppMemory,
    boundary: &dyn UserspaceBoundary,
    protection: &dyn MemoryProtection,
) -> usize {
    let policy = LoadPolicy::trusting(&TlvElseCrc, &TlvElseSelfOnlyPolicy);
    load_processes(name, kernel, console, memory, &policy, boundary, protection)
}
