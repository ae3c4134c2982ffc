//! SysTick, the core timer, as the kernel's [`SchedulerTimer`]: a
//! countdown from the processor clock (the AST1030 has no reference
//! clock). Its handler (`switch.rs`) raises a flag; a process running when
//! it fires is preempted. The timer is periodic until the kernel stops it:
//! if it fires while the kernel is still on its way to a process (a
//! deadline already due), it fires again one period into the process, so
//! no process can run with the timer spent. The period is at least
//! [`MIN_RELOAD`] cycles, so a due deadline cannot flood the kernel with
//! interrupts.
//!
//! The 24-bit counter bounds one period: at 200 MHz, about 84 ms; longer
//! requests are cut to that (a scheduler or a wake-up then simply comes
//! back earlier).

use kernel::platform::chip::SchedulerTimer;

/// The largest reload value.
pub const MAX_RELOAD: u32 = 0xFF_FFFF;
/// The smallest reload value: 2000 cycles (10 us at 200 MHz) between two
/// interrupts at most.
pub const MIN_RELOAD: u32 = 2000;

/// The reload value for `us` microseconds at `hz`: at least
/// [`MIN_RELOAD`], at most [`MAX_RELOAD`].
pub fn reload_for(us: u32, hz: u32) -> u32 {
    // `us * hz / 10^6`, split at whole megahertz so that a clock of whole
    // megahertz (every board's) needs no 64-bit division, which the core
    // does in software: this runs before every run of a process.
    let (per_us, rest) = (hz / 1_000_000, hz % 1_000_000);
    let mut ticks = u64::from(us) * u64::from(per_us);
    if rest != 0 {
        ticks += u64::from(us) * u64::from(rest) / 1_000_000;
    }
    u32::try_from(ticks.clamp(u64::from(MIN_RELOAD), u64::from(MAX_RELOAD))).unwrap_or(MAX_RELOAD)
}

/// SysTick clocked from the processor clock at `hz`.
#[derive(Debug)]
pub struct SysTick {
    hz: u32,
}

impl SysTick {
    /// SysTick on a core clocked at `hz`.
    pub const fn new(hz: u32) -> Self {
        SysTick { hz }
    }

    /// Fires in `us` microseconds and every `us` after that until stopped
    /// (bounded, see the module docs).
    pub fn arm(&self, us: u32) {
        let reload = reload_for(us, self.hz);
        #[cfg(all(target_arch = "arm", target_os = "none"))]
        {
            use core::sync::atomic::Ordering;
            crate::switch::CM_SYSTICK_FIRED.store(0, Ordering::Relaxed);
            // SAFETY: SysTick is a core peripheral owned by this driver;
            // stop, load, clear the count, start with the interrupt on and
            // the processor clock as the source.
            unsafe {
                let syst = &*cortex_m::peripheral::SYST::PTR;
                syst.csr.write(0);
                syst.rvr.write(reload);
                syst.cvr.write(0);
                syst.csr.write(0b111);
            }
        }
        #[cfg(not(all(target_arch = "arm", target_os = "none")))]
        let _ = reload;
    }

    /// Stops the timer and forgets that it fired.
    pub fn stop(&self) {
        #[cfg(all(target_arch = "arm", target_os = "none"))]
        {
            use core::sync::atomic::Ordering;
            // SAFETY: as in `arm`: stopping the counter.
            unsafe { (*cortex_m::peripheral::SYST::PTR).csr.write(0) };
            crate::switch::CM_SYSTICK_FIRED.store(0, Ordering::Relaxed);
        }
    }

    /// Whether the timer fired since it was last armed.
    pub fn fired(&self) -> bool {
        #[cfg(all(target_arch = "arm", target_os = "none"))]
        {
            use core::sync::atomic::Ordering;
            crate::switch::CM_SYSTICK_FIRED.load(Ordering::Relaxed) != 0
        }
        #[cfg(not(all(target_arch = "arm", target_os = "none")))]
        false
    }
}

impl SchedulerTimer for SysTick {
    fn start(&self, us: u32) {
        self.arm(us);
    }

    fn reset(&self) {
        self.stop();
    }

    fn expired(&self) -> bool {
        self.fired()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads() {
        assert_eq!(reload_for(10_000, 200_000_000), 2_000_000);
        assert_eq!(reload_for(0, 200_000_000), MIN_RELOAD, "never a flood");
        assert_eq!(reload_for(1_000_000, 200_000_000), MAX_RELOAD);
        assert_eq!(reload_for(u32::MAX, u32::MAX), MAX_RELOAD);
        assert_eq!(reload_for(1, 1_000_000), MIN_RELOAD);
    }

    #[test]
    fn reloads_are_the_exact_quotient_for_any_clock() {
        for hz in [
            1_000_000,
            12_000_000,
            200_000_000,
            32_768,
            16_777_216,
            99_999_999,
            u32::MAX,
        ] {
            for us in [0, 1, 7, 999, 10_000, 83_886, 1_000_000, u32::MAX] {
                let exact = u64::from(us) * u64::from(hz) / 1_000_000;
                let want = exact.clamp(u64::from(MIN_RELOAD), u64::from(MAX_RELOAD)) as u32;
                assert_eq!(reload_for(us, hz), want, "{us} us at {hz} Hz");
            }
        }
    }
}
