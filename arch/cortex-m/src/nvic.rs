//! The NVIC, and the contract between the exception entry code and a
//! chip crate.
//!
//! An external interrupt taken while the kernel or a process runs is
//! disabled in the NVIC by the entry code and left pending (`switch.rs`).
//! A chip enables its sources with [`enable`], asks [`pending`] which of
//! them are waiting (pending in the NVIC), services the device and calls
//! [`complete`], which clears the pending bit and enables the source
//! again; a device still asserting its line pends it once more.
//!
//! On the host every call is a no-op and nothing is pending, so chip logic
//! built on these functions compiles and runs in host tests.

/// Enables interrupt `n`.
pub fn enable(n: u32) {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    // SAFETY: setting an enable bit of the NVIC: the entry code copes with
    // any interrupt.
    unsafe {
        (*cortex_m::peripheral::NVIC::PTR).iser[(n / 32) as usize].write(1 << (n % 32))
    };
    #[cfg(not(all(target_arch = "arm", target_os = "none")))]
    let _ = n;
}

/// Disables interrupt `n`.
pub fn disable(n: u32) {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    // SAFETY: clearing an enable bit only stops an interrupt.
    unsafe {
        (*cortex_m::peripheral::NVIC::PTR).icer[(n / 32) as usize].write(1 << (n % 32))
    };
    #[cfg(not(all(target_arch = "arm", target_os = "none")))]
    let _ = n;
}

/// Whether interrupt `n` is pending.
pub fn pending(n: u32) -> bool {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    {
        // SAFETY: reading a pending register has no effect.
        let ispr = unsafe { (*cortex_m::peripheral::NVIC::PTR).ispr[(n / 32) as usize].read() };
        ispr & (1 << (n % 32)) != 0
    }
    #[cfg(not(all(target_arch = "arm", target_os = "none")))]
    {
        let _ = n;
        false
    }
}

/// Interrupt `n` was serviced: clears its pending bit and enables it again.
pub fn complete(n: u32) {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    // SAFETY: clearing a pending bit and enabling the source.
    unsafe {
        let nvic = &*cortex_m::peripheral::NVIC::PTR;
        nvic.icpr[(n / 32) as usize].write(1 << (n % 32));
        nvic.iser[(n / 32) as usize].write(1 << (n % 32));
    }
    #[cfg(not(all(target_arch = "arm", target_os = "none")))]
    let _ = n;
}

/// Sleeps until an interrupt is pending, unless `still_idle()` says there
/// is work: interrupts are masked between the check and `wfi` (which
/// wakes on a pending interrupt even while masked), so none is lost.
pub fn wait_for_interrupt_if(still_idle: impl FnOnce() -> bool) {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    {
        cortex_m::interrupt::disable();
        if still_idle() {
            cortex_m::asm::wfi();
        }
        // SAFETY: the kernel runs with interrupts enabled; this only
        // restores that after the check.
        unsafe { cortex_m::interrupt::enable() };
    }
    #[cfg(not(all(target_arch = "arm", target_os = "none")))]
    let _ = still_idle();
}
