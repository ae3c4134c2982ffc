//! The alarm driver (0) over one hardware alarm.

use capsules_core::alarm::{self, AlarmData, AlarmDriver};
use kernel::hil::time::Alarm;
use kernel::Kernel;

use crate::ComponentError;

/// Builds the alarm driver on `hw` (registers its grant with `kernel`,
/// becomes the alarm's client). `memory` is its home.
pub fn alarm<A: Alarm<'static>>(
    memory: &'static mut Option<AlarmDriver<'static, A>>,
    hw: &'static A,
    kernel: &'static Kernel,
) -> Result<&'static AlarmDriver<'static, A>, ComponentError> {
    let grant = kernel.create_grant::<AlarmData>(alarm::DRIVER_NUM, alarm::ALLOW_COUNTS)?;
    let driver: &'static AlarmDriver<'static, A> = memory.insert(AlarmDriver::new(hw, grant));
    hw.set_alarm_client(driver);
    Ok(driver)
}
