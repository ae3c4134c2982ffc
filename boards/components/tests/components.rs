//! The components on the mock kernel: what they build, and the
//! configuration mistakes they report instead of panicking.

#[path = "../../../capsules/core/tests/uart_mock/mod.rs"]
mod uart_mock;

use components::console::ConsoleMemory;
use components::ComponentError;
use kernel::deferred_call::DeferredCalls;
use kernel::policy::{AllowAll, StopFaultPolicy};
use kernel::{CreateGrantError, ErrorCode};
use kernel_mock::{leak, Harness};

/// A `&'static mut` for a component's memory.
fn mem<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}
use uart_mock::MockUart;

#[test]
fn console_builds_once_and_reports_its_mistakes() {
    let h = Harness::new(2, &StopFaultPolicy, &AllowAll);
    // No deferred call slot left: refused, clearly.
    let none: &'static DeferredCalls<1> = leak(DeferredCalls::new());
    let uart = MockUart::new(none); // takes the only slot
    let r = components::console::console(mem(ConsoleMemory::<64>::new()), uart, h.kernel, none);
    assert_eq!(
        r.err(),
        Some(ComponentError::DeferredCall(ErrorCode::NOMEM))
    );

    // The grant was created by the failed attempt: a second console on the
    // same kernel is refused as a duplicate, not built twice.
    let calls: &'static DeferredCalls<4> = leak(DeferredCalls::new());
    let uart = MockUart::new(calls);
    let r = components::console::console(mem(ConsoleMemory::<64>::new()), uart, h.kernel, calls);
    assert_eq!(
        r.err(),
        Some(ComponentError::Grant(CreateGrantError::Duplicate))
    );
}

#[test]
fn console_and_low_level_debug_print_kernel_lines() {
    let h = Harness::new(2, &StopFaultPolicy, &AllowAll);
    let calls: &'static DeferredCalls<4> = leak(DeferredCalls::new());
    let uart = MockUart::new(calls);
    let console =
        components::console::console(mem(ConsoleMemory::<256>::new()), uart, h.kernel, calls)
            .expect("console");
    let _lldb = components::low_level_debug::low_level_debug::<4>(mem(None), h.kernel, console);
    use core::fmt::Write;
    let _ = writeln!(console.kernel_writer(), "component line");
    for _ in 0..100 {
        if !calls.service_next() {
            break;
        }
    }
    let sent = uart.text();
    assert!(sent.contains("component line"), "{sent:?}");
}

/// An alarm that never fires (the standard set only needs one to exist).
struct StillAlarm;

impl kernel::hil::time::Time for StillAlarm {
    type Frequency = kernel::hil::time::Freq1MHz;
    type Ticks = kernel::hil::time::Ticks32;
    fn now(&self) -> Self::Ticks {
        0u32.into()
    }
}

impl<'a> kernel::hil::time::Alarm<'a> for StillAlarm {
    fn set_alarm_client(&self, _: &'a dyn kernel::hil::time::AlarmClient) {}
    fn set_alarm(&self, _: Self::Ticks, _: Self::Ticks) {}
    fn get_alarm(&self) -> Self::Ticks {
        0u32.into()
    }
    fn disarm(&self) -> Result<(), ErrorCode> {
        Ok(())
    }
    fn is_armed(&self) -> bool {
        false
    }
    fn minimum_dt(&self) -> Self::Ticks {
        1u32.into()
    }
}

fn standard(
    h: &Harness,
    calls: &'static DeferredCalls<16>,
) -> Result<components::standard::Standard<StillAlarm, 503>, components::standard::StandardError> {
    use components::kv_stack::KVStackBuffers;
    let geometry = flashsim::Geometry {
        region_size: 2048,
        region_count: 4,
        program_unit: 4,
        erase_value: 0xFF,
    };
    let flash = kernel_mock::flash::MockFlash::new(flashsim::SimFlash::new(geometry), calls);
    components::standard::build(
        "test",
        mem(components::standard::StandardMemory::<StillAlarm, 256, 503>::new()),
        h.kernel,
        calls,
        components::standard::Hardware {
            uart: MockUart::new(calls),
            alarm: leak(StillAlarm),
            flash,
            protection: h.cpu,
            processes: 2,
        },
        KVStackBuffers {
            scratch: mem([0u8; 128]),
            index: mem([tickv::IndexEntry::default(); 4]),
            driver_value: mem([0u8; components::kv_stack::driver_value_len(503)]),
        },
        capsules_extra::tickv::Config {
            region_count: None,
            format_if_blank: true,
        },
    )
}

#[test]
fn the_standard_set_answers_every_driver_number_once() {
    use kernel::syscall_driver::SyscallDriverLookup;
    let h = Harness::new(2, &StopFaultPolicy, &AllowAll);
    let calls: &'static DeferredCalls<16> = leak(DeferredCalls::new());
    let board = standard(&h, calls).expect("standard set");
    for (num, what) in [
        (0, "alarm"),
        (1, "console"),
        (8, "low-level debug"),
        (0x10000, "ipc"),
        (0x50003, "key-value"),
    ] {
        assert!(board.drivers.driver(num).is_some(), "{what} ({num:#x})");
    }
    for num in [2, 0x50002, 0x60000] {
        assert!(board.drivers.driver(num).is_none(), "{num:#x}");
    }
    // A second set on the same kernel: its grants exist already.
    assert!(matches!(
        standard(&h, calls).err(),
        Some(components::standard::StandardError::Component(
            ComponentError::Grant(CreateGrantError::Duplicate)
        ))
    ));
}

/// The KV byte buffers start the owner header's length short of a word
/// boundary: a value's app part (after the 9-byte header) and a record's
/// value (16 bytes into the scratch buffer) sit on word boundaries.
#[test]
fn kv_buffers_put_values_on_word_boundaries() {
    use capsules_extra::kv_permissions::HEADER_SIZE;
    use components::kv_stack::KVBuffer;
    for _ in 0..4 {
        let value = mem(KVBuffer::<512>::new()).bytes();
        let scratch = mem(KVBuffer::<64>::new()).bytes();
        assert_eq!(value.len(), 512);
        assert_eq!(scratch.len(), 64);
        let v = value.as_ptr() as usize;
        let s = scratch.as_ptr() as usize;
        assert_eq!((v + HEADER_SIZE) % 4, 0);
        assert_eq!((s + tickv::REC_HDR as usize) % 4, v % 4);
    }
}
