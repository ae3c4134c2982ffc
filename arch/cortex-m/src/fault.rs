//! Fault decoding: the configurable fault status (CFSR), hard fault status
//! (HFSR) and fault address registers (MMFAR, BFAR) of ARMv7-M turned
//! into the kernel's [`Fault`], and a readable dump of them. Pure Rust,
//! tested on the host.
//!
//! ARMv7-M does not say whether a data access that faulted was a load or
//! a store. The exception entry code saves the faulting instruction (only
//! for precise data faults with a valid stacked frame) and
//! [`is_store`] decodes it, so that a process reading kernel memory is
//! reported as a `LoadAccess`, as on RISC-V.

use core::fmt;

use kernel::platform::arch::{Fault, FaultKind};

/// CFSR bits (MemManage status in bits 0-7, BusFault 8-15, UsageFault
/// 16-31).
pub mod cfsr {
    /// Instruction fetch from a location the MPU forbids.
    pub const IACCVIOL: u32 = 1 << 0;
    /// Data access the MPU forbids (MMFAR holds the address).
    pub const DACCVIOL: u32 = 1 << 1;
    /// MemManage fault while unstacking on exception return.
    pub const MUNSTKERR: u32 = 1 << 3;
    /// MemManage fault while stacking on exception entry.
    pub const MSTKERR: u32 = 1 << 4;
    /// MemManage fault during lazy floating-point state preservation.
    pub const MLSPERR: u32 = 1 << 5;
    /// MMFAR holds a valid address.
    pub const MMARVALID: u32 = 1 << 7;
    /// Bus error on an instruction fetch.
    pub const IBUSERR: u32 = 1 << 8;
    /// Precise data bus error (BFAR may hold the address).
    pub const PRECISERR: u32 = 1 << 9;
    /// Imprecise data bus error (no address, pc is not the instruction).
    pub const IMPRECISERR: u32 = 1 << 10;
    /// Bus error while unstacking.
    pub const UNSTKERR: u32 = 1 << 11;
    /// Bus error while stacking.
    pub const STKERR: u32 = 1 << 12;
    /// Bus error during lazy floating-point state preservation.
    pub const LSPERR: u32 = 1 << 13;
    /// BFAR holds a valid address.
    pub const BFARVALID: u32 = 1 << 15;
    /// Undefined instruction.
    pub const UNDEFINSTR: u32 = 1 << 16;
    /// Invalid execution state (e.g. a branch to an address with bit 0 clear).
    pub const INVSTATE: u32 = 1 << 17;
    /// Invalid EXC_RETURN value loaded into the pc.
    pub const INVPC: u32 = 1 << 18;
    /// Coprocessor instruction with the coprocessor disabled (FPU off).
    pub const NOCP: u32 = 1 << 19;
    /// Unaligned access with unaligned trapping on (or an LDM/STRD).
    pub const UNALIGNED: u32 = 1 << 24;
    /// Division by zero with the trap on.
    pub const DIVBYZERO: u32 = 1 << 25;

    /// Every stacking or unstacking error: the exception frame in process
    /// memory is not valid.
    pub const FRAME_ERRORS: u32 = MUNSTKERR | MSTKERR | MLSPERR | UNSTKERR | STKERR | LSPERR;
    /// Precise data faults: the stacked pc is the faulting instruction.
    pub const PRECISE_DATA: u32 = DACCVIOL | PRECISERR;
}

/// HFSR bits.
pub mod hfsr {
    /// Bus fault on a vector table read.
    pub const VECTTBL: u32 = 1 << 1;
    /// A configurable fault escalated to hard fault.
    pub const FORCED: u32 = 1 << 30;
    /// A debug event.
    pub const DEBUGEVT: u32 = 1 << 31;
}

/// The fault status the CPU reported, as read after the exception.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStatus {
    /// Exception number (3 hard fault, 4 MemManage, 5 BusFault, 6
    /// UsageFault).
    pub exception: u32,
    /// Configurable fault status register.
    pub cfsr: u32,
    /// Hard fault status register.
    pub hfsr: u32,
    /// MemManage fault address (valid when `MMARVALID`).
    pub mmfar: u32,
    /// Bus fault address (valid when `BFARVALID`).
    pub bfar: u32,
}

/// Whether the Thumb instruction `instr` (first halfword in the low 16
/// bits, the second, for a 32-bit instruction, in the high 16 bits) writes
/// memory. Unknown encodings count as loads.
pub fn is_store(instr: u32) -> bool {
    let hw1 = instr & 0xFFFF;
    if hw1 >> 11 >= 0b11101 {
        // 32-bit: load/store multiple, dual, exclusive (1110 100x) and
        // load/store single (1111 100x): bit 4 of the first halfword is L.
        let group = hw1 >> 9;
        return (group == 0b1110100 || group == 0b1111100) && hw1 & (1 << 4) == 0;
    }
    match hw1 >> 12 {
        // Register offset: opcodes 000-010 are STR, STRH, STRB.
        0b0101 => (hw1 >> 9) & 0b111 < 0b011,
        // STR/LDR (word, byte) immediate, STRH/LDRH immediate,
        // SP-relative, STM/LDM: bit 11 is L.
        0b0110 | 0b0111 | 0b1000 | 0b1001 | 0b1100 => hw1 & (1 << 11) == 0,
        // PUSH is 1011 010x, POP 1011 110x.
        0b1011 => (hw1 >> 9) & 0b111 == 0b010,
        _ => false,
    }
}

/// Decodes a fault a process caused. `pc` is the stacked program counter
/// (0 when the frame could not be stacked), `instr` the instruction at it
/// as saved by the exception entry (0 when not saved).
pub fn decode(status: &FaultStatus, pc: u32, instr: u32) -> Fault {
    let c = status.cfsr;
    let data_address = if c & cfsr::MMARVALID != 0 {
        status.mmfar
    } else if c & cfsr::BFARVALID != 0 {
        status.bfar
    } else {
        0
    };
    let (kind, pc, address) = if c & cfsr::FRAME_ERRORS != 0 {
        // The process's stack pointer is outside its memory: there is no
        // frame, so no pc either.
        (FaultKind::BadFrame, 0, data_address)
    } else if c & (cfsr::IACCVIOL | cfsr::IBUSERR | cfsr::INVPC) != 0 {
        (FaultKind::InstructionAccess, pc, pc)
    } else if c & (cfsr::DACCVIOL | cfsr::PRECISERR | cfsr::IMPRECISERR) != 0 {
        let kind = if c & cfsr::PRECISE_DATA != 0 && is_store(instr) {
            FaultKind::StoreAccess
        } else {
            FaultKind::LoadAccess
        };
        (kind, pc, data_address)
    } else if c & (cfsr::UNDEFINSTR | cfsr::INVSTATE | cfsr::NOCP) != 0 {
        (FaultKind::IllegalInstruction, pc, 0)
    } else if c & cfsr::UNALIGNED != 0 {
        (FaultKind::Misaligned, pc, 0)
    } else {
        (FaultKind::Other, pc, 0)
    };
    Fault { kind, pc, address }
}

/// The names of the set CFSR bits, in bit order.
const CFSR_NAMES: [(u32, &str); 20] = [
    (
        cfsr::IACCVIOL,
        "IACCVIOL (instruction fetch denied by the MPU)",
    ),
    (cfsr::DACCVIOL, "DACCVIOL (data access denied by the MPU)"),
    (cfsr::MUNSTKERR, "MUNSTKERR (MPU fault on unstacking)"),
    (cfsr::MSTKERR, "MSTKERR (MPU fault on stacking)"),
    (cfsr::MLSPERR, "MLSPERR (MPU fault on lazy FP stacking)"),
    (cfsr::MMARVALID, "MMARVALID"),
    (cfsr::IBUSERR, "IBUSERR (bus error on instruction fetch)"),
    (cfsr::PRECISERR, "PRECISERR (precise data bus error)"),
    (cfsr::IMPRECISERR, "IMPRECISERR (imprecise data bus error)"),
    (cfsr::UNSTKERR, "UNSTKERR (bus error on unstacking)"),
    (cfsr::STKERR, "STKERR (bus error on stacking)"),
    (cfsr::LSPERR, "LSPERR (bus error on lazy FP stacking)"),
    (cfsr::BFARVALID, "BFARVALID"),
    (cfsr::UNDEFINSTR, "UNDEFINSTR (undefined instruction)"),
    (cfsr::INVSTATE, "INVSTATE (invalid state, e.g. ARM mode)"),
    (cfsr::INVPC, "INVPC (invalid exception return)"),
    (cfsr::NOCP, "NOCP (coprocessor disabled)"),
    (cfsr::UNALIGNED, "UNALIGNED (unaligned access)"),
    (cfsr::DIVBYZERO, "DIVBYZERO (division by zero)"),
    (0, ""),
];

/// The name of an exception number.
pub fn exception_name(exception: u32) -> &'static str {
    match exception {
        0 => "none",
        2 => "NMI",
        3 => "HardFault",
        4 => "MemManage",
        5 => "BusFault",
        6 => "UsageFault",
        11 => "SVCall",
        14 => "PendSV",
        15 => "SysTick",
        n if n >= 16 => "IRQ",
        _ => "reserved",
    }
}

impl fmt::Display for FaultStatus {
    /// A readable dump: the exception, the raw registers, one line per
    /// set status bit and the valid fault addresses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {} (exception {}): CFSR {:#010x} HFSR {:#010x}",
            exception_name(self.exception),
            self.exception,
            self.cfsr,
            self.hfsr
        )?;
        for (bit, name) in CFSR_NAMES.iter().filter(|(bit, _)| *bit != 0) {
            if self.cfsr & bit != 0 {
                writeln!(f, "    {name}")?;
            }
        }
        if self.hfsr & hfsr::FORCED != 0 {
            writeln!(f, "    FORCED (escalated to HardFault)")?;
        }
        if self.hfsr & hfsr::VECTTBL != 0 {
            writeln!(f, "    VECTTBL (bus fault on a vector read)")?;
        }
        if self.cfsr & cfsr::MMARVALID != 0 {
            writeln!(f, "    MMFAR {:#010x}", self.mmfar)?;
        }
        if self.cfsr & cfsr::BFARVALID != 0 {
            writeln!(f, "    BFAR  {:#010x}", self.bfar)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::ToString;

    fn status(cfsr: u32, mmfar: u32, bfar: u32) -> FaultStatus {
        FaultStatus {
            exception: 4,
            cfsr,
            hfsr: 0,
            mmfar,
            bfar,
        }
    }

    #[test]
    fn thumb_loads_and_stores() {
        // (encoding, store?) — assembled by hand from the ARMv7-M manual.
        let cases = [
            (0x6808, false),      // ldr r0, [r1]
            (0x6008, true),       // str r0, [r1]
            (0x7808, false),      // ldrb r0, [r1]
            (0x7008, true),       // strb r0, [r1]
            (0x8808, false),      // ldrh r0, [r1]
            (0x8008, true),       // strh r0, [r1]
            (0x9800, false),      // ldr r0, [sp]
            (0x9000, true),       // str r0, [sp]
            (0x5888, false),      // ldr r0, [r1, r2]
            (0x5088, true),       // str r0, [r1, r2]
            (0x5488, true),       // strb r0, [r1, r2]
            (0x5e88, false),      // ldrsh r0, [r1, r2]
            (0xc901, false),      // ldmia r1!, {r0}
            (0xc101, true),       // stmia r1!, {r0}
            (0xb401, true),       // push {r0}
            (0xbc01, false),      // pop {r0}
            (0x0000_f8d1, false), // ldr.w r0, [r1] (hw1 0xf8d1)
            (0x0000_f8c1, true),  // str.w r0, [r1] (hw1 0xf8c1)
            (0x0000_f891, false), // ldrb.w
            (0x0000_f881, true),  // strb.w
            (0x0000_e891, false), // ldmia.w r1, {...}
            (0x0000_e881, true),  // stmia.w r1, {...}
            (0x0000_e9c1, true),  // strd r0, r1, [r1]
            (0x0000_e9d1, false), // ldrd
            (0x4770, false),      // bx lr: not a memory access
        ];
        for (instr, store) in cases {
            assert_eq!(is_store(instr), store, "{instr:#06x}");
        }
    }

    #[test]
    fn mpu_data_faults_report_the_address_and_direction() {
        let load = decode(
            &status(cfsr::DACCVIOL | cfsr::MMARVALID, 0x0000_1000, 0),
            0x4_0100,
            0x6808,
        );
        assert_eq!(
            load,
            Fault {
                kind: FaultKind::LoadAccess,
                pc: 0x4_0100,
                address: 0x1000
            }
        );
        let store = decode(
            &status(cfsr::DACCVIOL | cfsr::MMARVALID, 0x2000, 0),
            0x4_0100,
            0x6008,
        );
        assert_eq!(store.kind, FaultKind::StoreAccess);
        assert_eq!(store.address, 0x2000);
        // No valid address: 0, not a stale MMFAR.
        let blind = decode(&status(cfsr::DACCVIOL, 0xdead, 0), 0x4_0100, 0x6808);
        assert_eq!(blind.address, 0);
    }

    #[test]
    fn bus_faults_use_bfar() {
        let f = decode(
            &status(cfsr::PRECISERR | cfsr::BFARVALID, 0, 0xC000_0000),
            0x4_0200,
            0x0000_f8c1,
        );
        assert_eq!(f.kind, FaultKind::StoreAccess);
        assert_eq!(f.address, 0xC000_0000);
        // Imprecise: the instruction is not the culprit; count it a load.
        let f = decode(&status(cfsr::IMPRECISERR, 0, 0), 0x4_0200, 0x6008);
        assert_eq!(f.kind, FaultKind::LoadAccess);
    }

    #[test]
    fn instruction_faults_name_the_pc() {
        for bits in [cfsr::IACCVIOL, cfsr::IBUSERR, cfsr::INVPC] {
            let f = decode(&status(bits, 0, 0), 0x1234, 0);
            assert_eq!(
                f,
                Fault {
                    kind: FaultKind::InstructionAccess,
                    pc: 0x1234,
                    address: 0x1234
                }
            );
        }
    }

    #[test]
    fn stacking_errors_are_bad_frames_without_a_pc() {
        for bits in [
            cfsr::MSTKERR,
            cfsr::MUNSTKERR,
            cfsr::STKERR,
            cfsr::UNSTKERR,
            cfsr::MLSPERR,
            cfsr::LSPERR,
        ] {
            // Even with a data fault bit also set: the frame is not valid.
            let f = decode(&status(bits | cfsr::DACCVIOL, 0, 0), 0x5555, 0x6008);
            assert_eq!(f.kind, FaultKind::BadFrame, "{bits:#x}");
            assert_eq!(f.pc, 0);
        }
    }

    #[test]
    fn usage_faults() {
        for (bits, kind) in [
            (cfsr::UNDEFINSTR, FaultKind::IllegalInstruction),
            (cfsr::INVSTATE, FaultKind::IllegalInstruction),
            (cfsr::NOCP, FaultKind::IllegalInstruction),
            (cfsr::UNALIGNED, FaultKind::Misaligned),
            (cfsr::DIVBYZERO, FaultKind::Other),
            (0, FaultKind::Other),
        ] {
            assert_eq!(decode(&status(bits, 0, 0), 8, 0).kind, kind, "{bits:#x}");
        }
    }

    #[test]
    fn the_dump_names_bits_and_addresses() {
        let s = FaultStatus {
            exception: 3,
            cfsr: cfsr::DACCVIOL | cfsr::MMARVALID,
            hfsr: hfsr::FORCED,
            mmfar: 0x1000,
            bfar: 0x2222,
        };
        let text = s.to_string();
        assert!(text.contains("HardFault (exception 3)"), "{text}");
        assert!(text.contains("DACCVIOL"), "{text}");
        assert!(text.contains("FORCED"), "{text}");
        assert!(text.contains("MMFAR 0x00001000"), "{text}");
        assert!(!text.contains("BFAR "), "BFAR is not valid: {text}");
        assert!(!text.contains("IACCVIOL"), "{text}");
    }
}
