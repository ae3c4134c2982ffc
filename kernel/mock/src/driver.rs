//! A syscall driver for kernel tests: it exercises grants, upcalls, allowed
//! buffers and every command return variant.

use kernel::grant::{AllowCounts, Grant};
use kernel::policy::{ProcessFaultPolicy, SyscallFilter};
use kernel::process::ProcessId;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::ErrorCode;

use crate::{leak, Harness};

/// The driver number tests register the [`TestDriver`] under.
pub const DRV: u32 = 0x9000;

/// Slots the [`TestDriver`] declares: 2 upcalls, 2 read-only, 2 read-write
/// and 1 userspace-readable allow.
pub const COUNTS: AllowCounts = AllowCounts {
    upcalls: 2,
    read_only: 2,
    read_write: 2,
    userspace_readable: 1,
};

/// A driver exercising grants. Per-process grant data is
/// `[commands, last_arg]`: how many commands the process sent (in this
/// run) and the last `arg0`.
///
/// | command | effect | answer |
/// |---|---|---|
/// | 0 | exists | Success |
/// | 1 | schedules upcall `arg0` with `(arg1, commands, 7)` | Success, NOMEM if the queue is full |
/// | 2 | reads read-only buffer `arg0` | Success (sum of its bytes, length) |
/// | 3 | fills read-write buffer `arg0` with `arg1` | Success (its length) |
/// | 4 | | Success (commands) |
/// | 5 | every return variant, chosen by `arg0` (0..=9) | |
/// | 6 | schedules upcall `arg0` with `(arg1, caller's slot, 6)` on every *other* live process holding the grant | Success (how many) |
/// | other | | NOSUPPORT |
pub struct TestDriver {
    /// The driver's grant.
    pub grant: Grant<[u32; 2]>,
}

impl TestDriver {
    /// Registers a grant for driver `num` and the driver itself with the
    /// harness (before loading).
    pub fn install(h: &Harness, num: u32) -> &'static TestDriver {
        let grant = h
            .kernel
            .create_grant::<[u32; 2]>(num, COUNTS)
            .expect("grant registry accepts the test driver");
        let driver = leak(TestDriver { grant });
        h.drivers.add(num, driver);
        driver
    }

    fn notify_others(&self, caller: ProcessId, subscribe: u32, arg: u32) -> CommandReturn {
        let mut scheduled = 0;
        self.grant.each(|pid, _, kd| {
            if pid != caller
                && kd
                    .schedule_upcall(subscribe, [arg, caller.index() as u32, 6])
                    .is_ok()
            {
                scheduled += 1;
            }
        });
        CommandReturn::success_u32(scheduled)
    }
}

impl SyscallDriver for TestDriver {
    fn command(&self, command: u32, arg0: u32, arg1: u32, pid: ProcessId) -> CommandReturn {
        if command == 6 {
            return self.notify_others(pid, arg0, arg1);
        }
        let r = self.grant.enter(pid, |data, kd| {
            data[0] += 1;
            data[1] = arg0;
            match command {
                0 => CommandReturn::success(),
                1 => match kd.schedule_upcall(arg0, [arg1, data[0], 7]) {
                    Ok(()) => CommandReturn::success(),
                    Err(_) => CommandReturn::failure(ErrorCode::NOMEM),
                },
                2 => match kd.with_read_only(arg0, |b| {
                    (b.iter().map(|&x| u32::from(x)).sum::<u32>(), b.len())
                }) {
                    Ok((sum, len)) => CommandReturn::success_u32_u32(sum, len as u32),
                    Err(e) => CommandReturn::failure(e),
                },
                3 => match kd.with_read_write(arg0, |b| {
                    b.fill(arg1 as u8);
                    b.len()
                }) {
                    Ok(len) => CommandReturn::success_u32(len as u32),
                    Err(e) => CommandReturn::failure(e),
                },
                4 => CommandReturn::success_u32(data[0]),
                5 => match arg0 {
                    0 => CommandReturn::failure(ErrorCode::BUSY),
                    1 => CommandReturn::failure_u32(ErrorCode::SIZE, 11),
                    2 => CommandReturn::failure_u32_u32(ErrorCode::FAIL, 12, 13),
                    3 => CommandReturn::failure_u64(ErrorCode::NOMEM, 0x1_0000_0002),
                    4 => CommandReturn::success(),
                    5 => CommandReturn::success_u32(21),
                    6 => CommandReturn::success_u32_u32(22, 23),
                    7 => CommandReturn::success_u64(0x3_0000_0004),
                    8 => CommandReturn::success_u32_u32_u32(24, 25, 26),
                    _ => CommandReturn::success_u32_u64(27, 0x5_0000_0006),
                },
                _ => CommandReturn::failure(ErrorCode::NOSUPPORT),
            }
        });
        r.unwrap_or_else(|e| CommandReturn::failure(e.into()))
    }
}

impl Harness {
    /// A harness with `slots` process slots and the [`TestDriver`]
    /// registered as driver [`DRV`].
    pub fn with_test_driver(
        slots: usize,
        fault_policy: &'static dyn ProcessFaultPolicy,
        filter: &'static dyn SyscallFilter,
    ) -> (Harness, &'static TestDriver) {
        let h = Harness::new(slots, fault_policy, filter);
        let driver = TestDriver::install(&h, DRV);
        (h, driver)
    }
}
