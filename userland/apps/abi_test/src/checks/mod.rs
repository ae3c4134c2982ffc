//! The checks, group by group. Expected values are exactly what our kernel
//! answers (doc/kernel.md): allow and subscribe answer
//! `SuccessU32U32(previous)` or `FailureU32U32(error, the values passed)`;
//! the first failing check of driver, number, pointer, memory decides the
//! error.

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use tockrt::probe::{self, Clobbered};
use tockrt::share::{self, UpcallFn};
use tockrt::syscall::{self, command, yield_wait, yield_wait_for, SyscallReturn};
use tockrt::ErrorCode::{Already, Fail, Inval, NoDevice, NoMem, NoSupport};
use tockrt::SyscallReturn::{Failure, FailureU32U32, Success, SuccessU32, SuccessU32U32};
use tockrt::{alarm, memop};

use crate::board::*;
use crate::report::{Args, Hex, Report};

mod registers;

use registers::Clobber;

/// An address inside the kernel, never the process's (from the board
/// description).
const KERNEL_RAM: u32 = tockrt::board_u32!("TOCK_KERNEL_RAM");

/// Addresses of this process, from the linker and the kernel.
struct Context {
    /// TBF start (flash slot).
    tbf: u32,
    /// Binary start: TBF start + protected size.
    binary: u32,
    /// TBF end: start + total_size from the TBF header.
    flash_end: u32,
    /// RAM start (RAM slot).
    ram: u32,
    /// RAM end: a1 + a2 at entry.
    ram_end: u32,
    /// The break after start-up: the end of .bss.
    brk: u32,
}

impl Context {
    fn new() -> Context {
        let linked = tockrt::linked();
        let start = tockrt::startup();
        // The TBF header sits in the process's flash, readable: total_size
        // is its second word.
        let total_size = probe::load_word(linked.tbf_start + 4);
        Context {
            tbf: linked.tbf_start,
            binary: linked.tbf_start + PROTECTED_SIZE,
            flash_end: linked.tbf_start.wrapping_add(total_size),
            ram: linked.ram_start,
            ram_end: start.ram_start.wrapping_add(start.ram_len),
            brk: start.header.initial_break,
        }
    }
}

/// How many checks [`run`] makes: the one place this number is written.
/// The app counts a different number of checks as a failure, and the QEMU
/// runner requires `abi: <n> checks of <n>, 0 failed`.
pub const CHECKS: u32 = 171;

/// Runs every group, in an order where nothing blocks before the upcall
/// groups at the end.
pub fn run(r: &mut Report) {
    let cx = Context::new();
    entry(r, &cx);
    memop_queries(r, &cx);
    commands(r);
    registers::registers(r, &cx);
    exit(r);
    subscribe(r, &cx);
    allow_read_only(r, &cx);
    allow_read_write(r, &cx);
    allow_userspace_readable(r, &cx);
    brk(r, &cx);
    yields(r);
}

fn grant_start() -> u32 {
    memop::grant_start().unwrap_or(0)
}

// ----- entry registers and start-up ------------------------------------

/// Initialised data: the runtime copies it from flash.
static DATA_WORD: AtomicU32 = AtomicU32::new(0x1234_5678);
/// Zero-initialised data: the runtime zeroes it.
static BSS_WORDS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// Adds one to `word` and returns its old value: a load and a store, as
/// RV32IMC has no atomic instructions (a process has one thread, and
/// upcalls run only inside `yield`).
fn bump(word: &AtomicU32) -> u32 {
    let old = word.load(Relaxed);
    word.store(old.wrapping_add(1), Relaxed);
    old
}

fn entry(r: &mut Report, cx: &Context) {
    let data = bump(&DATA_WORD);
    let bss = BSS_WORDS.iter().fold(0, |acc, w| acc | bump(w));
    r.eq("data_copied_from_flash", Hex(data), Hex(0x1234_5678));
    r.eq("bss_zeroed", Hex(bss), Hex(0));
    let s = tockrt::startup();
    r.eq(
        "entry_a0_is_binary_start",
        Hex(s.binary_start),
        Hex(cx.binary),
    );
    r.eq("entry_a1_is_fixed_ram_start", Hex(s.ram_start), Hex(cx.ram));
    r.eq(
        "entry_a3_is_ram_start_plus_entry_frame",
        Hex(s.initial_break),
        Hex(s.ram_start + ENTRY_FRAME),
    );
    // a2 and a3 reach the Rust start-up only if the kernel kept them
    // across the start-up's brk (which answers in a0-a1).
    let ram_end = memop::ram_end().unwrap_or(0);
    r.eq(
        "entry_a2_is_ram_length",
        Hex(s.ram_len),
        Hex(ram_end.wrapping_sub(cx.ram)),
    );
    r.eq(
        "runtime_header_at_a0",
        Hex(probe::load_word(s.binary_start)),
        Hex(s.header.start),
    );
}

// ----- memop 2-11 and unknown operations -------------------------------

fn memop_queries(r: &mut Report, cx: &Context) {
    let q = memop::query_raw;
    let s = tockrt::startup();
    r.eq("memop2_ram_start", q(2, 0), SuccessU32(cx.ram));
    r.eq("memop3_ram_end", q(3, 0), SuccessU32(cx.ram_end));
    r.eq("memop4_flash_start", q(4, 0), SuccessU32(cx.tbf));
    r.eq("memop5_flash_end", q(5, 0), SuccessU32(cx.flash_end));
    let g = q(6, 0);
    let ok = matches!(g, SuccessU32(v) if v >= cx.brk && v.wrapping_add(UPCALL_QUEUE_BYTES) <= cx.ram_end);
    // A range by nature: where grants start depends on which drivers
    // this process has entered so far (the console, at least).
    r.that(
        "memop6_grant_start_in_range",
        ok,
        g,
        "SuccessU32(between the break and RAM end - upcall queue)",
    );
    r.eq("memop7_no_writeable_regions", q(7, 0), SuccessU32(0));
    r.eq("memop8_absent_region", q(8, 0), Failure(Fail));
    r.eq("memop9_absent_region", q(9, 0), Failure(Fail));
    r.eq("memop10_stack_start", q(10, s.header.stack_top), Success);
    r.eq("memop11_heap_start", q(11, cx.brk), Success);
    r.eq("memop12_unknown", q(12, 0), Failure(NoSupport));
    r.eq("memop_unknown_large", q(0x8000_0005, 1), Failure(NoSupport));
}

// ----- command ----------------------------------------------------------

fn commands(r: &mut Report) {
    r.eq(
        "command_unknown_driver",
        command(NO_DRIVER, 0, 0, 0),
        Failure(NoDevice),
    );
    r.eq(
        "command_unknown_driver_any_command",
        command(NO_DRIVER, 7, 1, 2),
        Failure(NoDevice),
    );
    r.eq(
        "command0_console_exists",
        command(CONSOLE, 0, 0, 0),
        Success,
    );
    r.eq("command0_alarm_exists", command(ALARM, 0, 0, 0), Success);
    r.eq(
        "command0_low_level_debug_exists",
        command(LOW_LEVEL_DEBUG, 0, 0, 0),
        Success,
    );
    r.eq(
        "command_console_unknown",
        command(CONSOLE, 99, 0, 0),
        Failure(NoSupport),
    );
    r.eq(
        "command_alarm_unknown",
        command(ALARM, 99, 0, 0),
        Failure(NoSupport),
    );
    r.eq(
        "command_low_level_debug_unknown",
        command(LOW_LEVEL_DEBUG, 99, 0, 0),
        Failure(NoSupport),
    );
    r.eq(
        "alarm_frequency",
        command(ALARM, alarm::COMMAND_FREQUENCY, 0, 0),
        SuccessU32(ALARM_HZ),
    );
    let before = clock();
    let n = command(ALARM, alarm::COMMAND_NOW, 0, 0);
    let after = clock();
    r.that(
        "alarm_now",
        matches!(n, SuccessU32(t) if between(t, before, after)),
        n,
        "SuccessU32(between two readings of the time CSR around the call)",
    );
    r.eq(
        "alarm_stop_when_idle",
        command(ALARM, alarm::COMMAND_STOP, 0, 0),
        Failure(Already),
    );
    r.eq(
        "low_level_debug_print",
        command(LOW_LEVEL_DEBUG, 2, 0xAB1, 0),
        Success,
    );
}

// ----- exit -------------------------------------------------------------

fn exit(r: &mut Report) {
    r.eq("exit_other_number", syscall::exit(2, 0), Failure(NoSupport));
    r.eq(
        "exit_large_number",
        syscall::exit(0xFFFF_FFFF, 5),
        Failure(NoSupport),
    );
}

// ----- upcall recorders -------------------------------------------------

/// count, arg0, arg1, arg2, appdata of upcalls to `record`.
static REC: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];
/// The same for `record_b` (a second, distinct function).
static REC_B: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];

fn store(rec: &[AtomicU32; 5], a0: u32, a1: u32, a2: u32, data: usize) {
    bump(&rec[0]);
    rec[1].store(a0, Relaxed);
    rec[2].store(a1, Relaxed);
    rec[3].store(a2, Relaxed);
    rec[4].store(data as u32, Relaxed);
}

extern "C" fn record(a0: u32, a1: u32, a2: u32, data: usize) {
    store(&REC, a0, a1, a2, data);
}

extern "C" fn record_b(a0: u32, a1: u32, a2: u32, data: usize) {
    store(&REC_B, a0, a1, a2, data);
}

fn rec_reset() {
    for slot in &REC {
        slot.store(0, Relaxed);
    }
}

fn rec_count() -> u32 {
    REC[0].load(Relaxed)
}

fn rec_args() -> Args {
    Args(
        REC[1].load(Relaxed),
        REC[2].load(Relaxed),
        REC[3].load(Relaxed),
    )
}

fn rec_data() -> u32 {
    REC[4].load(Relaxed)
}

fn addr(f: UpcallFn) -> u32 {
    f as usize as u32
}

// ----- subscribe --------------------------------------------------------

fn subscribe(r: &mut Report, cx: &Context) {
    let (fa, fb) = (addr(record), addr(record_b));
    // The previous upcall comes back each time; (0, 0) the first time.
    let first = share::subscribe_fn(ALARM, 0, Some(record), 7);
    let second = share::subscribe_fn(ALARM, 0, Some(record_b), 9);
    let third = share::unsubscribe(ALARM, 0);
    let fourth = share::unsubscribe(ALARM, 0);
    r.eq("subscribe_first_returns_null", first, SuccessU32U32(0, 0));
    r.eq("subscribe_returns_previous", second, SuccessU32U32(fa, 7));
    r.eq("unsubscribe_returns_previous", third, SuccessU32U32(fb, 9));
    r.eq(
        "unsubscribe_again_returns_null",
        fourth,
        SuccessU32U32(0, 0),
    );

    // Failures answer the values passed in; the first failing check wins.
    let p = probe::subscribe;
    r.eq(
        "subscribe_unknown_driver",
        p(NO_DRIVER, 0, fa, 3),
        FailureU32U32(NoDevice, fa, 3),
    );
    r.eq(
        "subscribe_unknown_driver_before_pointer",
        p(NO_DRIVER, 0, KERNEL_RAM, 3),
        FailureU32U32(NoDevice, KERNEL_RAM, 3),
    );
    r.eq(
        "subscribe_alarm_number_not_declared",
        p(ALARM, ALARM_UPCALLS, fa, 3),
        FailureU32U32(NoSupport, fa, 3),
    );
    r.eq(
        "subscribe_console_number_not_declared",
        p(CONSOLE, CONSOLE_UPCALLS, fa, 3),
        FailureU32U32(NoSupport, fa, 3),
    );
    r.eq(
        "subscribe_number_before_pointer",
        p(ALARM, ALARM_UPCALLS, KERNEL_RAM, 3),
        FailureU32U32(NoSupport, KERNEL_RAM, 3),
    );
    let inval = |f: u32| FailureU32U32(Inval, f, 5);
    let fine = SuccessU32U32(0, 0);
    r.eq(
        "subscribe_fn_kernel_memory",
        p(ALARM, 0, KERNEL_RAM, 5),
        inval(KERNEL_RAM),
    );
    r.eq(
        "subscribe_fn_tbf_start",
        p(ALARM, 0, cx.tbf, 5),
        inval(cx.tbf),
    );
    r.eq(
        "subscribe_fn_tbf_header",
        p(ALARM, 0, cx.tbf + 16, 5),
        inval(cx.tbf + 16),
    );
    r.eq(
        "subscribe_fn_protected_end",
        p(ALARM, 0, cx.binary - 4, 5),
        inval(cx.binary - 4),
    );
    r.eq("subscribe_fn_binary_start", p(ALARM, 0, cx.binary, 5), fine);
    r.eq(
        "subscribe_fn_flash_last_byte",
        p(ALARM, 0, cx.flash_end - 1, 5),
        fine,
    );
    r.eq(
        "subscribe_fn_past_flash",
        p(ALARM, 0, cx.flash_end, 5),
        inval(cx.flash_end),
    );
    r.eq("subscribe_fn_ram", p(ALARM, 0, cx.ram + 16, 5), fine);
    r.eq("subscribe_fn_below_break", p(ALARM, 0, cx.brk - 1, 5), fine);
    r.eq(
        "subscribe_fn_at_break",
        p(ALARM, 0, cx.brk, 5),
        inval(cx.brk),
    );
    let g = grant_start();
    r.eq("subscribe_fn_grant_region", p(ALARM, 0, g, 5), inval(g));
    r.eq(
        "subscribe_fn_ram_end",
        p(ALARM, 0, cx.ram_end - 4, 5),
        inval(cx.ram_end - 4),
    );
    r.eq("subscribe_null_upcall", p(ALARM, 0, 0, 5), fine);
}

// ----- allow ------------------------------------------------------------

static MSG_A: &[u8] = b"abi: allow A\n";
static MSG_B: &[u8] = b"abi: allow B, longer\n";

fn ptr_len(b: &[u8]) -> (u32, u32) {
    (b.as_ptr() as usize as u32, b.len() as u32)
}

fn allow_read_only(r: &mut Report, cx: &Context) {
    let (pa, la) = ptr_len(MSG_A);
    let (pb, lb) = ptr_len(MSG_B);
    let first = share::allow_ro_static(CONSOLE, 1, MSG_A);
    let second = share::allow_ro_static(CONSOLE, 1, MSG_B);
    let third = share::revoke_ro(CONSOLE, 1);
    let fourth = share::revoke_ro(CONSOLE, 1);
    r.eq("allow_ro_first_returns_null", first, SuccessU32U32(0, 0));
    r.eq("allow_ro_returns_previous", second, SuccessU32U32(pa, la));
    r.eq("revoke_ro_returns_previous", third, SuccessU32U32(pb, lb));
    r.eq("revoke_ro_again_returns_null", fourth, SuccessU32U32(0, 0));

    let p = |a, l| probe::allow_ro(CONSOLE, 1, a, l);
    let fine = SuccessU32U32(0, 0);
    let inval = |a, l| FailureU32U32(Inval, a, l);
    r.eq("allow_ro_size0_any_address", p(0xFFFF_FFFF, 0), fine);
    r.eq("allow_ro_size0_kernel_address", p(KERNEL_RAM, 0), fine);
    r.eq("allow_ro_tbf_header", p(cx.tbf, 16), inval(cx.tbf, 16));
    r.eq(
        "allow_ro_protected_region",
        p(cx.binary - 8, 8),
        inval(cx.binary - 8, 8),
    );
    r.eq(
        "allow_ro_crossing_into_binary",
        p(cx.binary - 4, 8),
        inval(cx.binary - 4, 8),
    );
    r.eq("allow_ro_own_flash", p(cx.binary, 64), fine);
    r.eq("allow_ro_flash_end", p(cx.flash_end - 4, 4), fine);
    r.eq(
        "allow_ro_past_flash_end",
        p(cx.flash_end - 4, 8),
        inval(cx.flash_end - 4, 8),
    );
    r.eq(
        "allow_ro_kernel_memory",
        p(KERNEL_RAM, 4),
        inval(KERNEL_RAM, 4),
    );
    r.eq(
        "allow_ro_wrapping",
        p(0xFFFF_FFF0, 0x20),
        inval(0xFFFF_FFF0, 0x20),
    );
    r.eq("allow_ro_ram", p(cx.ram, 16), fine);
    r.eq("allow_ro_up_to_break", p(cx.brk - 16, 16), fine);
    r.eq(
        "allow_ro_crossing_break",
        p(cx.brk - 4, 8),
        inval(cx.brk - 4, 8),
    );
    r.eq("allow_ro_below_ram", p(cx.ram - 4, 8), inval(cx.ram - 4, 8));
    let g = grant_start();
    r.eq("allow_ro_grant_region", p(g, 4), inval(g, 4));
    r.eq(
        "allow_ro_unknown_driver",
        probe::allow_ro(NO_DRIVER, 0, cx.ram, 4),
        FailureU32U32(NoDevice, cx.ram, 4),
    );
    r.eq(
        "allow_ro_unknown_driver_before_pointer",
        probe::allow_ro(NO_DRIVER, 0, KERNEL_RAM, 4),
        FailureU32U32(NoDevice, KERNEL_RAM, 4),
    );
    r.eq(
        "allow_ro_console_number_not_declared",
        probe::allow_ro(CONSOLE, CONSOLE_READ_ONLY, cx.ram, 4),
        FailureU32U32(NoSupport, cx.ram, 4),
    );
    r.eq(
        "allow_ro_number_before_pointer",
        probe::allow_ro(CONSOLE, CONSOLE_READ_ONLY, KERNEL_RAM, 4),
        FailureU32U32(NoSupport, KERNEL_RAM, 4),
    );
    r.eq(
        "allow_ro_alarm_has_none",
        probe::allow_ro(ALARM, 0, cx.ram, 4),
        FailureU32U32(NoSupport, cx.ram, 4),
    );
}

/// A read-write allow probe.
fn rw(driver: u32, num: u32, a: u32, l: u32) -> SyscallReturn {
    // SAFETY: the only operation that writes console read-write allow 1 is
    // a console read, which this app never starts; the alarm and unknown
    // drivers have no read-write allows (the kernel refuses them). So the
    // kernel writes nothing between the probe and its undoing.
    unsafe { probe::allow_rw(driver, num, a, l) }
}

fn allow_read_write(r: &mut Report, cx: &Context) {
    let fine = SuccessU32U32(0, 0);
    let inval = |a, l| FailureU32U32(Inval, a, l);
    let mut buf = [0u8; 16];
    let (bp, bl) = (buf.as_mut_ptr() as usize as u32, buf.len() as u32);
    let other = [0u8; 4];
    let op = other.as_ptr() as usize as u32;
    // Inside a scope holding `buf`, another allow answers `buf`.
    let nested = share::allow_rw(CONSOLE, 1, &mut buf, || rw(CONSOLE, 1, op, 4));
    let after = rw(CONSOLE, 1, op, 4);
    match nested {
        Ok(answer) => r.eq("allow_rw_returns_previous", answer, SuccessU32U32(bp, bl)),
        Err(e) => r.that(
            "allow_rw_returns_previous",
            false,
            e,
            "the scope to be granted",
        ),
    }
    r.eq("allow_rw_scope_restores_null", after, fine);

    r.eq("allow_rw_stack_buffer", rw(CONSOLE, 1, op, 4), fine);
    r.eq(
        "allow_rw_size0_any_address",
        rw(CONSOLE, 1, 0xFFFF_FFFF, 0),
        fine,
    );
    r.eq(
        "allow_rw_own_flash",
        rw(CONSOLE, 1, cx.binary, 16),
        inval(cx.binary, 16),
    );
    r.eq(
        "allow_rw_tbf_header",
        rw(CONSOLE, 1, cx.tbf, 16),
        inval(cx.tbf, 16),
    );
    r.eq(
        "allow_rw_up_to_break",
        rw(CONSOLE, 1, cx.brk - 16, 16),
        fine,
    );
    r.eq(
        "allow_rw_crossing_break",
        rw(CONSOLE, 1, cx.brk - 4, 8),
        inval(cx.brk - 4, 8),
    );
    r.eq(
        "allow_rw_below_ram",
        rw(CONSOLE, 1, cx.ram - 4, 8),
        inval(cx.ram - 4, 8),
    );
    r.eq(
        "allow_rw_wrapping",
        rw(CONSOLE, 1, 0xFFFF_FFFC, 8),
        inval(0xFFFF_FFFC, 8),
    );
    r.eq(
        "allow_rw_kernel_memory",
        rw(CONSOLE, 1, KERNEL_RAM, 4),
        inval(KERNEL_RAM, 4),
    );
    let g = grant_start();
    r.eq("allow_rw_grant_region", rw(CONSOLE, 1, g, 4), inval(g, 4));
    r.eq(
        "allow_rw_unknown_driver",
        rw(NO_DRIVER, 0, op, 4),
        FailureU32U32(NoDevice, op, 4),
    );
    r.eq(
        "allow_rw_console_number_not_declared",
        rw(CONSOLE, CONSOLE_READ_WRITE, op, 4),
        FailureU32U32(NoSupport, op, 4),
    );
    r.eq(
        "allow_rw_alarm_has_none",
        rw(ALARM, 0, op, 4),
        FailureU32U32(NoSupport, op, 4),
    );
}

fn allow_userspace_readable(r: &mut Report, cx: &Context) {
    let ur = |driver, num, a, l| {
        // SAFETY: no driver of this board declares userspace-readable
        // allows (the kernel refuses every one of these), and none writes
        // such a buffer.
        unsafe { probe::allow_userspace_readable(driver, num, a, l) }
    };
    r.eq(
        "allow_ur_unknown_driver",
        ur(NO_DRIVER, 0, cx.ram, 4),
        FailureU32U32(NoDevice, cx.ram, 4),
    );
    r.eq(
        "allow_ur_console_has_none",
        ur(CONSOLE, 0, cx.ram, 4),
        FailureU32U32(NoSupport, cx.ram, 4),
    );
    r.eq(
        "allow_ur_size0_still_not_declared",
        ur(CONSOLE, 0, 0, 0),
        FailureU32U32(NoSupport, 0, 0),
    );
}

// ----- brk / sbrk -------------------------------------------------------

fn brk(r: &mut Report, cx: &Context) {
    let b0 = cx.brk;
    let pattern = 0xA5A5_5A5A;
    let at_start = memop::sbrk_raw(0);
    let grow = memop::sbrk_raw(256);
    let grown = memop::sbrk_raw(0);
    let fresh = (probe::load_word(b0), probe::load_word(b0 + 252));
    // SAFETY: [b0, b0 + 256) lies between the end of .bss and the break:
    // no Rust object lives there.
    unsafe { probe::store_word(b0 + 8, pattern) };
    let stored = probe::load_word(b0 + 8);
    let shrink = memop::brk_raw(b0);
    let regrow = memop::brk_raw(b0 + 256);
    let regrown = probe::load_word(b0 + 8);
    // SAFETY: below the RAM start the kernel must refuse, and then nothing
    // changes. (A kernel that accepted would take the stack away and the
    // process would fault: a failure this test exists to find.)
    let below_ram = unsafe { syscall::memop(memop::op::BRK, cx.ram - 4) };
    // SAFETY: as above: the target is far below the RAM start.
    let sbrk_below_ram = unsafe { syscall::memop(memop::op::SBRK, i32::MIN as u32) };
    let g = grant_start();
    let into_grants = memop::brk_raw(g + 4);
    let ram_end = memop::brk_raw(cx.ram_end);
    let wrap = memop::brk_raw(0xFFFF_FFFC);
    let overflow = memop::sbrk_raw(i32::MAX);
    let kept = memop::sbrk_raw(0);
    // The break may not go below the end of a buffer once allowed
    // read-write, even after it is taken back.
    let allowed = rw(CONSOLE, 1, b0 + 128, 128);
    let below_hw = memop::brk_raw(b0 + 128);
    let at_hw = memop::brk_raw(b0 + 256);
    let above_hw = memop::brk_raw(b0 + 512);
    let back_to_hw = memop::brk_raw(b0 + 256);
    let sbrk_below_hw = memop::sbrk_raw(-4);
    let end = memop::sbrk_raw(0);

    r.eq("sbrk0_is_end_of_bss", at_start, SuccessU32(b0));
    r.eq("sbrk_grow_returns_old_break", grow, SuccessU32(b0));
    r.eq("sbrk_moved_break", grown, SuccessU32(b0 + 256));
    r.eq(
        "grown_memory_is_zero",
        Args(fresh.0, fresh.1, 0),
        Args(0, 0, 0),
    );
    r.eq("grown_memory_is_writable", Hex(stored), Hex(pattern));
    r.eq("brk_shrink", shrink, Success);
    r.eq("brk_grow", regrow, Success);
    r.eq("regrown_memory_is_zeroed", Hex(regrown), Hex(0));
    r.eq("brk_below_ram_start", below_ram, Failure(NoMem));
    r.eq("sbrk_below_ram_start", sbrk_below_ram, Failure(NoMem));
    r.eq("brk_into_grant_region", into_grants, Failure(NoMem));
    r.eq("brk_to_ram_end", ram_end, Failure(NoMem));
    r.eq("brk_top_of_address_space", wrap, Failure(NoMem));
    r.eq("sbrk_overflow", overflow, Failure(NoMem));
    r.eq("refused_brk_keeps_break", kept, SuccessU32(b0 + 256));
    r.eq("allow_rw_above_end_of_bss", allowed, SuccessU32U32(0, 0));
    r.eq("brk_below_allow_high_water", below_hw, Failure(NoMem));
    r.eq("brk_at_allow_high_water", at_hw, Success);
    r.eq("brk_above_allow_high_water", above_hw, Success);
    r.eq("brk_back_to_allow_high_water", back_to_hw, Success);
    r.eq("sbrk_below_allow_high_water", sbrk_below_hw, Failure(NoMem));
    r.eq("break_after_brk_checks", end, SuccessU32(b0 + 256));
}

// ----- yield and upcalls ------------------------------------------------

/// The alarm's clock read directly where the architecture lets a process
/// (RISC-V: the `time` CSR the alarm driver counts with), so the driver's
/// answers are checked against an independent reading; elsewhere
/// (Cortex-M: no clock is readable unprivileged) the driver's own `now`,
/// which still checks that its readings and upcalls are ordered in time.
fn clock() -> u32 {
    let counters = tockrt::board_u32!("TOCK_USER_COUNTERS") != 0;
    counters
        .then(probe::clock)
        .flatten()
        .unwrap_or_else(|| alarm::now().unwrap_or(0))
}

/// Whether `t` lies in `[lo, hi]` on the wrapping 32-bit clock.
fn between(t: u32, lo: u32, hi: u32) -> bool {
    t.wrapping_sub(lo) <= hi.wrapping_sub(lo)
}

/// Alarm ticks per millisecond (at least 1).
fn ticks_per_ms() -> u32 {
    alarm::frequency().map_or(1, |hz| hz.div_ceil(1000).max(1))
}

/// Busy-waits (no yield) until the alarm counter passes `deadline`. Gives
/// up after a few million polls in case the counter does not move.
fn spin_until(deadline: u32) {
    for _ in 0..5_000_000u32 {
        let Ok(t) = alarm::now() else { return };
        if t.wrapping_sub(deadline) as i32 >= 0 {
            return;
        }
    }
}

/// Sets the alarm `ms` ahead; its expiration (0 if refused).
fn alarm_in(ms: u32, tpm: u32) -> u32 {
    alarm::set_relative(ms * tpm).unwrap_or(0)
}

static NULL_LINE: &[u8] = b"abi: console write with the null upcall\n";
static WAIT_FOR_LINE: &[u8] = b"abi: console write awaited with yield-wait-for\n";
static UPCALL_LINE: &[u8] = b"abi: console write with an upcall\n";

fn yields(r: &mut Report) {
    let tpm = ticks_per_ms();
    let fa = addr(record);

    // No-wait with nothing queued: flag 0.
    let idle = syscall::yield_no_wait_flag_byte();
    r.eq("yield_no_wait_idle_flag_0", Hex(idle.into()), Hex(0));

    // No-wait with an upcall queued (an alarm that fired while we spun):
    // it runs, with its arguments and app data; the flag says 1; a second
    // no-wait finds nothing.
    rec_reset();
    share::subscribe_fn(ALARM, 0, Some(record), 0xA1);
    let exp = alarm_in(2, tpm);
    spin_until(exp.wrapping_add(20 * tpm));
    let flag = syscall::yield_no_wait_flag_byte();
    let returned = clock();
    let (count, args, data) = (rec_count(), rec_args(), rec_data());
    let flag_again = syscall::yield_no_wait_flag_byte();
    share::unsubscribe(ALARM, 0);
    let _ = alarm::stop();
    r.eq("yield_no_wait_runs_upcall_flag_1", Hex(flag.into()), Hex(1));
    r.eq("yield_no_wait_ran_one_upcall", count, 1);
    // The alarm upcall is (now, expiration, 0): the expiration is the one
    // the set answered, and now lies between it and the clock once the
    // yield returned (a range by nature: it is a time).
    r.eq(
        "upcall_args_alarm",
        Args(args.1, args.2, 0),
        Args(exp, 0, 0),
    );
    r.that(
        "upcall_now_between_expiry_and_return",
        between(args.0, exp, returned),
        args,
        "expiration <= now <= the time CSR after the yield",
    );
    r.eq("upcall_appdata", Hex(data), Hex(0xA1));
    r.eq("yield_no_wait_then_empty", Hex(flag_again.into()), Hex(0));

    // Subscribe drops the queued upcalls of that (driver, number).
    rec_reset();
    share::subscribe_fn(ALARM, 0, Some(record), 0xA2);
    let exp = alarm_in(2, tpm);
    spin_until(exp.wrapping_add(20 * tpm));
    let resubscribe = share::subscribe_fn(ALARM, 0, Some(record), 0xA3);
    let flag = syscall::yield_no_wait_flag_byte();
    let count = rec_count();
    share::unsubscribe(ALARM, 0);
    let _ = alarm::stop();
    r.eq(
        "resubscribe_returns_previous",
        resubscribe,
        SuccessU32U32(fa, 0xA2),
    );
    r.eq("subscribe_purges_queued_upcall", Hex(flag.into()), Hex(0));
    r.eq("purged_upcall_never_runs", count, 0);

    // Yield-wait blocks until one upcall has run.
    rec_reset();
    share::subscribe_fn(ALARM, 0, Some(record), 0xA4);
    let exp = alarm_in(3, tpm);
    yield_wait();
    let returned = clock();
    let (count, args, data) = (rec_count(), rec_args(), rec_data());
    share::unsubscribe(ALARM, 0);
    r.eq("yield_wait_runs_one_upcall", count, 1);
    r.that(
        "yield_wait_upcall_args",
        (args.1, args.2) == (exp, 0) && between(args.0, exp, returned),
        args,
        "(now between expiration and return, expiration, 0)",
    );
    r.eq("yield_wait_upcall_appdata", Hex(data), Hex(0xA4));

    // Null upcalls do not wake yield-wait: a console write with no upcall
    // completes long before the alarm, yet the wait returns after the
    // alarm's upcall ran.
    rec_reset();
    let unsub = share::unsubscribe(CONSOLE, 1);
    share::allow_ro_static(CONSOLE, 1, NULL_LINE);
    let write = command(CONSOLE, 1, NULL_LINE.len() as u32, 0);
    share::subscribe_fn(ALARM, 0, Some(record), 0xA5);
    alarm_in(50, tpm);
    yield_wait();
    let (count, data) = (rec_count(), rec_data());
    share::unsubscribe(ALARM, 0);
    share::revoke_ro(CONSOLE, 1);
    r.eq("console_write_unsubscribed", unsub, SuccessU32U32(0, 0));
    r.eq("console_write_accepted", write, Success);
    r.eq("yield_wait_ignores_null_upcalls", count, 1);
    r.eq("yield_wait_woken_by_alarm", Hex(data), Hex(0xA5));

    // Wait-for returns the upcall's arguments without calling it, and
    // takes it off the queue.
    rec_reset();
    share::subscribe_fn(ALARM, 0, Some(record), 0xA6);
    let exp = alarm_in(3, tpm);
    let (a0, a1, a2) = yield_wait_for(ALARM, 0);
    let returned = clock();
    let count = rec_count();
    let flag = syscall::yield_no_wait_flag_byte();
    share::unsubscribe(ALARM, 0);
    r.that(
        "yield_wait_for_returns_args",
        (a1, a2) == (exp, 0) && between(a0, exp, returned),
        Args(a0, a1, a2),
        "(now between expiration and return, expiration, 0)",
    );
    r.eq("yield_wait_for_does_not_call", count, 0);
    r.eq("yield_wait_for_consumes", Hex(flag.into()), Hex(0));

    // Wait-for writes the upcall's arguments into a0-a2 and keeps a3 and
    // every other register.
    share::subscribe_fn(ALARM, 0, Some(record), 0xA8);
    let exp = alarm_in(2, tpm);
    let got = probe::yield_wait_for_keeps_registers(ALARM, 0);
    share::unsubscribe(ALARM, 0);
    match got {
        Ok([now, expiration, zero]) => r.that(
            "regs_yield_wait_for",
            expiration == exp && zero == 0 && now.wrapping_sub(exp) as i32 >= 0,
            Args(now, expiration, zero),
            "(now >= expiration, expiration, 0), a3 and the rest kept",
        ),
        Err(c) => r.that(
            "regs_yield_wait_for",
            false,
            Clobber(c),
            "a3 and the rest kept",
        ),
    }

    // Wait-for works on a null upcall: the console's write completion,
    // (bytes written, 0, 0).
    share::unsubscribe(CONSOLE, 1);
    share::allow_ro_static(CONSOLE, 1, WAIT_FOR_LINE);
    let write = command(CONSOLE, 1, WAIT_FOR_LINE.len() as u32, 0);
    let (a0, a1, a2) = yield_wait_for(CONSOLE, 1);
    share::revoke_ro(CONSOLE, 1);
    r.eq("console_write_for_wait_for", write, Success);
    r.eq(
        "yield_wait_for_null_upcall",
        Args(a0, a1, a2),
        Args(WAIT_FOR_LINE.len() as u32, 0, 0),
    );

    // An upcall gets a0-a2 from the driver and a3 = the app data.
    rec_reset();
    let sub = share::subscribe_fn(CONSOLE, 1, Some(record), 0x1234);
    share::allow_ro_static(CONSOLE, 1, UPCALL_LINE);
    let write = command(CONSOLE, 1, UPCALL_LINE.len() as u32, 0);
    while rec_count() == 0 && write == Success {
        yield_wait();
    }
    let (count, args, data) = (rec_count(), rec_args(), rec_data());
    share::unsubscribe(CONSOLE, 1);
    share::revoke_ro(CONSOLE, 1);
    r.eq("subscribe_console_write", sub, SuccessU32U32(0, 0));
    r.eq("console_write_with_upcall", write, Success);
    r.eq("console_upcall_ran_once", count, 1);
    r.eq(
        "console_upcall_args",
        args,
        Args(UPCALL_LINE.len() as u32, 0, 0),
    );
    r.eq("console_upcall_appdata", Hex(data), Hex(0x1234));

    // The queue holds 10 upcalls: of 12 alarms that fire while the
    // process runs, 10 are delivered (one per yield) and 2 are lost.
    rec_reset();
    share::subscribe_fn(ALARM, 0, Some(record), 0xA7);
    let fired = UPCALL_QUEUE_DEPTH + 2;
    for _ in 0..fired {
        let exp = alarm_in(1, tpm);
        spin_until(exp.wrapping_add(5 * tpm));
    }
    let mut ran = 0;
    while ran < 2 * fired && syscall::yield_no_wait() {
        ran += 1;
    }
    let count = rec_count();
    share::unsubscribe(ALARM, 0);
    let _ = alarm::stop();
    r.eq("upcall_queue_delivers_10_of_12", ran, UPCALL_QUEUE_DEPTH);
    r.eq("upcall_queue_one_per_yield", count, ran);
}
