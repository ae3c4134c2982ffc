//! Keeping the debug port open on newer nRF52840s.
//!
//! Since the revision built from late 2021 (FICR `INFO.VARIANT` "AAF0"),
//! the access port is closed after every reset unless UICR `APPROTECT`
//! says "hardware disabled" **and** the running firmware writes
//! `0x5A` (software disabled) to `APPROTECT.DISABLE`. Without the second
//! half, a board flashed once could no longer be flashed with tockloader
//! over J-Link or OpenOCD without a full recovery erase. Earlier variants
//! have no such register, so it is written only for "AAF0" and for
//! variants this driver does not know (assumed newer).

use static_ref::StaticRef;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

/// Address of the FICR (factory information).
pub const FICR_BASE: usize = 0x1000_0000;
/// Base of the block whose offset `0x558` is `APPROTECT.DISABLE`.
pub const APPROTECT_BASE: usize = 0x4000_0000;
/// `APPROTECT.DISABLE` value: software disabled.
pub const SW_DISABLE: u32 = 0x5A;

/// The variants (FICR `INFO.VARIANT`, four ASCII letters) made before the
/// new protection scheme.
pub const OLD_VARIANTS: [&[u8; 4]; 12] = [
    b"AAAA", b"AAAB", b"AABA", b"AABB", b"AAC0", b"AACA", b"AACB", b"AAD0", b"AAD1", b"AADA",
    b"AAE0", b"AAEA",
];

register_structs! {
    /// The FICR word the driver reads.
    pub FicrRegisters {
        (0x000 => _reserved0),
        /// The part's variant, four ASCII letters, first in the top byte.
        (0x104 => variant: ReadOnly<u32>),
        (0x108 => @END),
    }
}

register_structs! {
    /// The software half of the access port protection.
    pub ApprotectRegisters {
        (0x000 => _reserved0),
        /// Write [`SW_DISABLE`] to keep the access port open.
        (0x558 => disable: ReadWrite<u32>),
        (0x55C => @END),
    }
}

/// The FICR (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const FICR: StaticRef<FicrRegisters> =
    // SAFETY: the nRF52840 maps the FICR at `FICR_BASE`.
    unsafe { StaticRef::new(FICR_BASE as *const FicrRegisters) };

/// `APPROTECT.DISABLE` (ARM targets only).
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub const APPROTECT: StaticRef<ApprotectRegisters> =
    // SAFETY: the nRF52840 maps the register at `APPROTECT_BASE + 0x558`.
    unsafe { StaticRef::new(APPROTECT_BASE as *const ApprotectRegisters) };

/// Writes `APPROTECT.DISABLE` if this part has it; whether it did.
pub fn keep_debug_port_open(
    ficr: StaticRef<FicrRegisters>,
    approtect: StaticRef<ApprotectRegisters>,
) -> bool {
    let variant = ficr.variant.get().to_be_bytes();
    let old = OLD_VARIANTS.iter().any(|v| **v == variant);
    if !old {
        approtect.disable.set(SW_DISABLE);
    }
    !old
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use static_ref::fake;

    fn run(variant: &[u8; 4]) -> (bool, u32) {
        let (ficr, ficr_mem) = fake::registers::<FicrRegisters, u32>();
        let (ap, ap_mem) = fake::registers::<ApprotectRegisters, u32>();
        ficr_mem[0x104 / 4].set(u32::from_be_bytes(*variant));
        let wrote = keep_debug_port_open(ficr, ap);
        (wrote, ap_mem[0x558 / 4].get())
    }

    #[test]
    fn only_parts_with_the_new_scheme_get_the_write() {
        assert_eq!(run(b"AAF0"), (true, SW_DISABLE));
        assert_eq!(run(b"AAZZ"), (true, SW_DISABLE), "unknown: assumed newer");
        assert_eq!(run(b"AAD0"), (false, 0));
        assert_eq!(run(b"AAAA"), (false, 0));
    }
}
