//! Process register state and the `UserspaceBoundary` implementation.
//!
//! On exception entry an ARMv7-M core pushes eight registers (r0-r3, r12,
//! lr, pc, xPSR) onto the process stack: the *hardware frame*, which lives
//! in process memory. This port keeps the frame in [`StoredState`] while
//! the process is not running, so the kernel core sees plain registers:
//!
//! * after a trap, [`CortexM::switch_to_process`] copies the frame out of
//!   process RAM (bounds-checked against the process's accessible memory)
//!   into the state and advances the saved stack pointer past it, as the
//!   hardware would on return;
//! * before the next run it writes the frame back below the stack pointer
//!   (8-byte aligned, with xPSR bit 9 recording the padding, exactly as
//!   the hardware stacks it), and the exception return pops it.
//!
//! So a system call return writes only [`StoredState`] words, and only
//! the ones its variant names; r4-r11 are saved and restored by the
//! switch code (`switch.rs`) and never touched.
//!
//! Word layout of [`StoredState`] (byte offsets, which the switch code
//! uses, after the colon): r0-r3: 0-12, r4-r11: 16-44, r12: 48, lr: 52,
//! pc: 56, xPSR: 60, the process stack pointer: 64, then what the last
//! trap was: reason: 68, svc immediate: 72, exception number: 76,
//! faulting instruction: 80, CFSR: 84, HFSR: 88, MMFAR: 92, BFAR: 96.

use core::fmt;

use kernel::platform::arch::{
    EntryRegisters, Fault, FaultKind, ProcessMemory, StoredState, SwitchReason, UpcallFrame,
    UserspaceBoundary,
};
use kernel::syscall::ReturnRegisters;

use crate::fault::{self, FaultStatus};

/// Word index of r0; r1-r3 follow.
pub const R0: usize = 0;
/// Word index of r4; r5-r11 follow.
pub const R4: usize = 4;
/// Word index of r12.
pub const R12: usize = 12;
/// Word index of lr.
pub const LR: usize = 13;
/// Word index of the pc.
pub const PC: usize = 14;
/// Word index of xPSR.
pub const XPSR: usize = 15;
/// Word index of the process stack pointer (after the frame is popped).
pub const SP: usize = 16;
/// Word index of the reason of the last trap ([`Reason`]).
pub const REASON: usize = 17;
/// Word index of the svc immediate of the last system call.
pub const SVC: usize = 18;
/// Word index of the exception number of the last trap.
pub const EXCEPTION: usize = 19;
/// Word index of the faulting instruction (precise data faults only).
pub const INSTR: usize = 20;
/// Word index of CFSR at the last fault; HFSR, MMFAR and BFAR follow.
pub const CFSR: usize = 21;

/// Bytes of the basic hardware frame.
pub const FRAME_BYTES: u32 = 32;
/// xPSR Thumb bit: must be set in every frame.
pub const XPSR_THUMB: u32 = 1 << 24;
/// xPSR bit 9: the hardware inserted 4 bytes of padding to align the frame.
pub const XPSR_PADDED: u32 = 1 << 9;

/// Why the last switch ended, as the exception entry code records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Reason {
    /// An `svc` instruction.
    Svc = 1,
    /// A fault exception (HardFault, MemManage, BusFault, UsageFault).
    Fault = 2,
    /// An interrupt (SysTick or an external interrupt).
    Interrupt = 3,
}

/// The exception number of SysTick.
pub const SYSTICK_EXCEPTION: u32 = 15;

/// The 32 bytes of a hardware frame at `offset` in `ram`, as words: one
/// bounds check for the frame (these run on every trap and switch).
fn frame_words(ram: &[u8], offset: usize) -> Option<&[[u8; 4]; 8]> {
    let bytes = ram
        .get(offset..)?
        .first_chunk::<{ FRAME_BYTES as usize }>()?;
    bytes.as_chunks::<4>().0.first_chunk::<8>()
}

/// [`frame_words`], writable.
fn frame_words_mut(ram: &mut [u8], offset: usize) -> Option<&mut [[u8; 4]; 8]> {
    let bytes = ram
        .get_mut(offset..)?
        .first_chunk_mut::<{ FRAME_BYTES as usize }>()?;
    bytes.as_chunks_mut::<4>().0.first_chunk_mut::<8>()
}

/// The offset in `memory.ram` of `[addr, addr + len)` if that lies in the
/// accessible part of process memory.
fn accessible_offset(memory: &ProcessMemory<'_>, addr: u32, len: u32) -> Option<usize> {
    let end = addr.checked_add(len)?;
    if addr < memory.start || end > memory.accessible_end {
        return None;
    }
    let offset = usize::try_from(addr - memory.start).ok()?;
    let end = offset.checked_add(usize::try_from(len).ok()?)?;
    (end <= memory.ram.len()).then_some(offset)
}

/// Where the hardware would stack a frame for stack pointer `sp`, and
/// whether it pads: 8-byte alignment below `sp`.
pub fn frame_address(sp: u32) -> Option<(u32, bool)> {
    let below = sp.checked_sub(FRAME_BYTES)?;
    let aligned = below & !7;
    Some((aligned, aligned != below))
}

/// Writes the hardware frame of `state` below its stack pointer in
/// process memory; returns the frame's address (the stack pointer the
/// exception return starts from). `None` if the frame would leave the
/// process's accessible memory.
pub fn push_frame(state: &StoredState, memory: &mut ProcessMemory<'_>) -> Option<u32> {
    let w = &state.words;
    let (addr, padded) = frame_address(w[SP])?;
    let offset = accessible_offset(memory, addr, FRAME_BYTES)?;
    let mut xpsr = (w[XPSR] | XPSR_THUMB) & !XPSR_PADDED;
    if padded {
        xpsr |= XPSR_PADDED;
    }
    let frame = frame_words_mut(memory.ram, offset)?;
    // One store a word (a staging array and a copy loop cost twice that).
    frame[0] = w[R0].to_le_bytes();
    frame[1] = w[R0 + 1].to_le_bytes();
    frame[2] = w[R0 + 2].to_le_bytes();
    frame[3] = w[R0 + 3].to_le_bytes();
    frame[4] = w[R12].to_le_bytes();
    frame[5] = w[LR].to_le_bytes();
    frame[6] = w[PC].to_le_bytes();
    frame[7] = xpsr.to_le_bytes();
    Some(addr)
}

/// Reads the hardware frame at `frame_sp` (the process stack pointer the
/// trap left) into `state` and sets the saved stack pointer to where it
/// was before the exception. `None` if the frame is not in the process's
/// accessible memory.
pub fn pop_frame(state: &mut StoredState, frame_sp: u32, memory: &ProcessMemory<'_>) -> Option<()> {
    let offset = accessible_offset(memory, frame_sp, FRAME_BYTES)?;
    let [r0, r1, r2, r3, r12, lr, pc, xpsr] =
        frame_words(memory.ram, offset)?.map(u32::from_le_bytes);
    let w = &mut state.words;
    w[R0..R0 + 4].copy_from_slice(&[r0, r1, r2, r3]);
    w[R12] = r12;
    w[LR] = lr;
    w[PC] = pc;
    w[XPSR] = xpsr & !XPSR_PADDED;
    let pad = if xpsr & XPSR_PADDED != 0 { 4 } else { 0 };
    w[SP] = frame_sp.wrapping_add(FRAME_BYTES + pad);
    Some(())
}

/// How the last trap of a process is to be understood; `frame_sp` is the
/// process stack pointer the trap left, `status` the fault registers (for
/// a fault). Copies the hardware frame into `state`.
pub fn decode_trap(
    state: &mut StoredState,
    frame_sp: u32,
    memory: &ProcessMemory<'_>,
    status: &FaultStatus,
) -> SwitchReason {
    let reason = state.words[REASON];
    if reason == Reason::Fault as u32 {
        let w = &mut state.words;
        w[CFSR] = status.cfsr;
        w[CFSR + 1] = status.hfsr;
        w[CFSR + 2] = status.mmfar;
        w[CFSR + 3] = status.bfar;
        let framed = status.cfsr & fault::cfsr::FRAME_ERRORS == 0
            && pop_frame(state, frame_sp, memory).is_some();
        if !framed {
            state.words[SP] = frame_sp;
        }
        let pc = if framed { state.words[PC] } else { 0 };
        return SwitchReason::Fault(fault::decode(status, pc, state.words[INSTR]));
    }
    if pop_frame(state, frame_sp, memory).is_none() {
        // The hardware stacked the frame, so the process could write there;
        // if it is not in its memory now, something moved: stop it.
        state.words[SP] = frame_sp;
        return SwitchReason::Fault(Fault {
            kind: FaultKind::BadFrame,
            pc: 0,
            address: frame_sp,
        });
    }
    if reason == Reason::Svc as u32 {
        // The stacked pc is already past the svc.
        let class = u8::try_from(state.words[SVC]).unwrap_or(u8::MAX);
        let w = &state.words;
        return SwitchReason::Syscall {
            class,
            args: [w[R0], w[R0 + 1], w[R0 + 2], w[R0 + 3]],
        };
    }
    if state.words[EXCEPTION] == SYSTICK_EXCEPTION {
        SwitchReason::TimesliceExpired
    } else {
        SwitchReason::Interrupted
    }
}

/// The Cortex-M `UserspaceBoundary`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CortexM;

impl UserspaceBoundary for CortexM {
    fn initial_state(
        &self,
        entry: &EntryRegisters,
        memory: &mut ProcessMemory<'_>,
    ) -> Result<StoredState, Fault> {
        let mut s = StoredState::ZERO;
        s.words[PC] = entry.pc | 1;
        s.words[R0..R0 + 4].copy_from_slice(&[
            entry.binary_start,
            entry.mem_start,
            entry.mem_len,
            entry.app_break,
        ]);
        s.words[XPSR] = XPSR_THUMB;
        // The first frame sits in the first bytes of RAM (they are
        // accessible before the first instruction); the exception return
        // pops it and leaves sp just above it.
        s.words[SP] = entry.mem_start.wrapping_add(FRAME_BYTES);
        let bad = Fault {
            kind: FaultKind::BadFrame,
            pc: entry.pc,
            address: entry.mem_start,
        };
        match frame_address(s.words[SP]) {
            Some((addr, false)) if accessible_offset(memory, addr, FRAME_BYTES).is_some() => Ok(s),
            _ => Err(bad),
        }
    }

    fn initial_accessible_bytes(&self) -> u32 {
        FRAME_BYTES
    }

    fn set_syscall_return(&self, state: &mut StoredState, ret: &ReturnRegisters) {
        // r0 and the registers after it that the variant uses, in the
        // stored frame; the rest keep what the process passed in.
        if let Some(args) = state.words[R0..].first_chunk_mut::<4>() {
            ret.apply_to(args);
        }
    }

    fn push_upcall(
        &self,
        state: &mut StoredState,
        _memory: &mut ProcessMemory<'_>,
        frame: &UpcallFrame,
    ) -> Result<(), Fault> {
        let w = &mut state.words;
        w[R0..R0 + 3].copy_from_slice(&frame.args);
        w[R0 + 3] = frame.appdata;
        // The upcall returns to where the process yielded (the saved pc is
        // already past the svc), in Thumb state.
        w[LR] = w[PC] | 1;
        w[PC] = frame.fn_ptr | 1;
        w[XPSR] = XPSR_THUMB;
        Ok(())
    }

    fn switch_to_process(
        &self,
        state: &mut StoredState,
        memory: &mut ProcessMemory<'_>,
    ) -> SwitchReason {
        let Some(frame_sp) = push_frame(state, memory) else {
            return SwitchReason::Fault(Fault {
                kind: FaultKind::BadFrame,
                pc: state.words[PC],
                address: state.words[SP],
            });
        };
        #[cfg(all(target_arch = "arm", target_os = "none"))]
        let (frame_sp, status) = crate::switch::run_process(state, frame_sp, memory);
        #[cfg(not(all(target_arch = "arm", target_os = "none")))]
        let status = {
            // No thread mode on the host: report an undefined instruction
            // so a misconfigured host build fails loudly.
            state.words[REASON] = Reason::Fault as u32;
            FaultStatus {
                exception: 6,
                cfsr: fault::cfsr::UNDEFINSTR,
                ..FaultStatus::default()
            }
        };
        decode_trap(state, frame_sp, memory, &status)
    }

    fn program_counter(&self, state: &StoredState) -> u32 {
        // After an svc the saved pc is already past it: name the svc.
        if state.words[REASON] == Reason::Svc as u32 {
            state.words[PC].wrapping_sub(2)
        } else {
            state.words[PC]
        }
    }

    fn print_state(&self, state: &StoredState, out: &mut dyn fmt::Write) -> fmt::Result {
        const NAMES: [&str; 12] = [
            "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11",
        ];
        let w = &state.words;
        for (row, names) in NAMES.chunks(4).enumerate() {
            write!(out, " ")?;
            for (i, name) in names.iter().enumerate() {
                write!(out, " {name:>4} {:#010x}", w[row * 4 + i])?;
            }
            writeln!(out)?;
        }
        writeln!(out, "   r12 {:#010x}", w[R12])?;
        writeln!(
            out,
            "    sp {:#010x}    lr {:#010x}    pc {:#010x}  xPSR {:#010x}",
            w[SP], w[LR], w[PC], w[XPSR]
        )?;
        if w[REASON] == Reason::Fault as u32 {
            let status = FaultStatus {
                exception: w[EXCEPTION],
                cfsr: w[CFSR],
                hfsr: w[CFSR + 1],
                mmfar: w[CFSR + 2],
                bfar: w[CFSR + 3],
            };
            write!(out, "{status}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use kernel::syscall::SyscallReturn;

    const START: u32 = 0x8_0000;

    fn memory(ram: &mut [u8], accessible: u32) -> ProcessMemory<'_> {
        ProcessMemory {
            ram,
            start: START,
            accessible_end: START + accessible,
        }
    }

    fn entry() -> EntryRegisters {
        EntryRegisters {
            pc: 0x4_0060,
            binary_start: 0x4_0040,
            mem_start: START,
            mem_len: 0x1000,
            app_break: START + 32,
        }
    }

    /// What the hardware does on an exception from the process: stacks
    /// the frame of the registers in `regs` below `sp` into `ram`.
    fn hardware_stack(ram: &mut [u8], sp: u32, regs: [u32; 8]) -> u32 {
        let (addr, padded) = frame_address(sp).unwrap();
        let mut regs = regs;
        if padded {
            regs[7] |= XPSR_PADDED;
        }
        for (i, v) in regs.iter().enumerate() {
            let o = (addr - START) as usize + 4 * i;
            ram[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
        addr
    }

    fn word(ram: &[u8], addr: u32) -> u32 {
        let o = (addr - START) as usize;
        u32::from_le_bytes(ram[o..o + 4].try_into().unwrap())
    }

    #[test]
    fn the_first_frame_is_at_the_start_of_ram() {
        let mut ram = [0u8; 256];
        let mut m = memory(&mut ram, 32);
        let s = CortexM.initial_state(&entry(), &mut m).unwrap();
        assert_eq!(s.words[PC], 0x4_0061, "Thumb bit");
        assert_eq!(s.words[R0..R0 + 4], [0x4_0040, START, 0x1000, START + 32]);
        assert_eq!(s.words[SP], START + 32);
        let at = push_frame(&s, &mut m).unwrap();
        assert_eq!(at, START);
        assert_eq!(word(m.ram, START), 0x4_0040, "r0");
        assert_eq!(word(m.ram, START + 24), 0x4_0061, "pc");
        assert_eq!(word(m.ram, START + 28), XPSR_THUMB, "xPSR");
        // Fewer than 32 accessible bytes: no frame, no process.
        let mut m = memory(&mut ram, 28);
        assert_eq!(
            CortexM.initial_state(&entry(), &mut m).unwrap_err().kind,
            FaultKind::BadFrame
        );
    }

    #[test]
    fn an_svc_round_trip_keeps_every_register() {
        let mut ram = [0u8; 512];
        let mut s = StoredState::ZERO;
        let sp = START + 0x100;
        // The process made `svc 2` with r0-r3 = 1, 2, 3, 0xA3A3.
        let frame = hardware_stack(
            &mut ram,
            sp,
            [1, 2, 0x55, 0xA3A3, 12, 0x4_0101, 0x4_0102, XPSR_THUMB],
        );
        s.words[REASON] = Reason::Svc as u32;
        s.words[SVC] = 2;
        let m = memory(&mut ram, 0x200);
        let reason = decode_trap(&mut s, frame, &m, &FaultStatus::default());
        assert_eq!(
            reason,
            SwitchReason::Syscall {
                class: 2,
                args: [1, 2, 0x55, 0xA3A3]
            }
        );
        assert_eq!(s.words[SP], sp, "the frame is popped");
        assert_eq!(CortexM.program_counter(&s), 0x4_0100, "names the svc");
        // Success + u32 writes r0-r1 only; r2, r3 and r12 keep theirs.
        CortexM.set_syscall_return(&mut s, &SyscallReturn::SuccessU32(7).encode());
        assert_eq!(s.words[R0..R0 + 4], [129, 7, 0x55, 0xA3A3]);
        assert_eq!(s.words[R12], 12);
        // Success writes r0 alone.
        CortexM.set_syscall_return(&mut s, &SyscallReturn::Success.encode());
        assert_eq!(s.words[R0..R0 + 4], [128, 7, 0x55, 0xA3A3]);
        // The next switch puts exactly that frame back where it was.
        let mut m = memory(&mut ram, 0x200);
        assert_eq!(push_frame(&s, &mut m), Some(frame));
        let regs: std::vec::Vec<u32> = (0..8).map(|i| word(m.ram, frame + 4 * i)).collect();
        assert_eq!(
            regs,
            [128, 7, 0x55, 0xA3A3, 12, 0x4_0101, 0x4_0102, XPSR_THUMB]
        );
    }

    #[test]
    fn unaligned_stacks_are_padded_like_the_hardware_does() {
        let mut ram = [0u8; 512];
        let mut s = StoredState::ZERO;
        let sp = START + 0x104; // not 8-byte aligned
        let frame = hardware_stack(&mut ram, sp, [0, 0, 0, 0, 0, 0, 0x4_0200, XPSR_THUMB]);
        assert_eq!(frame, START + 0x104 - 36);
        s.words[REASON] = Reason::Svc as u32;
        let m = memory(&mut ram, 0x200);
        decode_trap(&mut s, frame, &m, &FaultStatus::default());
        assert_eq!(s.words[SP], sp, "padding undone");
        assert_eq!(s.words[XPSR] & XPSR_PADDED, 0);
        let mut m = memory(&mut ram, 0x200);
        assert_eq!(push_frame(&s, &mut m), Some(frame));
        assert_ne!(word(m.ram, frame + 28) & XPSR_PADDED, 0, "and redone");
    }

    #[test]
    fn frames_outside_the_process_are_refused() {
        let mut ram = [0u8; 512];
        let mut s = StoredState::ZERO;
        // Below its memory, and past its break.
        for sp in [START + 16, START + 0x240, 0x1000] {
            s.words[SP] = sp;
            let mut m = memory(&mut ram, 0x200);
            assert_eq!(push_frame(&s, &mut m), None, "{sp:#x}");
            assert!(matches!(
                CortexM.switch_to_process(&mut s, &mut m),
                SwitchReason::Fault(Fault {
                    kind: FaultKind::BadFrame,
                    ..
                })
            ));
        }
        s.words[REASON] = Reason::Svc as u32;
        let m = memory(&mut ram, 0x200);
        assert!(matches!(
            decode_trap(&mut s, START + 0x1F0, &m, &FaultStatus::default()),
            SwitchReason::Fault(Fault {
                kind: FaultKind::BadFrame,
                ..
            })
        ));
    }

    #[test]
    fn faults_timeslices_and_interrupts() {
        let mut ram = [0u8; 512];
        let sp = START + 0x100;
        let frame = hardware_stack(&mut ram, sp, [0, 0, 0, 0, 0, 0, 0x4_0300, XPSR_THUMB]);
        let m = memory(&mut ram, 0x200);
        let mut s = StoredState::ZERO;
        s.words[REASON] = Reason::Fault as u32;
        s.words[INSTR] = 0x6808; // ldr r0, [r1]
        let status = FaultStatus {
            exception: 4,
            cfsr: fault::cfsr::DACCVIOL | fault::cfsr::MMARVALID,
            mmfar: 0x100,
            ..FaultStatus::default()
        };
        assert_eq!(
            decode_trap(&mut s, frame, &m, &status),
            SwitchReason::Fault(Fault {
                kind: FaultKind::LoadAccess,
                pc: 0x4_0300,
                address: 0x100
            })
        );
        assert_eq!(s.words[CFSR], status.cfsr, "kept for the dump");
        // A stacking error: no frame is read.
        let mut s = StoredState::ZERO;
        s.words[REASON] = Reason::Fault as u32;
        let status = FaultStatus {
            exception: 4,
            cfsr: fault::cfsr::MSTKERR,
            ..FaultStatus::default()
        };
        let r = decode_trap(&mut s, 0x10, &m, &status);
        assert!(matches!(
            r,
            SwitchReason::Fault(Fault {
                kind: FaultKind::BadFrame,
                pc: 0,
                ..
            })
        ));
        for (exception, want) in [
            (SYSTICK_EXCEPTION, SwitchReason::TimesliceExpired),
            (16 + 8, SwitchReason::Interrupted),
        ] {
            let mut s = StoredState::ZERO;
            s.words[REASON] = Reason::Interrupt as u32;
            s.words[EXCEPTION] = exception;
            assert_eq!(decode_trap(&mut s, frame, &m, &status), want);
            assert_eq!(s.words[PC], 0x4_0300, "an interrupt does not move the pc");
            assert_eq!(CortexM.program_counter(&s), 0x4_0300);
        }
    }

    #[test]
    fn upcalls_return_to_the_yield() {
        let mut ram = [0u8; 64];
        let mut s = StoredState::ZERO;
        s.words[PC] = 0x4_0104;
        s.words[R4] = 44;
        let frame = UpcallFrame {
            fn_ptr: 0x4_0400,
            args: [7, 8, 9],
            appdata: 10,
        };
        CortexM
            .push_upcall(&mut s, &mut memory(&mut ram, 64), &frame)
            .unwrap();
        assert_eq!(s.words[R0..R0 + 4], [7, 8, 9, 10]);
        assert_eq!(s.words[LR], 0x4_0105);
        assert_eq!(s.words[PC], 0x4_0401);
        assert_eq!(s.words[R4], 44, "callee-saved registers untouched");
    }

    #[test]
    fn the_dump_names_registers_and_the_fault() {
        let mut s = StoredState::ZERO;
        s.words[R0 + 7] = 0xABCD;
        s.words[REASON] = Reason::Fault as u32;
        s.words[EXCEPTION] = 4;
        s.words[CFSR] = fault::cfsr::DACCVIOL;
        let mut text = std::string::String::new();
        CortexM.print_state(&s, &mut text).unwrap();
        assert!(text.contains("r7 0x0000abcd"), "{text}");
        assert!(text.contains("xPSR"), "{text}");
        assert!(text.contains("MemManage"), "{text}");
        assert!(text.contains("DACCVIOL"), "{text}");
    }
}
