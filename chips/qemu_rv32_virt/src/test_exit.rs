//! The `sifive_test` device: ends the QEMU run with an exit status.
//!
//! Writing `0x5555` to its register makes QEMU exit with status 0;
//! `(code << 16) | 0x3333` makes it exit with status `code`. This is how a
//! test kernel reports its verdict to the test runner.

use tock_registers::interfaces::Writeable;
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

use static_ref::StaticRef;

/// Address of the `sifive_test` device on the `virt` machine.
pub const SIFIVE_TEST_BASE: usize = 0x0010_0000;
/// Value that makes QEMU exit with status 0.
pub const PASS: u32 = 0x5555;
/// Low half of a failure value: QEMU exits with the high half as status.
pub const FAIL: u32 = 0x3333;

/// The `sifive_test` register (only on RISC-V targets).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub const SIFIVE_TEST: StaticRef<TestRegisters> =
    // SAFETY: the `virt` machine maps the `sifive_test` device at
    // `SIFIVE_TEST_BASE`.
    unsafe { StaticRef::new(SIFIVE_TEST_BASE as *const TestRegisters) };

register_structs! {
    /// The `sifive_test` register block.
    pub TestRegisters {
        /// Written with [`PASS`] or a failure value.
        (0x0 => finisher: ReadWrite<u32>),
        (0x4 => @END),
    }
}

/// The value that makes QEMU exit with status `code`. A code of 0 is sent
/// as 1, so that a failure can never look like a pass.
pub const fn failure_value(code: u16) -> u32 {
    let code = if code == 0 { 1 } else { code as u32 };
    (code << 16) | FAIL
}

/// The `sifive_test` device.
#[derive(Clone, Copy, Debug)]
pub struct TestExit {
    regs: StaticRef<TestRegisters>,
}

impl TestExit {
    /// The device at `regs` (`SIFIVE_TEST` on the `virt` machine, RISC-V targets only).
    pub const fn new(regs: StaticRef<TestRegisters>) -> Self {
        TestExit { regs }
    }

    /// Asks QEMU to exit with status 0 (returns if the write had no effect,
    /// for example when not running under QEMU).
    pub fn request_success(&self) {
        self.regs.finisher.set(PASS);
    }

    /// Asks QEMU to exit with status `code` (see [`failure_value`]).
    pub fn request_failure(&self, code: u16) {
        self.regs.finisher.set(failure_value(code));
    }

    /// Exits QEMU with status 0; spins if that does not happen.
    pub fn exit_success(&self) -> ! {
        self.request_success();
        halt()
    }

    /// Exits QEMU with status `code` (0 becomes 1); spins if that does not
    /// happen.
    pub fn exit_failure(&self, code: u16) -> ! {
        self.request_failure(code);
        halt()
    }
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Exits QEMU with status 0 (RISC-V targets only).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub fn exit_success() -> ! {
    TestExit::new(SIFIVE_TEST).exit_success()
}

/// Exits QEMU with status `code`, 0 becoming 1 (RISC-V targets only).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub fn exit_failure(code: u16) -> ! {
    TestExit::new(SIFIVE_TEST).exit_failure(code)
}

/// Exits QEMU with status `code` (0 is success; RISC-V targets only).
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub fn exit(code: u16) -> ! {
    match code {
        0 => exit_success(),
        n => exit_failure(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use static_ref::fake;

    #[test]
    fn values() {
        assert_eq!(failure_value(3), 0x0003_3333);
        assert_eq!(failure_value(0xFFFF), 0xFFFF_3333);
        assert_eq!(failure_value(0), 0x0001_3333);
        let (regs, mem) = fake::registers::<TestRegisters, u32>();
        let dev = TestExit::new(regs);
        dev.request_success();
        assert_eq!(mem[0].get(), 0x5555);
        dev.request_failure(42);
        assert_eq!(mem[0].get(), (42 << 16) | 0x3333);
    }
}
