//! Start-up and panic handling.
//!
//! The kernel enters `_start` with (RISC-V Tock ABI):
//!
//! | register | value |
//! |---|---|
//! | pc | TBF start + header size + init_fn_offset: `_start` |
//! | a0 | the binary start (TBF start + protected size): the runtime header |
//! | a1 | RAM start |
//! | a2 | RAM length (including the kernel-owned part at the top) |
//! | a3 | the initial break (= RAM start: nothing of RAM is accessible) |
//!
//! `_start` (assembly, because nothing Rust may run before there is a
//! stack and initialised statics) checks that it runs at the address it was
//! linked for (if not: low-level debug alert 2, exit 1), moves the break to
//! the end of `.bss` (if that fails: exit [`EXIT_NO_MEMORY`]), loads the
//! stack pointer, copies `.data` from flash and zeroes `.bss`, then calls
//! `rust_start` with the four entry values. `rust_start` records them (see
//! [`startup`]), reports the stack and heap start to the kernel (memop 10
//! and 11), runs the app's main function and exits with its code.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::syscall::{self, exit_terminate};
use crate::{console, low_level_debug, memop};

/// Exit code of a process whose start-up brk was refused (not enough RAM
/// for its stack, `.data` and `.bss`).
pub const EXIT_NO_MEMORY: u32 = 0xFFFF_FFFE;

/// Exit code after a panic.
pub const PANIC_EXIT_CODE: u32 = 0xFFFF_FFFF;

/// The runtime header at the binary start (built by `tockrt.ld`; the same
/// layout as libtock-rs's).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtHeader {
    /// Address of `_start`.
    pub start: u32,
    /// The break `_start` asks for: the end of `.bss`.
    pub initial_break: u32,
    /// Initial stack pointer (the top of the stack at the bottom of RAM).
    pub stack_top: u32,
    /// Size of `.data`.
    pub data_size: u32,
    /// Address of `.data`'s initial contents in flash.
    pub data_flash: u32,
    /// Address of `.data` in RAM.
    pub data_ram: u32,
    /// Size of `.bss`.
    pub bss_size: u32,
    /// Address of `.bss`.
    pub bss_start: u32,
}

/// What the process was started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Startup {
    /// a0 at entry: the binary start (where the runtime header is).
    pub binary_start: u32,
    /// a1 at entry: the RAM start.
    pub ram_start: u32,
    /// a2 at entry: the RAM length.
    pub ram_len: u32,
    /// a3 at entry: the break the kernel started the process with.
    pub initial_break: u32,
    /// The runtime header.
    pub header: RtHeader,
}

extern "C" {
    /// The runtime header, defined by `tockrt.ld`.
    static tockrt_rt_header: RtHeader;
    /// Absolute symbol (only its address counts): the TBF start.
    static TOCKRT_TBF_START: u8;
    /// Symbol at the start of RAM (elf2tab's fixed RAM address).
    static _sram_origin: u8;
}

/// Where the linker placed this app (from its linker script, generated
/// from the slot table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linked {
    /// The TBF start (flash slot).
    pub tbf_start: u32,
    /// The binary start: the runtime header.
    pub binary_start: u32,
    /// The RAM start (RAM slot).
    pub ram_start: u32,
}

/// The addresses this app was linked for.
pub fn linked() -> Linked {
    Linked {
        tbf_start: (&raw const TOCKRT_TBF_START) as usize as u32,
        binary_start: (&raw const tockrt_rt_header) as usize as u32,
        ram_start: (&raw const _sram_origin) as usize as u32,
    }
}

static ENTRY: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// The entry registers and the runtime header of this process.
pub fn startup() -> Startup {
    let [a0, a1, a2, a3] = &ENTRY;
    Startup {
        binary_start: a0.load(Ordering::Relaxed),
        ram_start: a1.load(Ordering::Relaxed),
        ram_len: a2.load(Ordering::Relaxed),
        initial_break: a3.load(Ordering::Relaxed),
        header: header(),
    }
}

/// The runtime header.
pub(crate) fn header() -> RtHeader {
    // SAFETY: the linker script defines the symbol as eight words in flash
    // that nothing writes.
    unsafe { tockrt_rt_header }
}

// The entry point `_start` is architecture code (`crate::arch`); it
// calls `rust_start` with the entry registers once the stack, `.data`
// and `.bss` are ready.

extern "Rust" {
    /// The app's main function, defined by `tockrt::main!`.
    fn __tockrt_app_main() -> u32;
}

/// Rust side of the start-up: the stack and statics are ready.
pub(crate) extern "C" fn rust_start(
    binary_start: u32,
    ram_start: u32,
    ram_len: u32,
    brk: u32,
) -> ! {
    for (slot, value) in ENTRY.iter().zip([binary_start, ram_start, ram_len, brk]) {
        slot.store(value, Ordering::Relaxed);
    }
    let h = header();
    // Debug information only: failures do not matter.
    let _ = memop::set_debug_stack_start(h.stack_top);
    let _ = memop::set_debug_heap_start(h.initial_break);
    // SAFETY: `tockrt::main!` defines this symbol as a safe Rust function
    // with exactly this signature; an app without it does not link.
    let code = unsafe { __tockrt_app_main() };
    exit_terminate(code)
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // A panic while printing a panic goes straight to the alert. A load
    // and a store, not a swap: RV32IMC has no atomic instructions, and a
    // process has one thread.
    if !PANICKING.load(Ordering::Relaxed) {
        PANICKING.store(true, Ordering::Relaxed);
        let mut line = console::PanicLine::new();
        let _ = match info.location() {
            Some(l) => write!(
                line,
                "panic at {}:{}: {}",
                l.file(),
                l.line(),
                info.message()
            ),
            None => write!(line, "panic: {}", info.message()),
        };
        line.finish();
    }
    let _ = low_level_debug::alert(low_level_debug::ALERT_PANIC);
    syscall::exit_terminate(PANIC_EXIT_CODE)
}
