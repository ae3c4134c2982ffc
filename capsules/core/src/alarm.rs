//! The alarm syscall driver, number 0: one virtual one-shot alarm per app
//! over a single hardware [`Alarm`].
//!
//! # Interface summary
//!
//! | | number | arguments | answer |
//! |---|---|---|---|
//! | command | 0 | | Success |
//! | command | 1 | | Success u32: the tick frequency in Hz |
//! | command | 2 | | Success u32: now |
//! | command | 3 | | stop: Success, or `ALREADY` if no alarm is armed |
//! | command | 4 | | `NOSUPPORT` (deprecated upstream) |
//! | command | 5 | `dt` | set relative: reference = now; Success u32: the expiration |
//! | command | 6 | `reference`, `dt` | set absolute; Success u32: the expiration |
//! | other | | | `NOSUPPORT` |
//! | subscribe | 0 | | fired: `(now, expiration, 0)` |
//!
//! The expiration is `reference + dt` (wrapping). Setting an alarm
//! replaces the app's previous one (each app has at most one). An alarm is
//! due once now is no longer within `[reference, reference + dt)`, taken
//! forward with wraparound; so a `dt` of 0, or a set-absolute whose
//! reference is (slightly) ahead of now, fires at once. After firing (or
//! stop) the app's alarm is disarmed. Commands 5/6/3 with a grant that
//! cannot be allocated answer `NOMEM`; 1 and 2 need no grant.
//!
//! # Ticks seen by apps
//!
//! Apps see a 32-bit counter that wraps at 2^32. For hardware counters of
//! 32 bits and more it is the low 32 bits of the hardware counter. Narrower
//! counters (a 24-bit RTC) are *left-justified* as upstream Tock does it:
//! values are shifted left by `32 - width` bits and the frequency reported
//! by command 1 is scaled by the same factor, so apps still see a counter
//! that wraps at 2^32; the hardware delay is rounded up so an alarm never
//! fires early.
//!
//! # Virtualisation
//!
//! Each app's alarm (reference, dt, armed) lives in its grant
//! ([`AlarmData`]). Whenever an alarm is set or stopped and whenever the
//! hardware alarm fires, the driver visits every app: due alarms are
//! disarmed and their upcall scheduled, and the hardware alarm is set
//! (relative to the current hardware time) for the earliest remaining one,
//! or disarmed if none is left. All comparisons use
//! [`Ticks::within_range`], so they are correct across the wrap of the
//! counter as long as an alarm is serviced within 2^32 ticks of its
//! reference. An app that exits, faults or restarts loses its alarm with
//! its grant; if the hardware alarm was set for it, it fires, finds
//! nothing due and is disarmed.
//!
//! # Board setup
//!
//! ```text
//! let grant = kernel.create_grant::<alarm::AlarmData>(alarm::DRIVER_NUM, alarm::ALLOW_COUNTS)?;
//! // ALARM: StaticCell<AlarmDriver<'static, Mtimer>> (or components::alarm)
//! let driver = ALARM.init(AlarmDriver::new(mtimer, grant));
//! mtimer.set_alarm_client(driver);
//! // driver table: 0 => driver
//! ```

use kernel::grant::{AllowCounts, Grant, GrantData};
use kernel::hil::time::{Alarm, AlarmClient, Frequency, Ticks, Ticks32};
use kernel::process::ProcessId;
use kernel::syscall_driver::{CommandReturn, SyscallDriver};
use kernel::ErrorCode;

/// The driver number.
pub const DRIVER_NUM: u32 = 0;

/// The upcall and allow slots of the driver's grant: one upcall.
pub const ALLOW_COUNTS: AllowCounts = AllowCounts {
    upcalls: 1,
    read_only: 0,
    read_write: 0,
    userspace_readable: 0,
};

/// Command numbers.
pub mod command {
    /// Does the driver exist?
    pub const EXISTS: u32 = 0;
    /// The tick frequency.
    pub const FREQUENCY: u32 = 1;
    /// The current time.
    pub const NOW: u32 = 2;
    /// Disarm the app's alarm.
    pub const STOP: u32 = 3;
    /// Arm for `arg0` ticks from now.
    pub const SET_RELATIVE: u32 = 5;
    /// Arm for `arg0 + arg1` (reference, dt).
    pub const SET_ABSOLUTE: u32 = 6;
}

/// Subscribe numbers.
pub mod upcall {
    /// The alarm fired: `(now, expiration, 0)`.
    pub const FIRED: u32 = 0;
}

/// The driver's data in each app's grant: its one alarm, in the 32-bit
/// ticks apps see.
///
/// Encoded as (little-endian), 9 bytes:
///
/// ```text
/// 0       1 if armed, else 0
/// 1..5    reference (u32)
/// 5..9    dt (u32)
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlarmData {
    armed: bool,
    reference: u32,
    dt: u32,
}

impl GrantData for AlarmData {
    const SIZE: usize = 9;

    fn load(b: &[u8]) -> Self {
        if b.len() < Self::SIZE {
            return AlarmData::default();
        }
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        AlarmData {
            armed: b[0] != 0,
            reference: u32_at(1),
            dt: u32_at(5),
        }
    }

    fn store(&self, b: &mut [u8]) {
        if b.len() < Self::SIZE {
            return;
        }
        b[0] = u8::from(self.armed);
        b[1..5].copy_from_slice(&self.reference.to_le_bytes());
        b[5..9].copy_from_slice(&self.dt.to_le_bytes());
    }
}

impl AlarmData {
    /// The expiration, `reference + dt`.
    fn expiration(&self) -> Ticks32 {
        Ticks32::from(self.reference).wrapping_add(Ticks32::from(self.dt))
    }

    /// Whether the alarm is armed and not yet due at `now`.
    fn waiting_at(&self, now: Ticks32) -> bool {
        self.armed && now.within_range(Ticks32::from(self.reference), self.expiration())
    }
}

/// The alarm driver over one hardware alarm; see the [module docs](self).
pub struct AlarmDriver<'a, A: Alarm<'a> + ?Sized> {
    alarm: &'a A,
    apps: Grant<AlarmData>,
}

impl<'a, A: Alarm<'a> + ?Sized> AlarmDriver<'a, A> {
    /// A driver over `alarm` with its grant (created with
    /// [`ALLOW_COUNTS`] for [`DRIVER_NUM`]). Make the driver the alarm's
    /// client.
    pub fn new(alarm: &'a A, apps: Grant<AlarmData>) -> Self {
        AlarmDriver { alarm, apps }
    }

    /// Bits the hardware counter is shifted left by for apps (0 for
    /// counters of 32 bits and more).
    fn padding() -> u32 {
        32u32.saturating_sub(A::Ticks::WIDTH)
    }

    /// The frequency apps see (scaled with the padding).
    pub fn frequency() -> u32 {
        let scaled = u64::from(<A::Frequency as Frequency>::frequency()) << Self::padding();
        u32::try_from(scaled).unwrap_or(u32::MAX)
    }

    /// A hardware time as apps see it.
    fn to_app(t: A::Ticks) -> Ticks32 {
        Ticks32::from(t.into_u32() << Self::padding())
    }

    /// The hardware delay that lasts at least `ticks` app ticks.
    fn to_hardware(ticks: u32) -> A::Ticks {
        let pad = Self::padding();
        let units = u64::from(ticks).div_ceil(1u64 << pad);
        A::Ticks::from_u64_saturating(units)
    }

    /// The current time as apps see it.
    pub fn now(&self) -> u32 {
        Self::to_app(self.alarm.now()).get()
    }

    /// Delivers every due alarm and sets the hardware alarm for the
    /// earliest remaining one (or disarms it). Must not run while a grant
    /// of this driver is entered (it visits them all).
    fn rearm_or_fire(&self) {
        let hw_now = self.alarm.now();
        let now = Self::to_app(hw_now);
        let mut earliest: Option<u32> = None;
        self.apps.each(|_, app, kd| {
            if !app.armed {
                return;
            }
            let end = app.expiration();
            if app.waiting_at(now) {
                let left = end.wrapping_sub(now).get();
                earliest = Some(earliest.map_or(left, |e| e.min(left)));
            } else {
                app.armed = false;
                let _ = kd.schedule_upcall(upcall::FIRED, [now.get(), end.get(), 0]);
            }
        });
        match earliest {
            Some(left) => self.alarm.set_alarm(hw_now, Self::to_hardware(left)),
            None => {
                let _ = self.alarm.disarm();
            }
        }
    }

    /// Arms `pid`'s alarm; returns the expiration.
    fn set(&self, pid: ProcessId, reference: Option<u32>, dt: u32) -> CommandReturn {
        let now = self.now();
        let r = self.apps.enter(pid, |app, _| {
            *app = AlarmData {
                armed: true,
                reference: reference.unwrap_or(now),
                dt,
            };
            app.expiration().get()
        });
        match r {
            Ok(expiration) => {
                self.rearm_or_fire();
                CommandReturn::success_u32(expiration)
            }
            Err(e) => CommandReturn::failure(e.into()),
        }
    }

    fn stop(&self, pid: ProcessId) -> CommandReturn {
        let r = self
            .apps
            .enter(pid, |app, _| core::mem::take(&mut app.armed));
        match r {
            Ok(true) => {
                self.rearm_or_fire();
                CommandReturn::success()
            }
            Ok(false) => CommandReturn::failure(ErrorCode::ALREADY),
            Err(e) => CommandReturn::failure(e.into()),
        }
    }
}

impl<'a, A: Alarm<'a> + ?Sized> SyscallDriver for AlarmDriver<'a, A> {
    fn command(&self, command: u32, arg0: u32, arg1: u32, pid: ProcessId) -> CommandReturn {
        match command {
            command::EXISTS => CommandReturn::success(),
            command::FREQUENCY => CommandReturn::success_u32(Self::frequency()),
            command::NOW => CommandReturn::success_u32(self.now()),
            command::STOP => self.stop(pid),
            command::SET_RELATIVE => self.set(pid, None, arg0),
            command::SET_ABSOLUTE => self.set(pid, Some(arg0), arg1),
            _ => CommandReturn::failure(ErrorCode::NOSUPPORT),
        }
    }
}

impl<'a, A: Alarm<'a> + ?Sized> AlarmClient for AlarmDriver<'a, A> {
    fn alarm(&self) {
        self.rearm_or_fire();
    }
}
