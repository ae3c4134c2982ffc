//! Memory operations (class 5): the break and the process's layout.
//!
//! The break starts at the RAM start; the runtime moves it to the end of
//! `.bss` before any Rust code runs. [`brk`] and [`sbrk`] refuse (INVAL,
//! without asking the kernel) to go below that initial break, because the
//! memory below holds the stack and the statics: giving it up would fault
//! the process, and the kernel zero-fills memory it gives back. The raw
//! [`crate::syscall::memop`] can ask for anything.

use crate::syscall::{memop, ErrorCode, SyscallReturn};

/// Operation numbers.
pub mod op {
    /// Set the break.
    pub const BRK: u32 = 0;
    /// Move the break by a signed delta; answers the old break.
    pub const SBRK: u32 = 1;
    /// RAM start.
    pub const RAM_START: u32 = 2;
    /// RAM end.
    pub const RAM_END: u32 = 3;
    /// Flash start (the TBF start).
    pub const FLASH_START: u32 = 4;
    /// Flash end (the TBF end).
    pub const FLASH_END: u32 = 5;
    /// Start of the kernel-owned (grant) region.
    pub const GRANT_START: u32 = 6;
    /// Number of writeable flash regions.
    pub const WRITEABLE_REGIONS: u32 = 7;
    /// Start of writeable flash region `arg`.
    pub const WRITEABLE_REGION_START: u32 = 8;
    /// End of writeable flash region `arg`.
    pub const WRITEABLE_REGION_END: u32 = 9;
    /// Record the stack start (debugging).
    pub const DEBUG_STACK_START: u32 = 10;
    /// Record the heap start (debugging).
    pub const DEBUG_HEAP_START: u32 = 11;
}

/// An operation that never moves the break (anything but 0 and 1).
fn query(op: u32, arg: u32) -> SyscallReturn {
    debug_assert!(op >= op::RAM_START);
    // SAFETY: operations 2-11 read the layout or record a debug value, and
    // other numbers are refused (NOSUPPORT): none changes the process's
    // memory.
    unsafe { memop(op, arg) }
}

/// The lowest break the safe functions accept: the end of `.bss`.
pub fn floor() -> u32 {
    crate::runtime::header().initial_break
}

/// Sets the break to `addr`. NOMEM if the kernel refuses (below the
/// highest end of a buffer ever allowed read-write, or into the grant
/// region); INVAL, without a system call, below [`floor`].
pub fn brk(addr: u32) -> Result<(), ErrorCode> {
    if addr < floor() {
        return Err(ErrorCode::Inval);
    }
    // SAFETY: everything the program uses lies below the floor.
    unsafe { memop(op::BRK, addr) }.into_success()
}

/// Moves the break by `delta` bytes; returns the old break. Refuses like
/// [`brk`].
pub fn sbrk(delta: i32) -> Result<u32, ErrorCode> {
    if delta < 0 {
        let now = current_break()?;
        let target = now.checked_add_signed(delta).ok_or(ErrorCode::Inval)?;
        if target < floor() {
            return Err(ErrorCode::Inval);
        }
    }
    // SAFETY: growing takes nothing away; shrinking was checked above.
    unsafe { memop(op::SBRK, delta as u32) }.into_u32()
}

/// [`brk`] with the kernel's raw answer (Failure(INVAL) without a system
/// call below [`floor`]).
pub fn brk_raw(addr: u32) -> SyscallReturn {
    if addr < floor() {
        return SyscallReturn::Failure(ErrorCode::Inval);
    }
    // SAFETY: everything the program uses lies below the floor.
    unsafe { memop(op::BRK, addr) }
}

/// [`sbrk`] with the kernel's raw answer (Failure(INVAL) without a system
/// call if the break would go below [`floor`]).
pub fn sbrk_raw(delta: i32) -> SyscallReturn {
    if delta < 0 {
        let below = current_break()
            .ok()
            .and_then(|now| now.checked_add_signed(delta))
            .is_none_or(|target| target < floor());
        if below {
            return SyscallReturn::Failure(ErrorCode::Inval);
        }
    }
    // SAFETY: growing takes nothing away; shrinking was checked above.
    unsafe { memop(op::SBRK, delta as u32) }
}

/// The current break (sbrk 0).
pub fn current_break() -> Result<u32, ErrorCode> {
    // SAFETY: a zero delta moves nothing.
    unsafe { memop(op::SBRK, 0) }.into_u32()
}

/// Start of the process's RAM.
pub fn ram_start() -> Result<u32, ErrorCode> {
    query(op::RAM_START, 0).into_u32()
}

/// End (exclusive) of the process's RAM, kernel-owned part included.
pub fn ram_end() -> Result<u32, ErrorCode> {
    query(op::RAM_END, 0).into_u32()
}

/// Start of the process's flash: its TBF.
pub fn flash_start() -> Result<u32, ErrorCode> {
    query(op::FLASH_START, 0).into_u32()
}

/// End (exclusive) of the process's flash.
pub fn flash_end() -> Result<u32, ErrorCode> {
    query(op::FLASH_END, 0).into_u32()
}

/// Start of the kernel-owned region at the top of RAM (grants, upcall
/// queue); the break can never reach it.
pub fn grant_start() -> Result<u32, ErrorCode> {
    query(op::GRANT_START, 0).into_u32()
}

/// Number of writeable flash regions in the TBF header.
pub fn writeable_flash_regions() -> Result<u32, ErrorCode> {
    query(op::WRITEABLE_REGIONS, 0).into_u32()
}

/// Start and end of writeable flash region `index` (FAIL if absent).
pub fn writeable_flash_region(index: u32) -> Result<(u32, u32), ErrorCode> {
    let start = query(op::WRITEABLE_REGION_START, index).into_u32()?;
    let end = query(op::WRITEABLE_REGION_END, index).into_u32()?;
    Ok((start, end))
}

/// Tells the kernel where the stack starts (shown in its process dumps).
pub fn set_debug_stack_start(addr: u32) -> Result<(), ErrorCode> {
    query(op::DEBUG_STACK_START, addr).into_success()
}

/// Tells the kernel where the heap starts (shown in its process dumps).
pub fn set_debug_heap_start(addr: u32) -> Result<(), ErrorCode> {
    query(op::DEBUG_HEAP_START, addr).into_success()
}

/// Any operation but 0 and 1, with any argument: the raw answer.
/// (Operations 0 and 1 are answered INVAL without a system call: they move
/// the break; see [`brk`], [`sbrk`] and the raw `syscall::memop`.)
pub fn query_raw(op: u32, arg: u32) -> SyscallReturn {
    if op <= op::SBRK {
        return SyscallReturn::Failure(ErrorCode::Inval);
    }
    query(op, arg)
}
