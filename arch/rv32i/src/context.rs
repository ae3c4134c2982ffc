//! Process register state and the `UserspaceBoundary` implementation.
//!
//! [`StoredState`] words hold the register file: word `n` is register
//! `x<n>` (word 0, for `x0`, is unused), then the pc and the trap cause and
//! value of the last trap. The trap code in `trap.rs` uses the same
//! offsets.

use core::fmt;

use kernel::platform::arch::{
    EntryRegisters, Fault, FaultKind, ProcessMemory, StoredState, SwitchReason, UpcallFrame,
    UserspaceBoundary,
};
use kernel::syscall::ReturnRegisters;

/// Word index of the program counter (byte offset 128 in the trap code).
pub const PC: usize = 32;
/// Word index of `mcause` of the last trap (byte offset 132).
pub const MCAUSE: usize = 33;
/// Word index of `mtval` of the last trap (byte offset 136).
pub const MTVAL: usize = 34;

/// `ra`.
pub const RA: usize = 1;
/// `sp`.
pub const SP: usize = 2;
/// `a0`; `a1`..`a5` follow.
pub const A0: usize = 10;
/// `a4`: the system call class.
pub const A4: usize = 14;

const INTERRUPT: u32 = 1 << 31;

/// How the last trap of a process is to be understood.
///
/// `mcause` values (privileged spec): exceptions 0 instruction misaligned,
/// 1 instruction access fault, 2 illegal instruction, 3 breakpoint, 4 load
/// misaligned, 5 load access fault, 6 store misaligned, 7 store access
/// fault, 8 ecall from U-mode; interrupts have bit 31 set.
pub fn decode_trap(state: &mut StoredState) -> SwitchReason {
    let cause = state.words[MCAUSE];
    let fault = |kind| {
        SwitchReason::Fault(Fault {
            kind,
            pc: state.words[PC],
            address: state.words[MTVAL],
        })
    };
    if cause & INTERRUPT != 0 {
        return SwitchReason::Interrupted;
    }
    match cause {
        8 => {
            // Resume after the ecall.
            state.words[PC] = state.words[PC].wrapping_add(4);
            let class = state.words[A4];
            let args = [
                state.words[A0],
                state.words[A0 + 1],
                state.words[A0 + 2],
                state.words[A0 + 3],
            ];
            match u8::try_from(class) {
                Ok(class) => SwitchReason::Syscall { class, args },
                // No class this large exists: the kernel faults the process
                // when it decodes class 255.
                Err(_) => SwitchReason::Syscall {
                    class: u8::MAX,
                    args,
                },
            }
        }
        0 | 4 | 6 => fault(FaultKind::Misaligned),
        1 => fault(FaultKind::InstructionAccess),
        2 => fault(FaultKind::IllegalInstruction),
        5 => fault(FaultKind::LoadAccess),
        7 => fault(FaultKind::StoreAccess),
        _ => fault(FaultKind::Other),
    }
}

/// The RV32I `UserspaceBoundary`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rv32i;

impl UserspaceBoundary for Rv32i {
    fn initial_state(
        &self,
        entry: &EntryRegisters,
        memory: &mut ProcessMemory<'_>,
    ) -> Result<StoredState, Fault> {
        let mut s = StoredState::ZERO;
        s.words[PC] = entry.pc;
        s.words[A0] = entry.binary_start;
        s.words[A0 + 1] = entry.mem_start;
        s.words[A0 + 2] = entry.mem_len;
        s.words[A0 + 3] = entry.app_break;
        // Nothing is accessible yet on RISC-V: the process sets its own
        // stack after its first brk. Point sp at the break anyway.
        s.words[SP] = memory.accessible_end;
        Ok(s)
    }

    fn initial_accessible_bytes(&self) -> u32 {
        0
    }

    fn set_syscall_return(&self, state: &mut StoredState, ret: &ReturnRegisters) {
        // a0 and the registers after it that the variant uses; the rest
        // keep what the process passed in.
        if let Some(args) = state.words[A0..].first_chunk_mut::<4>() {
            ret.apply_to(args);
        }
    }

    fn push_upcall(
        &self,
        state: &mut StoredState,
        _memory: &mut ProcessMemory<'_>,
        frame: &UpcallFrame,
    ) -> Result<(), Fault> {
        state.words[A0..A0 + 3].copy_from_slice(&frame.args);
        state.words[A0 + 3] = frame.appdata;
        // The upcall returns to where the process yielded (the saved pc is
        // already past the yield's ecall).
        state.words[RA] = state.words[PC];
        state.words[PC] = frame.fn_ptr;
        Ok(())
    }

    fn switch_to_process(
        &self,
        state: &mut StoredState,
        memory: &mut ProcessMemory<'_>,
    ) -> SwitchReason {
        #[cfg(all(target_arch = "riscv32", target_os = "none"))]
        crate::trap::run_user(state, memory);
        #[cfg(not(all(target_arch = "riscv32", target_os = "none")))]
        {
            // No user mode on the host: report an illegal instruction so a
            // misconfigured host build fails loudly instead of looping.
            let _ = memory;
            state.words[MCAUSE] = 2;
            state.words[MTVAL] = 0;
        }
        decode_trap(state)
    }

    fn program_counter(&self, state: &StoredState) -> u32 {
        // After an ecall the saved pc is already past it: name the ecall.
        if state.words[MCAUSE] == 8 {
            state.words[PC].wrapping_sub(4)
        } else {
            state.words[PC]
        }
    }

    fn print_state(&self, state: &StoredState, out: &mut dyn fmt::Write) -> fmt::Result {
        const NAMES: [&str; 32] = [
            "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
            "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
            "t3", "t4", "t5", "t6",
        ];
        for (row, names) in NAMES.chunks(4).enumerate() {
            write!(out, " ")?;
            for (i, name) in names.iter().enumerate() {
                let n = row * 4 + i;
                write!(out, " {name:>4} {:#010x}", state.words[n])?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "    pc {:#010x}  mcause {:#010x}  mtval {:#010x}",
            state.words[PC], state.words[MCAUSE], state.words[MTVAL]
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    fn memory(ram: &mut [u8]) -> ProcessMemory<'_> {
        ProcessMemory {
            ram,
            start: 0x8030_0000,
            accessible_end: 0x8030_0000,
        }
    }

    #[test]
    fn entry_registers() {
        let mut ram = [0u8; 16];
        let entry = EntryRegisters {
            pc: 0x8010_0090,
            binary_start: 0x8010_0080,
            mem_start: 0x8030_0000,
            mem_len: 0x4000,
            app_break: 0x8030_0000,
        };
        let s = Rv32i.initial_state(&entry, &mut memory(&mut ram)).unwrap();
        assert_eq!(s.words[PC], 0x8010_0090);
        assert_eq!(
            s.words[A0..A0 + 4],
            [0x8010_0080, 0x8030_0000, 0x4000, 0x8030_0000]
        );
    }

    #[test]
    fn ecall_becomes_a_syscall_and_resumes_after_it() {
        let mut s = StoredState::ZERO;
        s.words[PC] = 0x8010_0100;
        s.words[MCAUSE] = 8;
        s.words[A0..A0 + 5].copy_from_slice(&[1, 2, 3, 4, 2]);
        assert_eq!(
            decode_trap(&mut s),
            SwitchReason::Syscall {
                class: 2,
                args: [1, 2, 3, 4]
            }
        );
        assert_eq!(s.words[PC], 0x8010_0104);
        assert_eq!(Rv32i.program_counter(&s), 0x8010_0100);
        s.words[A4] = 0x1_0000;
        assert!(matches!(
            decode_trap(&mut s),
            SwitchReason::Syscall { class: 255, .. }
        ));
    }

    #[test]
    fn faults_and_interrupts() {
        for (cause, kind) in [
            (1, FaultKind::InstructionAccess),
            (2, FaultKind::IllegalInstruction),
            (4, FaultKind::Misaligned),
            (5, FaultKind::LoadAccess),
            (7, FaultKind::StoreAccess),
            (3, FaultKind::Other),
        ] {
            let mut s = StoredState::ZERO;
            s.words[PC] = 0x8010_0200;
            s.words[MCAUSE] = cause;
            s.words[MTVAL] = 0x8000_0000;
            assert_eq!(
                decode_trap(&mut s),
                SwitchReason::Fault(Fault {
                    kind,
                    pc: 0x8010_0200,
                    address: 0x8000_0000
                })
            );
            assert_eq!(s.words[PC], 0x8010_0200, "a fault does not advance the pc");
        }
        let mut s = StoredState::ZERO;
        s.words[MCAUSE] = INTERRUPT | 7;
        assert_eq!(decode_trap(&mut s), SwitchReason::Interrupted);
    }

    #[test]
    fn returns_and_upcalls() {
        let mut s = StoredState::ZERO;
        s.words[PC] = 0x8010_0104;
        s.words[A0..A0 + 5].copy_from_slice(&[3, 1, 0x1000, 0xA3A3, 4]);
        let ret = kernel::syscall::SyscallReturn::allow_success(5, 6).encode();
        Rv32i.set_syscall_return(&mut s, &ret);
        // Variant 130 writes a0-a2; a3 and a4 keep what the process passed.
        assert_eq!(s.words[A0..A0 + 5], [130, 5, 6, 0xA3A3, 4]);
        let ret = kernel::syscall::SyscallReturn::Success.encode();
        Rv32i.set_syscall_return(&mut s, &ret);
        assert_eq!(s.words[A0..A0 + 5], [128, 5, 6, 0xA3A3, 4]);
        let mut ram = [0u8; 16];
        let frame = UpcallFrame {
            fn_ptr: 0x8010_0400,
            args: [7, 8, 9],
            appdata: 10,
        };
        Rv32i
            .push_upcall(&mut s, &mut memory(&mut ram), &frame)
            .unwrap();
        assert_eq!(s.words[A0..A0 + 4], [7, 8, 9, 10]);
        assert_eq!(s.words[RA], 0x8010_0104);
        assert_eq!(s.words[PC], 0x8010_0400);
    }

    #[test]
    fn print_names_every_register() {
        let mut s = StoredState::ZERO;
        s.words[A0] = 0xABCD;
        let mut text = std::string::String::new();
        Rv32i.print_state(&s, &mut text).unwrap();
        assert!(text.contains("a0 0x0000abcd"), "{text}");
        assert!(text.contains("t6"), "{text}");
        assert!(text.contains("mcause"), "{text}");
    }
}
