//! The machine-mode CSR accesses a RISC-V chip needs: the interrupt enable
//! bits in `mie` and `wfi` with `mstatus.MIE` held clear.
//!
//! The `mie` contract between this port and a chip: the chip enables the
//! sources it owns ([`CHIP_INTERRUPTS`]: timer and external) when it
//! initialises; the trap handler, taking one of them while a process runs,
//! clears its `mie` bit (so the interrupt cannot retrigger before the
//! kernel looks) and returns to the kernel; the chip's bottom half services
//! the device and sets the bit again. Every RISC-V chip of this repository
//! (QEMU virt, Earl Grey) follows it.
//!
//! On RISC-V targets these are single CSR instructions. On the host (unit
//! tests) they do nothing, and [`enabled_interrupt_sources`] reports every
//! source as enabled.

/// `mie`/`mip` bit 7: machine timer interrupt (CLINT `mtimecmp`).
pub const MIE_MTIE: u32 = 1 << 7;
/// `mie`/`mip` bit 11: machine external interrupt (PLIC context 0).
pub const MIE_MEIE: u32 = 1 << 11;
/// The `mie` bits the chip owns: timer and external interrupts.
pub const CHIP_INTERRUPTS: u32 = MIE_MTIE | MIE_MEIE;

/// `mstatus` bit 3: machine interrupts globally enabled.
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
const MSTATUS_MIE: u32 = 1 << 3;

#[cfg(all(target_arch = "riscv32", target_os = "none"))]
mod imp {
    use core::arch::asm;

    pub fn enable(mask: u32) {
        // SAFETY: setting `mie` bits only lets these interrupts be taken
        // (in user mode, or in machine mode if `mstatus.MIE` is set); the
        // trap vector of the arch crate handles them. No memory is touched.
        unsafe { asm!("csrs mie, {0}", in(reg) mask, options(nomem, nostack)) }
    }

    pub fn disable(mask: u32) {
        // SAFETY: clearing `mie` bits only masks interrupts; no memory is
        // touched.
        unsafe { asm!("csrc mie, {0}", in(reg) mask, options(nomem, nostack)) }
    }

    pub fn enabled() -> u32 {
        let mie: u32;
        // SAFETY: reading a CSR has no side effects.
        unsafe { asm!("csrr {0}, mie", out(reg) mie, options(nomem, nostack)) }
        mie
    }

    pub fn pending() -> u32 {
        let mip: u32;
        // SAFETY: reading a CSR has no side effects.
        unsafe { asm!("csrr {0}, mip", out(reg) mip, options(nomem, nostack)) }
        mip
    }

    pub fn clear_mstatus(mask: u32) -> u32 {
        let old: u32;
        // SAFETY: clearing `mstatus.MIE` only masks interrupts in machine
        // mode; no memory is touched.
        unsafe {
            asm!("csrrc {0}, mstatus, {1}", out(reg) old, in(reg) mask, options(nomem, nostack))
        }
        old
    }

    pub fn set_mstatus(mask: u32) {
        // SAFETY: restores `mstatus.MIE` to the value it had before
        // `clear_mstatus`; no memory is touched.
        unsafe { asm!("csrs mstatus, {0}", in(reg) mask, options(nomem, nostack)) }
    }

    pub fn wfi() {
        // SAFETY: `wfi` only pauses the hart until an interrupt is pending.
        unsafe { asm!("wfi", options(nomem, nostack)) }
    }
}

/// Sets `mask` bits in `mie` (nothing on the host).
pub fn enable_interrupt_sources(mask: u32) {
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    imp::enable(mask);
    #[cfg(not(all(target_arch = "riscv32", target_os = "none")))]
    let _ = mask;
}

/// Clears `mask` bits in `mie` (nothing on the host). This is what the
/// arch trap handler does for a timer or external interrupt it takes.
pub fn disable_interrupt_sources(mask: u32) {
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    imp::disable(mask);
    #[cfg(not(all(target_arch = "riscv32", target_os = "none")))]
    let _ = mask;
}

/// The value of `mie` (all ones on the host).
pub fn enabled_interrupt_sources() -> u32 {
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    return imp::enabled();
    #[cfg(not(all(target_arch = "riscv32", target_os = "none")))]
    return u32::MAX;
}

/// The value of `mip`: which interrupts are pending at the hart (`MEIP`
/// is the PLIC's output for this hart's context, `MTIP` the CLINT's
/// compare). `None` on the host, which has no such register.
pub fn pending_interrupt_sources() -> Option<u32> {
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    return Some(imp::pending());
    #[cfg(all(test, not(all(target_arch = "riscv32", target_os = "none"))))]
    return fake_mip::get();
    #[cfg(not(any(test, all(target_arch = "riscv32", target_os = "none"))))]
    return None;
}

/// This crate's unit tests: a `mip` of their own (per test thread) for
/// [`pending_interrupt_sources`], `None` (no register) until set.
#[cfg(all(test, not(all(target_arch = "riscv32", target_os = "none"))))]
pub(crate) mod fake_mip {
    extern crate std;

    use core::cell::Cell;

    std::thread_local! {
        static MIP: Cell<Option<u32>> = const { Cell::new(None) };
    }

    /// Sets what [`super::pending_interrupt_sources`] returns.
    pub(crate) fn set(mip: Option<u32>) {
        MIP.with(|m| m.set(mip));
    }

    pub(super) fn get() -> Option<u32> {
        MIP.with(Cell::get)
    }
}

/// Runs `wfi` unless `still_idle()` (evaluated with `mstatus.MIE` clear, so
/// no interrupt can be taken between the check and the `wfi`) says there is
/// work; restores `mstatus.MIE` afterwards. On the host only evaluates the
/// check.
pub fn wait_for_interrupt_if(still_idle: impl FnOnce() -> bool) {
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    {
        let old = imp::clear_mstatus(MSTATUS_MIE);
        if still_idle() {
            imp::wfi();
        }
        if old & MSTATUS_MIE != 0 {
            imp::set_mstatus(MSTATUS_MIE);
        }
    }
    #[cfg(not(all(target_arch = "riscv32", target_os = "none")))]
    let _ = still_idle();
}
