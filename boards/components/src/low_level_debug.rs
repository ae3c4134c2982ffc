//! The low-level debug driver (8), printing through a debug sink (the
//! console).

use capsules_core::low_level_debug::{DebugSink, LowLevelDebug};
use kernel::Kernel;

/// Builds the driver with a queue of `N` entries, printing to `sink` (it
/// becomes the sink's client). It has no grant and no deferred call.
pub fn low_level_debug<const N: usize>(
    memory: &'static mut Option<LowLevelDebug<'static, N>>,
    kernel: &'static Kernel,
    sink: &'static dyn DebugSink<'static>,
) -> &'static LowLevelDebug<'static, N> {
    let driver: &'static LowLevelDebug<'static, N> =
        memory.insert(LowLevelDebug::new(kernel, sink));
    sink.set_sink_client(driver);
    driver
}
