//! Inter-process communication (0x10000), with client buffers shared
//! through the board's protection unit.

use kernel::ipc::{self, Ipc};
use kernel::platform::mpu::MemoryProtection;
use kernel::Kernel;

use crate::ComponentError;

/// Builds the IPC driver for a kernel with `processes` process slots
/// (one upcall and one shared-buffer slot per possible peer) over the
/// board's `protection` unit, which must be the one the kernel loop
/// configures. Creates its grant, so it runs before processes are loaded.
pub fn ipc(
    memory: &'static mut Option<Ipc>,
    kernel: &'static Kernel,
    processes: u8,
    protection: &'static dyn MemoryProtection,
) -> Result<&'static Ipc, ComponentError> {
    let grant = kernel.create_grant::<()>(ipc::DRIVER_NUM, ipc::allow_counts(processes))?;
    Ok(memory.insert(Ipc::new(kernel, grant, protection)))
}
